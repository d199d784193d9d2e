"""The outbox worker against a real HTTP receiver on a loopback port.

Time is an injected clock (no test sleeps through a backoff); the receiver is ``http.server``
in a thread, answering from a script of statuses.
"""

from __future__ import annotations

import email.message
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

import nxlink
from callbacks import add_callback
from conftest import Tenant, make_tenant
from db import Observer
from live import free_port
from nxlink import signing
from nxlink.callbacks import BACKOFF_S, TRIES, Deliverer, next_attempt_ms, start_thread
from nxlink.store import Store, open_store
from nxlink.store.base import OutboxItem

T0 = 1_767_225_600_000
ERROR_BODY = b'{"error": "try later"}'


class Clock:
    """A settable clock in epoch milliseconds."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Received:
    path: str
    headers: email.message.Message
    body: bytes


@dataclass
class Receiver:
    """Answers POSTs with ``statuses`` in turn, then ``default``; remembers every request."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0
    error_body: bytes = ERROR_BODY
    on_request: Callable[[], None] | None = None
    requests: list[Received] = field(default_factory=list)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is part of some tests


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver.requests.append(Received(self.path, self.headers, body))
        if receiver.on_request is not None:
            receiver.on_request()
        if receiver.delay_s:
            time.sleep(receiver.delay_s)
        status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
        payload = b"" if 200 <= status < 300 else receiver.error_body
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(url=f"http://127.0.0.1:{server.server_port}/hooks/task")
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return make_tenant(store)


def _item(store: Store, item_id: int) -> OutboxItem:
    item = store.get_callback(item_id)
    assert item is not None
    return item


def _signed_by(request: Received, tenant: Tenant) -> bool:
    headers = request.headers
    return headers["accessKey"] == tenant.access_key and signing.verify(
        headers["sign"],
        access_key=headers["accessKey"],
        access_secret=tenant.secret,
        ts=headers["ts"],
        body=request.body,
        action=headers["action"],
        biz_type=headers["bizType"],
    )


# -- the schedule ----------------------------------------------------------------------------
def test_the_backoff_schedule() -> None:
    assert BACKOFF_S == (10, 30, 90, 270, 810, 2430)
    assert TRIES == 7

    def item(attempts: int, round_base: int = 0) -> OutboxItem:
        return OutboxItem(1, 1, "e", "task", "http://x", b"{}", T0, "pending", attempts,
                          round_base, T0, None, "", None)  # fmt: skip

    assert [next_attempt_ms(item(a), now_ms=T0) for a in range(8)] == [
        T0 + 10_000, T0 + 30_000, T0 + 90_000, T0 + 270_000, T0 + 810_000, T0 + 2_430_000,
        None, None,
    ]  # fmt: skip
    assert [next_attempt_ms(item(a), now_ms=T0, backoff_scale=0.001) for a in range(7)] == [
        T0 + 10, T0 + 30, T0 + 90, T0 + 270, T0 + 810, T0 + 2_430, None,
    ]  # fmt: skip
    assert next_attempt_ms(item(7, 7), now_ms=T0) == T0 + 10_000
    assert next_attempt_ms(item(13, 7), now_ms=T0) is None


def test_seven_tries_on_the_schedule_then_failed_and_a_retry_starts_a_new_round(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.default = 500
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    clock = Clock(T0)
    with Deliverer(store, clock_ms=clock) as deliverer:
        tried_at, next_at = [], []
        for _ in range(TRIES):
            assert deliverer.deliver_due() == 1
            tried_at.append(clock.now)
            item = _item(store, item_id)
            next_at.append(item.next_attempt_ms)
            if item.state == "pending":
                clock.now = item.next_attempt_ms - 1
                assert deliverer.deliver_due() == 0  # not due yet
                clock.now = item.next_attempt_ms
        assert tried_at == [
            T0, T0 + 10_000, T0 + 40_000, T0 + 130_000, T0 + 400_000, T0 + 1_210_000,
            T0 + 3_640_000,
        ]  # fmt: skip
        assert next_at == [*tried_at[1:], tried_at[-1]]
        item = _item(store, item_id)
        assert (item.state, item.attempts, item.round_base) == ("failed", 7, 0)
        assert (item.last_status, item.last_error) == (500, 'HTTP 500: {"error": "try later"}')
        clock.now += 10**9
        assert deliverer.deliver_due() == 0
        assert len(receiver.requests) == 7

        assert store.retry_callback(item_id, now_ms=clock.now) is True
        assert deliverer.deliver_due() == 1
        item = _item(store, item_id)
        assert (item.state, item.attempts, item.round_base) == ("pending", 8, 7)
        assert item.next_attempt_ms == clock.now + 10_000
        for _ in range(TRIES - 1):
            clock.now = _item(store, item_id).next_attempt_ms
            assert deliverer.deliver_due() == 1
        item = _item(store, item_id)
        assert (item.state, item.attempts, item.round_base) == ("failed", 14, 7)
        assert len(receiver.requests) == 14


def test_a_delivered_callback_is_never_sent_again(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    clock = Clock(T0 + 25)
    with Deliverer(store, clock_ms=clock) as deliverer:
        assert deliverer.deliver_due() == 1
        item = _item(store, item_id)
        assert (item.state, item.attempts, item.last_status, item.last_error) == (
            "delivered", 1, 200, "",
        )  # fmt: skip
        assert item.delivered_ms == T0 + 25
        for step in (1, 60_000, 10**9):
            clock.now = T0 + 25 + step
            assert deliverer.deliver_due() == 0
    assert store.retry_callback(item_id, now_ms=T0 + 26) is False
    assert len(receiver.requests) == 1


# -- what is sent ----------------------------------------------------------------------------
def test_the_body_byte_for_byte_signed_with_the_account_key(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    body = '{"eventId":"e1", "eventType" : "task.status","taskName":"牛小信\\n",\n"x":1.50}'
    raw = body.encode()
    item_id = add_callback(
        store, tenant.account_id, url=receiver.url + "?tenant=1", body=raw,
        next_attempt_ms=T0, event_id="0123456789abcdef0123456789abcdef",
    )  # fmt: skip
    with Deliverer(store, clock_ms=Clock(T0 + 3)) as deliverer:
        assert deliverer.deliver_due() == 1
    [request] = receiver.requests
    assert request.path == "/hooks/task?tenant=1"
    assert request.body == raw
    headers = request.headers
    assert headers["accessKey"] == tenant.access_key
    assert headers["ts"] == str(T0 + 3)
    assert (headers["bizType"], headers["action"]) == ("100", "nxai")
    assert headers["sign"] == signing.sign(
        access_key=tenant.access_key, access_secret=tenant.secret, ts=str(T0 + 3), body=raw
    )
    assert _signed_by(request, tenant)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Nxlink-Event-Id"] == "0123456789abcdef0123456789abcdef"
    assert headers["User-Agent"] == f"nxlink/{nxlink.__version__}"
    assert headers["Content-Length"] == str(len(raw))
    assert _item(store, item_id).state == "delivered"


def test_the_newest_key_signs_and_a_revoked_one_never(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    store.create_key(
        tenant.account_id, access_key="AK-newest", secret="newest-secret", now=4_000_000_000
    )
    add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0)) as deliverer:
        assert deliverer.deliver_due() == 1
        store.revoke_key("AK-newest", now=4_000_000_001)
        add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
        assert deliverer.deliver_due() == 1
    first, second = receiver.requests
    assert first.headers["accessKey"] == "AK-newest"
    assert signing.verify(
        first.headers["sign"], access_key="AK-newest", access_secret="newest-secret",
        ts=first.headers["ts"], body=first.body, action="nxai", biz_type="100",
    )  # fmt: skip
    assert _signed_by(second, tenant)


def test_without_an_enabled_key_a_try_fails_and_nothing_is_sent(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    store.revoke_key(tenant.access_key, now=1_767_225_600)
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0 + 9)) as deliverer:
        assert deliverer.deliver_due() == 1
    item = _item(store, item_id)
    assert (item.state, item.attempts, item.next_attempt_ms, item.last_status) == (
        "pending", 1, T0 + 9 + 10_000, None,
    )  # fmt: skip
    assert item.last_error == f"no enabled access key for account {tenant.account_id}"
    assert receiver.requests == []


AUTH_HEADERS = ("accessKey", "ts", "bizType", "action", "sign", "algorithm")


def test_an_unsigned_account_sends_the_body_without_any_auth_header(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    store.set_account_callbacks(tenant.account_id, signed=False)
    raw = b'{"eventId":"e2","eventType":"task.status","taskId":"t"}'
    item_id = add_callback(store, tenant.account_id, url=receiver.url, body=raw,
                           next_attempt_ms=T0, event_id="f" * 32)  # fmt: skip
    with Deliverer(store, clock_ms=Clock(T0 + 3)) as deliverer:
        assert deliverer.deliver_due() == 1
    [request] = receiver.requests
    assert request.body == raw
    assert [name for name in AUTH_HEADERS if name in request.headers] == []
    assert not any("sign" in name.lower() for name in request.headers)
    assert b"sign" not in request.body
    assert request.headers["X-Nxlink-Event-Id"] == "f" * 32
    assert request.headers["Content-Type"] == "application/json"
    assert _item(store, item_id).state == "delivered"


def test_unsigned_needs_no_key_but_a_disabled_account_sends_nothing(
    store: Store, tenant: Tenant, receiver: Receiver, db: Observer
) -> None:
    store.set_account_callbacks(tenant.account_id, signed=False)
    store.revoke_key(tenant.access_key, now=1_767_225_600)
    first = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0)) as deliverer:
        assert deliverer.deliver_due() == 1
        assert _item(store, first).state == "delivered"
        db.execute("UPDATE accounts SET enabled = 0 WHERE id = ?", tenant.account_id)
        second = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
        assert deliverer.deliver_due() == 1
    item = _item(store, second)
    assert (item.state, item.last_error) == (
        "pending", f"no enabled access key for account {tenant.account_id}",
    )  # fmt: skip
    assert len(receiver.requests) == 1


def test_the_setting_is_read_at_each_try(store: Store, tenant: Tenant, receiver: Receiver) -> None:
    """A pending callback follows the account's setting of the moment it is sent; the body
    never changes, and a delivered one is not sent again."""
    receiver.statuses = [500, 500]
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    delivered = add_callback(store, tenant.account_id, url=receiver.url + "/x",
                             next_attempt_ms=T0 + 10**8)  # fmt: skip
    clock = Clock(T0)
    with Deliverer(store, clock_ms=clock) as deliverer:
        assert deliverer.deliver_due() == 1  # signed, answered 500
        store.set_account_callbacks(tenant.account_id, signed=False)
        clock.now = _item(store, item_id).next_attempt_ms
        assert deliverer.deliver_due() == 1  # unsigned, answered 500
        store.set_account_callbacks(tenant.account_id, signed=True)
        clock.now = T0 + 10**8
        assert deliverer.deliver_due() == 2  # both signed again; both delivered
        store.set_account_callbacks(tenant.account_id, signed=False)
        clock.now += 10**9
        assert deliverer.deliver_due() == 0
    assert _item(store, item_id).state == _item(store, delivered).state == "delivered"
    signs = [(r.path, "sign" in r.headers) for r in receiver.requests]
    assert signs == [("/hooks/task", True), ("/hooks/task", False),
                     ("/hooks/task", True), ("/hooks/task/x", True)]  # fmt: skip
    assert len({r.body for r in receiver.requests[:3]}) == 1
    assert all(_signed_by(r, tenant) for r in receiver.requests if "sign" in r.headers)


# -- answers and failures --------------------------------------------------------------------
def test_three_500s_then_200_deliver_on_the_fourth_try(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500, 500]
    item_id = add_callback(
        store, tenant.account_id, url=receiver.url, next_attempt_ms=T0,
        event_id="feedfacefeedfacefeedfacefeedface",
    )  # fmt: skip
    clock = Clock(T0)
    with Deliverer(store, clock_ms=clock, backoff_scale=0.001) as deliverer:
        seen = []
        for _ in range(4):
            assert deliverer.deliver_due() == 1
            item = _item(store, item_id)
            seen.append((item.state, item.attempts, item.last_status, item.next_attempt_ms))
            clock.now = item.next_attempt_ms
        assert deliverer.deliver_due() == 0
    assert seen == [
        ("pending", 1, 500, T0 + 10),
        ("pending", 2, 500, T0 + 40),
        ("pending", 3, 500, T0 + 130),
        ("delivered", 4, 200, T0 + 130),
    ]
    assert _item(store, item_id).delivered_ms == T0 + 130
    assert [r.headers["X-Nxlink-Event-Id"] for r in receiver.requests] == [
        "feedfacefeedfacefeedfacefeedface"
    ] * 4
    assert [r.headers["ts"] for r in receiver.requests] == [
        str(T0), str(T0 + 10), str(T0 + 40), str(T0 + 130),
    ]  # fmt: skip
    assert all(_signed_by(r, tenant) for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1


@pytest.mark.parametrize(
    ("status", "delivered", "error"),
    [
        (200, True, ""),
        (201, True, ""),
        (204, True, ""),
        (302, False, 'HTTP 302: {"error": "try later"}'),
        (404, False, 'HTTP 404: {"error": "try later"}'),
        (429, False, 'HTTP 429: {"error": "try later"}'),
        (503, False, 'HTTP 503: {"error": "try later"}'),
    ],
)
def test_only_2xx_delivers(
    store: Store, tenant: Tenant, receiver: Receiver, status: int, delivered: bool, error: str
) -> None:
    receiver.statuses = [status]
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0)) as deliverer:
        assert deliverer.deliver_due() == 1
    item = _item(store, item_id)
    assert (item.state, item.last_status, item.last_error) == (
        "delivered" if delivered else "pending", status, error,
    )  # fmt: skip
    assert item.next_attempt_ms == (T0 if delivered else T0 + 10_000)


def test_an_error_text_is_short(store: Store, tenant: Tenant, receiver: Receiver) -> None:
    receiver.statuses = [500]
    receiver.error_body = b"<html>\n  <body>" + b"x" * 10_000 + b"</body></html>"
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0)) as deliverer:
        deliverer.deliver_due()
    error = _item(store, item_id).last_error
    assert len(error) == 300
    assert error == "HTTP 500: <html> <body>" + "x" * 276 + "…"


def test_a_receiver_that_is_down_counts_as_a_failed_try(store: Store, tenant: Tenant) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    item_id = add_callback(store, tenant.account_id, url=url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0 + 1)) as deliverer:
        assert deliverer.deliver_due() == 1
    item = _item(store, item_id)
    assert (item.state, item.attempts, item.next_attempt_ms, item.last_status) == (
        "pending", 1, T0 + 1 + 10_000, None,
    )  # fmt: skip
    assert item.last_error == "ConnectError: [Errno 111] Connection refused"


def test_a_receiver_that_answers_too_late_counts_as_a_failed_try(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.delay_s = 0.5
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0), timeout_s=0.1) as deliverer:
        assert deliverer.deliver_due() == 1
    item = _item(store, item_id)
    assert (item.state, item.last_status, item.last_error) == (
        "pending", None, "ReadTimeout: timed out",
    )  # fmt: skip


def test_a_bad_url_is_a_failed_try_of_that_callback_only(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    bad = add_callback(store, tenant.account_id, url="ftp://example.com/x", next_attempt_ms=T0)
    good = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, clock_ms=Clock(T0)) as deliverer:
        assert deliverer.deliver_due() == 2
    item = _item(store, bad)
    assert (item.state, item.attempts, item.last_status) == ("pending", 1, None)
    assert (
        item.last_error == "UnsupportedProtocol: Request URL has an unsupported protocol 'ftp://'."
    )
    assert _item(store, good).state == "delivered"


# -- restarts, leases, several deliverers -----------------------------------------------------
def test_a_restart_between_tries_loses_nothing(store_url: str, receiver: Receiver) -> None:
    receiver.statuses = [500]
    first = open_store(store_url)
    tenant = make_tenant(first)
    item_id = add_callback(first, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(first, clock_ms=Clock(T0)) as deliverer:
        assert deliverer.deliver_due() == 1
    first.close()

    second = open_store(store_url)
    try:
        item = _item(second, item_id)
        assert (item.state, item.attempts, item.next_attempt_ms) == ("pending", 1, T0 + 10_000)
        with Deliverer(second, clock_ms=Clock(T0 + 10_000)) as deliverer:
            assert deliverer.deliver_due() == 1
        item = _item(second, item_id)
        assert (item.state, item.attempts, item.delivered_ms) == ("delivered", 2, T0 + 10_000)
    finally:
        second.close()
    first_try, second_try = receiver.requests
    assert first_try.body == second_try.body
    assert first_try.headers["X-Nxlink-Event-Id"] == second_try.headers["X-Nxlink-Event-Id"]
    assert _signed_by(second_try, tenant)


def test_a_deliverer_that_died_mid_try_leaves_the_callback_to_another(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    assert [i.id for i in store.claim_callbacks(T0, limit=10, lease_ms=60_000)] == [item_id]
    clock = Clock(T0 + 59_999)
    with Deliverer(store, clock_ms=clock) as deliverer:
        assert deliverer.deliver_due() == 0
        clock.now = T0 + 60_000
        assert deliverer.deliver_due() == 1
    item = _item(store, item_id)
    assert (item.state, item.attempts) == ("delivered", 1)
    assert len(receiver.requests) == 1


def test_two_deliverers_on_one_database_send_each_callback_once(
    store_url: str, receiver: Receiver
) -> None:
    stores = [open_store(store_url), open_store(store_url)]
    try:
        tenant = make_tenant(stores[0])
        ids = [
            add_callback(stores[0], tenant.account_id, url=receiver.url, next_attempt_ms=T0)
            for _ in range(40)
        ]
        deliverers = [Deliverer(s, clock_ms=Clock(T0), batch=3) for s in stores]
        tried = [0, 0]

        def work(index: int) -> None:
            while n := deliverers[index].deliver_due():
                tried[index] += n

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for deliverer in deliverers:
            deliverer.close()
        assert sum(tried) == 40
        assert all(_item(stores[0], i).attempts == 1 for i in ids)
        assert all(_item(stores[0], i).state == "delivered" for i in ids)
        events = [r.headers["X-Nxlink-Event-Id"] for r in receiver.requests]
        assert len(events) == 40
        assert len(set(events)) == 40
    finally:
        for s in stores:
            s.close()


def test_one_pass_claims_no_more_than_fits_in_a_lease(
    store: Store, tenant: Tenant, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(10):
        add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    limits: list[int] = []
    claim = store.claim_callbacks

    def recording_claim(now_ms: int, *, limit: int, lease_ms: int) -> list[OutboxItem]:
        limits.append(limit)
        return claim(now_ms, limit=limit, lease_ms=lease_ms)

    monkeypatch.setattr(store, "claim_callbacks", recording_claim)
    with Deliverer(store, clock_ms=Clock(T0), batch=4) as deliverer:
        assert deliverer.deliver_due() == 4
        assert limits == [4]
    limits.clear()
    # A 60 s lease holds six 10 s tries: claims of six until the due ones run out.
    with Deliverer(store, clock_ms=Clock(T0)) as deliverer:
        assert deliverer.deliver_due() == 6
        assert limits == [6, 6]
    assert len(receiver.requests) == 10


def test_a_pass_stops_before_a_try_could_outlast_its_lease(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    ids = [
        add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
        for _ in range(3)
    ]
    clock = Clock(T0)

    def slow_answer() -> None:
        clock.now += 15_000

    receiver.on_request = slow_answer
    with Deliverer(store, clock_ms=clock, lease_ms=30_000, timeout_s=10) as deliverer:
        # Claimed at T0 until T0+30000: the third try would start at T0+30000.
        assert deliverer.deliver_due() == 2
        assert [_item(store, i).state for i in ids] == ["delivered", "delivered", "pending"]
        assert _item(store, ids[2]).attempts == 0
        assert clock.now == T0 + 30_000
        assert deliverer.deliver_due() == 1
    assert _item(store, ids[2]).state == "delivered"


def test_the_lease_must_outlast_a_try(store: Store) -> None:
    with pytest.raises(ValueError, match=r"lease_ms \(10000\) must be longer than the timeout"):
        Deliverer(store, lease_ms=10_000)
    with pytest.raises(ValueError, match="batch must be at least 1, got 0"):
        Deliverer(store, batch=0)


def test_a_given_http_client_is_left_open(store: Store) -> None:
    with httpx.Client() as client:
        Deliverer(store, http=client).close()
        assert not client.is_closed


# -- the worker thread -----------------------------------------------------------------------
def _wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_thread_delivers_on_a_shrunk_schedule(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500, 500]
    now_ms = time.time_ns() // 1_000_000
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=now_ms)
    thread, stop = start_thread(Deliverer(store, backoff_scale=0.001), idle_s=0.01)
    try:
        _wait_until(lambda: _item(store, item_id).state == "delivered")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert _item(store, item_id).attempts == 4
    assert len(receiver.requests) == 4
    assert all(_signed_by(r, tenant) for r in receiver.requests)


def test_the_worker_survives_a_failing_pass(
    store: Store,
    tenant: Tenant,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    claim = store.claim_callbacks
    calls = [0]

    def flaky_claim(now_ms: int, *, limit: int, lease_ms: int) -> list[OutboxItem]:
        calls[0] += 1
        if calls[0] <= 2:
            raise RuntimeError("database is locked")
        return claim(now_ms, limit=limit, lease_ms=lease_ms)

    monkeypatch.setattr(store, "claim_callbacks", flaky_claim)
    thread, stop = start_thread(Deliverer(store), idle_s=0.01)
    try:
        _wait_until(lambda: _item(store, item_id).state == "delivered")
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    err = capsys.readouterr().err
    assert err.count("nxlink callbacks: delivery pass failed:") == 2
    assert err.count("RuntimeError: database is locked") == 2


def test_stopping_ends_a_pass_early(store: Store, tenant: Tenant, receiver: Receiver) -> None:
    ids = [
        add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
        for _ in range(3)
    ]
    stop = threading.Event()
    receiver.on_request = stop.set
    clock = Clock(T0)
    with Deliverer(store, clock_ms=clock) as deliverer:
        deliverer.run(stop, idle_s=0.01)
        assert [_item(store, i).state for i in ids] == ["delivered", "pending", "pending"]
        assert len(receiver.requests) == 1
        # The stopped pass gave its leases back: the next pass takes them at once.
        assert deliverer.deliver_due() == 2
