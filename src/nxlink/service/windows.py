"""Calling windows: the days of the week a task may place calls on, in the task's own zone.

A task's ``weekDay`` (ISO days, 1 Monday to 7 Sunday) and ``zoneSecond`` (its UTC offset in
seconds) make a :class:`Window`. The dialer asks two things of it, and only here: is a moment
inside it (:meth:`Window.contains`, a claim may start a call then), and when does it next open
(:meth:`Window.next_opening`, so that a dialer with nothing else to do sleeps until then instead
of stepping through the closed days, and wakes exactly at the opening). The window says when a
call may *start*: a call still going at local midnight ends as it would.

Days are kept as a bit mask (bit ``d - 1`` for day ``d``): :data:`EVERY_DAY` is the task without
a window, what ``weekDay`` absent or empty means. Days count from 1970-01-01, a Thursday (ISO
day 4), in plain integer arithmetic; the tests hold it to the standard library's calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from nxlink.store.base import EVERY_DAY

__all__ = ["DAY_SECONDS", "EVERY_DAY", "Window", "days_mask", "days_text", "wake_time", "weekday"]
#: Seconds in a day (a fixed UTC offset has no daylight-saving days).
DAY_SECONDS: Final = 86_400
#: ISO weekday of the epoch's day 0, 1970-01-01: a Thursday.
_EPOCH_WEEKDAY: Final = 4


def weekday(ts: int, zone_second: int) -> int:
    """The ISO weekday (1 Monday .. 7 Sunday) of epoch second ``ts`` at UTC offset
    ``zone_second``."""
    return ((ts + zone_second) // DAY_SECONDS + _EPOCH_WEEKDAY - 1) % 7 + 1


def days_mask(days: list[int] | tuple[int, ...] | set[int]) -> int:
    """The mask of ISO days ``days`` (each 1..7); empty means every day."""
    mask = 0
    for day in days:
        if not 1 <= day <= 7:
            raise ValueError(f"day {day} is not 1 to 7")
        mask |= 1 << (day - 1)
    return mask or EVERY_DAY


def days_text(mask: int) -> str:
    """The mask as ``weekDay`` says it, normalised: ascending, comma-separated (``1,3,5``)."""
    return ",".join(str(day) for day in range(1, 8) if mask >> (day - 1) & 1)


@dataclass(frozen=True, slots=True)
class Window:
    """The days a task dials (``days``, a mask of ISO weekdays) in its zone (``zone_second``)."""

    days: int = EVERY_DAY
    zone_second: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.days <= EVERY_DAY:
            raise ValueError(f"days must be a mask from 1 to {EVERY_DAY}, got {self.days}")

    @property
    def always(self) -> bool:
        """No window: every day is a calling day."""
        return self.days == EVERY_DAY

    def contains(self, ts: int) -> bool:
        """May a call start at ``ts`` (epoch s)?"""
        return bool(self.days >> (weekday(ts, self.zone_second) - 1) & 1)

    def next_opening(self, ts: int) -> int:
        """The earliest moment at or after ``ts`` inside the window: ``ts`` itself when it is
        inside, else the local midnight that starts the next calling day (within a week)."""
        if self.contains(ts):
            return ts
        local_day = (ts + self.zone_second) // DAY_SECONDS
        for ahead in range(1, 7):
            day = local_day + ahead
            if self.days >> ((day + _EPOCH_WEEKDAY - 1) % 7) & 1:
                return day * DAY_SECONDS - self.zone_second
        raise AssertionError("a window has at least one day")  # pragma: no cover


def wake_time(window: Window, now: int, *, due_now: bool, next_due: int | None) -> int | None:
    """When, after ``now``, a dialer must look again at tasks with ``window``.

    ``due_now``: some pending order of theirs is due at ``now``; ``next_due``: the earliest one
    that falls due after ``now`` (None: none). An order due now inside the window is claimed now
    (or waits for a line, freed by a call's end), so it needs no wake; one due now outside the
    window wakes the dialer at the opening; one due later, at its due time or, outside the
    window, at the opening after it. None when nothing waits.
    """
    times: list[int] = []
    if due_now and not window.contains(now):
        times.append(window.next_opening(now))
    if next_due is not None:
        times.append(window.next_opening(next_due))
    return min(times, default=None)
