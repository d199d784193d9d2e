"""The simulators' shared timeline: every simulator on a database reads the same time."""

from __future__ import annotations

from nxlink.dialer.simulator import SharedSimClock, SimClock
from nxlink.store import Store

T0 = 1_767_225_600.0  # real epoch seconds of the fake clock


class FakeTime:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_a_private_clock_runs_speed_times_faster() -> None:
    real = FakeTime()
    clock = SimClock(speed=60, real=real)
    assert clock.now() == int(T0)
    real.now += 2.5
    assert clock.now() == int(T0) + 150
    assert clock.real_seconds_until(int(T0) + 210) == 1.0


def test_a_later_simulator_joins_the_timeline_instead_of_starting_its_own(store: Store) -> None:
    real = FakeTime()
    first = SharedSimClock(store, speed=60, real=real)
    assert first.now() == int(T0)
    real.now += 10  # ten real seconds: ten simulated minutes
    second = SharedSimClock(store, speed=60, real=real)
    assert first.now() == second.now() == int(T0) + 600
    real.now += 1
    assert first.now() == second.now() == int(T0) + 660


def test_another_speed_moves_the_timeline_on_from_its_present(store: Store) -> None:
    real = FakeTime()
    first = SharedSimClock(store, speed=60, real=real, refresh_s=1.0)
    real.now += 10
    fast = SharedSimClock(store, speed=600, real=real)
    assert fast.now() == int(T0) + 600  # continues where the timeline was, never back
    real.now += 2  # the first clock reads the new speed at its next refresh
    assert fast.now() == int(T0) + 600 + 1200
    assert first.now() == fast.now()
    assert first.speed == 600
    anchor = store.sim_clock()
    assert anchor is not None and anchor.speed == 600


def test_the_timeline_never_goes_back(store: Store) -> None:
    real = FakeTime()
    clock = SharedSimClock(store, speed=60, real=real)
    real.now += 5
    ahead = clock.now()
    real.now -= 3  # the machine's clock is set back
    assert clock.now() == ahead
