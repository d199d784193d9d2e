-- A task's calls start in order: never before its latest call began, nor before its latest
-- completed call ended (nxlink.service.lifecycle.claim). With several dialers, one catching
-- up on its own past events would otherwise start a call on a line another dialer freed later
-- in simulated time, and the task would have more calls at once than its maxCall. The floor
-- is kept on the task's row, the row a claim locks for the task's lines (lock_lines), so a
-- report raising it and a claim reading it follow each other.
ALTER TABLE tasks ADD COLUMN dial_floor bigint NOT NULL DEFAULT 0;

-- (SQLite's 0004 also makes its index of dialling orders lead with the account; here it has
-- done so since 0002.)
