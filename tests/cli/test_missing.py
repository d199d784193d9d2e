"""A database that is not there, and extras that are not installed: one clear line each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nxlink.cli import main

#: Every command that only reads the database, or works on what must already be in it.
READERS = [
    ("verify-counters",),
    ("accounts", "list"),
    ("accounts", "topup", "acme", "--amount", "100"),
    ("keys", "list"),
    ("keys", "create", "--account", "acme"),
    ("keys", "revoke", "AK-1"),
    ("flows", "create", "--account", "acme", "--name", "f"),
    ("flows", "disable", "1"),
    ("routes", "disable", "R1"),
    ("seed", "--account", "acme", "--tasks", "1"),
    ("callbacks", "list"),
    ("callbacks", "retry", "1"),
    ("db", "current"),
    ("worker", "--simulate"),
    ("simulate", "--for", "1"),
]


@pytest.mark.parametrize("args", READERS, ids=lambda args: " ".join(args[:2]))
def test_a_reader_refuses_a_missing_file_and_creates_none(tmp_path: Path, args: tuple[str]) -> None:
    path = tmp_path / "typo.db"
    result = CliRunner().invoke(main, [*args, "--db", f"sqlite:///{path}"])
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: no database at {path} (sqlite:///{path}): point at yours with --db URL or "
        "NXLINK_DB=URL (nxlink accounts create NAME makes a new one)\n"
    )
    assert not path.exists()


def test_the_environment_variable_is_named_too(tmp_path: Path) -> None:
    path = tmp_path / "env.db"
    result = CliRunner().invoke(main, ["verify-counters"], env={"NXLINK_DB": f"sqlite:///{path}"})
    assert result.exit_code == 1
    assert f"no database at {path}" in result.output
    assert not path.exists()


def test_db_copy_refuses_a_missing_source(tmp_path: Path) -> None:
    source, target = tmp_path / "gone.db", tmp_path / "new.db"
    result = CliRunner().invoke(
        main, ["db", "copy", "--from", f"sqlite:///{source}", "--to", f"sqlite:///{target}"]
    )
    assert result.exit_code == 1
    assert f"no database at {source}" in result.output
    assert not source.exists()
    assert not target.exists()


def test_creating_an_account_creates_the_database(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    result = CliRunner().invoke(main, ["accounts", "create", "acme", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    assert path.exists()
    listed = CliRunner().invoke(main, ["accounts", "list", "--db", f"sqlite:///{path}"])
    assert listed.exit_code == 0
    assert "acme" in listed.output


def test_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    assert path.exists()


# -- extras -------------------------------------------------------------------------------------
def _console(blocked: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The console script's entry in a fresh interpreter where ``blocked`` modules cannot be
    imported (as when their extra is not installed)."""
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from nxlink._console import main\n"
        f"sys.argv = ['nxlink', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_without_the_cli_extra_it_names_the_extra() -> None:
    done = _console(["click"], "--help")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "nxlink: the command line needs the 'cli' extra: pip install 'nxlink[cli]' "
        "(and 'nxlink[server]' to serve or administer a database)\n"
    )


SERVER_MODULES = ["orjson", "starlette", "uvicorn", "pydantic_settings"]


def test_client_commands_need_only_the_cli_extra() -> None:
    done = _console(SERVER_MODULES, "--help")
    assert done.returncode == 0, done.stderr
    assert "tasks" in done.stdout
    # It gets as far as the network: the client runs without the server's modules.
    done = _console(
        SERVER_MODULES, "--base-url", "http://127.0.0.1:9", "--access-key", "AK-1",
        "--secret", "s", "tasks", "list",
    )  # fmt: skip
    assert done.returncode == 1
    assert "ConnectError calling http://127.0.0.1:9/openapi/aiagent/task/list" in done.stderr


@pytest.mark.parametrize(
    ("args", "module"),
    [(("verify-counters",), "orjson"), (("accounts", "list"), "orjson"), (("serve",), "uvicorn")],
)
def test_database_commands_name_the_server_extra(args: tuple[str], module: str) -> None:
    done = _console(SERVER_MODULES, *args)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: this command needs the 'server' extra (missing module {module}): "
        "pip install 'nxlink[server]'\n"
    )
