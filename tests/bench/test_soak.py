"""The soak benchmark's pieces, quickly: the receiver's failure schedule, its records, the
report's met/missed logic. The soak itself (``python -m benchmarks.soak``) never runs here."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import httpx
from benchmarks import soak
from benchmarks.signed import sign


def test_fail_schedule_is_deterministic_and_about_ten_percent() -> None:
    tries = [(f"ev-{n}", attempt) for n in range(2000) for attempt in (1, 2, 3)]
    first = [soak.fails(7, event, attempt) for event, attempt in tries]
    assert first == [soak.fails(7, event, attempt) for event, attempt in tries]
    share = sum(first) / len(first)
    assert 0.08 < share < 0.12
    # Another seed, another schedule.
    assert first != [soak.fails(8, event, attempt) for event, attempt in tries]


def _event_failing_first(seed: int) -> str:
    return next(f"ev-{n}" for n in range(10_000)
                if soak.fails(seed, f"ev-{n}", 1) and not soak.fails(seed, f"ev-{n}", 2))  # fmt: skip


def _post(http: httpx.Client, event_id: str, *, in_header: bool, good_sign: bool = True) -> int:
    body = json.dumps({"eventId": event_id, "eventType": "call.completed"}).encode()
    signature = sign("AK-1", "s3cret", "1", body) if good_sign else "0"
    headers = {"accessKey": "AK-1", "ts": "1", "sign": signature}
    if in_header:
        headers["X-Nxlink-Event-Id"] = event_id
    return http.post("/calls", content=body, headers=headers).status_code


def test_receiver_answers_the_schedule_and_records_event_ids() -> None:
    seed = 3
    failing = _event_failing_first(seed)
    passing = next(f"ok-{n}" for n in range(10_000) if not soak.fails(seed, f"ok-{n}", 1))
    with (
        soak.Receiver(seed=seed, access_key="AK-1", access_secret="s3cret") as receiver,
        httpx.Client(base_url=receiver.url, timeout=5) as http,
    ):
        assert _post(http, failing, in_header=True) == 500
        assert _post(http, failing, in_header=True) == 200
        assert _post(http, passing, in_header=False, good_sign=False) == 200
    log = receiver.log
    assert log.tries == {failing: 2, passing: 1}
    assert log.accepted == {failing, passing}
    assert log.answered_500 == 1
    assert log.bad_signature == 1
    assert log.by_type == {"call.completed": 2}


def test_refusal_kind_blanks_ids_and_numbers() -> None:
    a = soak.refusal_kind("taskStatus: task 0b1e2c3d-aaaa-4bbb-8ccc-0123456789ab is completed")
    b = soak.refusal_kind("taskStatus: task 9f8e7d6c-1111-4222-9333-ba9876543210 is completed")
    assert a == b == "taskStatus: task <id> is completed"
    assert soak.refusal_kind("Duplicate contactIds are not allowed: soak-7-c123") == (
        "Duplicate contactIds are not allowed: <id>"
    )


def test_rss_growth_is_measured_from_the_end_of_the_warm_up() -> None:
    samples = [(0.0, 50.0), (5.0, 80.0), (60.0, 100.0), (120.0, 104.0), (180.0, 109.0)]
    growth = soak.rss_growth(samples, 60.0)
    assert growth == {"at_warmup_mib": 100.0, "last_mib": 109.0, "max_mib": 109.0,
                      "growth": 0.09}  # fmt: skip


GOOD: dict[str, Any] = {
    "requests": 1000,
    "http_5xx": 0,
    "transport_errors": 0,
    "rss": {"growth": 0.05, "at_warmup_mib": 100.0, "last_mib": 105.0},
    "healthz": {"p99_ms": 4.0, "probes": 600, "errors": 0},
    "verify_counters": {"clean": True, "exit": 0},
    "callbacks": {"outbox_rows": 500, "delivered": 500, "delivered_not_seen": 0},
}


def _met(figures: dict[str, Any]) -> dict[str, bool]:
    return {t.name: t.met for t in soak.assess(figures)}


def test_assess_meets_every_target_of_a_clean_run() -> None:
    assert all(_met(GOOD).values())


def test_assess_misses_each_target_on_its_own() -> None:
    cases = [
        ("HTTP 5xx answers", lambda f: f.update(http_5xx=1)),
        ("transport errors (no answer)", lambda f: f.update(transport_errors=2)),
        ("RSS growth after warm-up", lambda f: f["rss"].update(growth=0.11)),
        ("/healthz p99", lambda f: f["healthz"].update(p99_ms=50.1)),
        ("/healthz p99", lambda f: f["healthz"].update(errors=1)),
        ("verify-counters", lambda f: f["verify_counters"].update(clean=False, exit=1)),
        ("callbacks delivered", lambda f: f["callbacks"].update(delivered=499)),
        ("callbacks delivered", lambda f: f["callbacks"].update(delivered_not_seen=1)),
        ("callbacks delivered", lambda f: f["callbacks"].update(outbox_rows=0, delivered=0)),
    ]
    for name, change in cases:
        figures = copy.deepcopy(GOOD)
        change(figures)
        met = _met(figures)
        assert not met[name], name
        assert all(ok for other, ok in met.items() if other != name), name


def test_markdown_marks_a_miss() -> None:
    figures = copy.deepcopy(GOOD)
    figures["rss"]["growth"] = 0.2
    run = {
        **figures, "backend": "sqlite", "minutes": 1, "started_at": "2026-12-01T12:00:00Z",
        "machine": {"commit": "abc", "cpus": 2}, "requests_per_s": 16.7,
        "config": {"workers": 8}, "tasks_created": 3, "contacts_sent": 9,
        "callbacks": {**figures["callbacks"], "receiver_500": 50},
        "cpu": {"machine": 1.0, "server": 0.3, "database": 0.0, "loadgen": 0.1, "other": 0.6},
        "cpu_windows": [], "refusals": [],
        "targets": [dataclasses.asdict(t) for t in soak.assess(figures)],
    }  # fmt: skip
    text = soak.render_markdown([run])
    assert (
        "| RSS growth after warm-up | +20.0 % (100 → 105 MiB, peak 105) | ≤ +10 % | **missed** |"
        in text
    )
    assert "| HTTP 5xx answers | 0 of 1,000 | 0 | met |" in text
