-- What SQLite's 0003 means here. The task JSON was always rendered in Python on PostgreSQL (there
-- is no view or trigger to drop); what remains is the name search and the rule that names never
-- change.

-- taskName contains: a trigram index of the casefolded names, for needles of 3 or more
-- characters (LIKE '%needle%' finds the candidates, strpos() keeps the answer exact); shorter
-- ones scan the account's names. The extension may already be installed, in any schema (e.g.
-- public): the operator class is named by the schema it is in.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DO $$
DECLARE
    trgm_schema name := (SELECT n.nspname FROM pg_extension AS e
                         JOIN pg_namespace AS n ON n.oid = e.extnamespace
                         WHERE e.extname = 'pg_trgm');
BEGIN
    EXECUTE format('CREATE INDEX tasks_name_trgm ON tasks USING gin (name_fold %I.gin_trgm_ops)',
                   trgm_schema);
END
$$;

CREATE FUNCTION nx_name_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the name of a task never changes';
END
$$;

CREATE TRIGGER tasks_name_immutable BEFORE UPDATE OF task_name, name_fold ON tasks
FOR EACH ROW WHEN (OLD.name_fold <> NEW.name_fold)
EXECUTE FUNCTION nx_name_immutable();
