"""Requests an attacker or a flaky network repeats (``decisions.md`` #19): a signed write sent
again gets its first answer and changes nothing; rate limits per access key (HTTP 429); exact
paths and media types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from db import Observer
from nxlink.contract.endpoints import API_PREFIX
from nxlink.service import lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

CREATE = API_PREFIX + "task/create"
START = API_PREFIX + "task/start"
PAUSE = API_PREFIX + "task/pause"
LIST = API_PREFIX + "task/list"


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return make_tenant(store, "acme")


def _task(tenant: Tenant) -> str:
    return json.dumps({"taskName": "replayed", "autoFlowId": tenant.flow_id,
                       "routeId": tenant.route_id, "taskKeep": 0, "startupType": 1})  # fmt: skip


def _answer(response: Any) -> dict[str, Any]:
    payload: dict[str, Any] = response.json()
    assert payload["traceId"] == response.headers["X-Trace-Id"]
    return payload


def test_a_signed_create_sent_three_times_makes_one_task(
    api: Api, tenant: Tenant, db: Observer
) -> None:
    ts = str(NOW_MS - 5)
    sent = [api.post(tenant, _task(tenant), ts=ts, path=CREATE) for _ in range(3)]
    answers = [_answer(response) for response in sent]
    assert [r.status_code for r in sent] == [200, 200, 200]
    assert len({a["traceId"] for a in answers}) == 3  # each answer its own traceId
    first = {k: v for k, v in answers[0].items() if k != "traceId"}
    assert first["code"] == 0
    assert all({k: v for k, v in a.items() if k != "traceId"} == first for a in answers)
    assert list(answers[1]) == ["code", "message", "traceId", "data"]
    assert db.one("SELECT count(*) FROM tasks") == (1,)
    # Another ts is another request.
    assert _answer(api.post(tenant, _task(tenant), ts=str(NOW_MS - 6), path=CREATE))["code"] == 0
    assert db.one("SELECT count(*) FROM tasks") == (2,)


def test_a_replay_after_the_window_is_1004(api: Api, tenant: Tenant, db: Observer) -> None:
    ts = str(NOW_MS)
    assert _answer(api.post(tenant, _task(tenant), ts=ts, path=CREATE))["code"] == 0
    api.clock[0] = NOW_MS + 60_001
    late = _answer(api.post(tenant, _task(tenant), ts=ts, path=CREATE))
    assert late["code"] == 1004
    assert db.one("SELECT count(*) FROM tasks") == (1,)


def test_the_same_signed_bytes_at_another_operation_are_its_request(
    store: Store, api: Api, tenant: Tenant
) -> None:
    lifecycle.top_up(store, tenant.account_id, 10_000, clock=Clock.at(NOW_MS))
    task_id = _answer(api.post(tenant, _task(tenant), path=CREATE))["data"]["taskId"]
    body, ts = json.dumps({"taskId": task_id}), str(NOW_MS - 100)
    started = _answer(api.post(tenant, body, ts=ts, path=START))
    paused = _answer(api.post(tenant, body, ts=ts, path=PAUSE))
    assert (started["data"]["taskStatus"], paused["data"]["taskStatus"]) == (2, 5)
    again = _answer(api.post(tenant, body, ts=ts, path=START))  # the start again: its answer
    assert again["data"] == started["data"]


def test_a_refused_write_is_checked_again(api: Api, tenant: Tenant, db: Observer) -> None:
    body, ts = json.dumps({"taskName": "x"}), str(NOW_MS - 7)
    first = _answer(api.post(tenant, body, ts=ts, path=CREATE))
    second = _answer(api.post(tenant, body, ts=ts, path=CREATE))
    assert first["code"] == second["code"] == 20000
    assert first["message"] == second["message"]
    assert db.one("SELECT count(*) FROM write_replays") == (0,)


def test_reads_may_repeat(api: Api, tenant: Tenant, db: Observer) -> None:
    ts = str(NOW_MS - 9)
    for _ in range(3):
        assert _answer(api.post(tenant, b"{}", ts=ts, path=LIST))["code"] == 0
    assert db.one("SELECT count(*) FROM write_replays") == (0,)


# -- rate limits -------------------------------------------------------------------------------
def test_past_the_rate_limit_is_429_with_retry_after(store: Store, tenant: Tenant) -> None:
    api = make_api(store, rate_limit_per_s=0.5, rate_limit_burst=2)  # one per 2 s, two at once
    assert [_answer(api.post(tenant, b"{}"))["code"] for _ in range(2)] == [0, 0]
    refused = api.post(tenant, b"{}")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert _answer(refused) == {
        "code": 20000,
        "message": f"rate limit: too many requests for access key {tenant.access_key}; "
        "try again in 2 s",
        "traceId": refused.headers["X-Trace-Id"],
    }
    api.clock[0] += 2_000  # a token is back
    assert _answer(api.post(tenant, b"{}"))["code"] == 0
    # Without a valid signature, nothing is counted against the key.
    api.clock[0] += 10_000
    for _ in range(5):
        assert _answer(api.post(tenant, b"{}", headers={"sign": "0" * 32}))["code"] == 1003
    assert [_answer(api.post(tenant, b"{}"))["code"] for _ in range(2)] == [0, 0]


def test_no_rate_limit_by_default(api: Api, tenant: Tenant) -> None:
    assert {_answer(api.post(tenant, b"{}"))["code"] for _ in range(50)} == {0}


# -- exact paths and media types ---------------------------------------------------------------
def test_a_trailing_slash_is_an_unknown_path(api: Api, tenant: Tenant) -> None:
    response = api.post(tenant, b"{}", path=LIST + "/")
    assert response.status_code == 404
    assert "location" not in response.headers
    assert _answer(response) == {
        "code": 20000,
        "message": f"no such endpoint: POST {LIST}/",
        "traceId": response.headers["X-Trace-Id"],
    }


def test_a_charset_other_than_utf8_is_415(api: Api, tenant: Tenant) -> None:
    response = api.post(tenant, b"{}", headers={"Content-Type": "application/json; charset=utf-16"})
    assert response.status_code == 415
    assert _answer(response)["message"] == (
        "Content-Type: the body must be UTF-8, got charset 'utf-16'"
    )
    for fine in ("application/json; charset=UTF-8", "application/json;charset=utf8"):
        assert _answer(api.post(tenant, b"{}", headers={"Content-Type": fine}))["code"] == 0
