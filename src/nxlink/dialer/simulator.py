"""The shipped dialer: a deterministic simulation of outbound calls.

Each call's outcome is drawn from a random generator seeded by ``(seed, taskId, contactId,
attempt)``, so it depends on nothing else: the same seed and the same API calls give the same
calls, whatever the timing of the process, and a claim taken over after a crash is reported
exactly as it would have been. Time is the simulator's own clock (epoch seconds), which may run
faster than real time; the simulation moves from event to event (a call ends, a retry falls
due, a schedule fires), so its results do not depend on how often it is woken.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import random
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from nxlink.contract.callrecord import ANSWERED_RESULTS, CALL_ENDINGS, TRANSFER_NOT_ANSWERED
from nxlink.dialer import DialerPort, dialled_number, new_dialer_id
from nxlink.dialer.magic import magic_outcome
from nxlink.service.counters import MANUAL_ANSWERED, MANUAL_FAILED
from nxlink.service.lifecycle import CallOutcome
from nxlink.service.recordings import RecordingLinks
from nxlink.store import Store
from nxlink.store.base import Claim, ClockAnchor

#: Given an answer: how the conversation ends (callResult: weight).
ANSWERED_ENDINGS: Final = {1: 70, 3: 15, 21: 15}
#: Given an answer on a task with a human agent group: share of calls transferred (result 17).
TRANSFER_SHARE: Final = 0.25
#: Share of transfers a human picks up (manualCallStatus 1; else 2, failed).
HUMAN_PICKUP: Final = 0.8
#: Mean seconds a human talks after a transfer.
HUMAN_TALK_MEAN: Final = 120
#: Given no answer: why (callResult: weight).
UNANSWERED_CAUSES: Final = {2: 45, 4: 15, 5: 10, 6: 15, 7: 5, 8: 3, 9: 7}
#: Conversation tags of answered calls (userIntent: weight).
USER_INTENTS: Final = {"A": 15, "B": 25, "C": 30, "D": 15, "E": 10, "F": 5}
#: Longest talk (AI or human) a simulated call can have, seconds.
MAX_TALK: Final = 3_600
#: One-line summaries of completed conversations (result 1), by userIntent. The simulator's
#: tags mean: A wants to go ahead, B asked to be called back, C had questions, D is not
#: interested, E is not the right person, F asked not to be called again.
SUMMARIES: Final[dict[str, tuple[str, ...]]] = {
    "A": ("Callee confirmed interest and agreed to the next step.",
          "Callee accepted the offer and asked for the details by message."),
    "B": ("Callee is busy now and asked to be called back later.",
          "Callee asked for a call back in the evening."),
    "C": ("Callee asked about the price and terms; the agent answered.",
          "Callee had questions about the service; follow-up needed."),
    "D": ("Callee listened to the offer and declined.",
          "Callee said they are not interested at the moment."),
    "E": ("Callee is not the person the call was for.",
          "Callee said the contact no longer uses this number."),
    "F": ("Callee asked not to be called again.",
          "Callee objected to the call and asked to be removed from the list."),
}  # fmt: skip
#: Summaries of the other answered results (17: human answered, else no human picked up).
EARLY_HANGUP_SUMMARIES: Final = ("Callee hung up during the introduction.",
                                 "Callee hung up right after the greeting.")  # fmt: skip
VOICEMAIL_SUMMARIES: Final = ("Reached voicemail; the agent left a short message.",
                              "Reached a voicemail greeting; no message left.")  # fmt: skip
TRANSFER_SUMMARY: Final = "Callee asked for a person; transferred to {agent}."
TRANSFER_FAILED_SUMMARY: Final = "Callee asked for a person; no agent picked up the transfer."
#: The human agents of any agent group (agentId: the group's id and the index, 01 first).
AGENT_NAMES: Final = ("Amy Chan", "Ben Wong", "Carmen Lee", "David Ho", "Emily Lau",
                      "Frank Ng", "Grace Cheung", "Henry Tse")  # fmt: skip
#: Seconds the human leg rings before an agent answers, or before it gives up.
HUMAN_RING: Final = (3, 15)
HUMAN_GIVE_UP: Final = (15, 30)


def agent_group_name(agent_group_id: str) -> str:
    """The simulated name of an agent group: the telephony platform's name for it."""
    return f"Agent group {agent_group_id}" if agent_group_id else ""


def sip_address(real_phone: str, line_id: str) -> str:
    """The SIP URI the simulated INVITE goes to: the number at the line's trunk."""
    return f"sip:{real_phone.removeprefix('+')}@{line_id}.sip.invalid"


def _pick(rng: random.Random, weights: dict[int, int]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _exponential(rng: random.Random, mean: float, *, low: int, high: int) -> int:
    """Talk time: exponential around ``mean``, kept within ``[low, high]`` seconds."""
    if mean <= 0:
        return low
    return max(low, min(high, round(rng.expovariate(1 / mean))))


def draw_outcome(seed: int, held: Claim) -> CallOutcome:
    """The outcome of one call, a pure function of the seed and the claim. A magic number
    (:mod:`nxlink.dialer.magic`) sets the call result; the rest is drawn as for any call."""
    rng = random.Random(f"{seed}:{held.task_id}:{held.contact_id}:{held.attempt}")
    call_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    forced = magic_outcome(held.phone, held.attempt)
    ring_max = max(1, held.max_ring_time)
    talk = 0
    intent = ""
    manual_status: int | None = None
    manual_elapsed: int | None = None
    answered = (
        rng.random() < held.answer_probability
        if forced is None
        else forced.result in ANSWERED_RESULTS
    )
    if answered:
        ring = rng.randint(1, min(ring_max, 25))
        if forced is None:
            result = _pick(rng, ANSWERED_ENDINGS)
            if held.agent_group_id and rng.random() < TRANSFER_SHARE:
                result = 17
        else:
            result = forced.result
        mean = held.talk_seconds_mean
        if result == 3:
            talk = rng.randint(1, 15)
        elif result == 21:
            talk = rng.randint(8, 40)
        else:
            talk = _exponential(rng, mean, low=5, high=MAX_TALK)
        intent = rng.choices(list(USER_INTENTS), weights=list(USER_INTENTS.values()))[0]
        if result == 17:
            picked_up = (
                rng.random() < HUMAN_PICKUP
                if forced is None
                else forced.manual_status == MANUAL_ANSWERED
            )
            if picked_up:
                manual_status = MANUAL_ANSWERED
                manual_elapsed = _exponential(rng, HUMAN_TALK_MEAN, low=10, high=MAX_TALK)
            else:
                manual_status, manual_elapsed = MANUAL_FAILED, 0
    else:
        result = _pick(rng, UNANSWERED_CAUSES) if forced is None else forced.result
        if result == 2:
            ring = ring_max
        elif result == 5:
            ring = rng.randint(1, ring_max)
        else:  # busy, unreachable, invalid, blocked, network failure: over within seconds
            ring = rng.randint(1, min(ring_max, 4))
    # What the telephony layer reports besides, drawn after the outcome itself (so that the
    # outcomes of a seed stay those of earlier versions).
    line_id = rng.choice(held.line_ids) if held.line_ids else f"{held.route_id}-L1"
    real_phone = dialled_number(held.phone, held.country_code)
    reasons = CALL_ENDINGS[result].hangup_reasons
    if manual_status == MANUAL_FAILED:
        reasons = (TRANSFER_NOT_ANSWERED,)
    hangup_reason = rng.choice(reasons)
    agent_id = agent_name = summary = ""
    turns = manual_ring = 0
    if result == 1:
        summary = rng.choice(SUMMARIES[intent])
        turns = max(2, talk // rng.randint(6, 10))
    elif result == 3:
        summary, turns = rng.choice(EARLY_HANGUP_SUMMARIES), rng.randint(1, 2)
    elif result == 21:
        summary, turns = rng.choice(VOICEMAIL_SUMMARIES), rng.randint(1, 2)
    elif result == 17:
        turns = max(2, talk // rng.randint(6, 10))
        if manual_status == MANUAL_ANSWERED:
            index = rng.randrange(len(AGENT_NAMES))
            group = held.agent_group_id or "agent"  # a magic 17 on a task without a group
            agent_id, agent_name = f"{group}-{index + 1:02d}", AGENT_NAMES[index]
            manual_ring = rng.randint(*HUMAN_RING)
            summary = TRANSFER_SUMMARY.format(agent=agent_name)
        else:
            manual_ring = rng.randint(*HUMAN_GIVE_UP)
            summary = TRANSFER_FAILED_SUMMARY
    return CallOutcome(
        call_id=call_id, result=result, ring_seconds=ring, talk_seconds=talk,
        manual_status=manual_status, manual_elapsed=manual_elapsed, user_intent=intent,
        summary=summary, sip_code=CALL_ENDINGS[result].sip_code, hangup_reason=hangup_reason,
        caller_phone=held.caller_phone, real_phone=real_phone,
        sip_addr=sip_address(real_phone, line_id), line_id=line_id, turns=turns,
        manual_ring_seconds=manual_ring,
        agent_group_name=agent_group_name(held.agent_group_id), agent_id=agent_id,
        agent_name=agent_name,
    )  # fmt: skip


class SimClock:
    """Epoch seconds that run ``speed`` times faster than real time from ``start``."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        start: int | None = None,
        real: Callable[[], float] = time.time,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be above 0, got {speed}")
        self.speed = speed
        self._real = real
        self._real0 = real()
        self._sim0 = int(self._real0) if start is None else start

    def now(self) -> int:
        return self._sim0 + int((self._real() - self._real0) * self.speed)

    def real_seconds_until(self, sim_ts: int) -> float:
        return max(0.0, (sim_ts - self.now()) / self.speed)


class SharedSimClock(SimClock):
    """The database's shared timeline (``Store.join_sim_clock``), so that every simulator on
    one database reads the same time: a simulator started later, or in another process, joins
    it instead of starting its own. A simulator started at another speed moves the timeline to
    that speed from its present; the others follow within ``refresh_s``. Never goes back."""

    def __init__(
        self,
        store: Store,
        *,
        speed: float = 1.0,
        real: Callable[[], float] = time.time,
        refresh_s: float = 1.0,
    ) -> None:
        super().__init__(speed=speed, real=real)
        self._store = store
        self._refresh_s = refresh_s
        self._anchor = store.join_sim_clock(speed=speed, real_ms=int(real() * 1000))
        self._read_at = real()
        self._last = self._anchor.at(int(self._read_at * 1000))

    def now(self) -> int:
        real = self._real()
        if real - self._read_at >= self._refresh_s:
            self._anchor = self._store.sim_clock() or self._anchor
            self.speed = self._anchor.speed
            self._read_at = real
        self._last = max(self._last, self._anchor.at(int(real * 1000)))
        return self._last

    def real_seconds_until(self, sim_ts: int) -> float:
        if self._anchor.frozen:
            return math.inf  # nothing comes due until the clock is moved
        return super().real_seconds_until(sim_ts)

    def follow(self, anchor: ClockAnchor, *, back: bool = False) -> None:
        """Take ``anchor`` at once (this process just moved the timeline), not at the next
        refresh; ``back``: even to an earlier time."""
        self._anchor = anchor
        self.speed = anchor.speed
        self._read_at = self._real()
        present = anchor.at(int(self._read_at * 1000))
        self._last = present if back else max(self._last, present)


@dataclass(order=True)
class _Call:
    end: int
    order_id: int
    attempt: int
    held: Claim = field(compare=False)
    outcome: CallOutcome = field(compare=False)


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call the simulator placed (``ended`` false) or reported (``ended`` true)."""

    held: Claim
    outcome: CallOutcome
    ended: bool


class Simulator:
    """Claims due orders, draws their outcomes, reports them when they end.

    Drive it with :meth:`advance` (tests, a manual clock, the sandbox's clock) or :meth:`run`
    (a real-time loop on a :class:`SimClock`). ``lock`` is held for each step of the loop, so
    that another thread may drive the same simulator (the sandbox's ``advance``) in between.
    Time never goes back: an advance to a moment before the last one does nothing.
    """

    def __init__(
        self,
        store: Store,
        *,
        seed: int = 0,
        dialer_id: str | None = None,
        lease_seconds: int = 7_800,
        clock_ms: Callable[[], int] | None = None,
        links: RecordingLinks | None = None,
    ) -> None:
        self.seed = seed
        self.port = DialerPort(store, dialer_id=dialer_id or new_dialer_id("sim"),
                               lease_seconds=lease_seconds, clock_ms=clock_ms,
                               links=links)  # fmt: skip
        self.now: int | None = None
        self._calls: list[_Call] = []
        self.placed = 0
        self.reported = 0
        self.released = 0
        self.lock = threading.RLock()
        #: While set (:meth:`watching`), every call placed and reported is appended here.
        self._watch: list[PlacedCall] | None = None

    @contextlib.contextmanager
    def watching(self) -> Iterator[list[PlacedCall]]:
        """The calls placed and reported while the block runs, in order."""
        seen: list[PlacedCall] = []
        self._watch = seen
        try:
            yield seen
        finally:
            self._watch = None

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    def step(self, now: int) -> int | None:
        """Do everything due at ``now``; return the next time something may be due."""
        port = self.port
        while True:
            while self._calls and self._calls[0].end <= now:
                call = self._calls[0]
                # Taken off only once reported: a report that fails (a lost connection, a
                # conflict) is tried again at the next step instead of leaving the contact
                # held until its lease passes.
                if port.report(call.held, call.outcome, now=now):
                    self.reported += 1
                    if self._watch is not None:
                        self._watch.append(PlacedCall(call.held, call.outcome, ended=True))
                heapq.heappop(self._calls)
            port.fire_schedules(now)
            ends_now = False
            for held in port.claim(now):
                outcome = draw_outcome(self.seed, held)
                end = outcome.end(held.claimed_at)
                heapq.heappush(self._calls, _Call(end, held.order_id, held.attempt, held, outcome))
                self.placed += 0 if held.adopted else 1
                if self._watch is not None and not held.adopted:
                    self._watch.append(PlacedCall(held, outcome, ended=False))
                ends_now = ends_now or end <= now
            if not ends_now:
                break
        candidates = [t for t in (port.next_event(now),) if t is not None]
        if self._calls:
            candidates.append(self._calls[0].end)
        return min(candidates) if candidates else None

    def advance(self, target: int) -> None:
        """Run the simulation up to ``target`` (epoch s), event by event."""
        with self.lock:
            if self.now is not None and target < self.now:
                return  # never back: a clock read before the timeline moved on
            moment = target if self.now is None else self.now
            while True:
                upcoming = self.step(moment)
                if upcoming is None or upcoming > target:
                    break
                moment = upcoming
            self.now = target

    def release(self) -> int:
        """Stop dialling: the calls in flight are dropped unreported and their orders given
        back to pending, for another dialer to dial at once. Returns how many."""
        with self.lock:
            self._calls.clear()
            released = self.port.release()
            self.released += released
            return released

    def run(
        self,
        clock: SimClock,
        stop: threading.Event,
        *,
        max_idle_s: float = 0.2,
        on_error: Callable[[BaseException], None] | None = None,
        release: bool = True,
    ) -> None:
        """Follow ``clock`` until ``stop`` is set; then (``release``) give back the claims in
        flight."""
        try:
            self._follow(clock, stop, max_idle_s=max_idle_s, on_error=on_error)
        finally:
            if release:
                try:
                    self.release()
                except Exception as exc:  # the database went away: the leases will pass
                    if on_error is None:
                        raise
                    on_error(exc)

    def _follow(
        self,
        clock: SimClock,
        stop: threading.Event,
        *,
        max_idle_s: float,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        while not stop.is_set():
            try:
                self.advance(clock.now())
                upcoming = self._calls[0].end if self._calls else None
                wait = max_idle_s if upcoming is None else clock.real_seconds_until(upcoming)
            except Exception as exc:  # keep dialling; a transient database error must not stop it
                if on_error is None:
                    raise
                on_error(exc)
                wait = max_idle_s
            stop.wait(min(max(wait, 0.01), max_idle_s))


def start_thread(simulator: Simulator, clock: SimClock) -> tuple[threading.Thread, threading.Event]:
    """Run ``simulator`` on ``clock`` in a daemon thread; set the event (and join) to stop it.

    Errors are written to stderr and the loop goes on (a locked database, a full disk).
    """
    stop = threading.Event()

    def on_error(exc: BaseException) -> None:
        print("nxlink simulator: step failed:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)

    thread = threading.Thread(
        target=simulator.run, args=(clock, stop), kwargs={"on_error": on_error},
        name="nxlink-simulator", daemon=True,
    )  # fmt: skip
    thread.start()
    return thread, stop
