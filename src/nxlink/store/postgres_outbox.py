"""The delivery side of the callback outbox on PostgreSQL, mixed into :class:`PostgresStore`.

Rows are written by the lifecycle in the transaction of the change they announce; this mixin
claims due rows for a deliverer, records each try, and lists and retries them for the CLI.
A claim locks the rows it leases with ``FOR UPDATE SKIP LOCKED`` (deliverers in other threads
and processes pass over them instead of waiting), and the lease written there keeps a claimed
row from being claimed again, by anyone, until it passes.

The outbox is tenant data, but a deliverer serves every account: each statement names the
accounts it works on (``account_id = ANY(ARRAY(SELECT id FROM accounts))``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

import psycopg

from nxlink.store.base import (
    AttemptFilter,
    CallbackAttempt,
    CallbackFault,
    OutboxItem,
    OutboxStore,
    SigningKey,
)
from nxlink.store.postgres_lifecycle import has_nul
from nxlink.store.rows import (
    ATTEMPT_COLUMNS,
    FAULT_COLUMNS,
    callback_attempt,
    callback_fault,
    outbox_item,
)

_COLUMNS: Final = (
    "id, account_id, event_id, kind, url, body, created_ms, state, attempts, round_base, "
    "next_attempt_ms, last_status, last_error, delivered_ms, task_id"
)
#: The accounts a statement on the whole outbox works on.
_ACCOUNTS: Final = "account_id = ANY(ARRAY(SELECT id FROM accounts))"


class PostgresOutbox(OutboxStore):
    """Every :class:`OutboxStore` operation for PostgreSQL, on the host store's pool."""

    if TYPE_CHECKING:
        # Provided by PostgresStore, the class this is mixed into.
        def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

        def _write(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

        def open_secret(self, access_key: str, stored: str) -> str: ...

    def claim_callbacks(self, now_ms: int, *, limit: int, lease_ms: int) -> list[OutboxItem]:
        with self._write() as conn:
            rows = conn.execute(
                "WITH due AS ("
                f"SELECT account_id, id FROM outbox WHERE {_ACCOUNTS} "
                "AND state = 'pending' AND next_attempt_ms <= %(now)s "
                "AND lease_until_ms <= %(now)s "
                "ORDER BY next_attempt_ms, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox AS o SET lease_until_ms = %(lease)s FROM due "
                "WHERE o.account_id = due.account_id AND o.id = due.id "
                f"RETURNING {', '.join('o.' + c.strip() for c in _COLUMNS.split(','))}",
                {"now": now_ms, "limit": limit,
                 "lease": now_ms + lease_ms},
            ).fetchall()  # fmt: skip
        return sorted((outbox_item(row) for row in rows), key=lambda i: (i.next_attempt_ms, i.id))

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
        error = error.replace("\0", "\\0")  # an error text is shown, never matched
        with self._write() as conn:
            # Only a pending row takes a try: a late report of a try whose lease had passed
            # must not turn a row another deliverer has since delivered back into a pending one.
            conn.execute(
                "INSERT INTO outbox_attempts (account_id, outbox_id, event_id, url, attempt, "
                "started_ms, ended_ms, latency_ms, status, error, delivered, fault, delay_ms) "
                "SELECT account_id, id, event_id, url, attempts + 1, %s, %s, %s, %s, %s, %s, "
                f"%s, %s FROM outbox WHERE {_ACCOUNTS} AND id = %s AND state = 'pending'",
                (now_ms if started_ms is None else started_ms, now_ms, latency_ms, status,
                 error, delivered, fault, delay_ms, item_id),
            )  # fmt: skip
            conn.execute(
                "UPDATE outbox SET state = %s, attempts = attempts + 1, "
                "next_attempt_ms = coalesce(%s, next_attempt_ms), lease_until_ms = 0, "
                "last_status = %s, last_error = %s, delivered_ms = %s "
                f"WHERE {_ACCOUNTS} AND id = %s AND state = 'pending'",
                (state, next_ms, status, error, delivered_ms, item_id),
            )

    def list_callback_attempts(
        self, where: AttemptFilter, *, limit: int
    ) -> tuple[int, list[CallbackAttempt]]:
        clauses = [_ACCOUNTS]
        args: list[object] = []
        if where.event_id is not None:
            clauses.append("event_id = %s")
            args.append(where.event_id)
        if where.url_part is not None:
            clauses.append("strpos(url, %s) > 0")
            args.append(where.url_part.replace("\0", ""))
        if where.status is not None:
            clauses.append("status = %s")
            args.append(where.status)
        if where.delivered is not None:
            clauses.append("delivered = %s")
            args.append(where.delivered)
        sql_where = f"WHERE {' AND '.join(clauses)} "
        with self._connection() as conn:
            total = conn.execute(f"SELECT count(*) FROM outbox_attempts {sql_where}",
                                 args).fetchone()  # fmt: skip
            rows = conn.execute(
                f"SELECT {ATTEMPT_COLUMNS} FROM outbox_attempts {sql_where}"
                "ORDER BY id DESC LIMIT %s",
                [*args, limit],
            ).fetchall()
        assert total is not None
        return int(total[0]), [callback_attempt(row) for row in reversed(rows)]

    def add_callback_fault(
        self, *, url_part: str, delay_ms: int, fail_first: int, fail_status: int, now_ms: int
    ) -> CallbackFault:
        with self._write() as conn:
            row = conn.execute(
                "INSERT INTO callback_faults (url_part, delay_ms, fail_first, fail_status, "
                f"created_ms) VALUES (%s, %s, %s, %s, %s) RETURNING {FAULT_COLUMNS}",
                (url_part, delay_ms, fail_first, fail_status, now_ms),
            ).fetchone()
        assert row is not None
        return callback_fault(row)

    def list_callback_faults(self) -> list[CallbackFault]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {FAULT_COLUMNS} FROM callback_faults ORDER BY id"
            ).fetchall()
        return [callback_fault(row) for row in rows]

    def remove_callback_fault(self, fault_id: int) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM callback_faults WHERE id = %s", (fault_id,))
            return cur.rowcount == 1

    def clear_callback_faults(self) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM callback_faults").rowcount

    def release_callbacks(self, items: Sequence[OutboxItem], *, now_ms: int) -> None:
        if not items:
            return
        with self._write() as conn:
            # Only a lease still running is given up (one that passed may be another's now).
            conn.execute(
                "UPDATE outbox AS o SET lease_until_ms = 0 "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS r (account_id, id) "
                "WHERE o.account_id = r.account_id AND o.id = r.id "
                "AND o.state = 'pending' AND o.lease_until_ms > %s",
                ([i.account_id for i in items], [i.id for i in items], now_ms),
            )

    def list_callbacks(self, *, failed_only: bool = False, limit: int = 100) -> list[OutboxItem]:
        state = "AND state = 'failed' " if failed_only else ""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE {_ACCOUNTS} {state}ORDER BY id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return [outbox_item(row) for row in rows]

    def get_callback(self, item_id: int) -> OutboxItem | None:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE {_ACCOUNTS} AND id = %s",
                (item_id,),
            ).fetchone()
        return None if row is None else outbox_item(row)

    def _retry_callback(self, account_id: int | None, item_id: int, *, now_ms: int) -> bool:
        account, params = (_ACCOUNTS, ()) if account_id is None else ("account_id = %s",
                                                                      (account_id,))  # fmt: skip
        with self._write() as conn:
            # The lease is kept: a try in flight finishes before the row can be claimed again.
            cur = conn.execute(
                "UPDATE outbox SET state = 'pending', round_base = attempts, "
                "next_attempt_ms = %s "
                f"WHERE {account} AND id = %s AND state <> 'delivered'",
                (now_ms, *params, item_id),
            )
            return cur.rowcount == 1

    def _task_callbacks(
        self, account_id: int, task_id: str, *, state: str | None, limit: int
    ) -> list[OutboxItem]:
        if has_nul(task_id):
            return []
        # The index (account_id, task_id, id) read backwards; a state is checked on its rows.
        where, params = ("", ()) if state is None else ("AND state = %s ", (state,))
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE account_id = %s AND task_id = %s {where}"
                "ORDER BY id DESC LIMIT %s",
                (account_id, task_id, *params, limit),
            ).fetchall()
        return [outbox_item(row) for row in rows]

    def _callback_counts(self, account_id: int, task_id: str) -> dict[str, int]:
        if has_nul(task_id):
            return {}
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT state, count(*) FROM outbox WHERE account_id = %s AND task_id = %s "
                "GROUP BY state",
                (account_id, task_id),
            ).fetchall()
        return {str(state): int(n) for state, n in rows}

    def signing_key(self, account_id: int) -> SigningKey | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT k.access_key, k.secret FROM access_keys AS k "
                "JOIN accounts AS a ON a.id = k.account_id "
                "WHERE k.account_id = %s AND k.enabled = 1 AND a.enabled = 1 "
                "ORDER BY k.created_ts DESC, k.id DESC LIMIT 1",
                (account_id,),
            ).fetchone()
        return None if row is None else SigningKey(row[0], self.open_secret(row[0], row[1]))

    def callbacks_signed(self, account_id: int) -> bool:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT callbacks_signed = 1 OR enabled = 0 FROM accounts WHERE id = %s",
                (account_id,),
            ).fetchone()
        return row is None or bool(row[0])
