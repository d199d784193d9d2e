-- Rate limits per access key: on SQLite the token buckets live in each process's memory
-- (SQLiteStore.take_token), so that a read never waits for the single writer; this migration
-- keeps the two dialects' histories numbered alike.
SELECT 1;
