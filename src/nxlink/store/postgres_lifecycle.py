"""PostgreSQL side of the task lifecycle: the primitives of one write transaction (READ
COMMITTED, row locks), the call list and the dialer's next-event question.

Several API processes and dialers write at once, so the primitives lock what the service's
rules read before they write (SQLite serialises every writer instead):

- a task named by the user (:meth:`PostgresLifecycleTx.task`) is locked through its
  statistics row, the row every counter and status change of the task writes first;
  two operations on one task then follow each other, as on SQLite;
- the dialer's order (:meth:`~PostgresLifecycleTx.held_order`) is locked while its call is
  reported, so a takeover (:meth:`~PostgresLifecycleTx.adopt_expired`) waits and then sees it
  reported;
- claims never wait: the task's lines (:meth:`~PostgresLifecycleTx.lock_lines`), its pending
  orders and due schedules are taken with ``SKIP LOCKED``;
- a status change writes the statistics row before the task row (the order every writer
  follows), and the count rows lower status first.

Every statement on tenant data names the account (``account_id = %s``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from typing import Any, Final

import psycopg
from psycopg import sql

from nxlink.contract.calldoc import CallFacts
from nxlink.contract.taskdoc import TaskDocInputs
from nxlink.store.base import (
    EVERY_DAY,
    STAT_COUNTERS,
    Account,
    CallFilter,
    DialCandidate,
    DialContext,
    DialerWaits,
    Flow,
    LifecycleTx,
    Lines,
    NewCall,
    NewOrder,
    NewTask,
    OrderState,
    ReplayKey,
    Route,
    StoreError,
    StoreUnavailable,
    TaskRow,
    TaskState,
    WindowWait,
)
from nxlink.store.rows import (
    ACCOUNT_COLUMNS,
    CALL_COLUMNS,
    CALL_FROM,
    CALL_INSERT_COLUMNS,
    CONTEXT_COLUMNS,
    ORDER_COLUMNS,
    ROUTE_COLUMNS,
    STAT_INSERT_COLUMNS,
    TASK_COLUMNS,
    TASK_FROM,
    TASK_INSERT_COLUMNS,
    account_row,
    call_facts,
    call_filter,
    call_values,
    candidate,
    order_state,
    route_row,
    stat_row_values,
    task_row_values,
    task_state,
)

NUL: Final = "\0"

#: What a task's JSON is rendered from (``TaskDocInputs``, field order).
_DOC_INPUTS: Final = f"""
SELECT t.id, s.id, t.account_id, t.task_id, t.user_task_id, t.other, t.auto_flow_id,
       coalesce(f.name, ''), t.task_status, t.pause_reason, t.task_name, t.task_desc,
       t.task_keep, t.startup_type, t.startup_at, t.shutdown_at, t.startup_by, t.route_id,
       t.max_call, t.import_type, t.func_flag, t.max_ring_time, t.strategy_id,
       t.agent_group_id, t.task_callback_url, t.create_ts, t.order_max_call, t.replay_interval,
       {", ".join(f"s.{name}" for name in STAT_COUNTERS)}
FROM tasks AS t
JOIN task_stats AS s ON s.account_id = t.account_id AND s.task_row_id = t.id
LEFT JOIN flows AS f ON f.account_id = t.account_id AND f.id = t.auto_flow_id
WHERE t.account_id = %s AND t.id = ANY(%s)
ORDER BY t.id
"""

#: The account's tasks that have pending orders, one index seek each (a loose scan of
#: ``orders_pending``), as the CTE ``pending``: the dialer's work starts from these. (Each
#: step is ORDER BY ... LIMIT 1: written as min(), the planner read every pending order of
#: the account instead of the first.)
_RUNNING_TASKS: Final = """
WITH running (task_row_id) AS (
    -- The account's tasks in progress, the only ones a dialer may dial or wait for: an
    -- index-only scan of task_stats (whose copy of the status a trigger keeps), not a walk of
    -- every task with a pending contact (ready and paused tasks pile up: each step grew with
    -- them, and a dialer that fell behind fell further behind).
    SELECT task_row_id FROM task_stats WHERE account_id = %(account)s AND task_status = 2
)"""

#: Per calling window, the pending orders of the account's tasks in progress that have one
#: (``Store.dialer_waits``): any due at ``now``, and the earliest due after it. The
#: ``week_days`` literal lets the partial index ``tasks_windowed`` serve it.
_WINDOW_WAITS: Final = f"""
SELECT t.week_days, t.zone_second,
       coalesce(bool_or((SELECT min(o.next_attempt_ts) FROM orders AS o
                         WHERE o.account_id = %(account)s AND o.task_row_id = t.id
                           AND o.state = 'pending') <= %(now)s), false),
       min((SELECT min(o.next_attempt_ts) FROM orders AS o
            WHERE o.account_id = %(account)s AND o.task_row_id = t.id
              AND o.state = 'pending' AND o.next_attempt_ts > %(now)s))
FROM tasks AS t
WHERE t.account_id = %(account)s AND t.task_status = 2 AND t.week_days <> {EVERY_DAY}
GROUP BY t.week_days, t.zone_second
"""

_CALL_FACTS: Final = f"SELECT {CALL_COLUMNS} {CALL_FROM}"
_INSERT_CALL: Final = (
    f"INSERT INTO calls ({', '.join(CALL_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in CALL_INSERT_COLUMNS)}) RETURNING id"
)

_ORDER_COPY: Final = ("account_id", "task_row_id", "contact_id", "name", "phone", "country_code",
                      "params", "other", "call_callback_url", "created_ts")  # fmt: skip
_TASK_TEXT_FIELDS: Final = tuple(f.name for f in fields(NewTask) if f.type == "str")
_ORDER_TEXT_FIELDS: Final = ("contact_id", "phone", "name", "country_code", "params", "other",
                              "call_callback_url")  # fmt: skip
_CALL_TEXT_FIELDS: Final = tuple(f.name for f in fields(NewCall) if f.type == "str")


def no_nul(what: str, **values: object) -> None:
    """Refuse text PostgreSQL cannot store: ``text`` holds no NUL character."""
    for name, value in values.items():
        if isinstance(value, str) and NUL in value:
            raise StoreError(f"{what}: {name} contains a NUL character (\\0), which the "
                             "database cannot store")  # fmt: skip


def has_nul(*values: object) -> bool:
    """True when a value to look up holds a NUL: no stored text can equal or contain it."""
    return any(isinstance(value, str) and NUL in value for value in values)


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def copy_rows(cur: psycopg.Cursor[Any], table: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:  # fmt: skip
    """``COPY table (columns) FROM STDIN`` the rows (one round of the protocol for any number)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


Params = Sequence[Any] | dict[str, Any] | None


class PostgresLifecycleTx(LifecycleTx):
    """The primitives over one connection inside a READ COMMITTED transaction.

    A write whose answer nothing waits for (an order's attempt, a counter, a task's JSON, a
    callback row, ``BEGIN`` itself) is held back and sent, in one round trip of the pipeline
    protocol, with the next statement that reads, or with ``COMMIT``: a reported call costs
    about half the round trips. The transaction's reads still see its every write.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__()
        self.conn = conn
        #: (statement, parameters, the error if it does not change exactly one row)
        self._deferred: list[tuple[str, Params, str | None]] = [("BEGIN", None, None)]

    def _defer(self, query: str, params: Params, *, one_row: str | None = None) -> None:
        self._deferred.append((query, params, one_row))

    def _run(self, query: str | None, params: Params = None) -> psycopg.Cursor[Any] | None:
        """Send the writes held back, then ``query``, in one round trip; ``query``'s cursor."""
        if not self._deferred:
            return None if query is None else self.conn.execute(query, params)
        deferred, self._deferred = self._deferred, []
        with self.conn.pipeline():
            sent = [(self.conn.execute(q, p), one_row) for q, p, one_row in deferred]
            cur = None if query is None else self.conn.execute(query, params)
        for done, one_row in sent:
            if one_row is not None and done.rowcount != 1:
                raise StoreError(one_row)
        return cur

    def _cur(self, query: str, params: Params) -> psycopg.Cursor[Any]:
        cur = self._run(query, params)
        assert cur is not None
        return cur

    def _one(self, query: str, params: Params) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._cur(query, params).fetchone()
        return row

    def _all(self, query: str, params: Params) -> list[tuple[Any, ...]]:
        return self._cur(query, params).fetchall()

    def commit(self) -> None:
        self._run("COMMIT")

    def rollback(self) -> None:
        self._deferred = []
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")

    # -- reads -------------------------------------------------------------------------------
    def account(self, account_id: int) -> Account:
        row = self._one(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = %s",
            (account_id,),
        )
        if row is None:
            raise StoreError(f"no account with id {account_id}")
        return account_row(row)

    def account_ids(self) -> list[int]:
        return [int(row[0]) for row in self._all("SELECT id FROM accounts ORDER BY id", ())]

    def flow(self, account_id: int, flow_id: int) -> Flow | None:
        row = self._one(
            "SELECT id, account_id, name, variables, created_ts FROM flows "
            "WHERE account_id = %s AND id = %s AND enabled = 1",
            (account_id, flow_id),
        )
        return None if row is None else Flow(row[0], row[1], row[2], tuple(json.loads(row[3])),
                                             row[4])  # fmt: skip

    def route(self, account_id: int, route_id: str) -> Route | None:
        if has_nul(route_id):
            return None
        row = self._one(
            f"SELECT {ROUTE_COLUMNS} FROM routes "
            "WHERE account_id = %s AND route_id = %s AND enabled = 1",
            (account_id, route_id),
        )
        return None if row is None else route_row(row)

    def task(
        self, account_id: int, *, task_id: str | None = None, user_task_id: str | None = None
    ) -> TaskState | None:
        if user_task_id is not None:
            where, key = "t.user_task_id = %s AND t.user_task_id <> ''", user_task_id
        elif task_id is not None:
            where, key = "t.task_id = %s", task_id
        else:
            raise StoreError("a task is named by task_id or user_task_id")
        if has_nul(key):
            return None
        # The user's operation on a task holds the task (its statistics row, written first by
        # every change of the task) until it commits.
        row = self._one(
            f"SELECT {TASK_COLUMNS} {TASK_FROM} "
            "JOIN task_stats AS s ON s.account_id = t.account_id AND s.task_row_id = t.id "
            f"WHERE t.account_id = %s AND {where} FOR NO KEY UPDATE OF s",
            (account_id, key),
        )
        return None if row is None else task_state(row)

    def task_by_row(self, account_id: int, row_id: int) -> TaskState:
        row = self._one(
            f"SELECT {TASK_COLUMNS} {TASK_FROM} WHERE t.account_id = %s AND t.id = %s",
            (account_id, row_id),
        )
        if row is None:
            raise StoreError(f"no task with row id {row_id} in account {account_id}")
        return task_state(row)

    def task_count(self, account_id: int) -> int:
        # The account's counts lock (migration 0009) first: a concurrent insert waits for it.
        self._one("SELECT nx_lock_account_counts(%s)", (account_id,))
        row = self._one(
            "SELECT coalesce(sum(n), 0)::bigint FROM account_task_counts WHERE account_id = %s",
            (account_id,),
        )
        assert row is not None
        return int(row[0])

    def task_id_using(self, account_id: int, user_task_id: str) -> str | None:
        if has_nul(user_task_id):
            return None
        row = self._one(
            "SELECT task_id FROM tasks WHERE account_id = %s AND user_task_id = %s",
            (account_id, user_task_id),
        )
        return None if row is None else str(row[0])

    def contacts_taken(self, account_id: int, contact_ids: Sequence[str]) -> list[str]:
        ids = list(contact_ids)
        wanted = [contact for contact in ids if not has_nul(contact)]
        taken = {
            row[0]
            for row in self._all(
                "SELECT contact_id FROM orders WHERE account_id = %s AND contact_id = ANY(%s)",
                (account_id, wanted),
            )
        }
        return [contact for contact in ids if contact in taken]

    def order(self, account_id: int, task_row_id: int, contact_id: str) -> OrderState | None:
        if has_nul(contact_id):
            return None
        row = self._one(
            f"SELECT {ORDER_COLUMNS} FROM orders "
            "WHERE account_id = %s AND contact_id = %s AND task_row_id = %s",
            (account_id, contact_id, task_row_id),
        )
        return None if row is None else order_state(row)

    def open_orders(self, account_id: int, task_row_id: int) -> tuple[bool, bool]:
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE account_id = %(account)s "
            "AND task_row_id = %(task)s AND state = 'pending'), "
            "EXISTS (SELECT 1 FROM orders WHERE account_id = %(account)s "
            "AND task_row_id = %(task)s AND state = 'dialling'), "
            "EXISTS (SELECT 1 FROM orders WHERE account_id = %(account)s "
            "AND task_row_id = %(task)s AND state = 'finished')",
            {"account": account_id, "task": task_row_id},
        )
        assert row is not None
        return bool(row[0] or row[1]), bool(row[2])

    def tasks_in(self, account_id: int, *, statuses: Sequence[int]) -> list[int]:
        rows = self._all(
            "SELECT task_row_id FROM task_stats WHERE account_id = %s "
            "AND task_status = ANY(%s) ORDER BY task_row_id",
            (account_id, list(statuses)),
        )
        return [int(row[0]) for row in rows]

    def tasks_using(
        self, account_id: int, *, flow_id: int | None = None, route_id: str | None = None
    ) -> list[int]:
        if flow_id is not None:
            rows = self._all(
                "SELECT id FROM tasks WHERE account_id = %s AND auto_flow_id = %s ORDER BY id",
                (account_id, flow_id),
            )
        elif has_nul(route_id):
            return []
        else:
            rows = self._all(
                "SELECT id FROM tasks WHERE account_id = %s AND route_id = %s ORDER BY id",
                (account_id, route_id),
            )
        return [int(row[0]) for row in rows]

    # -- writes ------------------------------------------------------------------------------
    def insert_orders(
        self, account_id: int, task_row_id: int, orders: Sequence[NewOrder], *, now: int
    ) -> None:
        for o in orders:
            no_nul(f"contacts not imported: contact {o.contact_id.replace(NUL, '?')!r}",
                   **{name: getattr(o, name) for name in _ORDER_TEXT_FIELDS})  # fmt: skip
        rows = (
            (account_id, task_row_id, o.contact_id, o.name, o.phone, o.country_code, o.params,
             o.other, o.call_callback_url, now)
            for o in orders
        )  # fmt: skip
        self._run(None)  # COPY runs outside the pipeline
        try:
            with self.conn.cursor() as cur:
                copy_rows(cur, "orders", _ORDER_COPY, rows)
        except psycopg.errors.IntegrityError as exc:
            raise StoreError(f"contacts not imported: {first_line(exc)}") from None

    def delete_order(self, account_id: int, order_id: int) -> None:
        # A pending order a dialer is claiming right now is not waited for (the claim may be
        # waiting for this transaction's task): the delete is refused, to be tried again.
        row = self._one(
            "UPDATE orders SET state = 'deleted' WHERE account_id = %s AND id = ("
            "SELECT id FROM orders WHERE account_id = %s AND id = %s "
            "FOR NO KEY UPDATE SKIP LOCKED) RETURNING id",
            (account_id, account_id, order_id),
        )
        if row is None:
            raise StoreUnavailable(f"order {order_id} is being claimed by a dialer; try again")

    def add_balance(self, account_id: int, cents: int) -> int:
        row = self._one(
            "UPDATE accounts SET balance_cents = balance_cents + %s WHERE id = %s "
            "RETURNING balance_cents",
            (cents, account_id),
        )
        if row is None:
            raise StoreError(f"no account with id {account_id}")
        return int(row[0])

    def set_enabled(
        self,
        account_id: int,
        *,
        flow_id: int | None = None,
        route_id: str | None = None,
        enabled: bool,
    ) -> bool:
        if flow_id is not None:
            cur = self._cur(
                "UPDATE flows SET enabled = %s WHERE account_id = %s AND id = %s",
                (int(enabled), account_id, flow_id),
            )
        elif has_nul(route_id):
            return False
        else:
            cur = self._cur(
                "UPDATE routes SET enabled = %s WHERE account_id = %s AND route_id = %s",
                (int(enabled), account_id, route_id),
            )
        return cur.rowcount == 1

    def enqueue_callback(
        self,
        account_id: int,
        *,
        kind: str,
        url: str,
        body: bytes,
        event_id: str,
        now_ms: int,
        task_id: str,
    ) -> None:
        no_nul("callback not enqueued", kind=kind, url=url, event_id=event_id, task_id=task_id)
        self._defer(
            "INSERT INTO outbox (account_id, event_id, kind, url, body, created_ms, "
            "next_attempt_ms, task_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (account_id, event_id, kind, url, body, now_ms, now_ms, task_id),
        )

    # -- replayed writes ---------------------------------------------------------------------
    def claim_replay(
        self, account_id: int, key: ReplayKey, *, now_ms: int, forget_before_ts: int
    ) -> bytes | None:
        no_nul("replay", access_key=key.access_key, sign=key.sign)
        self._defer("DELETE FROM write_replays WHERE account_id = %s AND ts < %s",
                    (account_id, forget_before_ts))  # fmt: skip
        # A transaction holding the same key makes this one wait for its end: then the key is
        # either committed with its answer (DO NOTHING) or free again (rolled back).
        claimed = self._one(
            "INSERT INTO write_replays (account_id, access_key, ts, sign, operation, created_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (account_id, key.access_key, key.ts, key.sign, key.operation, now_ms),
        )
        if claimed is not None:
            return None
        row = self._one(
            "SELECT answer FROM write_replays WHERE account_id = %s AND access_key = %s "
            "AND ts = %s AND sign = %s AND operation = %s",
            (account_id, key.access_key, key.ts, key.sign, key.operation),
        )
        assert row is not None and row[0] is not None, "a committed key holds its answer"
        return bytes(row[0])

    def record_replay(self, account_id: int, key: ReplayKey, answer: bytes) -> None:
        self._defer(
            "UPDATE write_replays SET answer = %s WHERE account_id = %s AND access_key = %s "
            "AND ts = %s AND sign = %s AND operation = %s",
            (answer, account_id, key.access_key, key.ts, key.sign, key.operation),
        )

    # -- the dialer --------------------------------------------------------------------------
    def dialer_heartbeat(self, dialer_id: str, *, now_ms: int, alive_ms: int) -> int:
        no_nul("dialer", dialer_id=dialer_id)
        # Rewritten at most every alive_ms / 2: an idle dialer's poll then writes nothing.
        self._defer(
            "INSERT INTO dialers (dialer_id, seen_until_ms) VALUES (%s, %s) "
            "ON CONFLICT (dialer_id) DO UPDATE SET seen_until_ms = excluded.seen_until_ms "
            "WHERE dialers.seen_until_ms < %s",
            (dialer_id, now_ms + alive_ms, now_ms + alive_ms // 2),
        )
        # Forget dialers not seen since; one being rewritten right now (locked) is alive.
        row = self._one(
            "WITH gone AS (DELETE FROM dialers WHERE dialer_id IN ("
            "SELECT dialer_id FROM dialers WHERE seen_until_ms <= %s FOR UPDATE SKIP LOCKED) "
            "RETURNING 1) "
            "SELECT (SELECT count(*) FROM dialers) - (SELECT count(*) FROM gone)",
            (now_ms,),
        )
        assert row is not None
        return int(row[0])

    def adopt_expired(
        self, account_id: int, now: int, *, dialer_id: str, lease_until: int
    ) -> list[OrderState]:
        # One statement: a claim being reported right now is waited for, then re-checked
        # (READ COMMITTED), so it is adopted only if it is still dialling and expired.
        rows = self._all(
            "UPDATE orders SET claimed_by = %s, lease_until = %s "
            "WHERE account_id = %s AND state = 'dialling' AND lease_until <= %s "
            f"AND claimed_by <> %s RETURNING {ORDER_COLUMNS}",
            (dialer_id, lease_until, account_id, now, dialer_id),
        )
        # RETURNING gives no order; adopt oldest claims first, like a queue.
        return sorted((order_state(row) for row in rows), key=lambda o: (o.claimed_at or 0, o.id))

    def dial_candidates(self, account_id: int, now: int) -> list[DialCandidate]:
        rows = self._all(
            _RUNNING_TASKS
            + f""", due AS (
                SELECT task_row_id FROM running
                WHERE EXISTS (
                    SELECT 1 FROM orders AS o WHERE o.account_id = %(account)s
                    AND o.task_row_id = running.task_row_id
                    AND o.state = 'pending' AND o.next_attempt_ts <= %(now)s
                    OFFSET 0)  -- one seek per task (not a hash of every pending order)
            ), busy AS (
                -- One pass over the account's dialling orders, whatever the statistics (a
                -- count per task could walk them all once per task).
                SELECT task_row_id, count(*) AS n FROM orders
                WHERE account_id = %(account)s AND state = 'dialling' GROUP BY task_row_id
            )
            SELECT t.id, t.account_id, t.task_status, t.max_call, a.default_max_call,
                   a.enabled, a.balance_cents, coalesce(f.enabled, 0),
                   coalesce(r.enabled = 1, false), t.shutdown_at, t.shutdown_fired,
                   {CONTEXT_COLUMNS}, coalesce(b.n, 0), t.week_days, t.zone_second
            FROM due
            JOIN tasks AS t ON t.account_id = %(account)s AND t.id = due.task_row_id
            JOIN accounts AS a ON a.id = t.account_id
            LEFT JOIN flows AS f ON f.account_id = t.account_id AND f.id = t.auto_flow_id
            LEFT JOIN routes AS r ON r.account_id = t.account_id AND r.route_id = t.route_id
            LEFT JOIN busy AS b ON b.task_row_id = t.id
            ORDER BY t.id
            """,
            {"account": account_id, "now": now},
        )
        return [candidate(row) for row in rows]

    def forget_dialer(self, dialer_id: str) -> None:
        self._defer("DELETE FROM dialers WHERE dialer_id = %s", (dialer_id,))

    def release_claims(self, account_id: int, *, dialer_id: str) -> int:
        cur = self._cur(
            "UPDATE orders SET state = 'pending', claimed_by = NULL, claimed_at = NULL, "
            "lease_until = NULL "
            "WHERE account_id = %s AND state = 'dialling' AND claimed_by = %s",
            (account_id, dialer_id),
        )
        return cur.rowcount

    def lock_lines(self, account_id: int, task_row_id: int, *, dialer_id: str) -> Lines | None:
        # The task's row is the lock of its lines (a report raising the floor takes it too).
        # NO KEY UPDATE: claims of one task exclude each other, but not the key-share locks
        # that reports take when they insert the task's calls.
        locked = self._one(
            "SELECT dial_floor FROM tasks WHERE account_id = %s AND id = %s "
            "FOR NO KEY UPDATE SKIP LOCKED",
            (account_id, task_row_id),
        )
        if locked is None:
            return None
        row = self._one(
            "SELECT count(*), count(*) FILTER (WHERE claimed_by = %s) FROM orders "
            "WHERE account_id = %s AND task_row_id = %s AND state = 'dialling'",
            (dialer_id, account_id, task_row_id),
        )
        assert row is not None
        return Lines(dialling=int(row[0]), mine=int(row[1]), floor=int(locked[0]))

    def claim_orders(
        self,
        account_id: int,
        task_row_id: int,
        now: int,
        *,
        limit: int,
        dialer_id: str,
        claimed_at: int,
        lease_until: int,
    ) -> list[OrderState]:
        rows = self._all(
            "WITH picked AS ("
            "SELECT id FROM orders WHERE account_id = %(account)s AND task_row_id = %(task)s "
            "AND state = 'pending' AND next_attempt_ts <= %(now)s "
            "ORDER BY next_attempt_ts, id LIMIT %(limit)s FOR NO KEY UPDATE SKIP LOCKED) "
            "UPDATE orders AS o SET state = 'dialling', claimed_by = %(dialer)s, "
            "claimed_at = %(claimed_at)s, lease_until = %(lease)s FROM picked "
            f"WHERE o.account_id = %(account)s AND o.id = picked.id "
            f"RETURNING {', '.join('o.' + c.strip() for c in ORDER_COLUMNS.split(','))}",
            {"account": account_id, "task": task_row_id, "now": now, "limit": limit,
             "dialer": dialer_id, "claimed_at": claimed_at, "lease": lease_until},
        )  # fmt: skip
        claimed = sorted(
            (order_state(row) for row in rows), key=lambda o: (o.next_attempt_ts, o.id)
        )
        return [replace(o, state="dialling", claimed_by=dialer_id, claimed_at=claimed_at,
                        lease_until=lease_until) for o in claimed]  # fmt: skip

    def raise_dial_floor(self, account_id: int, task_row_id: int, ts: int) -> None:
        self._defer(
            "UPDATE tasks SET dial_floor = %s "
            "WHERE account_id = %s AND id = %s AND dial_floor < %s",
            (ts, account_id, task_row_id, ts),
        )

    def dial_context(self, account_id: int, task_row_id: int) -> DialContext:
        row = self._one(
            f"SELECT {CONTEXT_COLUMNS} FROM tasks AS t JOIN routes AS r "
            "ON r.account_id = t.account_id AND r.route_id = t.route_id "
            "WHERE t.account_id = %s AND t.id = %s",
            (account_id, task_row_id),
        )
        if row is None:
            raise StoreError(f"task row {task_row_id} has no route")
        return DialContext(*row)

    def held_order(
        self, account_id: int, order_id: int, *, dialer_id: str, attempt: int
    ) -> OrderState | None:
        if has_nul(dialer_id):
            return None
        # Held until the report commits: a takeover of this claim waits for it.
        row = self._one(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = %s AND id = %s "
            "AND state = 'dialling' AND claimed_by = %s AND attempts = %s FOR NO KEY UPDATE",
            (account_id, order_id, dialer_id, attempt - 1),
        )
        return None if row is None else order_state(row)

    def finish_attempt(
        self, account_id: int, order_id: int, *, finished: bool, answered: bool,
        next_attempt_ts: int,
    ) -> None:  # fmt: skip
        self._defer(
            "UPDATE orders SET state = %s, attempts = attempts + 1, "
            "answered = greatest(answered, %s), next_attempt_ts = %s, claimed_by = NULL, "
            "claimed_at = NULL, lease_until = NULL WHERE account_id = %s AND id = %s",
            ("finished" if finished else "pending", int(answered), next_attempt_ts, account_id,
             order_id),
        )  # fmt: skip

    def insert_call(self, order: OrderState, call: NewCall) -> int:
        no_nul(f"call {call.call_id.replace(NUL, '?')!r} not recorded",
               **{name: getattr(call, name) for name in _CALL_TEXT_FIELDS})  # fmt: skip
        row = self._one(_INSERT_CALL, call_values(order, call))
        assert row is not None
        return int(row[0])

    def call_facts(self, account_id: int, call_row_id: int) -> CallFacts:
        row = self._one(_CALL_FACTS + "WHERE c.account_id = %s AND c.id = %s",
                        (account_id, call_row_id))  # fmt: skip
        if row is None:
            raise StoreError(f"no call with row id {call_row_id}")
        return call_facts(row)

    def due_schedules(self, account_id: int, now: int) -> list[int]:
        # Each due task is taken for this transaction; one another dialer is firing right now
        # is left to it.
        rows = self._all(
            """
            SELECT t.id, least(
                CASE WHEN t.startup_fired = 0 AND t.startup_type = 2 AND t.startup_at <= %(now)s
                     THEN t.startup_at END,
                CASE WHEN t.shutdown_fired = 0 AND t.shutdown_at <= %(now)s
                     THEN t.shutdown_at END)
            FROM tasks AS t
            JOIN task_stats AS s ON s.account_id = t.account_id AND s.task_row_id = t.id
            WHERE t.account_id = %(account)s AND (
                (t.startup_fired = 0 AND t.startup_type = 2 AND t.startup_at IS NOT NULL
                 AND t.startup_at <= %(now)s)
                OR (t.shutdown_fired = 0 AND t.shutdown_at IS NOT NULL
                    AND t.shutdown_at <= %(now)s))
            FOR NO KEY UPDATE OF s SKIP LOCKED
            """,
            {"now": now, "account": account_id},
        )
        return [int(row_id) for row_id, _ in sorted(rows, key=lambda row: (row[1], row[0]))]

    # -- the unit of work's primitives -------------------------------------------------------
    def _bump_counters(self, account_id: int, task_row_id: int, changes: dict[str, int]) -> None:
        assignments = ", ".join(f"{name} = {name} + %s" for name in changes)
        self._defer(
            f"UPDATE task_stats SET {assignments} WHERE account_id = %s AND task_row_id = %s",
            (*changes.values(), account_id, task_row_id),
            one_row=f"no statistics row for task row {task_row_id}",
        )

    def _update_task(self, account_id: int, row_id: int, columns: dict[str, Any]) -> None:
        if "startup_by" in columns:
            no_nul("task not updated", startup_by=columns["startup_by"])
        values = {name: int(v) if isinstance(v, bool) else v for name, v in columns.items()}
        if "task_status" in values:
            # The statistics row first: the order every writer of a task takes its rows in.
            self._defer(
                "UPDATE task_stats SET task_status = %s "
                "WHERE account_id = %s AND task_row_id = %s AND task_status <> %s",
                (values["task_status"], account_id, row_id, values["task_status"]),
            )
        assignments = ", ".join(f"{name} = %s" for name in values)
        self._defer(
            f"UPDATE tasks SET {assignments} WHERE account_id = %s AND id = %s",
            (*values.values(), account_id, row_id),
        )

    def _flow_names(self, account_id: int) -> dict[int, str]:
        rows = self._all("SELECT id, name FROM flows WHERE account_id = %s", (account_id,))
        return {int(flow_id): str(name) for flow_id, name in rows}

    def _reserve_task_ids(self, n: int) -> list[tuple[int, int]]:
        # One number per task from the sequence: the task's row id and its statistics id.
        rows = self._all("SELECT nextval('task_ids') FROM generate_series(1, %s)", (n,))
        return [(int(i), int(i)) for i in sorted(row[0] for row in rows)]

    def _insert_task_rows(
        self, account_id: int, rows: Sequence[TaskRow], *, synthetic: bool
    ) -> None:
        for r in rows:
            no_nul(f"tasks not inserted: task {r.task.task_id.replace(NUL, '?')!r}",
                   **{name: getattr(r.task, name) for name in _TASK_TEXT_FIELDS})  # fmt: skip
        self._run(None)  # COPY runs outside the pipeline
        try:
            with self.conn.cursor() as cur:
                copy_rows(
                    cur,
                    "tasks",
                    TASK_INSERT_COLUMNS,
                    (task_row_values(account_id, r, synthetic=synthetic) for r in rows),
                )
                copy_rows(
                    cur,
                    "task_stats",
                    STAT_INSERT_COLUMNS,
                    (stat_row_values(account_id, r) for r in rows),
                )
                copy_rows(
                    cur,
                    "task_pages",
                    ("account_id", "create_ts", "task_row_id", "doc"),
                    ((account_id, r.task.create_ts, r.row_id, r.doc) for r in rows),
                )
        except psycopg.errors.IntegrityError as exc:
            raise StoreError(f"tasks not inserted: {first_line(exc)}") from None  # fmt: skip

    def _doc_inputs(self, account_id: int, row_ids: Sequence[int]) -> list[TaskDocInputs]:
        found = [TaskDocInputs(*row) for row in self._all(_DOC_INPUTS, (account_id, list(row_ids)))]
        if len(found) != len(set(row_ids)):
            raise StoreError(f"tasks missing in account {account_id}: {sorted(row_ids)}")
        return found

    def _put_docs(self, account_id: int, docs: Sequence[tuple[int, int, bytes]]) -> None:
        self._defer(
            "UPDATE task_pages AS p SET doc = v.doc "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[]) "
            "AS v (task_row_id, create_ts, doc) "
            "WHERE p.account_id = %s AND p.create_ts = v.create_ts "
            "AND p.task_row_id = v.task_row_id",
            ([d[0] for d in docs], [d[1] for d in docs], [d[2] for d in docs], account_id),
        )


def dialer_waits(conn: psycopg.Connection[Any], now: int, *, dialer_id: str) -> DialerWaits:
    """See ``Store.dialer_waits`` (inside the caller's read snapshot), account by account."""
    earliest: int | None = None
    waits: list[WindowWait] = []
    for (account_id,) in conn.execute("SELECT id FROM accounts ORDER BY id").fetchall():
        row = conn.execute(
            _RUNNING_TASKS
            + """
            SELECT min(x) FROM (
                SELECT min(lease_until) AS x FROM orders
                WHERE account_id = %(account)s AND state = 'dialling'
                  AND claimed_by <> %(dialer)s AND lease_until > %(now)s
                UNION ALL
                SELECT min((SELECT min(o.next_attempt_ts) FROM orders AS o
                            WHERE o.account_id = %(account)s AND o.task_row_id = p.task_row_id
                              AND o.state = 'pending' AND o.next_attempt_ts > %(now)s))
                FROM running AS p
                UNION ALL
                SELECT min(startup_at) FROM tasks
                WHERE account_id = %(account)s AND startup_fired = 0 AND startup_type = 2
                  AND startup_at IS NOT NULL AND startup_at > %(now)s
                UNION ALL
                SELECT min(shutdown_at) FROM tasks
                WHERE account_id = %(account)s AND shutdown_fired = 0
                  AND shutdown_at IS NOT NULL AND shutdown_at > %(now)s
            ) AS upcoming
            """,
            {"account": account_id, "dialer": dialer_id, "now": now},
        ).fetchone()
        if row is not None and row[0] is not None and (earliest is None or row[0] < earliest):
            earliest = int(row[0])
        rows = conn.execute(_WINDOW_WAITS, {"account": account_id, "now": now}).fetchall()
        waits += [WindowWait(days, zone, bool(due_now), next_due)
                  for days, zone, due_now, next_due in rows]  # fmt: skip
    return DialerWaits(earliest, tuple(waits))


def call_page(
    conn: psycopg.Connection[Any],
    account_id: int,
    task_id: str,
    flt: CallFilter,
    *,
    offset: int,
    limit: int,
) -> tuple[int, list[CallFacts]] | None:
    """One page of a task's calls, newest first (inside the caller's read snapshot)."""
    if has_nul(task_id):
        return None
    task = conn.execute(
        "SELECT id FROM tasks WHERE account_id = %s AND task_id = %s", (account_id, task_id)
    ).fetchone()
    if task is None:
        return None
    if has_nul(flt.call_id, flt.phone, flt.user_intent):
        return 0, []  # no stored text holds a NUL
    clauses = ["c.account_id = %s", "c.task_row_id = %s"]
    params: list[Any] = [account_id, task[0]]
    more, values = call_filter(flt, "%s")
    clauses += more
    params += values
    where = " AND ".join(clauses)
    total = conn.execute(f"SELECT count(*) FROM calls AS c WHERE {where}", params).fetchone()
    assert total is not None
    if offset >= total[0]:
        return int(total[0]), []
    rows = conn.execute(
        _CALL_FACTS + f"WHERE {where} ORDER BY c.create_ts DESC, c.id DESC LIMIT %s OFFSET %s",
        (*params, limit, offset),
    ).fetchall()
    return int(total[0]), [call_facts(row) for row in rows]
