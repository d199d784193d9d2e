"""PostgreSQL backend: psycopg 3 over a ``psycopg_pool.ConnectionPool``.

Every operation borrows a connection (autocommit; a write is one explicit transaction, READ
COMMITTED, with row locks where the rules need them; a read of several statements is one
REPEATABLE READ READ ONLY transaction, or one statement). Several processes may serve and dial
against one database at once. The URL's libpq parameters (e.g. ``options=-csearch_path=...``)
apply to every connection, migrations included.

Time limits (lock, statement, waiting for a free connection) and a lost connection raise
:class:`~nxlink.store.StoreUnavailable`, never a driver exception; the pool replaces broken
connections, so the store carries on once the server is back.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any, Final

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from nxlink.contract.calldoc import CallFacts
from nxlink.store.base import (
    COUNT_TABLES,
    SNAPSHOT_TABLES,
    AccessKey,
    Account,
    ActivityBucket,
    CallFilter,
    Cleared,
    ClockAnchor,
    CommitUncertain,
    DialerWaits,
    Flow,
    KeyAuth,
    LifecycleTx,
    Loader,
    OrderPage,
    Query,
    Route,
    SnapshotError,
    SnapshotInfo,
    SnapshotMissing,
    Store,
    StoreError,
    StoreUnavailable,
    TaskFilter,
    UiSession,
    snapshot_name,
)
from nxlink.store.copy import Table
from nxlink.store.postgres_lifecycle import (
    NUL,
    PostgresLifecycleTx,
    call_page,
    copy_rows,
    dialer_waits,
    first_line,
    has_nul,
    no_nul,
)
from nxlink.store.postgres_outbox import PostgresOutbox
from nxlink.store.ratelimit import Limit
from nxlink.store.rows import (
    ACCOUNT_COLUMNS,
    CALL_COLUMNS,
    CALL_FROM,
    DEAD_UI_SESSIONS,
    LIVE_UI_SESSION,
    ORDER_ROW_COLUMNS,
    ROUTE_COLUMNS,
    account_row,
    call_facts,
    order_row,
    route_row,
    ui_session,
)
from nxlink.store.urls import masked

_INT64_MAX: Final = (1 << 63) - 1
# Counters are 32-bit in the contract; a rate bound p/q compares as 100*a*q >= p*t in bigint
# as long as neither side can pass 2**63, else in numeric.
_COUNTER_MAX: Final = (1 << 31) - 1

#: Offsets up to this are skipped row by row (an index-only scan); deeper ones start from the
#: creation hour they fall in.
DIRECT_SKIP: Final = 1_000
#: Name searches this long or longer are served by the trigram index; shorter ones scan the
#: account's names.
TRIGRAM: Final = 3
#: A pooled connection idle for longer than this is checked before it is lent out (one
#: round trip); one in steady use is not.
IDLE_CHECK_S: Final = 1.0
#: During an outage, the server is probed at most this often; requests in between fail at once.
PROBE_EVERY_S: Final = 0.5
#: ``pg_advisory_xact_lock(MIGRATION_LOCK, hashtext(current_schema()))`` serialises the
#: migrations of one schema ("nxm").
MIGRATION_LOCK: Final = 0x6E786D

#: Every table, for ``VACUUM (ANALYZE)`` after a bulk load.
TABLES: Final = (
    "accounts", "access_keys", "flows", "routes", "tasks", "task_stats", "task_pages",
    "account_task_counts", "account_day_counts", "account_status_day_counts",
    "account_hour_counts", "account_status_hour_counts", "orders", "calls", "outbox",
    "dialers", "sim_clock", "schema_migrations",
)  # fmt: skip


def _reason(exc: BaseException) -> str:
    """libpq's reason for a failed connection, in a few words (``connection refused``,
    ``password authentication failed for user "app"``, ``database "nx" does not exist``)."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # "connection to server at "h", port p failed: <reason>" (one line per address tried)
    failed = [line.rsplit("failed: ", 1)[1] for line in lines if "failed: " in line]
    reason = failed[-1] if failed else (lines[0] if lines else type(exc).__name__)
    reason = reason.removeprefix("FATAL:").strip()
    if reason[:1].isupper() and reason[1:2].islower():
        reason = reason[0].lower() + reason[1:]
    return reason


class PostgresStore(PostgresOutbox, Store):
    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        pool_timeout_s: float = 10.0,
        statement_timeout_ms: int = 30_000,
        lock_timeout_ms: int = 10_000,
    ) -> None:
        self.url = url
        self.shown = masked(url)
        self.pool_timeout_s = pool_timeout_s
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms
        self._pool_sizes = (pool_min, pool_max)
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"{self.shown}: bad database URL ({first_line(exc)})") from None
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in given:
            self._kwargs["connect_timeout"] = max(2, math.ceil(pool_timeout_s))
        # One connection first: a server that cannot be reached, a refused password or a
        # missing database is one clear line, not a pool timing out.
        try:
            psycopg.connect(url, **self._kwargs).close()
        except psycopg.Error as exc:
            raise StoreError(f"{self.shown}: cannot connect ({_reason(exc)})") from None
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        #: Set while the server is out of reach: (since when, why, last probe).
        self._outage: tuple[float, str, float] | None = None
        self._outage_lock = threading.Lock()
        self._closed = False
        self._pool = self._new_pool()
        try:
            self._pool.wait(timeout=pool_timeout_s)
        except psycopg_pool.PoolTimeout:
            self._pool.close()
            raise StoreError(f"{self.shown}: cannot connect (no connection within "
                             f"{pool_timeout_s:g} s)") from None  # fmt: skip

    # -- connections -----------------------------------------------------------------------
    def _new_pool(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[Any]]:
        pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
            self.url,
            kwargs=self._kwargs,
            min_size=self._pool_sizes[0],
            max_size=self._pool_sizes[1],
            open=False,
            configure=self._configure,
            timeout=self.pool_timeout_s,
            # The pool's own reconnection gives up soon: after an outage the store starts a
            # new pool as soon as the server answers (see _pool_now).
            reconnect_timeout=max(self.pool_timeout_s, 5.0),
            name=f"nxlink {self.shown}",
        )
        pool.open(wait=False)
        return pool

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
        conn.execute(f"SET lock_timeout = {int(self.lock_timeout_ms)}")

    def _pool_now(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[Any]]:
        """The pool to borrow from. During an outage, no request waits for the pool's own
        reconnection: the server is probed (at most every ``PROBE_EVERY_S``) and, while it does
        not answer, the request fails at once; once it answers, a new pool replaces the old
        one (whose connections are all dead)."""
        if self._outage is None or self._closed:
            return self._pool
        with self._outage_lock:
            if self._outage is None:
                return self._pool
            since, reason, probed = self._outage
            now = time.monotonic()
            if now - probed < PROBE_EVERY_S:
                raise StoreUnavailable(f"the database is unavailable ({reason})")
            try:
                psycopg.connect(self.url, **{**self._kwargs, "connect_timeout": 2}).close()
            except psycopg.Error as exc:
                self._outage = (since, _reason(exc), time.monotonic())
                raise StoreUnavailable(f"the database is unavailable ({_reason(exc)})") from None
            old, self._pool, self._outage = self._pool, self._new_pool(), None
        old.close(timeout=1.0)
        return self._pool

    def _lost(self, reason: str) -> None:
        """A connection failed: the server may be gone (the next request probes it)."""
        with self._outage_lock:
            if self._outage is None:
                self._outage = (time.monotonic(), reason, 0.0)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool for the block (autocommit); driver errors translated.

        A connection idle for more than ``IDLE_CHECK_S`` is checked first (one round trip):
        after a server restart, the first request does not fail on a dead connection.
        """
        # (No reset callback on the pool: with one, the pool returns connections on a worker
        # thread, and one returned just before close() would be left open.)
        with self._translated():
            pool, conn = self._borrow()
            try:
                yield conn
            finally:
                self._returned[conn] = time.monotonic()
                pool.putconn(conn)

    def _borrow(
        self,
    ) -> tuple[psycopg_pool.ConnectionPool[psycopg.Connection[Any]], psycopg.Connection[Any]]:
        """A working connection and its pool. One that fails its check (the server restarted
        since it was used) is handed back, and one more is taken, from a new pool if the
        server answers: nothing was sent yet, so trying again is safe."""
        for attempt in range(2):
            pool = self._pool_now()
            conn = pool.getconn()
            returned = self._returned.get(conn)
            if returned is not None and time.monotonic() - returned <= IDLE_CHECK_S:
                return pool, conn
            try:
                conn.execute("")
            except psycopg.OperationalError as exc:
                pool.putconn(conn)
                if attempt:
                    raise
                self._lost(_reason(exc))
                continue
            return pool, conn
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """One READ COMMITTED transaction: committed when the block ends, else rolled back."""
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
            _commit(lambda: conn.execute("COMMIT"))

    @contextlib.contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """One consistent snapshot for several statements (REPEATABLE READ, READ ONLY)."""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Driver and pool errors as the store's: time limits and lost connections as
        :class:`StoreUnavailable`, anything else the database refused as :class:`StoreError`."""
        try:
            yield
        except psycopg_pool.PoolTimeout:
            raise StoreUnavailable(
                f"the database is busy: no free connection within {self.pool_timeout_s:g} s"
            ) from None
        except psycopg_pool.PoolClosed:
            raise StoreUnavailable("the store is closed") from None
        except pg_errors.LockNotAvailable:
            raise StoreUnavailable(
                f"the database is busy: a lock was not granted within {self.lock_timeout_ms} ms"
            ) from None
        except pg_errors.QueryCanceled:
            raise StoreUnavailable(
                f"the database did not answer within {self.statement_timeout_ms} ms"
            ) from None
        except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
            raise StoreUnavailable(
                "the transaction conflicted with a concurrent one and was rolled back"
            ) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._lost(_reason(exc))
            raise StoreUnavailable(f"the database is unavailable ({_reason(exc)})") from None
        except psycopg.Error as exc:
            raise StoreError(f"the database refused: {first_line(exc)}") from exc

    def close(self) -> None:
        with self._outage_lock:
            self._closed = True
            self._pool.close()

    def take_token(self, access_key: str, *, now_ms: int, limit: Limit) -> float:
        if has_nul(access_key):
            return 0.0
        # nxlink.store.ratelimit.take in one statement; SET reads the row as it was.
        interval, tolerance = limit.interval_ms, limit.tolerance_ms
        with self._connection() as conn:
            row = conn.execute(
                "INSERT INTO rate_buckets AS b (access_key, tat_ms, allowed) "
                "VALUES (%(key)s, %(now)s + %(interval)s, true) "
                "ON CONFLICT (access_key) DO UPDATE SET "
                "tat_ms = CASE WHEN greatest(b.tat_ms, %(now)s) - %(now)s <= %(tolerance)s "
                "THEN greatest(b.tat_ms, %(now)s) + %(interval)s ELSE b.tat_ms END, "
                "allowed = greatest(b.tat_ms, %(now)s) - %(now)s <= %(tolerance)s "
                "RETURNING tat_ms, allowed",
                {"key": access_key, "now": float(now_ms), "interval": interval,
                 "tolerance": tolerance},
            ).fetchone()  # fmt: skip
        assert row is not None
        tat, allowed = float(row[0]), bool(row[1])
        return 0.0 if allowed else max(tat, now_ms) - tolerance - now_ms

    def _key_check(self) -> tuple[str, str] | None:
        with self._connection() as conn:
            row = conn.execute("SELECT key_id, check_value FROM master_key_check").fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def _reseal(
        self, change: Callable[[str, str], str], key_id: str, check: str, *, expected: str | None
    ) -> int | None:
        with self._write() as conn:
            # Sealing processes wait for each other: the first stores the check, the others
            # then find it moved (an empty table has no row to lock).
            conn.execute("LOCK TABLE master_key_check IN EXCLUSIVE MODE")
            row = conn.execute("SELECT check_value FROM master_key_check").fetchone()
            if (None if row is None else row[0]) != expected:
                return None
            changed = 0
            for access_key, stored in conn.execute(
                "SELECT access_key, secret FROM access_keys ORDER BY access_key FOR UPDATE"
            ).fetchall():
                new = change(access_key, stored)
                if new != stored:
                    conn.execute("UPDATE access_keys SET secret = %s WHERE access_key = %s",
                                 (new, access_key))  # fmt: skip
                    changed += 1
            conn.execute(
                "INSERT INTO master_key_check (id, key_id, check_value) VALUES (1, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, "
                "check_value = excluded.check_value",
                (key_id, check),
            )
        if changed:
            # Rewrite the table: the old row versions are not left in its file.
            with self._connection() as conn:
                conn.execute("VACUUM FULL access_keys")
        return changed

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1").fetchone()

    # -- schema ----------------------------------------------------------------------------
    @staticmethod
    def _scripts() -> list[tuple[int, str, str]]:
        folder = importlib.resources.files("nxlink.store") / "migrations" / "postgres"
        return sorted(
            (int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8"))
            for entry in folder.iterdir()
            if entry.name.endswith(".sql")
        )

    def known_migrations(self) -> list[tuple[int, str]]:
        return [(version, name) for version, name, _ in self._scripts()]

    @staticmethod
    def _version(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN NULL ELSE 1 END"
        ).fetchone()
        if row is None or row[0] is None:
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return 0 if row is None else int(row[0])

    def schema_version(self) -> int:
        with self._connection() as conn:
            return self._version(conn)

    def migrate(self) -> list[int]:
        scripts = self._scripts()
        applied: list[int] = []
        with self._connection() as conn:
            if self._version(conn) >= scripts[-1][0]:
                return applied
            for version, name, script in scripts:
                # One transaction per migration, under a lock of this schema's migrations: a
                # process starting beside this one waits, then finds the migration applied.
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = 0")
                    conn.execute("SET LOCAL statement_timeout = 0")
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(%s, "
                        "hashtext(coalesce(current_schema(), '')))",
                        (MIGRATION_LOCK,),
                    )
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY "
                        "KEY, name text NOT NULL, applied_ts bigint NOT NULL)"
                    )
                    if self._version(conn) >= version:
                        continue
                    conn.execute(script.encode())  # no parameters: the whole script at once
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_ts) "
                        "VALUES (%s, %s, extract(epoch FROM now())::bigint)",
                        (version, name),
                    )
                    applied.append(version)
        return applied

    def task_doc(self, account_id: int, task_id: str) -> bytes | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT d.doc FROM tasks AS t JOIN task_pages AS d"
                " ON d.account_id = t.account_id AND d.create_ts = t.create_ts"
                " AND d.task_row_id = t.id WHERE t.account_id = %s AND t.task_id = %s",
                (account_id, task_id),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def analyze(self) -> None:
        with self._connection() as conn:
            conn.execute("SET statement_timeout = 0")
            try:
                conn.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
            finally:
                conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")

    # -- accounts and keys -----------------------------------------------------------------
    def create_account(self, name: str, *, now: int) -> Account:
        no_nul("account not created", name=name)
        try:
            with self._write() as conn:
                row = conn.execute(
                    "INSERT INTO accounts (name, created_ts) VALUES (%s, %s) RETURNING id",
                    (name, now),
                ).fetchone()
        except StoreError as exc:
            if isinstance(exc.__cause__, pg_errors.UniqueViolation):
                raise StoreError(f"account {name!r} already exists") from None
            raise
        assert row is not None
        return Account(int(row[0]), name, True, 0, 10, now)

    def get_account(self, name: str) -> Account | None:
        if has_nul(name):
            return None
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = %s",
                (name,),
            ).fetchone()
        return None if row is None else account_row(row)

    def list_accounts(self) -> list[Account]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id").fetchall()
        return [account_row(r) for r in rows]

    def set_account_callbacks(
        self,
        account_id: int,
        *,
        task_url: str | None = None,
        call_url: str | None = None,
        signed: bool | None = None,
    ) -> Account:
        no_nul("account callbacks not set", task_url=task_url or "", call_url=call_url or "")
        with self._write() as conn:
            row = conn.execute(
                "UPDATE accounts SET task_callback_url = coalesce(%s, task_callback_url), "
                "call_callback_url = coalesce(%s, call_callback_url), "
                "callbacks_signed = coalesce(%s, callbacks_signed) "
                f"WHERE id = %s RETURNING {ACCOUNT_COLUMNS}",
                (task_url, call_url, None if signed is None else int(signed), account_id),
            ).fetchone()
        if row is None:
            raise StoreError(f"no account with id {account_id}")
        return account_row(row)

    def create_key(self, account_id: int, *, access_key: str, secret: str, now: int) -> AccessKey:
        no_nul("access key not created", access_key=access_key, secret=secret)
        try:
            with self._write() as conn:
                name = conn.execute(
                    "SELECT name FROM accounts WHERE id = %s", (account_id,)
                ).fetchone()
                if name is None:
                    raise StoreError(f"no account with id {account_id}")
                conn.execute(
                    "INSERT INTO access_keys (account_id, access_key, secret, created_ts) "
                    "VALUES (%s, %s, %s, %s)",
                    (account_id, access_key, self.seal_secret(access_key, secret), now),
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, pg_errors.UniqueViolation):
                raise StoreError(f"access key {access_key!r} already exists") from None
            raise
        return AccessKey(access_key, account_id, name[0], True, now, None)

    def list_keys(self) -> list[AccessKey]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT k.access_key, k.account_id, a.name, k.enabled, k.created_ts, "
                "k.revoked_ts FROM access_keys AS k JOIN accounts AS a ON a.id = k.account_id "
                "ORDER BY k.account_id, k.created_ts, k.access_key"
            ).fetchall()
        return [AccessKey(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]

    def revoke_key(self, access_key: str, *, now: int) -> bool:
        if has_nul(access_key):
            return False
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE access_keys SET enabled = 0, revoked_ts = %s "
                "WHERE access_key = %s AND enabled = 1",
                (now, access_key),
            )
            return cur.rowcount == 1

    def key_auth(self, access_key: str) -> KeyAuth | None:
        if has_nul(access_key):
            return None
        with self._connection() as conn:
            row = conn.execute(
                "SELECT k.account_id, k.secret FROM access_keys AS k "
                "JOIN accounts AS a ON a.id = k.account_id "
                "WHERE k.access_key = %s AND k.enabled = 1 AND a.enabled = 1",
                (access_key,),
            ).fetchone()
        return None if row is None else KeyAuth(row[0], self.open_secret(access_key, row[1]))

    # -- flows and routes ------------------------------------------------------------------
    def create_flow(
        self, account_id: int, *, name: str, variables: Sequence[str], now: int
    ) -> Flow:
        no_nul("flow not created", name=name, variables=json.dumps(list(variables)))
        try:
            with self._write() as conn:
                row = conn.execute(
                    "INSERT INTO flows (account_id, name, variables, created_ts) "
                    "VALUES (%s, %s, %s, %s) RETURNING id",
                    (account_id, name, json.dumps(list(variables)), now),
                ).fetchone()
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.IntegrityError):
                raise StoreError(
                    f"flow {name!r} not created: {first_line(exc.__cause__)}"
                ) from None
            raise
        assert row is not None
        return Flow(int(row[0]), account_id, name, tuple(variables), now)

    def list_flows(self, account_id: int) -> list[Flow]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, account_id, name, variables, created_ts, enabled FROM flows "
                "WHERE account_id = %s ORDER BY id",
                (account_id,),
            ).fetchall()
        return [Flow(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], bool(r[5])) for r in rows]

    def create_route(
        self,
        account_id: int,
        *,
        route_id: str,
        name: str,
        country_code: str,
        price_per_minute_cents: int,
        answer_probability: float,
        talk_seconds_mean: int,
        now: int,
        caller_phone: str = "",
        line_ids: Sequence[str] = (),
    ) -> Route:
        no_nul(f"route {route_id.replace(NUL, '?')!r} not created", route_id=route_id,
               name=name, country_code=country_code, caller_phone=caller_phone,
               line_ids="".join(line_ids))  # fmt: skip
        try:
            with self._write() as conn:
                row = conn.execute(
                    "INSERT INTO routes (account_id, route_id, name, country_code, "
                    "price_per_minute_cents, answer_probability, talk_seconds_mean, created_ts, "
                    "caller_phone, line_ids) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (account_id, route_id, name, country_code, price_per_minute_cents,
                     answer_probability, talk_seconds_mean, now, caller_phone,
                     json.dumps(list(line_ids))),
                ).fetchone()  # fmt: skip
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.IntegrityError):
                raise StoreError(
                    f"route {route_id!r} not created: {first_line(exc.__cause__)}"
                ) from None
            raise
        assert row is not None
        return Route(
            int(row[0]), account_id, route_id, name, country_code,
            price_per_minute_cents, answer_probability, talk_seconds_mean, now,
            caller_phone=caller_phone, line_ids=tuple(line_ids),
        )  # fmt: skip

    def list_routes(self, account_id: int) -> list[Route]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {ROUTE_COLUMNS} FROM routes WHERE account_id = %s ORDER BY id",
                (account_id,),
            ).fetchall()
        return [route_row(r) for r in rows]

    # -- copying a whole database ----------------------------------------------------------
    def count_rows(self, table: Table) -> int:
        where = f" WHERE {_EVERY_ACCOUNT}" if table.tenant else ""
        with self._connection() as conn:
            row = conn.execute(f"SELECT count(*) FROM {table.name}{where}").fetchone()
        return 0 if row is None else int(row[0])

    def dump_rows(self, table: Table, *, batch: int) -> Iterator[list[tuple[Any, ...]]]:
        columns = ", ".join(table.columns)
        order = ", ".join(table.order)
        with self._read() as conn:
            accounts: list[int | None] = [None]
            if table.tenant:
                accounts = [int(r[0]) for r in conn.execute(
                    "SELECT id FROM accounts ORDER BY id").fetchall()]  # fmt: skip
            for account_id in accounts:
                where, params = ("", ()) if account_id is None else (
                    " WHERE account_id = %s", (account_id,))  # fmt: skip
                with conn.cursor(name=f"nxlink_dump_{table.name}") as cur:
                    cur.itersize = batch
                    cur.execute(f"SELECT {columns} FROM {table.name}{where} ORDER BY {order}",
                                params)  # fmt: skip
                    while rows := cur.fetchmany(batch):
                        yield [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                               for row in rows]  # fmt: skip

    @contextlib.contextmanager
    def loading(self) -> Iterator[Loader]:
        def load(table: Table, rows: list[tuple[Any, ...]]) -> None:
            try:
                with conn.cursor() as cur:
                    copy_rows(cur, table.name, table.columns, rows)
            except psycopg.DataError as exc:
                raise StoreError(f"rows of {table.name} not loaded: {first_line(exc)}") from None
            except psycopg.IntegrityError as exc:
                raise StoreError(f"rows not loaded: {first_line(exc)}") from None

        with self._write() as conn:
            conn.execute("SET LOCAL statement_timeout = 0")
            yield load
            # Ids go on after the highest one loaded.
            for table, sequence in _SEQUENCES:
                conn.execute(
                    f"SELECT setval({sequence!r}, coalesce(max(id), 0) + 1, false) "
                    f"FROM {table} WHERE {_EVERY_ACCOUNT if table != 'accounts' else 'true'}"
                )

    # -- the sandbox's reset and snapshots --------------------------------------------------
    def reset_account(self, account_id: int | None, *, catalog: bool) -> Cleared:
        accounts, params = (
            ("account_id = %s", (account_id,)) if account_id is not None else (_EVERY_ACCOUNT, ())
        )
        with self._write() as conn:

            def gone(table: str) -> int:
                return conn.execute(f"DELETE FROM {table} WHERE {accounts}", params).rowcount

            gone("outbox_attempts")  # the tries of the callbacks below
            replays, callbacks, calls, orders = (
                gone("write_replays"), gone("outbox"), gone("calls"), gone("orders"))  # fmt: skip
            gone("task_pages")
            gone("task_stats")
            tasks = gone("tasks")  # the count triggers follow
            for table in COUNT_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE {accounts} AND n = 0", params)
            keys = flows = routes = 0
            if catalog:
                gone("ui_sessions")  # signed in with the keys deleted below
                keys, routes, flows = gone("access_keys"), gone("routes"), gone("flows")
        return Cleared(tasks, orders, calls, callbacks, replays, keys, flows, routes)

    @staticmethod
    def _snapshot_schema(conn: psycopg.Connection[Any], name: str) -> tuple[str, str]:
        """``(this schema, the snapshot's schema)``: a snapshot is a schema beside this one,
        named after it and a digest of both names (identifiers are 63 bytes at most)."""
        row = conn.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            raise StoreError("no current schema (search_path names none that exists)")
        live = str(row[0])
        digest = hashlib.sha256(f"{live}\0{snapshot_name(name)}".encode()).hexdigest()[:16]
        return live, f"{live[:44]}__s{digest}"

    @staticmethod
    def _snapshot_meta(conn: psycopg.Connection[Any], schema: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (schema,),
        ).fetchone()
        if row is None:
            return None
        try:
            meta = json.loads(row[0] or "")
        except ValueError:
            return None
        return meta if isinstance(meta, dict) and meta.get("nxlinkSnapshot") == 1 else None

    def take_snapshot(self, name: str, *, now_ms: int) -> SnapshotInfo:
        snapshot_name(name)
        with self._connection() as conn:
            # One snapshot of the database for every copy: REPEATABLE READ.
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            try:
                conn.execute("SET LOCAL statement_timeout = 0")
                live, schema = self._snapshot_schema(conn, name)
                target = sql.Identifier(schema)
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(target))
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(target))
                for table in SNAPSHOT_TABLES:
                    accounts = "true" if table in _GLOBAL_TABLES else _EVERY_ACCOUNT
                    conn.execute(sql.SQL(
                        f"CREATE TABLE {{}}.{table} AS SELECT * FROM {table} WHERE {accounts}"
                    ).format(target))  # fmt: skip
                conn.execute(sql.SQL(
                    "CREATE TABLE {}.nxlink_sequences AS SELECT sequencename::text AS name, "
                    "last_value FROM pg_sequences WHERE schemaname = current_schema()"
                ).format(target))  # fmt: skip
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}.tasks").format(target)
                ).fetchone()
                info = SnapshotInfo(name, now_ms, self._version(conn), int(row[0]) if row else 0)
                meta = {"nxlinkSnapshot": 1, "of": live, **info.to_json()}
                conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                    target, sql.Literal(json.dumps(meta))))  # fmt: skip
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
            _commit(lambda: conn.execute("COMMIT"))
        return info

    def restore_snapshot(self, name: str) -> SnapshotInfo:
        snapshot_name(name)
        with self._write() as conn:
            conn.execute("SET LOCAL statement_timeout = 0")
            _, schema = self._snapshot_schema(conn, name)
            meta = self._snapshot_meta(conn, schema)
            if meta is None:
                raise SnapshotMissing(name)
            info = _snapshot_info(meta)
            version = self._version(conn)
            if info.schema_version != version:
                raise SnapshotError(
                    f"snapshot {name!r}: made at schema version {info.schema_version}, the "
                    f"database is at {version}"
                )
            source = sql.Identifier(schema)
            # The derived counts go too: the inserted tasks' trigger counts them again.
            conn.execute(f"TRUNCATE {', '.join((*SNAPSHOT_TABLES, *COUNT_TABLES))}")
            for table in SNAPSHOT_TABLES:
                conn.execute(sql.SQL(f"INSERT INTO {table} SELECT * FROM {{}}.{table}").format(
                    source))  # fmt: skip
            conn.execute(DEAD_UI_SESSIONS)  # the sessions kept, but of keys not brought back
            # Ids go on as they went on from the moment of the snapshot.
            for sequence, last in conn.execute(sql.SQL(
                    "SELECT name, last_value FROM {}.nxlink_sequences ORDER BY name"
            ).format(source)).fetchall():  # fmt: skip
                if last is None:
                    conn.execute("SELECT setval(%s, 1, false)", (sequence,))
                else:
                    conn.execute("SELECT setval(%s, %s, true)", (sequence, last))
        return info

    def list_snapshots(self) -> list[SnapshotInfo]:
        with self._connection() as conn:
            live, _ = self._snapshot_schema(conn, "x")
            prefix = live[:44].replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
            rows = conn.execute(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                "WHERE nspname LIKE %s ORDER BY nspname",
                (prefix + "\\_\\_s%",),
            ).fetchall()
        found = []
        for (comment,) in rows:
            try:
                meta = json.loads(comment or "")
            except ValueError:
                continue
            if (
                isinstance(meta, dict)
                and meta.get("nxlinkSnapshot") == 1
                and meta.get("of") == live
            ):
                found.append(_snapshot_info(meta))
        return sorted(found, key=lambda info: info.name)

    def delete_snapshot(self, name: str) -> bool:
        snapshot_name(name)
        with self._write() as conn:
            _, schema = self._snapshot_schema(conn, name)
            if self._snapshot_meta(conn, schema) is None:
                return False
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        return True

    # -- the life of tasks -----------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[LifecycleTx]:
        # BEGIN, COMMIT and the writes nobody waits for travel with the statements that read
        # (PostgresLifecycleTx): committed when the block ends, rolled back when it raises.
        with self._connection() as conn:
            tx = PostgresLifecycleTx(conn)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            _commit(tx.commit)

    def call_page(
        self, account_id: int, task_id: str, flt: CallFilter, *, offset: int, limit: int
    ) -> tuple[int, list[CallFacts]] | None:
        with self._read() as conn:
            return call_page(conn, account_id, task_id, flt, offset=offset, limit=limit)

    def call_by_id(self, call_id: str) -> CallFacts | None:
        if has_nul(call_id):
            return None
        with self._read() as conn:
            # Account by account (each a seek of the key (account_id, call_id)): no index of
            # tenant data leads with anything but the account.
            found = conn.execute(
                "SELECT c.account_id, c.id FROM accounts AS a "
                "JOIN calls AS c ON c.account_id = a.id AND c.call_id = %s",
                (call_id,),
            ).fetchone()
            if found is None:
                return None
            row = conn.execute(
                f"SELECT {CALL_COLUMNS} {CALL_FROM}WHERE c.account_id = %s AND c.id = %s", found
            ).fetchone()
        return None if row is None else call_facts(row)

    def join_sim_clock(self, *, speed: float, real_ms: int) -> ClockAnchor:
        with self._write() as conn:
            # The timeline's row is locked for the decision; a first one is created by
            # whichever simulator comes first (the other waits, then reads it).
            current = _anchor(conn, lock=True)
            if current is None:
                fresh = ClockAnchor(real_ms, real_ms // 1000, speed)
                made = conn.execute(
                    "INSERT INTO sim_clock (id, origin_real_ms, origin_sim, speed) "
                    "VALUES (1, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (fresh.origin_real_ms, fresh.origin_sim, fresh.speed),
                ).fetchone()
                if made is not None:
                    return fresh
                current = _anchor(conn, lock=True)
                assert current is not None
            if current.speed == speed or current.frozen:
                return current
            anchor = ClockAnchor(real_ms, current.at(real_ms), speed)
            _put_anchor(conn, anchor)
            return anchor

    def set_sim_clock(self, anchor: ClockAnchor) -> None:
        with self._write() as conn:
            _put_anchor(conn, anchor)

    def sim_clock(self) -> ClockAnchor | None:
        with self._connection() as conn:
            return _anchor(conn, lock=False)

    def dialer_waits(self, now: int, *, dialer_id: str) -> DialerWaits:
        with self._read() as conn:
            return dialer_waits(conn, now, dialer_id=dialer_id)

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Query]:
        with self._read() as conn:
            # verify-counters reads every task: no statement limit for it.
            conn.execute("SET LOCAL statement_timeout = 0")
            yield lambda sql, params: conn.execute(_portable(sql), params).fetchall()

    def count_tasks(self, account_id: int) -> int:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(n), 0)::bigint FROM account_task_counts WHERE account_id = %s",
                (account_id,),
            ).fetchone()
        return 0 if row is None else int(row[0])

    def task_page(
        self, account_id: int, flt: TaskFilter, *, offset: int, limit: int
    ) -> tuple[int, list[bytes]]:
        if flt.name_fold is not None and NUL in flt.name_fold:
            return 0, []  # no name holds a NUL (text cannot)
        statement, params = _page_statement(account_id, flt, offset=offset, limit=limit)
        with self._connection() as conn:
            rows = conn.execute(statement, params, binary=True).fetchall()
        total = int(rows[0][0])
        found = sorted(((r[1], r[2], r[3]) for r in rows if r[1] is not None), reverse=True)
        if not found and offset < total:
            raise StoreError("time-bucket task counts disagree with the task counts")
        # Ordered here rather than by a SQL sort of whole rows: the page is at most 1000 rows,
        # and (create_ts, id) is unique, so the JSON is never compared.
        return total, [bytes(doc) for _, _, doc in found]

    # -- the dashboard ----------------------------------------------------------------------
    def _insert_ui_session(self, session: UiSession) -> bool:
        try:
            with self._write() as conn:
                conn.execute(_PURGE_SESSIONS, (session.created_ms,))
                cur = conn.execute(
                    "INSERT INTO ui_sessions (token_hash, account_id, access_key, csrf_token, "
                    "created_ms, expires_ms, last_seen_ms) "
                    "SELECT %s, k.account_id, k.access_key, %s, %s, %s, %s FROM access_keys AS k "
                    "JOIN accounts AS a ON a.id = k.account_id "
                    "WHERE k.access_key = %s AND k.account_id = %s AND k.enabled = 1 "
                    "AND a.enabled = 1",
                    (session.token_hash, session.csrf_token, session.created_ms,
                     session.expires_ms, session.last_seen_ms, session.access_key,
                     session.account_id),
                )  # fmt: skip
                return cur.rowcount == 1
        except StoreError as exc:
            if isinstance(exc.__cause__, pg_errors.UniqueViolation):
                raise StoreError("token_hash: a session with this token exists") from None
            raise

    def _live_ui_session(self, token_hash: str, *, now_ms: int) -> UiSession | None:
        with self._connection() as conn:
            row = conn.execute(_LIVE_SESSION, (token_hash, now_ms)).fetchone()
        return None if row is None else ui_session(row)

    def _touch_ui_session(self, token_hash: str, *, now_ms: int) -> None:
        with self._connection() as conn:  # one statement: its own transaction
            conn.execute(
                "UPDATE ui_sessions SET last_seen_ms = %s "
                "WHERE token_hash = %s AND last_seen_ms < %s",
                (now_ms, token_hash, now_ms),
            )

    def _delete_ui_session(self, token_hash: str) -> bool:
        with self._connection() as conn:
            cur = conn.execute("DELETE FROM ui_sessions WHERE token_hash = %s", (token_hash,))
            return cur.rowcount == 1

    def purge_ui_sessions(self, *, now_ms: int) -> int:
        with self._connection() as conn:
            return conn.execute(_PURGE_SESSIONS, (now_ms,)).rowcount

    def _order_page(
        self, account_id: int, task_row_id: int, *, states: Sequence[str], offset: int,
        limit: int,
    ) -> OrderPage:  # fmt: skip
        where = "account_id = %s AND task_row_id = %s AND state = ANY(%s)"
        params = (account_id, task_row_id, list(states))
        with self._read() as conn:
            row = conn.execute(f"SELECT count(*) FROM orders WHERE {where}", params).fetchone()
            rows = conn.execute(
                f"SELECT {ORDER_ROW_COLUMNS} FROM orders WHERE {where} "
                "ORDER BY id DESC LIMIT %s OFFSET %s",
                (*params, limit, offset),
            ).fetchall()
        assert row is not None
        return OrderPage(int(row[0]), tuple(order_row(r) for r in rows))

    def _call_activity(
        self, account_id: int, task_row_id: int, *, bucket_s: int
    ) -> list[ActivityBucket]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT create_ts / %(bucket)s * %(bucket)s, count(*), sum(answered) FROM calls "
                "WHERE account_id = %(account)s AND task_row_id = %(task)s GROUP BY 1 ORDER BY 1",
                {"bucket": bucket_s, "account": account_id, "task": task_row_id},
            ).fetchall()
        return [ActivityBucket(int(start), int(calls), int(answered))
                for start, calls, answered in rows]  # fmt: skip

    def call_results(self, account_id: int, task_row_id: int) -> dict[int, int]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT result, count(*) FROM calls WHERE account_id = %s AND task_row_id = %s "
                "GROUP BY result ORDER BY result",
                (account_id, task_row_id),
            ).fetchall()
        return {int(result): int(n) for result, n in rows}


#: Deletes the dashboard sessions expired at a time (epoch ms).
_PURGE_SESSIONS: Final = "DELETE FROM ui_sessions WHERE expires_ms <= %s"
_LIVE_SESSION: Final = LIVE_UI_SESSION.format(mark="%s")

#: Tables without an account column.
_GLOBAL_TABLES: Final = frozenset({"accounts", "master_key_check"})


def _snapshot_info(meta: dict[str, Any]) -> SnapshotInfo:
    return SnapshotInfo(str(meta["name"]), int(meta["createdMs"]), int(meta["schemaVersion"]),
                        int(meta["tasks"]))  # fmt: skip


#: Every account's rows of a tenant table (a statement on them all names the accounts).
_EVERY_ACCOUNT: Final = "account_id = ANY(ARRAY(SELECT id FROM accounts))"
#: The sequences ids are taken from, by table.
_SEQUENCES: Final = (
    ("accounts", "accounts_id_seq"), ("flows", "flows_id_seq"), ("routes", "routes_id_seq"),
    ("tasks", "task_ids"), ("orders", "orders_id_seq"), ("calls", "calls_id_seq"),
    ("outbox", "outbox_id_seq"),
)  # fmt: skip


def _commit(commit: Callable[[], object]) -> None:
    """Send ``COMMIT``. A refusal by the server (a deferred write's error, a timeout) means
    rolled back, and is translated as any other; a connection lost on the way leaves the
    outcome unknown: :class:`CommitUncertain`, never "try again"."""
    try:
        commit()
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        state = exc.sqlstate
        if state is None or state.startswith("08"):  # no answer, or a connection exception
            raise CommitUncertain(
                f"the connection was lost while committing ({_reason(exc)}); the change may "
                "or may not have been made"
            ) from None
        raise


def _anchor(conn: psycopg.Connection[Any], *, lock: bool) -> ClockAnchor | None:
    row = conn.execute(
        "SELECT origin_real_ms, origin_sim, speed, frozen FROM sim_clock WHERE id = 1"
        + (" FOR UPDATE" if lock else "")
    ).fetchone()
    if row is None:
        return None
    return ClockAnchor(int(row[0]), int(row[1]), float(row[2]), bool(row[3]))


def _put_anchor(conn: psycopg.Connection[Any], anchor: ClockAnchor) -> None:
    conn.execute(
        "INSERT INTO sim_clock (id, origin_real_ms, origin_sim, speed, frozen) "
        "VALUES (1, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
        "origin_real_ms = excluded.origin_real_ms, origin_sim = excluded.origin_sim, "
        "speed = excluded.speed, frozen = excluded.frozen",
        (anchor.origin_real_ms, anchor.origin_sim, anchor.speed, anchor.frozen),
    )


def _portable(statement: str) -> str:
    """Portable SQL (``?`` parameters) for psycopg (``%s``; a literal ``%`` doubled)."""
    return statement.replace("%", "%%").replace("?", "%s")


# -- the task list ---------------------------------------------------------------------------


def _like(needle: str) -> str:
    """A LIKE pattern for text containing ``needle`` (``\\``, ``%`` and ``_`` literal)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _rate_clause(op: str, bound: Fraction, params: dict[str, Any], key: str) -> str:
    p, q = bound.numerator, bound.denominator
    params[f"{key}_p"], params[f"{key}_q"] = p, q
    if 100 * _COUNTER_MAX * q <= _INT64_MAX and _COUNTER_MAX * p <= _INT64_MAX:
        return (f"100 * s.answer_call_count * %({key}_q)s::bigint {op} "
                f"%({key}_p)s::bigint * s.total_call_count")  # fmt: skip
    return (f"100 * s.answer_call_count::numeric * %({key}_q)s::numeric {op} "
            f"%({key}_p)s::numeric * s.total_call_count")  # fmt: skip


def _where(flt: TaskFilter, params: dict[str, Any], *, tasks_only: bool = False) -> tuple[str, str]:
    """``(FROM clause, WHERE clause)`` of the tasks matching ``flt`` (params filled in).

    ``tasks_only``: the tasks table alone (its own status and creation time), for a count
    by name that needs no counter: the statistics rows are not joined.
    """
    at = "t" if tasks_only else "s"
    source = "tasks AS t" if tasks_only else "task_stats AS s"
    clauses = [f"{at}.account_id = %(account)s"]
    for value, key, clause in (
        (flt.status, "status", f"{at}.task_status = %(status)s"),
        (flt.created_from, "created_from", f"{at}.create_ts >= %(created_from)s"),
        (flt.created_to, "created_to", f"{at}.create_ts <= %(created_to)s"),
        (flt.min_contacts, "min_contacts", "s.total_order_count >= %(min_contacts)s"),
        (flt.max_contacts, "max_contacts", "s.total_order_count <= %(max_contacts)s"),
    ):
        if value is not None:
            clauses.append(clause)
            params[key] = value
    if flt.min_answer_rate is not None or flt.max_answer_rate is not None:
        clauses.append("s.total_call_count > 0")
        if flt.min_answer_rate is not None:
            clauses.append(_rate_clause(">=", flt.min_answer_rate, params, "min_rate"))
        if flt.max_answer_rate is not None:
            clauses.append(_rate_clause("<=", flt.max_answer_rate, params, "max_rate"))
    if flt.name_fold is not None:
        if not tasks_only:
            source += " JOIN tasks AS t ON t.account_id = s.account_id AND t.id = s.task_row_id"
            clauses.append("t.account_id = %(account)s")
        if len(flt.name_fold) >= TRIGRAM:
            # The trigram index finds the candidates; strpos() keeps the answer exact.
            clauses.append("t.name_fold LIKE %(name_like)s")
            params["name_like"] = _like(flt.name_fold)
        clauses.append("strpos(t.name_fold, %(name)s) > 0")
        params["name"] = flt.name_fold
    return source, " AND ".join(clauses)


def _counters_filtered(flt: TaskFilter) -> bool:
    bounds = (flt.min_contacts, flt.max_contacts, flt.min_answer_rate, flt.max_answer_rate)
    return any(bound is not None for bound in bounds)


def _page_statement(
    account_id: int, flt: TaskFilter, *, offset: int, limit: int
) -> tuple[str, dict[str, Any]]:
    """One statement answering ``(total, create_ts, row id, JSON)`` rows for a page: the
    total in every row, and one row of NULLs besides it when the page is empty."""
    params: dict[str, Any] = {"account": account_id, "offset": offset, "limit": limit}
    jump = ""
    cutoff = ""
    skip = "%(offset)s"
    if flt.status_only():
        status = "" if flt.status is None else " AND task_status = %(status)s"
        if flt.status is not None:
            params["status"] = flt.status
        total = (f"SELECT coalesce(sum(n), 0)::bigint AS n FROM account_task_counts "
                 f"WHERE account_id = %(account)s{status}")  # fmt: skip
        if flt.status is None:
            source, where = "task_pages AS s", "s.account_id = %(account)s"
        else:
            source, where = (
                "task_stats AS s",
                "s.account_id = %(account)s AND s.task_status = %(status)s",
            )
        if offset > DIRECT_SKIP:
            # Jump to the creation hour the offset falls in (the day and hour counts' running
            # totals); skip only within that hour.
            kind = "account" if flt.status is None else "account_status"
            jump = f""",
            day AS (
                SELECT day, before FROM (
                    SELECT day, n, sum(n) OVER (ORDER BY day DESC) - n AS before
                    FROM {kind}_day_counts WHERE account_id = %(account)s{status} AND n > 0
                ) AS x WHERE before <= %(offset)s AND %(offset)s < before + n),
            hour AS (
                SELECT hour, before FROM (
                    SELECT c.hour, c.n, day.before + sum(c.n) OVER (ORDER BY c.hour DESC) - c.n
                           AS before
                    FROM {kind}_hour_counts AS c, day
                    WHERE c.account_id = %(account)s{status.replace("task_status", "c.task_status")}
                      AND c.hour BETWEEN day.day * 24 AND day.day * 24 + 23 AND c.n > 0
                ) AS x WHERE before <= %(offset)s AND %(offset)s < before + n)"""
            cutoff = " AND s.create_ts < (SELECT (hour + 1) * 3600 FROM hour)"
            skip = "(%(offset)s - (SELECT before FROM hour))::bigint"
    else:
        source, where = _where(flt, params)
        if flt.name_fold is not None and not _counters_filtered(flt):
            # Counted from the tasks alone: a common name matches thousands.
            total = "SELECT count(*) AS n FROM {} WHERE {}".format(
                *_where(flt, params, tasks_only=True)
            )
        else:
            total = f"SELECT count(*) AS n FROM {source} WHERE {where}"
    statement = f"""
    WITH total AS ({total}){jump}
    SELECT (SELECT n FROM total), p.create_ts, p.task_row_id, d.doc
    FROM (SELECT 1) AS one
    LEFT JOIN (
        SELECT s.create_ts, s.task_row_id FROM {source}
        WHERE {where}{cutoff} AND %(offset)s < (SELECT n FROM total)
        ORDER BY s.create_ts DESC, s.task_row_id DESC LIMIT %(limit)s OFFSET {skip}
    ) AS p ON true
    LEFT JOIN task_pages AS d
      ON d.account_id = %(account)s AND d.create_ts = p.create_ts AND d.task_row_id = p.task_row_id
    """
    return statement, params
