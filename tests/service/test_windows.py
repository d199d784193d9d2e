"""Calling windows (:mod:`nxlink.service.windows`), held to an oracle built on the standard
library's calendar: ``datetime`` in a fixed-offset zone says the weekday of a moment and where
each local midnight falls, so the integer arithmetic of the module is checked against an
independent computation of the same dates."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nxlink.service import windows
from nxlink.service.windows import EVERY_DAY, Window

THU_2026_01_01 = 1_767_225_600  # 2026-01-01T00:00:00Z, a Thursday
HOUR, DAY = 3_600, 86_400

zones = st.integers(min_value=-43_200, max_value=50_400)
day_sets = st.sets(st.integers(min_value=1, max_value=7), min_size=1)
moments = st.integers(min_value=0, max_value=4_102_444_800)  # 1970 .. 2100


def _zone(zone_second: int) -> timezone:
    return timezone(timedelta(seconds=zone_second))


def oracle_weekday(ts: int, zone_second: int) -> int:
    return datetime.fromtimestamp(ts, _zone(zone_second)).isoweekday()


def oracle_contains(days: set[int], zone_second: int, ts: int) -> bool:
    return oracle_weekday(ts, zone_second) in days


def oracle_midnights(zone_second: int, after: int, count: int) -> list[int]:
    """The first ``count`` local midnights strictly after ``after``, from ``datetime``."""
    tz = _zone(zone_second)
    start = datetime.fromtimestamp(after, tz).date()
    found = []
    for ahead in range(1, count + 1):
        midnight = datetime.combine(start + timedelta(days=ahead), time(0), tzinfo=tz)
        found.append(int(midnight.timestamp()))
    return found


def oracle_next_opening(days: set[int], zone_second: int, ts: int) -> int:
    """The first moment at or after ``ts`` inside the window: inside-ness only changes at
    local midnights, so the candidates are ``ts`` and the midnights after it."""
    for candidate in [ts, *oracle_midnights(zone_second, ts, 8)]:
        if oracle_contains(days, zone_second, candidate):
            return candidate
    raise AssertionError("no opening within 8 days")


def oracle_wake(days: set[int], zone_second: int, now: int, dues: list[int]) -> int | None:
    """The first moment after ``now`` at which an order of ``dues`` becomes dialable that was
    not at ``now``: due by then, inside the window then, and not (due and inside) at ``now``.
    Dialability changes only at due times and local midnights: those are the candidates."""
    horizon = max([now, *dues])
    candidates = sorted({d for d in dues if d > now}
                        | set(oracle_midnights(zone_second, now, (horizon - now) // DAY + 9)))  # fmt: skip
    inside_now = oracle_contains(days, zone_second, now)
    for moment in candidates:
        if not oracle_contains(days, zone_second, moment):
            continue
        if any(d <= moment and not (d <= now and inside_now) for d in dues):
            return moment
    return None


def _mask(days: set[int]) -> int:
    return sum(1 << (day - 1) for day in days)


# -- exact cases -------------------------------------------------------------------------------


def test_weekday_counts_from_a_thursday() -> None:
    assert windows.weekday(0, 0) == 4  # 1970-01-01
    assert windows.weekday(THU_2026_01_01, 0) == 4
    assert windows.weekday(THU_2026_01_01 - 1, 0) == 3  # Wednesday 23:59:59 UTC
    # 2026-01-01T00:00Z is still Wednesday 14:00 in UTC-10, already Thursday 08:00 in UTC+8.
    assert windows.weekday(THU_2026_01_01, -36_000) == 3
    assert windows.weekday(THU_2026_01_01 - 1, 28_800) == 4


def test_the_next_opening_is_the_local_midnight_of_the_next_calling_day() -> None:
    weekdays = Window(windows.days_mask([1, 2, 3, 4, 5]), 28_800)  # Mon-Fri in UTC+8
    friday_noon = THU_2026_01_01 + DAY + 4 * HOUR  # Fri 2026-01-02 12:00 in UTC+8
    assert weekdays.contains(friday_noon)
    assert weekdays.next_opening(friday_noon) == friday_noon
    saturday = THU_2026_01_01 + 2 * DAY - 8 * HOUR  # Sat 00:00 in UTC+8
    assert not weekdays.contains(saturday) and weekdays.contains(saturday - 1)
    monday = saturday + 2 * DAY  # Mon 2026-01-05 00:00 in UTC+8 = Sun 16:00 UTC
    assert weekdays.next_opening(saturday) == monday
    assert weekdays.next_opening(monday - 1) == monday
    assert datetime.fromtimestamp(monday, UTC) == datetime(2026, 1, 4, 16, 0, tzinfo=UTC)


def test_one_day_a_week_opens_within_seven_days() -> None:
    sunday = Window(windows.days_mask([7]), 0)
    sunday_start = THU_2026_01_01 + 3 * DAY
    assert sunday.next_opening(sunday_start + DAY) == sunday_start + 7 * DAY
    assert sunday.next_opening(sunday_start + DAY - 1) == sunday_start + DAY - 1


def test_masks_and_their_text() -> None:
    assert windows.days_mask([]) == EVERY_DAY == 127
    assert windows.days_mask([3, 1]) == 0b101
    assert windows.days_text(0b101) == "1,3"
    assert windows.days_text(EVERY_DAY) == "1,2,3,4,5,6,7"
    assert Window().always and not Window(0b101).always
    with pytest.raises(ValueError, match="day 8 is not 1 to 7"):
        windows.days_mask([8])
    with pytest.raises(ValueError, match="days must be a mask from 1 to 127, got 0"):
        Window(0)


def test_wake_time_cases() -> None:
    weekend = Window(windows.days_mask([6, 7]), 0)
    saturday = THU_2026_01_01 + 2 * DAY
    thursday_noon = THU_2026_01_01 + 12 * HOUR
    # Due now, closed now: the opening.
    assert windows.wake_time(weekend, thursday_noon, due_now=True, next_due=None) == saturday
    # Due now and open now: claimed now, nothing to wake for.
    assert windows.wake_time(weekend, saturday + 5, due_now=True, next_due=None) is None
    # A retry due later inside the window: its due time; outside: the opening after it.
    assert windows.wake_time(weekend, saturday, due_now=False, next_due=saturday + 60) == (
        saturday + 60)  # fmt: skip
    monday = saturday + 2 * DAY
    assert windows.wake_time(weekend, saturday, due_now=False, next_due=monday + 60) == (
        saturday + 7 * DAY)  # fmt: skip
    assert windows.wake_time(weekend, saturday, due_now=False, next_due=None) is None


# -- properties against the oracle -------------------------------------------------------------


@given(moments, zones)
def test_weekday_matches_the_calendar(ts: int, zone_second: int) -> None:
    assert windows.weekday(ts, zone_second) == oracle_weekday(ts, zone_second)


@given(day_sets, zones, moments, st.integers(min_value=-300, max_value=300))
def test_contains_matches_the_calendar_around_midnight(
    days: set[int], zone_second: int, ts: int, shift: int
) -> None:
    """Every second of the ten minutes around a local midnight, where the day changes."""
    (midnight,) = oracle_midnights(zone_second, ts, 1)
    window = Window(_mask(days), zone_second)
    for moment in range(midnight + shift - 5, midnight + shift + 5):
        assert window.contains(moment) == oracle_contains(days, zone_second, moment)


@given(day_sets, zones, moments)
def test_next_opening_matches_the_calendar(days: set[int], zone_second: int, ts: int) -> None:
    window = Window(_mask(days), zone_second)
    opening = window.next_opening(ts)
    assert opening == oracle_next_opening(days, zone_second, ts)
    assert ts <= opening < ts + 7 * DAY
    assert window.contains(opening)
    assert opening == ts or not window.contains(opening - 1)  # it is an opening, not later


@settings(max_examples=300)
@given(
    day_sets,
    zones,
    moments,
    st.lists(st.integers(min_value=-3 * DAY, max_value=10 * DAY), max_size=6),
)
def test_wake_time_matches_the_oracle(
    days: set[int], zone_second: int, now: int, offsets: list[int]
) -> None:
    dues = [now + offset for offset in offsets]
    later = [d for d in dues if d > now]
    wake = windows.wake_time(
        Window(_mask(days), zone_second),
        now,
        due_now=any(d <= now for d in dues),
        next_due=min(later, default=None),
    )
    assert wake == oracle_wake(days, zone_second, now, dues)
    assert wake is None or wake > now


@given(zones, moments)
def test_every_day_is_no_window(zone_second: int, ts: int) -> None:
    always = Window(EVERY_DAY, zone_second)
    assert always.contains(ts) and always.next_opening(ts) == ts
    assert windows.wake_time(always, ts, due_now=True, next_due=ts + 9) == ts + 9
