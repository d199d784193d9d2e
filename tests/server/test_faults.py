"""Faults on demand (``/_nxlink/faults``) through the in-process app: each kind's answer, what
a rule matches, the journal, every bad input refused by name with nothing changed; and the
registry (``nxlink.sandbox.faults``) itself: order, ``times``, seeded draws, threads.

``drop`` and ``hang`` close or hold the connection itself, which needs nxlink's HTTP protocol:
here only their in-process fallback and bound are seen (their real behaviour is in
``test_faults_live.py`` and, for a shutdown and the bound, below on uvicorn in a thread).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant, sign_md5
from live import free_port
from nxlink.contract.endpoints import API_PREFIX
from nxlink.sandbox.faults import ALL, Faults, Spec
from nxlink.sandbox.journal import Filter
from nxlink.server.app import create_app
from nxlink.server.protocol import LimitedHttpToolsProtocol
from nxlink.server.settings import Settings
from nxlink.store import Store

TOKEN = "faults-token-1234"
LIST = API_PREFIX + "task/list"


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token=TOKEN)


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return make_tenant(store, "acme")


def admin(api: Api, method: str, path: str = "", **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    return api.client.request(method, "/_nxlink/faults" + path, headers=headers, **kwargs)


def data(response: Any) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (0, "success")
    return body["data"]


def add(api: Api, **rule: Any) -> dict[str, Any]:
    rule.setdefault("endpoint", "task/list")
    added: dict[str, Any] = data(admin(api, "POST", content=json.dumps(rule)))
    return added


def rules(api: Api) -> list[dict[str, Any]]:
    listed = data(admin(api, "GET"))
    assert listed["total"] == len(listed["list"])
    return list(listed["list"])


def journal(api: Api) -> list[dict[str, Any]]:
    response = api.client.get("/_nxlink/requests", headers={"Authorization": f"Bearer {TOKEN}"})
    return list(data(response)["list"])


def task_body(tenant: Tenant, name: str) -> str:
    return json.dumps({"taskName": name, "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
                       "taskKeep": 0, "startupType": 3})  # fmt: skip


# -- the routes ----------------------------------------------------------------------------------
def test_add_list_remove_and_clear(api: Api) -> None:
    assert data(admin(api, "GET")) == {"total": 0, "list": []}
    first = add(api, kind="status", status=503, retryAfter=2, times=1)
    assert first == {
        "id": "f1", "endpoint": LIST, "accessKey": None, "kind": "status", "ms": None,
        "maxMs": None, "code": None, "message": None, "status": 503, "retryAfter": 2,
        "times": 1, "probability": 1.0, "applied": 0, "created": NOW_MS,
    }  # fmt: skip
    second = add(api, endpoint="ALL", kind="latency", ms=5, maxMs=9, probability=0.25,
                 accessKey="AK-1")  # fmt: skip
    assert (second["id"], second["endpoint"], second["times"]) == ("f2", ALL, None)
    third = add(api, endpoint="/call/append", kind="drop")
    assert third["endpoint"] == API_PREFIX + "call/append"
    assert [rule["id"] for rule in rules(api)] == ["f1", "f2", "f3"]
    assert data(admin(api, "DELETE", "/f2")) == second
    assert [rule["id"] for rule in rules(api)] == ["f1", "f3"]
    assert data(admin(api, "DELETE")) == {"cleared": 2}
    assert rules(api) == []
    assert add(api, kind="hang")["id"] == "f4"  # ids are never reused


def test_an_unknown_id_is_404_and_nothing_changes(api: Api) -> None:
    add(api, kind="drop")
    response = admin(api, "DELETE", "/f9")
    assert response.status_code == 404
    assert response.json()["message"] == "id: no such fault 'f9'"
    assert [rule["id"] for rule in rules(api)] == ["f1"]


def test_the_routes_need_the_token(api: Api) -> None:
    response = api.client.post("/_nxlink/faults", content=b'{"endpoint":"all","kind":"drop"}')
    assert response.status_code == 401
    assert api.client.delete("/_nxlink/faults").status_code == 401
    assert rules(api) == []


def test_admin_off_removes_the_routes_and_the_faults(store: Store, tenant: Tenant) -> None:
    api = make_api(store, admin=False, admin_token=TOKEN)
    assert admin(api, "GET").status_code == 404
    assert api.post(tenant, "{}").status_code == 200


# -- each kind's answer --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1001, "Authentication failed (missing public parameters)"),
        (1002, "Authentication failed (parameter error)"),
        (1003, "Authentication failed (invalid signature)"),
        (1004, f"Authentication failed (timestamp expired): server time {NOW_MS}"),
        (1005, "Authentication failed (insufficient authority)"),
    ],
)
def test_a_code_has_the_real_message_by_default(
    api: Api, tenant: Tenant, code: int, message: str
) -> None:
    rule = add(api, kind="code", code=code)
    response = api.post(tenant, "{}")
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["message"]) == (code, message)
    assert body["traceId"] == response.headers["X-Trace-Id"]
    assert response.headers["X-Nxlink-Fault"] == rule["id"]


@pytest.mark.parametrize("code", [20000, 1003, 30001, -1])
def test_a_code_with_a_message(api: Api, tenant: Tenant, code: int) -> None:
    add(api, kind="code", code=code, message="quota exceeded for today")
    body = api.post(tenant, "{}").json()
    assert (body["code"], body["message"]) == (code, "quota exceeded for today")
    assert set(body) == {"code", "message", "traceId"}


@pytest.mark.parametrize(
    ("status", "retry_after", "message"),
    [
        (429, 3, "Too Many Requests"),
        (500, None, "Internal Server Error"),
        (502, None, "Bad Gateway"),
        (503, 0, "Service Unavailable"),
        (504, None, "Gateway Timeout"),
        (599, None, "HTTP 599"),
    ],
)
def test_a_status_answers_it_with_the_envelope(
    api: Api, tenant: Tenant, status: int, retry_after: int | None, message: str
) -> None:
    rule: dict[str, Any] = {"kind": "status", "status": status}
    if retry_after is not None:
        rule["retryAfter"] = retry_after
    add(api, **rule)
    response = api.post(tenant, "{}")
    assert response.status_code == status
    assert response.json() == {"code": 20000, "message": message,
                               "traceId": response.headers["X-Trace-Id"]}  # fmt: skip
    assert response.headers.get("Retry-After") == (
        None if retry_after is None else str(retry_after)
    )
    (entry,) = journal(api)
    assert (entry["status"], entry["code"], entry["fault"]) == (status, 20000, "f1")


def test_a_status_with_a_message(api: Api, tenant: Tenant) -> None:
    add(api, kind="status", status=503, message="maintenance until 03:00")
    assert api.post(tenant, "{}").json()["message"] == "maintenance until 03:00"


def test_latency_runs_the_request_after_it(api: Api, tenant: Tenant) -> None:
    add(api, kind="latency", ms=120)
    started = time.perf_counter()
    response = api.post(tenant, "{}")
    assert time.perf_counter() - started >= 0.12
    body = response.json()
    assert (response.status_code, body["code"], body["total"]) == (200, 0, 0)
    assert response.headers["X-Nxlink-Fault"] == "f1"
    (entry,) = journal(api)
    assert (entry["status"], entry["code"], entry["fault"]) == (200, 0, "f1")
    assert entry["ms"] >= 120


def test_latency_then_the_request_is_checked_as_ever(api: Api, tenant: Tenant) -> None:
    add(api, kind="latency", ms=1)
    response = api.post(tenant, "{}", headers={"sign": "0" * 32})
    assert response.json()["code"] == 1003


def test_a_drop_without_nxlinks_protocol_is_the_servers_error(api: Api, tenant: Tenant) -> None:
    """The in-process test client cannot close a connection: the app raises, and the test
    client answers as it does any error (an empty 500)."""
    add(api, kind="drop")
    response = api.post(tenant, "{}")
    assert (response.status_code, response.content) == (500, b"")
    (entry,) = journal(api)
    assert (entry["status"], entry["code"], entry["fault"], entry["answer"]) == (
        None, None, "f1", ""
    )  # fmt: skip
    assert entry["body"] == {}


def test_a_hang_is_bounded_then_dropped(api: Api, tenant: Tenant) -> None:
    api.client.app.state.hang_max_s = 0.2  # type: ignore[attr-defined]
    add(api, kind="hang")
    started = time.perf_counter()
    response = api.post(tenant, "{}")
    assert time.perf_counter() - started >= 0.2
    assert (response.status_code, response.content) == (500, b"")  # the fallback's drop
    (entry,) = journal(api)
    assert (entry["status"], entry["fault"]) == (None, "f1") and entry["ms"] >= 200


# -- what a faulted request does, and what a rule matches ----------------------------------------
def test_a_faulted_write_is_not_run_and_its_resent_copy_is(
    api: Api, tenant: Tenant, store: Store
) -> None:
    add(api, endpoint="task/create", kind="status", status=503, times=1)
    ts = str(NOW_MS)
    body = task_body(tenant, "after the fault")
    refused = api.post(tenant, body, ts=ts, path=API_PREFIX + "task/create")
    assert refused.status_code == 503
    assert api.tasks(tenant)["total"] == 0  # not run
    made = api.post(tenant, body, ts=ts, path=API_PREFIX + "task/create")  # the same bytes
    assert made.json()["code"] == 0
    assert api.tasks(tenant)["total"] == 1
    again = api.post(tenant, body, ts=ts, path=API_PREFIX + "task/create")
    assert again.json()["data"] == made.json()["data"]  # a replay from here on
    assert api.tasks(tenant)["total"] == 1


def test_a_fault_comes_before_the_signature_is_checked(api: Api, tenant: Tenant) -> None:
    add(api, kind="status", status=502)
    response = api.post(tenant, "{}", headers={"sign": "0" * 32, "ts": "1"})
    assert response.status_code == 502


def test_a_rule_matches_its_endpoint_path_and_key(api: Api, tenant: Tenant, store: Store) -> None:
    other = make_tenant(store, "other")
    add(api, endpoint="flow/list", kind="code", code=1005)
    add(api, endpoint="order/delete", kind="code", code=1005)  # not its alias call/delete
    add(api, endpoint="all", kind="code", code=1002, accessKey=other.access_key)
    assert api.post(tenant, "{}").json()["code"] == 0
    assert api.post(tenant, "{}", path=API_PREFIX + "flow/list").json()["code"] == 1005
    deleted = api.post(tenant, "{}", path=API_PREFIX + "call/delete").json()
    assert deleted["code"] == 20000  # the endpoint's own refusal: contactId is missing
    assert api.post(other, "{}").json()["code"] == 1002
    assert api.post(other, "{}", path=API_PREFIX + "flow/list").json()["code"] == 1005  # older
    unsigned = api.client.post(LIST, content=b"{}", headers={"accessKey": other.access_key})
    assert unsigned.json()["code"] == 1002  # the header as sent, before it is checked


def test_only_api_requests_are_faulted(api: Api) -> None:
    add(api, endpoint="all", kind="status", status=500)
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get(LIST).status_code == 405  # not a POST: not an endpoint's request
    assert data(admin(api, "GET"))["total"] == 1


def test_times_then_the_next_rule(api: Api, tenant: Tenant) -> None:
    add(api, kind="code", code=1003, times=2)
    add(api, kind="code", code=1005, times=1)
    codes = [api.post(tenant, "{}").json()["code"] for _ in range(4)]
    assert codes == [1003, 1003, 1005, 0]
    assert rules(api) == []
    assert [entry["fault"] for entry in journal(api)] == ["f1", "f1", "f2", None]


def test_a_request_too_large_is_refused_as_ever_and_uses_no_time(
    store: Store, tenant: Tenant
) -> None:
    api = make_api(store, admin_token=TOKEN, max_body_bytes=64)
    add(api, kind="code", code=1003, times=1)
    assert api.post(tenant, json.dumps({"taskName": "x" * 100})).status_code == 413
    assert rules(api)[0]["times"] == 1


# -- bad input: refused by name, nothing changed --------------------------------------------------
BAD = [
    ({"kind": "latncy"}, "kind: must be one of latency, code, status, drop, hang"),
    ({"kind": None}, "kind: must be one of latency, code, status, drop, hang"),
    ({"endpoint": "task/lst", "kind": "drop"},
     "endpoint: no such endpoint 'task/lst', expected all or one of call/append, "),
    ({"endpoint": 7, "kind": "drop"}, "endpoint: must be a string"),
    ({"kind": "drop", "colour": "red"}, "colour: unknown field, expected one of endpoint, kind, "),
    ({"kind": "latency"}, "ms: required with kind latency"),
    ({"kind": "latency", "ms": -1}, "ms: must be from 0 to 300000, got -1"),
    ({"kind": "latency", "ms": 300001}, "ms: must be from 0 to 300000, got 300001"),
    ({"kind": "latency", "ms": 1.5}, "ms: must be a whole number, got 1.5"),
    ({"kind": "latency", "ms": "100"}, "ms: must be a whole number, got \"100\""),
    ({"kind": "latency", "ms": 300, "maxMs": 100}, "maxMs: must be at least ms (300), got 100"),
    ({"kind": "code"}, "code: required with kind code"),
    ({"kind": "code", "code": 0}, "code: must not be 0 (success)"),
    ({"kind": "code", "code": 20000},
     "message: required with code 20000 (only 1001 to 1005 have a default)"),
    ({"kind": "code", "code": True}, "code: must be a whole number, got true"),
    ({"kind": "code", "code": 1003, "retryAfter": 1}, "retryAfter: only with kind status"),
    ({"kind": "code", "code": 1003, "message": ""}, "message: must not be empty"),
    ({"kind": "code", "code": 1003, "message": "x" * 1001},
     "message: longer than 1000 characters"),
    ({"kind": "status"}, "status: required with kind status"),
    ({"kind": "status", "status": 200}, "status: must be from 400 to 599, got 200"),
    ({"kind": "status", "status": 600}, "status: must be from 400 to 599, got 600"),
    ({"kind": "status", "status": 429, "retryAfter": -1},
     "retryAfter: must be from 0 to 86400, got -1"),
    ({"kind": "status", "status": 503, "code": 1003}, "code: only with kind code"),
    ({"kind": "drop", "ms": 5}, "ms: only with kind latency"),
    ({"kind": "hang", "message": "x"}, "message: only with kind code or status"),
    ({"kind": "drop", "times": 0}, "times: must be from 1 to 1000000000, got 0"),
    ({"kind": "drop", "times": -3}, "times: must be from 1 to 1000000000, got -3"),
    ({"kind": "drop", "probability": 1.5}, "probability: must be from 0 to 1, got 1.5"),
    ({"kind": "drop", "probability": -0.1}, "probability: must be from 0 to 1, got -0.1"),
    ({"kind": "drop", "probability": "0.5"}, "probability: must be a number from 0 to 1"),
    ({"kind": "drop", "accessKey": ""}, "accessKey: must not be empty"),
    ({"kind": "drop", "accessKey": 5}, "accessKey: must be a string"),
    ({"endpoint": "nope", "kind": "nope", "times": 0},
     "endpoint: no such endpoint 'nope', expected all or one of "),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "message"), BAD)
def test_a_bad_rule_is_refused_naming_the_field(
    api: Api, tenant: Tenant, rule: dict[str, Any], message: str
) -> None:
    kept = add(api, endpoint="flow/list", kind="latency", ms=1)
    before = rules(api)
    response = admin(api, "POST", content=json.dumps({"endpoint": "task/list", **rule}))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 20000 and body["message"].startswith(message), body["message"]
    assert rules(api) == before
    assert api.post(tenant, "{}").headers.get("X-Nxlink-Fault") is None
    assert add(api, kind="drop")["id"] == f"f{int(kept['id'][1:]) + 1}"  # no id was used


def test_every_bad_field_is_named_at_once(api: Api) -> None:
    raw = {"endpoint": "nope", "kind": "nope", "times": 0, "probability": 2, "x": 1}
    response = admin(api, "POST", content=json.dumps(raw))
    assert response.json()["message"].split("; ")[1:] == [
        "kind: must be one of latency, code, status, drop, hang",
        "times: must be from 1 to 1000000000, got 0",
        "probability: must be from 0 to 1, got 2",
        "x: unknown field, expected one of endpoint, kind, accessKey, ms, maxMs, code, message, "
        "status, retryAfter, times, probability",
    ]
    assert response.json()["message"].startswith(
        "endpoint: no such endpoint 'nope', expected all or one of "
    )
    assert rules(api) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "body: must be a JSON object"),
        (b"not json", "body: not valid JSON"),
        (b"[1]", "body: must be a JSON object"),
        (b"{}", "endpoint: required; kind: required"),
    ],
)
def test_a_body_that_is_not_a_rule(api: Api, raw: bytes, message: str) -> None:
    response = admin(api, "POST", content=raw)
    assert (response.status_code, response.json()["message"]) == (400, message)
    assert rules(api) == []


def test_a_query_parameter_is_refused(api: Api) -> None:
    response = admin(api, "POST", params={"kind": "drop"},
                     content=b'{"endpoint":"all","kind":"drop"}')  # fmt: skip
    assert response.status_code == 400
    assert response.json()["message"] == "kind: unknown parameter; this route takes none"
    assert rules(api) == []


# -- the registry --------------------------------------------------------------------------------
def _pattern(seed: int, count: int = 64) -> list[bool]:
    faults = Faults(seed)
    faults.add(Spec(endpoint=ALL, kind="drop", probability=0.5), now_ms=0)
    return [faults.match(LIST, None) is not None for _ in range(count)]


def test_draws_are_repeatable_from_the_seed() -> None:
    assert _pattern(7) == _pattern(7)
    assert _pattern(7) != _pattern(8)
    assert 16 < sum(_pattern(7)) < 48


def test_a_latency_range_draws_from_the_seed() -> None:
    def delays(seed: int) -> list[float]:
        faults = Faults(seed)
        faults.add(Spec(endpoint=ALL, kind="latency", ms=10, max_ms=20), now_ms=0)
        found = [faults.match(LIST, None) for _ in range(30)]
        return [fault.delay_s for fault in found if fault is not None]

    assert delays(1) == delays(1) and delays(1) != delays(2)
    assert all(0.010 <= delay <= 0.020 for delay in delays(1))


def test_a_passed_over_draw_costs_no_time() -> None:
    faults = Faults(3)
    faults.add(Spec(endpoint=ALL, kind="drop", probability=0.3, times=5), now_ms=0)
    applied = [faults.match(LIST, "AK") for _ in range(200)]
    assert sum(fault is not None for fault in applied) == 5
    assert faults.list() == []


def test_times_holds_across_threads() -> None:
    faults = Faults()
    faults.add(Spec(endpoint=LIST, kind="code", code=1003, times=500), now_ms=0)
    counts: list[int] = []

    def hammer() -> None:
        counts.append(sum(faults.match(LIST, None) is not None for _ in range(200)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 500


def test_an_invalid_spec_is_not_added() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="ms: required with kind latency"):
        faults.add(Spec(endpoint=ALL, kind="latency"), now_ms=0)
    assert faults.list() == []


# -- drop and hang on nxlink's protocol, in this process -----------------------------------------
def _raw_request(tenant: Tenant) -> bytes:
    ts = str(NOW_MS)
    sign = sign_md5(tenant.access_key, tenant.secret, ts, b"{}")
    return (f"POST {LIST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: 2\r\naccessKey: {tenant.access_key}\r\nts: {ts}\r\n"
            f"bizType: 100\r\naction: nxai\r\nsign: {sign}\r\n\r\n{{}}").encode()  # fmt: skip


@pytest.fixture
def protocol_server(store: Store, tmp_path: Path) -> Iterator[tuple[int, Any, uvicorn.Server]]:
    """The app on uvicorn with nxlink's protocol, in a thread (graceful shutdown 30 s)."""
    app = create_app(Settings(log_requests=False, admin_token=TOKEN, deliver_callbacks=False),
                     store=store, clock=lambda: NOW_MS)  # fmt: skip
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none",
                            http=LimitedHttpToolsProtocol, lifespan="off",
                            timeout_graceful_shutdown=30)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    yield port, app, server
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def _until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_hang_past_its_bound_closes_with_no_answer(
    protocol_server: tuple[int, Any, uvicorn.Server], tenant: Tenant
) -> None:
    port, app, _server = protocol_server
    app.state.hang_max_s = 0.3
    app.state.faults.add(Spec(endpoint=ALL, kind="hang"), now_ms=NOW_MS)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.perf_counter()
        sock.sendall(_raw_request(tenant))
        assert _until_closed(sock) == b""
        assert 0.3 <= time.perf_counter() - started < 5


def test_a_shutdown_closes_a_hanging_request_at_once(
    protocol_server: tuple[int, Any, uvicorn.Server], tenant: Tenant
) -> None:
    port, app, server = protocol_server
    app.state.faults.add(Spec(endpoint=ALL, kind="hang"), now_ms=NOW_MS)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_raw_request(tenant))
        time.sleep(0.3)
        started = time.perf_counter()
        server.should_exit = True  # the graceful timeout is 30 s
        assert _until_closed(sock) == b""
        assert time.perf_counter() - started < 3
    (entry,) = app.state.journal.select(Filter(), limit=10)[1]
    assert (entry.status, entry.fault) == (None, "f1")
