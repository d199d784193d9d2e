-- Accounts, keys, flows, routes, tasks and their statistics: the meaning of SQLite's 0001, in
-- PostgreSQL's types (bigint ids, times and counters; smallint 0/1 flags; bytea JSON).
-- PostgreSQL never rendered task JSON in SQL: task_pages.doc is written by the store, rendered in
-- Python (nxlink.contract.taskdoc), so there is no task_docs view here.
--
-- Citus-ready: accounts and access_keys are global (reference tables); every table of tenant
-- data has account_id first in its primary key and in every unique constraint, and every
-- foreign key between tenant tables carries account_id.

CREATE TABLE accounts (
    id               bigserial PRIMARY KEY,
    name             text     NOT NULL UNIQUE,
    enabled          smallint NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    balance_cents    bigint   NOT NULL DEFAULT 0,
    default_max_call bigint   NOT NULL DEFAULT 10 CHECK (default_max_call >= 0),
    created_ts       bigint   NOT NULL
);

-- id: the order keys were made in (SQLite's rowid), the tie-break of the newest key.
CREATE TABLE access_keys (
    id           bigserial PRIMARY KEY,
    account_id   bigint   NOT NULL REFERENCES accounts (id),
    access_key   text     NOT NULL UNIQUE,
    secret       text     NOT NULL,
    enabled      smallint NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_ts   bigint   NOT NULL,
    revoked_ts   bigint,
    last_used_ts bigint
);
CREATE INDEX access_keys_account ON access_keys (account_id, created_ts, id);

CREATE TABLE flows (
    account_id bigint   NOT NULL REFERENCES accounts (id),
    id         bigserial,
    name       text     NOT NULL,
    variables  text     NOT NULL DEFAULT '[]',  -- JSON array of variable names
    enabled    smallint NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_ts bigint   NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE routes (
    account_id             bigint           NOT NULL REFERENCES accounts (id),
    id                     bigserial,
    route_id               text             NOT NULL,
    name                   text             NOT NULL,
    country_code           text             NOT NULL DEFAULT '',
    price_per_minute_cents bigint           NOT NULL DEFAULT 0 CHECK (price_per_minute_cents >= 0),
    answer_probability     double precision NOT NULL DEFAULT 0.5
        CHECK (answer_probability >= 0 AND answer_probability <= 1),
    talk_seconds_mean      bigint           NOT NULL DEFAULT 60 CHECK (talk_seconds_mean >= 0),
    enabled                smallint         NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_ts             bigint           NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, route_id)
);

-- Row ids of tasks and of their statistics rows: one number per task, the same for both.
CREATE SEQUENCE task_ids AS bigint;

CREATE TABLE tasks (
    account_id        bigint   NOT NULL REFERENCES accounts (id),
    id                bigint   NOT NULL DEFAULT nextval('task_ids'),
    task_id           text     NOT NULL,
    user_task_id      text     NOT NULL DEFAULT '',
    other             text     NOT NULL DEFAULT '',
    auto_flow_id      bigint   NOT NULL,
    task_status       smallint NOT NULL CHECK (task_status BETWEEN 1 AND 6),
    pause_reason      smallint CHECK (pause_reason IN (1, 2, 3)),
    task_name         text     NOT NULL,
    name_fold         text     NOT NULL,  -- str.casefold() of task_name, for the contains filter
    task_desc         text     NOT NULL DEFAULT '',
    task_keep         smallint NOT NULL DEFAULT 0 CHECK (task_keep IN (0, 1)),
    startup_type      smallint NOT NULL DEFAULT 0 CHECK (startup_type BETWEEN 0 AND 3),
    startup_at        bigint,
    shutdown_at       bigint,
    startup_by        text     NOT NULL DEFAULT '',
    route_id          text     NOT NULL,
    max_call          bigint   NOT NULL DEFAULT 0 CHECK (max_call >= 0),
    import_type       smallint NOT NULL DEFAULT 0 CHECK (import_type BETWEEN 0 AND 2),
    func_flag         bigint   NOT NULL DEFAULT 0 CHECK (func_flag >= 0),
    max_ring_time     bigint   NOT NULL DEFAULT 0 CHECK (max_ring_time >= 0),
    strategy_id       text     NOT NULL DEFAULT '',
    agent_group_id    text     NOT NULL DEFAULT '',
    task_callback_url text     NOT NULL DEFAULT '',
    call_callback_url text     NOT NULL DEFAULT '',
    country_code      text     NOT NULL DEFAULT '',
    create_ts         bigint   NOT NULL,
    order_max_call    bigint,
    replay_interval   bigint,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, task_id),
    FOREIGN KEY (account_id, auto_flow_id) REFERENCES flows (account_id, id)
);
ALTER SEQUENCE task_ids OWNED BY tasks.id;
CREATE UNIQUE INDEX tasks_user_task_id ON tasks (account_id, user_task_id) WHERE user_task_id <> '';

-- One statistics row per task, keyed by the task's row id, with copies of the task's status
-- (kept equal by a trigger) and creation time, so that every filter of the task list but the
-- name, and its order, are served by one covering index of this table.
CREATE TABLE task_stats (
    account_id          bigint   NOT NULL,
    task_row_id         bigint   NOT NULL,
    id                  bigint   NOT NULL,
    task_id             text     NOT NULL,
    auto_flow_id        bigint   NOT NULL,
    create_ts           bigint   NOT NULL,
    task_status         smallint NOT NULL,
    total_order_count   bigint   NOT NULL DEFAULT 0 CHECK (total_order_count >= 0),
    dialed_order_count  bigint   NOT NULL DEFAULT 0 CHECK (dialed_order_count >= 0),
    finish_order_count  bigint   NOT NULL DEFAULT 0 CHECK (finish_order_count >= 0),
    answer_order_count  bigint   NOT NULL DEFAULT 0 CHECK (answer_order_count >= 0),
    total_call_count    bigint   NOT NULL DEFAULT 0 CHECK (total_call_count >= 0),
    answer_call_count   bigint   NOT NULL DEFAULT 0
        CHECK (answer_call_count >= 0 AND answer_call_count <= total_call_count),
    total_call_elapsed  bigint   NOT NULL DEFAULT 0 CHECK (total_call_elapsed >= 0),
    manual_answer_count bigint   NOT NULL DEFAULT 0 CHECK (manual_answer_count >= 0),
    manual_fail_count   bigint   NOT NULL DEFAULT 0 CHECK (manual_fail_count >= 0),
    manual_elapsed      bigint   NOT NULL DEFAULT 0 CHECK (manual_elapsed >= 0),
    PRIMARY KEY (account_id, task_row_id),
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, task_row_id) REFERENCES tasks (account_id, id) ON DELETE CASCADE
) WITH (fillfactor = 90);
-- List order (create_ts desc, id desc) after the account, the filtered counters included:
-- index-only range scans in list order.
CREATE INDEX task_stats_list ON task_stats (account_id, create_ts, task_row_id)
    INCLUDE (total_order_count, total_call_count, answer_call_count);
CREATE INDEX task_stats_status_list ON task_stats (account_id, task_status, create_ts, task_row_id)
    INCLUDE (total_order_count, total_call_count, answer_call_count);

-- Per-account, per-status task counts, and the same per creation day and hour: maintained by
-- the triggers below in the transaction of every task write, so unfiltered and status-only
-- totals never scan, and a deep page starts from the hour it falls in.
CREATE TABLE account_task_counts (
    account_id  bigint   NOT NULL,
    task_status smallint NOT NULL,
    n           bigint   NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, task_status)
);

CREATE TABLE account_day_counts (
    account_id bigint NOT NULL,
    day        bigint NOT NULL,  -- create_ts / 86400
    n          bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, day)
);

CREATE TABLE account_status_day_counts (
    account_id  bigint   NOT NULL,
    task_status smallint NOT NULL,
    day         bigint   NOT NULL,
    n           bigint   NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, task_status, day)
);

CREATE TABLE account_hour_counts (
    account_id bigint NOT NULL,
    hour       bigint NOT NULL,  -- create_ts / 3600
    n          bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, hour)
);

CREATE TABLE account_status_hour_counts (
    account_id  bigint   NOT NULL,
    task_status smallint NOT NULL,
    hour        bigint   NOT NULL,
    n           bigint   NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, task_status, hour)
);

-- Inserted and deleted tasks: the rows of one statement (its transition table "changed") are
-- counted together, and each count row is changed once, in key order, so that two bulk writers
-- lock the count rows they share in the same order.
CREATE FUNCTION nx_count_inserted_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_task_counts AS c (account_id, task_status, n)
    SELECT account_id, task_status, count(*) FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, task_status) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_day_counts AS c (account_id, day, n)
    SELECT account_id, create_ts / 86400, count(*) FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, day) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_status_day_counts AS c (account_id, task_status, day, n)
    SELECT account_id, task_status, create_ts / 86400, count(*) FROM changed
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (account_id, task_status, day) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_hour_counts AS c (account_id, hour, n)
    SELECT account_id, create_ts / 3600, count(*) FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, hour) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_status_hour_counts AS c (account_id, task_status, hour, n)
    SELECT account_id, task_status, create_ts / 3600, count(*) FROM changed
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (account_id, task_status, hour) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION nx_count_deleted_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE account_task_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, task_status, count(*) AS n FROM changed GROUP BY 1, 2
          ORDER BY 1, 2) AS g
    WHERE c.account_id = g.account_id AND c.task_status = g.task_status;
    UPDATE account_day_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, create_ts / 86400 AS day, count(*) AS n FROM changed
          GROUP BY 1, 2 ORDER BY 1, 2) AS g
    WHERE c.account_id = g.account_id AND c.day = g.day;
    UPDATE account_status_day_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, task_status, create_ts / 86400 AS day, count(*) AS n FROM changed
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS g
    WHERE c.account_id = g.account_id AND c.task_status = g.task_status AND c.day = g.day;
    UPDATE account_hour_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, create_ts / 3600 AS hour, count(*) AS n FROM changed
          GROUP BY 1, 2 ORDER BY 1, 2) AS g
    WHERE c.account_id = g.account_id AND c.hour = g.hour;
    UPDATE account_status_hour_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, task_status, create_ts / 3600 AS hour, count(*) AS n FROM changed
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS g
    WHERE c.account_id = g.account_id AND c.task_status = g.task_status AND c.hour = g.hour;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks
REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION nx_count_inserted_tasks();
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks
REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION nx_count_deleted_tasks();

-- A status change moves one count row of each kind from the old status to the new, the lower
-- status first (every writer takes the rows of a status change in the same order); the
-- statistics row's copy of the status follows.
CREATE FUNCTION nx_count_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    status smallint;
BEGIN
    UPDATE task_stats SET task_status = NEW.task_status
    WHERE account_id = NEW.account_id AND task_row_id = NEW.id
      AND task_status <> NEW.task_status;
    FOREACH status IN ARRAY ARRAY[least(OLD.task_status, NEW.task_status),
                                  greatest(OLD.task_status, NEW.task_status)] LOOP
        IF status = NEW.task_status THEN
            INSERT INTO account_task_counts AS c (account_id, task_status, n)
            VALUES (NEW.account_id, status, 1)
            ON CONFLICT (account_id, task_status) DO UPDATE SET n = c.n + 1;
            INSERT INTO account_status_day_counts AS c (account_id, task_status, day, n)
            VALUES (NEW.account_id, status, NEW.create_ts / 86400, 1)
            ON CONFLICT (account_id, task_status, day) DO UPDATE SET n = c.n + 1;
            INSERT INTO account_status_hour_counts AS c (account_id, task_status, hour, n)
            VALUES (NEW.account_id, status, NEW.create_ts / 3600, 1)
            ON CONFLICT (account_id, task_status, hour) DO UPDATE SET n = c.n + 1;
        ELSE
            UPDATE account_task_counts SET n = n - 1
            WHERE account_id = OLD.account_id AND task_status = status;
            UPDATE account_status_day_counts SET n = n - 1
            WHERE account_id = OLD.account_id AND task_status = status
              AND day = OLD.create_ts / 86400;
            UPDATE account_status_hour_counts SET n = n - 1
            WHERE account_id = OLD.account_id AND task_status = status
              AND hour = OLD.create_ts / 3600;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_status_update AFTER UPDATE OF task_status ON tasks
FOR EACH ROW WHEN (OLD.task_status <> NEW.task_status)
EXECUTE FUNCTION nx_count_status_change();

-- A task's account and creation time never change.
CREATE FUNCTION nx_task_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'account_id and create_ts of a task never change';
END
$$;

CREATE TRIGGER tasks_immutable BEFORE UPDATE OF account_id, create_ts ON tasks
FOR EACH ROW WHEN (OLD.account_id <> NEW.account_id OR OLD.create_ts <> NEW.create_ts)
EXECUTE FUNCTION nx_task_immutable();

-- Each task's JSON as sent (rendered in Python), keyed in list order (account, created, id):
-- a page's keys come from an index-only scan, its rows are then looked up by key. Room is left
-- on each page for the JSON's new versions (HOT updates: the key never changes).
CREATE TABLE task_pages (
    account_id  bigint NOT NULL,
    create_ts   bigint NOT NULL,
    task_row_id bigint NOT NULL,
    doc         bytea  NOT NULL,
    PRIMARY KEY (account_id, create_ts, task_row_id)
) WITH (fillfactor = 80);
