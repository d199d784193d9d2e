"""Calling windows in the dialer, on both backends: a task dials only on its ``weekDay`` days in
its ``zoneSecond`` zone, waits in progress otherwise, and the simulator jumps to the window's
opening (no stepping through the closed days, no call later than the opening either).

The timing oracle is exact: with lines to spare, a contact's first call starts at the first
opening at or after the task started, and each retry at the first opening at or after the
previous call's end plus ``replayInterval`` (:func:`nxlink.service.windows.Window.next_opening`,
itself held to the calendar in ``tests/service/test_windows.py``).
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime as dt
from datetime import timedelta, timezone
from typing import Any

import pytest

from conftest import NOW_MS, Tenant, make_tenant
from db import Observer
from nxlink.dialer.simulator import Simulator
from nxlink.service import lifecycle, requests, windows
from nxlink.service.lifecycle import Clock
from nxlink.service.windows import Window
from nxlink.store import Store
from service.test_windows import oracle_wake

NOW = NOW_MS // 1000  # Thursday 2026-01-01 00:00 UTC: Thursday 08:00 in UTC+8
HOUR, DAY = 3_600, 86_400
UTC8 = 28_800
#: Saturday 2026-01-03 00:00 in UTC+8 (Friday 16:00 UTC).
SATURDAY_UTC8 = NOW + 2 * DAY - UTC8
BUSY = "+85291555004"  # busy at every attempt (a magic number)
ANSWERS = "+85291555001"  # answered at the first


def _create(store: Store, tenant: Tenant, **fields: Any) -> str:
    body = {"taskName": "windowed", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 10, **fields}  # fmt: skip
    return lifecycle.create_task(store, tenant.account_id, requests.parse_task_create(body),
                                 clock=Clock.at(NOW_MS))  # fmt: skip


def _calls(db: Observer, task_id: str) -> list[tuple[str, int, int, int]]:
    """(contactId, attempt, callStart, callEnd) of the task's calls, in start order."""
    return [
        (str(contact), int(attempt), int(start), int(end))
        for contact, attempt, start, end in db.rows(
            "SELECT o.contact_id, c.attempt, c.call_start, c.call_end FROM calls AS c "
            "JOIN orders AS o ON o.account_id = c.account_id AND o.id = c.order_id "
            "JOIN tasks AS t ON t.account_id = c.account_id AND t.id = c.task_row_id "
            "WHERE t.task_id = ? ORDER BY c.call_start, o.contact_id, c.attempt",
            task_id,
        )
    ]


def _status(store: Store, tenant: Tenant, task_id: str) -> int:
    with store.lifecycle() as tx:
        task = tx.task(tenant.account_id, task_id=task_id)
    assert task is not None
    return task.task_status


def _local_weekday(ts: int, zone_second: int) -> int:
    return dt.fromtimestamp(ts, timezone(timedelta(seconds=zone_second))).isoweekday()


def _counting_steps(sim: Simulator) -> list[int]:
    """The moments the simulator looks for its next event at (one per step)."""
    steps: list[int] = []
    real = sim.port.next_event

    def counted(now: int) -> int | None:
        steps.append(now)
        return real(now)

    sim.port.next_event = counted  # type: ignore[method-assign]
    return steps


@pytest.fixture
def tenant(store: Store) -> Tenant:
    tenant = make_tenant(store)
    lifecycle.top_up(store, tenant.account_id, 10**8, clock=Clock.at(NOW_MS))
    return tenant


def test_a_weekend_task_waits_while_another_dials_then_dials_at_its_opening(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    weekend = _create(store, tenant, weekDay="6,7", zoneSecond=UTC8, orderMaxCall=3,
                      replayInterval=2 * DAY,
                      list=[{"contactId": "w-busy", "phoneNumber": BUSY},
                            {"contactId": "w-yes", "phoneNumber": ANSWERS}])  # fmt: skip
    always = _create(store, tenant, list=[{"contactId": "a-yes", "phoneNumber": "+85291555101"}])
    sim = Simulator(store, seed=7, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)  # the simulation starts now
    steps = _counting_steps(sim)

    sim.advance(SATURDAY_UTC8 - 1)  # the last second of Friday in UTC+8
    assert _calls(db, weekend) == []
    assert [(c, a) for c, a, _, _ in _calls(db, always)] == [("a-yes", 1)]
    assert _calls(db, always)[0][2] == NOW
    assert _status(store, tenant, weekend) == lifecycle.IN_PROGRESS  # waiting, in progress
    # Nearly two days in a handful of steps: the call, its end, the completion; no spinning.
    assert len(steps) <= 6, steps

    sim.advance(SATURDAY_UTC8 + HOUR)
    first = _calls(db, weekend)
    assert sorted((c, a, s) for c, a, s, _ in first) == [
        ("w-busy", 1, SATURDAY_UTC8), ("w-yes", 1, SATURDAY_UTC8)]  # fmt: skip
    assert steps[-1] > SATURDAY_UTC8 and SATURDAY_UTC8 in steps  # woke exactly at the opening

    # The busy contact's retry falls due on Monday (two days later): it waits for the next
    # Saturday, and the one after that for the third attempt.
    sim.advance(SATURDAY_UTC8 + 3 * 7 * DAY)
    busy = [(a, s, e) for c, a, s, e in _calls(db, weekend) if c == "w-busy"]
    window = Window(windows.days_mask([6, 7]), UTC8)
    assert [a for a, _, _ in busy] == [1, 2, 3]
    for (_, _, end), (_, start, _) in itertools.pairwise(busy):
        assert start == window.next_opening(end + 2 * DAY)
    assert [s for _, s, _ in busy] == [SATURDAY_UTC8, SATURDAY_UTC8 + 7 * DAY,
                                       SATURDAY_UTC8 + 14 * DAY]  # fmt: skip
    for _, _, start, _ in _calls(db, weekend):
        assert _local_weekday(start, UTC8) in (6, 7)
    assert _status(store, tenant, weekend) == lifecycle.COMPLETED
    check = store.recompute_counters()
    assert (check.checked, check.differences) == (2, [])


def test_a_retry_inside_the_window_is_not_delayed(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    """Thursday in UTC (today): a retry 10 minutes later is still Thursday, at its due time."""
    task = _create(store, tenant, weekDay="4", orderMaxCall=2, replayInterval=600,
                   list=[{"contactId": "b", "phoneNumber": BUSY}])  # fmt: skip
    sim = Simulator(store, seed=1, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)  # the simulation starts now
    sim.advance(NOW + 2 * HOUR)
    (_, _, start1, end1), (_, _, start2, _) = _calls(db, task)
    assert (start1, start2) == (NOW, end1 + 600)


def test_outside_the_window_at_start_nothing_dials_until_it_opens(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    """Zone matters: Thursday 00:00 UTC is Wednesday 14:00 in UTC-10. A Thursday task in
    UTC-10 opens ten hours later; a Wednesday one in UTC-10 dials at once."""
    thursday = _create(store, tenant, weekDay="4", zoneSecond=-36_000,
                       list=[{"contactId": "t", "phoneNumber": ANSWERS}])  # fmt: skip
    wednesday = _create(store, tenant, weekDay="3", zoneSecond=-36_000,
                        list=[{"contactId": "w", "phoneNumber": "+85291555101"}])  # fmt: skip
    sim = Simulator(store, seed=2, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)  # the simulation starts now
    sim.advance(NOW + 10 * HOUR - 1)
    assert _calls(db, thursday) == []
    assert [s for _, _, s, _ in _calls(db, wednesday)] == [NOW]
    sim.advance(NOW + 11 * HOUR)
    assert [s for _, _, s, _ in _calls(db, thursday)] == [NOW + 10 * HOUR]


def test_contacts_appended_outside_the_window_wait(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    task = _create(store, tenant, weekDay="1", taskKeep=1)  # Mondays, UTC; open for contacts
    sim = Simulator(store, seed=3, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)  # the simulation starts now
    req = requests.parse_call_append(
        {"taskId": task, "list": [{"contactId": "late", "phoneNumber": ANSWERS}]}
    )
    lifecycle.append_contacts(store, tenant.account_id, req, clock=Clock.at(NOW_MS + 3_600_000))
    steps = _counting_steps(sim)
    sim.advance(NOW + 5 * DAY)
    monday = NOW + 4 * DAY  # 2026-01-05
    assert [(c, s) for c, _, s, _ in _calls(db, task)] == [("late", monday)]
    assert len(steps) <= 4, steps


@pytest.mark.parametrize("seed", range(4))
def test_every_call_starts_at_the_opening_the_oracle_says(
    store: Store, tenant: Tenant, db: Observer, seed: int
) -> None:
    """Random windows, zones and retry intervals, three weeks in one advance: every call
    starts exactly when the oracle says, inside its window, and the simulator's steps stay
    proportional to the calls (it never walks the closed days)."""
    rng = random.Random(seed)
    plans: dict[str, tuple[Window, int]] = {}
    for n in range(3):
        days = sorted(rng.sample(range(1, 8), rng.randint(1, 3)))
        zone = rng.choice([-43_200, -36_000, -18_000, 0, 19_800, 28_800, 50_400])
        replay = rng.choice([600, 3 * HOUR, DAY, 2 * DAY, 3 * DAY])
        contacts = [{"contactId": f"s{seed}-{n}-{i}", "phoneNumber": BUSY if i else ANSWERS}
                    for i in range(3)]  # fmt: skip
        task = _create(store, tenant, weekDay=",".join(map(str, reversed(days))),
                       zoneSecond=zone, orderMaxCall=3, replayInterval=replay,
                       list=contacts)  # fmt: skip
        plans[task] = (Window(windows.days_mask(days), zone), replay)
    sim = Simulator(store, seed=seed, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)  # the simulation starts now
    steps = _counting_steps(sim)
    sim.advance(NOW + 21 * DAY)
    placed = 0
    for task, (window, replay) in plans.items():
        by_contact: dict[str, list[tuple[int, int, int]]] = {}
        for contact, attempt, start, end in _calls(db, task):
            by_contact.setdefault(contact, []).append((attempt, start, end))
            assert window.contains(start)
            assert _local_weekday(start, window.zone_second) in [
                d for d in range(1, 8) if window.days >> (d - 1) & 1]  # fmt: skip
        assert len(by_contact) == 3
        for contact, attempts in by_contact.items():
            expected_attempts = 1 if contact.endswith("-0") else 3
            assert [a for a, _, _ in attempts] == list(range(1, expected_attempts + 1))
            assert attempts[0][1] == window.next_opening(NOW)
            for (_, _, end), (_, start, _) in itertools.pairwise(attempts):
                assert start == window.next_opening(end + replay), (task, contact)
            placed += len(attempts)
        assert _status(store, tenant, task) == lifecycle.COMPLETED
    assert placed == 21
    assert len(steps) <= 3 * placed + 10, len(steps)


@pytest.mark.parametrize("seed", range(3))
def test_the_next_event_is_the_oracles(
    store: Store, tenant: Tenant, db: Observer, seed: int
) -> None:
    """``lifecycle.next_dialer_event`` (the store's waits on either backend, turned into a
    time by the service) against a brute-force oracle over the orders as stored: tasks with
    and without windows, in progress or not, orders due in the past, now and later."""
    rng = random.Random(seed)
    tasks: list[tuple[str, Window | None, bool]] = []
    for n in range(6):
        windowed = n % 3 != 0
        days = sorted(rng.sample(range(1, 8), rng.randint(1, 6)))
        zone = rng.randrange(-43_200, 50_401, 900)
        running = n != 4
        fields: dict[str, Any] = {"startupType": 3 if running else 1}
        if windowed:
            fields.update(weekDay=",".join(map(str, days)), zoneSecond=zone)
        contacts = [{"contactId": f"n{seed}-{n}-{i}", "phoneNumber": f"+8529100{n}{i:03d}"}
                    for i in range(rng.randint(0, 3))]  # fmt: skip
        task = _create(store, tenant, list=contacts, **fields)
        tasks.append((task, Window(windows.days_mask(days), zone) if windowed else None, running))
        for i in range(len(contacts)):
            db.execute("UPDATE orders SET next_attempt_ts = ? WHERE contact_id = ?",
                       NOW + rng.randrange(-2 * DAY, 9 * DAY), f"n{seed}-{n}-{i}")  # fmt: skip

    def dues(task_id: str) -> list[int]:
        return [int(ts) for (ts,) in db.rows(
            "SELECT o.next_attempt_ts FROM orders AS o JOIN tasks AS t ON t.account_id = "
            "o.account_id AND t.id = o.task_row_id WHERE t.task_id = ? AND o.state = 'pending'",
            task_id)]  # fmt: skip

    for now in sorted(NOW + rng.randrange(-DAY, 10 * DAY) for _ in range(12)):
        expected: list[int] = []
        for task_id, window, running in tasks:
            if not running:
                continue
            pending = dues(task_id)
            # Every task's later orders wake the dialer at their due time (for a windowed
            # task, a wake that may find nothing to claim: documented, and cheap)...
            expected += [d for d in pending if d > now]
            if window is not None:  # ... and a window's opening on orders waiting for it
                days = {d for d in range(1, 8) if window.days >> (d - 1) & 1}
                wake = oracle_wake(days, window.zone_second, now, pending)
                expected += [] if wake is None else [wake]
        got = lifecycle.next_dialer_event(store, now, dialer_id="observer")
        assert got == min(expected, default=None), now
