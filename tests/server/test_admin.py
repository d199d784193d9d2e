"""The admin API under ``/_nxlink/``: the bearer token, the request journal, and off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from nxlink.contract.endpoints import API_PREFIX
from nxlink.store import Store

TOKEN = "sandbox-token-1234"


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token=TOKEN, journal_size=5, journal_body_bytes=64)


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return make_tenant(store, "acme")


def admin(api: Api, method: str, path: str, *, token: str | None = TOKEN, **kwargs: Any) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return api.client.request(method, "/_nxlink" + path, headers=headers, **kwargs)


def data(response: Any) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (0, "success")
    assert body["traceId"] == response.headers["X-Trace-Id"]
    return body["data"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "Authorization: missing; the admin API needs 'Authorization: Bearer <admin token>'"),
        ("wrong-token-5678", "Authorization: wrong admin token"),
    ],
)
def test_the_admin_api_needs_its_token(api: Api, token: str | None, message: str) -> None:
    response = admin(api, "GET", "/requests", token=token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert (body["code"], body["message"]) == (20000, message)


def test_a_token_in_another_scheme_is_refused(api: Api) -> None:
    response = api.client.get("/_nxlink/requests", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status_code == 401
    assert response.json()["message"] == "Authorization: expected 'Bearer <admin token>'"


def test_without_a_token_setting_one_is_made_at_start(store: Store) -> None:
    api = make_api(store)
    token = api.client.app.state.admin_token  # type: ignore[attr-defined]
    assert isinstance(token, str) and len(token) >= 32
    assert data(admin(api, "GET", "/requests", token=token)) == {"total": 0, "list": []}


def test_admin_off_removes_it(store: Store) -> None:
    api = make_api(store, admin=False, admin_token=TOKEN)
    response = admin(api, "GET", "/requests")
    assert response.status_code == 404
    assert response.json()["message"] == "no such endpoint: GET /_nxlink/requests"


def test_the_journal_keeps_each_api_request_without_its_signature(
    store: Store, tenant: Tenant
) -> None:
    api = make_api(store, admin_token=TOKEN)
    body = json.dumps({"pageSize": 5})
    listed = api.post(tenant, body)
    (entry,) = data(admin(api, "GET", "/requests"))["list"]
    assert entry["id"] == 1 and entry["ts"] == NOW_MS
    assert (entry["method"], entry["path"], entry["accessKey"]) == (
        "POST", API_PREFIX + "task/list", tenant.access_key
    )  # fmt: skip
    assert "sign" not in entry["headers"] and entry["headers"]["accesskey"] == tenant.access_key
    assert entry["body"] == {"pageSize": 5} and entry["bodyTruncated"] is False
    assert (entry["status"], entry["code"]) == (200, 0)
    assert entry["answer"] == listed.json() and entry["answerTruncated"] is False
    assert entry["traceId"] == listed.headers["X-Trace-Id"]
    assert entry["ms"] >= 0 and entry["fault"] is None


def test_the_journal_filters_counts_and_clears(api: Api, tenant: Tenant, store: Store) -> None:
    other = make_tenant(store, "other")
    api.post(tenant, json.dumps({"pageSize": 5}))
    api.post(tenant, json.dumps({"pageSize": 5000}))  # 20000
    api.post(other, json.dumps({"taskName": "needle"}))
    api.post(tenant, "{}", path=API_PREFIX + "call/list")  # 20000: taskId missing
    api.clock[0] = NOW_MS + 1000
    api.post(tenant, "{}", path=API_PREFIX + "flow/list")

    def count(**params: str) -> int:
        return int(data(admin(api, "GET", "/requests/count", params=params))["count"])

    assert count() == 5
    assert count(path="task/list") == 3
    assert count(path=API_PREFIX + "task/list", code="20000") == 1
    assert count(accessKey=other.access_key) == 1
    assert count(contains="needle") == 1
    assert count(since=str(NOW_MS + 1)) == 1
    assert count(until=str(NOW_MS)) == 4
    listed = data(admin(api, "GET", "/requests", params={"code": "20000", "limit": "1"}))
    assert listed["total"] == 2
    assert [e["path"] for e in listed["list"]] == [API_PREFIX + "call/list"]  # the newest
    assert data(admin(api, "DELETE", "/requests")) == {"cleared": 5}
    assert count() == 0


def test_the_journal_drops_the_oldest_and_cuts_long_bodies(api: Api, tenant: Tenant) -> None:
    for size in range(1, 8):
        api.post(tenant, json.dumps({"pageSize": size, "taskName": "x" * 80}))
    listed = data(admin(api, "GET", "/requests"))
    assert listed["total"] == 5
    assert [e["id"] for e in listed["list"]] == [3, 4, 5, 6, 7]
    entry = listed["list"][0]
    assert entry["bodyTruncated"] is True and len(entry["body"]) == 64
    assert entry["answerTruncated"] is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"code": "x"}, "code: must be a whole number, got 'x'"),
        ({"limit": "5000"}, "limit: must be from 0 to 1000, got 5000"),
        ({"since": "-1"}, "since: must be from 0 to 9223372036854775807, got -1"),
        ({"path": "task/lst"}, "path: no such endpoint 'task/lst'; expected one of "),
        ({"colour": "red"}, "colour: unknown parameter; expected one of path, accessKey, code, "
                            "since, until, contains, limit"),
    ],
)  # fmt: skip
def test_bad_journal_parameters_are_named(api: Api, params: dict[str, str], message: str) -> None:
    response = admin(api, "GET", "/requests", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 20000 and body["message"].startswith(message)


def test_admin_requests_are_not_journalled(api: Api) -> None:
    admin(api, "GET", "/requests")
    api.client.get("/healthz")
    assert data(admin(api, "GET", "/requests/count")) == {"count": 0}
