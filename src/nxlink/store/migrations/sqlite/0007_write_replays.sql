-- A write request accepted once is answered with its first answer when it comes again
-- (nxlink.service.replays): its (accessKey, ts, sign) at one operation, reserved in the transaction of the
-- write and holding that write's answer (code, message, data; not the traceId). A key is
-- kept while a request with its ts could still pass the timestamp window, then forgotten.
CREATE TABLE write_replays (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    access_key TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    sign       TEXT    NOT NULL,
    operation  TEXT    NOT NULL,
    answer     BLOB,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, access_key, ts, sign, operation)
);
CREATE INDEX write_replays_ts ON write_replays (account_id, ts);
