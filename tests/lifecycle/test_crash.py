"""The server dies mid-call (SIGKILL): nothing is half-written, and nothing is lost.

A real ``nxlink serve --simulate`` dials tasks created through its API and is killed while
calls are in flight. Every counter must still equal its recomputation (each change is one
transaction); a new ``nxlink simulate`` on the same database must take over the dead dialer's
claims once their lease passes and report them, leaving no contact held by the dead dialer.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import Tenant, make_tenant, sign_md5
from db import Observer
from lifecycle.helpers import nxlink
from live import serving
from nxlink.service import lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import open_store

pytestmark = pytest.mark.slow

TASKS = 2
CONTACTS_PER_TASK = 150
#: Real seconds the server dials (at 600x: 20 simulated minutes) before it is killed.
DIAL_SECONDS = 2.0
#: The second dialer: fast enough that the dead dialer's leases (7,800 simulated seconds
#: after each claim, on a clock that ran ahead of real time) pass within its run, with seconds
#: to spare on a loaded machine.
TAKEOVER_SPEED = 6000
TAKEOVER_SECONDS = 6
DIALER = re.compile(r"\(dialer (\S+)\)")


def _prepare(db_url: str) -> Tenant:
    store = open_store(db_url)
    try:
        tenant = make_tenant(store, "acme")
        ms = time.time_ns() // 1_000_000
        lifecycle.top_up(store, tenant.account_id, 10**7, clock=Clock(now=ms // 1000, now_ms=ms))
        return tenant
    finally:
        store.close()


def _post(base: str, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    raw = orjson.dumps(body)
    ts = str(time.time_ns() // 1_000_000)
    headers = {
        "Content-Type": "application/json",
        "accessKey": tenant.access_key,
        "ts": ts,
        "bizType": "100",
        "action": "nxai",
        "sign": sign_md5(tenant.access_key, tenant.secret, ts, raw),
    }
    response = httpx.post(base + path, content=raw, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["code"] == 0, answer
    return answer


def _server_pid(folder: Path) -> int:
    """The server's pid, from its request log (one JSON object per line)."""
    for log in folder.glob("serve-*.err"):
        for line in log.read_text().splitlines():
            if line.startswith("{") and '"pid"' in line:
                return int(orjson.loads(line)["pid"])
    raise AssertionError("no request in the server's log")


def _verified(db_url: str) -> str:
    result = nxlink("verify-counters", "--db", db_url)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.startswith(f"ok: {TASKS} task(s), every counter equals"), result.stdout
    return result.stdout


def test_a_killed_server_loses_nothing(tmp_path: Path, store_url: str) -> None:
    tenant = _prepare(store_url)
    with serving(tmp_path, store_url, "--simulate", "--speed", "600", log=True) as base:
        for t in range(TASKS):
            contacts = [{"contactId": f"t{t}c{i}", "phoneNumber": f"+8527{t}{i:06d}"}
                        for i in range(CONTACTS_PER_TASK)]  # fmt: skip
            _post(base, tenant, "/openapi/aiagent/task/create", {
                "taskName": f"crash {t}", "autoFlowId": tenant.flow_id,
                "routeId": tenant.route_id, "taskKeep": 0, "startupType": 3, "maxCall": 5,
                "orderMaxCall": 2, "replayInterval": 60, "list": contacts,
            })  # fmt: skip
        time.sleep(DIAL_SECONDS)
        pid = _server_pid(tmp_path)
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    # Leaving the block reaped the process: the database is as the kill left it.

    with Observer(store_url) as db:
        held = db.rows(
            "SELECT id, attempts, claimed_by, lease_until FROM orders WHERE state = 'dialling'"
        )
        calls_before = db.scalar("SELECT count(*) FROM calls")
    assert held, "no call was in flight when the server was killed"
    assert calls_before > 0
    dead = {row[2] for row in held}
    assert len(dead) == 1  # the server's one simulator
    _verified(store_url)

    latest_lease = max(row[3] for row in held)
    assert latest_lease - time.time() < TAKEOVER_SPEED * (TAKEOVER_SECONDS - 1)
    run = nxlink("simulate", "--db", store_url, "--speed", str(TAKEOVER_SPEED), "--for",
                 str(TAKEOVER_SECONDS), "--no-callbacks", timeout=60)  # fmt: skip
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert "step failed" not in run.stderr, run.stderr
    found = DIALER.search(run.stderr)
    assert found is not None, run.stderr
    assert found[1] not in dead
    assert re.search(r"placed \d+ call\(s\), reported \d+ in ", run.stdout), run.stdout

    with Observer(store_url) as db:
        still_dead = db.scalar(
            "SELECT count(*) FROM orders WHERE state = 'dialling' AND claimed_by = ?", dead.pop()
        )
        assert still_dead == 0
        # Each held attempt was reported, once, as the attempt it was.
        for order_id, attempts, _, _ in held:
            reported = db.scalar(
                "SELECT count(*) FROM calls WHERE order_id = ? AND attempt = ?",
                order_id,
                attempts + 1,
            )
            assert reported == 1, order_id
        dialling_now = db.rows("SELECT DISTINCT claimed_by FROM orders WHERE state = 'dialling'")
        assert set(dialling_now) <= {(found[1],)}
    _verified(store_url)
