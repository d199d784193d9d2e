"""The callback sink ``/_nxlink/sink/{name}``: records what is posted, verifies signatures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from nxlink import signing
from nxlink.store import Store
from server.test_admin import TOKEN, admin, data


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token=TOKEN, sink_size=3)


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return make_tenant(store, "acme")


def _signed(tenant: Tenant, body: bytes, *, secret: str | None = None) -> dict[str, str]:
    headers = signing.headers(access_key=tenant.access_key, ts=str(NOW_MS), body=body,
                              access_secret=secret or tenant.secret)  # fmt: skip
    return {**headers, "Content-Type": "application/json", "X-Nxlink-Event-Id": "ev-1"}


def _post(api: Api, name: str, body: bytes, headers: dict[str, str]) -> Any:
    # No admin token: a callback carries the account's signature instead.
    return api.client.post(f"/_nxlink/sink/{name}", content=body, headers=headers)


def test_a_signed_callback_is_recorded_with_its_verdict(api: Api, tenant: Tenant) -> None:
    body = json.dumps({"taskId": "t-1", "taskStatus": 2}).encode()
    answer = data(_post(api, "hooks", body, _signed(tenant, body)))
    assert answer == {"id": 1, "signatureValid": True}
    page = data(admin(api, "GET", "/sink/hooks"))
    assert page["total"] == 1
    [record] = page["list"]
    headers = record.pop("headers")
    assert record == {
        "id": 1, "receivedMs": NOW_MS, "eventId": "ev-1", "accessKey": tenant.access_key,
        "signatureValid": True, "accountId": tenant.account_id, "signatureProblem": None,
        "body": {"taskId": "t-1", "taskStatus": 2},
    }  # fmt: skip
    assert headers["accesskey"] == tenant.access_key
    assert headers["x-nxlink-event-id"] == "ev-1"
    assert headers["sign"] == _signed(tenant, body)["sign"]


@pytest.mark.parametrize(
    ("change", "problem", "account"),
    [
        ({"sign": "0" * 32}, "sign: does not match the body and the key", True),
        ({"accessKey": "nokey"}, "accessKey: no enabled key 'nokey'", False),
        ({"ts": ""}, "ts: header missing", False),
        ({"algorithm": "sha1"}, "algorithm: unknown 'sha1'", False),
    ],
)
def test_the_sink_verifies_signatures(
    api: Api, tenant: Tenant, change: dict[str, str], problem: str, account: bool
) -> None:
    body = b'{"taskId":"t-1"}'
    answer = data(_post(api, "hooks", body, {**_signed(tenant, body), **change}))
    assert answer == {"id": 1, "signatureValid": False}
    [record] = data(admin(api, "GET", "/sink/hooks"))["list"]
    assert (record["signatureValid"], record["signatureProblem"]) == (False, problem)
    assert record["accountId"] == (tenant.account_id if account else None)


def test_an_unsigned_callback_is_recorded_as_unsigned(api: Api, tenant: Tenant) -> None:
    body = b'{"eventId":"ev-2","eventType":"task.status","taskId":"t-1"}'
    headers = {"Content-Type": "application/json", "X-Nxlink-Event-Id": "ev-2"}
    assert data(_post(api, "hooks", body, headers)) == {"id": 1, "signatureValid": False}
    [record] = data(admin(api, "GET", "/sink/hooks"))["list"]
    assert (record["eventId"], record["accessKey"], record["accountId"]) == ("ev-2", None, None)
    assert (record["signatureValid"], record["signatureProblem"]) == (
        False, "unsigned: none of the five auth headers (the account sends callbacks unsigned)",
    )  # fmt: skip
    assert record["body"] == {"eventId": "ev-2", "eventType": "task.status", "taskId": "t-1"}


def test_a_body_signed_with_another_secret_is_not_valid(api: Api, tenant: Tenant) -> None:
    body = b'{"taskId":"t-1"}'
    data(_post(api, "hooks", body, _signed(tenant, body, secret="not-the-secret")))
    [record] = data(admin(api, "GET", "/sink/hooks"))["list"]
    assert record["signatureValid"] is False


def test_sinks_are_kept_apart_bounded_and_cleared(api: Api, tenant: Tenant) -> None:
    for n, name in enumerate(["a", "b", "a", "a"]):
        body = json.dumps({"n": n}).encode()
        data(_post(api, name, body, _signed(tenant, body)))
    # Three records in all: the oldest (a's first) was dropped.
    assert [r["body"] for r in data(admin(api, "GET", "/sink/a"))["list"]] == [{"n": 2}, {"n": 3}]
    page = data(admin(api, "GET", "/sink/a", params={"limit": "1"}))
    assert (page["total"], [r["body"] for r in page["list"]]) == (2, [{"n": 3}])
    assert data(admin(api, "DELETE", "/sink/a")) == {"cleared": 2}
    assert data(admin(api, "GET", "/sink/a")) == {"total": 0, "list": []}
    assert data(admin(api, "GET", "/sink/b"))["total"] == 1


def test_a_body_that_is_not_json_is_kept_as_text(api: Api, tenant: Tenant) -> None:
    data(_post(api, "hooks", b"not json", _signed(tenant, b"not json")))
    [record] = data(admin(api, "GET", "/sink/hooks"))["list"]
    assert (record["body"], record["signatureValid"]) == ("not json", True)


def test_reading_the_sink_needs_the_token(api: Api) -> None:
    response = admin(api, "GET", "/sink/hooks", token=None)
    assert response.status_code == 401
    assert admin(api, "DELETE", "/sink/hooks", token="wrong-token-5678").status_code == 401


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_name_is_refused(api: Api, method: str) -> None:
    response = admin(api, method, "/sink/" + "x" * 65)
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"name: must be 1 to 64 of A-Z a-z 0-9 _ . -, got {'x' * 65!r}"
    )


def test_a_bad_parameter_is_refused(api: Api) -> None:
    response = admin(api, "GET", "/sink/hooks", params={"limit": "1001"})
    assert response.status_code == 400
    assert response.json()["message"] == "limit: must be from 0 to 1000, got 1001"
    response = admin(api, "GET", "/sink/hooks", params={"name": "x"})
    assert response.json()["message"] == "name: unknown parameter; expected one of limit"


def test_a_body_past_the_limit_is_refused(store: Store) -> None:
    api = make_api(store, admin_token=TOKEN, max_body_bytes=16)
    response = api.client.post("/_nxlink/sink/hooks", content=b"x" * 17)
    assert response.status_code == 413
    assert response.json()["message"] == "body: larger than the limit of 16 bytes"
