"""Calling windows through the API, on both backends: ``task/create`` with ``weekDay`` and
``zoneSecond``, the sandbox's ``advance`` over the closed days, and ``call/list`` showing when
the calls started. The task list renders neither field (the vendor's task object has none)."""

from __future__ import annotations

import itertools
import json
from datetime import datetime as dt
from datetime import timedelta, timezone
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from db import Observer
from nxlink.contract.endpoints import API_PREFIX
from nxlink.service import admin as admin_service
from nxlink.store import Store

TOKEN = "windows-token-0123"
NOW = NOW_MS // 1000  # Thursday 2026-01-01 00:00 UTC
HOUR, DAY = 3_600, 86_400
UTC_MINUS_5 = -18_000
#: Monday 2026-01-05 00:00 in UTC-5.
MONDAY = NOW + 4 * DAY + 5 * HOUR


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token=TOKEN, sim_seed=11)


@pytest.fixture
def tenant(store: Store) -> Tenant:
    tenant = make_tenant(store, "windows")
    admin_service.top_up(store, "windows", 10**8)
    return tenant


def _admin(api: Api, path: str, body: Any) -> Any:
    response = api.client.post("/_nxlink" + path, content=json.dumps(body),
                               headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _call(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> Any:
    return api.post(tenant, json.dumps(body), path=API_PREFIX + path).json()


def _create(api: Api, tenant: Tenant, name: str, **fields: Any) -> str:
    body = {"taskName": name, "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 5, **fields}  # fmt: skip
    answer = _call(api, tenant, "task/create", body)
    assert answer["code"] == 0, answer
    return str(answer["data"]["taskId"])


def _starts(api: Api, tenant: Tenant, task_id: str) -> list[tuple[str, int, int, int]]:
    """(contactId, callResult, callStart, callEnd) from call/list, oldest first."""
    answer = _call(api, tenant, "call/list", {"taskId": task_id, "pageSize": 100})
    assert answer["code"] == 0, answer
    calls = answer["list"]
    return sorted(((c["contactId"], c["callResult"], c["callStart"], c["callEnd"]) for c in calls),
                  key=lambda row: (row[2], row[0]))  # fmt: skip


def test_a_monday_task_waits_over_the_weekend_and_dials_on_monday_in_its_zone(
    api: Api, tenant: Tenant, db: Observer
) -> None:
    _admin(api, "/clock", {"frozen": True})
    contacts = [{"contactId": f"m{i}", "phoneNumber": f"+85291555{n}01"}
                for i, n in enumerate((0, 2, 3))]  # fmt: skip
    monday = _create(api, tenant, "mondays", weekDay="1", zoneSecond=UTC_MINUS_5,
                     orderMaxCall=3, replayInterval=600, list=contacts)  # fmt: skip
    daily = _create(api, tenant, "daily", list=[{"contactId": "d", "phoneNumber": "+85291555001"}])

    moved = _admin(api, "/clock/advance", {"seconds": 4 * DAY})  # to Monday 00:00 UTC
    assert {c["taskId"] for c in moved["calls"]} == {daily}
    assert _starts(api, tenant, monday) == []
    listed = api.tasks(tenant, json.dumps({"taskName": "mondays"}))["list"][0]
    assert listed["taskStatus"] == 2  # in progress, waiting for Monday in UTC-5
    assert "weekDay" not in listed and "zoneSecond" not in listed

    moved = _admin(api, "/clock/advance", {"seconds": 2 * DAY})
    starts = _starts(api, tenant, monday)
    # 555N01 answers at attempt N (result 2 before): each retry replayInterval (600 s) after
    # the contact's last call ended, all on Monday in UTC-5, the first at its midnight.
    by_contact: dict[str, list[tuple[int, int, int]]] = {}
    for contact, result, start, end in starts:
        by_contact.setdefault(contact, []).append((result, start, end))
    assert {c: [r for r, _, _ in calls] for c, calls in by_contact.items()} == {
        "m0": [1], "m1": [2, 1], "m2": [2, 2, 1]}  # fmt: skip
    for calls in by_contact.values():
        assert calls[0][1] == MONDAY
        for (_, _, end), (_, start, _) in itertools.pairwise(calls):
            assert start == end + 600
    zone = timezone(timedelta(seconds=UTC_MINUS_5))
    for _, _, start, _ in starts:
        assert dt.fromtimestamp(start, zone).isoweekday() == 1
        assert MONDAY <= start < MONDAY + DAY
    assert {c["taskId"] for c in moved["calls"]} == {monday}
    assert [(c["from"], c["to"]) for c in moved["statusChanges"]] == [(2, 3)]
    assert db.one("SELECT week_days, zone_second FROM tasks WHERE task_id = ?", monday) == (
        1, UTC_MINUS_5)  # fmt: skip
    assert db.one("SELECT week_days, zone_second FROM tasks WHERE task_id = ?", daily) == (127, 0)


def test_a_bad_window_is_one_20000_and_writes_nothing(
    api: Api, tenant: Tenant, db: Observer
) -> None:
    body = {"taskName": "bad", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "weekDay": "1, 2", "zoneSecond": 50_401}  # fmt: skip
    answer = _call(api, tenant, "task/create", body)
    assert (answer["code"], answer["message"]) == (
        20000,
        'weekDay: must not contain spaces, got "1, 2"; '
        "zoneSecond: must be from -43200 to 50400, got 50401",
    )
    assert db.scalar("SELECT count(*) FROM tasks") == 0
