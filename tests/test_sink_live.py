"""The callback sink, callback faults and delivery tries on a real server process.

Tasks created through the API with ``taskCallbackUrl`` at the sandbox's own
``/_nxlink/sink/NAME`` are dialled by the simulated dialer at high speed; their ``task.status``
callbacks arrive in the sink, signed by the account's key. A forged callback is recorded as
not signed. Callback faults make one sink's first two tries fail and another's POSTs wait;
``/_nxlink/deliveries`` shows each try.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from conftest import Tenant, make_tenant, sign_md5
from live import server_process
from nxlink import Sandbox
from nxlink.cli import main
from nxlink.service import admin
from nxlink.store import open_store

pytestmark = pytest.mark.slow

TOKEN = "sink-live-token-1234"


def _post(base: str, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    ts = str(time.time_ns() // 1_000_000)
    headers = {"Content-Type": "application/json", "accessKey": tenant.access_key, "ts": ts,
               "bizType": "100", "action": "nxai",
               "sign": sign_md5(tenant.access_key, tenant.secret, ts, raw)}  # fmt: skip
    answer: dict[str, Any] = httpx.post(f"{base}/openapi/aiagent/{path}", content=raw,
                                        headers=headers, timeout=30).json()  # fmt: skip
    assert answer["code"] == 0, answer
    return answer


def _task(base: str, tenant: Tenant, name: str, n: int) -> str:
    body = {"taskName": f"sink {name}", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 1, "orderMaxCall": 1,
            "replayInterval": 0, "taskCallbackUrl": f"{base}/_nxlink/sink/{name}",
            "list": [{"contactId": f"{name}-1", "phoneNumber": f"+8525{n}000001"}]}  # fmt: skip
    task_id: str = _post(base, tenant, "task/create", body)["data"]["taskId"]
    return task_id


def _wait(what: str, check: Any, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def test_callbacks_come_back_signed_through_the_sink_with_faults(
    tmp_path: Path, store_url: str
) -> None:
    store = open_store(store_url)
    try:
        tenant = make_tenant(store, "acme")
        admin.top_up(store, "acme", 10**6)
    finally:
        store.close()
    env = {"NXLINK_ADMIN_TOKEN": TOKEN, "NXLINK_CALLBACK_BACKOFF_SCALE": "0.001"}
    with (
        server_process(tmp_path, store_url, "--simulate", "--speed", "300", env=env) as served,
        Sandbox(base_url=served.base, admin_token=TOKEN) as sandbox,
    ):
        base = served.base
        flaky = sandbox.add_callback_fault("/_nxlink/sink/flaky", fail_first=2, fail_status=503)
        slow = sandbox.add_callback_fault("/_nxlink/sink/slow", delay_ms=400)
        assert [f["id"] for f in sandbox.callback_faults()] == [flaky["id"], slow["id"]]
        tasks = {name: _task(base, tenant, name, n)
                 for n, name in enumerate(["hooks", "flaky", "slow"])}  # fmt: skip

        # Each task's callbacks end with its completion (taskStatus 3), signed by its key.
        def done(name: str) -> list[dict[str, Any]] | None:
            records: list[dict[str, Any]] = sandbox.sink(name)["list"]
            ended = any(r["body"]["taskStatus"] == 3 for r in records)
            return records if ended else None

        for name, task_id in tasks.items():
            records = _wait(f"sink {name}", lambda name=name: done(name))
            assert {r["body"]["taskId"] for r in records} == {task_id}
            assert {r["body"]["eventType"] for r in records} == {"task.status"}
            assert [r["signatureValid"] for r in records] == [True] * len(records)
            assert {(r["accessKey"], r["accountId"], r["signatureProblem"]) for r in records} == {
                (tenant.access_key, tenant.account_id, None)
            }
            assert [r["eventId"] for r in records] == [r["body"]["eventId"] for r in records]

        # A forged callback is kept, marked as not signed.
        hooks = sandbox.sink("hooks")["list"]
        forged = {**hooks[0]["headers"], "sign": "0" * 32}
        answer = httpx.post(f"{base}/_nxlink/sink/hooks",
                            content=json.dumps(hooks[0]["body"]).encode(),
                            headers={k: v for k, v in forged.items()
                                     if k not in ("content-length", "host")}).json()  # fmt: skip
        assert (answer["code"], answer["data"]["signatureValid"]) == (0, False)
        last = sandbox.sink("hooks", limit=1)["list"][0]
        assert (last["signatureValid"], last["accountId"], last["signatureProblem"]) == (
            False, tenant.account_id, "sign: does not match the body and the key"
        )  # fmt: skip

        # Every try of the plain sink delivered at once.
        tries = sandbox.deliveries(url="/_nxlink/sink/hooks")["list"]
        assert [(t["attempt"], t["status"], t["delivered"], t["fault"]) for t in tries] == [
            (1, 200, True, "")
        ] * len(hooks)

        # The flaky sink: each event failed twice (503, nothing sent), then arrived.
        flaky_events = [r["eventId"] for r in sandbox.sink("flaky")["list"]]
        for event_id in flaky_events:
            tries = sandbox.deliveries(event_id=event_id)["list"]
            assert [(t["attempt"], t["status"], t["delivered"], t["fault"]) for t in tries] == [
                (1, 503, False, "fail"), (2, 503, False, "fail"), (3, 200, True, ""),
            ]  # fmt: skip
            assert tries[0]["error"] == (
                f"callback fault {flaky['id']}: try 1 of the first 2 fails as HTTP 503, not sent"
            )
        assert sandbox.deliveries(url="/_nxlink/sink/flaky", status=503)["total"] == 2 * len(
            flaky_events
        )
        assert len(flaky_events) == len(set(flaky_events))  # each arrived once

        # The slow sink: each POST waited 400 ms, measured from the try's start to arrival.
        received = {r["eventId"]: r["receivedMs"] for r in sandbox.sink("slow")["list"]}
        tries = sandbox.deliveries(url="/_nxlink/sink/slow")["list"]
        assert [(t["attempt"], t["delivered"], t["fault"], t["delayMs"]) for t in tries] == [
            (1, True, "delay", 400)
        ] * len(received)
        for t in tries:
            assert received[t["eventId"]] - t["startedMs"] >= 400
            assert t["latencyMs"] < t["endedMs"] - t["startedMs"]

        # The CLI twin reads the same sink.
        cli = CliRunner().invoke(main, ["--base-url", base, "--admin-token", TOKEN, "sandbox",
                                        "sink", "hooks", "--json"])  # fmt: skip
        assert cli.exit_code == 0, cli.output
        assert [r["signatureValid"] for r in json.loads(cli.output)["list"]] == [True] * len(
            hooks
        ) + [False]
