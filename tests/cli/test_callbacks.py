"""``nxlink callbacks list`` and ``nxlink callbacks retry`` through click's ``CliRunner`` (the
group is invoked directly; the docs tests cover its place under ``nxlink``)."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner, Result

from backends import existing
from callbacks import add_callback
from conftest import make_tenant
from nxlink.cli.callbacks import callbacks
from nxlink.store import open_store

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00Z
EVENTS = ("a" * 32, "b" * 32, "c" * 32)


def _run(*args: str) -> Result:
    return CliRunner().invoke(callbacks, list(args))


def _outbox(db: str) -> str:
    """Three callbacks: 1 delivered, 2 failed after seven tries, 3 pending after one try."""
    store = open_store(db)
    try:
        account = make_tenant(store).account_id
        delivered = add_callback(store, account, url="http://127.0.0.1:9/t", event_id=EVENTS[0],
                                 created_ms=T0)  # fmt: skip
        failed = add_callback(store, account, url="http://127.0.0.1:9/c", kind="call",
                              event_id=EVENTS[1], created_ms=T0 + 1)  # fmt: skip
        pending = add_callback(store, account, url="https://hooks.example.com/t",
                               event_id=EVENTS[2], created_ms=T0 + 2)  # fmt: skip
        assert (delivered, failed, pending) == (1, 2, 3)
        store.record_delivery(
            delivered, now_ms=T0 + 5, delivered=True, status=200, error="", next_attempt_ms=None
        )
        for attempt in range(7):
            store.record_delivery(
                failed, now_ms=T0 + attempt, delivered=False, status=None,
                error="ConnectError: [Errno 111] Connection refused " + "x" * 40,
                next_attempt_ms=None if attempt == 6 else T0 + attempt + 1,
            )  # fmt: skip
        store.record_delivery(
            pending, now_ms=T0 + 2, delivered=False, status=503, error="HTTP 503",
            next_attempt_ms=T0 + 90_000,
        )  # fmt: skip
    finally:
        store.close()
    return db


def test_list_as_a_table(store_url: str) -> None:
    db = _outbox(store_url)
    result = _run("list", "--db", db)
    assert result.exit_code == 0, result.output
    a, b, c = EVENTS
    error = "ConnectError: [Errno 111] Connection refused xxxxxxxxxxxxxx…"
    assert result.output.splitlines() == [
        f"id  eventId{' ' * 27}kind  state      attempts  next try              last status  "
        f"last error{' ' * 52}url",
        f"--  {'-' * 32}  ----  ---------  --------  --------------------  -----------  "
        f"{'-' * 60}  ---------------------------",
        f"3   {c}  task  pending    1         2026-01-01 00:01:30Z  503          "
        f"HTTP 503{' ' * 54}https://hooks.example.com/t",
        f"2   {b}  call  failed     7                                            "
        f"{error}  http://127.0.0.1:9/c",
        f"1   {a}  task  delivered  1                               200          "
        f"{' ' * 62}http://127.0.0.1:9/t",
    ]


def test_list_failed_only_with_a_limit(store_url: str) -> None:
    db = _outbox(store_url)
    failed = _run("list", "--failed", "--db", db)
    assert failed.exit_code == 0, failed.output
    rows = failed.output.splitlines()[2:]
    assert [row.split()[:4] for row in rows] == [["2", EVENTS[1], "call", "failed"]]
    limited = _run("list", "--limit", "2", "--db", db)
    assert [row.split()[0] for row in limited.output.splitlines()[2:]] == ["3", "2"]
    refused = _run("list", "--limit", "0", "--db", db)
    assert refused.exit_code == 2
    assert "Invalid value for '--limit'" in refused.output


def test_list_as_json(store_url: str) -> None:
    db = _outbox(store_url)
    result = _run("list", "--format", "json", "--db", db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"id": 3, "eventId": EVENTS[2], "kind": "task", "state": "pending", "attempts": 1,
         "nextAttemptMs": T0 + 90_000, "lastStatus": 503, "lastError": "HTTP 503",
         "url": "https://hooks.example.com/t", "createdMs": T0 + 2, "deliveredMs": None,
         "body": {"eventType": "task.status"}},
        {"id": 2, "eventId": EVENTS[1], "kind": "call", "state": "failed", "attempts": 7,
         "nextAttemptMs": None, "lastStatus": None,
         "lastError": "ConnectError: [Errno 111] Connection refused " + "x" * 40,
         "url": "http://127.0.0.1:9/c", "createdMs": T0 + 1, "deliveredMs": None,
         "body": {"eventType": "task.status"}},
        {"id": 1, "eventId": EVENTS[0], "kind": "task", "state": "delivered", "attempts": 1,
         "nextAttemptMs": None, "lastStatus": 200, "lastError": "",
         "url": "http://127.0.0.1:9/t", "createdMs": T0, "deliveredMs": T0 + 5,
         "body": {"eventType": "task.status"}},
    ]  # fmt: skip
    failed = _run("list", "--failed", "--format", "json", "--db", db)
    assert [item["id"] for item in json.loads(failed.output)] == [2]


def test_list_of_an_empty_outbox(store_url: str) -> None:
    db = existing(store_url)
    table = _run("list", "--db", db)
    assert table.exit_code == 0, table.output
    assert len(table.output.splitlines()) == 2
    assert json.loads(_run("list", "--format", "json", "--db", db).output) == []


def test_retry_makes_a_failed_callback_due_now_in_a_new_round(store_url: str) -> None:
    db = _outbox(store_url)
    before = time.time_ns() // 1_000_000
    result = _run("retry", "2", "--db", db)
    after = time.time_ns() // 1_000_000
    assert result.exit_code == 0, result.output
    assert result.output == "retried callback 2: due now\n"
    store = open_store(db)
    try:
        item = store.get_callback(2)
        assert item is not None
        assert (item.state, item.attempts, item.round_base) == ("pending", 7, 7)
        assert before <= item.next_attempt_ms <= after
        assert [i.id for i in store.claim_callbacks(after, limit=10, lease_ms=1)] == [3, 2]
    finally:
        store.close()
    assert _run("retry", "3", "--db", db).output == "retried callback 3: due now\n"


def test_retry_refuses_unknown_and_delivered_callbacks(store_url: str) -> None:
    db = _outbox(store_url)
    unknown = _run("retry", "99", "--db", db)
    assert (unknown.exit_code, unknown.output) == (1, "Error: no callback 99\n")
    delivered = _run("retry", "1", "--db", db)
    assert (delivered.exit_code, delivered.output) == (1, "Error: callback 1 was delivered\n")
    not_a_number = _run("retry", "x", "--db", db)
    assert not_a_number.exit_code == 2
    assert "'x' is not a valid integer" in not_a_number.output
