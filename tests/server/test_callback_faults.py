"""``/_nxlink/callback-faults`` and ``/_nxlink/deliveries`` through the in-process app."""

from __future__ import annotations

from typing import Any

import pytest

from callbacks import add_callback
from conftest import NOW_MS, Api, make_api, make_tenant
from nxlink.store import Store
from server.test_admin import TOKEN, admin, data


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token=TOKEN)


def test_faults_are_added_listed_removed_and_cleared(api: Api) -> None:
    added = data(admin(api, "POST", "/callback-faults",
                       json={"url": "/sink/flaky", "failFirst": 2, "failStatus": 503}))  # fmt: skip
    assert added == {"id": added["id"], "url": "/sink/flaky", "delayMs": 0, "failFirst": 2,
                     "failStatus": 503, "createdMs": NOW_MS}  # fmt: skip
    delayed = data(admin(api, "POST", "/callback-faults", json={"delayMs": 250}))
    assert (delayed["url"], delayed["delayMs"], delayed["failFirst"], delayed["failStatus"]) == (
        "",
        250,
        0,
        500,
    )
    assert data(admin(api, "GET", "/callback-faults")) == {"list": [added, delayed]}
    assert data(admin(api, "DELETE", f"/callback-faults/{added['id']}")) == {"removed": added["id"]}
    response = admin(api, "DELETE", f"/callback-faults/{added['id']}")
    assert response.status_code == 404
    assert response.json()["message"] == f"id: no callback fault {added['id']}"
    assert data(admin(api, "DELETE", "/callback-faults")) == {"cleared": 1}
    assert data(admin(api, "GET", "/callback-faults")) == {"list": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "body: give delayMs or failFirst (a fault doing nothing)"),
        ([], "body: must be a JSON object"),
        ({"delayMs": 10_001}, "delayMs: must be from 0 to 10000, got 10001"),
        ({"delayMs": "5"}, 'delayMs: must be a whole number, got "5"'),
        ({"failFirst": True}, "failFirst: must be a whole number, got true"),
        ({"failFirst": 101}, "failFirst: must be from 0 to 100, got 101"),
        ({"failFirst": 1, "failStatus": 204}, "failStatus: must not be a success, got 204"),
        ({"failFirst": 1, "failStatus": 99}, "failStatus: must be from 100 to 599, got 99"),
        ({"failFirst": 1, "when": 1}, "when: unknown field; expected one of url, delayMs, "
                                      "failFirst, failStatus"),
        ({"failFirst": 1, "url": 5}, "url: must be text of at most 2048 characters without "
                                     "control characters (a part of the URLs it applies to)"),
    ],
)  # fmt: skip
def test_a_bad_fault_is_refused(api: Api, body: Any, message: str) -> None:
    response = admin(api, "POST", "/callback-faults", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_a_bad_fault_id_is_refused(api: Api) -> None:
    response = admin(api, "DELETE", "/callback-faults/x1")
    assert response.status_code == 400
    assert response.json()["message"] == "id: must be a callback fault's number, got 'x1'"


def test_the_routes_need_the_token(api: Api) -> None:
    for method, path in [("GET", "/callback-faults"), ("POST", "/callback-faults"),
                         ("DELETE", "/callback-faults"), ("DELETE", "/callback-faults/1"),
                         ("GET", "/deliveries")]:  # fmt: skip
        assert admin(api, method, path, token=None).status_code == 401, (method, path)


def test_deliveries_list_each_try_with_filters(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    first = add_callback(store, tenant.account_id, url="http://127.0.0.1:9/a", event_id="ev-a")
    add_callback(store, tenant.account_id, url="http://127.0.0.1:9/b", event_id="ev-b")
    store.record_delivery(first, now_ms=NOW_MS + 5, delivered=False, status=500, error="HTTP 500",
                          next_attempt_ms=NOW_MS + 10, started_ms=NOW_MS, latency_ms=4.5)  # fmt: skip
    store.record_delivery(first, now_ms=NOW_MS + 20, delivered=True, status=200, error="",
                          next_attempt_ms=None, started_ms=NOW_MS + 10, latency_ms=2.0,
                          fault="delay", delay_ms=8)  # fmt: skip
    page = data(admin(api, "GET", "/deliveries"))
    assert page["total"] == 2
    assert page["list"] == [
        {"id": page["list"][0]["id"], "eventId": "ev-a", "outboxId": first,
         "accountId": tenant.account_id, "url": "http://127.0.0.1:9/a", "attempt": 1,
         "startedMs": NOW_MS, "endedMs": NOW_MS + 5, "latencyMs": 4.5, "status": 500,
         "error": "HTTP 500", "delivered": False, "fault": "", "delayMs": 0},
        {"id": page["list"][1]["id"], "eventId": "ev-a", "outboxId": first,
         "accountId": tenant.account_id, "url": "http://127.0.0.1:9/a", "attempt": 2,
         "startedMs": NOW_MS + 10, "endedMs": NOW_MS + 20, "latencyMs": 2.0, "status": 200,
         "error": "", "delivered": True, "fault": "delay", "delayMs": 8},
    ]  # fmt: skip

    def attempts(**params: str) -> list[int]:
        return [t["attempt"] for t in data(admin(api, "GET", "/deliveries", params=params))["list"]]

    assert attempts(status="500") == [1]
    assert attempts(delivered="true") == [2]
    assert attempts(delivered="false") == [1]
    assert attempts(url="/a") == [1, 2]
    assert attempts(url="/b") == []
    assert attempts(eventId="ev-a", limit="1") == [2]
    response = admin(api, "GET", "/deliveries", params={"delivered": "maybe"})
    assert response.json()["message"] == "delivered: must be true or false, got 'maybe'"
    response = admin(api, "GET", "/deliveries", params={"code": "1"})
    assert response.json()["message"] == (
        "code: unknown parameter; expected one of eventId, url, status, delivered, limit"
    )
