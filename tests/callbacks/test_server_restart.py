"""End to end, with real processes: a task status callback to a receiver that fails its first
three deliveries; the server is stopped after the first failed try and started again; the
fourth try succeeds with a valid signature, and every try carried the same event id."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from conftest import make_tenant, sign_md5
from live import NXLINK, free_port, serving
from nxlink.service import admin
from nxlink.store import open_store


def _post(base: str, access_key: str, secret: str, path: str, body: dict[str, object]) -> dict:
    raw = json.dumps(body).encode()
    ts = str(time.time_ns() // 1_000_000)
    headers = {"Content-Type": "application/json", "accessKey": access_key, "ts": ts,
               "bizType": "100", "action": "nxai", "sign": sign_md5(access_key, secret, ts, raw)}  # fmt: skip
    answer: dict = httpx.post(f"{base}/openapi/aiagent/{path}", content=raw, headers=headers).json()
    assert answer["code"] == 0, answer
    return answer


def _outbox(db: str) -> list[tuple[str, str, int]]:
    store = open_store(db)
    try:
        return [(i.event_id, i.state, i.attempts) for i in store.list_callbacks()]
    finally:
        store.close()


def _wait(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_server_restart_between_tries_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    store = open_store(store_url)
    try:
        tenant = make_tenant(store, "acme")
        admin.top_up(store, "acme", 10_000)
    finally:
        store.close()
    port = free_port()
    out = tmp_path / "listener.out"
    with out.open("w") as sink:
        listener = subprocess.Popen(
            [str(NXLINK), "callbacks", "listen", "--port", str(port), "--fail-first", "3"],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "NXLINK_ACCESS_SECRET": tenant.secret},
        )
    try:
        # Tries at 0, +0.5 s, +1.5 s, +4.5 s (the schedule of 10 s, 30 s, 90 s shrunk 20 times).
        monkeypatch.setenv("NXLINK_CALLBACK_BACKOFF_SCALE", "0.05")
        with serving(tmp_path, store_url) as base:
            task_id = _post(base, tenant.access_key, tenant.secret, "task/create", {
                "taskName": "restart", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
                "taskKeep": 0, "startupType": 1,
                "taskCallbackUrl": f"http://127.0.0.1:{port}/tasks",
            })["data"]["taskId"]  # fmt: skip
            _post(base, tenant.access_key, tenant.secret, "task/start", {"taskId": task_id})
            _wait(lambda: _outbox(store_url)[0][2] >= 1, 10)
        # The server is down: the callback waits in the outbox, undelivered.
        ((event_id, state, attempts),) = _outbox(store_url)
        assert state == "pending" and 1 <= attempts < 4
        with serving(tmp_path, store_url):
            _wait(lambda: _outbox(store_url)[0][1] == "delivered", 20)
        assert _outbox(store_url) == [(event_id, "delivered", 4)]
    finally:
        listener.terminate()
        listener.wait(timeout=10)
    lines = out.read_text().splitlines()
    assert len(lines) == 4, lines
    assert all(f" task.status {event_id} taskId={task_id} taskStatus=2 " in x for x in lines)
    assert [re.search(r"-> (\d+)", x).group(1) for x in lines] == ["500", "500", "500", "200"]  # type: ignore[union-attr]
    assert all("signature ok" in x for x in lines), lines
