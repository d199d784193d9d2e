-- The life of tasks: contacts ("orders"), calls, the dialer's claims and the callback outbox.
-- See ../shared/spec/lifecycle.md. Counters in task_stats move only in the transaction of the
-- record that causes them (nxlink.service.counters says how much).

-- The scheduler fires startupAt and shutdownAt once each. Seeded tasks ('synthetic') carry
-- generated counters with no orders or calls behind them: their schedules are history and
-- verify-counters leaves them out.
ALTER TABLE tasks ADD COLUMN startup_fired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN shutdown_fired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN synthetic INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET startup_fired = 1, shutdown_fired = 1, synthetic = 1;
CREATE INDEX tasks_startup_due ON tasks (startup_at)
    WHERE startup_fired = 0 AND startup_type = 2 AND startup_at IS NOT NULL;
CREATE INDEX tasks_shutdown_due ON tasks (shutdown_at)
    WHERE shutdown_fired = 0 AND shutdown_at IS NOT NULL;
CREATE INDEX tasks_route ON tasks (account_id, route_id);
CREATE INDEX tasks_flow ON tasks (auto_flow_id);

-- A contact of a task. contact_id is unique within the account for ever: a deleted contact
-- keeps its row (state 'deleted'), so its id cannot be imported again.
-- A 'dialling' order is held by one dialer (claimed_by) until it reports the call, or until
-- lease_until passes (the dialer died), when another dialer may take the claim over.
-- Times of the dialer's world (next_attempt_ts, claimed_at, lease_until) are on the dialer's
-- clock, in epoch seconds; the simulator's clock may run faster than real time.
CREATE TABLE orders (
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    id              INTEGER PRIMARY KEY,
    task_row_id     INTEGER NOT NULL REFERENCES tasks (id),
    contact_id      TEXT    NOT NULL,
    name            TEXT    NOT NULL DEFAULT '',
    phone           TEXT    NOT NULL,
    country_code    TEXT    NOT NULL DEFAULT '',
    params          TEXT    NOT NULL DEFAULT '[]',  -- JSON array of {name, value}
    other           TEXT    NOT NULL DEFAULT '',
    state           TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'dialling', 'finished', 'deleted')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    answered        INTEGER NOT NULL DEFAULT 0 CHECK (answered IN (0, 1)),
    next_attempt_ts INTEGER NOT NULL DEFAULT 0,
    claimed_by      TEXT,
    claimed_at      INTEGER,
    lease_until     INTEGER,
    created_ts      INTEGER NOT NULL
);
CREATE UNIQUE INDEX orders_contact ON orders (account_id, contact_id);
CREATE INDEX orders_task ON orders (task_row_id, state, next_attempt_ts, id);
CREATE INDEX orders_dialling ON orders (lease_until) WHERE state = 'dialling';
-- The dialer's questions (which tasks have pending orders, which are due) are index seeks.
CREATE INDEX orders_pending ON orders (task_row_id, next_attempt_ts) WHERE state = 'pending';

-- Dialers that claimed recently (real time, epoch ms): each takes a fair share of a task's
-- lines, so that several dialers on one database all get work.
CREATE TABLE dialers (
    dialer_id     TEXT    PRIMARY KEY,
    seen_until_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- The dialers' shared timeline: simulated time = origin_sim + (real ms - origin_real_ms) / 1000
-- * speed. Every simulator on the database follows it, so their times agree.
CREATE TABLE sim_clock (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    origin_real_ms INTEGER NOT NULL,
    origin_sim     INTEGER NOT NULL,
    speed          REAL    NOT NULL CHECK (speed > 0)
);

-- A completed call. Times are epoch seconds of the dialer's clock.
CREATE TABLE calls (
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    id             INTEGER PRIMARY KEY,
    call_id        TEXT    NOT NULL UNIQUE,
    task_row_id    INTEGER NOT NULL REFERENCES tasks (id),
    order_id       INTEGER NOT NULL REFERENCES orders (id),
    attempt        INTEGER NOT NULL CHECK (attempt >= 1),
    callee_phone   TEXT    NOT NULL,
    create_ts      INTEGER NOT NULL,
    call_start     INTEGER NOT NULL,
    call_answer    INTEGER,
    call_end       INTEGER NOT NULL,
    ring_seconds   INTEGER NOT NULL CHECK (ring_seconds >= 0),
    talk_seconds   INTEGER NOT NULL CHECK (talk_seconds >= 0),
    result         INTEGER NOT NULL CHECK (result IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21)),
    answered       INTEGER NOT NULL CHECK (answered IN (0, 1)),
    manual_status  INTEGER CHECK (manual_status IN (1, 2)),
    manual_elapsed INTEGER CHECK (manual_elapsed >= 0),
    user_intent    TEXT    NOT NULL DEFAULT '',
    summary        TEXT    NOT NULL DEFAULT '',
    order_head     INTEGER NOT NULL CHECK (order_head IN (0, 1)),
    order_tail     INTEGER NOT NULL CHECK (order_tail IN (0, 1)),
    cost_cents     INTEGER NOT NULL DEFAULT 0 CHECK (cost_cents >= 0)
);
CREATE INDEX calls_task ON calls (task_row_id, create_ts, id);
CREATE UNIQUE INDEX calls_order_attempt ON calls (order_id, attempt);

-- Callbacks waiting to be delivered: written in the transaction of the change they announce.
-- Times here are real time, epoch milliseconds. 'attempts' counts every delivery try;
-- 'round_base' is the value of attempts when the current round of retries began (a manual
-- retry starts a new round with the full backoff schedule).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    event_id        TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL CHECK (kind IN ('task', 'call')),
    url             TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    created_ms      INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    round_base      INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    delivered_ms    INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_ms) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state, id);
