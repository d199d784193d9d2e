-- Accounts, keys, flows, routes, tasks and their statistics.
-- Every table holding tenant data leads with account_id; indexes serve the task-list filters.

CREATE TABLE accounts (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    balance_cents    INTEGER NOT NULL DEFAULT 0,
    default_max_call INTEGER NOT NULL DEFAULT 10 CHECK (default_max_call >= 0),
    created_ts       INTEGER NOT NULL
);

CREATE TABLE access_keys (
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    access_key   TEXT    NOT NULL UNIQUE,
    secret       TEXT    NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_ts   INTEGER NOT NULL,
    revoked_ts   INTEGER,
    last_used_ts INTEGER
);
CREATE INDEX access_keys_account ON access_keys (account_id);

CREATE TABLE flows (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    variables  TEXT    NOT NULL DEFAULT '[]',  -- JSON array of variable names
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_ts INTEGER NOT NULL
);
CREATE INDEX flows_account ON flows (account_id, id);

CREATE TABLE routes (
    account_id             INTEGER NOT NULL REFERENCES accounts (id),
    id                     INTEGER PRIMARY KEY,
    route_id               TEXT    NOT NULL UNIQUE,
    name                   TEXT    NOT NULL,
    country_code           TEXT    NOT NULL DEFAULT '',
    price_per_minute_cents INTEGER NOT NULL DEFAULT 0 CHECK (price_per_minute_cents >= 0),
    answer_probability     REAL    NOT NULL DEFAULT 0.5
        CHECK (answer_probability >= 0 AND answer_probability <= 1),
    talk_seconds_mean      INTEGER NOT NULL DEFAULT 60 CHECK (talk_seconds_mean >= 0),
    enabled                INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_ts             INTEGER NOT NULL
);
CREATE INDEX routes_account ON routes (account_id, id);

CREATE TABLE tasks (
    account_id        INTEGER NOT NULL REFERENCES accounts (id),
    id                INTEGER PRIMARY KEY,
    task_id           TEXT    NOT NULL UNIQUE,
    user_task_id      TEXT    NOT NULL DEFAULT '',
    other             TEXT    NOT NULL DEFAULT '',
    auto_flow_id      INTEGER NOT NULL REFERENCES flows (id),
    task_status       INTEGER NOT NULL CHECK (task_status BETWEEN 1 AND 6),
    pause_reason      INTEGER CHECK (pause_reason IN (1, 2, 3)),
    task_name         TEXT    NOT NULL,
    name_fold         TEXT    NOT NULL,  -- casefolded task_name, for the contains filter
    task_desc         TEXT    NOT NULL DEFAULT '',
    task_keep         INTEGER NOT NULL DEFAULT 0 CHECK (task_keep IN (0, 1)),
    startup_type      INTEGER NOT NULL DEFAULT 0 CHECK (startup_type BETWEEN 0 AND 3),
    startup_at        INTEGER,
    shutdown_at       INTEGER,
    startup_by        TEXT    NOT NULL DEFAULT '',
    route_id          TEXT    NOT NULL,
    max_call          INTEGER NOT NULL DEFAULT 0 CHECK (max_call >= 0),
    import_type       INTEGER NOT NULL DEFAULT 0 CHECK (import_type BETWEEN 0 AND 2),
    func_flag         INTEGER NOT NULL DEFAULT 0 CHECK (func_flag >= 0),
    max_ring_time     INTEGER NOT NULL DEFAULT 0 CHECK (max_ring_time >= 0),
    strategy_id       TEXT    NOT NULL DEFAULT '',
    agent_group_id    TEXT    NOT NULL DEFAULT '',
    task_callback_url TEXT    NOT NULL DEFAULT '',
    call_callback_url TEXT    NOT NULL DEFAULT '',
    country_code      TEXT    NOT NULL DEFAULT '',
    create_ts         INTEGER NOT NULL,
    order_max_call    INTEGER,
    replay_interval   INTEGER
);
CREATE UNIQUE INDEX tasks_user_task_id ON tasks (account_id, user_task_id) WHERE user_task_id <> '';

-- One statistics row per task, keyed by the task's row id. It also carries copies of the
-- task's account, status and creation time, so that every filter of the task list and its
-- order are served by one covering index of this table (tasks are joined for the page only).
CREATE TABLE task_stats (
    account_id          INTEGER NOT NULL REFERENCES accounts (id),
    task_row_id         INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    id                  INTEGER NOT NULL UNIQUE,
    task_id             TEXT    NOT NULL,
    auto_flow_id        INTEGER NOT NULL,
    create_ts           INTEGER NOT NULL,
    task_status         INTEGER NOT NULL,  -- kept equal to tasks.task_status by a trigger
    total_order_count   INTEGER NOT NULL DEFAULT 0 CHECK (total_order_count >= 0),
    dialed_order_count  INTEGER NOT NULL DEFAULT 0 CHECK (dialed_order_count >= 0),
    finish_order_count  INTEGER NOT NULL DEFAULT 0 CHECK (finish_order_count >= 0),
    answer_order_count  INTEGER NOT NULL DEFAULT 0 CHECK (answer_order_count >= 0),
    total_call_count    INTEGER NOT NULL DEFAULT 0 CHECK (total_call_count >= 0),
    answer_call_count   INTEGER NOT NULL DEFAULT 0
        CHECK (answer_call_count >= 0 AND answer_call_count <= total_call_count),
    total_call_elapsed  INTEGER NOT NULL DEFAULT 0 CHECK (total_call_elapsed >= 0),
    manual_answer_count INTEGER NOT NULL DEFAULT 0 CHECK (manual_answer_count >= 0),
    manual_fail_count   INTEGER NOT NULL DEFAULT 0 CHECK (manual_fail_count >= 0),
    manual_elapsed      INTEGER NOT NULL DEFAULT 0 CHECK (manual_elapsed >= 0)
);
-- Order (create_ts desc, id desc) first, then the filtered counters: range scans in list order
-- that never touch a table row.
CREATE INDEX task_stats_list ON task_stats
    (account_id, create_ts, task_row_id, total_order_count, total_call_count, answer_call_count);
CREATE INDEX task_stats_status_list ON task_stats
    (account_id, task_status, create_ts, task_row_id, total_order_count, total_call_count,
     answer_call_count);

-- Per-account, per-status task counts, and the same per creation day and hour: maintained by
-- triggers in the transaction of every task write, so unfiltered and status-only totals never
-- scan, and a deep page starts from the hour it falls in instead of skipping every row before it.
CREATE TABLE account_task_counts (
    account_id  INTEGER NOT NULL,
    task_status INTEGER NOT NULL,
    n           INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, task_status)
) WITHOUT ROWID;

CREATE TABLE account_day_counts (
    account_id INTEGER NOT NULL,
    day        INTEGER NOT NULL,  -- create_ts / 86400
    n          INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;

CREATE TABLE account_status_day_counts (
    account_id  INTEGER NOT NULL,
    task_status INTEGER NOT NULL,
    day         INTEGER NOT NULL,
    n           INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, task_status, day)
) WITHOUT ROWID;

CREATE TABLE account_hour_counts (
    account_id INTEGER NOT NULL,
    hour       INTEGER NOT NULL,  -- create_ts / 3600
    n          INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, hour)
) WITHOUT ROWID;

CREATE TABLE account_status_hour_counts (
    account_id  INTEGER NOT NULL,
    task_status INTEGER NOT NULL,
    hour        INTEGER NOT NULL,
    n           INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, task_status, hour)
) WITHOUT ROWID;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO account_task_counts (account_id, task_status, n)
    VALUES (NEW.account_id, NEW.task_status, 1)
    ON CONFLICT (account_id, task_status) DO UPDATE SET n = n + 1;
    INSERT INTO account_day_counts (account_id, day, n)
    VALUES (NEW.account_id, NEW.create_ts / 86400, 1)
    ON CONFLICT (account_id, day) DO UPDATE SET n = n + 1;
    INSERT INTO account_status_day_counts (account_id, task_status, day, n)
    VALUES (NEW.account_id, NEW.task_status, NEW.create_ts / 86400, 1)
    ON CONFLICT (account_id, task_status, day) DO UPDATE SET n = n + 1;
    INSERT INTO account_hour_counts (account_id, hour, n)
    VALUES (NEW.account_id, NEW.create_ts / 3600, 1)
    ON CONFLICT (account_id, hour) DO UPDATE SET n = n + 1;
    INSERT INTO account_status_hour_counts (account_id, task_status, hour, n)
    VALUES (NEW.account_id, NEW.task_status, NEW.create_ts / 3600, 1)
    ON CONFLICT (account_id, task_status, hour) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN
    UPDATE account_task_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND task_status = OLD.task_status;
    UPDATE account_day_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND day = OLD.create_ts / 86400;
    UPDATE account_status_day_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND task_status = OLD.task_status
      AND day = OLD.create_ts / 86400;
    UPDATE account_hour_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND hour = OLD.create_ts / 3600;
    UPDATE account_status_hour_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND task_status = OLD.task_status
      AND hour = OLD.create_ts / 3600;
END;

CREATE TRIGGER tasks_status_update AFTER UPDATE OF task_status ON tasks
WHEN OLD.task_status <> NEW.task_status BEGIN
    UPDATE task_stats SET task_status = NEW.task_status WHERE task_row_id = NEW.id;
    UPDATE account_task_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND task_status = OLD.task_status;
    INSERT INTO account_task_counts (account_id, task_status, n)
    VALUES (NEW.account_id, NEW.task_status, 1)
    ON CONFLICT (account_id, task_status) DO UPDATE SET n = n + 1;
    UPDATE account_status_day_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND task_status = OLD.task_status
      AND day = OLD.create_ts / 86400;
    INSERT INTO account_status_day_counts (account_id, task_status, day, n)
    VALUES (NEW.account_id, NEW.task_status, NEW.create_ts / 86400, 1)
    ON CONFLICT (account_id, task_status, day) DO UPDATE SET n = n + 1;
    UPDATE account_status_hour_counts SET n = n - 1
    WHERE account_id = OLD.account_id AND task_status = OLD.task_status
      AND hour = OLD.create_ts / 3600;
    INSERT INTO account_status_hour_counts (account_id, task_status, hour, n)
    VALUES (NEW.account_id, NEW.task_status, NEW.create_ts / 3600, 1)
    ON CONFLICT (account_id, task_status, hour) DO UPDATE SET n = n + 1;
END;

-- A task's account and creation time never change.
CREATE TRIGGER tasks_immutable AFTER UPDATE OF account_id, create_ts ON tasks
WHEN OLD.account_id <> NEW.account_id OR OLD.create_ts <> NEW.create_ts BEGIN
    SELECT RAISE(ABORT, 'account_id and create_ts of a task never change');
END;

-- Each task's JSON as sent, clustered in list order (account, created, id): an unfiltered page
-- is one range scan of neighbouring rows, a filtered page looks its rows up by key.
CREATE TABLE task_pages (
    account_id  INTEGER NOT NULL,
    create_ts   INTEGER NOT NULL,
    task_row_id INTEGER NOT NULL,
    doc         TEXT    NOT NULL,
    PRIMARY KEY (account_id, create_ts, task_row_id)
) WITHOUT ROWID;

-- The task object exactly as the task list sends it (key order of the vendor's reference page),
-- with statInfo's rates ("66.67%": two decimals, half up; null on a zero denominator) and
-- averages (rounded down; null on zero) derived from the counters. task_pages.doc holds it,
-- re-rendered by the triggers below in the transaction of every write that changes an input,
-- so a page is read as stored text instead of being assembled column by column per request.
CREATE VIEW task_docs AS
SELECT t.id AS task_row_id, json_object(
    'id', t.id, 'taskId', t.task_id, 'saasUserId', t.account_id, 'userTaskId', t.user_task_id,
    'other', t.other, 'autoFlowId', t.auto_flow_id, 'autoFlowName', coalesce(f.name, ''),
    'taskStatus', t.task_status, 'pauseReason', t.pause_reason, 'taskName', t.task_name,
    'taskDesc', t.task_desc, 'taskKeep', t.task_keep, 'startupType', t.startup_type,
    'startupAt', t.startup_at, 'shutdownAt', t.shutdown_at, 'startupBy', t.startup_by,
    'routeId', t.route_id, 'maxCall', t.max_call, 'importType', t.import_type,
    'funcFlag', t.func_flag, 'maxRingTime', t.max_ring_time, 'strategyId', t.strategy_id,
    'agentGroupId', t.agent_group_id, 'taskCallbackUrl', t.task_callback_url,
    'createTs', t.create_ts,
    'statInfo', json_object(
        'id', s.id, 'taskId', t.task_id, 'autoFlowId', t.auto_flow_id,
        'answerOrderCount', s.answer_order_count, 'finishOrderCount', s.finish_order_count,
        'totalOrderCount', s.total_order_count, 'dialedOrderCount', s.dialed_order_count,
        'totalCallElapsed', s.total_call_elapsed, 'answerCallCount', s.answer_call_count,
        'totalCallCount', s.total_call_count, 'manualElapsed', s.manual_elapsed,
        'manualAnswerCount', s.manual_answer_count, 'manualFailCount', s.manual_fail_count,
        'createTs', t.create_ts,
        'answerRate', CASE WHEN s.total_call_count = 0 THEN NULL ELSE printf('%d.%02d%%',
            (s.answer_call_count * 20000 + s.total_call_count) / (2 * s.total_call_count) / 100,
            (s.answer_call_count * 20000 + s.total_call_count) / (2 * s.total_call_count) % 100)
            END,
        'dialProgress', CASE WHEN s.total_order_count = 0 THEN NULL ELSE printf('%d.%02d%%',
            (s.dialed_order_count * 20000 + s.total_order_count) / (2 * s.total_order_count) / 100,
            (s.dialed_order_count * 20000 + s.total_order_count) / (2 * s.total_order_count) % 100)
            END,
        'finishRate', CASE WHEN s.total_order_count = 0 THEN NULL ELSE printf('%d.%02d%%',
            (s.finish_order_count * 20000 + s.total_order_count) / (2 * s.total_order_count) / 100,
            (s.finish_order_count * 20000 + s.total_order_count) / (2 * s.total_order_count) % 100)
            END,
        'manualAnswerRate',
            CASE WHEN s.manual_answer_count + s.manual_fail_count = 0 THEN NULL
            ELSE printf('%d.%02d%%',
                (s.manual_answer_count * 20000 + s.manual_answer_count + s.manual_fail_count)
                    / (2 * (s.manual_answer_count + s.manual_fail_count)) / 100,
                (s.manual_answer_count * 20000 + s.manual_answer_count + s.manual_fail_count)
                    / (2 * (s.manual_answer_count + s.manual_fail_count)) % 100)
            END,
        'avgCallDuration', CASE WHEN s.answer_call_count = 0 THEN NULL
                                ELSE s.total_call_elapsed / s.answer_call_count END,
        'avgManualDuration', CASE WHEN s.manual_answer_count = 0 THEN NULL
                                  ELSE s.manual_elapsed / s.manual_answer_count END),
    'orderMaxCall', t.order_max_call, 'replayInterval', t.replay_interval
) AS doc
FROM tasks AS t
JOIN task_stats AS s ON s.task_row_id = t.id
LEFT JOIN flows AS f ON f.id = t.auto_flow_id;

CREATE TRIGGER task_pages_insert AFTER INSERT ON task_stats BEGIN
    INSERT INTO task_pages (account_id, create_ts, task_row_id, doc)
    VALUES (NEW.account_id, NEW.create_ts, NEW.task_row_id,
            (SELECT doc FROM task_docs WHERE task_row_id = NEW.task_row_id));
END;

CREATE TRIGGER task_pages_delete AFTER DELETE ON task_stats BEGIN
    DELETE FROM task_pages WHERE account_id = OLD.account_id AND create_ts = OLD.create_ts
                             AND task_row_id = OLD.task_row_id;
END;

CREATE TRIGGER task_pages_counters AFTER UPDATE OF
    id, total_order_count, dialed_order_count, finish_order_count, answer_order_count,
    total_call_count, answer_call_count, total_call_elapsed, manual_answer_count,
    manual_fail_count, manual_elapsed
ON task_stats BEGIN
    UPDATE task_pages SET doc = (SELECT doc FROM task_docs WHERE task_row_id = NEW.task_row_id)
    WHERE account_id = NEW.account_id AND create_ts = NEW.create_ts
      AND task_row_id = NEW.task_row_id;
END;

CREATE TRIGGER task_pages_task_update AFTER UPDATE ON tasks BEGIN
    UPDATE task_pages SET doc = (SELECT doc FROM task_docs WHERE task_row_id = NEW.id)
    WHERE account_id = NEW.account_id AND create_ts = NEW.create_ts AND task_row_id = NEW.id;
END;

CREATE TRIGGER task_pages_flow_rename AFTER UPDATE OF name ON flows BEGIN
    UPDATE task_pages
    SET doc = (SELECT d.doc FROM task_docs AS d WHERE d.task_row_id = task_pages.task_row_id)
    WHERE account_id = NEW.account_id
      AND task_row_id IN (SELECT id FROM tasks WHERE auto_flow_id = NEW.id);
END;
