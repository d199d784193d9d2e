"""A restore through one server process is what another process on the same database answers
afterwards, from its own reader threads and its writer (real ``nxlink serve`` processes)."""

from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from conftest import Tenant, make_tenant, sign_md5
from db import Observer
from live import server_process
from nxlink.service.seeding import seed_account
from nxlink.store import open_store

pytestmark = pytest.mark.slow

TOKEN = "live-snapshot-token"
TRACE = re.compile(rb'"traceId":"[^"]*"')


def _api(base: str, tenant: Tenant, path: str, body: dict[str, object]) -> bytes:
    raw = json.dumps(body).encode()
    ts = str(time.time_ns() // 1_000_000)
    headers = {"Content-Type": "application/json", "accessKey": tenant.access_key, "ts": ts,
               "bizType": "100", "action": "nxai",
               "sign": sign_md5(tenant.access_key, tenant.secret, ts, raw)}  # fmt: skip
    response = httpx.post(f"{base}/openapi/aiagent/{path}", content=raw, headers=headers,
                          timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["code"] == 0, response.text
    return TRACE.sub(b'"traceId":""', response.content)


def _admin(base: str, path: str) -> object:
    response = httpx.post(f"{base}/_nxlink{path}", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_restore_through_one_server_is_seen_by_another(
    tmp_path: Path, store_url: str, db: Observer
) -> None:
    store = open_store(store_url)
    try:
        tenant = make_tenant(store, "acme")
        seed_account(store, "acme", count=300, seed=5)
    finally:
        store.close()
    pages = ({"pageSize": 100}, {"pageSize": 20, "pageNumber": 3}, {"taskName": "a"})
    env = {"NXLINK_ADMIN_TOKEN": TOKEN}
    with ExitStack() as stack:
        one, other = (stack.enter_context(server_process(tmp_path, store_url, "--no-deliver",
                                                         env=env)).base
                      for _ in range(2))  # fmt: skip
        before = [_api(other, tenant, "task/list", page) for page in pages]
        _admin(one, "/snapshots/start")
        created = json.loads(_api(other, tenant, "task/create", {
            "taskName": "after", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 1}))["data"]["taskId"]  # fmt: skip
        assert [_api(other, tenant, "task/list", page) for page in pages] != before
        assert _admin(one, "/snapshots/start/restore") == {"restored": {
            "name": "start", "createdMs": pytest.approx(time.time() * 1000, abs=120_000),
            "schemaVersion": db.scalar("SELECT max(version) FROM schema_migrations"),
            "tasks": 300}}  # fmt: skip
        for _ in range(3):  # whichever of its reader threads answers
            assert [_api(other, tenant, "task/list", page) for page in pages] == before
        # Its writer goes on from the restored data: the task made after the snapshot is gone,
        # a new one is the 301st.
        again = json.loads(_api(other, tenant, "task/create", {
            "taskName": "after", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 1}))["data"]["taskId"]  # fmt: skip
        listed = json.loads(_api(one, tenant, "task/list", {"pageSize": 1}))
        assert listed["total"] == 301 and listed["list"][0]["taskId"] == again != created
    assert db.scalar("SELECT count(*) FROM tasks WHERE task_id = ?", created) == 0
