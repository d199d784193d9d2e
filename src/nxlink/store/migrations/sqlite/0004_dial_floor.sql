-- A task's calls start in order: never before its latest call began, nor before its latest
-- completed call ended (nxlink.service.lifecycle.claim). With several dialers, one catching
-- up on its own past events would otherwise start a call on a line another dialer freed later
-- in simulated time, and the task would have more calls at once than its maxCall.
ALTER TABLE tasks ADD COLUMN dial_floor INTEGER NOT NULL DEFAULT 0;

-- The dialer asks per account which claims passed their lease: the partial index of dialling
-- orders leads with the account (an account_id test alone would pick the contact index and
-- walk every order of the account).
DROP INDEX orders_dialling;
CREATE INDEX orders_dialling ON orders (account_id, lease_until) WHERE state = 'dialling';
