-- The life of tasks: contacts ("orders"), calls, the dialer's claims and the callback outbox.
-- See ../shared/spec/lifecycle.md. Counters in task_stats move only in the transaction of the
-- record that causes them (nxlink.service.counters says how much).

-- The scheduler fires startupAt and shutdownAt once each. Seeded tasks ('synthetic') carry
-- generated counters with no orders or calls behind them: their schedules are history and
-- verify-counters leaves them out. Every task made before this migration is such history (as on
-- SQLite): the columns are added with the default 1 (no table rewrite), then default to 0.
ALTER TABLE tasks
    ADD COLUMN startup_fired  smallint NOT NULL DEFAULT 1 CHECK (startup_fired IN (0, 1)),
    ADD COLUMN shutdown_fired smallint NOT NULL DEFAULT 1 CHECK (shutdown_fired IN (0, 1)),
    ADD COLUMN synthetic      smallint NOT NULL DEFAULT 1 CHECK (synthetic IN (0, 1));
ALTER TABLE tasks
    ALTER COLUMN startup_fired SET DEFAULT 0,
    ALTER COLUMN shutdown_fired SET DEFAULT 0,
    ALTER COLUMN synthetic SET DEFAULT 0;
CREATE INDEX tasks_startup_due ON tasks (account_id, startup_at)
    WHERE startup_fired = 0 AND startup_type = 2 AND startup_at IS NOT NULL;
CREATE INDEX tasks_shutdown_due ON tasks (account_id, shutdown_at)
    WHERE shutdown_fired = 0 AND shutdown_at IS NOT NULL;
CREATE INDEX tasks_route ON tasks (account_id, route_id);
CREATE INDEX tasks_flow ON tasks (account_id, auto_flow_id);

-- A contact of a task. contact_id is unique within the account for ever: a deleted contact
-- keeps its row (state 'deleted'), so its id cannot be imported again.
-- A 'dialling' order is held by one dialer (claimed_by) until it reports the call, or until
-- lease_until passes (the dialer died), when another dialer may take the claim over.
-- Times of the dialer's world (next_attempt_ts, claimed_at, lease_until) are on the dialer's
-- clock, in epoch seconds; the simulator's clock may run faster than real time.
CREATE TABLE orders (
    account_id      bigint   NOT NULL REFERENCES accounts (id),
    id              bigserial,
    task_row_id     bigint   NOT NULL,
    contact_id      text     NOT NULL,
    name            text     NOT NULL DEFAULT '',
    phone           text     NOT NULL,
    country_code    text     NOT NULL DEFAULT '',
    params          text     NOT NULL DEFAULT '[]',  -- JSON array of {name, value}
    other           text     NOT NULL DEFAULT '',
    state           text     NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'dialling', 'finished', 'deleted')),
    attempts        bigint   NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    answered        smallint NOT NULL DEFAULT 0 CHECK (answered IN (0, 1)),
    next_attempt_ts bigint   NOT NULL DEFAULT 0,
    claimed_by      text,
    claimed_at      bigint,
    lease_until     bigint,
    created_ts      bigint   NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, contact_id),
    FOREIGN KEY (account_id, task_row_id) REFERENCES tasks (account_id, id)
);
CREATE INDEX orders_task ON orders (account_id, task_row_id, state, next_attempt_ts, id);
CREATE INDEX orders_dialling ON orders (account_id, lease_until) WHERE state = 'dialling';
-- The dialer's questions (which tasks have pending orders, which are due) are index seeks.
CREATE INDEX orders_pending ON orders (account_id, task_row_id, next_attempt_ts)
    WHERE state = 'pending';

-- Dialers that claimed recently (real time, epoch ms): each takes a fair share of a task's
-- lines, so that several dialers on one database all get work.
CREATE TABLE dialers (
    dialer_id     text   PRIMARY KEY,
    seen_until_ms bigint NOT NULL
);

-- The dialers' shared timeline: simulated time = origin_sim + (real ms - origin_real_ms) / 1000
-- * speed. Every simulator on the database follows it, so their times agree.
CREATE TABLE sim_clock (
    id             smallint         PRIMARY KEY CHECK (id = 1),
    origin_real_ms bigint           NOT NULL,
    origin_sim     bigint           NOT NULL,
    speed          double precision NOT NULL CHECK (speed > 0)
);

-- A completed call. Times are epoch seconds of the dialer's clock.
CREATE TABLE calls (
    account_id     bigint   NOT NULL REFERENCES accounts (id),
    id             bigserial,
    call_id        text     NOT NULL,
    task_row_id    bigint   NOT NULL,
    order_id       bigint   NOT NULL,
    attempt        bigint   NOT NULL CHECK (attempt >= 1),
    callee_phone   text     NOT NULL,
    create_ts      bigint   NOT NULL,
    call_start     bigint   NOT NULL,
    call_answer    bigint,
    call_end       bigint   NOT NULL,
    ring_seconds   bigint   NOT NULL CHECK (ring_seconds >= 0),
    talk_seconds   bigint   NOT NULL CHECK (talk_seconds >= 0),
    result         smallint NOT NULL CHECK (result IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21)),
    answered       smallint NOT NULL CHECK (answered IN (0, 1)),
    manual_status  smallint CHECK (manual_status IN (1, 2)),
    manual_elapsed bigint   CHECK (manual_elapsed >= 0),
    user_intent    text     NOT NULL DEFAULT '',
    summary        text     NOT NULL DEFAULT '',
    order_head     smallint NOT NULL CHECK (order_head IN (0, 1)),
    order_tail     smallint NOT NULL CHECK (order_tail IN (0, 1)),
    cost_cents     bigint   NOT NULL DEFAULT 0 CHECK (cost_cents >= 0),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, call_id),
    UNIQUE (account_id, order_id, attempt),
    FOREIGN KEY (account_id, task_row_id) REFERENCES tasks (account_id, id),
    FOREIGN KEY (account_id, order_id) REFERENCES orders (account_id, id)
);
CREATE INDEX calls_task ON calls (account_id, task_row_id, create_ts, id);

-- Callbacks waiting to be delivered: written in the transaction of the change they announce.
-- Times here are real time, epoch milliseconds. 'attempts' counts every delivery try;
-- 'round_base' is the value of attempts when the current round of retries began (a manual
-- retry starts a new round with the full backoff schedule).
CREATE TABLE outbox (
    account_id      bigint   NOT NULL REFERENCES accounts (id),
    id              bigserial,
    event_id        text     NOT NULL,
    kind            text     NOT NULL CHECK (kind IN ('task', 'call')),
    url             text     NOT NULL,
    body            bytea    NOT NULL,
    created_ms      bigint   NOT NULL,
    state           text     NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        bigint   NOT NULL DEFAULT 0,
    round_base      bigint   NOT NULL DEFAULT 0,
    next_attempt_ms bigint   NOT NULL,
    lease_until_ms  bigint   NOT NULL DEFAULT 0,
    last_status     bigint,
    last_error      text     NOT NULL DEFAULT '',
    delivered_ms    bigint,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, event_id)
);
CREATE INDEX outbox_due ON outbox (next_attempt_ms, id) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state, id);
CREATE INDEX outbox_recent ON outbox (id);
