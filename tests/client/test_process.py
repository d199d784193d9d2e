"""Both clients and the command line against real server processes (flat and ``data`` envelopes).

The server runs as ``nxlink serve`` on a loopback port with the real clock; the client signs with
the system clock, as it would in production.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends import Backend
from client.dataset import CASES, Row, expected, insert_rows
from client.harness import Kind, MakeShell
from conftest import Tenant, make_task, make_tenant
from live import NXLINK, serving
from nxlink.client._auth import system_clock_ms
from nxlink.store import open_store

pytestmark = pytest.mark.slow

BIG = 2500


@dataclass
class Servers:
    urls: dict[str, str]  # envelope -> base URL
    small: Tenant  # the dataset of the filter cases
    big: Tenant  # 2,500 tasks
    big_ids: set[str]


@pytest.fixture(scope="module")
def live_db(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The database of the module's servers, dropped after the module."""
    with backend.database(tmp_path_factory.mktemp("live-db"), "live") as url:
        yield url


@pytest.fixture(scope="module")
def servers(live_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    folder = tmp_path_factory.mktemp("live")
    db = live_db
    store = open_store(db)
    try:
        small = make_tenant(store)
        insert_rows(store, small)
        big = make_tenant(store)
        tasks = [make_task(big, create_ts=1_760_000_000 + i // 4) for i in range(BIG)]
        store.insert_tasks(big.account_id, tasks)
    finally:
        store.close()
    with ExitStack() as stack:
        urls = {
            "flat": stack.enter_context(serving(folder, db)),
            "data": stack.enter_context(serving(folder, db, "--envelope", "data")),
        }
        yield Servers(urls, small, big, {t.task_id for t in tasks})


@pytest.fixture(params=["flat", "data"])
def envelope(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def _shell(
    make_shell: MakeShell,
    kind: Kind,
    servers: Servers,
    envelope: str,
    tenant: Tenant,
    **kwargs: Any,
) -> Any:
    return make_shell(
        kind,
        base_url=servers.urls[envelope],
        access_key=tenant.access_key,
        access_secret=tenant.secret,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("arguments", "predicate"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_filter(
    make_shell: MakeShell,
    servers: Servers,
    kind: Kind,
    envelope: str,
    arguments: dict[str, Any],
    predicate: Callable[[Row], bool],
) -> None:
    shell = _shell(make_shell, kind, servers, envelope, servers.small)
    want = expected(predicate)
    page = shell.list(**arguments, page_size=100)
    assert [t.task_id for t in page.tasks] == want
    assert (page.total, page.page_number, page.page_size) == (len(want), 1, 100)
    assert [t.task_id for t in shell.iter(**arguments, page_size=2)] == want


def test_iter_walks_2500_tasks_in_pages_of_1000(
    make_shell: MakeShell, servers: Servers, kind: Kind, envelope: str
) -> None:
    shell = _shell(make_shell, kind, servers, envelope, servers.big)
    walked = shell.iter(page_size=1000)
    assert len(walked) == BIG
    assert {t.task_id for t in walked} == servers.big_ids
    keys = [(t.create_ts, t.id) for t in walked]
    assert keys == sorted(keys, reverse=True)
    bodies = [json.loads(r.content) for r in shell.requests]
    assert [(b["pageNumber"], b["pageSize"]) for b in bodies] == [(1, 1000), (2, 1000), (3, 1000)]


def test_a_wrong_clock_is_corrected_against_the_real_server(
    make_shell: MakeShell, servers: Servers, kind: Kind
) -> None:
    shell = _shell(
        make_shell,
        kind,
        servers,
        "flat",
        servers.small,
        clock=lambda: system_clock_ms() - 300_000,
        max_retries=0,
    )
    assert shell.list().total == len(expected(lambda r: True))
    assert len(shell.requests) == 2
    # The offset is the server's clock minus ours, measured over loopback: 300 s give or take.
    assert 299_000 <= shell.client.clock_offset_ms <= 301_000


def _cli(
    servers: Servers,
    *args: str,
    tenant: Tenant | None = None,
    shell: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    who = tenant or servers.big
    env = {
        **os.environ,
        "NXLINK_BASE_URL": servers.urls["flat"],
        "NXLINK_ACCESS_KEY": who.access_key,
        "NXLINK_ACCESS_SECRET": who.secret,
    }
    command: list[str] = ["bash", "-c", shell] if shell else [str(NXLINK), *args]
    env["PATH"] = f"{NXLINK.parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, cwd=cwd, check=False
    )


def test_cli_all_as_csv_writes_every_task(servers: Servers) -> None:
    result = _cli(servers, "tasks", "list", "--all", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == BIG
    assert {r["taskId"] for r in rows} == servers.big_ids


def test_cli_formats_against_the_real_server(servers: Servers) -> None:
    jsonl = _cli(
        servers,
        "tasks",
        "list",
        "--status",
        "in-progress",
        "--page-size",
        "100",
        tenant=servers.small,
    )
    assert jsonl.returncode == 0, jsonl.stderr
    names = [json.loads(line)["taskName"] for line in jsonl.stdout.splitlines()]
    assert names == ["Reminder", "Reminder", "renewal wave 2", "Renewal wave 1"]
    table = _cli(
        servers, "tasks", "list", "--format", "table", "--name", "survey", tenant=servers.small
    )
    assert table.stdout.splitlines()[0].split() == [
        "name",
        "status",
        "contacts",
        "dial",
        "progress",
        "answer",
        "rate",
        "created",
    ]
    assert table.stdout.splitlines()[-1] == "page 1 of 1 (2 tasks)"


def test_cli_api_error_exits_1_with_trace_id(servers: Servers) -> None:
    env_tenant = Tenant(**{**servers.small.__dict__, "secret": "wrong"})
    result = _cli(servers, "tasks", "list", tenant=env_tenant)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "Error: Authentication failed (invalid signature) (code 1003, traceId "
    )


def test_cli_stops_quietly_when_the_reader_goes_away(servers: Servers) -> None:
    result = _cli(
        servers,
        shell='nxlink tasks list --all --format jsonl | head -n 1; echo "status=${PIPESTATUS[0]}"',
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["taskId"] in servers.big_ids
    assert lines[1] == "status=141"
    assert result.stderr == ""
