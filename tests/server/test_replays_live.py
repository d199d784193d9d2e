"""Replayed writes through real server processes on one database: the same signed
``task/create`` sent at once through two servers makes one task, and a server started later
answers a copy with the first answer (``decisions.md`` #19)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import make_tenant, sign_md5
from db import Observer
from live import serving
from nxlink.store import open_store

pytestmark = pytest.mark.slow

ROUNDS = 20


def _send(base: str, key: str, ts: str, sign: str, raw: bytes) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "accessKey": key, "ts": ts,
               "bizType": "100", "action": "nxai", "sign": sign}  # fmt: skip
    response = httpx.post(f"{base}/openapi/aiagent/task/create", content=raw, headers=headers,
                          timeout=30)  # fmt: skip
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def _at_once(bases: list[str], key: str, ts: str, sign: str, raw: bytes) -> list[dict[str, Any]]:
    """The same signed request sent through each server at the same moment; their answers."""
    barrier = threading.Barrier(len(bases))
    answers: list[dict[str, Any]] = [{} for _ in bases]

    def send(i: int) -> None:
        barrier.wait()
        answers[i] = _send(bases[i], key, ts, sign, raw)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _without_trace(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "traceId"}


def test_copies_sent_at_once_through_two_servers_make_one_task(
    tmp_path: Path, store_url: str, db: Observer
) -> None:
    store = open_store(store_url)
    try:
        tenant = make_tenant(store, "acme")
    finally:
        store.close()
    signed = []
    for n in range(ROUNDS):
        raw = json.dumps({"taskName": f"replayed {n}", "autoFlowId": tenant.flow_id,
                          "routeId": tenant.route_id, "taskKeep": 0,
                          "startupType": 1}).encode()  # fmt: skip
        ts = str(time.time_ns() // 1_000_000 - n)
        signed.append((ts, sign_md5(tenant.access_key, tenant.secret, ts, raw), raw))
    with ExitStack() as stack:
        bases = [stack.enter_context(serving(tmp_path, store_url, "--no-deliver"))
                 for _ in range(2)]  # fmt: skip
        pairs = [_at_once(bases, tenant.access_key, *copy) for copy in signed]
        for first, second in pairs:
            assert first["code"] == 0, first
            assert _without_trace(first) == _without_trace(second)
            assert first["traceId"] != second["traceId"]
        task_ids = [first["data"]["taskId"] for first, _ in pairs]
        assert len(set(task_ids)) == ROUNDS
    # A server started afterwards answers a copy from the database: the first answer again.
    with serving(tmp_path, store_url, "--no-deliver") as base:
        ts, sign, raw = signed[0]
        again = _send(base, tenant.access_key, ts, sign, raw)
        assert _without_trace(again) == _without_trace(pairs[0][0])
    assert db.one("SELECT count(*) FROM tasks") == (ROUNDS,)
