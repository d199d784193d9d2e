"""Faults on demand observed by the real :class:`nxlink.Client` (its retries, errors and
timeouts) against a real ``nxlink serve`` process; and the connection itself for ``drop`` and
``hang`` (no byte of an answer).

One server for the module (faults live in memory, not in the database: SQLite is enough);
each test starts with no rules and an empty journal.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Tenant, make_tenant, sign_md5
from live import Served, server_process
from nxlink import (
    ApiError,
    Client,
    Sandbox,
    TimeoutError,
    TimestampError,
    TransportError,
)
from nxlink.contract.endpoints import API_PREFIX
from nxlink.store import open_store

pytestmark = pytest.mark.slow

TOKEN = "live-faults-token-1234"


@dataclass
class Live:
    served: Served
    tenant: Tenant
    other: Tenant
    writer: Tenant  # the one tenant that makes tasks: the others' lists stay empty
    sandbox: Sandbox

    @property
    def base(self) -> str:
        return self.served.base

    def client(self, tenant: Tenant | None = None, **kwargs: Any) -> Client:
        tenant = tenant or self.tenant
        return Client(access_key=tenant.access_key, access_secret=tenant.secret,
                      base_url=self.base, admin_token=TOKEN, **kwargs)  # fmt: skip

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.sandbox.requests(**filters)["list"])

    def journal_settled(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """The journal once it has ``count`` entries (a held request is recorded when it
        ends)."""
        deadline = time.monotonic() + timeout_s
        while True:
            entries = self.journal()
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.02)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, list[Tenant]]]:
    folder = tmp_path_factory.mktemp("faults-live")
    url = f"sqlite:///{folder / 'faults.db'}"
    store = open_store(url)
    try:
        tenants = [make_tenant(store, name) for name in ("acme", "other", "writer")]
    finally:
        store.close()
    env = {"NXLINK_ADMIN_TOKEN": TOKEN, "NXLINK_SIM_SEED": "7"}
    with server_process(folder, url, "--no-deliver", env=env) as served:
        yield served, tenants
        # No fault made the server log an error (uvicorn's "returned without starting
        # response", a stack trace).
        log = served.err_path.read_text()
        assert "ERROR" not in log and "Traceback" not in log, log


@pytest.fixture
def live(server: tuple[Served, list[Tenant]]) -> Iterator[Live]:
    served, (tenant, other, writer) = server
    with Sandbox(base_url=served.base, admin_token=TOKEN) as sandbox:
        sandbox.clear_faults()
        sandbox.clear_requests()
        yield Live(served, tenant, other, writer, sandbox)
        sandbox.clear_faults()


def _task_body(tenant: Tenant, name: str) -> dict[str, Any]:
    return {"taskName": name, "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3}  # fmt: skip


# -- status and code -----------------------------------------------------------------------------
def test_a_503_for_the_next_request_is_retried_after_its_retry_after(live: Live) -> None:
    rule = live.sandbox.add_fault("task/list", status=503, retry_after=1, times=1)
    assert (rule["kind"], rule["status"], rule["retryAfter"], rule["times"]) == (
        "status",
        503,
        1,
        1,
    )
    with live.client() as client:
        started = time.perf_counter()
        page = client.tasks.list()
        elapsed = time.perf_counter() - started
    assert page.total == 0
    assert elapsed >= 1.0  # it waited the Retry-After
    first, second = live.journal()
    assert (first["status"], first["code"], first["fault"]) == (503, 20000, rule["id"])
    assert first["answer"]["message"] == "Service Unavailable"
    assert (second["status"], second["code"], second["fault"]) == (200, 0, None)
    assert live.sandbox.faults() == []  # its one time is used


def test_a_1004_raises_timestamp_error_after_one_clock_correction(live: Live) -> None:
    rule = live.sandbox.add_fault("task/list", code=1004)
    with live.client() as client, pytest.raises(TimestampError) as caught:
        client.tasks.list()
    error = caught.value
    assert (error.code, error.status_code) == (1004, 200)
    assert error.message.startswith("Authentication failed (timestamp expired): server time ")
    assert (
        error.server_time_ms is not None and abs(error.server_time_ms - time.time() * 1000) < 60_000
    )
    entries = live.journal()
    assert [e["fault"] for e in entries] == [rule["id"]] * 2  # signed again once, with its time
    assert live.sandbox.faults()[0]["applied"] == 2


def test_a_code_with_its_message_raises_it(live: Live) -> None:
    live.sandbox.add_fault("task/list", code=20000, message="the vendor is having a bad day")
    with live.client() as client, pytest.raises(ApiError) as caught:
        client.tasks.list()
    assert (caught.value.code, caught.value.message) == (20000, "the vendor is having a bad day")
    assert len(live.journal()) == 1  # a business error is not retried


def test_a_500_on_a_read_is_retried(live: Live) -> None:
    rule = live.sandbox.add_fault("task/list", status=500, times=1)
    with live.client() as client:
        assert client.tasks.list().total == 0
    assert [(e["status"], e["fault"]) for e in live.journal()] == [(500, rule["id"]), (200, None)]


def test_a_503_past_the_retries_raises_it(live: Live) -> None:
    live.sandbox.add_fault("all", status=503, retry_after=0)
    with live.client(max_retries=2) as client, pytest.raises(ApiError) as caught:
        client.tasks.list()
    assert (caught.value.status_code, caught.value.retry_after) == (503, 0.0)
    assert len(live.journal()) == 3


# -- the connection ------------------------------------------------------------------------------
def test_a_dropped_write_is_resent_as_the_same_signed_bytes_and_made_once(live: Live) -> None:
    rule = live.sandbox.add_fault("task/create", drop=True, times=1)
    with live.client(live.writer) as client:
        created = client.request("task/create", _task_body(live.writer, "dropped once"))
        listed = client.tasks.list()
    assert [task.task_id for task in listed.tasks] == [created["data"]["taskId"]]  # made once
    dropped, resent, listed = live.journal()
    assert (dropped["status"], dropped["code"], dropped["fault"]) == (None, None, rule["id"])
    assert dropped["answer"] == "" and dropped["body"] == resent["body"]
    assert dropped["headers"]["ts"] == resent["headers"]["ts"]  # the same signed request
    assert (resent["status"], resent["code"], resent["fault"]) == (200, 0, None)
    assert listed["path"] == API_PREFIX + "task/list"


def test_a_dropped_read_without_retries_is_a_transport_error(live: Live) -> None:
    live.sandbox.add_fault("task/list", drop=True)
    with live.client(max_retries=0) as client, pytest.raises(TransportError) as caught:
        client.tasks.list()
    assert not isinstance(caught.value, TimeoutError)
    assert "RemoteProtocolError" in str(caught.value)


def _signed_request(tenant: Tenant, path: str, body: bytes) -> bytes:
    """A signed request that asks the server to close the connection after its answer."""
    ts = str(time.time_ns() // 1_000_000)
    sign = sign_md5(tenant.access_key, tenant.secret, ts, body)
    head = (f"POST {API_PREFIX}{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\naccessKey: {tenant.access_key}\r\nts: {ts}\r\n"
            f"bizType: 100\r\naction: nxai\r\nsign: {sign}\r\n\r\n")  # fmt: skip
    return head.encode() + body


def _answer_bytes(port: int, request: bytes) -> bytes:
    """Everything the server sends back until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_drop_sends_not_one_byte(live: Live) -> None:
    live.sandbox.add_fault("task/list", drop=True, times=1)
    request = _signed_request(live.tenant, "task/list", b"{}")
    assert _answer_bytes(live.served.port, request) == b""
    # The server goes on: the next request is answered.
    again = _answer_bytes(live.served.port, _signed_request(live.tenant, "task/list", b"{}"))
    assert again.startswith(b"HTTP/1.1 200 OK")


def test_a_hang_holds_until_the_client_times_out(live: Live) -> None:
    rule = live.sandbox.add_fault("task/list", hang=True)
    with live.client(timeout=0.5, max_retries=0) as client, pytest.raises(TimeoutError):
        started = time.perf_counter()
        client.tasks.list()
    assert 0.5 <= time.perf_counter() - started < 5
    (entry,) = live.journal_settled(1)
    # Recorded when the client left: nothing was answered.
    assert (entry["status"], entry["code"], entry["fault"]) == (None, None, rule["id"])
    assert 450 <= entry["ms"] < 5000


def test_a_hang_for_one_request_is_retried_past(live: Live) -> None:
    live.sandbox.add_fault("task/list", hang=True, times=1)
    with live.client(timeout=0.5, max_retries=1) as client:
        assert client.tasks.list().total == 0
    # The held request is recorded when it ends (the client left): after the retry began.
    statuses = sorted(str(entry["status"]) for entry in live.journal_settled(2))
    assert statuses == ["200", "None"]


# -- latency, probability, times, access key ----------------------------------------------------
def test_latency_delays_the_normal_answer(live: Live) -> None:
    rule = live.sandbox.add_fault("task/list", latency_ms=300)
    with live.client() as client:
        started = time.perf_counter()
        page = client.tasks.list()
        elapsed = time.perf_counter() - started
    assert page.total == 0 and elapsed >= 0.3
    (entry,) = live.journal()
    assert (entry["status"], entry["code"], entry["fault"]) == (200, 0, rule["id"])
    assert entry["ms"] >= 300


def test_a_latency_range_is_drawn_within_it(live: Live) -> None:
    live.sandbox.add_fault("task/list", latency_ms=(100, 250), times=3)
    with live.client() as client:
        for _ in range(3):
            client.tasks.list()
    spent = [entry["ms"] for entry in live.journal()]
    assert all(100 <= ms < 1000 for ms in spent), spent


def test_probability_zero_never_applies_and_one_always(live: Live) -> None:
    never = live.sandbox.add_fault("task/list", code=20000, message="never", probability=0)
    with live.client() as client:
        for _ in range(5):
            client.tasks.list()
        always = live.sandbox.add_fault("flow/list", code=20000, message="always", probability=1)
        for _ in range(3):
            with pytest.raises(ApiError, match="always"):
                client.request("flow/list", {})
    rules = {rule["id"]: rule for rule in live.sandbox.faults()}
    assert (rules[never["id"]]["applied"], rules[always["id"]]["applied"]) == (0, 3)


def test_times_counts_down_then_the_rule_is_gone(live: Live) -> None:
    live.sandbox.add_fault("task/list", code=20000, message="twice", times=2)
    with live.client() as client:
        for _ in range(2):
            with pytest.raises(ApiError, match="twice"):
                client.tasks.list()
        assert client.tasks.list().total == 0
    assert live.sandbox.faults() == []


def test_a_rule_for_one_access_key_leaves_the_others_alone(live: Live) -> None:
    rule = live.sandbox.add_fault("all", status=502, access_key=live.other.access_key)
    with live.client() as mine:
        assert mine.tasks.list().total == 0
    with live.client(live.other, max_retries=1) as theirs, pytest.raises(ApiError) as caught:
        theirs.tasks.list()
    assert caught.value.status_code == 502
    keys = [(e["accessKey"], e["fault"]) for e in live.journal()]
    assert keys == [(live.tenant.access_key, None)] + [(live.other.access_key, rule["id"])] * 2


def test_faults_are_journalled_with_their_bodies(live: Live) -> None:
    rule = live.sandbox.add_fault("task/list", status=429, retry_after=7, times=1)
    body = json.dumps({"pageSize": 3}).encode()
    received = _answer_bytes(live.served.port, _signed_request(live.tenant, "task/list", body))
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 429 ")
    assert b"\r\nretry-after: 7\r\n" in head.lower()
    assert f"\r\nx-nxlink-fault: {rule['id']}".encode() in head.lower()
    assert json.loads(payload)["message"] == "Too Many Requests"
    (entry,) = live.journal()
    assert entry["body"] == {"pageSize": 3} and entry["status"] == 429
