"""``nxlink tasks list`` against the real app in-process: every format, every filter, exit codes."""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import httpx
import pytest
from click.testing import CliRunner, Result

from client.harness import SyncASGITransport
from conftest import Tenant, make_task, make_tenant
from nxlink import Client
from nxlink.cli import main, output
from nxlink.cli.options import ClientOptions
from nxlink.client.resources import TaskIterator
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.store import Store

tasks_cli = importlib.import_module("nxlink.cli.tasks")  # the module, not the command group

T0 = 1_766_275_200  # 2025-12-21T00:00:00Z
LONG = "Survey of every customer who renewed in the last quarter"
QUOTED = 'Collections Ä, "quoted"'

TABLE = """\
name                                      status          contacts  dial progress  answer rate  created
----------------------------------------  --------------  --------  -------------  -----------  --------------------
Survey of every customer who renewed in…  ready           0         -              -            2025-12-21 02:00:00Z
Collections Ä, "quoted"                   paused-balance  10        0.00%          -            2025-12-21 01:00:00Z
Renewal wave 1                            in-progress     1,200     50.00%         50.00%       2025-12-21 00:00:00Z
"""

CSV_HEADER = (
    "id,taskId,saasUserId,userTaskId,other,autoFlowId,autoFlowName,taskStatus,pauseReason,"
    "taskName,taskDesc,taskKeep,startupType,startupAt,shutdownAt,startupBy,routeId,maxCall,"
    "importType,funcFlag,maxRingTime,strategyId,agentGroupId,taskCallbackUrl,createTs,"
    "orderMaxCall,replayInterval,statInfo.id,statInfo.taskId,statInfo.autoFlowId,"
    "statInfo.answerOrderCount,statInfo.finishOrderCount,statInfo.totalOrderCount,"
    "statInfo.dialedOrderCount,statInfo.totalCallElapsed,statInfo.answerCallCount,"
    "statInfo.totalCallCount,statInfo.manualElapsed,statInfo.manualAnswerCount,"
    "statInfo.manualFailCount,statInfo.createTs,statInfo.answerRate,statInfo.dialProgress,"
    "statInfo.finishRate,statInfo.manualAnswerRate,statInfo.avgCallDuration,"
    "statInfo.avgManualDuration"
)


@dataclass
class World:
    tenant: Tenant
    http: httpx.Client
    raw: list[dict[str, Any]]  # the service's own answer, newest first

    def run(
        self,
        *args: str,
        secret: str | None = None,
        env: dict[str, str] | None = None,
        credentials: bool = True,
    ) -> Result:
        head = ["--base-url", "http://testserver"]
        if credentials:
            head += [
                "--access-key",
                self.tenant.access_key,
                "--secret",
                secret or self.tenant.secret,
            ]
        return CliRunner().invoke(
            main, [*head, *args], obj=ClientOptions(http_client=self.http), env=env
        )


@pytest.fixture
def world(store: Store) -> Iterator[World]:
    tenant = make_tenant(store)
    store.insert_tasks(
        tenant.account_id,
        [
            make_task(
                tenant,
                task_id="00000000-0000-4000-8000-000000000001",
                task_name="Renewal wave 1",
                task_status=2,
                create_ts=T0,
                stats={
                    "total_order_count": 1200,
                    "dialed_order_count": 600,
                    "total_call_count": 900,
                    "answer_call_count": 450,
                },
            ),
            make_task(
                tenant,
                task_id="00000000-0000-4000-8000-000000000002",
                task_name=QUOTED,
                task_status=6,
                pause_reason=3,
                create_ts=T0 + 3600,
                stats={"total_order_count": 10},
            ),
            make_task(
                tenant,
                task_id="00000000-0000-4000-8000-000000000003",
                task_name=LONG,
                task_status=1,
                create_ts=T0 + 7200,
            ),
        ],
    )
    app = create_app(Settings(log_requests=False), store=store)  # the real clock, as the CLI's
    with anyio.from_thread.start_blocking_portal() as portal:
        http = httpx.Client(transport=SyncASGITransport(app, portal))
        with Client(
            access_key=tenant.access_key,
            access_secret=tenant.secret,
            base_url="http://testserver",
            http_client=http,
        ) as client:
            answer = [t.to_wire() for t in client.tasks.list(page_size=100).tasks]
        yield World(tenant, http, answer)
        http.close()


def _ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


# -- formats ------------------------------------------------------------------------------------------
def test_table(world: World) -> None:
    result = world.run("tasks", "list", "--format", "table")
    assert _ok(result) == TABLE + "page 1 of 1 (3 tasks)\n"
    assert result.stderr == ""


def test_table_of_a_later_page_and_of_nothing(world: World) -> None:
    second = world.run("tasks", "list", "--format", "table", "--page", "2", "--page-size", "2")
    assert _ok(second) == (
        "name            status       contacts  dial progress  answer rate  created\n"
        "--------------  -----------  --------  -------------  -----------  --------------------\n"
        "Renewal wave 1  in-progress  1,200     50.00%         50.00%       2025-12-21 00:00:00Z\n"
        "page 2 of 2 (3 tasks)\n"
    )
    none = world.run("tasks", "list", "--format", "table", "--name", "nothing like this")
    assert _ok(none) == (
        "name  status  contacts  dial progress  answer rate  created\n"
        "----  ------  --------  -------------  -----------  -------\n"
        "no matching tasks\n"
    )


def test_json(world: World) -> None:
    out = _ok(world.run("tasks", "list", "--format", "json"))
    assert out == json.dumps(world.raw, ensure_ascii=False, indent=2) + "\n"
    assert [t["taskName"] for t in json.loads(out)] == [LONG, QUOTED, "Renewal wave 1"]


def test_json_of_nothing_is_an_empty_array(world: World) -> None:
    assert _ok(world.run("tasks", "list", "--format", "json", "--status", "failed")) == "[]\n"


def test_jsonl_is_the_default_when_piped(world: World) -> None:
    expected = "".join(
        json.dumps(t, ensure_ascii=False, separators=(",", ":")) + "\n" for t in world.raw
    )
    assert _ok(world.run("tasks", "list", "--format", "jsonl")) == expected
    assert _ok(world.run("tasks", "list")) == expected


def test_table_is_the_default_on_a_terminal(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks_cli, "_is_terminal", lambda stream: stream is sys.stdout)
    assert _ok(world.run("tasks", "list")) == TABLE + "page 1 of 1 (3 tasks)\n"


def _flatten(task: dict[str, Any]) -> dict[str, str]:
    flat = {k: "" if v is None else str(v) for k, v in task.items() if k != "statInfo"}
    flat.update({f"statInfo.{k}": "" if v is None else str(v) for k, v in task["statInfo"].items()})
    return flat


def test_csv_loads_back_with_the_csv_module(world: World) -> None:
    out = _ok(world.run("tasks", "list", "--format", "csv"))
    assert out.splitlines()[0] == CSV_HEADER
    assert out.count("\n") == 4
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [_flatten(t) for t in world.raw]
    assert [r["taskName"] for r in rows] == [LONG, QUOTED, "Renewal wave 1"]
    assert [r["statInfo.answerRate"] for r in rows] == ["", "", "50.00%"]
    assert [r["pauseReason"] for r in rows] == ["", "3", ""]
    assert [r["statInfo.totalOrderCount"] for r in rows] == ["0", "10", "1200"]
    assert rows[1]["taskId"] == "00000000-0000-4000-8000-000000000002"
    assert out.splitlines()[2].startswith("2,00000000-0000-4000-8000-000000000002,")
    assert ',"Collections Ä, ""quoted""",' in out.splitlines()[2]


def test_all_walks_every_page(world: World) -> None:
    result = world.run("tasks", "list", "--all", "--page-size", "1", "--format", "csv")
    out = _ok(result)
    assert [r["id"] for r in csv.DictReader(io.StringIO(out))] == ["3", "2", "1"]
    assert result.stderr == ""  # no bar when stderr is not a terminal
    table = world.run("tasks", "list", "--all", "--page-size", "2", "--format", "table")
    assert _ok(table) == TABLE + "3 tasks\n"
    jsonl = world.run("tasks", "list", "--all", "--format", "jsonl", "--status", "in-progress")
    assert [json.loads(line)["taskName"] for line in _ok(jsonl).splitlines()] == ["Renewal wave 1"]


# -- filters ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--name", "RENEWAL"], ["Renewal wave 1"]),
        (["--name", "ä"], [QUOTED]),
        (["--status", "2"], ["Renewal wave 1"]),
        (["--status", "paused-balance"], [QUOTED]),
        (["--status", "READY"], [LONG]),
        (["--created-from", "2025-12-21T01:00:00Z"], [LONG, QUOTED]),
        (["--created-from", "2025-12-21 09:00+08:00"], [LONG, QUOTED]),
        (["--created-from", str(T0 + 3601)], [LONG]),
        (["--created-to", "2025-12-21T01:00"], [QUOTED, "Renewal wave 1"]),
        (["--created-to", "2025-12-21"], [LONG, QUOTED, "Renewal wave 1"]),
        (["--created-to", "2025-12-20"], []),
        (["--created-from", "2025-12-21", "--created-to", str(T0)], ["Renewal wave 1"]),
        (["--min-answer-rate", "50"], ["Renewal wave 1"]),
        (["--max-answer-rate", "49.99"], []),
        (["--min-contacts", "10"], [QUOTED, "Renewal wave 1"]),
        (["--max-contacts", "10"], [LONG, QUOTED]),
        (["--min-contacts", "1", "--max-contacts", "999"], [QUOTED]),
        (["--page", "2", "--page-size", "1"], [QUOTED]),
    ],
)
def test_filters(world: World, args: list[str], names: list[str]) -> None:
    out = _ok(world.run("tasks", "list", "--format", "jsonl", *args))
    assert [json.loads(line)["taskName"] for line in out.splitlines()] == names


# -- exit codes ---------------------------------------------------------------------------------------
def test_api_errors_exit_1_with_message_and_trace_id(world: World) -> None:
    result = world.run("tasks", "list", secret="wrong")
    assert result.exit_code == 1
    assert result.stdout == ""
    message, trace = result.stderr.rsplit("traceId ", 1)
    assert message == "Error: Authentication failed (invalid signature) (code 1003, "
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)\n", trace)


def test_business_errors_exit_1(world: World) -> None:
    result = world.run("tasks", "list", "--min-answer-rate", "60", "--max-answer-rate", "50")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: maxCallsAnsweredRate: must be at least minCallsAnsweredRate (code 20000, traceId "
    )


def test_no_answer_exits_1(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Client, "_sleep", lambda self, seconds: None)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    world.http = httpx.Client(transport=httpx.MockTransport(refuse))
    result = world.run("tasks", "list")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: ConnectError calling http://testserver/openapi/aiagent/task/list: connection refused\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "running"], "Invalid value for '--status': not a task status: 'running'"),
        (["--status", "7"], "Invalid value for '--status': not a task status: '7'"),
        (
            ["--created-from", "yesterday"],
            "Invalid value for '--created-from': 'yesterday' is not a date",
        ),
        (
            ["--created-to", "1767225600000"],
            "Invalid value for '--created-to': 1767225600000 looks like epoch milliseconds",
        ),
        (
            ["--min-answer-rate", "101"],
            "Invalid value for '--min-answer-rate': 101.0 is not in the range 0<=x<=100.",
        ),
        (
            ["--min-contacts", "-1"],
            "Invalid value for '--min-contacts': -1 is not in the range x>=0.",
        ),
        (
            ["--page-size", "1001"],
            "Invalid value for '--page-size': 1001 is not in the range 1<=x<=1000.",
        ),
        (["--page", "0"], "Invalid value for '--page': 0 is not in the range x>=1."),
        (["--all", "--page", "2"], "--page and --all exclude each other"),
        (["--format", "xml"], "Invalid value for '--format': 'xml' is not one of"),
    ],
)
def test_usage_errors_exit_2(world: World, args: list[str], message: str) -> None:
    result = world.run("tasks", "list", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert f"Error: {message}" in result.stderr


def test_missing_credentials_exit_2(world: World) -> None:
    result = world.run(
        "tasks",
        "list",
        credentials=False,
        env={"NXLINK_ACCESS_KEY": "", "NXLINK_ACCESS_SECRET": ""},
    )
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Error: no access key: pass --access-key or set NXLINK_ACCESS_KEY\n"
    )
    no_secret = world.run(
        "tasks",
        "list",
        credentials=False,
        env={"NXLINK_ACCESS_KEY": "AK-1", "NXLINK_ACCESS_SECRET": ""},
    )
    assert no_secret.exit_code == 2
    assert no_secret.stderr.endswith(
        "Error: no secret: pass --secret or set NXLINK_ACCESS_SECRET\n"
    )


def test_credentials_from_the_environment(world: World) -> None:
    env = {
        "NXLINK_ACCESS_KEY": world.tenant.access_key,
        "NXLINK_ACCESS_SECRET": world.tenant.secret,
    }
    result = world.run("tasks", "list", "--format", "table", credentials=False, env=env)
    assert _ok(result) == TABLE + "page 1 of 1 (3 tasks)\n"


# -- where requests go ------------------------------------------------------------------------------
def _where(*args: str, env: dict[str, str] | None = None) -> Result:
    options = ClientOptions()
    result = CliRunner().invoke(
        main,
        [*args, "--access-key", "AK-1", "--secret", "s", "sign", "{}", "--ts", "1"],
        obj=options,
        env=env,
    )
    return result


@pytest.mark.parametrize(
    ("args", "env", "url"),
    [
        ([], {}, "https://api-hk.nxlink.ai"),
        (["--region", "amer"], {}, "https://chl-api.nxlink.ai"),
        (["--region", "IDN"], {}, "https://api-idn.nxlink.ai"),
        (["--base-url", "http://127.0.0.1:8123/"], {}, "http://127.0.0.1:8123"),
        ([], {"NXLINK_BASE_URL": "http://env:1"}, "http://env:1"),
        ([], {"NXLINK_REGION": "idn"}, "https://api-idn.nxlink.ai"),
        ([], {"NXLINK_BASE_URL": "http://env:1", "NXLINK_REGION": "idn"}, "http://env:1"),
        (["--region", "amer"], {"NXLINK_BASE_URL": "http://env:1"}, "https://chl-api.nxlink.ai"),
        (["--base-url", "http://arg:2"], {"NXLINK_REGION": "amer"}, "http://arg:2"),
    ],
)
def test_base_url_and_region(args: list[str], env: dict[str, str], url: str) -> None:
    env = {"NXLINK_BASE_URL": "", "NXLINK_REGION": "", **env}
    result = _where(*args, env=env)
    assert result.exit_code == 0, result.output
    assert f"curl -sS -X POST {url}/openapi/aiagent/task/list \\\n" in result.stdout


def test_base_url_and_region_together_exit_2() -> None:
    result = _where("--base-url", "http://a:1", "--region", "hk")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: give --base-url or --region, not both\n")
    bad = _where("--base-url", "localhost:8000")
    assert bad.exit_code == 2
    assert bad.stderr.endswith(
        "Error: invalid base_url 'localhost:8000': expected http(s)://host[:port]\n"
    )


# -- the progress bar ----------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_counts_tasks_against_the_total(world: World) -> None:
    with Client(
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        base_url="http://testserver",
        http_client=world.http,
    ) as client:
        walk = client.tasks.iter(page_size=2)
        assert isinstance(walk, TaskIterator)
        screen = Terminal()
        names = [t.task_name for t in tasks_cli.with_progress(walk, screen)]
    assert names == [LONG, QUOTED, "Renewal wave 1"]
    drawn = screen.getvalue()
    assert drawn.startswith("\r\x1b[?25ltasks  [")
    assert "]  0/3" in drawn
    assert "]  2/3" in drawn
    assert drawn.endswith("]  3/3\x1b[?25h\n")


# -- wide characters ------------------------------------------------------------------------------
def test_wide_characters_are_measured_in_terminal_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert output.display_width("牛小信 回访 – VIP") == 17
    assert output.display_width("Ä") == output.display_width("A\u0308") == 1
    output.print_table(("name", "n"), [("牛小信 回访", "1"), ("abc", "22")])
    assert capsys.readouterr().out == (
        "name         n\n-----------  --\n牛小信 回访  1\nabc          22\n"
    )


def test_long_names_are_cut_to_40_columns() -> None:
    assert tasks_cli._name("x" * 40) == "x" * 40
    assert tasks_cli._name("x" * 41) == "x" * 39 + "…"
    assert tasks_cli._name("信" * 25) == "信" * 19 + "…"
    assert tasks_cli._name("two\nlines\tand  tabs") == "two lines and tabs"
