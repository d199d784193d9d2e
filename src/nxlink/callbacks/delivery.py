"""The outbox worker: claims due callbacks, POSTs each one signed, records how it went.

A callback is POSTed with its stored body byte for byte, the five auth headers signed with the
account's newest enabled access key (exactly as a request to the API is signed), and
``X-Nxlink-Event-Id`` so that a receiver can drop duplicates. An account set to unsigned
callbacks (``nxlink accounts set-callbacks NAME --unsigned``) gets them without the five auth
headers: no ``accessKey``, ``ts``, ``bizType``, ``action`` or ``sign``, and no key is needed.

Signed or not is decided at each try, from the account as it is then, not when the event was
written: the signature lives in the headers of one POST and never in the stored body, so a
delivered callback is never touched by a change of the setting, while a pending one (waiting
for its next try, or retried by hand) is sent the way the account asks for now. Turning
signing on must not let an already-queued event reach a receiver that now insists on it
unsigned, and turning it off should stop signatures at once. A 2xx answer delivers it. Anything
else (another status, a transport error, a timeout) is a failed try: the next one follows after
:data:`BACKOFF_S` ``[k]`` seconds (``k`` counting the tries of the current round), and after the
seventh try of a round the callback is 'failed' until someone retries it by hand.

Each try is recorded with the callback (its attempts, :meth:`OutboxStore.list_callback_attempts`)
in the transaction that records the try. The sandbox's callback faults (rules in the database,
so that every deliverer sees them: servers and ``nxlink worker`` alike) apply just before a
POST: the newest rule whose URL part the callback's URL contains makes the callback's first
``fail_first`` tries fail as if the receiver answered ``fail_status`` (nothing is sent; the
retry schedule applies as to any failed try), and each POST it does send waits ``delay_ms``
first (at most the lease less the timeout, so that the lease never passes during a try).

Delivery is at least once: several deliverers (threads or processes) may run on one database,
the store's lease keeps them from sending one callback at the same time, and a deliverer that
dies mid-try leaves the callback to be claimed again when its lease passes.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Final

import httpx

from nxlink import __version__, signing
from nxlink.store.base import CallbackFault, OutboxItem, OutboxStore, SigningKey

#: Seconds to wait after the 1st, 2nd, ... 6th failed try of a round before the next one.
BACKOFF_S: tuple[int, ...] = (10, 30, 90, 270, 810, 2430)
#: Tries in one round: the first, then one after each delay of :data:`BACKOFF_S`.
TRIES: Final = len(BACKOFF_S) + 1
#: Longest error text recorded for a try.
ERROR_MAX: Final = 300
USER_AGENT: Final = f"nxlink/{__version__}"


def _real_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def next_attempt_ms(item: OutboxItem, *, now_ms: int, backoff_scale: float = 1.0) -> int | None:
    """When to try ``item`` again after a failed try that ended at ``now_ms``; ``None`` when
    that try was the last of its round. ``item.attempts`` counts the tries before this one."""
    k = item.attempts - item.round_base
    if k >= len(BACKOFF_S):
        return None
    return now_ms + round(BACKOFF_S[k] * backoff_scale * 1000)


def fault_for(item: OutboxItem, faults: list[CallbackFault]) -> CallbackFault | None:
    """The newest of ``faults`` whose URL part ``item``'s URL contains."""
    for fault in reversed(faults):
        if fault.url_part in item.url:
            return fault
    return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


def _head(response: httpx.Response, limit: int = ERROR_MAX) -> str:
    """The start of an answer's body (a receiver's error page may be large: read no more)."""
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except httpx.HTTPError:
        pass
    return data[:limit].decode("utf-8", "replace")


class Deliverer:
    """Delivers due callbacks of ``store``.

    ``clock_ms`` is the real clock (epoch ms) unless a test injects one; ``backoff_scale``
    shrinks the retry schedule (``0.001`` turns seconds into milliseconds) for tests and demos.
    One pass claims at most ``batch`` callbacks, leasing them for ``lease_ms``, which must be
    longer than the ``timeout_s`` of one POST. ``http`` is used as given and not closed;
    without it the deliverer opens its own client, closed by :meth:`close`.
    """

    def __init__(
        self,
        store: OutboxStore,
        *,
        clock_ms: Callable[[], int] = _real_clock_ms,
        http: httpx.Client | None = None,
        timeout_s: float = 10.0,
        backoff_scale: float = 1.0,
        batch: int = 50,
        lease_ms: int = 60_000,
    ) -> None:
        timeout_ms = round(timeout_s * 1000)
        if lease_ms <= timeout_ms:
            raise ValueError(
                f"lease_ms ({lease_ms}) must be longer than the timeout ({timeout_ms} ms)"
            )
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.store = store
        self.clock_ms = clock_ms
        self.timeout_s = timeout_s
        self.backoff_scale = backoff_scale
        self.batch = batch
        self.lease_ms = lease_ms
        self._timeout_ms = timeout_ms
        # Sent one after another, each claim holds no more callbacks than fit in its lease.
        self._chunk = max(1, min(batch, lease_ms // max(1, timeout_ms)))
        self._stop = threading.Event()  # the one run() watches: a pass ends early on it
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        """Close the HTTP client when the deliverer opened it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def deliver_due(self) -> int:
        """One pass: claim the callbacks due now, POST each, record each result.

        Returns how many callbacks it tried.
        """
        tried = 0
        while tried < self.batch:
            want = min(self._chunk, self.batch - tried)
            claimed_at = self.clock_ms()
            items = self.store.claim_callbacks(claimed_at, limit=want, lease_ms=self.lease_ms)
            deadline = claimed_at + self.lease_ms
            faults = self.store.list_callback_faults() if items else []
            for index, item in enumerate(items):
                if self._stop.is_set():
                    # Stopping: the rest go back at once, for another deliverer to send.
                    self.store.release_callbacks(items[index:], now_ms=self.clock_ms())
                    return tried
                fault = fault_for(item, faults)
                delay_ms = self._delay_ms(item, fault)
                if index > 0 and self.clock_ms() + self._timeout_ms + delay_ms > deadline:
                    # Slow receivers ate the lease: the rest are claimed again once it passes,
                    # rather than sent while another deliverer may take them.
                    return tried
                started = self.clock_ms()
                if delay_ms > 0 and self._stop.wait(delay_ms / 1000):
                    # Stopped during a fault's delay: nothing was sent, the rest go back.
                    self.store.release_callbacks(items[index:], now_ms=self.clock_ms())
                    return tried
                self._try(item, fault, started_ms=started, delayed_ms=delay_ms)
                tried += 1
            if len(items) < want:
                break
        return tried

    def _delay_ms(self, item: OutboxItem, fault: CallbackFault | None) -> int:
        """The wait a fault puts before the POST of ``item`` (none for a try it fails)."""
        if fault is None or item.attempts + 1 <= fault.fail_first:
            return 0
        return max(0, min(fault.delay_ms, self.lease_ms - self._timeout_ms))

    def _try(
        self,
        item: OutboxItem,
        fault: CallbackFault | None = None,
        *,
        started_ms: int | None = None,
        delayed_ms: int = 0,
    ) -> None:
        """One try of ``item``: failed by ``fault``, or POSTed (``delayed_ms`` after
        ``started_ms``, the wait done by the caller)."""
        started = self.clock_ms() if started_ms is None else started_ms
        latency_ms = 0.0
        applied = ""
        delay_ms = 0
        signed = self.store.callbacks_signed(item.account_id)
        key = self.store.signing_key(item.account_id) if signed else None
        tries = item.attempts + 1
        if signed and key is None:
            status: int | None = None
            error = f"no enabled access key for account {item.account_id}"
            delivered = False
        elif fault is not None and tries <= fault.fail_first:
            status, delivered, applied = fault.fail_status, False, "fail"
            error = (f"callback fault {fault.id}: try {tries} of the first {fault.fail_first} "
                     f"fails as HTTP {fault.fail_status}, not sent")  # fmt: skip
        else:
            if delayed_ms > 0:
                applied, delay_ms = "delay", delayed_ms
            began = time.perf_counter()
            status, error, delivered = self._post(item, key)
            latency_ms = round((time.perf_counter() - began) * 1000, 3)
        now = self.clock_ms()
        retry_at = (
            None
            if delivered
            else next_attempt_ms(item, now_ms=now, backoff_scale=self.backoff_scale)
        )
        self.store.record_delivery(
            item.id,
            now_ms=now,
            delivered=delivered,
            status=status,
            error=error,
            next_attempt_ms=retry_at,
            started_ms=started,
            latency_ms=latency_ms,
            fault=applied,
            delay_ms=delay_ms,
        )

    def _post(self, item: OutboxItem, key: SigningKey | None) -> tuple[int | None, str, bool]:
        """``(status, error, delivered)`` of one POST, signed with ``key`` (``None``: the
        account sends its callbacks unsigned, without any of the five auth headers)."""
        headers: dict[str, str] = {}
        if key is not None:
            headers = signing.headers(
                access_key=key.access_key,
                access_secret=key.secret,
                ts=str(self.clock_ms()),
                body=item.body,
            )
        headers["Content-Type"] = "application/json"
        headers["X-Nxlink-Event-Id"] = item.event_id
        headers["User-Agent"] = USER_AGENT
        try:
            with self._http.stream(
                "POST", item.url, content=item.body, headers=headers, timeout=self.timeout_s
            ) as response:
                if response.is_success:
                    return response.status_code, "", True
                status = response.status_code
                head = _short(_head(response))
                return status, _short(f"HTTP {status}: {head}" if head else f"HTTP {status}"), False
        except Exception as exc:  # any failure of one callback is that callback's failed try
            message = str(exc)
            name = type(exc).__name__
            return None, _short(f"{name}: {message}" if message else name), False

    def run(self, stop: threading.Event, *, idle_s: float = 0.5) -> None:
        """Deliver until ``stop`` is set, resting ``idle_s`` whenever nothing was due.

        Never dies of an exception: it is written to stderr and the next pass follows. Once
        ``stop`` is set, a pass sends nothing more: the try in flight finishes and is recorded,
        and the callbacks it had claimed but not tried are released for another deliverer.
        """
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    tried = self.deliver_due()
                except Exception:
                    print("nxlink callbacks: delivery pass failed:", file=sys.stderr)
                    traceback.print_exc(file=sys.stderr)
                    tried = 0
                if tried == 0:
                    stop.wait(idle_s)
        finally:
            self._stop = threading.Event()


def start_thread(
    deliverer: Deliverer, *, idle_s: float = 0.5
) -> tuple[threading.Thread, threading.Event]:
    """Run ``deliverer`` in a daemon thread; set the returned event (and join the thread) to
    stop it. The thread closes the deliverer when it ends."""
    stop = threading.Event()

    def work() -> None:
        with deliverer:
            deliverer.run(stop, idle_s=idle_s)

    thread = threading.Thread(target=work, name="nxlink-callbacks", daemon=True)
    thread.start()
    return thread, stop
