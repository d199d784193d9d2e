"""Secrets at rest: access secrets sealed under a master key kept outside the database, private
database files, a wrong or missing key refused in one line, rotation, and an older database
sealed in place."""

from __future__ import annotations

import importlib.resources
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from backends import Backend
from db import Observer
from live import NXLINK
from nxlink import signing
from nxlink.cli import main
from nxlink.service import admin
from nxlink.store import MasterKeyError, MasterKeySource, Store, open_store
from nxlink.store.secretbox import ENV_KEY, ENV_KEY_FILE, SecretBox, is_sealed, write_key_file


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "master.key"


def _open(url: str, key_file: Path) -> Store:
    return open_store(url, master_key=MasterKeySource(path=key_file))


def _issue(store: Store, n: int = 3) -> list[admin.IssuedKey]:
    admin.create_account(store, "acme")
    return [admin.create_key(store, "acme") for _ in range(n)]


def _database_bytes(backend: Backend, url: str, db: Observer) -> bytes:
    """Everything the database holds on disk (SQLite: the file and its -wal and -shm), or
    every row of every table as text (PostgreSQL)."""
    if backend.name == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(
            each.read_bytes()
            for each in (path, path.with_name(path.name + "-wal"),
                         path.with_name(path.name + "-shm"))
            if each.exists()
        )  # fmt: skip
    tables = [name for (name,) in db.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]  # fmt: skip
    return "\n".join(repr(db.rows(f"SELECT * FROM {table}")) for table in tables).encode()


def test_the_database_holds_no_secret(
    backend: Backend, store_url: str, db: Observer, key_file: Path
) -> None:
    store = _open(store_url, key_file)
    try:
        issued = _issue(store)
        for key in issued:  # the secrets still sign and verify
            auth = store.key_auth(key.access_key)
            assert auth is not None
            assert auth.secret == key.access_secret
        newest = store.signing_key(issued[0].saas_user_id)
        assert newest is not None
        assert (newest.access_key, newest.secret) == (issued[-1].access_key,
                                                      issued[-1].access_secret)  # fmt: skip
        raw = _database_bytes(backend, store_url, db)
    finally:
        store.close()
    assert raw
    for key in issued:
        assert key.access_secret.encode() not in raw
        assert key.access_key.encode() in raw  # the search does see the table
    stored = [value for (value,) in db.rows("SELECT secret FROM access_keys")]
    assert len(stored) == 3
    assert all(is_sealed(value) for value in stored)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700


def test_a_sealed_value_does_not_open_in_another_row(store_url: str, db: Observer,
                                                     key_file: Path) -> None:  # fmt: skip
    store = _open(store_url, key_file)
    try:
        first, second = _issue(store, 2)
        value = db.one("SELECT secret FROM access_keys WHERE access_key = ?", first.access_key)
        assert value is not None
        with pytest.raises(MasterKeyError, match="does not open"):
            store.open_secret(second.access_key, value[0])
    finally:
        store.close()


def test_sqlite_files_are_private(tmp_path: Path, key_file: Path) -> None:
    path = tmp_path / "private.db"
    store = _open(f"sqlite:///{path}", key_file)
    try:
        _issue(store, 1)
        files = [path, path.with_name("private.db-wal"), path.with_name("private.db-shm")]
        assert [each.exists() for each in files] == [True, True, True]
        assert [stat.S_IMODE(each.stat().st_mode) for each in files] == [0o600] * 3
    finally:
        store.close()


def test_an_existing_readable_sqlite_file_is_made_private(tmp_path: Path, key_file: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    _open(f"sqlite:///{path}", key_file).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- a wrong or missing key --------------------------------------------------------------------


def test_a_wrong_key_is_refused(store_url: str, key_file: Path, tmp_path: Path) -> None:
    store = _open(store_url, key_file)
    try:
        _issue(store, 1)
        key_id = store.secrets.key_id
    finally:
        store.close()
    other = tmp_path / "other.key"
    write_key_file(other, [SecretBox.generate()])
    with pytest.raises(MasterKeyError) as refused:
        _open(store_url, other)
    assert str(refused.value) == (
        f"wrong master key: this database's secrets are sealed under key {key_id}, which "
        f"{ENV_KEY_FILE}={other} does not hold; set {ENV_KEY} or {ENV_KEY_FILE} to the key "
        "it was made with"
    )
    missing = tmp_path / "nowhere.key"
    with pytest.raises(MasterKeyError) as refused:
        _open(store_url, missing)
    assert str(refused.value) == (
        f"no master key: this database's secrets are sealed under key {key_id}, and "
        f"{ENV_KEY_FILE}={missing} does not exist; set {ENV_KEY} or {ENV_KEY_FILE} to the key "
        "it was made with"
    )
    assert not missing.exists()  # a sealed database never makes a new key


def test_a_malformed_key_is_refused(store_url: str) -> None:
    with pytest.raises(MasterKeyError, match=rf"^{ENV_KEY}: not a master key"):
        open_store(store_url, master_key=MasterKeySource(value="not-a-key"))


def test_the_key_from_the_environment(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    box = SecretBox.generate()
    monkeypatch.setenv(ENV_KEY, box.encoded)
    store = open_store(store_url)
    try:
        assert store.secrets.key_id == box.key_id
    finally:
        store.close()


def test_the_command_line_and_the_server_refuse_a_wrong_key_in_one_line(
    store_url: str, key_file: Path, tmp_path: Path
) -> None:
    _open(store_url, key_file).close()
    other = tmp_path / "other.key"
    write_key_file(other, [SecretBox.generate()])
    env = {**os.environ, ENV_KEY_FILE: str(other)}
    result = CliRunner().invoke(main, ["verify-counters", "--db", store_url], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("Error: wrong master key: ")
    assert result.output.count("\n") == 1
    done = subprocess.run([str(NXLINK), "serve", "--db", store_url, "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("Error: wrong master key: ")
    assert done.stderr.count("\n") == 1


# -- rotation ----------------------------------------------------------------------------------


def test_rotation_keeps_every_key_working(store_url: str, db: Observer, key_file: Path) -> None:
    store = _open(store_url, key_file)
    try:
        issued = _issue(store)
        old_id = store.secrets.key_id
        old_values = sorted(value for (value,) in db.rows("SELECT secret FROM access_keys"))
    finally:
        store.close()
    env = {**os.environ, ENV_KEY_FILE: str(key_file)}
    result = CliRunner().invoke(main, ["keys", "rotate-master", "--db", store_url], env=env)
    assert result.exit_code == 0, result.output
    ring = MasterKeySource(path=key_file).load()
    assert [box.key_id for box in ring][1:] == [old_id]  # the new key first, the old one kept
    new_id = ring[0].key_id
    assert result.output == (f"sealed 3 secret(s) under master key {new_id}, kept in {key_file}\n")
    for key in issued:
        assert key.access_secret not in result.output
    assert sorted(value for (value,) in db.rows("SELECT secret FROM access_keys")) != old_values
    assert db.one("SELECT key_id FROM master_key_check") == (new_id,)
    store = _open(store_url, key_file)
    try:
        assert store.secrets.key_id == new_id
        for key in issued:
            auth = store.key_auth(key.access_key)
            assert auth is not None
            headers = signing.headers(access_key=key.access_key, access_secret=auth.secret,
                                      ts="1746583929000", body=b"{}")  # fmt: skip
            assert signing.verify(headers["sign"], access_key=key.access_key,
                                  access_secret=key.access_secret, ts="1746583929000",
                                  body=b"{}", action="nxai", biz_type="100")  # fmt: skip
    finally:
        store.close()
    # The old key alone no longer opens it.
    old_only = key_file.with_name("old-only.key")
    write_key_file(old_only, ring[1:])
    with pytest.raises(MasterKeyError, match=r"^wrong master key"):
        _open(store_url, old_only)


def test_rotation_to_a_new_file_when_the_key_comes_from_the_environment(
    store_url: str, tmp_path: Path
) -> None:
    box = SecretBox.generate()
    env = {**os.environ, ENV_KEY: box.encoded}
    store = open_store(store_url, master_key=MasterKeySource(value=box.encoded))
    try:
        (issued,) = _issue(store, 1)
    finally:
        store.close()
    refused = CliRunner().invoke(main, ["keys", "rotate-master", "--db", store_url], env=env)
    assert refused.exit_code == 1
    assert "give --new-key-file" in refused.output
    target = tmp_path / "next.key"
    done = CliRunner().invoke(
        main, ["keys", "rotate-master", "--db", store_url, "--new-key-file", str(target)], env=env
    )
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    (new,) = MasterKeySource(path=target).load()
    store = open_store(store_url, master_key=MasterKeySource(value=new.encoded))
    try:
        auth = store.key_auth(issued.access_key)
        assert auth is not None
        assert auth.secret == issued.access_secret
    finally:
        store.close()


# -- an older database -------------------------------------------------------------------------


def _at_version_4(url: str, backend: str) -> None:
    """A database as migrations 1 to 4 made it, secrets in plain text."""
    folder = importlib.resources.files("nxlink.store") / "migrations" / backend
    scripts = sorted((entry.name, entry.read_text(encoding="utf-8"))
                     for entry in folder.iterdir() if entry.name.endswith(".sql"))[:4]  # fmt: skip
    record = ("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
              "applied_ts INTEGER NOT NULL)")  # fmt: skip
    rows = [
        "INSERT INTO accounts (id, name, created_ts) VALUES (1, 'acme', 0)",
        "INSERT INTO access_keys (account_id, access_key, secret, created_ts) VALUES "
        "(1, 'AK-1000000000000000001-1001', 'plain0secret0number0one000000001', 0)",
        "INSERT INTO access_keys (account_id, access_key, secret, created_ts) VALUES "
        "(1, 'AK-1000000000000000002-1002', 'plain0secret0number0two000000002', 0)",
    ]
    if backend == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            for _name, script in scripts:
                conn.executescript(script)
            conn.execute(record)
            for number, (name, _) in enumerate(scripts, 1):
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (number, name))
            for row in rows:
                conn.execute(row)
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            for _name, script in scripts:
                conn.execute(script.encode())
            conn.execute(record)
            for number, (name, _) in enumerate(scripts, 1):
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, 0)", (number, name))
            for row in rows:
                conn.execute(row)


def test_an_older_database_is_sealed_in_place(
    backend: Backend, store_url: str, db: Observer, key_file: Path
) -> None:
    _at_version_4(store_url, backend.name)
    if backend.name == "sqlite":
        assert b"plain0secret0number0one" in _database_bytes(backend, store_url, db)
    store = _open(store_url, key_file)
    try:
        auth = store.key_auth("AK-1000000000000000001-1001")
        assert auth is not None
        assert auth.secret == "plain0secret0number0one000000001"
        raw = _database_bytes(backend, store_url, db)
    finally:
        store.close()
    assert b"plain0secret0number" not in raw
    assert all(is_sealed(value) for (value,) in db.rows("SELECT secret FROM access_keys"))
    # Opening it again changes nothing.
    before = db.rows("SELECT access_key, secret FROM access_keys ORDER BY access_key")
    _open(store_url, key_file).close()
    assert db.rows("SELECT access_key, secret FROM access_keys ORDER BY access_key") == before


def test_two_stores_opening_one_older_database_both_read_its_secrets(
    backend: Backend, store_url: str, key_file: Path
) -> None:
    _at_version_4(store_url, backend.name)
    first, second = _open(store_url, key_file), _open(store_url, key_file)
    try:
        for store in (first, second):
            auth = store.key_auth("AK-1000000000000000002-1002")
            assert auth is not None
            assert auth.secret == "plain0secret0number0two000000002"
    finally:
        first.close()
        second.close()
