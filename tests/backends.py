"""Fresh, empty databases for the tests, on SQLite or PostgreSQL, and their cleanup.

SQLite: a database is a file in the test's temporary folder. PostgreSQL: a database is a schema
of its own, ``nxt_<session><random>`` in the database of ``NXLINK_TEST_POSTGRES_URL``, and its
URL is that URL with ``options=-csearch_path=<schema>,public``: every connection made from the
URL, by the store under test, by a test's own observer or by an ``nxlink`` subprocess, lands in
that schema (``public`` holds the ``pg_trgm`` extension, created once). The URL also names the
schema as ``application_name``, so that connections left open when the test ends can be found.

Each test session holds an advisory lock named by its token for as long as it runs; a session
starting drops the ``nxt_*`` schemas whose session is gone (its lock is free), and leaves alone
those of a session still running beside it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

POSTGRES_ENV = "NXLINK_TEST_POSTGRES_URL"
SCHEMA_PREFIX = "nxt_"
#: The first key of the two-key advisory locks the sessions hold (ASCII "nxt").
LOCK_SPACE = 0x6E7874
#: How long a dropped schema may wait for a lock held by a connection the test left open.
LOCK_TIMEOUT = "5s"
#: How long a connection of a process the test stopped may take to go away.
GONE_TIMEOUT_S = 3.0
#: The system catalogs every schema's tables, indexes, triggers and functions add rows to.
#: Each dropped schema leaves thousands of dead rows in them; where autovacuum is off (CI's
#: machine) they pile up over a run, and every later migration and lookup slows (measured:
#: a fresh schema's migrations took 0.45 s with 5 million dead rows in pg_attribute, 0.22 s
#: after a vacuum). The session vacuums them at its start and every VACUUM_EVERY drops.
CATALOGS = ("pg_attribute", "pg_class", "pg_depend", "pg_type", "pg_trigger", "pg_proc",
            "pg_index", "pg_constraint", "pg_attrdef", "pg_namespace", "pg_sequence",
            "pg_statistic", "pg_description")  # fmt: skip
VACUUM_EVERY = 200
#: A test's schema, or a snapshot of it (``nxlink sandbox snapshot``: a schema beside it).
_SCHEMA = re.compile(rf"{SCHEMA_PREFIX}([0-9a-f]{{8}})[0-9a-f]{{12}}(?:__s[0-9a-f]{{16}})?")


class LeakError(AssertionError):
    """A test left a connection to its database open."""


class Backend(ABC):
    """Makes fresh empty databases of one kind and drops them."""

    name: str

    @abstractmethod
    def create(self, folder: Path, name: str) -> str:
        """The URL of a new, empty database. ``folder`` is the test's temporary folder (SQLite
        puts the file there); ``name`` tells the databases of one test apart."""

    @abstractmethod
    def drop(self, url: str) -> None:
        """Remove the database of ``url``, made by :meth:`create`."""

    @abstractmethod
    def exists(self, url: str) -> bool:
        """Whether the database of ``url`` is there: made and not dropped (on SQLite: and
        opened, which creates the file)."""

    @contextmanager
    def database(self, folder: Path, name: str) -> Iterator[str]:
        """A new database for the ``with`` block, dropped after it."""
        url = self.create(folder, name)
        try:
            yield url
        finally:
            self.drop(url)


class SQLiteBackend(Backend):
    name = "sqlite"

    def create(self, folder: Path, name: str) -> str:
        path = folder / f"{name}.db"
        assert not path.exists(), f"{path} exists: give each database of a test its own name"
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(path + suffix).unlink(missing_ok=True)

    def exists(self, url: str) -> bool:
        return Path(url.removeprefix("sqlite:///")).exists()


def with_schema(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` (then ``public``) and are named after it.

    The libpq ``options`` parameter is added to the query, or extended when the URL has one
    (a later ``-c`` of the same setting wins); other parameters are kept. Values are
    percent-encoded (libpq decodes ``%XX`` but not ``+``).
    """
    parts = urlsplit(url)
    option = f"-csearch_path={schema},public"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "options" for key, _ in query):
        query = [(k, f"{v} {option}" if k == "options" else v) for k, v in query]
    else:
        query.append(("options", option))
    query = [(k, v) for k, v in query if k != "application_name"]
    query.append(("application_name", schema))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def schema_of(url: str) -> str:
    """The schema :func:`with_schema` put in ``url``."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key == "application_name" and value.startswith(SCHEMA_PREFIX):
            return value
    raise ValueError(f"not a URL of a test schema: {url}")


class PostgresBackend(Backend):
    """One connection for the session (autocommit): creates and drops the schemas."""

    name = "postgres"

    def __init__(self, base_url: str) -> None:
        import psycopg

        self.base_url = base_url
        self.token = f"{secrets.randbits(31):08x}"
        self._conn = psycopg.connect(base_url, autocommit=True)
        self._run("SELECT pg_advisory_lock(%s, %s)", LOCK_SPACE, int(self.token, 16))
        self._run(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        self._extension("pg_trgm")
        self.swept = self._sweep()
        self._dropped = 0
        self._vacuum()

    def close(self) -> None:
        self._conn.close()  # and with it the session's lock

    def _run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cur = self._conn.execute(sql, params or None)
        return cur.fetchall() if cur.description else []

    def _extension(self, name: str) -> None:
        import psycopg

        # UniqueViolation: another session created it at the same moment.
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            self._run(f"CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA public")

    def _vacuum(self) -> None:
        """Reclaim the dead catalog rows dropped schemas left (see :data:`CATALOGS`)."""
        self._run("VACUUM " + ", ".join(f"pg_catalog.{name}" for name in CATALOGS))

    def _sweep(self) -> list[str]:
        """Drop the schemas of sessions that are gone; return their names."""
        import psycopg

        dropped = []
        for (schema,) in self._run(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY 1",
            SCHEMA_PREFIX.replace("_", r"\_") + "%",
        ):
            found = _SCHEMA.fullmatch(schema)
            if found and found[1] == self.token:
                continue
            key = int(found[1], 16) if found else None
            if (
                key is not None
                and not self._run("SELECT pg_try_advisory_lock(%s, %s)", LOCK_SPACE, key)[0][0]
            ):
                continue  # its session is still running
            try:
                self._run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                dropped.append(schema)
            except psycopg.errors.LockNotAvailable:
                pass  # still in use after all: left for a later session
            finally:
                if key is not None:
                    self._run("SELECT pg_advisory_unlock(%s, %s)", LOCK_SPACE, key)
        return dropped

    def create(self, folder: Path, name: str) -> str:
        schema = f"{SCHEMA_PREFIX}{self.token}{secrets.token_hex(6)}"
        self._run(f'CREATE SCHEMA "{schema}"')
        return with_schema(self.base_url, schema)

    def exists(self, url: str) -> bool:
        return bool(self._run("SELECT 1 FROM pg_namespace WHERE nspname = %s", schema_of(url)))

    def connections(self, schema: str) -> list[int]:
        """Backends still connected through a URL of ``schema``."""
        return [pid for (pid,) in self._run(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND pid <> pg_backend_pid()", schema)]  # fmt: skip

    def drop(self, url: str) -> None:
        """Drop the schema; a connection the test left open is closed, then reported."""
        import psycopg

        schema = schema_of(url)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        leaked = self.connections(schema)
        while leaked and time.monotonic() < deadline:  # a stopped process's may linger
            time.sleep(0.05)
            leaked = self.connections(schema)
        for pid in leaked:
            self._run("SELECT pg_terminate_backend(%s)", pid)
        for (snapshot,) in self._run(  # the test's snapshots (nxlink.store.postgres)
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", schema + r"\_\_s%"
        ):
            self._run(f'DROP SCHEMA IF EXISTS "{snapshot}" CASCADE')
        try:
            self._run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.errors.LockNotAvailable:
            # A connection that does not carry the schema's name holds a lock in it.
            holders = [pid for (pid,) in self._run(
                "SELECT DISTINCT l.pid FROM pg_locks AS l JOIN pg_class AS c "
                "ON c.oid = l.relation JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND l.pid <> pg_backend_pid()", schema)]  # fmt: skip
            for pid in holders:
                self._run("SELECT pg_terminate_backend(%s)", pid)
            self._run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            leaked += holders
        self._dropped += 1
        if self._dropped % VACUUM_EVERY == 0:
            self._vacuum()
        if leaked:
            raise LeakError(
                f"{len(leaked)} connection(s) to schema {schema} were still open when the "
                f"test ended (pids {sorted(leaked)}): a store, observer or process not closed"
            )


def existing(url: str) -> str:
    """``url`` with its database present and empty: a SQLite file is created (an empty file is
    an empty database); a PostgreSQL schema of the fixtures exists already."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).touch()
    return url
