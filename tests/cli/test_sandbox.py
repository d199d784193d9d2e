"""``nxlink sandbox …`` against the real app in-process: the global ``--admin-token``, text
and ``--json`` answers, exit 1 on a refusal, 2 on bad usage."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import anyio.from_thread
import httpx
import pytest
from click.testing import CliRunner, Result

from client.harness import SyncASGITransport
from conftest import Tenant, make_tenant, sign_md5
from nxlink.cli import main
from nxlink.cli.options import ClientOptions
from nxlink.contract.endpoints import API_PREFIX
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.store import Store

TOKEN = "cli-sandbox-token"


@dataclass
class World:
    tenant: Tenant
    http: httpx.Client

    def post(self, path: str, body: bytes) -> None:
        ts = str(time.time_ns() // 1_000_000)
        key = self.tenant.access_key
        headers = {"Content-Type": "application/json", "accessKey": key, "ts": ts,
                   "bizType": "100", "action": "nxai",
                   "sign": sign_md5(key, self.tenant.secret, ts, body)}  # fmt: skip
        self.http.post("http://testserver" + API_PREFIX + path, content=body, headers=headers)

    def run(self, *args: str, token: str | None = TOKEN) -> Result:
        head = ["--base-url", "http://testserver"]
        if token is not None:
            head += ["--admin-token", token]
        return CliRunner().invoke(main, [*head, "sandbox", *args],
                                  obj=ClientOptions(http_client=self.http))  # fmt: skip


@pytest.fixture
def world(store: Store) -> Iterator[World]:
    tenant = make_tenant(store)
    app = create_app(Settings(log_requests=False, admin_token=TOKEN), store=store)
    with anyio.from_thread.start_blocking_portal() as portal:
        http = httpx.Client(transport=SyncASGITransport(app, portal))
        yield World(tenant, http)
        http.close()


def test_journal_count_list_and_clear(world: World) -> None:
    world.post("task/list", b'{"pageSize":5}')
    world.post("task/list", b'{"pageSize":5000}')
    world.post("flow/list", b"{}")
    counted = world.run("journal", "--path", "task/list", "--count")
    assert (counted.exit_code, counted.output) == (0, "2\n")
    assert world.run("journal", "--code", "20000", "--count", "--json").output == (
        '{\n  "count": 1\n}\n'
    )
    listed = world.run("journal", "--path", "task/list")
    lines = listed.output.splitlines()
    assert listed.exit_code == 0 and len(lines) == 3
    assert "POST /openapi/aiagent/task/list  HTTP 200 code 0" in lines[0]
    assert lines[0].lstrip().startswith("1  ")
    assert lines[2] == "2 of 2 matching request(s)"
    as_json = json.loads(world.run("journal", "--json", "--limit", "1").output)
    assert as_json["total"] == 3 and [e["path"] for e in as_json["list"]] == [
        API_PREFIX + "flow/list"
    ]
    assert as_json["list"][0]["accessKey"] == world.tenant.access_key
    cleared = world.run("journal", "--clear")
    assert (cleared.exit_code, cleared.output) == (0, "cleared 3 request(s)\n")
    assert world.run("journal", "--count").output == "0\n"


def test_a_wrong_token_exits_1_with_the_server_message(world: World) -> None:
    result = world.run("journal", "--count", token="not-the-token")
    assert result.exit_code == 1
    assert result.output.startswith("Error: Authorization: wrong admin token (code 20000, HTTP 401")


def test_no_token_is_a_usage_error(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NXLINK_ADMIN_TOKEN", raising=False)
    result = world.run("journal", token=None)
    assert result.exit_code == 2
    assert "no admin token: pass --admin-token or set NXLINK_ADMIN_TOKEN" in result.output


def test_a_bad_filter_exits_1_naming_it(world: World) -> None:
    result = world.run("journal", "--path", "task/lst", "--count")
    assert result.exit_code == 1
    assert result.output.startswith("Error: path: no such endpoint 'task/lst'; expected one of ")


def test_clear_takes_no_filter(world: World) -> None:
    result = world.run("journal", "--clear", "--code", "0")
    assert result.exit_code == 2
    assert "--clear empties the whole journal: give it alone" in result.output


def test_clock_freeze_advance_and_speed(world: World, store: Store) -> None:
    from nxlink.service import admin as admin_service

    admin_service.top_up(store, world.tenant.name, 10**6)
    frozen = world.run("clock", "--freeze", "--now", "1767225600000")
    assert (frozen.exit_code, frozen.output) == (
        0,
        "2026-01-01 00:00:00.000 UTC, speed 1x, frozen\n",
    )
    body = json.dumps({"taskName": "cli", "autoFlowId": world.tenant.flow_id,
                       "routeId": world.tenant.route_id, "taskKeep": 0, "startupType": 3,
                       "list": [{"contactId": "a", "phoneNumber": "+85291555001"}]}).encode()  # fmt: skip
    world.post("task/create", body)
    moved = world.run("advance", "1h")
    lines = moved.output.splitlines()
    assert moved.exit_code == 0, moved.output
    assert lines[0] == ("2026-01-01 00:00:00.000 -> 2026-01-01 01:00:00.000 UTC: 1 call(s) placed, "
                        "1 ended, 1 status change(s), 0 callback(s) enqueued")  # fmt: skip
    assert lines[1].startswith("  task ") and ": 2 -> 3 at 2026-01-01 00:" in lines[1]
    as_json = json.loads(world.run("advance", "90s", "--json").output)
    assert (as_json["from"], as_json["to"]) == (1767229200000, 1767229290000)
    shown = json.loads(world.run("clock", "--json").output)
    assert shown == {"now": 1767229290000, "speed": 1.0, "frozen": True}
    running = world.run("clock", "--speed", "60", "--unfreeze")
    assert running.output == "2026-01-01 01:01:30.000 UTC, speed 60x, running\n"


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["advance", "soon"], 2, "duration: expected e.g. 90s, 15m, 1h, 2d or 1h30m, got 'soon'"),
        (["advance", "0s"], 1, "Error: seconds: must be from 1 to 31622400, got 0"),
        (["clock", "--speed", "0"], 2, "0<x<=100000"),
    ],
)
def test_bad_clock_input(world: World, args: list[str], exit_code: int, message: str) -> None:
    result = world.run(*args)
    assert result.exit_code == exit_code
    assert message in result.output


def test_reset_snapshot_restore_and_list(world: World, store: Store) -> None:
    world.post("task/create", json.dumps({
        "taskName": "kept", "autoFlowId": world.tenant.flow_id, "routeId": world.tenant.route_id,
        "taskKeep": 0, "startupType": 1}).encode())  # fmt: skip
    assert store.count_tasks(world.tenant.account_id) == 1
    taken = world.run("snapshot", "one")
    assert taken.exit_code == 0, taken.output
    assert taken.output.startswith("took snapshot one  ") and "  1 task(s)  schema " in taken.output
    listed = world.run("snapshots", "--json")
    assert [s["name"] for s in json.loads(listed.output)["list"]] == ["one"]
    reset = world.run("reset", "--account", world.tenant.name)
    assert (reset.exit_code, reset.output) == (0, (
        f"reset {world.tenant.name}: deleted 1 tasks, 0 orders, 0 calls, 0 callbacks, "
        "1 replays, 0 keys, 0 flows, 0 routes, 1 journal\n"))  # fmt: skip
    assert store.count_tasks(world.tenant.account_id) == 0
    restored = world.run("restore", "one", "--json")
    assert restored.exit_code == 0
    assert json.loads(restored.output)["tasks"] == 1
    assert store.count_tasks(world.tenant.account_id) == 1
    everything = json.loads(world.run("reset", "--all", "--catalog", "--json").output)
    assert everything["accounts"] == [world.tenant.name]
    assert everything["deleted"]["keys"] == 1 and everything["deleted"]["tasks"] == 1
    deleted = world.run("snapshot", "one", "--delete")
    assert (deleted.exit_code, deleted.output) == (0, "deleted snapshot one\n")
    assert world.run("snapshots").output == "0 snapshot(s)\n"


def test_snapshot_refusals_exit_1_naming_what_is_wrong(world: World, store: Store) -> None:
    missing = world.run("restore", "nope")
    assert missing.exit_code == 1
    assert missing.output.startswith("Error: snapshot 'nope': no such snapshot (code 20000, "
                                     "HTTP 404")  # fmt: skip
    bad = world.run("snapshot", "a.b")
    assert bad.exit_code == 1 and "snapshot name 'a.b': expected 1 to 64" in bad.output
    unknown = world.run("reset", "--account", "nobody")
    assert unknown.exit_code == 1
    assert unknown.output.startswith("Error: account 'nobody': no such account")
    wrong = world.run("restore", "nope", token="not-the-token")
    assert wrong.exit_code == 1 and "wrong admin token" in wrong.output
    assert store.list_snapshots() == []


@pytest.mark.parametrize("args", [(), ("--account", "x", "--all")])
def test_reset_needs_one_of_account_and_all(world: World, args: tuple[str, ...]) -> None:
    result = world.run("reset", *args)
    assert result.exit_code == 2
    assert "give --account NAME or --all (one of them)" in result.output


def test_sink_list_json_and_clear(world: World) -> None:
    from nxlink import signing

    body = b'{"eventType":"task.status","taskStatus":3}'
    headers = signing.headers(access_key=world.tenant.access_key, access_secret=world.tenant.secret,
                              ts="1", body=body)  # fmt: skip
    world.http.post("http://testserver/_nxlink/sink/hooks", content=body,
                    headers={**headers, "X-Nxlink-Event-Id": "ev-1"})  # fmt: skip
    world.http.post("http://testserver/_nxlink/sink/hooks", content=body,
                    headers={**headers, "sign": "f" * 32})  # fmt: skip
    world.http.post(
        "http://testserver/_nxlink/sink/hooks",
        content=body,
        headers={"Content-Type": "application/json", "X-Nxlink-Event-Id": "ev-3"},
    )
    listed = world.run("sink", "hooks")
    lines = listed.output.splitlines()
    assert listed.exit_code == 0 and len(lines) == 4
    assert lines[0].endswith('  ev-1  signed  {"eventType": "task.status", "taskStatus": 3}')
    assert "  -  NOT SIGNED (sign: does not match the body and the key)  " in lines[1]
    assert lines[2].endswith('  ev-3  unsigned  {"eventType": "task.status", "taskStatus": 3}')
    assert lines[3] == "3 of 3 callback(s) in sink hooks"
    as_json = json.loads(world.run("sink", "hooks", "--limit", "1", "--json").output)
    assert as_json["total"] == 3 and as_json["list"][0]["signatureValid"] is False
    assert world.run("sink", "hooks", "--clear").output == "cleared 3 callback(s)\n"
    bad = world.run("sink", "a b")
    assert bad.exit_code == 1
    assert "name: must be 1 to 64 of A-Z a-z 0-9 _ . -, got 'a b'" in bad.output


def test_callback_faults_add_list_remove_clear(world: World) -> None:
    added = world.run("callback-faults", "add", "--url", "/sink/flaky", "--fail-first", "2",
                      "--status", "503", "--delay", "100")  # fmt: skip
    assert added.exit_code == 0, added.output
    line = (
        "URLs containing '/sink/flaky': first 2 tries fail as HTTP 503; "
        "wait 100 ms before each POST"
    )
    assert added.output.strip().endswith(line)
    fault_id = int(added.output.split()[0])
    assert world.run("callback-faults", "list").output == (
        f"{fault_id:>4}  {line}\n1 callback fault(s)\n"
    )
    listed = json.loads(world.run("callback-faults", "list", "--json").output)
    assert [f["id"] for f in listed] == [fault_id]
    removed = world.run("callback-faults", "remove", str(fault_id))
    assert removed.output == f"removed callback fault {fault_id}\n"
    again = world.run("callback-faults", "remove", str(fault_id))
    assert again.exit_code == 1 and f"id: no callback fault {fault_id}" in again.output
    nothing = world.run("callback-faults", "add")
    assert nothing.exit_code == 1
    assert "body: give delayMs or failFirst (a fault doing nothing)" in nothing.output
    world.run("callback-faults", "add", "--delay", "5")
    assert world.run("callback-faults", "clear").output == "cleared 1 callback fault(s)\n"


def test_deliveries_lists_tries(world: World, store: Store) -> None:
    from callbacks import add_callback

    item = add_callback(store, world.tenant.account_id, url="http://127.0.0.1:9/a",
                        event_id="ev-a", created_ms=1_767_225_600_000)  # fmt: skip
    store.record_delivery(item, now_ms=1_767_225_600_005, delivered=False, status=None,
                          error="ConnectError: refused", next_attempt_ms=1_767_225_600_010,
                          latency_ms=1.25)  # fmt: skip
    listed = world.run("deliveries", "--failed")
    lines = listed.output.splitlines()
    assert listed.exit_code == 0 and len(lines) == 2
    assert lines[0].endswith(
        "  2026-01-01 00:00:00.005  ev-a  try 1  -  1.2 ms  failed  http://127.0.0.1:9/a  "
        "ConnectError: refused"
    )
    assert lines[1] == "1 of 1 matching tries"
    assert world.run("deliveries", "--delivered").output == "0 of 0 matching tries\n"
    as_json = json.loads(world.run("deliveries", "--event", "ev-a", "--json").output)
    assert [(t["attempt"], t["status"], t["error"]) for t in as_json["list"]] == [
        (1, None, "ConnectError: refused")
    ]


# -- faults --------------------------------------------------------------------------------------
def test_faults_add_list_remove_and_clear(world: World) -> None:
    added = world.run("faults", "add", "task/list", "--status", "503", "--retry-after", "2",
                      "--times", "1")  # fmt: skip
    assert (added.exit_code, added.output) == (
        0, "added f1  task/list  HTTP 503 Retry-After 2 s  1 more time(s)  probability 1  "
           "applied 0  any key\n",
    )  # fmt: skip
    key = world.tenant.access_key
    second = world.run("faults", "add", "all", "--latency", "100-300", "--probability", "0.25",
                       "--access-key", key)  # fmt: skip
    assert second.output == (
        f"added f2  all  latency 100-300 ms  until removed  probability 0.25  applied 0  {key}\n"
    )
    coded = world.run("faults", "add", "flow/list", "--code", "20000", "--message", "no quota")
    assert coded.output.startswith('added f3  flow/list  code 20000 "no quota"  until removed')
    assert world.run("faults", "add", "task/create", "--drop").output.startswith(
        "added f4  task/create  drop  "
    )
    assert world.run("faults", "add", "call/list", "--hang", "--times", "2").output.startswith(
        "added f5  call/list  hang  2 more time(s)"
    )
    listed = world.run("faults", "list")
    assert listed.exit_code == 0
    assert [line.split("  ")[0] for line in listed.output.splitlines()] == [
        "f1", "f2", "f3", "f4", "f5", "5 fault(s)"
    ]  # fmt: skip
    removed = world.run("faults", "remove", "f3")
    assert removed.output.startswith("removed f3  flow/list  code 20000")
    cleared = world.run("faults", "clear")
    assert (cleared.exit_code, cleared.output) == (0, "cleared 4 fault(s)\n")
    assert world.run("faults", "list").output == "0 fault(s)\n"


def test_faults_as_json(world: World) -> None:
    added = json.loads(world.run("faults", "add", "task/list", "--latency", "50", "--json").output)
    assert (added["id"], added["kind"], added["ms"], added["maxMs"]) == ("f1", "latency", 50, None)
    assert added["endpoint"] == API_PREFIX + "task/list"
    listed = json.loads(world.run("faults", "list", "--json").output)
    assert listed == [added]
    assert json.loads(world.run("faults", "remove", "f1", "--json").output) == added
    assert json.loads(world.run("faults", "clear", "--json").output) == {"cleared": 0}


def test_a_fault_added_from_the_cli_is_applied(world: World) -> None:
    world.run("faults", "add", "task/list", "--code", "1005", "--times", "1")
    world.post("task/list", b"{}")
    world.post("task/list", b"{}")
    entries = json.loads(world.run("journal", "--json").output)["list"]
    assert [(e["code"], e["fault"]) for e in entries] == [(1005, "f1"), (0, None)]
    assert world.run("faults", "list").output == "0 fault(s)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give one of --code, --status, --latency, --drop, --hang"),
        (("--drop", "--hang"), "give one of --code, --status, --latency, --drop, --hang "
                               "(got --drop, --hang)"),
        (("--latency", "fast"), "expected MS or MS-MS (milliseconds), got 'fast'"),
        (("--latency", "100-"), "expected MS or MS-MS (milliseconds), got '100-'"),
        (("--status", "x"), "'x' is not a valid integer"),
    ],
)  # fmt: skip
def test_faults_add_usage_errors_exit_2(world: World, args: tuple[str, ...], message: str) -> None:
    result = world.run("faults", "add", "task/list", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert world.run("faults", "list").output == "0 fault(s)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("task/lst", "--drop"), "Error: endpoint: no such endpoint 'task/lst', expected all or "),
        (("task/list", "--code", "20000"),
         "Error: message: required with code 20000 (only 1001 to 1005 have a default)"),
        (("task/list", "--status", "200"), "Error: status: must be from 400 to 599, got 200"),
        (("task/list", "--drop", "--retry-after", "1"),
         "Error: retryAfter: only with kind status"),
        (("task/list", "--drop", "--times", "0"),
         "Error: times: must be from 1 to 1000000000, got 0"),
        (("task/list", "--drop", "--probability", "2"),
         "Error: probability: must be from 0 to 1, got 2"),
        (("task/list", "--latency", "300-100"), "Error: maxMs: must be at least ms (300), got 100"),
    ],
)  # fmt: skip
def test_faults_add_refusals_exit_1_with_the_servers_message(
    world: World, args: tuple[str, ...], message: str
) -> None:
    result = world.run("faults", "add", *args)
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert world.run("faults", "list").output == "0 fault(s)\n"


def test_faults_remove_an_unknown_id_exits_1(world: World) -> None:
    world.run("faults", "add", "all", "--drop")
    result = world.run("faults", "remove", "f7")
    assert result.exit_code == 1
    assert result.output.startswith("Error: id: no such fault 'f7' (code 20000, HTTP 404")
    assert world.run("faults", "list").output.splitlines()[-1] == "1 fault(s)"
