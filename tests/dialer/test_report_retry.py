"""A report that fails (a lost connection, a conflict) is tried again at the next step: the
call is kept, not dropped with its contact left held until the lease passes."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import NOW_MS, make_tenant
from nxlink.dialer.simulator import Simulator
from nxlink.service import lifecycle, requests
from nxlink.service.lifecycle import Clock
from nxlink.store import Store, StoreUnavailable

NOW = NOW_MS // 1000


def test_a_failed_report_is_tried_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = make_tenant(store)
    lifecycle.top_up(store, tenant.account_id, 100_000, clock=Clock.at(NOW_MS))
    body = {"taskName": "retry", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 1,
            "list": [{"contactId": "only", "phoneNumber": "+85290000001"}]}  # fmt: skip
    lifecycle.create_task(store, tenant.account_id, requests.parse_task_create(body),
                          clock=Clock.at(NOW_MS))  # fmt: skip
    sim = Simulator(store, seed=1, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)
    assert sim.in_flight == 1

    real_report = lifecycle.report
    failures = [1]

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if failures[0]:
            failures[0] -= 1
            raise StoreUnavailable("the database is unavailable (connection lost)")
        return real_report(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "report", flaky)
    with pytest.raises(StoreUnavailable):
        sim.advance(NOW + 3600)
    assert sim.in_flight == 1  # kept for the next step
    sim.advance(NOW + 3600)
    assert (sim.in_flight, sim.reported) == (0, 1)
    check = store.recompute_counters()
    assert (check.checked, check.differences) == (1, [])
    with store.lifecycle() as tx:
        (row,) = tx.tasks_in(tenant.account_id, statuses=[3])
        lines = tx.lock_lines(tenant.account_id, row, dialer_id="observer")
    assert lines is not None and lines.dialling == 0
