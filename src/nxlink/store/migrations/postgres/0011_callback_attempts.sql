-- The sandbox's view of callback delivery (issue 11). Numbered 0011: 0010 is kept for the
-- sandbox clock of the main line.
--
-- Each delivery try of an outbox row, written in the transaction that records the try on the
-- row (record_delivery): 'attempt' is the row's try number (1 for the first), 'started_ms' and
-- 'ended_ms' real time (epoch ms), 'latency_ms' the POST's own time (a fault's delay not
-- counted), 'status' the receiver's HTTP status (NULL: no answer, see 'error'), 'fault' what
-- a callback fault did to the try ('' none, 'delay', 'fail').
CREATE TABLE outbox_attempts (
    id          bigserial,
    account_id  bigint  NOT NULL REFERENCES accounts (id),
    outbox_id   bigint  NOT NULL,
    event_id    text    NOT NULL,
    url         text    NOT NULL,
    attempt     bigint  NOT NULL,
    started_ms  bigint  NOT NULL,
    ended_ms    bigint  NOT NULL,
    latency_ms  double precision NOT NULL,
    status      bigint,
    error       text    NOT NULL DEFAULT '',
    delivered   boolean NOT NULL,
    fault       text    NOT NULL DEFAULT '',
    delay_ms    bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, outbox_id) REFERENCES outbox (account_id, id)
);
CREATE INDEX outbox_attempts_event ON outbox_attempts (event_id, id);

-- Callback faults of the sandbox (a global table, as accounts: they concern every account), read by every deliverer (servers and nxlink worker): a
-- callback whose URL contains url_part has its first fail_first tries fail as if the receiver
-- answered fail_status (nothing is sent), and waits delay_ms before each POST it sends.
CREATE TABLE callback_faults (
    id          bigserial PRIMARY KEY,
    url_part    text    NOT NULL,
    delay_ms    bigint  NOT NULL,
    fail_first  bigint  NOT NULL,
    fail_status bigint  NOT NULL,
    created_ms  bigint  NOT NULL
);
