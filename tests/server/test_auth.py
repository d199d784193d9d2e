"""Authentication of the task list through the in-process app (``conventions.md``).

Checked in order: 1001 missing header, 1002 parameter error, 1004 timestamp window, 1005 key,
1003 signature. The timestamp window is never widened here: the server clock moves instead.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, TypeAlias

import pytest

from conftest import NOW_MS, Api, Tenant, make_tenant
from nxlink.server.app import TASK_LIST_PATH
from nxlink.service import admin
from nxlink.store import Store

MISSING = "Authentication failed (missing public parameters)"
PARAMETER = "Authentication failed (parameter error)"
SIGNATURE = "Authentication failed (invalid signature)"
EXPIRED = "Authentication failed (timestamp expired)"
AUTHORITY = "Authentication failed (insufficient authority)"

HEADERS = ("accessKey", "ts", "bizType", "action", "sign")
TRACE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: The TestClient answers with httpx or httpx2 responses, whichever is installed.
Response: TypeAlias = Any


def _sign(
    access_key: str,
    secret: str,
    ts: str,
    body: bytes,
    *,
    algorithm: str = "md5",
    action: str = "nxai",
    biz_type: str = "100",
) -> str:
    """The recipe of ``conventions.md``, built here by hand."""
    pre = f"accessKey={access_key}&action={action}&bizType={biz_type}&ts={ts}".encode()
    if body:
        pre += b"&body=" + body
    pre += f"&accessSecret={secret}".encode()
    return hashlib.new(algorithm, pre).hexdigest()


def _headers(
    tenant: Tenant,
    body: bytes,
    *,
    ts: str = str(NOW_MS),
    access_key: str | None = None,
    secret: str | None = None,
    algorithm: str = "md5",
    action: str = "nxai",
    biz_type: str = "100",
) -> dict[str, str]:
    """Five auth headers signed over ``body`` (with the values they carry)."""
    key = tenant.access_key if access_key is None else access_key
    return {
        "Content-Type": "application/json",
        "accessKey": key,
        "ts": ts,
        "bizType": biz_type,
        "action": action,
        "sign": _sign(
            key,
            tenant.secret if secret is None else secret,
            ts,
            body,
            algorithm=algorithm,
            action=action,
            biz_type=biz_type,
        ),
    }


def _send(api: Api, headers: dict[str, str], body: bytes) -> Response:
    response: Response = api.client.post(TASK_LIST_PATH, content=body, headers=headers)
    return response


def _answer(response: Response) -> dict[str, Any]:
    """Checks every answer shares: HTTP 200, a fresh traceId echoed in ``X-Trace-Id``."""
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert isinstance(payload["traceId"], str)
    assert TRACE.fullmatch(payload["traceId"]), payload
    assert response.headers["X-Trace-Id"] == payload["traceId"]
    assert isinstance(payload["code"], int)
    assert isinstance(payload["message"], str)
    return payload


def _failure(response: Response, code: int, message_start: str) -> str:
    payload = _answer(response)
    assert set(payload) == {"code", "message", "traceId"}, payload
    assert payload["code"] == code, payload
    assert payload["message"].startswith(message_start), payload
    message: str = payload["message"]
    return message


def _success(response: Response) -> dict[str, Any]:
    payload = _answer(response)
    assert payload["code"] == 0, payload
    assert payload["message"] == "success"
    return payload


def _named(message: str) -> list[str]:
    """The header names after the 1001 message's colon."""
    assert message.startswith(MISSING + ":"), message
    return re.findall(r"[A-Za-z]+", message[len(MISSING) + 1 :])


# -- 1001 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", HEADERS)
def test_missing_header_is_1001_naming_it(api: Api, store: Store, name: str) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}")
    del headers[name]
    message = _failure(_send(api, headers, b"{}"), 1001, MISSING)
    assert name in _named(message)


@pytest.mark.parametrize("name", HEADERS)
def test_empty_header_is_1001_naming_it(api: Api, store: Store, name: str) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}")
    headers[name] = ""
    message = _failure(_send(api, headers, b"{}"), 1001, MISSING)
    assert name in _named(message)


def test_two_missing_headers_are_both_named(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"")
    del headers["ts"]
    del headers["sign"]
    named = _named(_failure(_send(api, headers, b""), 1001, MISSING))
    assert "ts" in named
    assert "sign" in named
    assert "accessKey" not in named


def test_no_auth_headers_at_all_names_all_five(api: Api) -> None:
    response = api.client.post(
        TASK_LIST_PATH, content=b"", headers={"Content-Type": "application/json"}
    )
    named = _named(_failure(response, 1001, MISSING))
    assert set(HEADERS) <= set(named)


# -- 1002 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ts", ["12a", "-5", "1.5", "+5", "1e12"])
def test_ts_not_decimal_digits_is_1002(api: Api, store: Store, ts: str) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}", ts=ts)
    _failure(_send(api, headers, b"{}"), 1002, PARAMETER)


def test_wrong_biz_type_is_1002(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}", biz_type="7")
    _failure(_send(api, headers, b"{}"), 1002, PARAMETER)


@pytest.mark.parametrize("action", ["send", "NXAI"])
def test_wrong_action_is_1002(api: Api, store: Store, action: str) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}", action=action)
    _failure(_send(api, headers, b"{}"), 1002, PARAMETER)


def test_unknown_algorithm_is_1002(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}", algorithm="sha1")
    headers["algorithm"] = "sha1"
    _failure(_send(api, headers, b"{}"), 1002, PARAMETER)


# -- algorithm ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["SHA256", "sha256", "Sha256"])
def test_sha256_algorithm_any_case(api: Api, store: Store, value: str) -> None:
    tenant = make_tenant(store)
    body = b'{"pageSize":2}'
    headers = _headers(tenant, body, algorithm="sha256")
    headers["algorithm"] = value
    assert len(headers["sign"]) == 64
    _success(_send(api, headers, body))


@pytest.mark.parametrize("value", ["", "md5", "MD5"])
def test_empty_or_md5_algorithm_means_md5(api: Api, store: Store, value: str) -> None:
    tenant = make_tenant(store)
    body = b'{"pageSize":2}'
    headers = _headers(tenant, body)
    headers["algorithm"] = value
    _success(_send(api, headers, body))


def test_sha256_header_with_md5_sign_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}")
    headers["algorithm"] = "sha256"
    _failure(_send(api, headers, b"{}"), 1003, SIGNATURE)


# -- header names -------------------------------------------------------------------------------
def test_header_names_are_case_insensitive(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    body = b'{"pageNumber":1}'
    signed = _headers(tenant, body)
    upper = {name.upper(): value for name, value in signed.items()}
    assert "ACCESSKEY" in upper
    _success(_send(api, upper, body))
    lower = {name.lower(): value for name, value in signed.items()}
    _success(_send(api, lower, body))


# -- 1004: the window, moving the server clock -------------------------------------------------
@pytest.mark.parametrize("offset", [60_000, -60_000, 0, 1, -1, 59_999, -59_999])
def test_ts_inside_window_passes(api: Api, store: Store, offset: int) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", ts=str(NOW_MS))
    # offset > 0: the request's ts is that old; offset < 0: that far ahead.
    api.clock[0] = NOW_MS + offset
    _success(_send(api, headers, b""))


@pytest.mark.parametrize("offset", [60_001, -60_001, 61_000, -61_000, 3_600_000, -NOW_MS])
def test_ts_outside_window_is_1004_with_server_time(api: Api, store: Store, offset: int) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", ts=str(NOW_MS))
    api.clock[0] = NOW_MS + offset
    message = _failure(_send(api, headers, b""), 1004, EXPIRED)
    expected = f"{EXPIRED}: server time {api.clock[0]}"
    assert re.match(re.escape(expected) + r"(?!\d)", message), message


def test_absurdly_long_ts_is_1004(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    ts = "9" * 40
    _failure(_send(api, _headers(tenant, b"", ts=ts), b""), 1004, EXPIRED)


def test_ts_with_leading_zeros_in_window_passes(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    ts = "000" + str(NOW_MS)
    _success(_send(api, _headers(tenant, b"", ts=ts), b""))


# -- 1005 ---------------------------------------------------------------------------------------
def test_unknown_key_is_1005(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}", access_key="AK-1000000000000000000-1000")
    _failure(_send(api, headers, b"{}"), 1005, AUTHORITY)


def test_access_key_value_is_matched_exactly(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    for variant in (tenant.access_key.lower(), tenant.access_key + " x", tenant.access_key[:-1]):
        headers = _headers(tenant, b"", access_key=variant)
        _failure(_send(api, headers, b""), 1005, AUTHORITY)


def test_revoked_key_is_1005_on_the_next_request(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    _success(_send(api, _headers(tenant, b""), b""))
    admin.revoke_key(store, tenant.access_key)
    _failure(_send(api, _headers(tenant, b""), b""), 1005, AUTHORITY)


def test_other_keys_of_the_account_survive_a_revocation(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    second = admin.create_key(store, tenant.name)
    admin.revoke_key(store, tenant.access_key)
    headers = _headers(tenant, b"", access_key=second.access_key, secret=second.access_secret)
    _success(_send(api, headers, b""))


def test_key_created_after_app_start_works_at_once(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    _success(_send(api, _headers(tenant, b""), b""))
    fresh = admin.create_key(store, tenant.name)
    headers = _headers(tenant, b"", access_key=fresh.access_key, secret=fresh.access_secret)
    _success(_send(api, headers, b""))


# -- 1003 ---------------------------------------------------------------------------------------
def test_wrong_secret_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"{}", secret=tenant.secret + "x")
    _failure(_send(api, headers, b"{}"), 1003, SIGNATURE)


def test_other_tenants_secret_is_1003(api: Api, store: Store) -> None:
    tenant, other = make_tenant(store), make_tenant(store)
    headers = _headers(tenant, b"{}", secret=other.secret)
    _failure(_send(api, headers, b"{}"), 1003, SIGNATURE)


def test_body_changed_after_signing_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b'{"pageSize":2}')
    _failure(_send(api, headers, b'{"pageSize":3}'), 1003, SIGNATURE)


def test_sign_over_reserialised_json_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b'{"pageSize": 2}')
    _failure(_send(api, headers, b'{"pageSize":2}'), 1003, SIGNATURE)


def test_sign_over_reordered_keys_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b'{"pageSize":2,"pageNumber":1}')
    _failure(_send(api, headers, b'{"pageNumber":1,"pageSize":2}'), 1003, SIGNATURE)


def test_sign_for_another_ts_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", ts=str(NOW_MS))
    headers["ts"] = str(NOW_MS + 1)
    _failure(_send(api, headers, b""), 1003, SIGNATURE)


def test_sign_covers_the_biz_type_and_action_sent(api: Api, store: Store) -> None:
    """The pre-image uses the values the request carries: a sign over others is refused."""
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", biz_type="8", action="send")
    headers["bizType"] = "100"
    headers["action"] = "nxai"
    _failure(_send(api, headers, b""), 1003, SIGNATURE)


def test_one_wrong_hex_digit_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"")
    headers["sign"] = headers["sign"][:-1] + ("0" if headers["sign"][-1] != "0" else "1")
    _failure(_send(api, headers, b""), 1003, SIGNATURE)


# -- bodies -------------------------------------------------------------------------------------
def test_empty_object_signed_with_body_part(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    _success(_send(api, _headers(tenant, b"{}"), b"{}"))


def test_empty_object_signed_without_body_part(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"")
    _success(_send(api, headers, b"{}"))


def test_empty_object_with_space_needs_the_body_part(api: Api, store: Store) -> None:
    """The #12 exception is for exactly ``{}``."""
    tenant = make_tenant(store)
    headers = _headers(tenant, b"")
    _failure(_send(api, headers, b"{ }"), 1003, SIGNATURE)
    _success(_send(api, _headers(tenant, b"{ }"), b"{ }"))


def test_empty_body_signed_without_body(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    payload = _success(_send(api, _headers(tenant, b""), b""))
    assert payload["pageNumber"] == 1
    assert payload["pageSize"] == 10


def test_empty_body_signed_with_empty_body_part_is_1003(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"")
    pre = (
        f"accessKey={tenant.access_key}&action=nxai&bizType=100&ts={NOW_MS}"
        f"&body=&accessSecret={tenant.secret}"
    )
    headers["sign"] = hashlib.md5(pre.encode()).hexdigest()
    _failure(_send(api, headers, b""), 1003, SIGNATURE)


def test_non_ascii_body_signed_as_utf8_bytes(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    body = '{"taskName":"牛小信"}'.encode()
    _success(_send(api, _headers(tenant, body), body))


# -- order of checks ----------------------------------------------------------------------------
def test_expired_and_unknown_key_answers_1004(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", ts=str(NOW_MS - 120_000), access_key="AK-nobody")
    _failure(_send(api, headers, b""), 1004, EXPIRED)


def test_missing_header_and_bad_ts_answers_1001(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", ts="12a")
    del headers["sign"]
    named = _named(_failure(_send(api, headers, b""), 1001, MISSING))
    assert named == ["sign"]


def test_bad_key_and_bad_sign_answers_1005(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", access_key="AK-nobody")
    headers["sign"] = "0" * 32
    _failure(_send(api, headers, b""), 1005, AUTHORITY)


def test_bad_biz_type_and_expired_answers_1002(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", ts=str(NOW_MS - 120_000), biz_type="8")
    _failure(_send(api, headers, b""), 1002, PARAMETER)


def test_expired_and_bad_sign_answers_1004(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _headers(tenant, b"", ts=str(NOW_MS + 120_000))
    headers["sign"] = "0" * 32
    _failure(_send(api, headers, b""), 1004, EXPIRED)


def test_revoked_key_and_bad_sign_answers_1005(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    admin.revoke_key(store, tenant.access_key)
    headers = _headers(tenant, b"", secret="wrong")
    _failure(_send(api, headers, b""), 1005, AUTHORITY)


def test_auth_comes_before_the_body(api: Api, store: Store) -> None:
    """A bad body with a bad signature answers the auth code, not 20000."""
    tenant = make_tenant(store)
    headers = _headers(tenant, b"[1]", secret="wrong")
    _failure(_send(api, headers, b"[1]"), 1003, SIGNATURE)
    headers = _headers(tenant, b'{"pageSize":0}', access_key="AK-nobody")
    _failure(_send(api, headers, b'{"pageSize":0}'), 1005, AUTHORITY)


# -- trace ids ----------------------------------------------------------------------------------
def test_trace_ids_differ_per_request(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    seen = {
        _answer(_send(api, _headers(tenant, b""), b""))["traceId"],
        _answer(_send(api, _headers(tenant, b"", secret="x"), b""))["traceId"],
        _answer(_send(api, {"Content-Type": "application/json"}, b""))["traceId"],
    }
    assert len(seen) == 3
