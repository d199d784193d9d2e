"""Scale-out, with real processes: two API servers and two workers on one database.

Tasks are created and listed through both servers; the workers dial and deliver callbacks to a
local receiver; then the workers get SIGTERM. Afterwards every counter equals its
recomputation, no (contact, attempt) was called twice, no task ever had more calls at once than
its ``maxCall`` (and each had all its lines busy at some moment), every callback event arrived
exactly once, and both servers answer the same bytes.
"""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import make_tenant, sign_md5
from db import Observer
from lifecycle.helpers import nxlink
from live import NXLINK, serving
from nxlink.service import admin

pytestmark = pytest.mark.slow

TASKS = 4
CONTACTS = 40
MAX_CALL = 3


class _Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        event = json.loads(body)["eventId"]
        assert self.headers["X-Nxlink-Event-Id"] == event
        with self.server.lock:
            self.server.events.append(event)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _receiving() -> Iterator[_Receiver]:
    receiver = _Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


def _post(base: str, key: str, secret: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    ts = str(time.time_ns() // 1_000_000)
    headers = {"Content-Type": "application/json", "accessKey": key, "ts": ts,
               "bizType": "100", "action": "nxai", "sign": sign_md5(key, secret, ts, raw)}  # fmt: skip
    answer: dict[str, Any] = httpx.post(f"{base}/openapi/aiagent/{path}", content=raw,
                                        headers=headers, timeout=30).json()  # fmt: skip
    answer.pop("traceId")
    return answer


def _peak_overlap(intervals: list[tuple[int, int]]) -> int:
    """The most intervals ``[start, end)`` open at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = open_now = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def test_two_servers_and_two_workers_share_one_database(tmp_path: Path, store_url: str) -> None:
    from nxlink.store import open_store

    store = open_store(store_url)
    try:
        tenant = make_tenant(store, "acme")
        admin.top_up(store, "acme", 10**7)
    finally:
        store.close()
    with ExitStack() as stack:
        receiver = stack.enter_context(_receiving())
        bases = [stack.enter_context(serving(tmp_path, store_url, "--no-deliver"))
                 for _ in range(2)]  # fmt: skip
        task_ids = []
        for t in range(TASKS):
            body = {
                "taskName": f"scale {t}", "autoFlowId": tenant.flow_id,
                "routeId": tenant.route_id, "taskKeep": 0, "startupType": 3,
                "maxCall": MAX_CALL, "orderMaxCall": 2, "replayInterval": 0,
                "taskCallbackUrl": receiver.url, "callCallbackUrl": receiver.url,
                "list": [{"contactId": f"s{t}-{i}", "phoneNumber": f"+8525{t}{i:06d}"}
                         for i in range(CONTACTS)],
            }  # fmt: skip
            answer = _post(bases[t % 2], tenant.access_key, tenant.secret, "task/create", body)
            assert answer["code"] == 0, answer
            task_ids.append(answer["data"]["taskId"])

        workers = [
            subprocess.Popen(
                [str(NXLINK), "worker", "--db", store_url, "--simulate", "--speed", "300",
                 "--seed", str(seed), "--backoff-scale", "0.01"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for seed in (1, 2)
        ]  # fmt: skip
        try:
            db = stack.enter_context(Observer(store_url))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                # Dialled out, and every callback delivered.
                if db.scalar("SELECT count(*) FROM tasks WHERE task_status <> 3") == 0 and (
                    db.scalar("SELECT count(*) FROM outbox WHERE state <> 'delivered'") == 0
                ):
                    break
                time.sleep(0.2)
            for proc in workers:
                proc.send_signal(signal.SIGTERM)
            errors = [proc.communicate(timeout=30)[1] for proc in workers]
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for proc, err in zip(workers, errors, strict=True):
            assert proc.returncode == 0, err
            assert "failed" not in err, err
        statuses = db.rows("SELECT task_status, count(*) FROM tasks GROUP BY task_status")
        assert statuses == [(3, TASKS)]
        outbox = db.rows("SELECT event_id, state FROM outbox ORDER BY id")

        # No contact was called twice for one attempt; no task passed maxCall, each reached it.
        assert db.rows("SELECT order_id, attempt FROM calls GROUP BY order_id, attempt "
                       "HAVING count(*) > 1") == []  # fmt: skip
        intervals: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for task_row_id, start, end in db.rows(
            "SELECT task_row_id, call_start, call_end FROM calls"
        ):
            intervals[task_row_id].append((start, end))
        assert sorted(_peak_overlap(v) for v in intervals.values()) == [MAX_CALL] * TASKS

        # Each event arrived once; every announced event arrived.
        assert {state for _, state in outbox} == {"delivered"}
        arrived = Counter(receiver.events)
        assert [event for event, n in arrived.items() if n > 1] == []
        assert sorted(arrived) == sorted(event for event, _ in outbox)

        # Both servers answer the same bytes (traceId aside).
        for body in ({"pageSize": 100}, {"taskName": "scale", "taskStatus": 3}):
            first, second = (_post(b, tenant.access_key, tenant.secret, "task/list", body)
                             for b in bases)  # fmt: skip
            assert first == second
            assert first["total"] == TASKS

    verify = nxlink("verify-counters", "--db", store_url)
    assert verify.returncode == 0, (verify.stdout, verify.stderr)
    assert verify.stdout.startswith(f"ok: {TASKS} task(s)"), verify.stdout
