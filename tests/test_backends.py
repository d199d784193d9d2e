"""The test databases themselves: fresh, private to their test, dropped after it, and reached
the same way by the test, its store and any process given the URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from backends import POSTGRES_ENV, Backend, LeakError, PostgresBackend, schema_of, with_schema
from db import Observer

#: The URL of the first test below, per backend, for the second to check it was dropped.
_SEEN: dict[str, str] = {}


def test_a_database_is_empty_and_private(
    backend: Backend,
    store_url: str,
    make_store_url: Callable[[str], str],
    db: Observer,
    tmp_path: Path,
) -> None:
    _SEEN[backend.name] = store_url
    if backend.name == "sqlite":
        assert store_url == f"sqlite:///{tmp_path / 'test.db'}"
    else:
        schema = schema_of(store_url)
        assert backend.exists(store_url)
        assert db.scalar("SELECT current_schema()") == schema
        assert db.scalar("SHOW search_path") == f"{schema},public"
    assert db.tables() == []
    db.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
    db.execute("INSERT INTO probe (id, doc) VALUES (?, ?)", 7, '{"a":"50%"}')
    assert db.tables() == ["probe"]
    assert db.rows("SELECT id, doc FROM probe WHERE doc LIKE '%50%'") == [(7, b'{"a":"50%"}')]
    assert db.scalar("SELECT count(*) FROM probe WHERE id = ?", 7) == 1
    assert db.one("SELECT id FROM probe WHERE id = ?", 8) is None
    with Observer(make_store_url("other")) as other:
        assert other.tables() == []


def test_the_database_of_a_test_is_dropped_after_it(backend: Backend) -> None:
    if backend.name not in _SEEN:
        pytest.skip("runs after test_a_database_is_empty_and_private")
    assert not backend.exists(_SEEN[backend.name])


def test_a_process_given_the_url_sees_the_same_database(store_url: str, db: Observer) -> None:
    db.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO probe (id) VALUES (41), (42)")
    code = "import sys; from db import Observer; print(Observer(sys.argv[1]).rows('SELECT id FROM probe ORDER BY id'))"
    tests = str(Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", code, store_url], capture_output=True, text=True,
                         check=True, cwd=tests, timeout=60).stdout  # fmt: skip
    assert out == "[(41,), (42,)]\n"


def test_database_is_dropped_when_the_block_ends(backend: Backend, tmp_path: Path) -> None:
    with backend.database(tmp_path, "block") as url, Observer(url) as observer:
        observer.execute("CREATE TABLE probe (id INTEGER)")
        assert backend.exists(url)
    assert not backend.exists(url)


def test_a_connection_left_open_is_reported_and_closed(backend: Backend, tmp_path: Path) -> None:
    url = backend.create(tmp_path, "leak")
    left_open = Observer(url)
    left_open.execute("CREATE TABLE probe (id INTEGER)")
    if backend.name == "sqlite":  # a file can always be removed
        backend.drop(url)
    else:
        with pytest.raises(LeakError, match=f"schema {schema_of(url)}"):
            backend.drop(url)
    left_open.close()
    assert not backend.exists(url)


def test_with_schema_sets_the_search_path_and_keeps_the_query() -> None:
    base = "postgresql://postgres@127.0.0.1:5432/test"
    assert with_schema(base, "nxt_1") == (
        base + "?options=-csearch_path%3Dnxt_1%2Cpublic&application_name=nxt_1"
    )
    assert with_schema(base + "?sslmode=disable&options=-cwork_mem%3D8MB", "nxt_2") == (
        base + "?sslmode=disable&options=-cwork_mem%3D8MB%20-csearch_path%3Dnxt_2%2Cpublic"
        "&application_name=nxt_2"
    )
    assert schema_of(with_schema(base + "?application_name=mine", "nxt_3")) == "nxt_3"


# Only with a server to try it on (and no skip line in every SQLite-only run).
if os.environ.get(POSTGRES_ENV):

    def test_a_new_session_drops_what_gone_sessions_left_and_keeps_live_ones(
        postgres: PostgresBackend, tmp_path: Path
    ) -> None:
        mine = postgres.create(tmp_path, "mine")
        gone = PostgresBackend(postgres.base_url)
        left = gone.create(tmp_path, "left")
        running = PostgresBackend(postgres.base_url)
        kept = running.create(tmp_path, "kept")
        gone.close()  # died without dropping its schema
        later = PostgresBackend(postgres.base_url)
        try:
            assert schema_of(left) in later.swept
            assert not later.exists(left)
            assert later.exists(kept) and later.exists(mine)
        finally:
            later.close()
            running.drop(kept)
            running.close()
            postgres.drop(mine)
