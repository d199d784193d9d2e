"""A claim locks only the tasks that may take a call. One whose lines are all busy is read, not
locked: with a lock (and a count) per running task at every step, a step's cost grew with the
tasks already dialling, a simulator that fell behind at speed 60 fell further behind, and the
calls it held in flight (and the server's memory) grew for as long as the load went on
(``benchmarks/memory.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import NOW_MS, make_tenant
from nxlink.dialer.simulator import Simulator
from nxlink.service import lifecycle, requests
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

NOW = NOW_MS // 1000
BUSY_TASKS = 30


def _create(store: Store, tenant: Any, name: str, *, max_call: int, contacts: int) -> None:
    body = {"taskName": name, "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": max_call,
            "list": [{"contactId": f"{name}-{i}", "phoneNumber": f"+8529{i:07d}"}
                     for i in range(contacts)]}  # fmt: skip
    lifecycle.create_task(store, tenant.account_id, requests.parse_task_create(body),
                          clock=Clock.at(NOW_MS))  # fmt: skip


def test_a_claim_locks_no_task_whose_lines_are_all_busy(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(store)
    lifecycle.top_up(store, tenant.account_id, 10**7, clock=Clock.at(NOW_MS))
    for n in range(BUSY_TASKS):  # one line each, a second contact waiting for it
        _create(store, tenant, f"busy{n}", max_call=1, contacts=2)
    _create(store, tenant, "wide", max_call=3, contacts=5)
    sim = Simulator(store, seed=1, clock_ms=lambda: NOW_MS)
    sim.step(NOW)
    assert sim.in_flight == BUSY_TASKS + 3

    with store.lifecycle() as tx:
        tx_class = type(tx)
    locked: list[int] = []
    real_lock_lines = tx_class.lock_lines

    def spy(self: Any, account_id: int, task_row_id: int, *, dialer_id: str) -> Any:
        locked.append(task_row_id)
        return real_lock_lines(self, account_id, task_row_id, dialer_id=dialer_id)

    monkeypatch.setattr(tx_class, "lock_lines", spy)
    claim = {"dialer_id": sim.port.dialer_id, "lease_seconds": 7_800, "now_ms": NOW_MS}
    assert lifecycle.claim(store, NOW, **claim) == []
    assert locked == []  # before: a lock per task with an order due, BUSY_TASKS + 1 of them
    with store.lifecycle() as tx:
        candidates = tx.dial_candidates(tenant.account_id, NOW)
    assert sorted(c.dialling for c in candidates) == [1] * BUSY_TASKS + [3]

    _create(store, tenant, "fresh", max_call=2, contacts=1)
    claimed = lifecycle.claim(store, NOW, **claim)
    assert [c.contact_id for c in claimed] == ["fresh-0"]
    assert len(locked) == 1
