"""``nxlink callbacks listen``: the installed command in a process, fed by hand-signed POSTs and
by the real outbox worker."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import httpx
from click.testing import CliRunner

from callbacks import add_callback
from conftest import make_tenant
from live import NXLINK
from nxlink import signing
from nxlink.callbacks import Deliverer
from nxlink.cli.callbacks import callbacks
from nxlink.store import Store

T0 = 1_767_225_600_000
SECRET = "s3cret-for-the-listener"
ACCESS_KEY = "AK-listener"
TASK_ID = "00000000-0000-4000-8000-000000000001"
EVENT = "e" * 32
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/\n")
STAMP = re.compile(r"\d\d:\d\d:\d\d ")
EXIT_TIMEOUT_S = 10.0


def _task_event(event_id: str = EVENT, *, status: int = 3) -> bytes:
    event = {
        "eventId": event_id, "eventType": "task.status", "eventTs": T0, "taskId": TASK_ID,
        "userTaskId": "renewals-7", "other": "", "autoFlowId": 1, "autoFlowName": "agent",
        "taskName": "renewals", "taskStatus": status, "pauseReason": 0, "statInfo": {},
    }  # fmt: skip
    return json.dumps(event).encode()


def _call_event(event_id: str, *, result: int) -> bytes:
    """A call callback in the vendor's shape: the record's keys beside the event's."""
    return json.dumps({"eventId": event_id, "eventType": "call.completed", "eventTs": T0,
                       "id": 7, "callId": "c-7", "taskId": TASK_ID, "contactId": "42",
                       "callResult": result, "other": ""}).encode()  # fmt: skip


def _signed(body: bytes, *, secret: str = SECRET, event_id: str = EVENT) -> dict[str, str]:
    headers = signing.headers(access_key=ACCESS_KEY, access_secret=secret, ts=str(T0), body=body)
    headers["Content-Type"] = "application/json"
    headers["X-Nxlink-Event-Id"] = event_id
    return headers


@dataclass
class Listening:
    """A running ``nxlink callbacks listen`` and the URL it answers on."""

    proc: subprocess.Popen[str]
    url: str

    def finish(self) -> list[str]:
        """Wait for the command to stop by itself; its stdout lines without the time stamp."""
        out, err = self.proc.communicate(timeout=EXIT_TIMEOUT_S)
        assert (self.proc.returncode, err) == (0, ""), err
        lines = out.splitlines()
        assert all(STAMP.match(line) for line in lines), lines
        return [line[len("00:00:00 ") :] for line in lines]


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def listening(*args: str, secret: str | None = SECRET) -> Iterator[Listening]:
    """Start the listener on a free port (``secret`` in ``NXLINK_ACCESS_SECRET``); kill it if
    the test leaves it running."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("NXLINK_")}
    if secret is not None:
        env["NXLINK_ACCESS_SECRET"] = secret
    proc = subprocess.Popen(
        [str(NXLINK), "callbacks", "listen", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C as at a terminal, even when the suite runs in the background (a shell starts
        # background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt).
        preexec_fn=_interruptible,
    )
    try:
        stderr: IO[str] | None = proc.stderr
        assert stderr is not None
        match = LISTENING.fullmatch(stderr.readline())
        assert match is not None
        yield Listening(proc, f"http://127.0.0.1:{match[1]}/hooks")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=EXIT_TIMEOUT_S)


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=EXIT_TIMEOUT_S)


def test_fails_first_then_accepts_and_marks_a_duplicate() -> None:
    body = _task_event()
    with listening("--count", "2", "--fail-first", "1") as listener:
        answers = [_post(listener.url, body, _signed(body)) for _ in range(3)]
        assert [(a.status_code, a.content) for a in answers] == [
            (500, b"failing on purpose\n"),
            (200, b""),
            (200, b""),
        ]
        assert listener.finish() == [
            f"task.status {EVENT} taskId={TASK_ID} taskStatus=3 signature ok "
            "-> 500 (failing on purpose, 0 left)",
            f"task.status {EVENT} taskId={TASK_ID} taskStatus=3 signature ok -> 200",
            f"task.status {EVENT} taskId={TASK_ID} taskStatus=3 signature ok -> 200 (duplicate)",
        ]


def test_a_bad_signature_is_printed_as_bad_and_an_unsigned_one_as_none() -> None:
    first, second, third = "1" * 32, "2" * 32, "3" * 32
    wrong = _call_event(first, result=1)
    unsigned = _call_event(second, result=17)
    good = _call_event(third, result=2)
    sha = signing.headers(
        access_key=ACCESS_KEY, access_secret=SECRET, ts=str(T0), body=good, algorithm="sha256"
    )
    with listening("--count", "4") as listener:
        partly = {k: v for k, v in _signed(good).items() if k != "sign"}
        statuses = [
            _post(listener.url, wrong, _signed(wrong, secret="not-the-secret")).status_code,
            _post(listener.url, unsigned, {"Content-Type": "application/json"}).status_code,
            _post(listener.url, good, partly).status_code,
            _post(listener.url, good, sha).status_code,
        ]
        assert statuses == [200, 200, 200, 200]
        assert listener.finish() == [
            f"call.completed {first} taskId={TASK_ID} contactId=42 callResult=1 "
            "signature BAD -> 200",
            f"call.completed {second} taskId={TASK_ID} contactId=42 callResult=17 "
            "signature none (unsigned) -> 200",
            f"call.completed {third} taskId={TASK_ID} contactId=42 callResult=2 "
            "signature BAD -> 200",
            f"call.completed {third} taskId={TASK_ID} contactId=42 callResult=2 "
            "signature ok -> 200 (duplicate)",
        ]


def test_without_a_secret_the_signature_is_not_checked() -> None:
    body = b"not json"
    with listening("--count", "1", secret=None) as listener:
        assert _post(listener.url, body, _signed(body, event_id="f" * 32)).status_code == 200
        assert listener.finish() == [
            f"? {'f' * 32} taskId=? signature not checked (no secret) -> 200"
        ]


def test_ctrl_c_stops_it_quietly() -> None:
    with listening() as listener:
        listener.proc.send_signal(signal.SIGINT)
        assert listener.finish() == []


def test_a_busy_port_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(callbacks, ["listen", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


class Clock:
    """A settable clock in epoch milliseconds."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_the_outbox_worker_delivers_on_the_third_try(store: Store) -> None:
    tenant = make_tenant(store)
    event_id = "d" * 32
    body = _task_event(event_id, status=2)
    with listening("--fail-first", "2", "--count", "1", secret=tenant.secret) as listener:
        item_id = add_callback(store, tenant.account_id, url=listener.url, body=body,
                               event_id=event_id, created_ms=T0)  # fmt: skip
        clock = Clock(T0)
        states: list[tuple[Any, ...]] = []
        with Deliverer(store, clock_ms=clock, backoff_scale=0.001) as deliverer:
            for _ in range(3):
                assert deliverer.deliver_due() == 1
                item = store.get_callback(item_id)
                assert item is not None
                states.append((item.state, item.attempts, item.last_status, item.last_error))
                clock.now = item.next_attempt_ms
        assert states == [
            ("pending", 1, 500, "HTTP 500: failing on purpose"),
            ("pending", 2, 500, "HTTP 500: failing on purpose"),
            ("delivered", 3, 200, ""),
        ]
        line = f"task.status {event_id} taskId={TASK_ID} taskStatus=2 signature ok -> "
        assert listener.finish() == [
            line + "500 (failing on purpose, 1 left)",
            line + "500 (failing on purpose, 0 left)",
            line + "200",
        ]
