"""HTTP-level answers: 404, 405, 413, 415, 500, 503, bad bodies, probes, docs, request log."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

from starlette.testclient import TestClient

from conftest import NOW_MS, Api, make_api, make_tenant, sign_md5
from nxlink.server.app import TASK_LIST_PATH, create_app
from nxlink.server.settings import Settings
from nxlink.store import Store, TaskFilter, open_store

MIB = 1_048_576
TRACE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: The TestClient answers with httpx or httpx2 responses, whichever is installed.
Response: TypeAlias = Any


def _envelope(response: Response, status: int, code: int) -> dict[str, Any]:
    """An answer in the envelope: exactly code/message/traceId, traceId echoed in the header."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0] == "application/json"
    payload: dict[str, Any] = response.json()
    assert set(payload) == {"code", "message", "traceId"}, payload
    assert payload["code"] == code, payload
    assert isinstance(payload["message"], str)
    assert payload["message"]
    assert TRACE.fullmatch(payload["traceId"]), payload
    assert response.headers["X-Trace-Id"] == payload["traceId"]
    return payload


def _signed(tenant: Any, body: bytes, **extra: str) -> dict[str, str]:
    ts = str(NOW_MS)
    headers = {
        "Content-Type": "application/json",
        "accessKey": tenant.access_key,
        "ts": ts,
        "bizType": "100",
        "action": "nxai",
        "sign": sign_md5(tenant.access_key, tenant.secret, ts, body),
    }
    headers.update(extra)
    return headers


def _padded(size: int) -> bytes:
    """A valid JSON object of exactly ``size`` bytes."""
    body = b'{"pageSize":1' + b" " * (size - 15) + b"}"
    assert len(body) == size - 1
    return body + b" "


# -- 413 ----------------------------------------------------------------------------------------
def test_body_over_default_limit_is_413(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    payload = _envelope(api.post(tenant, _padded(MIB + 1)), 413, 20000)
    assert "body" in payload["message"]


def test_body_at_default_limit_is_accepted(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    response = api.post(tenant, _padded(MIB))
    assert response.status_code == 200, response.text
    assert response.json()["code"] == 0


def test_body_over_small_limit_is_413(store: Store) -> None:
    api = make_api(store, max_body_bytes=100)
    tenant = make_tenant(store)
    _envelope(api.post(tenant, _padded(101)), 413, 20000)
    response = api.post(tenant, _padded(100))
    assert response.status_code == 200
    assert response.json()["code"] == 0


def test_body_over_limit_without_auth_is_413(store: Store) -> None:
    api = make_api(store, max_body_bytes=100)
    response = api.client.post(
        TASK_LIST_PATH, content=b"x" * 101, headers={"Content-Type": "application/json"}
    )
    _envelope(response, 413, 20000)


def test_streamed_body_over_limit_without_length_is_413(store: Store) -> None:
    api = make_api(store, max_body_bytes=100)
    tenant = make_tenant(store)
    body = _padded(150)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 40):
            yield body[start : start + 40]

    headers = _signed(tenant, body)
    response = api.client.post(TASK_LIST_PATH, content=chunks(), headers=headers)
    _envelope(response, 413, 20000)


def test_body_over_limit_beats_wrong_content_type(store: Store) -> None:
    """Order of the key-less checks: 413 before 415."""
    api = make_api(store, max_body_bytes=100)
    response = api.client.post(
        TASK_LIST_PATH, content=b"x" * 101, headers={"Content-Type": "text/plain"}
    )
    _envelope(response, 413, 20000)


# -- 415 ----------------------------------------------------------------------------------------
def test_text_plain_is_415_before_auth(api: Api) -> None:
    response = api.client.post(
        TASK_LIST_PATH, content=b"{}", headers={"Content-Type": "text/plain"}
    )
    _envelope(response, 415, 20000)


def test_text_plain_with_valid_signature_is_415(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    response = api.post(tenant, b"{}", headers={"Content-Type": "text/plain"})
    _envelope(response, 415, 20000)


def test_form_content_type_is_415(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    response = api.post(
        tenant, b"{}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    _envelope(response, 415, 20000)


def test_json_with_charset_is_accepted(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    response = api.post(tenant, b"{}", headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200
    assert response.json()["code"] == 0


def test_json_media_type_is_case_insensitive(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    response = api.post(tenant, b"{}", headers={"Content-Type": "Application/JSON"})
    assert response.status_code == 200
    assert response.json()["code"] == 0


def test_missing_content_type_is_accepted(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    headers = _signed(tenant, b'{"pageSize":3}')
    del headers["Content-Type"]
    response = api.client.post(TASK_LIST_PATH, content=b'{"pageSize":3}', headers=headers)
    assert "content-type" not in response.request.headers
    assert response.status_code == 200
    payload = response.json()
    assert payload["code"] == 0
    assert payload["pageSize"] == 3


# -- 404 / 405 ----------------------------------------------------------------------------------
def test_get_on_task_list_is_405_with_allow(api: Api) -> None:
    response = api.client.get(TASK_LIST_PATH)
    _envelope(response, 405, 20000)
    assert "POST" in response.headers["Allow"]


def test_put_on_task_list_is_405(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    response = api.client.put(TASK_LIST_PATH, content=b"{}", headers=_signed(tenant, b"{}"))
    _envelope(response, 405, 20000)
    assert "POST" in response.headers["Allow"]


def test_unknown_path_is_404(api: Api, store: Store) -> None:
    tenant = make_tenant(store)
    response = api.post(tenant, b"{}", path="/openapi/aiagent/task/nope")
    _envelope(response, 404, 20000)
    _envelope(api.client.get("/nope"), 404, 20000)


def test_unknown_path_is_404_without_auth_or_content_type(api: Api) -> None:
    response = api.client.post("/openapi/aiagent/nothing", content=b"x" * 10)
    _envelope(response, 404, 20000)
    response = api.client.post(
        "/openapi/aiagent/nothing", content=b"x", headers={"Content-Type": "text/plain"}
    )
    _envelope(response, 404, 20000)


# -- bad bodies (signed correctly) --------------------------------------------------------------
def _bad_body(api: Api, store: Store, body: bytes) -> str:
    tenant = make_tenant(store)
    payload = _envelope(api.post(tenant, body), 200, 20000)
    message: str = payload["message"]
    assert message.startswith("body"), message
    return message


def test_body_not_json_is_20000(api: Api, store: Store) -> None:
    _bad_body(api, store, b'{"pageSize":')
    _bad_body(api, store, b"pageSize=1")


def test_body_json_array_is_20000(api: Api, store: Store) -> None:
    _bad_body(api, store, b"[]")
    _bad_body(api, store, b'[{"pageSize":1}]')


def test_body_json_scalar_is_20000(api: Api, store: Store) -> None:
    for body in (b"null", b"1", b'"{}"', b"true"):
        _bad_body(api, store, body)


def test_body_not_utf8_is_20000(api: Api, store: Store) -> None:
    _bad_body(api, store, b'{"taskName":"\xff\xfe"}')
    _bad_body(api, store, '{"taskName":"é"}'.encode("latin-1"))


# -- 500 ----------------------------------------------------------------------------------------
def _broken_client(store_url: str, *, ping_fails: bool = False) -> tuple[TestClient, Store]:
    """A real store whose task list fails; ping optionally fails too."""
    store = open_store(store_url)

    def task_page(
        account_id: int, flt: TaskFilter, *, offset: int, limit: int
    ) -> tuple[int, list[tuple[Any, ...]]]:
        raise RuntimeError("boom secret detail")

    def ping() -> None:
        raise RuntimeError("ping secret detail")

    store.task_page = task_page  # type: ignore[method-assign]
    if ping_fails:
        store.ping = ping  # type: ignore[method-assign]
    app = create_app(Settings(log_requests=False), store=store, clock=lambda: NOW_MS)
    return TestClient(app, raise_server_exceptions=False), store


def test_internal_error_is_500_envelope_without_details(store_url: str) -> None:
    client, store = _broken_client(store_url)
    try:
        tenant = make_tenant(store)
        response = client.post(TASK_LIST_PATH, content=b"{}", headers=_signed(tenant, b"{}"))
        payload = _envelope(response, 500, 20000)
        for leak in ("boom", "secret detail", "RuntimeError", "Traceback", "task_page", ".py"):
            assert leak not in response.text, response.text
        assert payload["message"]
    finally:
        store.close()


# -- probes -------------------------------------------------------------------------------------
def test_healthz(api: Api) -> None:
    payload = _envelope(api.client.get("/healthz"), 200, 0)
    assert payload["message"] == "success"


def test_readyz(api: Api) -> None:
    payload = _envelope(api.client.get("/readyz"), 200, 0)
    assert payload["message"] == "success"


def test_readyz_is_503_when_the_database_fails(store_url: str) -> None:
    client, store = _broken_client(store_url, ping_fails=True)
    try:
        response = client.get("/readyz")
        _envelope(response, 503, 20000)
        assert "ping secret detail" not in response.text
        _envelope(client.get("/healthz"), 200, 0)
    finally:
        store.close()


def test_probes_need_no_auth_but_only_get(api: Api) -> None:
    _envelope(api.client.post("/healthz", content=b"{}"), 405, 20000)


# -- documentation ------------------------------------------------------------------------------
def test_openapi_json(api: Api) -> None:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert isinstance(document, dict)
    assert "openapi" in document
    assert TASK_LIST_PATH in document.get("paths", {})


def test_docs_html(api: Api) -> None:
    response = api.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


# -- the request log ----------------------------------------------------------------------------
def test_request_log_lines_never_hold_the_secret(store: Store, tmp_path: Path) -> None:
    log_file = tmp_path / "log"
    clock = [NOW_MS]
    app = create_app(
        Settings(log_requests=True, log_file=str(log_file)), store=store, clock=lambda: clock[0]
    )
    tenant = make_tenant(store)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, clock)
        answers = [
            api.post(tenant, b'{"pageSize":2}'),  # 0
            api.post(tenant, b"{}", headers={"sign": "0" * 32}),  # 1003
            api.post(tenant, b"{}", headers={"accessKey": ""}),  # 1001
            api.post(tenant, b"[1]"),  # 20000
            client.get("/healthz"),
            client.get("/nope"),  # 404
        ]
    lines = log_file.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == len(answers)
    for record, answer in zip(records, answers, strict=True):
        for key in ("method", "path", "code", "ms", "accessKey", "traceId"):
            assert key in record, record
        assert record["traceId"] == answer.headers["X-Trace-Id"]
        assert record["code"] == answer.json()["code"]
        assert isinstance(record["ms"], int | float)
    assert [r["method"] for r in records] == ["POST"] * 4 + ["GET"] * 2
    assert [r["path"] for r in records] == [TASK_LIST_PATH] * 4 + ["/healthz", "/nope"]
    assert [r["code"] for r in records] == [0, 1003, 1001, 20000, 0, 20000]
    assert records[0]["accessKey"] == tenant.access_key
    assert records[1]["accessKey"] == tenant.access_key
    text = log_file.read_text(encoding="utf-8")
    assert tenant.secret not in text
    assert "accessSecret=" not in text
