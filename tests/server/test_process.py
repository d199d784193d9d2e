"""The real server process, started as the README says, called over loopback.

Everything here goes through the installed console script and plain ``httpx``; the request is
signed by hand with :mod:`hashlib` so that nothing of the package helps the test pass.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from live import NXLINK, server_process, serving

TASK_LIST = "/openapi/aiagent/task/list"

pytestmark = pytest.mark.slow


def _cli(*args: str) -> str:
    result = subprocess.run(
        [str(NXLINK), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def _prepare(db: str, *, tasks: int = 50) -> tuple[str, dict[str, Any]]:
    _cli("accounts", "create", "acme", "--db", db)
    key: dict[str, Any] = json.loads(
        _cli("keys", "create", "--account", "acme", "--json", "--db", db)
    )
    assert set(key) == {"accessKey", "accessSecret", "saasUserId"}
    assert re.fullmatch(r"[0-9a-f]{32}", key["accessSecret"])
    _cli("seed", "--account", "acme", "--tasks", str(tasks), "--db", db)
    return db, key


def _post(base: str, key: dict[str, Any], body: bytes) -> httpx.Response:
    access_key, secret = key["accessKey"], key["accessSecret"]
    ts = str(time.time_ns() // 1_000_000)
    pre = f"accessKey={access_key}&action=nxai&bizType=100&ts={ts}".encode()
    if body:
        pre += b"&body=" + body
    pre += f"&accessSecret={secret}".encode()
    headers = {
        "Content-Type": "application/json",
        "accessKey": access_key,
        "ts": ts,
        "bizType": "100",
        "action": "nxai",
        "sign": hashlib.md5(pre).hexdigest(),
    }
    return httpx.post(base + TASK_LIST, content=body, headers=headers, timeout=10.0)


def _order_key(task: dict[str, Any]) -> tuple[int, int]:
    return (task["createTs"], task["id"])


def test_serve_answers_a_hand_signed_task_list(tmp_path: Path, store_url: str) -> None:
    db, key = _prepare(store_url)
    with serving(tmp_path, db, log=True) as base:
        response = _post(base, key, b'{"pageNumber":1,"pageSize":10}')
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload["code"] == 0, payload
        assert payload["message"] == "success"
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", payload["traceId"]
        )
        assert response.headers["X-Trace-Id"] == payload["traceId"]
        assert payload["total"] == 50
        assert payload["pageNumber"] == 1
        assert payload["pageSize"] == 10
        tasks = payload["list"]
        assert len(tasks) == 10
        assert [_order_key(t) for t in tasks] == sorted(map(_order_key, tasks), reverse=True)
        assert all(t["saasUserId"] == key["saasUserId"] for t in tasks)
        assert all(isinstance(t["statInfo"], dict) for t in tasks)

        everything = _post(base, key, b'{"pageSize":50}').json()
        assert everything["code"] == 0
        assert len(everything["list"]) == 50
        keys = [_order_key(t) for t in everything["list"]]
        assert keys == sorted(keys, reverse=True)
        assert len(set(keys)) == 50
        assert [t["id"] for t in everything["list"][:10]] == [t["id"] for t in tasks]

        empty = _post(base, key, b"")
        assert empty.json()["code"] == 0
        assert empty.json()["total"] == 50

        unsigned = httpx.post(base + TASK_LIST, content=b"{}", timeout=10.0)
        assert unsigned.status_code == 200
        assert unsigned.json()["code"] == 1001


def test_serve_with_two_workers(tmp_path: Path, store_url: str) -> None:
    db, key = _prepare(store_url)
    with serving(tmp_path, db, "--workers", "2", log=True) as base:
        for page in (1, 2, 3, 4, 5, 6):
            body = json.dumps({"pageNumber": page, "pageSize": 10}, separators=(",", ":")).encode()
            payload = _post(base, key, body).json()
            assert payload["code"] == 0, payload
            assert payload["total"] == 50
            assert len(payload["list"]) == (10 if page <= 5 else 0)

        # Freshness across processes: a revocation by the CLI holds on every worker at once.
        _cli("keys", "revoke", key["accessKey"], "--db", db)
        for _ in range(6):
            payload = _post(base, key, b"{}").json()
            assert payload["code"] == 1005, payload


def test_serve_prints_the_admin_token_every_worker_accepts(tmp_path: Path, store_url: str) -> None:
    db, _key = _prepare(store_url, tasks=1)
    with server_process(tmp_path, db, "--workers", "2") as served:
        printed = served.err_path.read_text()
        match = re.search(r"admin API: (http://\S+/_nxlink/) with 'Authorization: Bearer (\S+)'",
                          printed)  # fmt: skip
        assert match is not None, printed
        assert match.group(1) == f"{served.base}/_nxlink/"
        token = match.group(2)
        for _ in range(8):  # new connections, so both workers answer
            answer = httpx.get(served.base + "/_nxlink/requests/count",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
            assert answer.status_code == 200, answer.text
        wrong = httpx.get(served.base + "/_nxlink/requests/count",
                          headers={"Authorization": "Bearer not-the-token"}, timeout=10)  # fmt: skip
        assert wrong.status_code == 401


def test_serve_does_not_print_a_token_it_was_given(tmp_path: Path, store_url: str) -> None:
    db, _key = _prepare(store_url, tasks=1)
    given = "given-admin-token-0123"
    with server_process(tmp_path, db, env={"NXLINK_ADMIN_TOKEN": given}) as served:
        printed = served.err_path.read_text()
        assert given not in printed
        assert "'Authorization: Bearer (NXLINK_ADMIN_TOKEN)'" in printed
        answer = httpx.get(served.base + "/_nxlink/requests/count",
                           headers={"Authorization": f"Bearer {given}"}, timeout=10)  # fmt: skip
        assert answer.json()["data"] == {"count": 0}
