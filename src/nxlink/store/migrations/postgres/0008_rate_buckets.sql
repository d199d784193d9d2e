-- Rate limits per access key (nxlink.store.ratelimit), shared by every process on the database:
-- one cell per key of the generic cell rate algorithm, its theoretical arrival time (epoch ms),
-- updated in one statement per request (PostgresStore.take_token). Unlogged: after a crash
-- every key starts with a full burst, which is what a restart means anyway.
CREATE UNLOGGED TABLE rate_buckets (
    access_key text             NOT NULL PRIMARY KEY,
    tat_ms     double precision NOT NULL,
    allowed    boolean          NOT NULL
);
