"""The vendor's own shapes (issue 13, items 1 and 5): every ``traceId`` a lowercase UUID with
dashes, in the body, ``X-Trace-Id`` and the request log; ``autoFlowId`` and
``minElapsed``/``maxElapsed`` 64-bit with exact refusals past 2^63-1; a ``callResult`` outside
the known results matching nothing; ``params[].value`` any JSON value, echoed as sent in the
call record's ``attributes``; ``call/append`` checking ``autoFlowId`` against the task's flow.

(The list envelopes, item 2, are pinned in ``test_lifecycle_endpoints.py`` and
``test_task_list_contract.py``; the client's reading of them in ``tests/client/test_pages.py``.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from db import Observer
from nxlink.contract.endpoints import ENDPOINTS
from nxlink.dialer.simulator import Simulator
from nxlink.server.app import REPLAY_TRACE, create_app
from nxlink.server.settings import Settings
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

#: The vendor reference page's form: ``3287f5aa-b8db-4dd7-97b0-03fabac2f4c7``.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOW = NOW_MS // 1000
CLOCK = Clock(NOW, NOW_MS)
_P = "/openapi/aiagent/"
CREATE, APPEND, CALLS, FLOWS = (
    _P + "task/create",
    _P + "call/append",
    _P + "call/list",
    _P + "flow/list",
)
INT64_MAX = 2**63 - 1


@pytest.fixture
def tenant(store: Store) -> Tenant:
    made = make_tenant(store, "acme")
    lifecycle.top_up(store, made.account_id, 1_000_000, clock=CLOCK)
    return made


def answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = json.loads(response.content)
    assert response.headers["X-Trace-Id"] == payload["traceId"]
    return payload


def post(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return answer(api.post(tenant, json.dumps(body), path=path))


def refused(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> str:
    payload = post(api, tenant, path, body)
    assert list(payload) == ["code", "message", "traceId"], payload
    assert payload["code"] == 20000, payload
    message: str = payload["message"]
    return message


def task_body(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return {"taskName": "t", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 1, "startupType": 1, **fields}  # fmt: skip


def create(api: Api, tenant: Tenant, **fields: Any) -> str:
    payload = post(api, tenant, CREATE, task_body(tenant, **fields))
    assert payload["code"] == 0, payload
    task_id: str = payload["data"]["taskId"]
    return task_id


# -- 1. trace ids -------------------------------------------------------------------------------


def _a_body(path: str, tenant: Tenant, task_id: str) -> dict[str, Any]:
    """A body each endpoint answers with code 0 or a 20000 (both carry a trace id)."""
    return {
        "task/create": task_body(tenant),
        "call/append": {"taskId": task_id, "list": [{"contactId": "x1", "phoneNumber": "123"}]},
        "order/delete": {"taskId": task_id, "contactId": "x1"},
        "call/delete": {"taskId": task_id, "contactId": "nope"},
        "call/list": {"taskId": task_id},
        "task/start": {"taskId": task_id},
        "task/pause": {"taskId": task_id},
    }.get(path.removeprefix(_P), {})


def test_every_answer_carries_a_uuid_trace_id_in_body_header_and_log(
    store: Store, tenant: Tenant, tmp_path: Path
) -> None:
    log_file = tmp_path / "requests.log"
    clock = [NOW_MS]
    app = create_app(Settings(log_requests=True, log_file=str(log_file)), store=store,
                     clock=lambda: clock[0])  # fmt: skip
    paths = [path for endpoint in ENDPOINTS for path in endpoint.paths]
    assert len(paths) == 10  # every endpoint and alias of the registry
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, clock)
        task_id = create(api, tenant)
        answers = [api.post(tenant, json.dumps(_a_body(path, tenant, task_id)), path=path)
                   for path in paths]  # fmt: skip
        answers += [
            api.post(tenant, b"{}", path=_P + "task/list", headers={"sign": "0" * 32}),  # 1003
            api.post(tenant, b"[1]", path=CALLS),  # 20000
            client.get("/healthz"),
            client.get("/nope"),  # 404
            client.get(_P + "task/list"),  # 405
        ]
    codes = []
    for response in answers:
        trace = response.headers["X-Trace-Id"]
        assert UUID.fullmatch(trace), trace
        body = response.json()
        assert body["traceId"] == trace
        codes.append(body["code"])
    assert codes[:10] == [0] * 4 + [20000] + [0] * 5, codes  # call/delete: no such contact
    assert codes[10:] == [1003, 20000, 0, 20000, 20000]
    records = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    logged = [r["traceId"] for r in records[1:]]  # the first is the task's creation
    assert logged == [response.headers["X-Trace-Id"] for response in answers]
    assert len(set(logged)) == len(logged)  # random per request


def test_a_replayed_write_gets_its_own_uuid_trace_id(store: Store, tenant: Tenant) -> None:
    # The kept answer is made with a placeholder of the same form, swapped byte for byte.
    assert UUID.fullmatch(REPLAY_TRACE)
    api = make_api(store)
    body = json.dumps(task_body(tenant)).encode()
    first = api.post(tenant, body, path=CREATE, ts=str(NOW_MS))
    again = api.post(tenant, body, path=CREATE, ts=str(NOW_MS))
    one, two = answer(first), answer(again)
    assert one["data"] == two["data"]
    assert UUID.fullmatch(one["traceId"]) and UUID.fullmatch(two["traceId"])
    assert REPLAY_TRACE not in (one["traceId"], two["traceId"])
    assert one["traceId"] != two["traceId"]
    assert len(first.content) == len(again.content)


# -- 5. widths: 64-bit autoFlowId ---------------------------------------------------------------


def big_flow(store: Store, tenant: Tenant, db: Observer, flow_id: int) -> int:
    """A flow of ``tenant`` whose id is ``flow_id`` (the vendor's ids are Long)."""
    flow = admin.create_flow(store, tenant.name, name="long flow", variables=["plan"])
    db.execute("UPDATE flows SET id = ? WHERE account_id = ? AND id = ?", flow_id,
               tenant.account_id, flow.id)  # fmt: skip
    return flow_id


def test_a_64_bit_flow_id_creates_lists_and_appends(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    flow_id = big_flow(store, tenant, db, INT64_MAX - 6)
    task_id = create(api, tenant, autoFlowId=flow_id)
    (task,) = [t for t in api.tasks(tenant)["list"] if t["taskId"] == task_id]
    assert task["autoFlowId"] == flow_id
    flows = post(api, tenant, FLOWS, {"name": "long"})["data"]["list"]
    assert [f["autoFlowId"] for f in flows] == [flow_id]
    appended = post(
        api,
        tenant,
        APPEND,
        {
            "taskId": task_id,
            "autoFlowId": str(flow_id),
            "list": [{"contactId": "c1", "phoneNumber": "123"}],
        },
    )
    assert appended["data"] == {"taskId": task_id, "count": 1}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**63, "autoFlowId: out of range for a 64-bit integer, got 9223372036854775808"),
        (
            "9223372036854775808",
            "autoFlowId: out of range for a 64-bit integer, got 9223372036854775808",
        ),
        (
            "18446744073709551616",
            'autoFlowId: out of range for a 64-bit integer, got "18446744073709551616"',
        ),
        (-(2**63) - 1, "autoFlowId: out of range for a 64-bit integer, got -9223372036854775809"),
        (INT64_MAX, f"autoFlowId: no flow {INT64_MAX} in this account"),
        (2**31, "autoFlowId: no flow 2147483648 in this account"),
    ],
)
def test_task_create_refuses_past_64_bits_exactly(
    store: Store, tenant: Tenant, value: int | str, message: str
) -> None:
    assert refused(make_api(store), tenant, CREATE, task_body(tenant, autoFlowId=value)) == message


def test_call_append_checks_auto_flow_id(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, userTaskId="u-1")
    contact = {"contactId": "c1", "phoneNumber": "123"}
    other = admin.create_flow(store, tenant.name, name="another", variables=[])
    mismatch = {"taskId": task_id, "autoFlowId": other.id, "list": [contact]}
    assert refused(api, tenant, APPEND, mismatch) == (
        f"autoFlowId: {other.id} is not the flow of task {task_id} (its flow is {tenant.flow_id})"
    )
    too_big = {"userTaskId": "u-1", "autoFlowId": 2**63, "list": [contact]}
    assert refused(api, tenant, APPEND, too_big) == (
        "autoFlowId: out of range for a 64-bit integer, got 9223372036854775808"
    )
    unknown = {"userTaskId": "u-1", "autoFlowId": INT64_MAX, "list": [contact]}
    assert refused(api, tenant, APPEND, unknown) == (
        f"autoFlowId: {INT64_MAX} is not the flow of task {task_id} (its flow is {tenant.flow_id})"
    )
    assert db.scalar("SELECT count(*) FROM orders") == 0  # nothing half-written
    for sent in (tenant.flow_id, str(tenant.flow_id), None, ""):
        body = {"userTaskId": "u-1", "autoFlowId": sent,
                "list": [{"contactId": f"c{sent!r}", "phoneNumber": "123"}]}  # fmt: skip
        assert post(api, tenant, APPEND, body)["data"] == {"taskId": task_id, "count": 1}, sent
    assert db.scalar("SELECT count(*) FROM orders") == 4


# -- 5. call/list: unknown callResult, 64-bit elapsed bounds, params echoed --------------------


def dialled_task(store: Store, tenant: Tenant, api: Api, contacts: list[dict[str, Any]]) -> str:
    """A task whose every contact was called once and answered (a sure route)."""
    route = admin.create_route(store, tenant.name, name="sure", country_code="852",
                               answer_probability=1.0, talk_seconds_mean=30)  # fmt: skip
    task_id = create(api, tenant, routeId=route.route_id, startupType=3, taskKeep=0,
                     list=contacts)  # fmt: skip
    sim = Simulator(store, seed=3, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)
    sim.advance(NOW + 6 * 3600)
    assert sim.in_flight == 0
    return task_id


def calls(api: Api, tenant: Tenant, **body: Any) -> dict[str, Any]:
    payload = post(api, tenant, CALLS, {"pageSize": 1000, **body})
    assert payload["code"] == 0, payload
    return payload


def test_call_list_filters_of_the_vendors_widths(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id = dialled_task(store, tenant, api, [{"contactId": f"k{i}", "phoneNumber": f"+8529{i:07d}"}
                                                for i in range(3)])  # fmt: skip
    every = calls(api, tenant, taskId=task_id)
    assert every["total"] == 3
    results = {c["callResult"] for c in every["list"]}
    assert results <= {1, 3, 17, 21}
    known = results.pop()
    assert calls(api, tenant, taskId=task_id, callResult=known)["total"] >= 1
    for unknown in (0, 10, 22, -1, "99", 2**31 - 1):
        page = calls(api, tenant, taskId=task_id, callResult=unknown)
        assert (page["total"], page["list"]) == (0, []), unknown
    assert calls(api, tenant, taskId=task_id, maxElapsed=INT64_MAX)["total"] == 3
    assert calls(api, tenant, taskId=task_id, minElapsed=2**31)["total"] == 0
    assert (
        calls(api, tenant, taskId=task_id, minElapsed=str(2**62), maxElapsed=INT64_MAX)["total"]
        == 0
    )
    assert refused(api, tenant, CALLS, {"taskId": task_id, "minElapsed": 2**63}) == (
        "minElapsed: out of range for a 64-bit integer, got 9223372036854775808"
    )
    assert refused(api, tenant, CALLS, {"taskId": task_id, "callResult": 2**31}) == (
        "callResult: out of range for a 32-bit integer, got 2147483648"
    )


def test_params_values_of_any_json_type_are_echoed_as_sent(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    admin.create_flow(
        store, tenant.name, name="vars", variables=["s", "n", "f", "b", "o", "a", "z"]
    )
    api = make_api(store)
    sent = [
        {"name": "s", "value": "2026-02-01"},
        {"name": "n", "value": 9_007_199_254_740_993},
        {"name": "f", "value": 12.5},
        {"name": "b", "value": False},
        {"name": "o", "value": {"plan": "gold", "limits": [1, 2.5, None], "nested": {"ok": True}}},
        {"name": "a", "value": ["x", {"y": 1}]},
        {"name": "z", "value": None},
    ]
    flow = next(f for f in store.list_flows(tenant.account_id) if f.name == "vars")
    route = admin.create_route(store, tenant.name, name="sure", country_code="852",
                               answer_probability=1.0, talk_seconds_mean=30)  # fmt: skip
    task_id = create(api, tenant, autoFlowId=flow.id, routeId=route.route_id, startupType=3,
                     taskKeep=0, list=[{"contactId": "p1", "phoneNumber": "+85290000001",
                                        "params": sent}])  # fmt: skip
    stored = db.scalar("SELECT params FROM orders WHERE contact_id = 'p1'")
    assert json.loads(stored) == sent
    sim = Simulator(store, seed=3, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)
    sim.advance(NOW + 6 * 3600)
    (call,) = calls(api, tenant, taskId=task_id)["list"]
    assert call["attributes"] == sent
