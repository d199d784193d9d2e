"""A test's own connection to the database under test, on SQLite or PostgreSQL alike."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from types import TracebackType
from typing import Any

#: Columns holding JSON bytes: SQLite gives them as text or bytes, PostgreSQL as text, bytes or
#: a memoryview; an observer gives them as bytes.
BYTES_COLUMNS = frozenset({"doc", "body"})
_PLACEHOLDER = re.compile(r"%|\?")


class Observer:
    """A connection of the test's own, beside the code under test: autocommit, so that each
    statement reads the newest committed state and no snapshot is held between them.

    SQL is written once for both backends, with ``?`` placeholders (turned into ``%s`` for
    psycopg, and a literal ``%`` into ``%%``). The connection is opened at the first statement.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = url.split(":", 1)[0].lower()
        if scheme == "sqlite":
            self.backend = "sqlite"
        elif scheme in ("postgresql", "postgres"):
            self.backend = "postgres"
        else:
            raise ValueError(f"no observer for {url!r}")
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            if self.backend == "sqlite":
                path = self.url.removeprefix("sqlite:///")
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 10000")
            else:
                import psycopg

                # The URL's options carry the test's search_path.
                conn = psycopg.connect(self.url, autocommit=True)
            self._conn = conn
        return self._conn

    def _sql(self, sql: str) -> str:
        if self.backend == "sqlite":
            return sql
        return _PLACEHOLDER.sub(lambda m: "%%" if m[0] == "%" else "%s", sql)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Every row of a statement."""
        cur = self._connection().execute(self._sql(sql), params)
        if cur.description is None:
            return []
        names = [column[0] for column in cur.description]
        return [_normal(names, row) for row in cur.fetchall()]

    def one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        """The first row, or None."""
        found = self.rows(sql, *params)
        return found[0] if found else None

    def scalar(self, sql: str, *params: Any) -> Any:
        """The first column of the first row (there must be a row)."""
        row = self.one(sql, *params)
        assert row is not None, f"no row: {sql}"
        return row[0]

    def execute(self, sql: str, *params: Any) -> int:
        """Run a statement that writes (committed at once); return the rows it changed."""
        cur = self._connection().execute(self._sql(sql), params)
        if cur.description is not None:
            cur.fetchall()
        count: int = cur.rowcount
        return count

    def tables(self) -> list[str]:
        """The user tables of the database (on PostgreSQL: of the URL's schema), by name."""
        if self.backend == "sqlite":
            sql = ("SELECT name FROM sqlite_master WHERE type = 'table' "
                   "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                   "AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name")  # fmt: skip
        else:
            sql = ("SELECT table_name FROM information_schema.tables "
                   "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
                   "ORDER BY table_name")  # fmt: skip
        return [name for (name,) in self.rows(sql)]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Observer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _normal(names: Sequence[str], row: Sequence[Any]) -> tuple[Any, ...]:
    values = []
    for name, value in zip(names, row, strict=True):
        if isinstance(value, memoryview):
            value = value.tobytes()
        elif isinstance(value, str) and name in BYTES_COLUMNS:
            value = value.encode()
        values.append(value)
    return tuple(values)
