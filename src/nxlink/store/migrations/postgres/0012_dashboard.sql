-- The web dashboard (issue 12): its sign-in sessions, and each callback's task.
--
-- A dashboard session, made by signing in with an access key and its secret. token_hash is the
-- SHA-256 (hex) of the cookie's token: the token itself is never stored. A session lives while
-- expires_ms (real time, epoch ms; fixed at sign-in, never slid) is ahead and its access key and
-- account are enabled: a lookup joins them, so revoking a key ends its sessions at once.
-- last_seen_ms moves at most once a minute. A global table, as access_keys (a lookup knows
-- only the token; a Citus reference table). No foreign keys: a snapshot's restore truncates
-- the accounts and keys under the sessions it keeps (Store.restore_snapshot drops those whose
-- key is gone).
CREATE TABLE ui_sessions (
    token_hash   text   PRIMARY KEY,
    account_id   bigint NOT NULL,
    access_key   text   NOT NULL,
    csrf_token   text   NOT NULL,
    created_ms   bigint NOT NULL,
    expires_ms   bigint NOT NULL,
    last_seen_ms bigint NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_ms);
CREATE INDEX ui_sessions_account ON ui_sessions (account_id, access_key);

-- A task's contacts page, newest first: this index read backwards, the state checked on its rows
-- (measured on a task of 30,000 contacts among 130,000: orders_task needs a sort of the whole
-- task per page, 9-38 ms on SQLite; the primary key read backwards filters every newer contact
-- of the account, 24-41 ms on PostgreSQL; with this index 2-5 ms on both, the count included).
CREATE INDEX orders_task_recent ON orders (account_id, task_row_id, id);

-- The task a callback announces, for a task's callbacks in the dashboard: set by the lifecycle
-- transaction that enqueues it. Rows from before are given the taskId of their body (a task
-- event's own, a call event's call's), '' when it has none. Only bodies naming "taskId" are
-- parsed, each on its own: one that is not JSON keeps ''.
ALTER TABLE outbox ADD COLUMN task_id text NOT NULL DEFAULT '';

CREATE FUNCTION pg_temp.nx_body_task_id(body bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    doc jsonb;
BEGIN
    doc := convert_from(body, 'UTF8')::jsonb;
    IF jsonb_typeof(doc) <> 'object' THEN
        RETURN '';
    END IF;
    RETURN coalesce(doc ->> 'taskId', doc -> 'call' ->> 'taskId', '');
EXCEPTION WHEN others THEN
    RETURN '';
END
$$;
UPDATE outbox SET task_id = pg_temp.nx_body_task_id(body)
WHERE account_id = ANY(ARRAY(SELECT id FROM accounts))
  AND position('"taskId"'::bytea IN body) > 0;
DROP FUNCTION pg_temp.nx_body_task_id(bytea);
CREATE INDEX outbox_task ON outbox (account_id, task_id, id);
