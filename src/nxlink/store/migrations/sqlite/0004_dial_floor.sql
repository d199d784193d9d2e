-- A task's calls start in order: never before its latest call began, nor before its latest
-- completed call ended (nxlink.service.lifecycle.claim). With several dialers, one catching
-- up on its own past events would otherwise start a call on a line another dialer freed later
-- in simulated time, and the task would have more calls at once than its maxCall.
ALTER TABLE tasks ADD COLUMN dial_floor INTEGER NOT NULL DEFAULT 0;
