"""The sandbox's clock: ``GET/POST /_nxlink/clock`` and ``POST /_nxlink/clock/advance``, which
runs everything due in the interval before answering what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from db import Observer
from nxlink.contract.endpoints import API_PREFIX
from nxlink.service import admin as admin_service
from nxlink.store import Store, open_store

TOKEN = "clock-token-0123"
NOW = NOW_MS // 1000


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token=TOKEN, sim_seed=5)


@pytest.fixture
def tenant(store: Store) -> Tenant:
    tenant = make_tenant(store, "acme")
    admin_service.top_up(store, "acme", 10**8)
    return tenant


def admin(api: Api, method: str, path: str, body: Any = None) -> Any:
    content = None if body is None else json.dumps(body)
    return api.client.request(method, "/_nxlink" + path, content=content,
                              headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip


def data(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def refused(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == 20000
    return str(body["message"])


def create(api: Api, tenant: Tenant, **fields: Any) -> str:
    body = {"taskName": "clocked", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 5, **fields}  # fmt: skip
    answer = api.post(tenant, json.dumps(body), path=API_PREFIX + "task/create").json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["taskId"])


def test_the_clock_is_real_time_until_set(api: Api) -> None:
    assert data(admin(api, "GET", "/clock")) == {"now": NOW_MS, "speed": 1.0, "frozen": False}
    api.clock[0] = NOW_MS + 2500
    assert data(admin(api, "GET", "/clock"))["now"] == NOW_MS + 2500


def test_frozen_stays_put_and_speed_runs_from_where_it_is(api: Api) -> None:
    assert data(admin(api, "POST", "/clock", {"frozen": True})) == {
        "now": NOW_MS, "speed": 1.0, "frozen": True}  # fmt: skip
    api.clock[0] = NOW_MS + 10_000
    assert data(admin(api, "GET", "/clock"))["now"] == NOW_MS
    assert data(admin(api, "POST", "/clock", {"speed": 60, "frozen": False})) == {
        "now": NOW_MS, "speed": 60.0, "frozen": False}  # fmt: skip
    api.clock[0] = NOW_MS + 11_000  # one real second: a simulated minute
    assert data(admin(api, "GET", "/clock"))["now"] == NOW_MS + 60_000


def test_advance_runs_every_call_due_and_answers_what_happened(
    api: Api, tenant: Tenant, db: Observer
) -> None:
    data(admin(api, "POST", "/clock", {"frozen": True}))
    contacts = [{"contactId": "yes", "phoneNumber": "+85291555001"},
                {"contactId": "busy", "phoneNumber": "+85291555004"},
                {"contactId": "third", "phoneNumber": "+85291555301"}]  # fmt: skip
    task_id = create(api, tenant, orderMaxCall=3, replayInterval=600, list=contacts)
    moved = data(admin(api, "POST", "/clock/advance", {"seconds": 3600}))
    assert (moved["from"], moved["to"]) == (NOW_MS, NOW_MS + 3_600_000)
    assert moved["clock"] == {"now": NOW_MS + 3_600_000, "speed": 1.0, "frozen": True}
    results = [(c["contactId"], c["attempt"], c["callResult"]) for c in moved["calls"]]
    assert sorted(results) == [("busy", 1, 4), ("busy", 2, 4), ("busy", 3, 4),
                               ("third", 1, 2), ("third", 2, 2), ("third", 3, 1),
                               ("yes", 1, 1)]  # fmt: skip
    assert (moved["callsPlaced"], moved["callsEnded"]) == (7, 7)
    assert all(c["taskId"] == task_id and c["callStart"] >= NOW for c in moved["calls"])
    assert [(c["taskId"], c["from"], c["to"]) for c in moved["statusChanges"]] == [
        (task_id, 2, 3)]  # fmt: skip
    assert moved["callbacksEnqueued"] == 0
    assert data(admin(api, "GET", "/clock"))["now"] == NOW_MS + 3_600_000
    listed = api.post(tenant, json.dumps({"taskId": task_id})).json()["list"][0]
    assert listed["taskStatus"] == 3
    assert db.one("SELECT count(*) FROM calls") == (7,)
    again = data(admin(api, "POST", "/clock/advance", {"seconds": 60}))
    assert (again["callsPlaced"], again["statusChanges"]) == (0, [])


def test_advance_fires_startup_at_and_enqueues_callbacks(api: Api, tenant: Tenant) -> None:
    data(admin(api, "POST", "/clock", {"frozen": True}))
    task_id = create(api, tenant, startupType=2, startupAt=NOW + 1800,
                     taskCallbackUrl="http://127.0.0.1:9/hook",
                     list=[{"contactId": "c", "phoneNumber": "+85291555001"}])  # fmt: skip
    early = data(admin(api, "POST", "/clock/advance", {"seconds": 1799}))
    assert (early["callsPlaced"], early["statusChanges"]) == (0, [])
    late = data(admin(api, "POST", "/clock/advance", {"seconds": 1200}))
    changes = [(c["from"], c["to"], c["at"]) for c in late["statusChanges"]]
    assert changes == [(1, 2, NOW + 1800), (2, 3, late["calls"][0]["callEnd"])]
    assert late["calls"][0]["taskId"] == task_id
    assert late["callbacksEnqueued"] == 2  # in progress, completed


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/clock/advance", {"seconds": -5}, "seconds: must be from 1 to 31622400, got -5"),
        ("/clock/advance", {"seconds": 0}, "seconds: must be from 1 to 31622400, got 0"),
        ("/clock/advance", {"seconds": 1.5}, "seconds: must be a whole number, got 1.5"),
        ("/clock/advance", {"seconds": "1h"}, 'seconds: must be a whole number, got "1h"'),
        ("/clock/advance", {}, "seconds: missing; how far to move the clock"),
        ("/clock/advance", {"seconds": 5, "speed": 2}, "speed: unknown key; expected seconds"),
        ("/clock", {}, "body: give now, speed or frozen"),
        ("/clock", {"now": -1}, "now: must be from 0 to 253402300799000, got -1"),
        ("/clock", {"speed": 0}, "speed: must be above 0 to 100000, got 0"),
        ("/clock", {"frozen": "yes"}, 'frozen: must be true or false, got "yes"'),
        ("/clock", [1], "body: must be a JSON object"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(
    api: Api, path: str, body: Any, message: str
) -> None:
    before = data(admin(api, "GET", "/clock"))
    assert refused(admin(api, "POST", path, body)) == message
    assert data(admin(api, "GET", "/clock")) == before


def test_the_same_seed_calls_and_advances_give_the_same_answers(
    store: Store, make_store_url: Callable[[str], str]
) -> None:
    """Two sandboxes from nothing, the same seed, calls and advances: the same answers, byte
    for byte but the traceId (taskIds are seeded: NXLINK_SEEDED_IDS)."""

    def run(store: Store) -> list[bytes]:
        api = make_api(store, admin_token=TOKEN, sim_seed=9, seeded_ids=True)
        tenant = make_tenant(store, "one", route_id="HK-1")
        admin_service.top_up(store, "one", 10**8)
        answers = [admin(api, "POST", "/clock", {"now": NOW_MS - 86_400_000, "frozen": True})]
        contacts = [{"contactId": f"c{i}", "phoneNumber": f"+8529100{i:04d}"} for i in range(30)]
        create(api, tenant, orderMaxCall=2, list=contacts)
        answers += [admin(api, "POST", "/clock/advance", {"seconds": s}) for s in (90, 600, 3600)]
        answers.append(api.post(tenant, "{}"))
        return [_untraced(response) for response in answers]

    first = run(store)
    other = open_store(make_store_url("again"))
    try:
        second = run(other)
    finally:
        other.close()
    assert second == first
    moved = [json.loads(raw)["data"] for raw in first[1:4]]
    assert sum(a["callsEnded"] for a in moved) == sum(a["callsPlaced"] for a in moved) > 30
    assert moved[0]["from"] == NOW_MS - 86_400_000


def _untraced(response: Any) -> bytes:
    """The answer's bytes with its traceId blanked."""
    trace = response.json()["traceId"]
    return bytes(response.content.replace(trace.encode(), b"-"))


def test_setting_the_clock_back_waits_for_calls_in_flight(api: Api, tenant: Tenant) -> None:
    data(admin(api, "POST", "/clock", {"frozen": True}))
    create(api, tenant, list=[{"contactId": "c", "phoneNumber": "+85291555001"}])
    data(admin(api, "POST", "/clock/advance", {"seconds": 1}))  # the call is placed, not over
    message = refused(admin(api, "POST", "/clock", {"now": NOW_MS - 1000}), 409)
    assert message == "now: cannot go back while 1 call(s) are in flight; advance until they end"
    assert data(admin(api, "GET", "/clock"))["now"] == NOW_MS + 1000


def test_advance_fires_shutdown_at_and_pauses_by_schedule(api: Api, tenant: Tenant) -> None:
    data(admin(api, "POST", "/clock", {"frozen": True}))
    contacts = [{"contactId": f"c{i}", "phoneNumber": f"+85291555{i % 9 + 2}01"} for i in range(9)]
    task_id = create(api, tenant, startupType=2, startupAt=NOW + 600, shutdownAt=NOW + 1200,
                     maxCall=1, orderMaxCall=9, replayInterval=3600, list=contacts)  # fmt: skip
    moved = data(admin(api, "POST", "/clock/advance", {"seconds": 7200}))
    changes = [(c["taskId"], c["from"], c["to"], c["pauseReason"], c["at"])
               for c in moved["statusChanges"]]  # fmt: skip
    assert changes == [(task_id, 1, 2, None, NOW + 600), (task_id, 2, 5, 2, NOW + 1200)]
    assert all(NOW + 600 <= c["callStart"] < NOW + 1200 for c in moved["calls"])
    listed = api.post(tenant, json.dumps({"taskId": task_id})).json()["list"][0]
    assert (listed["taskStatus"], listed["pauseReason"]) == (5, 2)
