-- A write request accepted once is answered with its first answer when it comes again
-- (nxlink.service.replays): its (accessKey, ts, sign) at one operation, reserved in the transaction of the
-- write and holding that write's answer (code, message, data; not the traceId). A key is
-- kept while a request with its ts could still pass the timestamp window, then forgotten.
CREATE TABLE write_replays (
    account_id bigint   NOT NULL REFERENCES accounts (id),
    access_key text     NOT NULL,
    ts         bigint   NOT NULL,
    sign       text     NOT NULL,
    operation  text     NOT NULL,
    answer     bytea,
    created_ms bigint   NOT NULL,
    PRIMARY KEY (account_id, access_key, ts, sign, operation)
);
CREATE INDEX write_replays_ts ON write_replays (account_id, ts);
