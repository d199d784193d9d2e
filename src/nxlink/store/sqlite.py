"""SQLite backend: WAL mode, one writer (a lock per process, SQLite's lock across processes),
readers in parallel on per-thread connections."""

from __future__ import annotations

import bisect
import contextlib
import functools
import importlib.resources
import itertools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from nxlink.contract.calldoc import CallFacts
from nxlink.store.base import (
    COUNT_TABLES,
    NOT_SNAPSHOTTED,
    SNAPSHOT_NAME,
    AccessKey,
    Account,
    ActivityBucket,
    CallFilter,
    Cleared,
    ClockAnchor,
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
from nxlink.store.ratelimit import Limit, MemoryCells
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
from nxlink.store.sqlite_lifecycle import (
    SQLiteLifecycleTx,
    call_page,
    dialer_waits,
    indexed_name,
)
from nxlink.store.sqlite_outbox import SQLiteOutbox

_INT64_MAX = (1 << 63) - 1
# Counters are 32-bit in the contract; a rate bound p/q compares as 100*a*q >= p*t in SQL
# integers as long as neither side can pass 2**63.
_COUNTER_MAX = (1 << 31) - 1

#: Offsets up to this are skipped row by row; deeper ones start from the hour they fall in.
DIRECT_SKIP = 1_000
DAY = 86_400
HOUR = 3_600
PAGE_SIZE = 16_384
#: Name searches this long or longer are served by the trigram index (``task_names``);
#: shorter ones scan the account's names.
TRIGRAM = 3

# A filtered page: the covering index picks the rows, their JSON is looked up by key.
_PAGE_SELECT = """
SELECT p.create_ts, p.task_row_id, CAST(d.doc AS BLOB)
FROM ({inner}) AS p
JOIN task_pages AS d
  ON d.account_id = ? AND d.create_ts = p.create_ts AND d.task_row_id = p.task_row_id
"""

# An unfiltered page: one range scan of the clustered JSON, newest first.
_UNFILTERED_PAGE = """
SELECT CAST(doc AS BLOB) FROM task_pages WHERE account_id = ?
ORDER BY create_ts DESC, task_row_id DESC LIMIT ? OFFSET ?
"""
_UNFILTERED_PAGE_BEFORE = """
SELECT CAST(doc AS BLOB) FROM task_pages WHERE account_id = ? AND create_ts < ?
ORDER BY create_ts DESC, task_row_id DESC LIMIT ? OFFSET ?
"""


def _private_file(path: Path) -> None:
    """Create the database file with mode 0600 (SQLite gives its -wal and -shm files the same
    mode), or take group and other permissions away from an existing one and its companions."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database file: {exc}") from None
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if each.stat().st_mode & 0o077:
                each.chmod(0o600)


def _path_from_url(url: str) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(f"bad SQLite URL {url!r}: expected sqlite:///relative/path or "
                         "sqlite:////absolute/path")  # fmt: skip
    return url[len(prefix) :]


@contextlib.contextmanager
def _busy_is_unavailable(waited_ms: int) -> Iterator[None]:
    """SQLite's lock timeouts (SQLITE_BUSY, SQLITE_LOCKED) as :class:`StoreUnavailable`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        primary = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # extended codes keep it low
        if primary not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise
        raise StoreUnavailable(f"{exc} (waited {waited_ms} ms)") from exc


def _rate_ge(a: int, t: int, p: str, q: str) -> int:
    """Exact ``100*a/t >= p/q`` for bounds too precise for 64-bit SQL arithmetic."""
    return int(100 * a * int(q) >= int(p) * t)


def _rate_le(a: int, t: int, p: str, q: str) -> int:
    return int(100 * a * int(q) <= int(p) * t)


class SQLiteStore(SQLiteOutbox, Store):
    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.path = _path_from_url(url)
        parent = Path(self.path).parent
        if not parent.exists():
            raise StoreError(f"{url}: directory {str(parent)!r} does not exist")
        _private_file(Path(self.path))
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._write_count = 0
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    # -- connections -----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        with _busy_is_unavailable(self._busy_timeout_ms):
            return self._connect_now()

    def _connect_now(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        # Only takes effect on a new database: task rows carry their ~1 KiB JSON, and a
        # 1000-task page then spans tens of pages rather than hundreds.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.url}: could not switch to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -32768")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.create_function("nx_rate_ge", 4, _rate_ge, deterministic=True)
        conn.create_function("nx_rate_le", 4, _rate_le, deterministic=True)
        with self._all_lock:
            self._all.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the single writer of this process. Waiting longer than the
        busy timeout, for this process's writer or another's, raises StoreUnavailable."""
        waited_ms = self._busy_timeout_ms
        if not self._write_lock.acquire(timeout=waited_ms / 1000):
            raise StoreUnavailable(f"another write held the lock (waited {waited_ms} ms)")
        try:
            with _busy_is_unavailable(waited_ms):
                conn = self._conn
                changes = conn.total_changes
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # a failed COMMIT leaves it open
                        conn.execute("ROLLBACK")
                    raise
                # A transaction that wrote nothing (an idle dialer's poll) keeps the caches.
                if conn.total_changes != changes:
                    self._write_count += 1
        finally:
            self._write_lock.release()

    def _cache(self, conn: sqlite3.Connection) -> _ReadCache:
        """This thread's read cache, emptied whenever the database may have changed.

        ``PRAGMA data_version`` moves when another connection (any process) commits; this
        process's own commits are counted. The version is read before the snapshot a caller
        then takes, so an entry is never older than the version it is filed under.
        """
        version = (conn.execute("PRAGMA data_version").fetchone()[0], self._write_count)
        cache: _ReadCache | None = getattr(self._local, "cache", None)
        if cache is None or cache.version != version:
            cache = _ReadCache(version)
            self._local.cache = cache
        return cache

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several statements."""
        with _busy_is_unavailable(self._busy_timeout_ms):
            conn = self._conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    def ping(self) -> None:
        self._conn.execute("SELECT 1").fetchone()

    # -- schema ----------------------------------------------------------------------------
    def schema_version(self) -> int:
        conn = self._conn
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not exists:
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0])

    @staticmethod
    def _scripts() -> list[tuple[int, Traversable]]:
        folder = importlib.resources.files("nxlink.store") / "migrations" / "sqlite"
        return sorted(
            ((int(entry.name.split("_", 1)[0]), entry)
             for entry in folder.iterdir() if entry.name.endswith(".sql")),
            key=lambda script: script[0],
        )  # fmt: skip

    def known_migrations(self) -> list[tuple[int, str]]:
        return [(version, entry.name) for version, entry in self._scripts()]

    def migrate(self) -> list[int]:
        scripts = self._scripts()
        applied: list[int] = []
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ts INTEGER NOT NULL)"
            )
            current = conn.execute(
                "SELECT coalesce(max(version), 0) FROM schema_migrations"
            ).fetchone()[0]
            for version, entry in scripts:
                if version <= current:
                    continue
                for statement in _statements(entry.read_text(encoding="utf-8")):
                    conn.execute(statement)
                after = _AFTER_MIGRATION.get(version)
                if after is not None:
                    after(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ts) "
                    "VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
                    (version, entry.name),
                )
                applied.append(version)
        return applied

    def take_token(self, access_key: str, *, now_ms: int, limit: Limit) -> float:
        # In this process's memory: a read never waits for SQLite's single writer. Each
        # server process (--workers) then has buckets of its own.
        return self._rate_cells.take(access_key, now_ms, limit)

    @functools.cached_property
    def _rate_cells(self) -> MemoryCells:
        return MemoryCells()

    def _key_check(self) -> tuple[str, str] | None:
        row = self._conn.execute("SELECT key_id, check_value FROM master_key_check").fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def _reseal(
        self, change: Callable[[str, str], str], key_id: str, check: str, *, expected: str | None
    ) -> int | None:
        with self._write() as conn:
            row = conn.execute("SELECT check_value FROM master_key_check").fetchone()
            if (None if row is None else row[0]) != expected:
                return None
            # Freed space is zeroed, so the old values are not left in the file's pages.
            conn.execute("PRAGMA secure_delete = ON")
            changed = 0
            for access_key, stored in conn.execute(
                "SELECT access_key, secret FROM access_keys ORDER BY access_key"
            ).fetchall():
                new = change(access_key, stored)
                if new != stored:
                    conn.execute("UPDATE access_keys SET secret = ? WHERE access_key = ?",
                                 (new, access_key))  # fmt: skip
                    changed += 1
            conn.execute(
                "INSERT INTO master_key_check (id, key_id, check_value) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, "
                "check_value = excluded.check_value",
                (key_id, check),
            )
        if changed:
            # The write-ahead log still holds the old pages: copy it into the file and empty it.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed

    def task_doc(self, account_id: int, task_id: str) -> bytes | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT CAST(d.doc AS BLOB) FROM tasks AS t JOIN task_pages AS d"
                " ON d.account_id = t.account_id AND d.create_ts = t.create_ts"
                " AND d.task_row_id = t.id WHERE t.account_id = ? AND t.task_id = ?",
                (account_id, task_id),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def analyze(self) -> None:
        with self._write_lock:
            self._conn.execute("ANALYZE")

    # -- accounts and keys -----------------------------------------------------------------
    def create_account(self, name: str, *, now: int) -> Account:
        with self._write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO accounts (name, created_ts) VALUES (?, ?)", (name, now)
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"account {name!r} already exists") from None
            assert cur.lastrowid is not None
            return Account(cur.lastrowid, name, True, 0, 10, now)

    def get_account(self, name: str) -> Account | None:
        row = self._conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?",
            (name,),
        ).fetchone()
        return None if row is None else account_row(row)

    def list_accounts(self) -> list[Account]:
        rows = self._conn.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id").fetchall()
        return [account_row(r) for r in rows]

    def set_account_callbacks(
        self,
        account_id: int,
        *,
        task_url: str | None = None,
        call_url: str | None = None,
        signed: bool | None = None,
    ) -> Account:
        with self._write() as conn:
            row = conn.execute(
                "UPDATE accounts SET task_callback_url = coalesce(?, task_callback_url), "
                "call_callback_url = coalesce(?, call_callback_url), "
                "callbacks_signed = coalesce(?, callbacks_signed) "
                f"WHERE id = ? RETURNING {ACCOUNT_COLUMNS}",
                (task_url, call_url, None if signed is None else int(signed), account_id),
            ).fetchone()
        if row is None:
            raise StoreError(f"no account with id {account_id}")
        return account_row(row)

    def create_key(self, account_id: int, *, access_key: str, secret: str, now: int) -> AccessKey:
        with self._write() as conn:
            name = conn.execute("SELECT name FROM accounts WHERE id = ?", (account_id,)).fetchone()
            if name is None:
                raise StoreError(f"no account with id {account_id}")
            try:
                conn.execute(
                    "INSERT INTO access_keys (account_id, access_key, secret, created_ts) "
                    "VALUES (?, ?, ?, ?)",
                    (account_id, access_key, self.seal_secret(access_key, secret), now),
                )
            except sqlite3.IntegrityError:
                raise StoreError(f"access key {access_key!r} already exists") from None
        return AccessKey(access_key, account_id, name[0], True, now, None)

    def list_keys(self) -> list[AccessKey]:
        rows = self._conn.execute(
            "SELECT k.access_key, k.account_id, a.name, k.enabled, k.created_ts, k.revoked_ts "
            "FROM access_keys AS k JOIN accounts AS a ON a.id = k.account_id "
            "ORDER BY k.account_id, k.created_ts, k.access_key"
        ).fetchall()
        return [AccessKey(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]

    def revoke_key(self, access_key: str, *, now: int) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE access_keys SET enabled = 0, revoked_ts = ? "
                "WHERE access_key = ? AND enabled = 1",
                (now, access_key),
            )
            return cur.rowcount == 1

    def key_auth(self, access_key: str) -> KeyAuth | None:
        conn = self._conn
        cache = self._cache(conn)
        known = cache.keys.get(access_key)
        if known is not None:
            return known
        row = conn.execute(
            "SELECT k.account_id, k.secret FROM access_keys AS k "
            "JOIN accounts AS a ON a.id = k.account_id "
            "WHERE k.access_key = ? AND k.enabled = 1 AND a.enabled = 1",
            (access_key,),
        ).fetchone()
        if row is None:
            return None  # unknown keys are not remembered: a flood of them stays bounded
        found = cache.keys[access_key] = KeyAuth(row[0], self.open_secret(access_key, row[1]))
        return found

    # -- flows and routes ------------------------------------------------------------------
    def create_flow(
        self, account_id: int, *, name: str, variables: Sequence[str], now: int
    ) -> Flow:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO flows (account_id, name, variables, created_ts) VALUES (?, ?, ?, ?)",
                (account_id, name, json.dumps(list(variables)), now),
            )
            assert cur.lastrowid is not None
            return Flow(cur.lastrowid, account_id, name, tuple(variables), now)

    def list_flows(self, account_id: int) -> list[Flow]:
        rows = self._conn.execute(
            "SELECT id, account_id, name, variables, created_ts, enabled FROM flows "
            "WHERE account_id = ? ORDER BY id",
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
        with self._write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO routes (account_id, route_id, name, country_code, "
                    "price_per_minute_cents, answer_probability, talk_seconds_mean, created_ts, "
                    "caller_phone, line_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (account_id, route_id, name, country_code, price_per_minute_cents,
                     answer_probability, talk_seconds_mean, now, caller_phone,
                     json.dumps(list(line_ids))),
                )  # fmt: skip
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"route {route_id!r} not created: {exc}") from None
            assert cur.lastrowid is not None
            return Route(
                cur.lastrowid, account_id, route_id, name, country_code,
                price_per_minute_cents, answer_probability, talk_seconds_mean, now,
                caller_phone=caller_phone, line_ids=tuple(line_ids),
            )  # fmt: skip

    def list_routes(self, account_id: int) -> list[Route]:
        rows = self._conn.execute(
            f"SELECT {ROUTE_COLUMNS} FROM routes WHERE account_id = ? ORDER BY id", (account_id,)
        ).fetchall()
        return [route_row(r) for r in rows]

    # -- the life of tasks -----------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[LifecycleTx]:
        with self._write() as conn:
            yield SQLiteLifecycleTx(conn)

    def call_page(
        self, account_id: int, task_id: str, flt: CallFilter, *, offset: int, limit: int
    ) -> tuple[int, list[CallFacts]] | None:
        with self._read() as conn:
            return call_page(conn, account_id, task_id, flt, offset=offset, limit=limit)

    def call_by_id(self, call_id: str) -> CallFacts | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT {CALL_COLUMNS} {CALL_FROM}WHERE c.call_id = ?",
                               (call_id,)).fetchone()  # fmt: skip
        return None if row is None else call_facts(row)

    def join_sim_clock(self, *, speed: float, real_ms: int) -> ClockAnchor:
        with self._write() as conn:
            current = _anchor(conn)
            if current is not None and (current.speed == speed or current.frozen):
                return current
            present = current.at(real_ms) if current is not None else real_ms // 1000
            anchor = ClockAnchor(real_ms, present, speed)
            _put_anchor(conn, anchor)
            return anchor

    def set_sim_clock(self, anchor: ClockAnchor) -> None:
        with self._write() as conn:
            _put_anchor(conn, anchor)

    def sim_clock(self) -> ClockAnchor | None:
        return _anchor(self._conn)

    def dialer_waits(self, now: int, *, dialer_id: str) -> DialerWaits:
        with self._read() as conn:
            return dialer_waits(conn, now, dialer_id=dialer_id)

    # -- copying a whole database ----------------------------------------------------------
    def count_rows(self, table: Table) -> int:
        return int(self._conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])

    def dump_rows(self, table: Table, *, batch: int) -> Iterator[list[tuple[Any, ...]]]:
        columns = ", ".join(f"CAST({c} AS BLOB)" if c in table.binary else c for c in table.columns)
        order = ", ".join(table.order)
        with self._read() as conn:
            cursor = conn.execute(f"SELECT {columns} FROM {table.name} ORDER BY {order}")
            while rows := cursor.fetchmany(batch):
                yield rows

    @contextlib.contextmanager
    def loading(self) -> Iterator[Loader]:
        def load(table: Table, rows: list[tuple[Any, ...]]) -> None:
            names = ", ".join(table.columns)
            marks = ", ".join("?" * len(table.columns))
            conn.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
            if table.name == "tasks":  # the name index follows the tasks (see 0003)
                at = table.columns.index("id"), table.columns.index("name_fold")
                conn.executemany(
                    "INSERT INTO task_names (rowid, name_fold) VALUES (?, ?)",
                    [(row[at[0]], indexed_name(row[at[1]])) for row in rows],
                )

        with self._write() as conn:
            try:
                yield load
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"rows not loaded: {exc}") from None

    # -- the sandbox's reset and snapshots --------------------------------------------------
    def reset_account(self, account_id: int | None, *, catalog: bool) -> Cleared:
        where, params = (
            ("WHERE account_id = ?", (account_id,)) if account_id is not None else ("", ())
        )
        with self._write() as conn:

            def gone(table: str) -> int:
                return conn.execute(f"DELETE FROM {table} {where}", params).rowcount

            # The name index is contentless: an entry goes by its rowid and indexed text.
            if account_id is None:
                conn.execute("INSERT INTO task_names (task_names) VALUES ('delete-all')")
            else:
                names = conn.execute("SELECT id, name_fold FROM tasks WHERE account_id = ?",
                                     params).fetchall()  # fmt: skip
                conn.executemany(
                    "INSERT INTO task_names (task_names, rowid, name_fold) VALUES ('delete', ?, ?)",
                    [(row_id, indexed_name(name)) for row_id, name in names],
                )
            gone("outbox_attempts")  # the tries of the callbacks below
            replays, callbacks, calls, orders = (
                gone("write_replays"), gone("outbox"), gone("calls"), gone("orders"))  # fmt: skip
            gone("task_pages")
            gone("task_stats")
            tasks = gone("tasks")  # the count triggers follow
            for table in COUNT_TABLES:
                conn.execute(f"DELETE FROM {table} {where}{' AND' if where else 'WHERE'} n = 0",
                             params)  # fmt: skip
            keys = flows = routes = 0
            if catalog:
                gone("ui_sessions")  # signed in with the keys deleted below
                keys, routes, flows = gone("access_keys"), gone("routes"), gone("flows")
        return Cleared(tasks, orders, calls, callbacks, replays, keys, flows, routes)

    @property
    def snapshot_folder(self) -> Path:
        """Where the snapshots live: ``<database>.snapshots/``, one file each."""
        return Path(self.path + ".snapshots")

    def _snapshot_file(self, name: str) -> Path:
        return self.snapshot_folder / f"{snapshot_name(name)}.db"

    def take_snapshot(self, name: str, *, now_ms: int) -> SnapshotInfo:
        target = self._snapshot_file(name)
        folder = target.parent
        folder.mkdir(mode=0o700, exist_ok=True)
        partial = folder / f".{target.name}.{os.getpid()}.{threading.get_ident()}.partial"
        partial.unlink(missing_ok=True)
        _private_file(partial)
        try:
            copy = sqlite3.connect(partial, isolation_level=None)
            try:
                # One step: the whole database as one consistent read of the live one.
                self._conn.backup(copy)
                # A file of its own (no write-ahead log beside it), stamped with its time.
                copy.execute("PRAGMA journal_mode = DELETE")
                copy.execute("DELETE FROM ui_sessions")  # a snapshot holds no sessions
                copy.execute(
                    "CREATE TABLE nxlink_snapshot (name TEXT NOT NULL, created_ms INTEGER NOT NULL)"
                )
                copy.execute("INSERT INTO nxlink_snapshot VALUES (?, ?)", (name, now_ms))
                info = _snapshot_info(copy)
            finally:
                copy.close()
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return info

    def restore_snapshot(self, name: str) -> SnapshotInfo:
        source = self._snapshot_file(name)
        if not source.is_file():
            raise SnapshotMissing(name)
        # The snapshot is read into memory, given the live rows of the tables a restore
        # keeps, and copied over the live database in one step (one write transaction).
        staged = sqlite3.connect(":memory:", isolation_level=None)
        try:
            snap = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
            try:
                # An in-memory copy takes pages of the source's size only.
                (page_size,) = snap.execute("PRAGMA page_size").fetchone()
                staged.execute(f"PRAGMA page_size = {int(page_size)}")
                snap.backup(staged)
            finally:
                snap.close()
            info = _snapshot_info(staged)
            if info.schema_version != self.schema_version():
                raise SnapshotError(
                    f"snapshot {name!r}: made at schema version {info.schema_version}, the "
                    f"database is at {self.schema_version()}"
                )
            staged.execute("DROP TABLE nxlink_snapshot")
            if not self._write_lock.acquire(timeout=self._busy_timeout_ms / 1000):
                raise StoreUnavailable(
                    f"another write held the lock (waited {self._busy_timeout_ms} ms)"
                )
            try:
                with _busy_is_unavailable(self._busy_timeout_ms):
                    live = self._conn
                    staged.execute("BEGIN")
                    for table in NOT_SNAPSHOTTED:
                        if not _has_table(live, table):
                            continue
                        rows = live.execute(f"SELECT * FROM {table}").fetchall()
                        staged.execute(f"DELETE FROM {table}")
                        if rows:
                            marks = ", ".join("?" * len(rows[0]))
                            staged.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
                    staged.execute(DEAD_UI_SESSIONS)
                    staged.execute("COMMIT")
                    staged.backup(live)
                    self._write_count += 1  # this thread's caches; others see data_version
            finally:
                self._write_lock.release()
        finally:
            staged.close()
        return info

    def list_snapshots(self) -> list[SnapshotInfo]:
        folder = self.snapshot_folder
        if not folder.is_dir():
            return []
        found = []
        for each in sorted(folder.glob("*.db")):
            if not SNAPSHOT_NAME.fullmatch(each.stem):
                continue
            snap = sqlite3.connect(f"file:{each}?mode=ro", uri=True)
            try:
                found.append(_snapshot_info(snap))
            finally:
                snap.close()
        return found

    def delete_snapshot(self, name: str) -> bool:
        target = self._snapshot_file(name)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        return True

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Query]:
        with self._read() as conn:
            yield lambda sql, params: conn.execute(sql, params).fetchall()

    def count_tasks(self, account_id: int) -> int:
        row = self._conn.execute(
            "SELECT coalesce(sum(n), 0) FROM account_task_counts WHERE account_id = ?",
            (account_id,),
        ).fetchone()
        return int(row[0])

    def task_page(
        self, account_id: int, flt: TaskFilter, *, offset: int, limit: int
    ) -> tuple[int, list[bytes]]:
        where, params = _where(account_id, flt)
        source = "task_stats AS s"
        if flt.name_fold is not None:
            source += " JOIN tasks AS t ON t.id = s.task_row_id"
        cache = self._cache(self._conn)
        with self._read() as conn:
            if flt.status_only():
                total = self._status_total(conn, account_id, flt.status)
            else:
                total = conn.execute(
                    f"SELECT count(*) FROM {source} WHERE {where}", params
                ).fetchone()[0]
            if offset >= total:
                return total, []
            cutoff: int | None = None
            if flt.status_only() and offset > DIRECT_SKIP:
                # Jump to the creation hour the offset falls in; skip only within that hour.
                skipped, hour = _hour_of_offset(conn, cache, account_id, flt.status, offset)
                cutoff = (hour + 1) * HOUR
                offset -= skipped
            if flt.status_only() and flt.status is None:
                if cutoff is None:
                    docs = conn.execute(_UNFILTERED_PAGE, (account_id, limit, offset))
                else:
                    docs = conn.execute(
                        _UNFILTERED_PAGE_BEFORE, (account_id, cutoff, limit, offset)
                    )
                return total, [doc for (doc,) in docs]
            if cutoff is not None:
                where += " AND s.create_ts < ?"
                params.append(cutoff)
            inner = (
                f"SELECT s.create_ts, s.task_row_id FROM {source} WHERE {where} "
                "ORDER BY s.create_ts DESC, s.task_row_id DESC LIMIT ? OFFSET ?"
            )
            rows = conn.execute(
                _PAGE_SELECT.format(inner=inner), (*params, limit, offset, account_id)
            ).fetchall()
        # Ordered here rather than by a SQL sort of whole rows: the page is at most 1000 rows,
        # and (create_ts, id) is unique, so the JSON text is never compared.
        rows.sort(reverse=True)
        return total, [row[2] for row in rows]

    @staticmethod
    def _status_total(conn: sqlite3.Connection, account_id: int, status: int | None) -> int:
        if status is None:
            row = conn.execute(
                "SELECT coalesce(sum(n), 0) FROM account_task_counts WHERE account_id = ?",
                (account_id,),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT coalesce(sum(n), 0) FROM account_task_counts "
                "WHERE account_id = ? AND task_status = ?",
                (account_id, status),
            ).fetchone()
        return int(row[0])

    # -- the dashboard ----------------------------------------------------------------------
    def _insert_ui_session(self, session: UiSession) -> bool:
        with self._write() as conn:
            conn.execute(_PURGE_SESSIONS, (session.created_ms,))
            try:
                cur = conn.execute(
                    "INSERT INTO ui_sessions (token_hash, account_id, access_key, csrf_token, "
                    "created_ms, expires_ms, last_seen_ms) "
                    "SELECT ?, k.account_id, k.access_key, ?, ?, ?, ? FROM access_keys AS k "
                    "JOIN accounts AS a ON a.id = k.account_id "
                    "WHERE k.access_key = ? AND k.account_id = ? AND k.enabled = 1 "
                    "AND a.enabled = 1",
                    (session.token_hash, session.csrf_token, session.created_ms,
                     session.expires_ms, session.last_seen_ms, session.access_key,
                     session.account_id),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                raise StoreError("token_hash: a session with this token exists") from None
            return cur.rowcount == 1

    def _live_ui_session(self, token_hash: str, *, now_ms: int) -> UiSession | None:
        row = self._conn.execute(_LIVE_SESSION, (token_hash, now_ms)).fetchone()
        return None if row is None else ui_session(row)

    def _touch_ui_session(self, token_hash: str, *, now_ms: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE ui_sessions SET last_seen_ms = ? WHERE token_hash = ? AND last_seen_ms < ?",
                (now_ms, token_hash, now_ms),
            )

    def _delete_ui_session(self, token_hash: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM ui_sessions WHERE token_hash = ?", (token_hash,))
            return cur.rowcount == 1

    def purge_ui_sessions(self, *, now_ms: int) -> int:
        with self._write() as conn:
            return conn.execute(_PURGE_SESSIONS, (now_ms,)).rowcount

    def _order_page(
        self, account_id: int, task_row_id: int, *, states: Sequence[str], offset: int,
        limit: int,
    ) -> OrderPage:  # fmt: skip
        marks = ", ".join("?" * len(states))
        with self._read() as conn:
            # Contacts are keyed by their task alone here (task row ids are unique in the
            # database): the task is checked to be the account's once, and the total is then
            # counted from the index (task_row_id, state, ...) without a table row.
            if conn.execute("SELECT 1 FROM tasks WHERE id = ? AND account_id = ?",
                            (task_row_id, account_id)).fetchone() is None:  # fmt: skip
                return OrderPage(0, ())
            (total,) = conn.execute(
                f"SELECT count(*) FROM orders WHERE task_row_id = ? AND state IN ({marks})",
                (task_row_id, *states),
            ).fetchone()
            rows = conn.execute(
                f"SELECT {ORDER_ROW_COLUMNS} FROM orders "
                f"WHERE task_row_id = ? AND state IN ({marks}) "
                "ORDER BY id DESC LIMIT ? OFFSET ?",
                (task_row_id, *states, limit, offset),
            ).fetchall()
        return OrderPage(int(total), tuple(order_row(row) for row in rows))

    def _call_activity(
        self, account_id: int, task_row_id: int, *, bucket_s: int
    ) -> list[ActivityBucket]:
        rows = self._conn.execute(
            "SELECT create_ts / ? * ?, count(*), sum(answered) FROM calls "
            "WHERE account_id = ? AND task_row_id = ? GROUP BY 1 ORDER BY 1",
            (bucket_s, bucket_s, account_id, task_row_id),
        ).fetchall()
        return [ActivityBucket(int(start), int(calls), int(answered))
                for start, calls, answered in rows]  # fmt: skip

    def call_results(self, account_id: int, task_row_id: int) -> dict[int, int]:
        rows = self._conn.execute(
            "SELECT result, count(*) FROM calls WHERE account_id = ? AND task_row_id = ? "
            "GROUP BY result ORDER BY result",
            (account_id, task_row_id),
        ).fetchall()
        return {int(result): int(n) for result, n in rows}


#: Deletes the dashboard sessions expired at a time (epoch ms).
_PURGE_SESSIONS = "DELETE FROM ui_sessions WHERE expires_ms <= ?"
_LIVE_SESSION = LIVE_UI_SESSION.format(mark="?")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        is not None
    )


def _snapshot_info(conn: sqlite3.Connection) -> SnapshotInfo:
    if not _has_table(conn, "nxlink_snapshot"):
        raise SnapshotError("not a snapshot of nxlink (no nxlink_snapshot table)")
    name, created_ms = conn.execute("SELECT name, created_ms FROM nxlink_snapshot").fetchone()
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    (tasks,) = conn.execute("SELECT count(*) FROM tasks").fetchone()
    return SnapshotInfo(str(name), int(created_ms), int(version), int(tasks))


def _anchor(conn: sqlite3.Connection) -> ClockAnchor | None:
    row = conn.execute(
        "SELECT origin_real_ms, origin_sim, speed, frozen FROM sim_clock WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return ClockAnchor(int(row[0]), int(row[1]), float(row[2]), bool(row[3]))


def _put_anchor(conn: sqlite3.Connection, anchor: ClockAnchor) -> None:
    conn.execute(
        "INSERT INTO sim_clock (id, origin_real_ms, origin_sim, speed, frozen) "
        "VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "origin_real_ms = excluded.origin_real_ms, origin_sim = excluded.origin_sim, "
        "speed = excluded.speed, frozen = excluded.frozen",
        (anchor.origin_real_ms, anchor.origin_sim, anchor.speed, int(anchor.frozen)),
    )


@dataclass(slots=True)
class _ReadCache:
    """Derived facts that stay true until the database changes (see ``SQLiteStore._cache``)."""

    version: tuple[int, int]
    keys: dict[str, KeyAuth] = field(default_factory=dict)
    #: (account, status or None) -> (days newest first, tasks in that day and all later ones)
    days: dict[tuple[int, int | None], tuple[list[int], list[int]]] = field(default_factory=dict)


def _hour_of_offset(
    conn: sqlite3.Connection, cache: _ReadCache, account_id: int, status: int | None, offset: int
) -> tuple[int, int]:
    """``(tasks created after that hour, hour)`` for the hour holding row ``offset``.

    Finds the day in the day counts' running totals (kept in ``cache``), then walks that day's
    hour counts.
    """
    if status is None:
        days_sql = (
            "SELECT day, n FROM account_day_counts WHERE account_id = ? AND n > 0 ORDER BY day DESC"
        )
        hours_sql = (
            "SELECT hour, n FROM account_hour_counts WHERE account_id = ? "
            "AND hour BETWEEN ? AND ? AND n > 0 ORDER BY hour DESC"
        )
        key: tuple[int, ...] = (account_id,)
    else:
        days_sql = (
            "SELECT day, n FROM account_status_day_counts "
            "WHERE account_id = ? AND task_status = ? AND n > 0 ORDER BY day DESC"
        )
        hours_sql = (
            "SELECT hour, n FROM account_status_hour_counts "
            "WHERE account_id = ? AND task_status = ? "
            "AND hour BETWEEN ? AND ? AND n > 0 ORDER BY hour DESC"
        )
        key = (account_id, status)
    totals = cache.days.get((account_id, status))
    if totals is None:
        rows = conn.execute(days_sql, key).fetchall()
        totals = [int(day) for day, _ in rows], list(itertools.accumulate(n for _, n in rows))
        cache.days[(account_id, status)] = totals
    days, through = totals
    index = bisect.bisect_right(through, offset)
    if index == len(days):
        raise StoreError("time-bucket task counts disagree with the task counts")
    before = through[index - 1] if index else 0
    day = days[index]
    hours_per_day = DAY // HOUR
    first, last = day * hours_per_day, day * hours_per_day + hours_per_day - 1
    return _bucket_of(conn.execute(hours_sql, (*key, first, last)), offset, before)


def _bucket_of(buckets: sqlite3.Cursor, offset: int, before: int) -> tuple[int, int]:
    """Walk ``(bucket, n)`` rows newest first to the bucket holding row ``offset``."""
    for bucket, n in buckets:
        if before + n > offset:
            buckets.close()
            return before, int(bucket)
        before += n
    raise StoreError("time-bucket task counts disagree with the task counts")


def _rate_clause(op: str, bound: Fraction, params: list[Any]) -> str:
    p, q = bound.numerator, bound.denominator
    if 100 * _COUNTER_MAX * q <= _INT64_MAX and _COUNTER_MAX * p <= _INT64_MAX:
        params.extend((q, p))
        return f"100 * s.answer_call_count * ? {op} ? * s.total_call_count"
    params.extend((str(p), str(q)))
    fn = "nx_rate_ge" if op == ">=" else "nx_rate_le"
    return f"{fn}(s.answer_call_count, s.total_call_count, ?, ?)"


def _where(account_id: int, flt: TaskFilter) -> tuple[str, list[Any]]:
    clauses = ["s.account_id = ?"]
    params: list[Any] = [account_id]
    if flt.status is not None:
        clauses.append("s.task_status = ?")
        params.append(flt.status)
    if flt.created_from is not None:
        clauses.append("s.create_ts >= ?")
        params.append(flt.created_from)
    if flt.created_to is not None:
        clauses.append("s.create_ts <= ?")
        params.append(flt.created_to)
    if flt.min_contacts is not None:
        clauses.append("s.total_order_count >= ?")
        params.append(flt.min_contacts)
    if flt.max_contacts is not None:
        clauses.append("s.total_order_count <= ?")
        params.append(flt.max_contacts)
    if flt.min_answer_rate is not None or flt.max_answer_rate is not None:
        clauses.append("s.total_call_count > 0")
        if flt.min_answer_rate is not None:
            clauses.append(_rate_clause(">=", flt.min_answer_rate, params))
        if flt.max_answer_rate is not None:
            clauses.append(_rate_clause("<=", flt.max_answer_rate, params))
    if flt.name_fold is not None:
        if len(flt.name_fold) >= TRIGRAM:
            # The trigram index finds the candidates; instr() keeps the answer exact.
            clauses.append("s.task_row_id IN (SELECT rowid FROM task_names WHERE task_names "
                           "MATCH ?)")  # fmt: skip
            params.append('"' + indexed_name(flt.name_fold).replace('"', '""') + '"')
        clauses.append("instr(t.name_fold, ?) > 0")
        params.append(flt.name_fold)
    return " AND ".join(clauses), params


def _index_names_with_nul(conn: sqlite3.Connection) -> None:
    """Migration 3's step SQL cannot take: index the names that hold a NUL character."""
    rows = conn.execute(
        "SELECT id, name_fold FROM tasks WHERE instr(name_fold, char(0)) > 0"
    ).fetchall()
    conn.executemany(
        "INSERT INTO task_names (rowid, name_fold) VALUES (?, ?)",
        [(row_id, indexed_name(name)) for row_id, name in rows],
    )


#: Python steps of a migration, run right after its SQL, in its transaction.
_AFTER_MIGRATION: dict[int, Callable[[sqlite3.Connection], None]] = {3: _index_names_with_nul}


def _statements(script: str) -> Iterator[str]:
    """Split a SQL script into complete statements (trigger bodies included)."""
    buffer: list[str] = []
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer.append(line)
        candidate = "".join(buffer)
        if sqlite3.complete_statement(candidate):
            yield candidate.strip()
            buffer.clear()
    rest = "".join(buffer).strip()
    if rest:
        raise StoreError(f"incomplete SQL statement in migration: {rest[:80]!r}")
