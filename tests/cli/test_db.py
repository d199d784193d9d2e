"""``nxlink db current`` and ``nxlink db upgrade`` on both backends, and the one line every
command prints for a database it cannot open: an unknown scheme, a server not listening, a
refused password, a missing database (exit 1, no traceback, the password masked)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from backends import existing
from live import NXLINK, free_port
from nxlink.cli import main
from nxlink.store import open_store
from pgcluster import Cluster, server_bin

PASSWORD = "s3cret-Pa55"


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_current_and_upgrade_from_empty(store_url: str) -> None:
    existing(store_url)
    store = open_store(store_url, migrate=False)
    try:
        known = store.known_migrations()
    finally:
        store.close()
    names = [name for _, name in known]
    latest = known[-1][0]
    assert _invoke("db", "current", "--db", store_url) == (
        f"0 (latest known: {latest}; {len(names)} pending: run nxlink db upgrade)\n"
    )
    assert _invoke("db", "upgrade", "--db", store_url).splitlines() == [
        *(f"applied {name}" for name in names),
        f"now at {latest}",
    ]
    assert _invoke("db", "upgrade", "--db", store_url) == f"up to date at {latest}\n"
    assert _invoke("db", "current", "--db", store_url) == f"{latest} (latest known: {latest})\n"
    # Any other command opens an up-to-date database as it is.
    assert "saasUserId" in _invoke("accounts", "list", "--db", store_url)


def test_every_other_command_upgrades_as_needed(store_url: str) -> None:
    _invoke("accounts", "create", "acme", "--db", store_url)
    output = _invoke("db", "current", "--db", store_url)
    version = int(output.split()[0])
    assert output == f"{version} (latest known: {version})\n"


# -- databases that cannot be opened: one line, exit 1 ----------------------------------------


def _refusal(url: str) -> str:
    """``nxlink accounts list --db URL`` in a process of its own; its one line of stderr."""
    done = subprocess.run(
        [str(NXLINK), "accounts", "list", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NXLINK_DB_POOL_TIMEOUT_S": "5"},
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_an_unknown_scheme() -> None:
    line = _refusal(f"mysql://app:{PASSWORD}@db.example:3306/nx")
    assert line == ("Error: unsupported database URL 'mysql://app:***@db.example:3306/nx': "
                    "expected sqlite:///PATH or postgresql://USER@HOST/DATABASE")  # fmt: skip


def test_a_server_that_is_not_listening() -> None:
    port = free_port()  # nothing listens there
    line = _refusal(f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/nx")
    assert (
        line
        == f"Error: postgresql://app:***@127.0.0.1:{port}/nx: cannot connect (connection refused)"
    )


def test_a_password_in_the_query_is_masked_too() -> None:
    port = free_port()
    line = _refusal(f"postgresql://127.0.0.1:{port}/nx?user=app&password={PASSWORD}")
    assert PASSWORD not in line
    assert line == (f"Error: postgresql://127.0.0.1:{port}/nx?user=app&password=***: "
                    "cannot connect (connection refused)")  # fmt: skip


def test_a_missing_database(postgres_url: str) -> None:
    name = f"nxlink_missing_{secrets.token_hex(4)}"
    parts = urlsplit(postgres_url)
    url = urlunsplit(parts._replace(path=f"/{name}", query=""))
    line = _refusal(url)
    assert line == f'Error: {url}: cannot connect (database "{name}" does not exist)'


@pytest.fixture(scope="module")
def guarded() -> Iterator[Cluster]:
    """A server of its own that wants a password (scram-sha-256)."""
    if server_bin() is None:
        if os.environ.get("NXLINK_TEST_REQUIRE_POSTGRES"):
            pytest.fail("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    with Cluster(password=PASSWORD) as cluster:
        yield cluster


def test_a_wrong_password(guarded: Cluster) -> None:
    url = guarded.url().replace(f":{PASSWORD}@", ":not-the-password@")
    line = _refusal(url)
    assert "not-the-password" not in line
    assert line == (f"Error: postgresql://postgres:***@127.0.0.1:{guarded.port}/postgres: "
                    'cannot connect (password authentication failed for user "postgres")')  # fmt: skip
    # No password at all is refused the same way, in one line.
    line = _refusal(guarded.url().replace(f":{PASSWORD}@", "@"))
    assert line.startswith(f"Error: postgresql://postgres@127.0.0.1:{guarded.port}/postgres: "
                           "cannot connect (")  # fmt: skip
    # The right one opens it.
    done = subprocess.run([str(NXLINK), "accounts", "list", "--db", guarded.url()],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from nxlink.store import StoreError

    monkeypatch.delitem(sys.modules, "nxlink.store.postgres", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # import fails
    with pytest.raises(StoreError) as info:
        open_store(f"postgresql://app:{PASSWORD}@127.0.0.1:1/nx")
    assert str(info.value) == ("postgresql://app:***@127.0.0.1:1/nx: the PostgreSQL driver is "
                               "missing (psycopg_pool): install nxlink[postgres]")  # fmt: skip
