-- The sandbox's view of callback delivery (issue 11). Numbered 0011: 0010 is kept for the
-- sandbox clock of the main line.
--
-- Each delivery try of an outbox row, written in the transaction that records the try on the
-- row (record_delivery): 'attempt' is the row's try number (1 for the first), 'started_ms' and
-- 'ended_ms' real time (epoch ms), 'latency_ms' the POST's own time (a fault's delay not
-- counted), 'status' the receiver's HTTP status (NULL: no answer, see 'error'), 'fault' what
-- a callback fault did to the try ('' none, 'delay', 'fail').
CREATE TABLE outbox_attempts (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    outbox_id   INTEGER NOT NULL REFERENCES outbox (id),
    event_id    TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER NOT NULL,
    latency_ms  REAL    NOT NULL,
    status      INTEGER,
    error       TEXT    NOT NULL DEFAULT '',
    delivered   INTEGER NOT NULL,
    fault       TEXT    NOT NULL DEFAULT '',
    delay_ms    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_attempts_event ON outbox_attempts (event_id, id);

-- Callback faults of the sandbox, read by every deliverer (servers and nxlink worker): a
-- callback whose URL contains url_part has its first fail_first tries fail as if the receiver
-- answered fail_status (nothing is sent), and waits delay_ms before each POST it sends.
CREATE TABLE callback_faults (
    id          INTEGER PRIMARY KEY,
    url_part    TEXT    NOT NULL,
    delay_ms    INTEGER NOT NULL,
    fail_first  INTEGER NOT NULL,
    fail_status INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);
