"""The sandbox's clock: the dialers' shared timeline (``sim_clock``), read, set, frozen, and
moved forward with everything due on the way.

The timeline is the one every simulator on the database follows (``SharedSimClock``): with no
row yet it is real time at speed 1. Setting the speed or freezing re-anchors it at its present,
so it never jumps. :meth:`SandboxClock.advance` takes this server's simulator (the one
``--simulate`` runs in the background, or one that only moves when advanced), runs it event by
event through the interval (calls placed and ended, retries, ``startupAt`` and ``shutdownAt``,
completions, callbacks enqueued), then moves the timeline to the interval's end, for every
process on the database. Its answer says what happened, in order.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from nxlink.dialer.simulator import PlacedCall, SharedSimClock, Simulator
from nxlink.service import lifecycle
from nxlink.service.lifecycle import StatusChange
from nxlink.store import Store
from nxlink.store.base import ClockAnchor

#: The longest single advance, seconds (a year).
MAX_ADVANCE_S: Final = 366 * 86_400
#: Speeds the clock accepts (as ``nxlink serve --speed``).
MIN_SPEED: Final = 0.0
MAX_SPEED: Final = 100_000.0
#: The latest time the clock may be set to, epoch ms (year 9999).
MAX_NOW_MS: Final = 253_402_300_799_000
#: Most calls and status changes an advance's answer lists (the counts are always whole).
MAX_LISTED: Final = 1000


@dataclass(frozen=True, slots=True)
class ClockState:
    """The timeline as the admin API shows it."""

    now_ms: int
    speed: float
    frozen: bool

    def to_json(self) -> dict[str, Any]:
        return {"now": self.now_ms, "speed": self.speed, "frozen": self.frozen}


def _call_json(call: PlacedCall) -> dict[str, Any]:
    held, outcome = call.held, call.outcome
    return {
        "callId": outcome.call_id,
        "taskId": held.task_id,
        "contactId": held.contact_id,
        "attempt": held.attempt,
        "callResult": outcome.result,
        "callStart": held.claimed_at,
        "callEnd": outcome.end(held.claimed_at),
    }


def _change_json(change: StatusChange) -> dict[str, Any]:
    return {
        "taskId": change.task_id,
        "userTaskId": change.user_task_id,
        "from": change.from_status,
        "to": change.to_status,
        "pauseReason": change.pause_reason,
        "at": change.at,
    }


@dataclass(frozen=True, slots=True)
class Advance:
    """What one advance did, in the order it happened."""

    from_ms: int
    to_ms: int
    placed: list[PlacedCall]
    ended: list[PlacedCall]
    status_changes: list[StatusChange]
    callbacks_enqueued: int
    clock: ClockState

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.from_ms,
            "to": self.to_ms,
            "callsPlaced": len(self.placed),
            "callsEnded": len(self.ended),
            "calls": [_call_json(call) for call in self.ended[:MAX_LISTED]],
            "statusChanges": [_change_json(c) for c in self.status_changes[:MAX_LISTED]],
            "callbacksEnqueued": self.callbacks_enqueued,
            "clock": self.clock.to_json(),
        }


class Timeline:
    """The shared timeline as this process reads it, for the time its records are stamped
    with (``createTs``, status changes): the store's anchor, read again at most every
    ``refresh_s``, real time while there is none. Never goes back unless told to."""

    def __init__(self, store: Store, *, real_ms: Callable[[], int], refresh_s: float = 1.0) -> None:
        self.store = store
        self.real_ms = real_ms
        self.refresh_ms = refresh_s * 1000
        self._anchor: ClockAnchor | None = None
        self._read_at_ms = -math.inf
        self._last = 0
        self._lock = threading.Lock()

    def now_s(self) -> int:
        real = self.real_ms()
        with self._lock:
            if real - self._read_at_ms >= self.refresh_ms:
                self._anchor = self.store.sim_clock()
                self._read_at_ms = real
            now = self._anchor.at(real) if self._anchor is not None else real // 1000
            self._last = max(self._last, now)
            return self._last

    def follow(self, anchor: ClockAnchor, *, back: bool = False) -> None:
        """Take ``anchor`` at once (this process just moved the timeline; ``back``: even
        to an earlier time)."""
        real = self.real_ms()
        with self._lock:
            self._anchor, self._read_at_ms = anchor, real
            self._last = anchor.at(real) if back else max(self._last, anchor.at(real))


class ClockRefusal(Exception):
    """The clock cannot be set as asked (the message says why)."""


class SandboxClock:
    """The clock controls of one server process.

    ``simulator`` is the process's simulator, ``follower`` the clock its background loop
    follows (None when it only moves when advanced), ``real_ms`` the real clock.
    """

    def __init__(
        self,
        store: Store,
        simulator: Simulator,
        *,
        real_ms: Callable[[], int],
        timeline: Timeline,
        follower: SharedSimClock | None = None,
    ) -> None:
        self.store = store
        self.simulator = simulator
        self.follower = follower
        self.timeline = timeline
        self.real_ms = real_ms

    def _anchor(self, real: int) -> ClockAnchor:
        return self.store.sim_clock() or ClockAnchor(real, real // 1000, 1.0)

    def _put(self, anchor: ClockAnchor, *, back: bool = False) -> None:
        self.store.set_sim_clock(anchor)
        self.timeline.follow(anchor, back=back)
        if self.follower is not None:
            self.follower.follow(anchor, back=back)

    def state(self) -> ClockState:
        real = self.real_ms()
        anchor = self.store.sim_clock()
        if anchor is None:
            return ClockState(real, 1.0, False)
        return ClockState(anchor.at_ms(real), anchor.speed, anchor.frozen)

    def set(
        self,
        *,
        now_ms: int | None = None,
        speed: float | None = None,
        frozen: bool | None = None,
    ) -> ClockState:
        """Run the timeline at ``speed`` and/or freeze or unfreeze it, from where it is or
        from ``now_ms``. Setting the time runs nothing due in between (what fell due runs at
        the next step, at the new time: :meth:`advance` runs it on the way); it may go back
        only while no call is in flight (a fresh sandbox set to a fixed date)."""
        simulator = self.simulator
        with simulator.lock:
            real = self.real_ms()
            current = self._anchor(real)
            to = None if now_ms is None else now_ms // 1000
            back = to is not None and to < current.at(real)
            if back and simulator.in_flight:
                raise ClockRefusal(
                    f"now: cannot go back while {simulator.in_flight} call(s) are in flight; "
                    "advance until they end"
                )
            anchor = current.moved(real, to=to, speed=speed, frozen=frozen)
            if back:
                simulator.now = None  # starts again from the new present
            self._put(anchor, back=back)
            return ClockState(anchor.at_ms(real), anchor.speed, anchor.frozen)

    def advance(self, seconds: int) -> Advance:
        """Move the timeline ``seconds`` ahead, running everything due on the way first."""
        simulator = self.simulator
        with simulator.lock, lifecycle.observing() as activity, simulator.watching() as seen:
            real = self.real_ms()
            anchor = self._anchor(real)
            start = anchor.at(real)
            target = start + seconds
            if simulator.now is None or simulator.now < start:
                simulator.advance(start)  # what is due at the start of the interval
            simulator.advance(target)
            moved = anchor.moved(self.real_ms(), to=target)
            self._put(moved)
        return Advance(
            from_ms=start * 1000,
            to_ms=target * 1000,
            placed=[call for call in seen if not call.ended],
            ended=[call for call in seen if call.ended],
            status_changes=activity.status_changes,
            callbacks_enqueued=activity.callbacks_enqueued,
            clock=ClockState(moved.at_ms(moved.origin_real_ms), moved.speed, moved.frozen),
        )
