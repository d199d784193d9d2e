"""The lifecycle endpoints on the wire (``lifecycle.md`` and the wire decisions of issue 4):
every success answer pinned, the ``data`` envelope of the paged lists, authentication on every
path, each bad input of the issue refused with its exact message and nothing written, tenants
isolated, and ``call/list``, ``flow/list``, ``route/list`` against brute-force filters of their
rows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.testclient import TestClient

from callrecords import check_record, outcome_kind
from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from db import Observer
from nxlink.dialer.simulator import Simulator
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

NOW = NOW_MS // 1000
CLOCK = Clock(NOW, NOW_MS)
HOUR = 3600
TRACE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

_P = "/openapi/aiagent/"
CREATE, APPEND, DELETE = _P + "task/create", _P + "call/append", _P + "order/delete"
START, PAUSE = _P + "task/start", _P + "task/pause"
CALLS, FLOWS, ROUTES = _P + "call/list", _P + "flow/list", _P + "route/list"
TASKS = _P + "task/list"
PATHS = [CREATE, APPEND, DELETE, START, PAUSE, CALLS, FLOWS, ROUTES]

ENVELOPE_KEYS = ["code", "message", "traceId"]
DATA_KEYS = [*ENVELOPE_KEYS, "data"]
PAGE_FIELDS = ["total", "pageNumber", "pageSize", "list"]
PAGE_KEYS = ENVELOPE_KEYS + PAGE_FIELDS
ANSWERED = {1, 3, 17, 21}
COUNTERS = (
    "total_order_count", "dialed_order_count", "finish_order_count", "answer_order_count",
    "total_call_count", "answer_call_count", "total_call_elapsed", "manual_answer_count",
    "manual_fail_count", "manual_elapsed",
)  # fmt: skip


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def tenant(store: Store) -> Tenant:
    """An account with money on it (a task started on an empty account pauses at once)."""
    made = make_tenant(store, "acme")
    lifecycle.top_up(store, made.account_id, 1_000_000, clock=CLOCK)
    return made


def api_with_ids(store: Store, *task_ids: str, **settings: Any) -> Api:
    """Like ``make_api``, with the taskIds the app hands out fixed in advance."""
    clock = [NOW_MS]
    ids = iter(task_ids)
    settings.setdefault("log_requests", False)
    app = create_app(Settings(**settings), store=store, clock=lambda: clock[0],
                     new_task_id=lambda: next(ids))  # fmt: skip
    return Api(TestClient(app, raise_server_exceptions=False), clock)


def answer_of(response: Any) -> dict[str, Any]:
    """The JSON answer, after checking HTTP 200, the media type and the trace id."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    payload: dict[str, Any] = json.loads(response.content)
    assert TRACE.fullmatch(payload["traceId"]), payload
    assert response.headers["X-Trace-Id"] == payload["traceId"]
    return payload


def post(api: Api, tenant: Tenant, path: str, body: dict[str, Any] | str) -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return answer_of(api.post(tenant, raw, path=path))


def ok(api: Api, tenant: Tenant, path: str, body: dict[str, Any] | str) -> dict[str, Any]:
    payload = post(api, tenant, path, body)
    assert payload["code"] == 0, payload
    assert payload["message"] == "success"
    return payload


def refused(api: Api, tenant: Tenant, path: str, body: dict[str, Any] | str) -> str:
    payload = post(api, tenant, path, body)
    assert list(payload) == ENVELOPE_KEYS, payload
    assert payload["code"] == 20000, payload
    message: str = payload["message"]
    return message


def snapshot(db: Observer) -> dict[str, Any]:
    """Everything a refused request must leave alone: row counts, task states, order states,
    every counter and every balance."""
    counts = {
        table: db.scalar(f"SELECT count(*) FROM {table}")
        for table in ("tasks", "orders", "calls", "outbox")
    }
    return {
        **counts,
        "task_rows": db.rows(
            "SELECT id, task_id, task_status, pause_reason, startup_by FROM tasks ORDER BY id"
        ),
        "order_rows": db.rows("SELECT id, contact_id, state, attempts FROM orders ORDER BY id"),
        "counters": db.rows(
            f"SELECT task_row_id, {', '.join(COUNTERS)} FROM task_stats ORDER BY task_row_id"
        ),
        "balances": db.rows("SELECT id, balance_cents FROM accounts ORDER BY id"),
    }


def refused_unchanged(
    api: Api, tenant: Tenant, db: Observer, path: str, body: dict[str, Any] | str
) -> str:
    """The 20000 message of a request, after checking that it wrote nothing."""
    before = snapshot(db)
    message = refused(api, tenant, path, body)
    assert snapshot(db) == before
    return message


def contacts(prefix: str, n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"contactId": f"{prefix}{i}", "phoneNumber": f"+8529{i:07d}", **extra} for i in range(n)
    ]


def task_body(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "taskName": "renewals",
        "autoFlowId": tenant.flow_id,
        "routeId": tenant.route_id,
        "taskKeep": 0,
        "startupType": 3,
    }
    body.update(fields)
    return body


def create(api: Api, tenant: Tenant, **fields: Any) -> str:
    payload = ok(api, tenant, CREATE, task_body(tenant, **fields))
    task_id: str = payload["data"]["taskId"]
    return task_id


def task_of(api: Api, tenant: Tenant, task_id: str) -> dict[str, Any]:
    """The task as the task list shows it."""
    page = api.tasks(tenant, '{"pageSize":1000}')
    found: dict[str, Any] = next(t for t in page["list"] if t["taskId"] == task_id)
    return found


def sure_route(store: Store, tenant: Tenant, *, talk: int = 30) -> str:
    """A route every call of which is answered: contacts finish on their first call."""
    route = admin.create_route(store, tenant.name, name="sure", country_code="852",
                               answer_probability=1.0, talk_seconds_mean=talk)  # fmt: skip
    return route.route_id


def silent_route(store: Store, tenant: Tenant) -> str:
    """A route no call of which is answered."""
    route = admin.create_route(store, tenant.name, name="silent", answer_probability=0.0)
    return route.route_id


def simulator(store: Store, seed: int = 1) -> Simulator:
    return Simulator(store, seed=seed, clock_ms=lambda: NOW_MS)


def run_to_end(sim: Simulator, *, hours: int = 6) -> None:
    sim.advance(NOW)
    sim.advance(NOW + hours * HOUR)
    assert sim.in_flight == 0


def all_calls(api: Api, tenant: Tenant, task_id: str) -> list[dict[str, Any]]:
    payload = ok(api, tenant, CALLS, {"taskId": task_id, "pageSize": 1000})
    assert payload["total"] == len(payload["list"])
    calls: list[dict[str, Any]] = payload["list"]
    return calls


def order_rows(db: Observer, task_id: str) -> list[tuple[Any, ...]]:
    return db.rows(
        "SELECT o.contact_id, o.phone, o.name, o.country_code, o.params, o.other, o.state "
        "FROM orders AS o JOIN tasks AS t ON t.id = o.task_row_id WHERE t.task_id = ? "
        "ORDER BY o.id",
        task_id,
    )


# -- success answers, pinned --------------------------------------------------------------------


def test_task_create_answers_the_task_id_and_stores_every_field(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    task_id = "3f2b8c1e-9d4a-4b7e-8a61-0c5d2e7f9a13"
    api = api_with_ids(store, task_id)
    body = {
        "taskName": "  Renewals Ä  ",
        "autoFlowId": str(tenant.flow_id),
        "routeId": tenant.route_id,
        "taskKeep": 1,
        "startupType": 2,
        "userTaskId": "batch-7",
        "other": '{"k": "ü"}',
        "taskDesc": "November renewals",
        "startupAt": NOW + HOUR,
        "shutdownAt": str(NOW + 2 * HOUR),
        "maxCall": 5,
        "maxRingTime": 40.0,
        "orderMaxCall": 3,
        "replayInterval": 600,
        "taskCallbackUrl": "https://cb.example.com/task?x=1",
        "callCallbackUrl": "http://127.0.0.1:9/call",
        "countryCode": "+852",
        "strategyId": "s-1",
        "agentGroupId": "g-1",
        "list": [
            {"contactId": "c1", "phoneNumber": "+85212345678", "name": "Ann",
             "params": [{"name": "name", "value": "Ann"}], "other": "o1"},
            {"contactId": 42, "phoneNumber": "85287654321",
             "params": [{"name": "name", "value": 7}]},
        ],
    }  # fmt: skip
    response = api.post(tenant, json.dumps(body, ensure_ascii=False), path=CREATE)
    payload = answer_of(response)
    assert payload == {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "data": {"taskId": task_id},
    }
    assert list(payload) == DATA_KEYS
    task = task_of(api, tenant, task_id)
    stat = task.pop("statInfo")
    task.pop("id")
    assert task == {
        "taskId": task_id,
        "saasUserId": tenant.account_id,
        "userTaskId": "batch-7",
        "other": '{"k": "ü"}',
        "autoFlowId": tenant.flow_id,
        "autoFlowName": "acme agent",
        "taskStatus": 1,
        "pauseReason": None,
        "taskName": "  Renewals Ä  ",
        "taskDesc": "November renewals",
        "taskKeep": 1,
        "startupType": 2,
        "startupAt": NOW + HOUR,
        "shutdownAt": NOW + 2 * HOUR,
        "startupBy": "",
        "routeId": tenant.route_id,
        "maxCall": 5,
        "importType": 0,
        "funcFlag": 0,
        "maxRingTime": 40,
        "strategyId": "s-1",
        "agentGroupId": "g-1",
        "taskCallbackUrl": "https://cb.example.com/task?x=1",
        "createTs": NOW,
        "orderMaxCall": 3,
        "replayInterval": 600,
    }
    assert (stat["totalOrderCount"], stat["dialedOrderCount"], stat["totalCallCount"]) == (2, 0, 0)
    assert order_rows(db, task_id) == [
        ("c1", "+85212345678", "Ann", "+852", '[{"name":"name","value":"Ann"}]', "o1", "pending"),
        ("42", "85287654321", "", "+852", '[{"name":"name","value":7}]', "", "pending"),
    ]


def test_task_create_defaults(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    response = api.post(tenant, json.dumps(task_body(tenant, startupType=0)), path=CREATE)
    payload = answer_of(response)
    task_id = payload["data"]["taskId"]
    assert UUID4.fullmatch(task_id)
    assert payload == {"code": 0, "message": "success", "traceId": response.headers["X-Trace-Id"],
                       "data": {"taskId": task_id}}  # fmt: skip
    task = task_of(api, tenant, task_id)
    defaults = {
        "userTaskId": "", "other": "", "taskDesc": "", "taskStatus": 1, "pauseReason": None,
        "startupAt": None, "shutdownAt": None, "startupBy": "", "maxCall": 0, "maxRingTime": 0,
        "strategyId": "", "agentGroupId": "", "taskCallbackUrl": "", "orderMaxCall": None,
        "replayInterval": None,
    }  # fmt: skip
    assert {key: task[key] for key in defaults} == defaults
    assert task["statInfo"]["totalOrderCount"] == 0


def test_two_creates_get_distinct_task_ids(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    first, second = create(api, tenant), create(api, tenant)
    assert first != second
    assert UUID4.fullmatch(first) and UUID4.fullmatch(second)


def test_call_append_answers_task_id_and_count(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1, userTaskId="u-append", list=contacts("a", 2))
    response = api.post(
        tenant,
        json.dumps({"userTaskId": "u-append", "countryCode": "852",
                    "list": [{"contactId": 7, "phoneNumber": "123", "name": "Bo",
                              "params": [{"name": "name", "value": 1.5}], "other": "x"},
                             {"contactId": "b1", "phoneNumber": "+12345678901234567890"}]}),
        path=APPEND,
    )  # fmt: skip
    payload = answer_of(response)
    assert payload == {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "data": {"taskId": task_id, "count": 2},
    }
    assert list(payload) == DATA_KEYS
    assert list(payload["data"]) == ["taskId", "count"]
    assert task_of(api, tenant, task_id)["statInfo"]["totalOrderCount"] == 4
    assert order_rows(db, task_id)[2:] == [
        ("7", "123", "Bo", "852", '[{"name":"name","value":1.5}]', "x", "pending"),
        ("b1", "+12345678901234567890", "", "852", "[]", "", "pending"),
    ]


def test_call_append_takes_the_task_country_code_when_not_sent(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1, countryCode="44")
    ok(api, tenant, APPEND, {"taskId": task_id, "list": contacts("k", 1)})
    assert [row[3] for row in order_rows(db, task_id)] == ["44"]


def test_call_append_of_exactly_10000_contacts(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1)
    payload = ok(api, tenant, APPEND, {"taskId": task_id, "list": contacts("n", 10_000)})
    assert payload["data"] == {"taskId": task_id, "count": 10_000}
    assert task_of(api, tenant, task_id)["statInfo"]["totalOrderCount"] == 10_000


def test_order_delete_answers_task_id_and_contact_id(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    task_id = create(
        api,
        tenant,
        startupType=1,
        userTaskId="u-del",
        list=[*contacts("d", 2), {"contactId": 7, "phoneNumber": "+852123"}],
    )
    response = api.post(tenant, json.dumps({"taskId": task_id, "contactId": 7}), path=DELETE)
    payload = answer_of(response)
    assert payload == {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "data": {"taskId": task_id, "contactId": "7"},
    }
    assert list(payload["data"]) == ["taskId", "contactId"]
    assert [(row[0], row[6]) for row in order_rows(db, task_id)] == [
        ("d0", "pending"), ("d1", "pending"), ("7", "deleted"),
    ]  # fmt: skip
    assert task_of(api, tenant, task_id)["statInfo"]["totalOrderCount"] == 2
    by_user_id = ok(api, tenant, DELETE, {"userTaskId": "u-del", "contactId": "d0"})
    assert by_user_id["data"] == {"taskId": task_id, "contactId": "d0"}
    assert task_of(api, tenant, task_id)["statInfo"]["totalOrderCount"] == 1


def test_a_deleted_contact_is_gone(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1, list=contacts("g", 2))
    ok(api, tenant, DELETE, {"taskId": task_id, "contactId": "g1"})
    message = refused_unchanged(api, tenant, db, DELETE, {"taskId": task_id, "contactId": "g1"})
    assert message == f"contactId: no contact 'g1' in task {task_id}"
    # Its id stays used in the account for ever.
    message = refused_unchanged(api, tenant, db, APPEND,
                                {"taskId": task_id, "list": contacts("g", 2)[1:]})  # fmt: skip
    assert message == "Duplicate contactIds are not allowed: g1"


def test_order_delete_of_an_unknown_contact(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1, list=contacts("h", 1))
    other_task = create(api, tenant, startupType=1, list=contacts("i", 1))
    message = refused_unchanged(api, tenant, db, DELETE, {"taskId": task_id, "contactId": "zz"})
    assert message == f"contactId: no contact 'zz' in task {task_id}"
    # A contact of another task of the account is not this task's.
    message = refused_unchanged(api, tenant, db, DELETE, {"taskId": task_id, "contactId": "i0"})
    assert message == f"contactId: no contact 'i0' in task {task_id}"
    assert other_task != task_id


def test_task_start_and_pause_answer_the_new_state(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1, list=contacts("s", 1))
    response = api.post(tenant, json.dumps({"taskId": task_id}), path=START)
    started = answer_of(response)
    assert started == {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "data": {"taskId": task_id, "taskStatus": 2, "pauseReason": None},
    }
    assert list(started["data"]) == ["taskId", "taskStatus", "pauseReason"]
    response = api.post(tenant, json.dumps({"taskId": task_id}), path=PAUSE)
    paused = answer_of(response)
    assert paused == {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "data": {"taskId": task_id, "taskStatus": 5, "pauseReason": 1},
    }
    task = task_of(api, tenant, task_id)
    assert (task["taskStatus"], task["pauseReason"]) == (5, 1)


def test_call_list_answers_a_call_record_exactly(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    route = admin.create_route(store, tenant.name, name="sure", country_code="852",
                               answer_probability=1.0, talk_seconds_mean=30,
                               caller_phone="+85230001000", line_ids=["hk-sip-1"])  # fmt: skip
    task_id = create(api, tenant, routeId=route.route_id, userTaskId="u-calls", countryCode="852",
                     list=[{"contactId": "only", "phoneNumber": "055501234", "other": "o-1",
                            "params": [{"name": "name", "value": "Ann"}]}])  # fmt: skip
    run_to_end(simulator(store))
    row = db.one(
        "SELECT id, call_id, result, talk_seconds, user_intent, ring_seconds, summary, turns, "
        "hangup_reason FROM calls"
    )
    assert row is not None
    call_row, call_id, result, talk, intent, ring, summary, turns, reason = row
    assert result in ANSWERED - {17}
    # The links' key is derived from the master key (never stored): HKDF-SHA256, "recordings".
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"nxlink:recordings")
    key = hkdf.derive(base64.urlsafe_b64decode(store.secrets.encoded))
    expires = NOW + 86_400
    sig = hmac.new(key, f"{call_id}\n{expires}".encode(), hashlib.sha256).hexdigest()
    response = api.post(tenant, json.dumps({"taskId": task_id}), path=CALLS)
    payload = answer_of(response)
    expected = {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "total": 1,
        "pageNumber": 1,
        "pageSize": 10,
        "list": [
            {
                "id": call_row,
                "callId": call_id,
                "taskId": task_id,
                "userTaskId": "u-calls",
                "contactId": "only",
                "autoFlowId": tenant.flow_id,
                "autoFlowName": "acme agent",
                "calleePhone": "055501234",
                "callerPhone": "+85230001000",
                "realPhone": "+85255501234",
                "createTs": NOW,
                "opTs": NOW + ring + talk,
                "callStatus": 1,
                "callResult": result,
                "callElapsed": talk,
                "callRingTime": ring,
                "callStart": NOW,
                "callAnswer": NOW + ring,
                "callEnd": NOW + ring + talk,
                "userIntent": intent,
                "callSummary": summary,
                "turnTime": turns,
                "hangupReason": reason,
                "sipCode": "200",
                "sipAddr": "sip:85255501234@hk-sip-1.sip.invalid",
                "lineId": "hk-sip-1",
                "routeId": route.route_id,
                "callAudioUrl": f"http://127.0.0.1:8000/recordings/{call_id}.wav"
                f"?exp={expires}&sig={sig}",
                "attributes": [{"name": "name", "value": "Ann"}],
                "orderHead": 1,
                "orderTail": 1,
                "agentGroupId": "",
                "agentGroupName": "",
                "agentId": "",
                "agentName": "",
                "manualCallStatus": 0,
                "manualCallStart": 0,
                "manualCallAnswer": 0,
                "manualCallEnd": 0,
                "manualElapsed": 0,
                "callCallbackUrl": "",
                "orderCallbackUrl": "",
            }
        ],
    }
    assert payload == expected
    assert list(payload) == PAGE_KEYS
    check_record(payload["list"][0])
    assert UUID4.fullmatch(call_id)
    assert intent in {"A", "B", "C", "D", "E", "F"}
    assert summary and turns >= 1
    assert reason in {1: {"agent ended the call", "callee hung up"}, 3: {"callee hung up"},
                      21: {"voicemail"}}[result]  # fmt: skip


def test_flow_list_answers_flows_exactly(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    second = admin.create_flow(store, "acme", name="Collections Ä", variables=["name", "due"])
    first = store.list_flows(tenant.account_id)[0]
    response = api.post(tenant, "{}", path=FLOWS)
    payload = answer_of(response)
    # The vendor's flow list: the page under "data".
    assert payload == {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "data": {
            "total": 2,
            "pageNumber": 1,
            "pageSize": 10,
            "list": [
                {"autoFlowId": tenant.flow_id, "autoFlowName": "acme agent",
                 "variables": ["name"], "createTs": first.created_ts},
                {"autoFlowId": second.id, "autoFlowName": "Collections Ä",
                 "variables": ["name", "due"], "createTs": second.created_ts},
            ],
        },
    }  # fmt: skip
    assert list(payload) == DATA_KEYS
    assert list(payload["data"]) == PAGE_FIELDS
    assert [list(item) for item in payload["data"]["list"]] == [
        ["autoFlowId", "autoFlowName", "variables", "createTs"]
    ] * 2


def test_route_list_answers_routes_exactly(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    paid = admin.create_route(store, "acme", name="Paid ☎", country_code="44",
                              price_per_minute_cents=7, route_id="PaidRoute1")  # fmt: skip
    first = store.list_routes(tenant.account_id)[0]
    response = api.post(tenant, "", path=ROUTES)
    payload = answer_of(response)
    # The vendor's route list: the page under "data".
    assert payload == {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "data": {
            "total": 2,
            "pageNumber": 1,
            "pageSize": 100,
            "list": [
                {"routeId": tenant.route_id, "routeName": "acme route", "countryCode": "852",
                 "pricePerMinute": 0, "createTs": first.created_ts},
                {"routeId": "PaidRoute1", "routeName": "Paid ☎", "countryCode": "44",
                 "pricePerMinute": 7, "createTs": paid.created_ts},
            ],
        },
    }  # fmt: skip
    assert list(payload) == DATA_KEYS
    assert list(payload["data"]) == PAGE_FIELDS
    assert list(payload["data"]["list"][0]) == [
        "routeId", "routeName", "countryCode", "pricePerMinute", "createTs"
    ]  # fmt: skip


#: Where each list's page fields sit under each NXLINK_ENVELOPE setting: the vendor's pages put
#: task/list and call/list at the top level, flow/list and route/list under "data".
SHAPES = {
    "vendor": {TASKS: "flat", CALLS: "flat", FLOWS: "data", ROUTES: "data"},
    "flat": {TASKS: "flat", CALLS: "flat", FLOWS: "flat", ROUTES: "flat"},
    "data": {TASKS: "data", CALLS: "data", FLOWS: "data", ROUTES: "data"},
}


@pytest.mark.parametrize("setting", ["vendor", "flat", "data"])
def test_each_list_in_each_envelope_setting(store: Store, tenant: Tenant, setting: str) -> None:
    flat = make_api(store, envelope="flat")
    api = make_api(store, envelope=setting)
    route_id = sure_route(store, tenant)
    task_id = create(flat, tenant, routeId=route_id, list=contacts("e", 3))
    run_to_end(simulator(store))
    for path, body in (
        (TASKS, {"pageSize": 1}),
        (CALLS, {"taskId": task_id, "pageSize": 2}),
        (FLOWS, {"pageSize": 1}),
        (ROUTES, {"routeName": "SURE"}),
    ):
        plain = ok(flat, tenant, path, body)
        assert list(plain) == PAGE_KEYS
        page = {name: plain[name] for name in PAGE_FIELDS}
        assert page["total"] >= 1 and page["list"], path
        response = api.post(tenant, json.dumps(body), path=path)
        payload = answer_of(response)
        head = {"code": 0, "message": "success", "traceId": response.headers["X-Trace-Id"]}
        if SHAPES[setting][path] == "data":
            assert payload == {**head, "data": page}, path
            assert list(payload) == DATA_KEYS
            assert list(payload["data"]) == PAGE_FIELDS
        else:
            assert payload == {**head, **page}, path
            assert list(payload) == PAGE_KEYS
        # A refusal is never nested, whatever the setting.
        assert list(post(api, tenant, path, {"pageSize": 0})) == ENVELOPE_KEYS


def test_the_setting_names_its_values_when_it_is_wrong() -> None:
    with pytest.raises(ValueError) as info:
        Settings(envelope="nested")
    assert "NXLINK_ENVELOPE must be one of vendor, flat, data, got 'nested'" in str(info.value)
    assert Settings().envelope == "vendor"


def test_the_data_envelope_setting_leaves_the_other_answers_alone(
    store: Store, tenant: Tenant
) -> None:
    nested = make_api(store, envelope="data")
    created = ok(nested, tenant, CREATE, task_body(tenant, startupType=1))
    assert list(created) == DATA_KEYS
    task_id = created["data"]["taskId"]
    appended = ok(nested, tenant, APPEND, {"taskId": task_id, "list": contacts("v", 2)})
    assert appended["data"] == {"taskId": task_id, "count": 2}
    deleted = ok(nested, tenant, DELETE, {"taskId": task_id, "contactId": "v1"})
    assert deleted["data"] == {"taskId": task_id, "contactId": "v1"}
    started = ok(nested, tenant, START, {"taskId": task_id})
    assert started["data"] == {"taskId": task_id, "taskStatus": 2, "pauseReason": None}
    paused = ok(nested, tenant, PAUSE, {"taskId": task_id})
    assert paused["data"] == {"taskId": task_id, "taskStatus": 5, "pauseReason": 1}
    refusal = post(nested, tenant, PAUSE, {})
    assert list(refusal) == ENVELOPE_KEYS


# -- authentication on every path ---------------------------------------------------------------


def _valid_body(path: str, tenant: Tenant) -> dict[str, Any]:
    if path == CREATE:
        return task_body(tenant, list=contacts("auth", 1))
    if path in (APPEND,):
        return {"taskId": "t", "list": contacts("auth", 1)}
    if path == DELETE:
        return {"taskId": "t", "contactId": "auth0"}
    if path in (START, PAUSE, CALLS):
        return {"taskId": "t"}
    return {}


@pytest.mark.parametrize("path", PATHS)
def test_a_bad_signature_is_1003_on_every_path(
    store: Store, tenant: Tenant, db: Observer, path: str
) -> None:
    api = make_api(store)
    before = snapshot(db)
    response = api.post(tenant, json.dumps(_valid_body(path, tenant)), path=path,
                        headers={"sign": "0" * 32})  # fmt: skip
    payload = answer_of(response)
    assert payload == {"code": 1003, "message": "Authentication failed (invalid signature)",
                       "traceId": response.headers["X-Trace-Id"]}  # fmt: skip
    assert snapshot(db) == before


@pytest.mark.parametrize("path", PATHS)
def test_an_unknown_key_is_1005_on_every_path(
    store: Store, tenant: Tenant, db: Observer, path: str
) -> None:
    api = make_api(store)
    stranger = replace(tenant, access_key="AK-1000000000000000000-1000")
    before = snapshot(db)
    response = api.post(stranger, json.dumps(_valid_body(path, tenant)), path=path)
    payload = answer_of(response)
    assert payload == {"code": 1005, "message": "Authentication failed (insufficient authority)",
                       "traceId": response.headers["X-Trace-Id"]}  # fmt: skip
    assert snapshot(db) == before


def test_a_signed_create_is_accepted_where_a_bad_signature_was_not(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    # The control of the two tests above: the same body, signed, is written.
    api = make_api(store)
    ok(api, tenant, CREATE, _valid_body(CREATE, tenant))
    assert (snapshot(db)["tasks"], snapshot(db)["orders"]) == (1, 1)


# -- bad input: each refused exactly, nothing written -------------------------------------------


def test_unknown_auto_flow_id(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    message = refused_unchanged(
        api, tenant, db, CREATE, task_body(tenant, autoFlowId=999, list=contacts("f", 2))
    )
    assert message == "autoFlowId: no flow 999 in this account"


def test_another_accounts_flow_is_unknown(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    other = make_tenant(store, "globex")
    message = refused_unchanged(api, tenant, db, CREATE,
                                task_body(tenant, autoFlowId=other.flow_id))  # fmt: skip
    assert message == f"autoFlowId: no flow {other.flow_id} in this account"


def test_a_disabled_flow_is_unknown_to_create(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    lifecycle.set_enabled(store, flow_id=tenant.flow_id, enabled=False, clock=CLOCK)
    message = refused_unchanged(api, tenant, db, CREATE, task_body(tenant))
    assert message == f"autoFlowId: no flow {tenant.flow_id} in this account"


def test_unknown_route_id(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    message = refused_unchanged(
        api, tenant, db, CREATE, task_body(tenant, routeId="NoSuchRoute", list=contacts("r", 2))
    )
    assert message == "routeId: no route 'NoSuchRoute' in this account"


def test_another_accounts_route_is_unknown(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    other = make_tenant(store, "globex")
    message = refused_unchanged(api, tenant, db, CREATE,
                                task_body(tenant, routeId=other.route_id))  # fmt: skip
    assert message == f"routeId: no route {other.route_id!r} in this account"


def test_unknown_flow_and_route_are_both_named(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    message = refused_unchanged(api, tenant, db, CREATE,
                                task_body(tenant, autoFlowId=998, routeId="nope"))  # fmt: skip
    assert (
        message
        == "autoFlowId: no flow 998 in this account; routeId: no route 'nope' in this account"
    )


def test_duplicate_user_task_id(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    first = create(api, tenant, userTaskId="batch-1")
    message = refused_unchanged(
        api, tenant, db, CREATE, task_body(tenant, userTaskId="batch-1", list=contacts("u", 1))
    )
    assert message == f"userTaskId: 'batch-1' is already used by task {first}"


def test_an_id_is_named_as_sent(store: Store, tenant: Tenant, db: Observer) -> None:
    # '<id>' in the messages is the id between quotes, not a Python repr of it (which doubles
    # a backslash).
    api = make_api(store)
    first = create(api, tenant, userTaskId="C:\\batch")
    message = refused_unchanged(api, tenant, db, CREATE, task_body(tenant, userTaskId="C:\\batch"))
    assert message == f"userTaskId: 'C:\\batch' is already used by task {first}"


def test_a_user_task_id_of_another_account_is_free(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    other = make_tenant(store, "globex")
    create(api, other, userTaskId="batch-1", startupType=1)
    create(api, tenant, userTaskId="batch-1", startupType=1)


def test_startup_type_2_without_startup_at(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    message = refused_unchanged(api, tenant, db, CREATE, task_body(tenant, startupType=2))
    assert message == "startupAt: required when startupType is 2"
    message = refused_unchanged(api, tenant, db, CREATE,
                                task_body(tenant, startupType="2", startupAt=""))  # fmt: skip
    assert message == "startupAt: required when startupType is 2"


def test_shutdown_at_before_startup_at(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    body = task_body(tenant, startupType=2, startupAt=NOW + 600, shutdownAt=NOW + 599)
    message = refused_unchanged(api, tenant, db, CREATE, body)
    assert message == f"shutdownAt: must be after startupAt ({NOW + 599} <= {NOW + 600})"


def test_shutdown_at_equal_to_startup_at(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    body = task_body(tenant, startupType=2, startupAt=NOW, shutdownAt=NOW)
    message = refused_unchanged(api, tenant, db, CREATE, body)
    assert message == f"shutdownAt: must be after startupAt ({NOW} <= {NOW})"


def test_appending_to_a_completed_task_with_task_keep_0(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    task_id = create(api, tenant, routeId=sure_route(store, tenant), taskKeep=0,
                     list=contacts("done", 3))  # fmt: skip
    run_to_end(simulator(store))
    assert task_of(api, tenant, task_id)["taskStatus"] == 3
    message = refused_unchanged(api, tenant, db, APPEND,
                                {"taskId": task_id, "list": contacts("late", 2)})  # fmt: skip
    assert message == (f"taskId: task {task_id} is completed (taskKeep 0) "
                       "and takes no more contacts")  # fmt: skip


def test_appending_to_a_failed_task(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, list=contacts("fl", 1))
    assert lifecycle.set_enabled(store, route_id=tenant.route_id, enabled=False,
                                 clock=CLOCK) == [task_id]  # fmt: skip
    message = refused_unchanged(api, tenant, db, APPEND,
                                {"taskId": task_id, "list": contacts("late", 1)})  # fmt: skip
    assert message == f"taskId: task {task_id} has failed and takes no more contacts"


def test_deleting_a_contact_being_dialled(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, list=contacts("ring", 2))
    sim = simulator(store)
    sim.advance(NOW)
    assert sim.in_flight == 2
    message = refused_unchanged(api, tenant, db, DELETE, {"taskId": task_id, "contactId": "ring1"})
    assert message == "contactId: 'ring1' has been dialled and cannot be deleted"


def test_deleting_a_contact_dialled_and_waiting_for_a_retry(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    # A fixed taskId makes the outcome fixed: seed 1 draws result 2 (no answer, retried) for
    # this task's contact (a random taskId would draw 7 or 8, never retried, 8 % of the time).
    api = api_with_ids(store, "00000000-0000-4000-8000-000000000001")
    task_id = create(api, tenant, routeId=silent_route(store, tenant), orderMaxCall=3,
                     replayInterval=3600, list=contacts("retry", 1))  # fmt: skip
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + 600)
    assert [row[6] for row in order_rows(db, task_id)] == ["pending"]
    assert len(all_calls(api, tenant, task_id)) == 1
    message = refused_unchanged(api, tenant, db, DELETE, {"taskId": task_id, "contactId": "retry0"})
    assert message == "contactId: 'retry0' has been dialled and cannot be deleted"


def test_deleting_a_finished_contact(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, routeId=sure_route(store, tenant), taskKeep=1,
                     list=contacts("fin", 1))  # fmt: skip
    run_to_end(simulator(store))
    message = refused_unchanged(api, tenant, db, DELETE, {"taskId": task_id, "contactId": "fin0"})
    assert message == "contactId: 'fin0' has been dialled and cannot be deleted"


@pytest.mark.parametrize(
    "phone", ["12a", "+", "", "1+23", "++123", " 1234", "852-1234", "１２３４", "+85 21234"]
)
def test_phone_numbers_that_are_not_digits(
    store: Store, tenant: Tenant, db: Observer, phone: str
) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1)
    body = {
        "taskId": task_id,
        "list": [*contacts("p", 3), {"contactId": "bad", "phoneNumber": phone}],
    }
    message = refused_unchanged(api, tenant, db, APPEND, body)
    if phone == "":
        assert message == "list[3].phoneNumber: required"
    else:
        shown = json.dumps(phone, ensure_ascii=False)
        assert (
            message
            == f"list[3].phoneNumber: must be digits with an optional leading +, got {shown}"
        )


def test_a_phone_number_that_is_not_digits_refuses_the_create(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    body = task_body(tenant, list=[{"contactId": "x", "phoneNumber": "12a"}])
    message = refused_unchanged(api, tenant, db, CREATE, body)
    assert message == 'list[0].phoneNumber: must be digits with an optional leading +, got "12a"'


@pytest.mark.parametrize("phone", ["123", "+123", "+85212345678", "12345678901234567890"])
def test_phone_numbers_of_digits_with_an_optional_plus_are_taken(
    store: Store, tenant: Tenant, db: Observer, phone: str
) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1, list=[{"contactId": "x", "phoneNumber": phone}])
    assert [row[1] for row in order_rows(db, task_id)] == [phone]


def test_more_than_10000_contacts_in_an_append(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1)
    message = refused_unchanged(api, tenant, db, APPEND,
                                {"taskId": task_id, "list": contacts("m", 10_001)})  # fmt: skip
    assert message == "list: at most 10000 contacts, got 10001"


def test_more_than_10000_contacts_in_a_create(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    message = refused_unchanged(api, tenant, db, CREATE,
                                task_body(tenant, list=contacts("m", 10_001)))  # fmt: skip
    assert message == "list: at most 10000 contacts, got 10001"


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("taskCallbackUrl", "ftp://cb.example.com/task"),
        ("taskCallbackUrl", "cb.example.com/task"),
        ("taskCallbackUrl", "http://"),
        ("taskCallbackUrl", "javascript:alert(1)"),
        ("callCallbackUrl", "mailto:ops@example.com"),
        ("callCallbackUrl", "/relative/path"),
        ("callCallbackUrl", "https:/one-slash.example.com"),
    ],
)
def test_a_callback_url_that_is_not_http(
    store: Store, tenant: Tenant, db: Observer, field: str, url: str
) -> None:
    api = make_api(store)
    message = refused_unchanged(api, tenant, db, CREATE, task_body(tenant, **{field: url}))
    assert message == f"{field}: must be an http(s) URL, got {json.dumps(url)}"


def test_a_contact_id_used_in_another_task_of_the_account(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    create(api, tenant, startupType=1, list=contacts("c", 3))
    task_id = create(api, tenant, startupType=1)
    body = {"taskId": task_id, "list": [
        {"contactId": "new1", "phoneNumber": "+85211111111"},
        {"contactId": "c2", "phoneNumber": "+85222222222"},
        {"contactId": "new2", "phoneNumber": "+85233333333"},
    ]}  # fmt: skip
    message = refused_unchanged(api, tenant, db, APPEND, body)
    assert message == "Duplicate contactIds are not allowed: c2"
    assert order_rows(db, task_id) == []
    assert task_of(api, tenant, task_id)["statInfo"]["totalOrderCount"] == 0


def test_a_contact_id_used_before_refuses_the_create(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    create(api, tenant, startupType=1, list=contacts("c", 3))
    body = task_body(
        tenant, list=[*contacts("fresh", 2), {"contactId": "c0", "phoneNumber": "123"}]
    )
    message = refused_unchanged(api, tenant, db, CREATE, body)
    assert message == "Duplicate contactIds are not allowed: c0"


def test_a_contact_id_repeated_within_the_request(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1)
    body = {
        "taskId": task_id,
        "list": [*contacts("w", 2), {"contactId": "w1", "phoneNumber": "999"}],
    }
    message = refused_unchanged(api, tenant, db, APPEND, body)
    assert message == "Duplicate contactIds are not allowed: w1"


def test_a_contact_id_of_another_account_is_free(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    other = make_tenant(store, "globex")
    create(api, other, startupType=1, list=contacts("c", 2))
    task_id = create(api, tenant, startupType=1, list=contacts("c", 2))
    assert [row[0] for row in order_rows(db, task_id)] == ["c0", "c1"]


def test_a_params_name_that_is_not_a_variable_of_the_flow(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1)
    body = {"taskId": task_id, "list": [
        {"contactId": "q0", "phoneNumber": "123", "params": [{"name": "name", "value": "Ann"}]},
        {"contactId": "q1", "phoneNumber": "124",
         "params": [{"name": "name", "value": "Bo"}, {"name": "age", "value": 30}]},
    ]}  # fmt: skip
    message = refused_unchanged(api, tenant, db, APPEND, body)
    assert message == (f"list[1].params[1].name: 'age' is not a variable of flow "
                       f"{tenant.flow_id} (variables: name)")  # fmt: skip


def test_a_params_name_that_is_not_a_variable_refuses_the_create(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    api = make_api(store)
    bare = admin.create_flow(store, "acme", name="bare", variables=[])
    body = task_body(tenant, autoFlowId=bare.id, list=[
        {"contactId": "q0", "phoneNumber": "123", "params": [{"name": "name", "value": "Ann"}]},
    ])  # fmt: skip
    message = refused_unchanged(api, tenant, db, CREATE, body)
    assert (
        message
        == f"list[0].params[0].name: 'name' is not a variable of flow {bare.id} (variables: none)"
    )


@pytest.mark.parametrize("path", [APPEND, DELETE, START, PAUSE, CALLS])
def test_another_accounts_task_is_not_found(
    store: Store, tenant: Tenant, db: Observer, path: str
) -> None:
    api = make_api(store)
    other = make_tenant(store, "globex")
    lifecycle.top_up(store, other.account_id, 1000, clock=CLOCK)
    foreign = create(api, other, startupType=1, userTaskId="theirs", list=contacts("o", 1))
    body = {**_valid_body(path, tenant), "taskId": foreign}
    message = refused_unchanged(api, tenant, db, path, body)
    assert message == f"taskId: no task {foreign!r} in this account"
    if path != CALLS:  # call/list names its task by taskId only
        body = {**_valid_body(path, tenant), "userTaskId": "theirs"}
        body.pop("taskId")
        message = refused_unchanged(api, tenant, db, path, body)
        assert message == "userTaskId: no task 'theirs' in this account"


@pytest.mark.parametrize("path", [APPEND, DELETE, START, PAUSE])
def test_a_task_must_be_named(store: Store, tenant: Tenant, db: Observer, path: str) -> None:
    api = make_api(store)
    body = _valid_body(path, tenant)
    body.pop("taskId")
    for unset in ({}, {"taskId": "", "userTaskId": None}):
        message = refused_unchanged(api, tenant, db, path, {**body, **unset})
        assert message == "taskId: required (or userTaskId)"


def test_user_task_id_wins_over_task_id(store: Store, tenant: Tenant, db: Observer) -> None:
    api = make_api(store)
    first = create(api, tenant, startupType=1, userTaskId="first", list=contacts("a", 1))
    second = create(api, tenant, startupType=1, userTaskId="second", list=contacts("b", 1))
    appended = ok(api, tenant, APPEND,
                  {"taskId": first, "userTaskId": "second", "list": contacts("x", 2)})  # fmt: skip
    assert appended["data"] == {"taskId": second, "count": 2}
    assert [row[0] for row in order_rows(db, second)] == ["b0", "x0", "x1"]
    started = ok(api, tenant, START, {"taskId": first, "userTaskId": "second"})
    assert started["data"] == {"taskId": second, "taskStatus": 2, "pauseReason": None}
    assert task_of(api, tenant, first)["taskStatus"] == 1
    paused = ok(api, tenant, PAUSE, {"taskId": first, "userTaskId": "second"})
    assert paused["data"] == {"taskId": second, "taskStatus": 5, "pauseReason": 1}
    deleted = ok(api, tenant, DELETE, {"taskId": first, "userTaskId": "second", "contactId": "x1"})
    assert deleted["data"] == {"taskId": second, "contactId": "x1"}
    # A userTaskId that names nothing is not rescued by a good taskId.
    message = refused_unchanged(api, tenant, db, START, {"taskId": first, "userTaskId": "nope"})
    assert message == "userTaskId: no task 'nope' in this account"
    # An empty userTaskId is "not set": the taskId names the task.
    started = ok(api, tenant, START, {"taskId": first, "userTaskId": ""})
    assert started["data"]["taskId"] == first


# -- call/list ----------------------------------------------------------------------------------


def dialled_task(store: Store, api: Api, tenant: Tenant) -> tuple[str, list[dict[str, Any]]]:
    """A finished task with every kind of call: retries, transfers to a human (an agent
    group), several calls placed in the same second; returns its taskId and every call."""
    route = admin.create_route(store, "acme", name="mixed", answer_probability=0.55,
                               talk_seconds_mean=45)  # fmt: skip
    # A fixed taskId fixes every outcome (seed 4): the kinds of call below always occur.
    fixed = api_with_ids(store, "00000000-0000-4000-8000-000000000070")
    task_id = create(fixed, tenant, routeId=route.route_id, userTaskId="mixed", orderMaxCall=3,
                     replayInterval=120, agentGroupId="humans", maxCall=8,
                     list=contacts("m", 70))  # fmt: skip
    run_to_end(simulator(store, seed=4), hours=12)
    assert task_of(api, tenant, task_id)["taskStatus"] == 3
    calls = all_calls(api, tenant, task_id)
    results = {c["callResult"] for c in calls}
    assert {1, 2, 17} <= results, results
    assert {c["manualCallStatus"] for c in calls if c["callResult"] == 17} == {1, 2}
    assert len({c["createTs"] for c in calls}) < len(calls)  # ties on createTs exist
    return task_id, calls


def _matches(call: dict[str, Any], f: dict[str, Any]) -> bool:
    """The filters of ``call/list``, as plain Python over one call record."""

    def given(name: str) -> bool:
        return f.get(name) not in (None, "")

    return (
        (not given("startTs") or call["createTs"] >= int(f["startTs"]))
        and (not given("endTs") or call["createTs"] <= int(f["endTs"]))
        and (not given("callId") or call["callId"] == f["callId"])
        and (not given("phone") or call["calleePhone"] == f["phone"])
        and (not given("callResult") or call["callResult"] == int(f["callResult"]))
        and (not given("userIntent") or call["userIntent"] == f["userIntent"])
        and (not given("minElapsed") or call["callElapsed"] >= int(f["minElapsed"]))
        and (not given("maxElapsed") or call["callElapsed"] <= int(f["maxElapsed"]))
    )


def _newest_first(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(calls, key=lambda c: (c["createTs"], c["id"]), reverse=True)


def test_call_list_filters_match_a_brute_force_filter(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id, calls = dialled_task(store, api, tenant)
    times = sorted({c["createTs"] for c in calls})
    middle = times[len(times) // 2]
    retried = next(c for c in calls if c["orderHead"] == 0)
    elapsed = sorted(c["callElapsed"] for c in calls if c["callElapsed"] > 0)
    filters: list[dict[str, Any]] = [
        {},
        {"startTs": middle},
        {"endTs": middle},
        {"startTs": middle, "endTs": middle},
        {"startTs": times[0], "endTs": times[-1]},
        {"startTs": times[-1] + 1},
        {"endTs": times[0] - 1},
        {"callId": calls[5]["callId"]},
        {"callId": "no-such-call"},
        {"phone": retried["calleePhone"]},
        {"phone": retried["calleePhone"][1:]},  # equality, not contains
        {"userIntent": "C"},
        {"userIntent": "c"},
        {"userIntent": ""},
        {"minElapsed": elapsed[len(elapsed) // 2]},
        {"maxElapsed": elapsed[len(elapsed) // 2]},
        {"minElapsed": 0, "maxElapsed": 0},
        {"minElapsed": "1", "maxElapsed": str(elapsed[-1])},
        {"minElapsed": elapsed[3], "maxElapsed": elapsed[3]},
        {"callResult": 17, "minElapsed": 10},
        {"callResult": 2, "phone": retried["calleePhone"]},
        {"startTs": middle, "callResult": "1", "userIntent": "B", "maxElapsed": elapsed[-1]},
        *({"callResult": result} for result in (1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21)),
    ]
    seen_some = 0
    for f in filters:
        expected = _newest_first([c for c in calls if _matches(c, f)])
        payload = ok(api, tenant, CALLS, {"taskId": task_id, "pageSize": 1000, **f})
        assert payload["total"] == len(expected), f
        assert payload["list"] == expected, f
        seen_some += bool(expected) and len(expected) < len(calls)
    assert seen_some >= 15


def test_call_list_pages_newest_first(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id, calls = dialled_task(store, api, tenant)
    ordered = _newest_first(calls)
    assert calls == ordered
    walked: list[dict[str, Any]] = []
    page_number = 1
    while True:
        payload = ok(api, tenant, CALLS,
                     {"taskId": task_id, "pageNumber": page_number, "pageSize": 7})  # fmt: skip
        assert (payload["total"], payload["pageNumber"], payload["pageSize"]) == (
            len(calls), page_number, 7
        )  # fmt: skip
        if not payload["list"]:
            break
        walked.extend(payload["list"])
        page_number += 1
    assert walked == ordered
    assert page_number == -(-len(calls) // 7) + 1
    default = ok(api, tenant, CALLS, {"taskId": task_id})
    assert (default["pageNumber"], default["pageSize"]) == (1, 10)
    assert default["list"] == ordered[:10]
    filtered = [c for c in ordered if c["callResult"] == 2]
    second = ok(api, tenant, CALLS,
                {"taskId": task_id, "callResult": 2, "pageNumber": 2, "pageSize": 3})  # fmt: skip
    assert second["total"] == len(filtered)
    assert second["list"] == filtered[3:6]


def test_call_records_have_the_shape_of_the_contract(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id, calls = dialled_task(store, api, tenant)
    heads: dict[str, int] = {}
    tails: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for call in calls:
        check_record(call)
        kinds[outcome_kind(call)] = kinds.get(outcome_kind(call), 0) + 1
        assert (call["taskId"], call["userTaskId"]) == (task_id, "mixed")
        assert (call["autoFlowId"], call["autoFlowName"]) == (tenant.flow_id, "acme agent")
        assert call["calleePhone"] == f"+8529{int(call['contactId'][1:]):07d}"
        assert call["realPhone"] == call["calleePhone"]
        assert call["attributes"] == []
        assert (call["agentGroupId"], call["agentGroupName"]) == ("humans", "Agent group humans")
        assert call["lineId"] in {f"{call['routeId']}-L1", f"{call['routeId']}-L2"}
        assert (call["callCallbackUrl"], call["orderCallbackUrl"]) == ("", "")
        heads[call["contactId"]] = heads.get(call["contactId"], 0) + call["orderHead"]
        tails[call["contactId"]] = tails.get(call["contactId"], 0) + call["orderTail"]
    # Every outcome kind occurs (seed 4 and the fixed taskId fix them).
    assert set(kinds) == {"answered", "not answered", "voicemail", "transfer answered",
                          "transfer failed"}, kinds  # fmt: skip
    # Every contact was called, once first and once last.
    assert set(heads) == {f"m{i}" for i in range(70)}
    assert set(heads.values()) == {1}
    assert set(tails.values()) == {1}
    assert len(calls) > 70


def test_call_list_of_a_task_without_calls(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1, list=contacts("z", 2))
    payload = ok(api, tenant, CALLS, {"taskId": task_id, "pageNumber": 3})
    assert {k: payload[k] for k in PAGE_FIELDS} == {
        "total": 0, "pageNumber": 3, "pageSize": 10, "list": []
    }  # fmt: skip


def test_call_list_refusals(store: Store, tenant: Tenant) -> None:
    api = make_api(store)
    task_id = create(api, tenant, startupType=1)
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "taskId: required"),
        ({"taskId": task_id, "pageSize": 1001}, "pageSize: at most 1000, got 1001"),
        ({"taskId": task_id, "callResult": "first"},
         'callResult: must be an integer, got the string "first"'),
        ({"taskId": task_id, "maxElapsed": 2**63},
         "maxElapsed: out of range for a 64-bit integer, got 9223372036854775808"),
        ({"taskId": task_id, "startTs": 20, "endTs": 10},
         "endTs: must be at least startTs (10 < 20)"),
        ({"taskId": task_id, "minElapsed": 5, "maxElapsed": 4},
         "maxElapsed: must be at least minElapsed (4 < 5)"),
        ({"taskId": task_id, "startTs": NOW_MS},
         f"startTs: {NOW_MS} looks like epoch milliseconds; send epoch seconds"),
        ({"taskId": "no-such-task"}, "taskId: no task 'no-such-task' in this account"),
    ]  # fmt: skip
    for body, message in cases:
        assert refused(api, tenant, CALLS, body) == message, body


# -- flow/list and route/list -------------------------------------------------------------------

FLOW_NAMES = [
    "Sales Ägent", "SALES ÄGENT 2", "sales ägent three", "Support", "Renewals", "Ägypten desk",
    "plain agent", "Collections", "Collections ÄÖ", "straße bot", "STRASSE BOT", "Survey",
]  # fmt: skip


def test_flow_list_filters_and_pages(store: Store, tenant: Tenant) -> None:
    api = make_api(store, envelope="flat")  # the page's place is test_each_list_in_each_...
    other = make_tenant(store, "globex")
    admin.create_flow(store, "globex", name="Sales Ägent of globex", variables=[])
    for name in FLOW_NAMES:
        admin.create_flow(store, "acme", name=name, variables=["name"])
    flows = store.list_flows(tenant.account_id)
    gone = next(f for f in flows if f.name == "Support")
    lifecycle.set_enabled(store, flow_id=gone.id, enabled=False, clock=CLOCK)
    listed: list[dict[str, Any]] = [
        {"autoFlowId": f.id, "autoFlowName": f.name, "variables": list(f.variables),
         "createTs": f.created_ts}
        for f in flows if f.id != gone.id
    ]  # fmt: skip
    assert len(listed) == 12
    default = ok(api, tenant, FLOWS, {})
    assert (default["total"], default["pageNumber"], default["pageSize"]) == (12, 1, 10)
    assert default["list"] == listed[:10]
    assert ok(api, tenant, FLOWS, {"pageNumber": 2})["list"] == listed[10:]
    assert ok(api, tenant, FLOWS, {"pageNumber": 3, "pageSize": 5})["list"] == listed[10:]
    assert ok(api, tenant, FLOWS, {"pageNumber": 4, "pageSize": 5})["list"] == []
    for query in ("ä", "Ä", "ÄGENT", "sales ä", "straße", "STRASSE", "agent", "x", "support", "Ö"):
        fold = query.casefold()
        expected = [f for f in listed if fold in f["autoFlowName"].casefold()]
        payload = ok(api, tenant, FLOWS, {"name": query, "pageSize": 1000})
        assert (payload["total"], payload["list"]) == (len(expected), expected), query
    finds = ok(api, tenant, FLOWS, {"name": "ä", "pageSize": 1000})["list"]
    assert [f["autoFlowName"] for f in finds] == [
        "Sales Ägent", "SALES ÄGENT 2", "sales ägent three", "Ägypten desk", "Collections ÄÖ"
    ]  # fmt: skip
    assert ok(api, tenant, FLOWS, {"name": "support"})["total"] == 0  # disabled
    assert ok(api, other, FLOWS, {"name": "ä"})["total"] == 1  # globex sees its own only
    assert refused(api, tenant, FLOWS, {"pageSize": 0}) == "pageSize: must be from 1 to 1000, got 0"


def test_route_list_filters_and_pages(store: Store, tenant: Tenant) -> None:
    api = make_api(store, envelope="flat")  # the page's place is test_each_list_in_each_...
    other = make_tenant(store, "globex")
    names = [f"HK mobile {i}" if i % 3 else f"Überseekabel {i}" for i in range(100)]
    for name in names:
        admin.create_route(store, "acme", name=name, country_code="852")
    routes = store.list_routes(tenant.account_id)
    gone = routes[5]
    lifecycle.set_enabled(store, route_id=gone.route_id, enabled=False, clock=CLOCK)
    listed: list[dict[str, Any]] = [
        {"routeId": r.route_id, "routeName": r.name, "countryCode": r.country_code,
         "pricePerMinute": r.price_per_minute_cents, "createTs": r.created_ts}
        for r in routes if r.route_id != gone.route_id
    ]  # fmt: skip
    assert len(listed) == 100
    default = ok(api, tenant, ROUTES, {})
    assert (default["total"], default["pageNumber"], default["pageSize"]) == (100, 1, 100)
    assert default["list"] == listed
    admin.create_route(store, "acme", name="one more", route_id="OneMore001")
    default = ok(api, tenant, ROUTES, {})
    assert (default["total"], len(default["list"])) == (101, 100)
    assert ok(api, tenant, ROUTES, {"pageNumber": 2})["list"][0]["routeId"] == "OneMore001"
    listed = default["list"] + ok(api, tenant, ROUTES, {"pageNumber": 2})["list"]
    for query in ("ü", "ÜBERSEE", "mobile 1", "MOBILE", "ACME", "1", "zzz"):
        fold = query.casefold()
        expected = [r for r in listed if fold in r["routeName"].casefold()]
        payload = ok(api, tenant, ROUTES, {"routeName": query, "pageSize": 1000})
        assert (payload["total"], payload["list"]) == (len(expected), expected), query
        paged = ok(api, tenant, ROUTES, {"routeName": query, "pageSize": 4, "pageNumber": 2})
        assert paged["list"] == expected[4:8]
    assert gone.route_id not in {r["routeId"] for r in listed}
    assert ok(api, other, ROUTES, {})["list"] == [
        {"routeId": other.route_id, "routeName": "globex route", "countryCode": "852",
         "pricePerMinute": 0, "createTs": store.list_routes(other.account_id)[0].created_ts}
    ]  # fmt: skip
    assert refused(api, tenant, ROUTES, {"pageSize": 1001}) == "pageSize: at most 1000, got 1001"
