-- Account-level callback settings (issue 13, item 3). Numbered 0013: 0012 is the dashboard's.
--
-- 'task_callback_url' receives the task callbacks of a task created without a taskCallbackUrl,
-- 'call_callback_url' the call callbacks of a contact whose append and task have no
-- callCallbackUrl ('' : none); both are resolved when the event is written. 'callbacks_signed'
-- (1, the default) puts the five auth headers on every callback POST; 0 sends them without
-- (no accessKey, ts, bizType, action or sign). It is read at each delivery try.
ALTER TABLE accounts ADD COLUMN task_callback_url TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN call_callback_url TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN callbacks_signed INTEGER NOT NULL DEFAULT 1
    CHECK (callbacks_signed IN (0, 1));
