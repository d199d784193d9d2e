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

from nxlink.store.base import OutboxItem, OutboxStore, SigningKey
from nxlink.store.rows import outbox_item

_COLUMNS: Final = (
    "id, account_id, event_id, kind, url, CAST(body AS BLOB), created_ms, state, attempts, "
    "round_base, next_attempt_ms, last_status, last_error, delivered_ms"
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
                "UPDATE outbox SET state = ?, attempts = attempts + 1, "
                "next_attempt_ms = coalesce(?, next_attempt_ms), lease_until_ms = 0, "
                "last_status = ?, last_error = ?, delivered_ms = ? "
                "WHERE id = ? AND state = 'pending'",
                (state, next_ms, status, error, delivered_ms, item_id),
            )

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

    def retry_callback(self, item_id: int, *, now_ms: int) -> bool:
        with self._write() as conn:
            # The lease is kept: a try in flight finishes before the row can be claimed again.
            cur = conn.execute(
                "UPDATE outbox SET state = 'pending', round_base = attempts, next_attempt_ms = ? "
                "WHERE id = ? AND state <> 'delivered'",
                (now_ms, item_id),
            )
            return cur.rowcount == 1

    def signing_key(self, account_id: int) -> SigningKey | None:
        row = self._conn.execute(
            "SELECT k.access_key, k.secret FROM access_keys AS k "
            "JOIN accounts AS a ON a.id = k.account_id "
            "WHERE k.account_id = ? AND k.enabled = 1 AND a.enabled = 1 "
            "ORDER BY k.created_ts DESC, k.rowid DESC LIMIT 1",
            (account_id,),
        ).fetchone()
        return None if row is None else SigningKey(row[0], self.open_secret(row[0], row[1]))
