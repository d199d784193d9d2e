-- Task counts without deadlocks (PostgreSQL): SQLite has one writer at a time, so two
-- transactions never hold count rows at once; this migration keeps the two dialects'
-- histories numbered alike.
SELECT 1;
