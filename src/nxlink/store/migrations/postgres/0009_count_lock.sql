-- Task counts without deadlocks. Every transaction that changes an account's task counts
-- (a task inserted or deleted, a status changed) first takes that account's counts lock, an
-- advisory lock held until it ends. One status change took its two count rows in a fixed
-- order, but a transaction changing several tasks could take row 2, then row 1, while another
-- held row 1 and waited for row 2. With the account's lock taken before any count row, the
-- transactions that change one account's counts follow each other, and none waits for a count
-- row while holding one another needs.
CREATE FUNCTION nx_lock_account_counts(account bigint) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(1853383534, (account % 2147483647)::integer);  -- 'nxcn'
$$;

CREATE OR REPLACE FUNCTION nx_count_inserted_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nx_lock_account_counts(account_id) FROM (SELECT DISTINCT account_id FROM changed
                                                      ORDER BY 1) AS accounts;
    INSERT INTO account_task_counts AS c (account_id, task_status, n)
    SELECT account_id, task_status, count(*) FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, task_status) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_day_counts AS c (account_id, day, n)
    SELECT account_id, create_ts / 86400, count(*) FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, day) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_status_day_counts AS c (account_id, task_status, day, n)
    SELECT account_id, task_status, create_ts / 86400, count(*) FROM changed
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (account_id, task_status, day) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_hour_counts AS c (account_id, hour, n)
    SELECT account_id, create_ts / 3600, count(*) FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, hour) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO account_status_hour_counts AS c (account_id, task_status, hour, n)
    SELECT account_id, task_status, create_ts / 3600, count(*) FROM changed
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (account_id, task_status, hour) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION nx_count_deleted_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nx_lock_account_counts(account_id) FROM (SELECT DISTINCT account_id FROM changed
                                                      ORDER BY 1) AS accounts;
    UPDATE account_task_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, task_status, count(*) AS n FROM changed GROUP BY 1, 2
          ORDER BY 1, 2) AS g
    WHERE c.account_id = g.account_id AND c.task_status = g.task_status;
    UPDATE account_day_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, create_ts / 86400 AS day, count(*) AS n FROM changed
          GROUP BY 1, 2 ORDER BY 1, 2) AS g
    WHERE c.account_id = g.account_id AND c.day = g.day;
    UPDATE account_status_day_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, task_status, create_ts / 86400 AS day, count(*) AS n FROM changed
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS g
    WHERE c.account_id = g.account_id AND c.task_status = g.task_status AND c.day = g.day;
    UPDATE account_hour_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, create_ts / 3600 AS hour, count(*) AS n FROM changed
          GROUP BY 1, 2 ORDER BY 1, 2) AS g
    WHERE c.account_id = g.account_id AND c.hour = g.hour;
    UPDATE account_status_hour_counts AS c SET n = c.n - g.n
    FROM (SELECT account_id, task_status, create_ts / 3600 AS hour, count(*) AS n FROM changed
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS g
    WHERE c.account_id = g.account_id AND c.task_status = g.task_status AND c.hour = g.hour;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION nx_count_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    status smallint;
BEGIN
    PERFORM nx_lock_account_counts(NEW.account_id);
    UPDATE task_stats SET task_status = NEW.task_status
    WHERE account_id = NEW.account_id AND task_row_id = NEW.id
      AND task_status <> NEW.task_status;
    FOREACH status IN ARRAY ARRAY[least(OLD.task_status, NEW.task_status),
                                  greatest(OLD.task_status, NEW.task_status)] LOOP
        IF status = NEW.task_status THEN
            INSERT INTO account_task_counts AS c (account_id, task_status, n)
            VALUES (NEW.account_id, status, 1)
            ON CONFLICT (account_id, task_status) DO UPDATE SET n = c.n + 1;
            INSERT INTO account_status_day_counts AS c (account_id, task_status, day, n)
            VALUES (NEW.account_id, status, NEW.create_ts / 86400, 1)
            ON CONFLICT (account_id, task_status, day) DO UPDATE SET n = c.n + 1;
            INSERT INTO account_status_hour_counts AS c (account_id, task_status, hour, n)
            VALUES (NEW.account_id, status, NEW.create_ts / 3600, 1)
            ON CONFLICT (account_id, task_status, hour) DO UPDATE SET n = c.n + 1;
        ELSE
            UPDATE account_task_counts SET n = n - 1
            WHERE account_id = OLD.account_id AND task_status = status;
            UPDATE account_status_day_counts SET n = n - 1
            WHERE account_id = OLD.account_id AND task_status = status
              AND day = OLD.create_ts / 86400;
            UPDATE account_status_hour_counts SET n = n - 1
            WHERE account_id = OLD.account_id AND task_status = status
              AND hour = OLD.create_ts / 3600;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
