"""The soak benchmark: minutes of mixed load on a live ``nxlink serve --simulate``, per backend.

    .venv/bin/python -m benchmarks.soak [--backend sqlite|postgres|both] [--minutes 10]
                                        [--rate 40] [--workers 8] [--max-requests N]

Per backend: a fresh database (SQLite: ``benchmarks/.data/soak/soak.db``; PostgreSQL: a database
of its own, ``nxlink_soak`` on 127.0.0.1, created and dropped here), an account, a key, a flow
and a route made with :mod:`nxlink.service.admin`, ``--seed-tasks`` generated tasks (the code of
``nxlink seed``) whose callback URLs point at the local receiver, then ``nxlink serve --simulate
--speed 60`` (a real process on 127.0.0.1, callback retries shrunk by
``NXLINK_CALLBACK_BACKOFF_SCALE``). Then, for ``--minutes``:

* ``--workers`` threads send a weighted mix at ``--rate`` requests/s in all (each signed
  with a fresh ``ts``, :mod:`benchmarks.signed`): task lists with every filter of the contract and
  paging, ``task/create`` with contacts, ``call/append``, ``task/start``, ``task/pause``,
  ``call/list``, ``flow/list``, ``route/list``, plus refusals on purpose (pausing a task that is
  not running, a contactId used before, a bad filter); every answer's status and code counted;
* every task created sends its callbacks to :class:`Receiver` on 127.0.0.1, which answers 500
  to a seeded pseudo-random 10 % of tries (:func:`fails`) and records each event id;
* the server's resident memory is sampled every few seconds, ``/healthz`` is probed at a fixed
  rate from a process of its own (:class:`benchmarks.probe.HealthProbe`), and the machine's
  CPU is split into server / database / load generator / others (:mod:`benchmarks.cpu`).

At the end the load stops, every task of the soak still in progress is paused (so the dialer
falls quiet), the outbox drains (bounded wait), the server stops, ``nxlink verify-counters``
runs, and the outbox is compared with what the receiver saw. Targets (:func:`assess`): no 5xx
and no transport error, RSS growth after warm-up at most 10 %, ``/healthz`` p99 at most 50 ms,
``verify-counters`` clean, every callback delivered and seen. Results go to
``benchmarks/results/soak-<backend>.json`` and ``soak.md``; the exit status is 1 when a target
is missed. Bounded: duration, request cap, drain wait; 127.0.0.1 only. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import http.server
import json
import math
import multiprocessing
import os
import platform
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from benchmarks import cpu, dataset, pgdata
from benchmarks.probe import HEALTHZ_LIMIT_MS, HealthProbe, ProbeResult
from benchmarks.servers import REPO, VENV_BIN, ServerProcess, product_server
from benchmarks.signed import sign, signed_request

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"
SOAK_DIR: Final = dataset.DATA_DIR / "soak"
BACKENDS: Final = ("sqlite", "postgres")
DEFAULT_PG_URL: Final = "postgresql://postgres@127.0.0.1:5432/nxlink_soak"
API: Final = "/openapi/aiagent/"
ACCOUNT: Final = "soak"
ROUTE_ID: Final = "soak-route"
FLOW_VARIABLES: Final = ("name", "due")

#: The receiver's share of failed tries.
FAIL_RATE: Final = 0.10
#: Targets.
RSS_GROWTH_LIMIT: Final = 0.10
SIM_SPEED: Final = 60.0
#: Retry delays x this: 10 s, 30 s, 90 s, ... become 0.1 s, 0.3 s, 0.9 s, ... (7 tries in ~37 s).
BACKOFF_SCALE: Final = 0.01
#: The outbox is drained when nothing is pending and its row count stood still this long.
DRAIN_STABLE_S: Final = 6.0
CPU_WINDOW_S: Final = 30.0

#: The mix: operation -> weight (out of 100).
WEIGHTS: Final[dict[str, int]] = {
    "task/list": 42,
    "task/list refused": 1,
    "task/create": 6,
    "call/append": 7,
    "call/append duplicate": 2,
    "task/start": 8,
    "task/pause": 6,
    "call/list": 16,
    "flow/list": 6,
    "route/list": 6,
}
#: Substrings of seeded and soak task names for ``taskName`` (typed in mixed case).
NAME_SUBSTRINGS: Final = ("2025", "renewal", "Ñand", "опро", "VIP ", "soak", "Welcome", "#12")
PURPOSES: Final = ("Renewals", "Überweisung", "Опрос клиентов", "Ñandú follow-up", "回访")
#: Task-list filters the mix uses (counted, so the report shows each was sent).
TASK_FILTERS: Final = ("taskStatus", "taskName", "createTs range", "answer-rate range",
                       "contact-count range", "pageNumber > 1", "pageSize 1000")  # fmt: skip


# -- the receiver ---------------------------------------------------------------------------------


def fails(seed: int, event_id: str, attempt: int) -> bool:
    """Whether the receiver answers 500 to the ``attempt``-th try (1, 2, ...) of ``event_id``.

    A pure function of its arguments (sha256), so the schedule is the same whatever the order
    in which callbacks arrive: about :data:`FAIL_RATE` of all tries fail.
    """
    digest = hashlib.sha256(f"{seed}:{event_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < FAIL_RATE * 2**64


@dataclass(slots=True)
class ReceiverLog:
    """What the receiver saw: tries per event, the events it accepted (200), bad requests."""

    tries: Counter[str] = field(default_factory=Counter)
    accepted: set[str] = field(default_factory=set)
    answered_500: int = 0
    bad_signature: int = 0
    no_event_id: int = 0
    by_type: Counter[str] = field(default_factory=Counter)


class Receiver:
    """A callback receiver on 127.0.0.1 (a thread per connection), failing :func:`fails` tries.

    Checks each callback's signature against the soak key with :func:`benchmarks.signed.sign`.
    """

    def __init__(self, *, seed: int, access_key: str = "", access_secret: str = "") -> None:
        self.seed = seed
        self.access_key = access_key
        self.access_secret = access_secret
        self.log = ReceiverLog()
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.handle(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="receiver", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        """Record one try; the status to answer."""
        lower = {k.lower(): v for k, v in headers.items()}
        event_id = lower.get("x-nxlink-event-id", "")
        event_type = ""
        with contextlib.suppress(ValueError, AttributeError):
            doc = json.loads(body)
            event_id = event_id or str(doc.get("eventId") or "")
            event_type = str(doc.get("eventType") or "")
        signed_ok = not self.access_secret or lower.get("sign") == sign(
            lower.get("accesskey", ""), self.access_secret, lower.get("ts", ""), body
        )
        with self._lock:
            log = self.log
            if not signed_ok:
                log.bad_signature += 1
            if not event_id:
                log.no_event_id += 1
                return 400
            log.tries[event_id] += 1
            if fails(self.seed, event_id, log.tries[event_id]):
                log.answered_500 += 1
                return 500
            if event_id not in log.accepted:
                log.by_type[event_type] += 1
            log.accepted.add(event_id)
            return 200

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- the probe, in a process of its own (the load threads do not share its GIL) ------------------


def _probe_main(port: int, interval: float, max_seconds: float, stop: Any, conn: Any) -> None:
    probe = HealthProbe(
        port,
        interval=interval,
        max_probes=math.ceil(max_seconds / interval) + 10,
        max_seconds=max_seconds,
    )
    with probe:
        stop.wait(max_seconds)
    result = probe.result
    conn.send((result.latencies_ms, result.errors, result.first_error))
    conn.close()


class ProbeProcess:
    def __init__(self, port: int, *, interval: float, max_seconds: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_probe_main, args=(port, interval, max_seconds, self._stop, send), daemon=True
        )
        self.result = ProbeResult()

    def __enter__(self) -> ProbeProcess:
        self._proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._recv.poll(30):
            latencies, errors, first_error = self._recv.recv()
            self.result = ProbeResult(list(latencies), errors, first_error)
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()


# -- the load -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tenant:
    access_key: str
    access_secret: str
    flow_id: int
    route_id: str


@dataclass(slots=True)
class LoadStats:
    """Every answer, by operation: HTTP statuses, non-zero codes by kind, latencies."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    codes: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    transport: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    filters: Counter[str] = field(default_factory=Counter)
    first_5xx: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.transport.values())

    @property
    def count_5xx(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SOAK_ID = re.compile(r"soak-[0-9]+-[ct][0-9]+")
_NUMBER = re.compile(r"[0-9]+")


def refusal_kind(message: str) -> str:
    """A refusal's message with its ids and numbers blanked, so like refusals count together."""
    text = _SOAK_ID.sub("<id>", _UUID.sub("<id>", message))
    return _NUMBER.sub("#", text)[:120]


class Load:
    """The mix, sent by ``workers`` threads at ``rate`` requests/s in all, until ``deadline`` or
    ``max_requests``; the soak's tasks and contacts are remembered for the next operations."""

    def __init__(
        self,
        base_url: str,
        tenant: Tenant,
        *,
        receiver_url: str,
        seeded_task_ids: Sequence[str],
        rate: float,
        workers: int,
        max_requests: int,
        seed: int,
    ) -> None:
        self.base_url = base_url
        self.tenant = tenant
        self.receiver_url = receiver_url
        self.seeded = list(seeded_task_ids)
        self.rate = rate
        self.workers = workers
        self.max_requests = max_requests
        self.seed = seed
        self.stats = LoadStats()
        self.tasks: list[str] = []
        self.contacts: list[str] = []
        self._counter = 0
        self._sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.ops, weights = zip(*WEIGHTS.items(), strict=True)
        self._cum = list(weights)
        for i in range(1, len(self._cum)):
            self._cum[i] += self._cum[i - 1]

    # -- sending ------------------------------------------------------------------------------
    def _next_number(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _take_slot(self) -> bool:
        with self._lock:
            if self._sent >= self.max_requests:
                return False
            self._sent += 1
            return True

    def call(self, http: httpx.Client, op: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one signed request (``ts`` now), record its answer; the parsed body ({} when
        not JSON or the request failed)."""
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        req = signed_request(self.tenant.access_key, self.tenant.access_secret, raw,
                             time.time_ns() // 1_000_000, path=API + path)  # fmt: skip
        started = time.perf_counter()
        try:
            resp = http.post(req.path, content=req.body, headers=dict(req.headers))
        except httpx.HTTPError as exc:
            with self._lock:
                self.stats.transport[(op, type(exc).__name__)] += 1
            return {}
        elapsed = (time.perf_counter() - started) * 1000
        doc: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            parsed = resp.json()
            doc = parsed if isinstance(parsed, dict) else {}
        with self._lock:
            stats = self.stats
            stats.statuses[(op, resp.status_code)] += 1
            stats.latencies.setdefault(op, []).append(elapsed)
            code = doc.get("code")
            if resp.status_code >= 500 and len(stats.first_5xx) < 10:
                stats.first_5xx.append(f"{op} HTTP {resp.status_code}: {resp.text[:200]}")
            if code != 0:
                kind = refusal_kind(str(doc.get("message", resp.text[:120])))
                stats.codes[(op, int(code) if isinstance(code, int) else -1, kind)] += 1
        return doc

    # -- the operations -----------------------------------------------------------------------
    def _contacts(self, rng: random.Random, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            n = self._next_number()
            contact_id = f"soak-{self.seed}-c{n}"
            with self._lock:
                self.contacts.append(contact_id)
            params = [{"name": "name", "value": f"Kunde {n}"}]
            if rng.random() < 0.5:
                params.append({"name": "due", "value": "2026-12-31"})
            phone = f"+8529{rng.randrange(10**7):07d}"
            out.append({"contactId": contact_id, "name": f"Kunde {n}", "phoneNumber": phone,
                        "params": params})  # fmt: skip
        return out

    def _own_task(self, rng: random.Random, seeded_share: float = 0.0) -> str | None:
        with self._lock:
            own = self.tasks[rng.randrange(len(self.tasks))] if self.tasks else None
        if (own is None or rng.random() < seeded_share) and self.seeded:
            return self.seeded[rng.randrange(len(self.seeded))]
        return own

    def task_list_body(self, rng: random.Random) -> dict[str, Any]:
        body: dict[str, Any] = {}
        now = int(time.time())
        used = self.stats.filters
        if rng.random() < 0.35:
            body["taskStatus"] = rng.randint(1, 6)
            used["taskStatus"] += 1
        if rng.random() < 0.25:
            body["taskName"] = rng.choice(NAME_SUBSTRINGS)
            used["taskName"] += 1
        if rng.random() < 0.3:
            if rng.random() < 0.5:  # the soak's own tasks: the last minutes
                start, end = now - rng.randrange(60, 900), now + 60
            else:
                start = now - rng.randrange(7 * 86400, 365 * 86400)
                end = start + rng.choice((86400, 7 * 86400, 30 * 86400))
            body["createStartTs"], body["createEndTs"] = start, end
            used["createTs range"] += 1
        if rng.random() < 0.25:
            low = rng.choice(("0", "20", "33.33", "50"))
            body["minCallsAnsweredRate"] = low
            body["maxCallsAnsweredRate"] = rng.choice(("60", "80", "100"))
            used["answer-rate range"] += 1
        if rng.random() < 0.25:
            body["minTaskTotalQuantity"] = rng.choice((1, 10, 100, 1000))
            body["maxTaskTotalQuantity"] = rng.choice((10_000, 50_000))
            used["contact-count range"] += 1
        roll = rng.random()
        if roll < 0.03:
            body["pageSize"] = 1000
            used["pageSize 1000"] += 1
        else:
            body["pageSize"] = rng.choice((10, 10, 20, 50, 100))
        if rng.random() < 0.4:
            body["pageNumber"] = rng.randint(2, 20)
            used["pageNumber > 1"] += 1
        return body

    def create_body(self, rng: random.Random) -> dict[str, Any]:
        n = self._next_number()
        startup_type = rng.choice((1, 1, 3, 3, 2))
        now = int(time.time())
        body: dict[str, Any] = {
            "taskName": f"Soak {rng.choice(PURPOSES)} #{n}",
            "autoFlowId": self.tenant.flow_id,
            "routeId": self.tenant.route_id,
            "taskKeep": rng.choice((0, 0, 0, 1)),
            "startupType": startup_type,
            "userTaskId": f"soak-{self.seed}-t{n}",
            "maxCall": rng.randint(1, 3),
            "orderMaxCall": rng.randint(1, 3),
            "replayInterval": rng.choice((60, 120, 300)),
            "maxRingTime": 30,
            "taskCallbackUrl": f"{self.receiver_url}/tasks",
            "callCallbackUrl": f"{self.receiver_url}/calls",
            "list": self._contacts(rng, rng.randint(1, 8)),
        }
        if startup_type == 2:
            body["startupAt"] = now + rng.randrange(0, 3600)
        if rng.random() < 0.1:
            body["shutdownAt"] = body.get("startupAt", now) + 1800
        return body

    def operate(self, http: httpx.Client, rng: random.Random) -> None:
        op = self.ops[self._pick(rng)]
        if op == "task/list":
            self.call(http, op, "task/list", self.task_list_body(rng))
        elif op == "task/list refused":
            self.call(http, op, "task/list", {"taskStatus": 7, "pageSize": 5000})
        elif op == "task/create":
            doc = self.call(http, op, "task/create", self.create_body(rng))
            task_id = (doc.get("data") or {}).get("taskId") if doc.get("code") == 0 else None
            if task_id:
                with self._lock:
                    self.tasks.append(str(task_id))
        elif op in ("call/append", "call/append duplicate"):
            task_id = self._own_task(rng)
            if task_id is None:
                return
            if op == "call/append":
                contacts = self._contacts(rng, rng.randint(1, 8))
            else:
                with self._lock:
                    if not self.contacts:
                        return
                    used = self.contacts[rng.randrange(len(self.contacts))]
                contacts = [{"contactId": used, "phoneNumber": "+85290000000"}]
            self.call(http, op, "call/append", {"taskId": task_id, "list": contacts})
        elif op in ("task/start", "task/pause"):
            task_id = self._own_task(rng, seeded_share=0.2)
            if task_id is not None:
                self.call(http, op, op, {"taskId": task_id})
        elif op == "call/list":
            task_id = self._own_task(rng)
            if task_id is not None:
                self.call(http, op, "call/list", self.call_list_body(rng, task_id))
        elif op == "flow/list":
            body = {"name": rng.choice(("", "soak", "AGENT"))} if rng.random() < 0.5 else {}
            self.call(http, op, "flow/list", body)
        else:
            body = {"routeName": rng.choice(("", "soak", "ROUTE"))} if rng.random() < 0.5 else {}
            self.call(http, op, "route/list", body)

    def call_list_body(self, rng: random.Random, task_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"taskId": task_id}
        now = int(time.time())
        if rng.random() < 0.3:  # call times run ahead of the wall clock (speed 60)
            body["startTs"], body["endTs"] = now - 3600, now + 2 * 86400
        if rng.random() < 0.2:
            body["callResult"] = rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21))
        if rng.random() < 0.2:
            body["minElapsed"], body["maxElapsed"] = 0, rng.choice((30, 120, 600))
        if rng.random() < 0.2:
            body["pageNumber"], body["pageSize"] = rng.randint(1, 3), rng.choice((10, 50))
        return body

    def _pick(self, rng: random.Random) -> int:
        roll = rng.randrange(self._cum[-1])
        return next(i for i, c in enumerate(self._cum) if roll < c)

    # -- running ------------------------------------------------------------------------------
    def _worker(self, index: int, deadline: float) -> None:
        rng = random.Random(f"soak:{self.seed}:{index}")
        interval = self.workers / self.rate
        next_at = time.monotonic() + rng.random() * interval
        with httpx.Client(base_url=self.base_url, timeout=30.0) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._stop.wait(max(0.0, next_at - time.monotonic()))
                if self._stop.is_set() or time.monotonic() >= deadline or not self._take_slot():
                    return
                self.operate(http, rng)
                # Paced, no bursts to catch up: a slow server lowers the rate.
                next_at = max(next_at + interval, time.monotonic())

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(target=self._worker, args=(i, deadline), name=f"load-{i}")
            for i in range(self.workers)
        ]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        finally:
            self._stop.set()
            for t in threads:
                t.join(timeout=60)


# -- monitors -------------------------------------------------------------------------------------


class Sampler:
    """Every ``interval`` s: the server's RSS; every :data:`CPU_WINDOW_S`: who used the CPU."""

    def __init__(self, server: ServerProcess, *, interval: float, database: str | None) -> None:
        self.server = server
        self.interval = interval
        self.database = database
        self.started = time.monotonic()
        self.rss: list[tuple[float, float]] = []
        self.cpu_windows: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def sample(self) -> None:
        self.rss.append((round(time.monotonic() - self.started, 1), self.server.rss_mib()))

    def _run(self) -> None:
        meter = cpu.CpuMeter(self.server.pid, database=self.database)
        window_started = time.monotonic()
        self.sample()
        while not self._stop.wait(self.interval):
            self.sample()
            if time.monotonic() - window_started >= CPU_WINDOW_S:
                use = meter.stop().as_dict()
                use["t"] = round(time.monotonic() - self.started, 1)
                self.cpu_windows.append(use)
                meter = cpu.CpuMeter(self.server.pid, database=self.database)
                window_started = time.monotonic()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def rss_growth(samples: Sequence[tuple[float, float]], warmup_s: float) -> dict[str, float]:
    """Growth of the last sample over the first one at or after ``warmup_s``."""
    after = [mib for t, mib in samples if t >= warmup_s]
    if not after:
        return {"at_warmup_mib": 0.0, "last_mib": 0.0, "max_mib": 0.0, "growth": 0.0}
    base, last = after[0], after[-1]
    return {
        "at_warmup_mib": round(base, 1),
        "last_mib": round(last, 1),
        "max_mib": round(max(after), 1),
        "growth": round((last - base) / base, 4) if base else 0.0,
    }


# -- targets --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: str
    target: str
    met: bool


def assess(figures: dict[str, Any]) -> list[Target]:
    """Each figure of a soak against its target."""
    cb = figures["callbacks"]
    counters = figures["verify_counters"]
    probe = figures["healthz"]
    rss = figures["rss"]
    undelivered = cb["outbox_rows"] - cb["delivered"]
    return [
        Target("HTTP 5xx answers", f"{figures['http_5xx']:,} of {figures['requests']:,}",
               "0", figures["http_5xx"] == 0),
        Target("transport errors (no answer)", f"{figures['transport_errors']:,}", "0",
               figures["transport_errors"] == 0),
        Target("RSS growth after warm-up",
               f"{rss['growth'] * 100:+.1f} % ({rss['at_warmup_mib']:.0f} → "
               f"{rss['last_mib']:.0f} MiB, peak {rss.get('max_mib', rss['last_mib']):.0f})",
               "≤ +10 %", rss["growth"] <= RSS_GROWTH_LIMIT),
        Target("/healthz p99", f"{probe['p99_ms']:.1f} ms (max {probe.get('max_ms', 0):.0f} ms; "
               f"{probe.get('over_limit', 0):,} of {probe['probes']:,} probes ≥ "
               f"{HEALTHZ_LIMIT_MS:.0f} ms; {probe['errors']} errors)",
               f"≤ {HEALTHZ_LIMIT_MS:.0f} ms",
               probe["p99_ms"] <= HEALTHZ_LIMIT_MS and probe["errors"] == 0
               and probe["probes"] > 0),
        Target("verify-counters", "clean" if counters["clean"] else
               f"exit {counters['exit']}", "clean", bool(counters["clean"])),
        Target("callbacks delivered",
               f"{cb['delivered']:,} of {cb['outbox_rows']:,} ({undelivered:,} not delivered, "
               f"{cb['delivered_not_seen']:,} not seen by the receiver; "
               f"{cb.get('receiver_500', 0):,} tries answered 500, at most "
               f"{cb.get('max_tries_of_one_event', 0)} tries for one event)",
               "all", undelivered == 0 and cb["delivered_not_seen"] == 0
               and cb["outbox_rows"] > 0),
    ]  # fmt: skip


# -- one backend ----------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


@contextlib.contextmanager
def fresh_database(backend: str, pg_url: str, *, keep: bool) -> Iterator[str]:
    """A new, empty database's URL; a PostgreSQL one is dropped afterwards unless ``keep``."""
    if backend == "sqlite":
        SOAK_DIR.mkdir(parents=True, exist_ok=True)
        path = SOAK_DIR / "soak.db"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()
        yield f"sqlite:///{path}"
        return
    pgdata._check_target(pg_url)
    pgdata.drop_database(pg_url)
    pgdata.create_database(pg_url)
    try:
        yield pg_url
    finally:
        if not keep:
            pgdata.drop_database(pg_url)


def prepare(
    db_url: str, receiver_url: str, *, seed: int, seed_tasks: int
) -> tuple[Tenant, list[str]]:
    """Account, key, flow, route, balance and the seeded tasks; (the tenant, some seeded ids)."""
    from nxlink.service import admin
    from nxlink.service.seed import generate_tasks
    from nxlink.store import open_store

    store = open_store(db_url)
    try:
        account = admin.create_account(store, ACCOUNT)
        key = admin.create_key(store, ACCOUNT)
        flow = admin.create_flow(store, ACCOUNT, name="Soak agent", variables=FLOW_VARIABLES)
        admin.create_route(store, ACCOUNT, name="Soak route", route_id=ROUTE_ID,
                           country_code="852", answer_probability=0.6, talk_seconds_mean=60,
                           price_per_minute_cents=1)  # fmt: skip
        admin.top_up(store, ACCOUNT, 10**10)

        def local(url: str, path: str) -> str:
            # The seed's example hosts are never called: callbacks go to the receiver only.
            return f"{receiver_url}{path}" if url else ""

        tasks = [
            dataclasses.replace(
                task,
                task_callback_url=local(task.task_callback_url, "/seeded-tasks"),
                call_callback_url=local(task.call_callback_url, "/seeded-calls"),
            )
            for task in generate_tasks(
                seed=seed, account_id=account.id, count=seed_tasks, now=int(time.time()),
                flows=[flow.id], route_ids=[ROUTE_ID],
            )
        ]  # fmt: skip
        store.insert_tasks(account.id, tasks)
        store.analyze()
    finally:
        store.close()
    rng = random.Random(f"soak-seeded:{seed}")
    sample = rng.sample([t.task_id for t in tasks], min(300, len(tasks)))
    return Tenant(key.access_key, key.access_secret, flow.id, ROUTE_ID), sample


def quiesce(load: Load, http: httpx.Client) -> int:
    """Pause every soak task still in progress (the dialer then falls quiet); how many."""
    paused = 0
    for _ in range(50):  # pages of 1000: bounded
        doc = load.call(http, "quiesce", "task/list",
                        {"taskStatus": 2, "taskName": "soak", "pageSize": 1000})  # fmt: skip
        rows = doc.get("list") or (doc.get("data") or {}).get("list") or []
        if not rows:
            break
        for row in rows:
            after = load.call(http, "quiesce", "task/pause", {"taskId": row["taskId"]})
            paused += after.get("code") == 0
    return paused


def soak_statuses(load: Load, http: httpx.Client) -> dict[int, int]:
    """How many of the soak's own tasks are in each status (the task list's ``total``)."""
    out = {}
    for status in range(1, 7):
        doc = load.call(http, "quiesce", "task/list",
                        {"taskStatus": status, "taskName": "soak", "pageSize": 1})  # fmt: skip
        out[status] = int(doc.get("total", (doc.get("data") or {}).get("total", -1)))
    return out


def outbox(db_url: str) -> list[Any]:
    from nxlink.store import open_store

    store = open_store(db_url)
    try:
        return store.list_callbacks(limit=10**8)
    finally:
        store.close()


_OUTBOX_COUNTS: Final = (
    "SELECT count(*), coalesce(sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) FROM outbox"
)


def outbox_counts(db_url: str) -> tuple[int, int]:
    """(rows, pending rows) of the outbox: a read of the benchmark's own, no bodies."""
    if db_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            rows, pending = conn.execute(_OUTBOX_COUNTS).fetchone()
    else:
        import psycopg

        with psycopg.connect(db_url, autocommit=True, connect_timeout=10) as pg:
            found = pg.execute(_OUTBOX_COUNTS).fetchone()
            assert found is not None
            rows, pending = found
    return int(rows), int(pending)


def drain(db_url: str, max_wait: float) -> dict[str, Any]:
    """Wait (at most ``max_wait`` s) until no callback is pending and the outbox stood still
    for :data:`DRAIN_STABLE_S`."""
    started = time.monotonic()
    stable_since, last_rows, pending = time.monotonic(), -1, -1
    trace: list[tuple[float, int, int]] = []
    while time.monotonic() - started < max_wait:
        rows, pending = outbox_counts(db_url)
        trace.append((round(time.monotonic() - started, 1), rows, pending))
        if rows != last_rows or pending:
            stable_since, last_rows = time.monotonic(), rows
        elif time.monotonic() - stable_since >= DRAIN_STABLE_S:
            return {"drained": True, "seconds": round(time.monotonic() - started, 1),
                    "pending": 0, "trace": trace}  # fmt: skip
        time.sleep(1.0)
    return {"drained": False, "seconds": round(time.monotonic() - started, 1),
            "pending": pending, "trace": trace}  # fmt: skip


def verify_counters(db_url: str) -> dict[str, Any]:
    proc = subprocess.run(
        [str(VENV_BIN / "nxlink"), "verify-counters", "--db", db_url],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("NXLINK_")},
    )  # fmt: skip
    output = (proc.stdout + proc.stderr).strip().splitlines()
    return {"exit": proc.returncode, "clean": proc.returncode == 0, "output": output[-20:]}


def compare_callbacks(items: Sequence[Any], log: ReceiverLog) -> dict[str, Any]:
    states = Counter(item.state for item in items)
    delivered = {item.event_id for item in items if item.state == "delivered"}
    in_outbox = {item.event_id for item in items}
    tries = sum(item.attempts for item in items)
    return {
        "outbox_rows": len(items),
        "states": dict(states),
        "delivered": states.get("delivered", 0),
        "delivered_not_seen": len(delivered - log.accepted),
        "seen_not_in_outbox": len(set(log.tries) - in_outbox),
        "outbox_tries": tries,
        "receiver_tries": sum(log.tries.values()),
        "receiver_500": log.answered_500,
        "receiver_bad_signature": log.bad_signature,
        "receiver_no_event_id": log.no_event_id,
        "receiver_events_by_type": dict(log.by_type),
        "max_tries_of_one_event": max(log.tries.values(), default=0),
    }


def _percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "commit": commit,
            "loadavg_at_start": os.getloadavg()}  # fmt: skip


def soak_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.minutes * 60
    warmup = min(60.0, 0.1 * seconds)
    max_requests = args.max_requests or math.ceil(args.rate * seconds * 1.2)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    info = machine()
    _say(f"{backend}: fresh database, {args.seed_tasks:,} seeded tasks")
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(fresh_database(backend, args.pg_url, keep=args.keep))
        receiver = Receiver(seed=args.seed)
        tenant, seeded = prepare(db_url, receiver.url, seed=args.seed, seed_tasks=args.seed_tasks)
        receiver.access_key, receiver.access_secret = tenant.access_key, tenant.access_secret
        stack.enter_context(receiver)
        server = product_server(
            db_url, SOAK_DIR / f"requests-{backend}.log", SOAK_DIR / f"server-{backend}.log",
            extra_args=["--simulate", "--speed", f"{SIM_SPEED:g}", "--seed", str(args.seed)],
            env={"NXLINK_CALLBACK_BACKOFF_SCALE": str(BACKOFF_SCALE)},
        )  # fmt: skip
        stack.enter_context(server)
        base_url = f"http://127.0.0.1:{server.port}"
        load = Load(base_url, tenant, receiver_url=receiver.url, seeded_task_ids=seeded,
                    rate=args.rate, workers=args.workers, max_requests=max_requests,
                    seed=args.seed)  # fmt: skip
        database = pgdata.database_name(db_url) if backend == "postgres" else None
        _say(f"{backend}: load for {seconds:.0f} s at {args.rate:g} req/s "
             f"({args.workers} workers, cap {max_requests:,}) on {base_url}")  # fmt: skip
        whole = cpu.CpuMeter(server.pid, database=database)
        load_started = time.monotonic()
        with Sampler(server, interval=args.rss_interval, database=database) as sampler, \
                ProbeProcess(server.port, interval=args.probe_interval,
                             max_seconds=seconds + 30) as probe:  # fmt: skip
            load.run(seconds)
            load_seconds = time.monotonic() - load_started
            sampler.sample()
        cpu_use = whole.stop()
        _say(f"{backend}: {load.stats.requests:,} requests in {load_seconds:.0f} s; quiescing")
        paused: list[int] = []
        drains: list[dict[str, Any]] = []
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            # Tasks started by their startupAt meanwhile are paused in the next round.
            for _ in range(3):
                paused.append(quiesce(load, http))
                drains.append(drain(db_url, args.drain_seconds / 3))
                if not paused[-1] and len(paused) > 1:
                    break
            statuses = soak_statuses(load, http)
        drained = {
            "drained": drains[-1]["drained"],
            "pending": drains[-1]["pending"],
            "seconds": round(sum(d["seconds"] for d in drains), 1),
            "rounds": drains,
        }
        _say(f"{backend}: paused {paused} tasks; drained {drained['drained']} in "
             f"{drained['seconds']} s; soak tasks by status {statuses}")  # fmt: skip
        rss_end = server.rss_mib()
        server.stop()
        counters = verify_counters(db_url)
        callbacks = compare_callbacks(outbox(db_url), receiver.log)
    stats = load.stats
    mix = {k: v for k, v in stats.statuses.items() if k[0] != "quiesce"}
    figures: dict[str, Any] = {
        "backend": backend,
        "tag": args.tag,
        "started_at": started_at,
        "minutes": args.minutes,
        "config": {"rate": args.rate, "workers": args.workers, "max_requests": max_requests,
                   "seed": args.seed, "seed_tasks": args.seed_tasks, "speed": SIM_SPEED,
                   "backoff_scale": BACKOFF_SCALE, "fail_rate": FAIL_RATE,
                   "probe_interval_s": args.probe_interval, "rss_interval_s": args.rss_interval,
                   "warmup_s": warmup, "weights": WEIGHTS},
        "machine": info,
        "load_seconds": round(load_seconds, 1),
        "requests": stats.requests,
        "requests_per_s": round((sum(mix.values())) / max(load_seconds, 1e-9), 1),
        "http_5xx": stats.count_5xx,
        "first_5xx": stats.first_5xx,
        "transport_errors": sum(stats.transport.values()),
        "transport_by_kind": {f"{op} {kind}": n for (op, kind), n in stats.transport.items()},
        "statuses": {f"{op} {status}": n for (op, status), n in sorted(stats.statuses.items())},
        "refusals": [{"op": op, "code": code, "kind": kind, "count": n}
                     for (op, code, kind), n in stats.codes.most_common()],
        "filters_sent": dict(stats.filters),
        "latency_ms": {op: {"n": len(v), "p50": round(_percentile(v, 50), 1),
                            "p99": round(_percentile(v, 99), 1), "max": round(max(v), 1)}
                       for op, v in sorted(stats.latencies.items())},
        "tasks_created": len(load.tasks),
        "contacts_sent": len(load.contacts),
        "rss": {**rss_growth(sampler.rss, warmup), "end_mib": round(rss_end, 1),
                "samples": sampler.rss},
        "healthz": probe.result.as_dict(),
        "cpu": cpu_use.as_dict(),
        "cpu_windows": sampler.cpu_windows,
        "quiesce_paused": paused,
        "soak_task_statuses": statuses,
        "drain": drained,
        "verify_counters": counters,
        "callbacks": callbacks,
    }  # fmt: skip
    figures["targets"] = [dataclasses.asdict(t) for t in assess(figures)]
    return figures


# -- the report -----------------------------------------------------------------------------------


def render_markdown(runs: Sequence[dict[str, Any]]) -> str:
    lines = ["# Soak results", ""]
    for run in runs:
        c, w = run["cpu"], run.get("cpu_windows") or []
        other_max = max((x["other"] for x in w), default=c["other"])
        lines += [
            f"## {run['backend']}{' (' + run['tag'] + ')' if run.get('tag') else ''}: "
            f"{run['minutes']:g} min from {run['started_at']} "
            f"(commit {run['machine']['commit']})",
            "",
            f"{run['requests']:,} requests ({run['requests_per_s']:g}/s, "
            f"{run['config']['workers']} workers), {run['tasks_created']:,} tasks created with "
            f"{run['contacts_sent']:,} contacts, {run['callbacks']['outbox_rows']:,} callbacks "
            f"({run['callbacks']['receiver_500']:,} tries answered 500 by the receiver). "
            f"Cores used over the load, server / database / load generator / other processes: "
            f"{c['server']:.2f} / {c['database']:.2f} / {c['loadgen']:.2f} / {c['other']:.2f} "
            f"(machine {c['machine']:.2f} of {run['machine']['cpus']}; other processes at most "
            f"{other_max:.2f} in a {CPU_WINDOW_S:.0f} s window).",
            "",
            "| figure | value | target | |",
            "| --- | --- | --- | --- |",
        ]
        for t in run["targets"]:
            lines.append(f"| {t['name']} | {t['value']} | {t['target']} | "
                         f"{'met' if t['met'] else '**missed**'} |")  # fmt: skip
        refusals = ", ".join(f"{r['op']} {r['code']} “{r['kind']}” ×{r['count']}"
                             for r in run["refusals"][:8])  # fmt: skip
        drain = run.get("drain") or {}
        statuses = run.get("soak_task_statuses") or {}
        lines += [
            "",
            f"After the load: {sum(run.get('quiesce_paused') or [0]):,} soak tasks still in "
            f"progress paused, the outbox drained in {drain.get('seconds', 0):g} s "
            f"({'drained' if drain.get('drained') else '**not drained**'}); the soak's tasks "
            "by status at the end: " + ", ".join(f"{k}: {v:,}" for k, v in statuses.items()) + ".",
            "",
            f"Refusals (code ≠ 0), provoked by the mix: {refusals or 'none'}.",
            "",
        ]
        if run.get("first_5xx"):
            lines += ["5xx answers (the first ten):", ""]
            lines += [f"- `{text}`" for text in run["first_5xx"]]
            lines.append("")
    return "\n".join(lines)


def write_results(figures: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    tag = f"-{figures['tag']}" if figures.get("tag") else ""
    path = RESULTS_DIR / f"soak-{figures['backend']}{tag}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown()
    return path


def write_markdown() -> Path:
    """``soak.md`` from every ``soak-<backend>[-<tag>].json`` (targets assessed again from the
    figures), in the order of their runs."""
    runs = []
    for path in RESULTS_DIR.glob("soak-*.json"):
        run = json.loads(path.read_text(encoding="utf-8"))
        run["targets"] = [dataclasses.asdict(t) for t in assess(run)]
        runs.append(run)
    runs.sort(key=lambda run: str(run["started_at"]))
    out = RESULTS_DIR / "soak.md"
    out.write_text(render_markdown(runs), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s, all workers")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=0,
                        help="request cap (default: 1.2 × rate × duration)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seed-tasks", type=int, default=20_000)
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--rss-interval", type=float, default=5.0)
    parser.add_argument("--drain-seconds", type=float, default=180.0)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--tag", default="",
                        help="write soak-<backend>-<tag>.json (keeps other runs)")  # fmt: skip
    parser.add_argument("--report", action="store_true",
                        help="only write soak.md again from the JSON results")  # fmt: skip
    args = parser.parse_args(argv)
    if args.report:
        print(write_markdown().read_text(encoding="utf-8"))
        return 0
    if not 0 < args.minutes <= 60 or not 0 < args.rate <= 1000 or not 1 <= args.workers <= 64:
        parser.error("--minutes 0–60, --rate 0–1000, --workers 1–64")
    missed = 0
    for backend in BACKENDS if args.backend == "both" else (args.backend,):
        figures = soak_backend(backend, args)
        path = write_results(figures)
        for t in figures["targets"]:
            _say(f"{backend}: {t['name']}: {t['value']} (target {t['target']}): "
                 f"{'met' if t['met'] else 'MISSED'}")  # fmt: skip
            missed += not t["met"]
        _say(f"{backend}: written {path.relative_to(REPO)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
