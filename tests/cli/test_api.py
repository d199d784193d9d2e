"""``nxlink api PATH [BODY]`` against the real app in-process (and once against a real server
process): the answer printed as indented JSON, exit 0 on code 0 and 1 otherwise."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from click.testing import CliRunner, Result

from client.harness import SyncASGITransport
from conftest import Tenant, make_task, make_tenant
from live import NXLINK, serving
from nxlink.cli import main
from nxlink.cli.api import parse_body
from nxlink.cli.options import ClientOptions
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin
from nxlink.store import Store, open_store

TASK_ID = "00000000-0000-4000-8000-000000000007"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TRACE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class World:
    tenant: Tenant
    http: httpx.Client
    sent: list[httpx.Request] = field(default_factory=list)

    def run(
        self,
        *args: str,
        secret: str | None = None,
        credentials: bool = True,
        stdin: str | bytes | None = None,
        http: httpx.Client | None = None,
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
            main, [*head, *args], obj=ClientOptions(http_client=http or self.http), input=stdin
        )


def _world(store: Store, envelope: str) -> Iterator[World]:
    tenant = make_tenant(store)
    store.insert_tasks(
        tenant.account_id,
        [make_task(tenant, task_id=TASK_ID, task_name="Renewal wave 1", create_ts=1_767_225_000)],
    )
    app = create_app(Settings(envelope=envelope, log_requests=False), store=store)
    with anyio.from_thread.start_blocking_portal() as portal:
        sent: list[httpx.Request] = []
        http = httpx.Client(
            transport=SyncASGITransport(app, portal), event_hooks={"request": [sent.append]}
        )
        yield World(tenant, http, sent)
        http.close()


@pytest.fixture
def world(store: Store) -> Iterator[World]:
    yield from _world(store, "flat")


@pytest.fixture(params=["flat", "data"])
def any_world(store: Store, request: pytest.FixtureRequest) -> Iterator[World]:
    yield from _world(store, request.param)


def _answer(result: Result, exit_code: int = 0) -> dict[str, Any]:
    """The printed answer, checked to be exactly its indented JSON form."""
    assert result.exit_code == exit_code, (result.output, result.exception)
    answer: dict[str, Any] = json.loads(result.stdout)
    assert result.stdout == json.dumps(answer, ensure_ascii=False, indent=2) + "\n"
    assert TRACE.fullmatch(answer["traceId"])
    return answer


def _page(answer: dict[str, Any]) -> dict[str, Any]:
    page: dict[str, Any] = answer.get("data", answer)
    return page


# -- the task list (no lifecycle needed) --------------------------------------------------------


def test_task_list_with_the_default_body(any_world: World) -> None:
    result = any_world.run("api", "task/list")
    answer = _answer(result)
    assert (answer["code"], answer["message"]) == (0, "success")
    page = _page(answer)
    assert (page["total"], page["pageNumber"], page["pageSize"]) == (1, 1, 10)
    assert [(t["taskId"], t["taskName"]) for t in page["list"]] == [(TASK_ID, "Renewal wave 1")]
    assert result.stderr == ""
    (request,) = any_world.sent
    assert request.content == b"{}"
    assert request.url == "http://testserver/openapi/aiagent/task/list"


def test_the_body_is_sent_compact_and_signed(world: World) -> None:
    result = world.run(
        "api", "/openapi/aiagent/task/list", '{ "pageSize" : 1,\n "taskName": "wave" }'
    )
    page = _page(_answer(result))
    assert (page["total"], page["pageSize"]) == (1, 1)
    (request,) = world.sent
    assert request.content == b'{"pageSize":1,"taskName":"wave"}'
    assert request.headers["accessKey"] == world.tenant.access_key
    assert request.headers["content-type"] == "application/json"


def test_the_body_from_stdin(world: World) -> None:
    result = world.run("api", "task/list", "-", stdin='{"taskName": "nothing like this"}\n')
    page = _page(_answer(result))
    assert (page["total"], page["list"]) == (0, [])
    assert world.sent[0].content == b'{"taskName":"nothing like this"}'


def test_an_empty_stdin_is_an_empty_object(world: World) -> None:
    _answer(world.run("api", "task/list", "-", stdin=""))
    assert world.sent[0].content == b"{}"


def test_non_ascii_is_printed_as_is(world: World) -> None:
    result = world.run("api", "task/list", '{"taskName": "牛小信"}')
    assert _page(_answer(result))["total"] == 0
    assert world.sent[0].content == '{"taskName":"牛小信"}'.encode()


# -- refusals: printed, exit 1 ---------------------------------------------------------------------


def test_a_business_error_is_printed_with_exit_1(world: World) -> None:
    answer = _answer(world.run("api", "task/list", '{"pageSize": 5000}'), exit_code=1)
    assert list(answer) == ["code", "message", "traceId"]
    assert answer["code"] == 20000
    assert answer["message"].startswith("pageSize: at most 1000")


def test_a_wrong_secret_is_printed_with_exit_1(world: World) -> None:
    result = world.run("api", "task/list", secret="not-the-secret")
    answer = _answer(result, exit_code=1)
    assert (answer["code"], answer["message"]) == (
        1003,
        "Authentication failed (invalid signature)",
    )
    assert result.stderr == ""


def test_an_unknown_endpoint_is_printed_with_exit_1(world: World) -> None:
    answer = _answer(world.run("api", "task/nope"), exit_code=1)
    assert (answer["code"], answer["message"]) == (
        20000,
        "no such endpoint: POST /openapi/aiagent/task/nope",
    )


def test_no_answer_goes_to_stderr_with_exit_1(world: World) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as http:
        result = world.run("api", "task/create", "{}", http=http)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: ConnectError calling http://testserver/openapi/aiagent/task/create: "
        "connection refused\n"
    )


def test_an_answer_that_is_not_json_goes_to_stderr_with_exit_1(world: World) -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    with httpx.Client(transport=httpx.MockTransport(html)) as http:
        result = world.run("api", "flow/list", http=http)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: unexpected answer (HTTP 502, not a JSON object): <html>bad gateway</html> "
        "(HTTP 502)\n"
    )


# -- usage errors: exit 2, nothing sent ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task/list", "{"], "BODY is not JSON: Expecting property name enclosed in double quotes"),
        (["task/list", "[1, 2]"], "BODY must be a JSON object, got an array"),
        (["task/list", '"x"'], "BODY must be a JSON object, got a string"),
        (["task/list", "3"], "BODY must be a JSON object, got a number"),
        (["task/list", "true"], "BODY must be a JSON object, got a boolean"),
        (["task/list", "null"], "BODY must be a JSON object, got null"),
        (["task/list", '{"rate": NaN}'], "BODY is not JSON: NaN is not a JSON value"),
        (["task list"], "invalid endpoint path 'task list': expected e.g. task/create"),
        (["task/../list"], "invalid endpoint path 'task/../list'"),
    ],
)
def test_bad_usage(world: World, args: list[str], message: str) -> None:
    result = world.run("api", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert world.sent == []


def test_a_body_that_is_not_utf8(world: World) -> None:
    result = world.run("api", "task/list", "-", stdin=b'{"taskName": "\xff"}')
    assert result.exit_code == 2
    assert "BODY must be UTF-8" in result.stderr
    assert world.sent == []


def test_missing_credentials(world: World) -> None:
    result = world.run("api", "flow/list", credentials=False)
    assert result.exit_code == 2
    assert "no access key: pass --access-key or set NXLINK_ACCESS_KEY" in result.stderr
    assert world.sent == []


def test_parse_body() -> None:
    assert parse_body("") == {}
    assert parse_body(" \n") == {}
    assert parse_body('{"a": [1, 2.5, null, true]}') == {"a": [1, 2.5, None, True]}


# -- the lifecycle endpoints -----------------------------------------------------------------------


def test_a_task_lives_through_nxlink_api(any_world: World, store: Store) -> None:
    tenant = any_world.tenant
    flows = _page(_answer(any_world.run("api", "flow/list")))
    assert [(f["autoFlowId"], f["autoFlowName"], f["variables"]) for f in flows["list"]] == [
        (tenant.flow_id, tenant.flow_name, ["name"])
    ]
    routes = _page(_answer(any_world.run("api", "route/list", '{"routeName": "route"}')))
    assert (routes["total"], routes["pageSize"]) == (1, 100)
    assert [r["routeId"] for r in routes["list"]] == [tenant.route_id]

    body = {
        "taskName": "renewals",
        "autoFlowId": tenant.flow_id,
        "routeId": tenant.route_id,
        "taskKeep": 0,
        "startupType": 1,
    }
    created = _answer(any_world.run("api", "task/create", json.dumps(body)))
    assert list(created) == ["code", "message", "traceId", "data"]
    task_id = created["data"]["taskId"]
    assert UUID.fullmatch(task_id)

    append = {"taskId": task_id, "list": [{"contactId": 1, "phoneNumber": "+85291234567"}]}
    appended = _answer(any_world.run("api", "call/append", json.dumps(append)))
    assert appended["data"] == {"taskId": task_id, "count": 1}
    again = _answer(any_world.run("api", "call/append", json.dumps(append)), exit_code=1)
    assert (again["code"], again["message"]) == (20000, "Duplicate contactIds are not allowed: 1")

    admin.top_up(store, tenant.name, 10_000)  # an account at zero pauses its tasks (6)
    started = _answer(any_world.run("api", "task/start", json.dumps({"taskId": task_id})))
    assert started["data"] == {"taskId": task_id, "taskStatus": 2, "pauseReason": None}
    paused = _answer(any_world.run("api", "task/pause", "-", stdin=json.dumps({"taskId": task_id})))
    assert paused["data"] == {"taskId": task_id, "taskStatus": 5, "pauseReason": 1}

    calls = _page(_answer(any_world.run("api", "call/list", json.dumps({"taskId": task_id}))))
    assert (calls["total"], calls["pageNumber"], calls["pageSize"], calls["list"]) == (0, 1, 10, [])
    tasks = _page(_answer(any_world.run("api", "task/list", '{"taskName": "renewals"}')))
    assert [
        (t["taskId"], t["taskStatus"], t["statInfo"]["totalOrderCount"]) for t in tasks["list"]
    ] == [(task_id, 5, 1)]


def test_the_brief_example_against_a_fresh_database(world: World, store: Store) -> None:
    body = (
        '{"taskName":"renewals","autoFlowId":1,"routeId":"CJq6rtX2lg","taskKeep":0,"startupType":1}'
    )
    assert world.tenant.flow_id == 1
    answer = _answer(world.run("api", "task/create", body), exit_code=1)
    assert (answer["code"], answer["message"]) == (
        20000,
        "routeId: no route 'CJq6rtX2lg' in this account",
    )
    admin.create_route(store, world.tenant.name, name="HK mobile", route_id="CJq6rtX2lg")
    created = _answer(world.run("api", "task/create", body))
    assert UUID.fullmatch(created["data"]["taskId"])
    assert world.sent[-1].content == body.encode()


# -- the installed command against a real server process -------------------------------------------


@pytest.mark.slow
def test_the_installed_command_against_a_real_server(tmp_path: Path, store_url: str) -> None:
    db = store_url
    store = open_store(db)
    try:
        tenant = make_tenant(store, "apicli")
    finally:
        store.close()
    with serving(tmp_path, db) as base:
        env = {
            **os.environ,
            "NXLINK_BASE_URL": base,
            "NXLINK_ACCESS_KEY": tenant.access_key,
            "NXLINK_ACCESS_SECRET": tenant.secret,
        }

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(NXLINK), "api", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=False,
            )

        flows = run("flow/list")
        assert flows.returncode == 0, flows.stderr
        assert [f["autoFlowId"] for f in json.loads(flows.stdout)["data"]["list"]] == [
            tenant.flow_id
        ]
        body = {
            "taskName": "renewals",
            "autoFlowId": tenant.flow_id,
            "routeId": tenant.route_id,
            "taskKeep": 0,
            "startupType": 1,
        }
        created = run("task/create", json.dumps(body, separators=(",", ":")))
        assert created.returncode == 0, created.stderr
        assert UUID.fullmatch(json.loads(created.stdout)["data"]["taskId"])
        refused = run("task/create", "{}")
        assert refused.returncode == 1
        answer = json.loads(refused.stdout)
        assert answer["code"] == 20000
        assert answer["message"] == (
            "taskName: required; autoFlowId: required; routeId: required; taskKeep: required; "
            "startupType: required"
        )
        assert refused.stderr == ""
