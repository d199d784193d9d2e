-- The task JSON is rendered in Python (nxlink.contract.taskdoc) by the unit of work of every
-- write and stored as opaque bytes: the view that rendered it in SQL and the triggers that
-- re-rendered it go. task_pages keeps the bytes already rendered (identical to what Python
-- renders, as the tests prove).
DROP TRIGGER task_pages_insert;
DROP TRIGGER task_pages_delete;
DROP TRIGGER task_pages_counters;
DROP TRIGGER task_pages_task_update;
DROP TRIGGER task_pages_flow_rename;
DROP VIEW task_docs;

-- taskName contains: a trigram index of the casefolded names (searches of 3 or more characters;
-- shorter ones scan). The trigram tokenizer stops at a NUL character, so the indexed text has
-- each NUL as U+FFFD (the search text too, and instr() on the real name keeps answers exact):
-- the store writes these rows with the task (SQL cannot map a NUL), and the migration indexes
-- the names without one here, the few with one in nxlink.store.sqlite.
CREATE VIRTUAL TABLE task_names USING fts5 (
    name_fold, tokenize = 'trigram case_sensitive 1', content = ''
);
INSERT INTO task_names (rowid, name_fold)
SELECT id, name_fold FROM tasks WHERE instr(name_fold, char(0)) = 0;

CREATE TRIGGER tasks_name_immutable AFTER UPDATE OF task_name, name_fold ON tasks
WHEN OLD.name_fold <> NEW.name_fold BEGIN
    SELECT RAISE(ABORT, 'the name of a task never changes');
END;

-- Every query of tenant data names the account: the dialer's loose scan of the tasks with
-- pending orders runs per account.
DROP INDEX orders_pending;
CREATE INDEX orders_pending ON orders (account_id, task_row_id, next_attempt_ts)
    WHERE state = 'pending';
