"""The README documents every command, and its examples run as written.

Every command of ``nxlink`` has help text with an example and appears in README.md by its full
name. The Python blocks of "Python client" and the ``nxlink`` lines of "nxlink tasks and nxlink
sign" run against a real server process with the environment the README tells you to set.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from backends import Backend
from conftest import make_tenant
from live import NXLINK, serving
from nxlink.cli import main
from nxlink.service.seeding import seed_account
from nxlink.store import open_store

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        yield full, command
        if isinstance(command, click.Group):
            yield from _commands(command, full)


COMMANDS = list(_commands(main, "nxlink"))
LEAVES = [(name, command) for name, command in COMMANDS if not isinstance(command, click.Group)]


def test_the_command_tree() -> None:
    assert [name for name, _ in LEAVES] == [
        "nxlink accounts create",
        "nxlink accounts list",
        "nxlink accounts set-callbacks",
        "nxlink accounts topup",
        "nxlink api",
        "nxlink callbacks list",
        "nxlink callbacks listen",
        "nxlink callbacks retry",
        "nxlink db copy",
        "nxlink db current",
        "nxlink db upgrade",
        "nxlink flows create",
        "nxlink flows disable",
        "nxlink flows enable",
        "nxlink keys create",
        "nxlink keys list",
        "nxlink keys revoke",
        "nxlink keys rotate-master",
        "nxlink routes create",
        "nxlink routes disable",
        "nxlink routes enable",
        "nxlink sandbox advance",
        "nxlink sandbox callback-faults add",
        "nxlink sandbox callback-faults clear",
        "nxlink sandbox callback-faults list",
        "nxlink sandbox callback-faults remove",
        "nxlink sandbox clock",
        "nxlink sandbox deliveries",
        "nxlink sandbox faults add",
        "nxlink sandbox faults clear",
        "nxlink sandbox faults list",
        "nxlink sandbox faults remove",
        "nxlink sandbox journal",
        "nxlink sandbox reset",
        "nxlink sandbox restore",
        "nxlink sandbox sink",
        "nxlink sandbox snapshot",
        "nxlink sandbox snapshots",
        "nxlink seed",
        "nxlink serve",
        "nxlink sign",
        "nxlink simulate",
        "nxlink tasks list",
        "nxlink verify-counters",
        "nxlink worker",
    ]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_has_help(name: str, command: click.Command) -> None:
    assert command.help and command.help.strip(), name
    result = CliRunner().invoke(main, [*name.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    summary = " ".join(command.help.strip().splitlines()[0].split())
    assert summary in " ".join(result.output.split())


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[name for name, _ in LEAVES])
def test_every_command_has_an_example_and_is_in_the_readme(
    name: str, command: click.Command
) -> None:
    assert command.help is not None
    assert re.search(rf"(?m)^\s*(Example: )?{re.escape(name)}( |$)", command.help), command.help
    assert f"`{name}" in README, f"{name} is not in README.md"


def test_every_global_option_is_in_the_readme() -> None:
    for option in ("--base-url", "--region", "--access-key", "--secret", "--admin-token"):
        assert option in README
    for variable in (
        "NXLINK_BASE_URL",
        "NXLINK_REGION",
        "NXLINK_ACCESS_KEY",
        "NXLINK_ACCESS_SECRET",
        "NXLINK_ADMIN_TOKEN",
    ):
        assert variable in README


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"(?ms)^```{language}\n(.*?)^```$", text)


PYTHON_BLOCKS = _blocks(_section("Python client"), "python")
CLI_LINES = [
    line
    for block in _blocks(_section("nxlink tasks and nxlink sign"), "sh")
    for line in block.splitlines()
    if line.startswith("nxlink ")
]


def test_the_readme_has_examples() -> None:
    assert len(PYTHON_BLOCKS) == 6
    assert len(CLI_LINES) == 6


@pytest.fixture(scope="module")
def live(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("readme")
    with backend.database(folder, "readme") as db:
        store = open_store(db)
        try:
            tenant = make_tenant(store, "readme")
            seed_account(store, "readme", count=1500, seed=3)
        finally:
            store.close()
        with serving(folder, db) as base:
            yield {
                **os.environ,
                "PATH": f"{NXLINK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "NXLINK_BASE_URL": base,
                "NXLINK_ACCESS_KEY": tenant.access_key,
                "NXLINK_ACCESS_SECRET": tenant.secret,
            }


@pytest.mark.slow
@pytest.mark.parametrize(
    "code", PYTHON_BLOCKS, ids=[f"python-{i}" for i in range(len(PYTHON_BLOCKS))]
)
def test_python_examples_run_as_written(live: dict[str, str], code: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=live,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout or result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("line", CLI_LINES, ids=[f"sh-{i}" for i in range(len(CLI_LINES))])
def test_cli_examples_run_as_written(live: dict[str, str], line: str, tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        text=True,
        env=live,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (line, result.stderr)
    assert result.stderr == ""
    if "> tasks.csv" in line:
        with (tmp_path / "tasks.csv").open(newline="") as written:
            assert len(list(csv.DictReader(written))) == 1500
    else:
        assert result.stdout


def test_the_readme_has_the_per_result_table_of_the_code() -> None:
    from nxlink.contract.callrecord import CALL_ENDINGS, TRANSFER_NOT_ANSWERED, call_status

    for result, ending in CALL_ENDINGS.items():
        reasons = ", ".join(f"`{reason}`" for reason in ending.hangup_reasons)
        if result == 17:
            reasons += f"; `{TRANSFER_NOT_ANSWERED}` when no human answered"
        row = (f"| {result} | {ending.meaning} | {call_status(result)} | `{ending.sip_code}` "
               f"| {reasons} |")  # fmt: skip
        assert row in README, row
