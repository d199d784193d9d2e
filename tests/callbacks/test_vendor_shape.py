"""A receiver written from the vendor's description of its callbacks, against nxlink unchanged.

The vendor posts the call record flat (``taskId``, ``userTaskId``, ``contactId``, ``other``,
``callerPhone``, ``calleePhone``, ``callId``, ``callStatus``, ``callResult``, ``opTs``, …) and
the task's fields with ``statInfo`` at the top level. The receiver below knows only that: its
field tables are written out here from the description, not imported from nxlink, and it reads
each field with ``body[name]``. The events come from the real lifecycle (the API in-process and
the simulator) and reach it through the real outbox worker over HTTP, signed by default and
without any ``sign`` once the account is set to unsigned (through the CLI).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import NOW_MS, Api, Tenant, make_tenant, sign_md5
from nxlink.callbacks import Deliverer
from nxlink.cli import main
from nxlink.dialer.simulator import Simulator
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

NOW = NOW_MS // 1000
SIM_MS = NOW_MS + 5_000
_P = "/openapi/aiagent/"

#: The vendor's call callback: every field at the top level, with its JSON type.
VENDOR_CALL_FIELDS: dict[str, type] = {
    "taskId": str, "userTaskId": str, "contactId": str, "other": str, "callerPhone": str,
    "calleePhone": str, "callId": str, "callStatus": int, "callResult": int, "opTs": int,
    "autoFlowId": int, "autoFlowName": str, "realPhone": str, "createTs": int,
    "callElapsed": int, "callRingTime": int, "callStart": int, "callAnswer": int,
    "callEnd": int, "userIntent": str, "callSummary": str, "turnTime": int,
    "hangupReason": str, "sipCode": str, "sipAddr": str, "lineId": str, "routeId": str,
    "callAudioUrl": str, "attributes": list, "orderHead": int, "orderTail": int,
    "agentGroupId": str, "agentGroupName": str, "agentId": str, "agentName": str,
    "manualCallStatus": int, "manualCallStart": int, "manualCallAnswer": int,
    "manualCallEnd": int, "manualElapsed": int,
}  # fmt: skip
#: The vendor's task callback: the task's fields and statInfo at the top level.
VENDOR_TASK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "taskId": str, "userTaskId": str, "other": str, "autoFlowId": int, "autoFlowName": str,
    "taskStatus": int, "pauseReason": (int, type(None)), "taskName": str, "taskDesc": str,
    "taskKeep": int, "startupType": int, "routeId": str, "maxCall": int, "createTs": int,
    "statInfo": dict,
}  # fmt: skip
VENDOR_STAT_FIELDS = (
    "totalOrderCount", "dialedOrderCount", "finishOrderCount", "answerOrderCount",
    "totalCallCount", "answerCallCount", "totalCallElapsed", "answerRate", "dialProgress",
    "finishRate",
)  # fmt: skip
#: Beside the object: the event's own keys.
EVENT_FIELDS: dict[str, type] = {"eventId": str, "eventType": str, "eventTs": int}
AUTH_HEADERS = ("accesskey", "ts", "biztype", "action", "sign")


@dataclass
class Got:
    path: str
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]


@dataclass
class VendorReceiver:
    """Takes each POST as the vendor's description says it comes: a flat JSON object."""

    base: str = ""
    got: list[Got] = field(default_factory=list)

    def on(self, path: str) -> list[Got]:
        return [g for g in self.got if g.path == path]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    receiver: VendorReceiver


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.receiver.got.append(Got(self.path, headers, raw, json.loads(raw)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[VendorReceiver]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = VendorReceiver(base=f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def tenant(store: Store) -> Tenant:
    made = make_tenant(store, "acme")
    lifecycle.top_up(store, made.account_id, 1_000_000, clock=Clock(NOW, NOW_MS))
    return made


def ok(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(tenant, json.dumps(body), path=_P + path)
    payload: dict[str, Any] = response.json()
    assert payload["code"] == 0, payload
    return payload


def run_and_deliver(store: Store) -> None:
    """Every call of every task placed and reported, then every callback delivered."""
    sim = Simulator(store, seed=5, clock_ms=lambda: SIM_MS)
    sim.advance(NOW)
    sim.advance(NOW + 3600)
    assert sim.in_flight == 0
    with Deliverer(store, clock_ms=lambda: SIM_MS + 1) as deliverer:
        while deliverer.deliver_due():
            pass


def contacts(prefix: str, n: int, other: str) -> list[dict[str, Any]]:
    return [{"contactId": f"{prefix}{i}", "phoneNumber": f"+8526{i:07d}", "other": other,
             "params": [{"name": "name", "value": f"N{i}"}]} for i in range(n)]  # fmt: skip


def check_types(body: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, kind in {**EVENT_FIELDS, **fields}.items():
        assert name in body, name
        value = body[name]
        assert isinstance(value, kind) and not isinstance(value, bool), (name, value)


def test_a_vendor_receiver_gets_every_field_at_the_top_level(
    store: Store, api: Api, tenant: Tenant, receiver: VendorReceiver
) -> None:
    admin.set_callbacks(store, tenant.name, call_url=receiver.base + "/account-calls")
    task_id = ok(api, tenant, "task/create", {
        "taskName": "vendor", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
        "taskKeep": 0, "startupType": 3, "userTaskId": "crm-42", "other": "batch-7",
        "taskCallbackUrl": receiver.base + "/tasks", "list": contacts("a", 3, "from-task"),
    })["data"]["taskId"]  # fmt: skip
    ok(api, tenant, "call/append", {"taskId": task_id, "callCallbackUrl": receiver.base + "/own",
                                    "list": contacts("b", 2, "from-append")})  # fmt: skip
    run_and_deliver(store)

    calls = {c["callId"]: c for c in ok(api, tenant, "call/list",
                                         {"taskId": task_id, "pageSize": 100})["list"]}  # fmt: skip
    account_calls, own_calls = receiver.on("/account-calls"), receiver.on("/own")
    assert len(account_calls) + len(own_calls) == len(calls) >= 5
    assert {g.body["contactId"][0] for g in account_calls} == {"a"}
    assert {g.body["contactId"][0] for g in own_calls} == {"b"}
    for got in account_calls + own_calls:
        body = got.body
        check_types(body, VENDOR_CALL_FIELDS)
        assert (body["eventType"], body["eventTs"]) == ("call.completed", SIM_MS)
        assert "call" not in body
        assert (body["taskId"], body["userTaskId"]) == (task_id, "crm-42")
        assert body["other"] == ("from-task" if body["contactId"][0] == "a" else "from-append")
        listed = calls[body["callId"]]
        # Every field of the record, as call/list shows it (the recording's link is signed
        # afresh on each read).
        for name in VENDOR_CALL_FIELDS:
            if name not in ("other", "callAudioUrl"):
                assert body[name] == listed[name], name
        assert body["callAudioUrl"].split("?")[0] == listed["callAudioUrl"].split("?")[0]
        assert body["opTs"] == body["callEnd"]
        assert body["attributes"] == [{"name": "name", "value": f"N{body['contactId'][1:]}"}]
        assert got.headers["x-nxlink-event-id"] == body["eventId"]
        assert got.headers["sign"] == sign_md5(tenant.access_key, tenant.secret,
                                               got.headers["ts"], got.raw)  # fmt: skip

    [started, completed] = receiver.on("/tasks")
    task = next(t for t in api.tasks(tenant, '{"pageSize":100}')["list"] if t["taskId"] == task_id)
    for got, status in ((started, 2), (completed, 3)):
        body = got.body
        check_types(body, VENDOR_TASK_FIELDS)
        assert (body["eventType"], body["taskId"], body["taskStatus"]) == (
            "task.status", task_id, status,
        )  # fmt: skip
        assert (body["userTaskId"], body["other"], body["taskName"]) == ("crm-42", "batch-7",
                                                                        "vendor")  # fmt: skip
        assert all(name in body["statInfo"] for name in VENDOR_STAT_FIELDS)
        assert got.headers["sign"] == sign_md5(tenant.access_key, tenant.secret,
                                               got.headers["ts"], got.raw)  # fmt: skip
    # The completion carries the task exactly as the task list shows it now.
    assert {k: v for k, v in completed.body.items() if k not in EVENT_FIELDS} == task
    assert started.body["statInfo"]["totalOrderCount"] == 3  # before the append
    assert completed.body["statInfo"]["finishOrderCount"] == 5


def test_an_unsigned_account_sends_no_sign_anywhere(
    store: Store, store_url: str, api: Api, tenant: Tenant, receiver: VendorReceiver
) -> None:
    result = CliRunner().invoke(main, ["accounts", "set-callbacks", tenant.name, "--task-url",
                                       receiver.base + "/t", "--call-url", receiver.base + "/c",
                                       "--unsigned", "--db", store_url])  # fmt: skip
    assert result.exit_code == 0, result.output
    ok(api, tenant, "task/create", {
        "taskName": "unsigned", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
        "taskKeep": 0, "startupType": 3, "list": contacts("u", 2, ""),
    })  # fmt: skip
    run_and_deliver(store)
    tasks, calls = receiver.on("/t"), receiver.on("/c")
    assert [g.body["taskStatus"] for g in tasks] == [2, 3]
    assert len(calls) >= 2
    for got in tasks + calls:
        assert [name for name in AUTH_HEADERS if name in got.headers] == []
        assert "sign" not in got.body and b'"sign"' not in got.raw
        assert got.headers["x-nxlink-event-id"] == got.body["eventId"]
    for got in calls:
        check_types(got.body, VENDOR_CALL_FIELDS)
    for got in tasks:
        check_types(got.body, VENDOR_TASK_FIELDS)
    # The outbox shows each body as it was POSTed.
    listed = CliRunner().invoke(main, ["callbacks", "list", "--format", "json", "--db", store_url])
    assert listed.exit_code == 0, listed.output
    shown = {item["eventId"]: (item["url"], item["body"]) for item in json.loads(listed.output)}
    assert shown == {g.body["eventId"]: (receiver.base + g.path, g.body) for g in tasks + calls}
