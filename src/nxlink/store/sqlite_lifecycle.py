"""SQLite side of the task lifecycle: the primitives of one write transaction, the call list
and the recomputation of every counter from orders and calls."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from nxlink.store.base import (
    STAT_COUNTERS,
    Account,
    CallFilter,
    Claim,
    CounterCheck,
    CounterDifference,
    Flow,
    LifecycleTx,
    NewCall,
    NewOrder,
    NewTask,
    OrderState,
    Route,
    StoreError,
    TaskState,
)

_TASK_COLUMNS: Final = (
    "t.id, t.account_id, t.task_id, t.user_task_id, t.task_name, t.other, t.auto_flow_id, "
    "coalesce(f.name, ''), t.route_id, t.task_status, t.pause_reason, t.task_keep, "
    "t.startup_type, t.startup_at, t.shutdown_at, t.startup_fired, t.shutdown_fired, "
    "t.max_call, t.max_ring_time, t.order_max_call, t.replay_interval, t.agent_group_id, "
    "t.task_callback_url, t.call_callback_url, t.country_code, t.create_ts"
)
_TASK_FROM: Final = "FROM tasks AS t LEFT JOIN flows AS f ON f.id = t.auto_flow_id"

#: The tasks that have pending orders, one index seek each (a loose scan of
#: ``orders_pending``), as the CTE ``pending``: the dialer's work starts from these.
_PENDING_TASKS: Final = """
WITH RECURSIVE pending (task_row_id) AS (
    SELECT min(task_row_id) FROM orders WHERE state = 'pending'
    UNION ALL
    SELECT (SELECT min(o.task_row_id) FROM orders AS o
            WHERE o.state = 'pending' AND o.task_row_id > pending.task_row_id)
    FROM pending WHERE pending.task_row_id IS NOT NULL
)"""

_ORDER_COLUMNS: Final = (
    "id, account_id, task_row_id, contact_id, phone, state, attempts, answered, "
    "next_attempt_ts, claimed_by, claimed_at, lease_until"
)

#: The call record of ``call/list`` and of the call callback, key order as sent.
_CALL_RECORD: Final = """
SELECT c.id, c.call_id, t.task_id, t.user_task_id, o.contact_id, t.auto_flow_id,
       coalesce(f.name, ''), c.callee_phone, c.create_ts, c.result, c.talk_seconds,
       c.user_intent, c.ring_seconds, c.call_start, c.call_answer, c.call_end, c.order_head,
       c.order_tail, c.manual_status, c.manual_elapsed
FROM calls AS c
JOIN tasks AS t ON t.id = c.task_row_id
JOIN orders AS o ON o.id = c.order_id
LEFT JOIN flows AS f ON f.id = t.auto_flow_id
"""
_CALL_KEYS: Final = (
    "id", "callId", "taskId", "userTaskId", "contactId", "autoFlowId", "autoFlowName",
    "calleePhone", "createTs", "callResult", "callElapsed", "userIntent", "callRingTime",
    "callStart", "callAnswer", "callEnd", "orderHead", "orderTail", "manualCallStatus",
    "manualElapsed",
)  # fmt: skip

_TASK_INSERT_COLUMNS: Final = (
    "account_id", "id", "task_id", "user_task_id", "other", "auto_flow_id", "task_status",
    "pause_reason", "task_name", "name_fold", "task_desc", "task_keep", "startup_type",
    "startup_at", "shutdown_at", "startup_by", "route_id", "max_call", "import_type",
    "func_flag", "max_ring_time", "strategy_id", "agent_group_id", "task_callback_url",
    "call_callback_url", "country_code", "create_ts", "order_max_call", "replay_interval",
    "startup_fired", "shutdown_fired", "synthetic",
)  # fmt: skip
_STAT_INSERT_COLUMNS: Final = ("account_id", "task_row_id", "id", "task_id", "auto_flow_id",
                               "create_ts", "task_status", *STAT_COUNTERS)  # fmt: skip

#: Columns of ``tasks`` the lifecycle may set.
_UPDATABLE: Final = frozenset({
    "task_status", "pause_reason", "startup_by", "startup_fired", "shutdown_fired",
})  # fmt: skip


def insert_task_rows(
    conn: sqlite3.Connection, account_id: int, tasks: Sequence[NewTask], *, synthetic: bool
) -> list[int]:
    """Insert tasks with their statistics rows (inside the caller's transaction).

    Synthetic (seeded) tasks are history: their schedules count as fired and their counters
    were generated, so ``verify-counters`` leaves them out.
    """
    task_sql = (f"INSERT INTO tasks ({', '.join(_TASK_INSERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_TASK_INSERT_COLUMNS))})")  # fmt: skip
    stat_sql = (f"INSERT INTO task_stats ({', '.join(_STAT_INSERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_STAT_INSERT_COLUMNS))})")  # fmt: skip
    next_task = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM tasks").fetchone()[0]
    next_stat = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM task_stats").fetchone()[0]
    flag = int(synthetic)
    task_rows: list[tuple[Any, ...]] = []
    stat_rows: list[tuple[Any, ...]] = []
    ids: list[int] = []
    for task in tasks:
        row_id, stat_id = next_task, next_stat
        next_task += 1
        next_stat += 1
        ids.append(row_id)
        task_rows.append((
            account_id, row_id, task.task_id, task.user_task_id, task.other,
            task.auto_flow_id, task.task_status, task.pause_reason, task.task_name,
            task.task_name.casefold(), task.task_desc, task.task_keep,
            task.startup_type, task.startup_at, task.shutdown_at, task.startup_by,
            task.route_id, task.max_call, task.import_type, task.func_flag,
            task.max_ring_time, task.strategy_id, task.agent_group_id,
            task.task_callback_url, task.call_callback_url, task.country_code,
            task.create_ts, task.order_max_call, task.replay_interval, flag, flag, flag,
        ))  # fmt: skip
        stats = task.stats
        stat_rows.append((
            account_id, row_id, stat_id, task.task_id, task.auto_flow_id,
            task.create_ts, task.task_status,
            *(stats.get(name, 0) for name in STAT_COUNTERS),
        ))  # fmt: skip
    try:
        conn.executemany(task_sql, task_rows)
        conn.executemany(stat_sql, stat_rows)
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"tasks not inserted: {exc}") from None
    return ids


def _task(row: tuple[Any, ...]) -> TaskState:
    return TaskState(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9],
        row[10], row[11], row[12], row[13], row[14], bool(row[15]), bool(row[16]), row[17],
        row[18], row[19], row[20], row[21], row[22], row[23], row[24], row[25],
    )  # fmt: skip


def _order(row: tuple[Any, ...]) -> OrderState:
    return OrderState(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]),
                      row[8], row[9], row[10], row[11])  # fmt: skip


def call_record(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_CALL_KEYS, row, strict=True))


class SQLiteLifecycleTx(LifecycleTx):
    """The primitives over one connection inside a ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- reads -------------------------------------------------------------------------------
    def account(self, account_id: int) -> Account:
        row = self.conn.execute(
            "SELECT id, name, enabled, balance_cents, default_max_call, created_ts "
            "FROM accounts WHERE id = ?",
            (account_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"no account with id {account_id}")
        return Account(row[0], row[1], bool(row[2]), *row[3:])

    def flow(self, account_id: int, flow_id: int) -> Flow | None:
        row = self.conn.execute(
            "SELECT id, account_id, name, variables, created_ts FROM flows "
            "WHERE id = ? AND account_id = ? AND enabled = 1",
            (flow_id, account_id),
        ).fetchone()
        return None if row is None else Flow(row[0], row[1], row[2], tuple(json.loads(row[3])),
                                             row[4])  # fmt: skip

    def route(self, account_id: int, route_id: str) -> Route | None:
        row = self.conn.execute(
            "SELECT id, account_id, route_id, name, country_code, price_per_minute_cents, "
            "answer_probability, talk_seconds_mean, created_ts FROM routes "
            "WHERE route_id = ? AND account_id = ? AND enabled = 1",
            (route_id, account_id),
        ).fetchone()
        return None if row is None else Route(*row)

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

    def task_by_row(self, row_id: int) -> TaskState:
        row = self.conn.execute(
            f"SELECT {_TASK_COLUMNS} {_TASK_FROM} WHERE t.id = ?", (row_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no task with row id {row_id}")
        return _task(row)

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

    def order(self, task_row_id: int, contact_id: str) -> OrderState | None:
        row = self.conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE task_row_id = ? AND contact_id = ?",
            (task_row_id, contact_id),
        ).fetchone()
        return None if row is None else _order(row)

    def open_orders(self, task_row_id: int) -> tuple[bool, bool]:
        row = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE task_row_id = ?1 AND state = 'pending'), "
            "EXISTS (SELECT 1 FROM orders WHERE task_row_id = ?1 AND state = 'dialling'), "
            "EXISTS (SELECT 1 FROM orders WHERE task_row_id = ?1 AND state = 'finished')",
            (task_row_id,),
        ).fetchone()
        return bool(row[0] or row[1]), bool(row[2])

    def stat_info(self, task_row_id: int) -> str:
        row = self.conn.execute(
            "SELECT json_extract(doc, '$.statInfo') FROM task_docs WHERE task_row_id = ?",
            (task_row_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"no task with row id {task_row_id}")
        return str(row[0])

    def tasks_in(self, *, statuses: Sequence[int], account_id: int | None = None) -> list[int]:
        marks = ", ".join("?" * len(statuses))
        if account_id is None:
            rows = self.conn.execute(
                f"SELECT id FROM tasks WHERE task_status IN ({marks}) ORDER BY id", tuple(statuses)
            )
        else:
            rows = self.conn.execute(
                f"SELECT task_row_id FROM task_stats WHERE account_id = ? "
                f"AND task_status IN ({marks}) ORDER BY task_row_id",
                (account_id, *statuses),
            )
        return [int(row[0]) for row in rows]

    def tasks_using(self, *, flow_id: int | None = None, route_id: str | None = None) -> list[int]:
        if flow_id is not None:
            rows = self.conn.execute(
                "SELECT id FROM tasks WHERE auto_flow_id = ? ORDER BY id", (flow_id,)
            )
        else:
            rows = self.conn.execute(
                "SELECT t.id FROM tasks AS t JOIN routes AS r "
                "ON r.account_id = t.account_id AND r.route_id = t.route_id "
                "WHERE r.route_id = ? ORDER BY t.id",
                (route_id,),
            )
        return [int(row[0]) for row in rows]

    # -- writes ------------------------------------------------------------------------------
    def insert_task(self, account_id: int, task: NewTask) -> int:
        return insert_task_rows(self.conn, account_id, [task], synthetic=False)[0]

    def insert_orders(
        self, account_id: int, task_row_id: int, orders: Sequence[NewOrder], *, now: int
    ) -> None:
        try:
            self.conn.executemany(
                "INSERT INTO orders (account_id, task_row_id, contact_id, name, phone, "
                "country_code, params, other, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (account_id, task_row_id, o.contact_id, o.name, o.phone, o.country_code,
                     o.params, o.other, now)
                    for o in orders
                ],
            )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"contacts not imported: {exc}") from None

    def delete_order(self, order_id: int) -> None:
        self.conn.execute("UPDATE orders SET state = 'deleted' WHERE id = ?", (order_id,))

    def add_counters(self, task_row_id: int, delta: dict[str, int]) -> None:
        changes = {name: n for name, n in delta.items() if n}
        if not changes:
            return
        unknown = set(changes) - set(STAT_COUNTERS)
        if unknown:
            raise StoreError(f"unknown counters: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = {name} + ?" for name in changes)
        cur = self.conn.execute(
            f"UPDATE task_stats SET {assignments} WHERE task_row_id = ?",
            (*changes.values(), task_row_id),
        )
        if cur.rowcount != 1:
            raise StoreError(f"no statistics row for task row {task_row_id}")

    def update_task(self, row_id: int, **columns: Any) -> None:
        unknown = set(columns) - _UPDATABLE
        if unknown:
            raise StoreError(f"task columns not updatable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.conn.execute(
            f"UPDATE tasks SET {assignments} WHERE id = ?", (*columns.values(), row_id)
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
        self, *, flow_id: int | None = None, route_id: str | None = None, enabled: bool
    ) -> bool:
        if flow_id is not None:
            cur = self.conn.execute(
                "UPDATE flows SET enabled = ? WHERE id = ?", (int(enabled), flow_id)
            )
        else:
            cur = self.conn.execute(
                "UPDATE routes SET enabled = ? WHERE route_id = ?", (int(enabled), route_id)
            )
        return cur.rowcount == 1

    def enqueue_callback(
        self, account_id: int, *, kind: str, url: str, body: bytes, event_id: str, now_ms: int
    ) -> None:
        self.conn.execute(
            "INSERT INTO outbox (account_id, event_id, kind, url, body, created_ms, "
            "next_attempt_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account_id, event_id, kind, url, body, now_ms, now_ms),
        )

    # -- the dialer --------------------------------------------------------------------------
    def claim_due(
        self,
        now: int,
        *,
        dialer_id: str,
        lease_until: int,
        default_ring: int,
        now_ms: int,
        alive_ms: int,
    ) -> list[Claim]:
        conn = self.conn
        claims: list[Claim] = []
        # Refreshed at most every alive_ms / 2: an idle dialer's poll then writes nothing
        # (and empties no reader's cache).
        conn.execute(
            "INSERT INTO dialers (dialer_id, seen_until_ms) VALUES (?, ?) "
            "ON CONFLICT (dialer_id) DO UPDATE SET seen_until_ms = excluded.seen_until_ms "
            "WHERE seen_until_ms < ?",
            (dialer_id, now_ms + alive_ms, now_ms + alive_ms // 2),
        )
        conn.execute("DELETE FROM dialers WHERE seen_until_ms <= ?", (now_ms,))
        live = conn.execute("SELECT count(*) FROM dialers").fetchone()[0]
        orphans = conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE state = 'dialling' AND lease_until <= ? "
            "AND claimed_by <> ? ORDER BY lease_until, id",
            (now, dialer_id),
        ).fetchall()
        for row in orphans:
            order = _order(row)
            conn.execute(
                "UPDATE orders SET claimed_by = ?, lease_until = ? WHERE id = ?",
                (dialer_id, lease_until, order.id),
            )
            assert order.claimed_at is not None
            claims.append(self._claim(order, order.claimed_at, default_ring, adopted=True))
        tasks = conn.execute(
            _PENDING_TASKS
            + """, due AS (
                SELECT task_row_id FROM pending
                WHERE task_row_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM orders AS o WHERE o.task_row_id = pending.task_row_id
                    AND o.state = 'pending' AND o.next_attempt_ts <= ?)
            )
            SELECT t.id, CASE WHEN t.max_call > 0 THEN t.max_call ELSE a.default_max_call END,
                   (SELECT count(*) FROM orders AS o
                    WHERE o.task_row_id = t.id AND o.state = 'dialling'),
                   (SELECT count(*) FROM orders AS o
                    WHERE o.task_row_id = t.id AND o.state = 'dialling' AND o.claimed_by = ?)
            FROM due
            JOIN tasks AS t ON t.id = due.task_row_id
            JOIN accounts AS a ON a.id = t.account_id
            JOIN flows AS f ON f.id = t.auto_flow_id AND f.enabled = 1
            JOIN routes AS r ON r.account_id = t.account_id AND r.route_id = t.route_id
                            AND r.enabled = 1
            WHERE t.task_status = 2 AND a.enabled = 1 AND a.balance_cents > 0
              AND NOT (t.shutdown_fired = 0 AND t.shutdown_at IS NOT NULL AND t.shutdown_at <= ?)
            ORDER BY t.id
            """,
            (now, dialer_id, now),
        ).fetchall()
        for task_row_id, lines, dialling, mine in tasks:
            share = -(-lines // live)  # ceil: with n live dialers, each may hold lines/n
            room = min(lines - dialling, share - mine)
            if room <= 0:
                continue
            rows = conn.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE task_row_id = ? AND state = 'pending' "
                "AND next_attempt_ts <= ? ORDER BY next_attempt_ts, id LIMIT ?",
                (task_row_id, now, room),
            ).fetchall()
            for row in rows:
                order = _order(row)
                conn.execute(
                    "UPDATE orders SET state = 'dialling', claimed_by = ?, claimed_at = ?, "
                    "lease_until = ? WHERE id = ?",
                    (dialer_id, now, lease_until, order.id),
                )
                claims.append(self._claim(order, now, default_ring, adopted=False))
        return claims

    def _claim(self, order: OrderState, claimed_at: int, default_ring: int, *,
               adopted: bool) -> Claim:  # fmt: skip
        row = self.conn.execute(
            "SELECT t.task_id, t.max_ring_time, t.agent_group_id, t.route_id, "
            "r.answer_probability, r.talk_seconds_mean, r.price_per_minute_cents "
            "FROM tasks AS t JOIN routes AS r "
            "ON r.account_id = t.account_id AND r.route_id = t.route_id WHERE t.id = ?",
            (order.task_row_id,),
        ).fetchone()
        return Claim(
            order_id=order.id,
            account_id=order.account_id,
            task_row_id=order.task_row_id,
            task_id=row[0],
            contact_id=order.contact_id,
            phone=order.phone,
            attempt=order.attempts + 1,
            claimed_at=claimed_at,
            max_ring_time=row[1] or default_ring,
            agent_group_id=row[2],
            route_id=row[3],
            answer_probability=row[4],
            talk_seconds_mean=row[5],
            price_per_minute_cents=row[6],
            adopted=adopted,
        )

    def held_order(self, order_id: int, *, dialer_id: str, attempt: int) -> OrderState | None:
        row = self.conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = ? AND state = 'dialling' "
            "AND claimed_by = ? AND attempts = ?",
            (order_id, dialer_id, attempt - 1),
        ).fetchone()
        return None if row is None else _order(row)

    def finish_attempt(
        self, order_id: int, *, finished: bool, answered: bool, next_attempt_ts: int
    ) -> None:
        self.conn.execute(
            "UPDATE orders SET state = ?, attempts = attempts + 1, "
            "answered = max(answered, ?), next_attempt_ts = ?, claimed_by = NULL, "
            "claimed_at = NULL, lease_until = NULL WHERE id = ?",
            ("finished" if finished else "pending", int(answered), next_attempt_ts, order_id),
        )

    def insert_call(self, order: OrderState, call: NewCall) -> int:
        cur = self.conn.execute(
            "INSERT INTO calls (account_id, call_id, task_row_id, order_id, attempt, "
            "callee_phone, create_ts, call_start, call_answer, call_end, ring_seconds, "
            "talk_seconds, result, answered, manual_status, manual_elapsed, user_intent, "
            "summary, order_head, order_tail, cost_cents) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (order.account_id, call.call_id, order.task_row_id, order.id, call.attempt,
             call.callee_phone, call.create_ts, call.call_start, call.call_answer, call.call_end,
             call.ring_seconds, call.talk_seconds, call.result, int(call.answered),
             call.manual_status, call.manual_elapsed, call.user_intent, call.summary,
             int(call.order_head), int(call.order_tail), call.cost_cents),
        )  # fmt: skip
        assert cur.lastrowid is not None
        return cur.lastrowid

    def call_record(self, call_row_id: int) -> dict[str, Any]:
        row = self.conn.execute(_CALL_RECORD + "WHERE c.id = ?", (call_row_id,)).fetchone()
        if row is None:
            raise StoreError(f"no call with row id {call_row_id}")
        return call_record(row)

    def due_schedules(self, now: int) -> list[int]:
        rows = self.conn.execute(
            """
            SELECT id FROM (
                SELECT id, startup_at AS at FROM tasks
                WHERE startup_fired = 0 AND startup_type = 2 AND startup_at IS NOT NULL
                  AND startup_at <= ?
                UNION
                SELECT id, shutdown_at FROM tasks
                WHERE shutdown_fired = 0 AND shutdown_at IS NOT NULL AND shutdown_at <= ?
            ) GROUP BY id ORDER BY min(at), id
            """,
            (now, now),
        ).fetchall()
        return [int(row[0]) for row in rows]


def next_dialer_event(conn: sqlite3.Connection, now: int, *, dialer_id: str) -> int | None:
    """See ``Store.next_dialer_event`` (inside the caller's read snapshot)."""
    row = conn.execute(
        _PENDING_TASKS
        + """
        SELECT min(x) FROM (
            SELECT min(lease_until) AS x FROM orders
            WHERE state = 'dialling' AND claimed_by <> ? AND lease_until > ?
            UNION ALL
            SELECT min((SELECT min(o.next_attempt_ts) FROM orders AS o
                        WHERE o.task_row_id = p.task_row_id AND o.state = 'pending'
                          AND o.next_attempt_ts > ?))
            FROM pending AS p JOIN tasks AS t ON t.id = p.task_row_id
            WHERE t.task_status = 2
            UNION ALL
            SELECT min(startup_at) FROM tasks
            WHERE startup_fired = 0 AND startup_type = 2 AND startup_at IS NOT NULL
              AND startup_at > ?
            UNION ALL
            SELECT min(shutdown_at) FROM tasks
            WHERE shutdown_fired = 0 AND shutdown_at IS NOT NULL AND shutdown_at > ?
        )
        """,
        (dialer_id, now, now, now, now),
    ).fetchone()
    return None if row[0] is None else int(row[0])


def call_page(
    conn: sqlite3.Connection,
    account_id: int,
    task_id: str,
    flt: CallFilter,
    *,
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]] | None:
    """One page of a task's calls, newest first (inside the caller's read snapshot)."""
    task = conn.execute(
        "SELECT id FROM tasks WHERE account_id = ? AND task_id = ?", (account_id, task_id)
    ).fetchone()
    if task is None:
        return None
    clauses = ["c.task_row_id = ?"]
    params: list[Any] = [task[0]]
    for value, clause in (
        (flt.start_ts, "c.create_ts >= ?"),
        (flt.end_ts, "c.create_ts <= ?"),
        (flt.call_id, "c.call_id = ?"),
        (flt.phone, "c.callee_phone = ?"),
        (flt.call_result, "c.result = ?"),
        (flt.user_intent, "c.user_intent = ?"),
        (flt.min_elapsed, "c.talk_seconds >= ?"),
        (flt.max_elapsed, "c.talk_seconds <= ?"),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    where = " AND ".join(clauses)
    total = conn.execute(f"SELECT count(*) FROM calls AS c WHERE {where}", params).fetchone()[0]
    if offset >= total:
        return int(total), []
    rows = conn.execute(
        _CALL_RECORD + f"WHERE {where} ORDER BY c.create_ts DESC, c.id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    return int(total), [call_record(row) for row in rows]


#: Every counter recomputed from the raw records, one row per (non-synthetic) task.
_RECOMPUTE: Final = """
SELECT t.id, t.task_id,
    s.total_order_count, s.dialed_order_count, s.finish_order_count, s.answer_order_count,
    s.total_call_count, s.answer_call_count, s.total_call_elapsed, s.manual_answer_count,
    s.manual_fail_count, s.manual_elapsed,
    (SELECT count(*) FROM orders AS o WHERE o.task_row_id = t.id AND o.state <> 'deleted'),
    (SELECT count(*) FROM calls AS c WHERE c.task_row_id = t.id AND c.attempt = 1),
    (SELECT count(*) FROM orders AS o WHERE o.task_row_id = t.id AND o.state = 'finished'),
    (SELECT count(*) FROM orders AS o WHERE o.task_row_id = t.id AND o.state = 'finished'
        AND EXISTS (SELECT 1 FROM calls AS c WHERE c.order_id = o.id AND c.answered = 1)),
    (SELECT count(*) FROM calls AS c WHERE c.task_row_id = t.id),
    (SELECT count(*) FROM calls AS c WHERE c.task_row_id = t.id AND c.answered = 1),
    (SELECT coalesce(sum(c.talk_seconds), 0) FROM calls AS c
        WHERE c.task_row_id = t.id AND c.answered = 1),
    (SELECT count(*) FROM calls AS c WHERE c.task_row_id = t.id AND c.result = 17
        AND c.manual_status = 1),
    (SELECT count(*) FROM calls AS c WHERE c.task_row_id = t.id AND c.result = 17
        AND c.manual_status = 2),
    (SELECT coalesce(sum(c.manual_elapsed), 0) FROM calls AS c WHERE c.task_row_id = t.id
        AND c.result = 17 AND c.manual_status = 1)
FROM tasks AS t JOIN task_stats AS s ON s.task_row_id = t.id
WHERE t.synthetic = 0
ORDER BY t.id
"""


def recompute_counters(conn: sqlite3.Connection) -> CounterCheck:
    differences: list[CounterDifference] = []
    width = len(STAT_COUNTERS)
    checked = 0
    for row in conn.execute(_RECOMPUTE):
        checked += 1
        stored, recomputed = row[2 : 2 + width], row[2 + width :]
        for name, have, want in zip(STAT_COUNTERS, stored, recomputed, strict=True):
            if have != want:
                differences.append(CounterDifference(row[0], row[1], name, have, want))
    synthetic = conn.execute("SELECT count(*) FROM tasks WHERE synthetic = 1").fetchone()[0]
    return CounterCheck(checked, int(synthetic), differences)
