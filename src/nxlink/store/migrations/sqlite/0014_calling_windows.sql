-- Calling windows (task/create's weekDay and zoneSecond): the ISO days a task places calls on,
-- as a mask (bit d-1 for day d; 127, every day, is no window), and the UTC offset in seconds
-- they are counted in. What a window allows is nxlink.service.windows; the store only reads
-- the two columns for the dialer. The partial index finds the few tasks with a window that a
-- dialer must wake for at their next opening (Store.dialer_waits).
ALTER TABLE tasks ADD COLUMN week_days INTEGER NOT NULL DEFAULT 127;
ALTER TABLE tasks ADD COLUMN zone_second INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_windowed ON tasks (account_id, task_status) WHERE week_days <> 127;
