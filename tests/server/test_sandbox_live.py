"""The sandbox's clock in a real server that also runs its simulator in the background
(``nxlink serve --simulate``): an advance takes the same simulator, and the background loop
follows the moved clock without dialling anything twice."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import make_tenant, sign_md5
from db import Observer
from live import server_process
from nxlink.service import admin
from nxlink.store import open_store

pytestmark = pytest.mark.slow

TOKEN = "live-sandbox-token"


def _admin(base: str, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{base}/_nxlink{path}", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_advance_with_the_simulator_running(tmp_path: Path, store_url: str, db: Observer) -> None:
    store = open_store(store_url)
    try:
        tenant = make_tenant(store, "acme")
        admin.top_up(store, "acme", 10**8)
    finally:
        store.close()
    env = {"NXLINK_ADMIN_TOKEN": TOKEN, "NXLINK_SIM_SEED": "3"}
    with server_process(tmp_path, store_url, "--simulate", "--speed", "1", env=env) as served:
        base = served.base
        clock = _admin(base, "POST", "/clock", {"frozen": True})
        raw = json.dumps({"taskName": "live", "autoFlowId": tenant.flow_id,
                          "routeId": tenant.route_id, "taskKeep": 0, "startupType": 3,
                          "maxCall": 10, "orderMaxCall": 2,
                          "list": [{"contactId": f"c{i}", "phoneNumber": f"+8529300{i:04d}"}
                                   for i in range(25)]}).encode()  # fmt: skip
        ts = str(time.time_ns() // 1_000_000)
        headers = {"Content-Type": "application/json", "accessKey": tenant.access_key,
                   "ts": ts, "bizType": "100", "action": "nxai",
                   "sign": sign_md5(tenant.access_key, tenant.secret, ts, raw)}  # fmt: skip
        created = httpx.post(f"{base}/openapi/aiagent/task/create", content=raw,
                             headers=headers, timeout=30).json()  # fmt: skip
        assert created["code"] == 0, created
        time.sleep(1.5)  # the background loop places the calls due at the frozen moment
        moved = [_admin(base, "POST", "/clock/advance", {"seconds": 1800}) for _ in range(4)]
        time.sleep(1.5)  # and keeps running, frozen: nothing more comes due
        assert _admin(base, "GET", "/clock")["now"] == clock["now"] // 1000 * 1000 + 7_200_000
    ended = sum(m["callsEnded"] for m in moved)
    (calls,) = db.one("SELECT count(*) FROM calls")
    # Every call ended in an advance, none twice (a contact's attempt is called once).
    assert calls == ended >= 25
    assert db.one("SELECT count(*) FROM (SELECT DISTINCT order_id, attempt FROM calls) AS d") == (
        calls,
    )
    assert [(c["from"], c["to"]) for m in moved for c in m["statusChanges"]] == [(2, 3)]
    assert db.one("SELECT count(*) FROM orders WHERE state = 'dialling'") == (0,)
