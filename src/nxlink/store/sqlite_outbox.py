"""The delivery side of the callback outbox on SQLite, mixed into :class:`SQLiteStore`.

Rows are written by the lifecycle in the transaction of the change they announce; this mixin
claims due rows for a deliverer, records each try, and lists and retries them for the CLI.
Claims run in the store's write transaction (``BEGIN IMMEDIATE``), which serialises deliverers
across threads and processes; the lease written there keeps a claimed row from being claimed
again, by anyone, until it passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Final

from nxlink.store.base import (
    AttemptFilter,
    CallbackAttempt,
    CallbackFault,
    OutboxItem,
    OutboxStore,
    SigningKey,
)
from nxlink.store.rows import (
    ATTEMPT_COLUMNS,
    FAULT_COLUMNS,
    callback_attempt,
    callback_fault,
    outbox_item,
)

_COLUMNS: Final = (
    "id, account_id, event_id, kind, url, CAST(body AS BLOB), created_ms, state, attempts, "
    "round_base, next_attempt_ms, last_status, last_error, delivered_ms, task_id"
)


class SQLiteOutbox(OutboxStore):
    """Every :class:`OutboxStore` operation for SQLite, on the host store's connections."""

    if TYPE_CHECKING:
        # Provided by SQLiteStore, the class this is mixed into.
        @property
        def _conn(self) -> sqlite3.Connection: ...

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def open_secret(self, access_key: str, stored: str) -> str: ...

    def claim_callbacks(self, now_ms: int, *, limit: int, lease_ms: int) -> list[OutboxItem]:
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox "
                "WHERE state = 'pending' AND next_attempt_ms <= ? AND lease_until_ms <= ? "
                "ORDER BY next_attempt_ms, id LIMIT ?",
                (now_ms, now_ms, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET lease_until_ms = ? WHERE id = ?",
                [(now_ms + lease_ms, row[0]) for row in rows],
            )
        return [outbox_item(row) for row in rows]

    def record_delivery(
        self,
        item_id: int,
        *,
        now_ms: int,
        delivered: bool,
        status: int | None,
        error: str,
        next_attempt_ms: int | None,
        started_ms: int | None = None,
        latency_ms: float = 0.0,
        fault: str = "",
        delay_ms: int = 0,
    ) -> None:
        if delivered:
            state, next_ms, delivered_ms = "delivered", None, now_ms
        elif next_attempt_ms is None:
            state, next_ms, delivered_ms = "failed", None, None
        else:
            state, next_ms, delivered_ms = "pending", next_attempt_ms, None
        with self._write() as conn:
            # Only a pending row takes a try: a late report of a try whose lease had passed
            # must not turn a row another deliverer has since delivered back into a pending one.
            conn.execute(
                "INSERT INTO outbox_attempts (account_id, outbox_id, event_id, url, attempt, "
                "started_ms, ended_ms, latency_ms, status, error, delivered, fault, delay_ms) "
                "SELECT account_id, id, event_id, url, attempts + 1, ?, ?, ?, ?, ?, ?, ?, ? "
                "FROM outbox WHERE id = ? AND state = 'pending'",
                (now_ms if started_ms is None else started_ms, now_ms, latency_ms, status,
                 error, int(delivered), fault, delay_ms, item_id),
            )  # fmt: skip
            conn.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, "
                "next_attempt_ms = coalesce(?, next_attempt_ms), lease_until_ms = 0, "
                "last_status = ?, last_error = ?, delivered_ms = ? "
                "WHERE id = ? AND state = 'pending'",
                (state, next_ms, status, error, delivered_ms, item_id),
            )

    def list_callback_attempts(
        self, where: AttemptFilter, *, limit: int
    ) -> tuple[int, list[CallbackAttempt]]:
        clauses: list[str] = []
        args: list[object] = []
        if where.event_id is not None:
            clauses.append("event_id = ?")
            args.append(where.event_id)
        if where.url_part is not None:
            clauses.append("instr(url, ?) > 0")
            args.append(where.url_part)
        if where.status is not None:
            clauses.append("status = ?")
            args.append(where.status)
        if where.delivered is not None:
            clauses.append("delivered = ?")
            args.append(int(where.delivered))
        sql_where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        conn = self._conn
        total = conn.execute(f"SELECT count(*) FROM outbox_attempts {sql_where}", args).fetchone()
        rows = conn.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM outbox_attempts {sql_where}ORDER BY id DESC LIMIT ?",
            [*args, limit],
        ).fetchall()
        return int(total[0]), [callback_attempt(row) for row in reversed(rows)]

    def add_callback_fault(
        self, *, url_part: str, delay_ms: int, fail_first: int, fail_status: int, now_ms: int
    ) -> CallbackFault:
        with self._write() as conn:
            row = conn.execute(
                "INSERT INTO callback_faults (url_part, delay_ms, fail_first, fail_status, "
                f"created_ms) VALUES (?, ?, ?, ?, ?) RETURNING {FAULT_COLUMNS}",
                (url_part, delay_ms, fail_first, fail_status, now_ms),
            ).fetchone()
        return callback_fault(row)

    def list_callback_faults(self) -> list[CallbackFault]:
        rows = self._conn.execute(
            f"SELECT {FAULT_COLUMNS} FROM callback_faults ORDER BY id"
        ).fetchall()
        return [callback_fault(row) for row in rows]

    def remove_callback_fault(self, fault_id: int) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM callback_faults WHERE id = ?", (fault_id,))
            return cur.rowcount == 1

    def clear_callback_faults(self) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM callback_faults").rowcount

    def release_callbacks(self, items: Sequence[OutboxItem], *, now_ms: int) -> None:
        if not items:
            return
        with self._write() as conn:
            # Only a lease still running is given up (one that passed may be another's now).
            conn.executemany(
                "UPDATE outbox SET lease_until_ms = 0 WHERE account_id = ? AND id = ? "
                "AND state = 'pending' AND lease_until_ms > ?",
                [(item.account_id, item.id, now_ms) for item in items],
            )

    def list_callbacks(self, *, failed_only: bool = False, limit: int = 100) -> list[OutboxItem]:
        where = "WHERE state = 'failed' " if failed_only else ""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM outbox {where}ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [outbox_item(row) for row in rows]

    def get_callback(self, item_id: int) -> OutboxItem | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (item_id,)
        ).fetchone()
        return None if row is None else outbox_item(row)

    def _retry_callback(self, account_id: int | None, item_id: int, *, now_ms: int) -> bool:
        account, params = ("", ()) if account_id is None else ("AND account_id = ? ", (account_id,))
        with self._write() as conn:
            # The lease is kept: a try in flight finishes before the row can be claimed again.
            cur = conn.execute(
                "UPDATE outbox SET state = 'pending', round_base = attempts, next_attempt_ms = ? "
                f"WHERE id = ? {account}AND state <> 'delivered'",
                (now_ms, item_id, *params),
            )
            return cur.rowcount == 1

    def _task_callbacks(
        self, account_id: int, task_id: str, *, state: str | None, limit: int
    ) -> list[OutboxItem]:
        # The index (account_id, task_id, id) read backwards; a state is checked on its rows.
        where, params = ("", ()) if state is None else ("AND state = ? ", (state,))
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE account_id = ? AND task_id = ? {where}"
            "ORDER BY id DESC LIMIT ?",
            (account_id, task_id, *params, limit),
        ).fetchall()
        return [outbox_item(row) for row in rows]

    def _callback_counts(self, account_id: int, task_id: str) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT state, count(*) FROM outbox WHERE account_id = ? AND task_id = ? "
            "GROUP BY state",
            (account_id, task_id),
        ).fetchall()
        return {str(state): int(n) for state, n in rows}

    def signing_key(self, account_id: int) -> SigningKey | None:
        row = self._conn.execute(
            "SELECT k.access_key, k.secret FROM access_keys AS k "
            "JOIN accounts AS a ON a.id = k.account_id "
            "WHERE k.account_id = ? AND k.enabled = 1 AND a.enabled = 1 "
            "ORDER BY k.created_ts DESC, k.rowid DESC LIMIT 1",
            (account_id,),
        ).fetchone()
        return None if row is None else SigningKey(row[0], self.open_secret(row[0], row[1]))

    def callbacks_signed(self, account_id: int) -> bool:
        row = self._conn.execute(
            "SELECT callbacks_signed = 1 OR enabled = 0 FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        return row is None or bool(row[0])
