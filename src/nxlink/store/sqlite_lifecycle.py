"""SQLite side of the task lifecycle: the primitives of one write transaction, the call list
and the dialer's next-event question."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

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
    OrderState,
    ReplayKey,
    Route,
    StoreError,
    TaskRow,
    TaskState,
    WindowWait,
)
from nxlink.store.rows import (
    ACCOUNT_COLUMNS,
    CALL_COLUMNS,
    CALL_FROM,
    CALL_INSERT_COLUMNS,
    ROUTE_COLUMNS,
    account_row,
    call_facts,
    call_filter,
    call_values,
    route_row,
    stat_row_values,
    task_row_values,
)
from nxlink.store.rows import CONTEXT_COLUMNS as _CONTEXT_COLUMNS
from nxlink.store.rows import ORDER_COLUMNS as _ORDER_COLUMNS
from nxlink.store.rows import STAT_INSERT_COLUMNS as _STAT_INSERT_COLUMNS
from nxlink.store.rows import TASK_COLUMNS as _TASK_COLUMNS
from nxlink.store.rows import TASK_FROM as _TASK_FROM
from nxlink.store.rows import TASK_INSERT_COLUMNS as _TASK_INSERT_COLUMNS
from nxlink.store.rows import candidate as _candidate
from nxlink.store.rows import order_state as _order
from nxlink.store.rows import task_state as _task

#: What a task's JSON is rendered from (``TaskDocInputs``, field order).
_DOC_INPUTS: Final = f"""
SELECT t.id, s.id, t.account_id, t.task_id, t.user_task_id, t.other, t.auto_flow_id,
       coalesce(f.name, ''), t.task_status, t.pause_reason, t.task_name, t.task_desc,
       t.task_keep, t.startup_type, t.startup_at, t.shutdown_at, t.startup_by, t.route_id,
       t.max_call, t.import_type, t.func_flag, t.max_ring_time, t.strategy_id,
       t.agent_group_id, t.task_callback_url, t.create_ts, t.order_max_call, t.replay_interval,
       {", ".join(f"s.{name}" for name in STAT_COUNTERS)}
FROM tasks AS t
JOIN task_stats AS s ON s.task_row_id = t.id
LEFT JOIN flows AS f ON f.account_id = t.account_id AND f.id = t.auto_flow_id
"""

#: The account's tasks that have pending orders, one index seek each (a loose scan of
#: ``orders_pending``), as the CTE ``pending``: the dialer's work starts from these.
_PENDING_TASKS: Final = """
WITH RECURSIVE pending (task_row_id) AS (
    SELECT min(task_row_id) FROM orders WHERE account_id = :account AND state = 'pending'
    UNION ALL
    SELECT (SELECT min(o.task_row_id) FROM orders AS o
            WHERE o.account_id = :account AND o.state = 'pending'
              AND o.task_row_id > pending.task_row_id)
    FROM pending WHERE pending.task_row_id IS NOT NULL
)"""

#: Per calling window, the pending orders of the account's tasks in progress that have one
#: (``Store.dialer_waits``): any due at ``:now``, and the earliest due after it. The
#: ``week_days`` literal lets the partial index ``tasks_windowed`` serve it.
_WINDOW_WAITS: Final = f"""
SELECT t.week_days, t.zone_second,
       max(coalesce((SELECT min(o.next_attempt_ts) FROM orders AS o
                     WHERE o.account_id = :account AND o.task_row_id = t.id
                       AND o.state = 'pending') <= :now, 0)),
       min((SELECT min(o.next_attempt_ts) FROM orders AS o
            WHERE o.account_id = :account AND o.task_row_id = t.id
              AND o.state = 'pending' AND o.next_attempt_ts > :now))
FROM tasks AS t
WHERE t.account_id = :account AND t.task_status = 2 AND t.week_days <> {EVERY_DAY}
GROUP BY t.week_days, t.zone_second
"""

_CALL_FACTS: Final = f"SELECT {CALL_COLUMNS} {CALL_FROM}"
_INSERT_CALL: Final = (f"INSERT INTO calls ({', '.join(CALL_INSERT_COLUMNS)}) "
                       f"VALUES ({', '.join('?' for _ in CALL_INSERT_COLUMNS)})")  # fmt: skip


class SQLiteLifecycleTx(LifecycleTx):
    """The primitives over one connection inside a ``BEGIN IMMEDIATE`` transaction (which
    serialises every writer of the database, so :meth:`lock_lines` has nothing to lock)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    # -- reads -------------------------------------------------------------------------------
    def account(self, account_id: int) -> Account:
        row = self.conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?",
            (account_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"no account with id {account_id}")
        return account_row(row)

    def account_ids(self) -> list[int]:
        return [int(row[0]) for row in self.conn.execute("SELECT id FROM accounts ORDER BY id")]

    def flow(self, account_id: int, flow_id: int) -> Flow | None:
        row = self.conn.execute(
            "SELECT id, account_id, name, variables, created_ts FROM flows "
            "WHERE account_id = ? AND id = ? AND enabled = 1",
            (account_id, flow_id),
        ).fetchone()
        return None if row is None else Flow(row[0], row[1], row[2], tuple(json.loads(row[3])),
                                             row[4])  # fmt: skip

    def route(self, account_id: int, route_id: str) -> Route | None:
        row = self.conn.execute(
            f"SELECT {ROUTE_COLUMNS} FROM routes "
            "WHERE account_id = ? AND route_id = ? AND enabled = 1",
            (account_id, route_id),
        ).fetchone()
        return None if row is None else route_row(row)

    def task(
        self, account_id: int, *, task_id: str | None = None, user_task_id: str | None = None
    ) -> TaskState | None:
        if user_task_id is not None:
            where, key = "t.user_task_id = ? AND t.user_task_id <> ''", user_task_id
        elif task_id is not None:
            where, key = "t.task_id = ?", task_id
        else:
            raise StoreError("a task is named by task_id or user_task_id")
        row = self.conn.execute(
            f"SELECT {_TASK_COLUMNS} {_TASK_FROM} WHERE t.account_id = ? AND {where}",
            (account_id, key),
        ).fetchone()
        return None if row is None else _task(row)

    def task_by_row(self, account_id: int, row_id: int) -> TaskState:
        row = self.conn.execute(
            f"SELECT {_TASK_COLUMNS} {_TASK_FROM} WHERE t.account_id = ? AND t.id = ?",
            (account_id, row_id),
        ).fetchone()
        if row is None:
            raise StoreError(f"no task with row id {row_id} in account {account_id}")
        return _task(row)

    def task_count(self, account_id: int) -> int:
        # One writer at a time: the count holds until this transaction ends.
        row = self.conn.execute(
            "SELECT coalesce(sum(n), 0) FROM account_task_counts WHERE account_id = ?",
            (account_id,),
        ).fetchone()
        return int(row[0])

    def task_id_using(self, account_id: int, user_task_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT task_id FROM tasks WHERE account_id = ? AND user_task_id = ?",
            (account_id, user_task_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def contacts_taken(self, account_id: int, contact_ids: Sequence[str]) -> list[str]:
        taken: set[str] = set()
        ids = list(contact_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            taken.update(
                row[0]
                for row in self.conn.execute(
                    f"SELECT contact_id FROM orders WHERE account_id = ? "
                    f"AND contact_id IN ({marks})",
                    (account_id, *chunk),
                )
            )
        return [contact for contact in ids if contact in taken]

    def order(self, account_id: int, task_row_id: int, contact_id: str) -> OrderState | None:
        row = self.conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders "
            "WHERE account_id = ? AND contact_id = ? AND task_row_id = ?",
            (account_id, contact_id, task_row_id),
        ).fetchone()
        return None if row is None else _order(row)

    def open_orders(self, account_id: int, task_row_id: int) -> tuple[bool, bool]:
        row = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE task_row_id = ?2 AND account_id = ?1 "
            "AND state = 'pending'), "
            "EXISTS (SELECT 1 FROM orders WHERE task_row_id = ?2 AND account_id = ?1 "
            "AND state = 'dialling'), "
            "EXISTS (SELECT 1 FROM orders WHERE task_row_id = ?2 AND account_id = ?1 "
            "AND state = 'finished')",
            (account_id, task_row_id),
        ).fetchone()
        return bool(row[0] or row[1]), bool(row[2])

    def tasks_in(self, account_id: int, *, statuses: Sequence[int]) -> list[int]:
        marks = ", ".join("?" * len(statuses))
        rows = self.conn.execute(
            f"SELECT task_row_id FROM task_stats WHERE account_id = ? "
            f"AND task_status IN ({marks}) ORDER BY task_row_id",
            (account_id, *statuses),
        )
        return [int(row[0]) for row in rows]

    def tasks_using(
        self, account_id: int, *, flow_id: int | None = None, route_id: str | None = None
    ) -> list[int]:
        if flow_id is not None:
            rows = self.conn.execute(
                "SELECT id FROM tasks WHERE auto_flow_id = ? AND account_id = ? ORDER BY id",
                (flow_id, account_id),
            )
        else:
            rows = self.conn.execute(
                "SELECT id FROM tasks WHERE account_id = ? AND route_id = ? ORDER BY id",
                (account_id, route_id),
            )
        return [int(row[0]) for row in rows]

    # -- writes ------------------------------------------------------------------------------
    def insert_orders(
        self, account_id: int, task_row_id: int, orders: Sequence[NewOrder], *, now: int
    ) -> None:
        try:
            self.conn.executemany(
                "INSERT INTO orders (account_id, task_row_id, contact_id, name, phone, "
                "country_code, params, other, call_callback_url, created_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (account_id, task_row_id, o.contact_id, o.name, o.phone, o.country_code,
                     o.params, o.other, o.call_callback_url, now)
                    for o in orders
                ],
            )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"contacts not imported: {exc}") from None

    def delete_order(self, account_id: int, order_id: int) -> None:
        self.conn.execute(
            "UPDATE orders SET state = 'deleted' WHERE account_id = ? AND id = ?",
            (account_id, order_id),
        )

    def add_balance(self, account_id: int, cents: int) -> int:
        row = self.conn.execute(
            "UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ? "
            "RETURNING balance_cents",
            (cents, account_id),
        ).fetchone()
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
            cur = self.conn.execute(
                "UPDATE flows SET enabled = ? WHERE account_id = ? AND id = ?",
                (int(enabled), account_id, flow_id),
            )
        else:
            cur = self.conn.execute(
                "UPDATE routes SET enabled = ? WHERE account_id = ? AND route_id = ?",
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
        self.conn.execute(
            "INSERT INTO outbox (account_id, event_id, kind, url, body, created_ms, "
            "next_attempt_ms, task_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, event_id, kind, url, body, now_ms, now_ms, task_id),
        )

    # -- replayed writes ---------------------------------------------------------------------
    def claim_replay(
        self, account_id: int, key: ReplayKey, *, now_ms: int, forget_before_ts: int
    ) -> bytes | None:
        conn = self.conn
        conn.execute("DELETE FROM write_replays WHERE account_id = ? AND ts < ?",
                     (account_id, forget_before_ts))  # fmt: skip
        cur = conn.execute(
            "INSERT INTO write_replays (account_id, access_key, ts, sign, operation, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (account_id, key.access_key, key.ts, key.sign, key.operation, now_ms),
        )
        if cur.rowcount == 1:
            return None
        row = conn.execute(
            "SELECT answer FROM write_replays WHERE account_id = ? AND access_key = ? "
            "AND ts = ? AND sign = ? AND operation = ?",
            (account_id, key.access_key, key.ts, key.sign, key.operation),
        ).fetchone()
        return bytes(row[0])  # one writer at a time: the first write has committed its answer

    def record_replay(self, account_id: int, key: ReplayKey, answer: bytes) -> None:
        self.conn.execute(
            "UPDATE write_replays SET answer = ? WHERE account_id = ? AND access_key = ? "
            "AND ts = ? AND sign = ? AND operation = ?",
            (answer, account_id, key.access_key, key.ts, key.sign, key.operation),
        )

    # -- the dialer --------------------------------------------------------------------------
    def dialer_heartbeat(self, dialer_id: str, *, now_ms: int, alive_ms: int) -> int:
        # Rewritten at most every alive_ms / 2: an idle dialer's poll then writes nothing
        # (and empties no reader's cache).
        self.conn.execute(
            "INSERT INTO dialers (dialer_id, seen_until_ms) VALUES (?, ?) "
            "ON CONFLICT (dialer_id) DO UPDATE SET seen_until_ms = excluded.seen_until_ms "
            "WHERE seen_until_ms < ?",
            (dialer_id, now_ms + alive_ms, now_ms + alive_ms // 2),
        )
        self.conn.execute("DELETE FROM dialers WHERE seen_until_ms <= ?", (now_ms,))
        return int(self.conn.execute("SELECT count(*) FROM dialers").fetchone()[0])

    def forget_dialer(self, dialer_id: str) -> None:
        self.conn.execute("DELETE FROM dialers WHERE dialer_id = ?", (dialer_id,))

    def release_claims(self, account_id: int, *, dialer_id: str) -> int:
        cur = self.conn.execute(
            "UPDATE orders SET state = 'pending', claimed_by = NULL, claimed_at = NULL, "
            "lease_until = NULL WHERE account_id = ? AND state = 'dialling' AND claimed_by = ?",
            (account_id, dialer_id),
        )
        return cur.rowcount

    def adopt_expired(
        self, account_id: int, now: int, *, dialer_id: str, lease_until: int
    ) -> list[OrderState]:
        rows = self.conn.execute(
            f"UPDATE orders SET claimed_by = ?, lease_until = ? WHERE id IN ("
            "SELECT id FROM orders WHERE state = 'dialling' AND lease_until <= ? "
            "AND account_id = ? AND claimed_by <> ?) "
            f"RETURNING {_ORDER_COLUMNS}",
            (dialer_id, lease_until, now, account_id, dialer_id),
        ).fetchall()
        # RETURNING gives no order; adopt oldest claims first, like a queue.
        return sorted((_order(row) for row in rows), key=lambda o: (o.claimed_at or 0, o.id))

    def dial_candidates(self, account_id: int, now: int) -> list[DialCandidate]:
        rows = self.conn.execute(
            _PENDING_TASKS
            + f""", due AS (
                SELECT task_row_id FROM pending
                WHERE task_row_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM orders AS o WHERE o.account_id = :account
                    AND o.task_row_id = pending.task_row_id
                    AND o.state = 'pending' AND o.next_attempt_ts <= :now)
            ), busy AS MATERIALIZED (
                -- One pass over the account's dialling orders, whatever the statistics (a
                -- count per task could walk them all once per task).
                SELECT task_row_id, count(*) AS n FROM orders
                WHERE account_id = :account AND state = 'dialling' GROUP BY task_row_id
            )
            SELECT t.id, t.account_id, t.task_status, t.max_call, a.default_max_call,
                   a.enabled, a.balance_cents, coalesce(f.enabled, 0), r.enabled IS NOT NULL
                   AND r.enabled = 1, t.shutdown_at, t.shutdown_fired, {_CONTEXT_COLUMNS},
                   coalesce(b.n, 0), t.week_days, t.zone_second
            FROM due
            JOIN tasks AS t ON t.account_id = :account AND t.id = due.task_row_id
            JOIN accounts AS a ON a.id = t.account_id
            LEFT JOIN flows AS f ON f.account_id = t.account_id AND f.id = t.auto_flow_id
            LEFT JOIN routes AS r ON r.account_id = t.account_id AND r.route_id = t.route_id
            LEFT JOIN busy AS b ON b.task_row_id = t.id
            ORDER BY t.id
            """,
            {"account": account_id, "now": now},
        ).fetchall()
        return [_candidate(row) for row in rows]

    def lock_lines(self, account_id: int, task_row_id: int, *, dialer_id: str) -> Lines | None:
        row = self.conn.execute(
            "SELECT (SELECT dial_floor FROM tasks WHERE account_id = ?1 AND id = ?2), "
            "count(*), coalesce(sum(claimed_by = ?3), 0) FROM orders "
            "WHERE account_id = ?1 AND task_row_id = ?2 AND state = 'dialling'",
            (account_id, task_row_id, dialer_id),
        ).fetchone()
        return Lines(dialling=int(row[1]), mine=int(row[2]), floor=int(row[0]))

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
        rows = self.conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account_id = ? AND task_row_id = ? "
            "AND state = 'pending' AND next_attempt_ts <= ? ORDER BY next_attempt_ts, id LIMIT ?",
            (account_id, task_row_id, now, limit),
        ).fetchall()
        self.conn.executemany(
            "UPDATE orders SET state = 'dialling', claimed_by = ?, claimed_at = ?, "
            "lease_until = ? WHERE account_id = ? AND id = ?",
            [(dialer_id, claimed_at, lease_until, account_id, row[0]) for row in rows],
        )
        return [
            replace(_order(row), state="dialling", claimed_by=dialer_id, claimed_at=claimed_at,
                    lease_until=lease_until)
            for row in rows
        ]  # fmt: skip

    def raise_dial_floor(self, account_id: int, task_row_id: int, ts: int) -> None:
        self.conn.execute(
            "UPDATE tasks SET dial_floor = ? WHERE account_id = ? AND id = ? AND dial_floor < ?",
            (ts, account_id, task_row_id, ts),
        )

    def dial_context(self, account_id: int, task_row_id: int) -> DialContext:
        row = self.conn.execute(
            f"SELECT {_CONTEXT_COLUMNS} FROM tasks AS t JOIN routes AS r "
            "ON r.account_id = t.account_id AND r.route_id = t.route_id "
            "WHERE t.account_id = ? AND t.id = ?",
            (account_id, task_row_id),
        ).fetchone()
        if row is None:
            raise StoreError(f"task row {task_row_id} has no route")
        return DialContext(*row)

    def held_order(
        self, account_id: int, order_id: int, *, dialer_id: str, attempt: int
    ) -> OrderState | None:
        row = self.conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account_id = ? AND id = ? "
            "AND state = 'dialling' AND claimed_by = ? AND attempts = ?",
            (account_id, order_id, dialer_id, attempt - 1),
        ).fetchone()
        return None if row is None else _order(row)

    def finish_attempt(
        self, account_id: int, order_id: int, *, finished: bool, answered: bool,
        next_attempt_ts: int,
    ) -> None:  # fmt: skip
        self.conn.execute(
            "UPDATE orders SET state = ?, attempts = attempts + 1, "
            "answered = max(answered, ?), next_attempt_ts = ?, claimed_by = NULL, "
            "claimed_at = NULL, lease_until = NULL WHERE account_id = ? AND id = ?",
            ("finished" if finished else "pending", int(answered), next_attempt_ts, account_id,
             order_id),
        )  # fmt: skip

    def insert_call(self, order: OrderState, call: NewCall) -> int:
        cur = self.conn.execute(_INSERT_CALL, call_values(order, call))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def call_facts(self, account_id: int, call_row_id: int) -> CallFacts:
        row = self.conn.execute(
            _CALL_FACTS + "WHERE c.account_id = ? AND c.id = ?", (account_id, call_row_id)
        ).fetchone()
        if row is None:
            raise StoreError(f"no call with row id {call_row_id}")
        return call_facts(row)

    def due_schedules(self, account_id: int, now: int) -> list[int]:
        rows = self.conn.execute(
            """
            SELECT id FROM (
                SELECT id, startup_at AS at FROM tasks
                WHERE startup_fired = 0 AND startup_type = 2 AND startup_at IS NOT NULL
                  AND startup_at <= :now AND account_id = :account
                UNION
                SELECT id, shutdown_at FROM tasks
                WHERE shutdown_fired = 0 AND shutdown_at IS NOT NULL AND shutdown_at <= :now
                  AND account_id = :account
            ) GROUP BY id ORDER BY min(at), id
            """,
            {"now": now, "account": account_id},
        ).fetchall()
        return [int(row[0]) for row in rows]

    # -- the unit of work's primitives -------------------------------------------------------
    def _bump_counters(self, account_id: int, task_row_id: int, changes: dict[str, int]) -> None:
        assignments = ", ".join(f"{name} = {name} + ?" for name in changes)
        cur = self.conn.execute(
            f"UPDATE task_stats SET {assignments} WHERE account_id = ? AND task_row_id = ?",
            (*changes.values(), account_id, task_row_id),
        )
        if cur.rowcount != 1:
            raise StoreError(f"no statistics row for task row {task_row_id}")

    def _update_task(self, account_id: int, row_id: int, columns: dict[str, Any]) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.conn.execute(
            f"UPDATE tasks SET {assignments} WHERE account_id = ? AND id = ?",
            (*columns.values(), account_id, row_id),
        )

    def _flow_names(self, account_id: int) -> dict[int, str]:
        rows = self.conn.execute("SELECT id, name FROM flows WHERE account_id = ?", (account_id,))
        return {int(flow_id): str(name) for flow_id, name in rows}

    def _reserve_task_ids(self, n: int) -> list[tuple[int, int]]:
        # The write lock is held: nobody else allocates until this transaction ends.
        next_task = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM tasks").fetchone()[0]
        next_stat = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM task_stats").fetchone()[
            0
        ]
        return [(next_task + i, next_stat + i) for i in range(n)]

    def _insert_task_rows(
        self, account_id: int, rows: Sequence[TaskRow], *, synthetic: bool
    ) -> None:
        insert_task_rows(self.conn, account_id, rows, synthetic=synthetic)

    def _doc_inputs(self, account_id: int, row_ids: Sequence[int]) -> list[TaskDocInputs]:
        found: list[TaskDocInputs] = []
        for start in range(0, len(row_ids), 500):
            chunk = row_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found.extend(
                TaskDocInputs(*row)
                for row in self.conn.execute(
                    _DOC_INPUTS + f"WHERE t.account_id = ? AND t.id IN ({marks}) ORDER BY t.id",
                    (account_id, *chunk),
                )
            )
        if len(found) != len(set(row_ids)):
            raise StoreError(f"tasks missing in account {account_id}: {sorted(row_ids)}")
        return found

    def _put_docs(self, account_id: int, docs: Sequence[tuple[int, int, bytes]]) -> None:
        self.conn.executemany(
            "UPDATE task_pages SET doc = ? "
            "WHERE account_id = ? AND create_ts = ? AND task_row_id = ?",
            [(doc, account_id, create_ts, row_id) for row_id, create_ts, doc in docs],
        )


def indexed_name(name_fold: str) -> str:
    """A name as the trigram index ``task_names`` holds it: its tokenizer stops at a NUL."""
    return name_fold.replace("\0", "\ufffd")


def insert_task_rows(
    conn: sqlite3.Connection, account_id: int, rows: Sequence[TaskRow], *, synthetic: bool
) -> None:
    """Insert tasks, their statistics rows and their JSON (inside the caller's transaction)."""
    task_sql = (f"INSERT INTO tasks ({', '.join(_TASK_INSERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_TASK_INSERT_COLUMNS))})")  # fmt: skip
    stat_sql = (f"INSERT INTO task_stats ({', '.join(_STAT_INSERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_STAT_INSERT_COLUMNS))})")  # fmt: skip
    try:
        conn.executemany(task_sql, [task_row_values(account_id, r, synthetic=synthetic)
                                    for r in rows])  # fmt: skip
        conn.executemany(stat_sql, [stat_row_values(account_id, r) for r in rows])
        conn.executemany(
            "INSERT INTO task_pages (account_id, create_ts, task_row_id, doc) VALUES (?, ?, ?, ?)",
            [(account_id, r.task.create_ts, r.row_id, r.doc) for r in rows],
        )
        conn.executemany(
            "INSERT INTO task_names (rowid, name_fold) VALUES (?, ?)",
            [(r.row_id, indexed_name(r.task.task_name.casefold())) for r in rows],
        )
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"tasks not inserted: {exc}") from None


def dialer_waits(conn: sqlite3.Connection, now: int, *, dialer_id: str) -> DialerWaits:
    """See ``Store.dialer_waits`` (inside the caller's read snapshot), account by account."""
    earliest: int | None = None
    waits: list[WindowWait] = []
    for (account_id,) in conn.execute("SELECT id FROM accounts ORDER BY id").fetchall():
        row = conn.execute(
            _PENDING_TASKS
            + """
            SELECT min(x) FROM (
                SELECT min(lease_until) AS x FROM orders
                WHERE account_id = :account AND state = 'dialling' AND claimed_by <> :dialer
                  AND lease_until > :now
                UNION ALL
                SELECT min((SELECT min(o.next_attempt_ts) FROM orders AS o
                            WHERE o.account_id = :account AND o.task_row_id = p.task_row_id
                              AND o.state = 'pending' AND o.next_attempt_ts > :now))
                FROM pending AS p JOIN tasks AS t
                  ON t.account_id = :account AND t.id = p.task_row_id
                WHERE t.task_status = 2
                UNION ALL
                SELECT min(startup_at) FROM tasks
                WHERE account_id = :account AND startup_fired = 0 AND startup_type = 2
                  AND startup_at IS NOT NULL AND startup_at > :now
                UNION ALL
                SELECT min(shutdown_at) FROM tasks
                WHERE account_id = :account AND shutdown_fired = 0 AND shutdown_at IS NOT NULL
                  AND shutdown_at > :now
            )
            """,
            {"account": account_id, "dialer": dialer_id, "now": now},
        ).fetchone()
        if row[0] is not None and (earliest is None or row[0] < earliest):
            earliest = int(row[0])
        rows = conn.execute(_WINDOW_WAITS, {"account": account_id, "now": now}).fetchall()
        waits += [WindowWait(days, zone, bool(due_now), next_due)
                  for days, zone, due_now, next_due in rows]  # fmt: skip
    return DialerWaits(earliest, tuple(waits))


def call_page(
    conn: sqlite3.Connection,
    account_id: int,
    task_id: str,
    flt: CallFilter,
    *,
    offset: int,
    limit: int,
) -> tuple[int, list[CallFacts]] | None:
    """One page of a task's calls, newest first (inside the caller's read snapshot)."""
    task = conn.execute(
        "SELECT id FROM tasks WHERE account_id = ? AND task_id = ?", (account_id, task_id)
    ).fetchone()
    if task is None:
        return None
    clauses = ["c.account_id = ?", "c.task_row_id = ?"]
    params: list[Any] = [account_id, task[0]]
    more, values = call_filter(flt, "?")
    clauses += more
    params += values
    where = " AND ".join(clauses)
    total = conn.execute(f"SELECT count(*) FROM calls AS c WHERE {where}", params).fetchone()[0]
    if offset >= total:
        return int(total), []
    rows = conn.execute(
        _CALL_FACTS + f"WHERE {where} ORDER BY c.create_ts DESC, c.id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    return int(total), [call_facts(row) for row in rows]
