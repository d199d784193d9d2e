"""The life of tasks (``lifecycle.md``): creation, contacts, start and pause, the dialer's
claims and reports, schedules, balance, and the callbacks each change announces.

Every function here is one store transaction (``Store.lifecycle()``): the record, the counters
it moves (:mod:`nxlink.service.counters`), the task states it changes and the callbacks that
announce them are committed together or not at all. A refusal raises a 20000 before anything
is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import random
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from nxlink.contract import calldoc
from nxlink.contract.codes import TaskStatus
from nxlink.contract.endpoints import DUPLICATE_CONTACT
from nxlink.service import counters, windows
from nxlink.service.errors import business_error
from nxlink.service.recordings import RecordingLinks
from nxlink.service.requests import (
    CallAppend,
    ContactIn,
    OrderDelete,
    TaskAction,
    TaskCreate,
    TaskRef,
)
from nxlink.store import Store, StoreError
from nxlink.store.base import (
    Claim,
    DialCandidate,
    DialContext,
    LifecycleTx,
    NewCall,
    NewOrder,
    NewTask,
    OrderState,
    TaskState,
)

#: Attempts per contact when the task does not say (``orderMaxCall`` not set).
DEFAULT_ORDER_MAX_CALL: Final = 1
#: Seconds between attempts on one contact when the task does not say.
DEFAULT_REPLAY_INTERVAL: Final = 300
#: Ring time when neither the task nor the route sets one.
DEFAULT_RING_SECONDS: Final = 30

READY, IN_PROGRESS, COMPLETED, FAILED, PAUSED, PAUSED_BALANCE = (
    TaskStatus.READY, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED, TaskStatus.FAILED,
    TaskStatus.PAUSED, TaskStatus.PAUSED_BALANCE,
)  # fmt: skip
#: ``pauseReason`` values (``decisions.md`` #16).
BY_USER, BY_SCHEDULE, BY_BALANCE = 1, 2, 3

#: The state changes of ``lifecycle.md`` "Task states" (from, to); nothing else happens.
TRANSITIONS: Final = frozenset({
    (READY, IN_PROGRESS), (PAUSED, IN_PROGRESS),  # started, or startupAt reached
    (IN_PROGRESS, PAUSED),  # paused by a user, or shutdownAt reached
    (IN_PROGRESS, PAUSED_BALANCE), (PAUSED_BALANCE, IN_PROGRESS),  # balance
    (IN_PROGRESS, COMPLETED),  # last order finished, taskKeep 0
    (PAUSED_BALANCE, COMPLETED),  # ... while paused for balance (its last calls reported)
    (IN_PROGRESS, FAILED),  # flow or route removed or disabled
    (COMPLETED, IN_PROGRESS),  # contacts appended to a completed task with taskKeep 1
})  # fmt: skip

STATUS_WORDS: Final[dict[int, str]] = {
    READY: "ready", IN_PROGRESS: "in progress", COMPLETED: "completed", FAILED: "failed",
    PAUSED: "paused", PAUSED_BALANCE: "paused for insufficient balance",
}  # fmt: skip


def new_event_id() -> str:
    return secrets.token_hex(16)


def new_task_id() -> str:
    return str(uuid.uuid4())


def seeded_task_id(seed: int, account_id: int, ordinal: int) -> str:
    """The taskId of the account's task number ``ordinal`` (0 first) under ``seed``: a sandbox
    given the same seed and the same calls makes the same tasks, and so the same calls."""
    rng = random.Random(f"task:{seed}:{account_id}:{ordinal}")
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True, slots=True)
class Clock:
    """The times a lifecycle event is stamped with: ``now`` epoch seconds (records), and
    ``now_ms`` real epoch milliseconds (callbacks' event time and outbox schedule)."""

    now: int
    now_ms: int

    @classmethod
    def at(cls, ms: int) -> Clock:
        """Both stamps from one reading of a clock in epoch milliseconds."""
        return cls(now=ms // 1000, now_ms=ms)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A task's status changed (committed), at ``at`` (epoch s, the event's clock)."""

    account_id: int
    task_id: str
    user_task_id: str
    from_status: int
    to_status: int
    pause_reason: int | None
    at: int


@dataclass(slots=True)
class Activity:
    """What the lifecycle events of one thread did while :func:`observing`: the status
    changes and callbacks enqueued, each once its transaction committed."""

    status_changes: list[StatusChange] = field(default_factory=list)
    callbacks_enqueued: int = 0

    def _callback(self) -> None:
        self.callbacks_enqueued += 1


_activity: contextvars.ContextVar[Activity | None] = contextvars.ContextVar(
    "nxlink_lifecycle_activity", default=None
)


@contextlib.contextmanager
def observing() -> Iterator[Activity]:
    """Collect the committed status changes and enqueued callbacks of this thread's lifecycle
    events while the block runs (the sandbox's ``advance`` answers them)."""
    activity = Activity()
    token = _activity.set(activity)
    try:
        yield activity
    finally:
        _activity.reset(token)


# -- the user's operations ------------------------------------------------------------------


def create_task(
    store: Store,
    account_id: int,
    req: TaskCreate,
    *,
    clock: Clock,
    new_id: Callable[[], str] = new_task_id,
    id_seed: int | None = None,
) -> str:
    """``task/create``: the task, its first contacts and its first state; returns taskId
    (``new_id()``, or :func:`seeded_task_id` under ``id_seed``)."""
    with store.lifecycle() as tx:
        problems: list[str] = []
        flow = tx.flow(account_id, req.auto_flow_id)
        if flow is None:
            problems.append(f"autoFlowId: no flow {req.auto_flow_id} in this account")
        if tx.route(account_id, req.route_id) is None:
            problems.append(f"routeId: no route '{req.route_id}' in this account")
        if req.user_task_id:
            used_by = tx.task_id_using(account_id, req.user_task_id)
            if used_by is not None:
                problems.append(
                    f"userTaskId: '{req.user_task_id}' is already used by task {used_by}"
                )
        if flow is not None:
            problems.extend(_param_problems(req.contacts, flow.variables, flow.id))
        if problems:
            raise business_error(problems)
        _refuse_taken(tx, account_id, req.contacts)
        task_id = (
            new_id() if id_seed is None
            else seeded_task_id(id_seed, account_id, tx.task_count(account_id))
        )  # fmt: skip
        # Every task starts ready; startupType 3 moves it on at once, announced as any move.
        status = READY
        row_id = tx.insert_task(
            account_id,
            NewTask(
                task_id=task_id,
                auto_flow_id=req.auto_flow_id,
                route_id=req.route_id,
                task_name=req.task_name,
                create_ts=clock.now,
                task_status=status,
                user_task_id=req.user_task_id,
                other=req.other,
                task_desc=req.task_desc,
                task_keep=req.task_keep,
                startup_type=req.startup_type,
                startup_at=req.startup_at,
                shutdown_at=req.shutdown_at,
                max_call=req.max_call,
                max_ring_time=req.max_ring_time,
                strategy_id=req.strategy_id,
                agent_group_id=req.agent_group_id,
                task_callback_url=req.task_callback_url,
                call_callback_url=req.call_callback_url,
                country_code=req.country_code,
                order_max_call=req.order_max_call,
                replay_interval=req.replay_interval,
                week_days=req.week_days,
                zone_second=req.zone_second,
            ),
        )
        if req.contacts:
            _import(tx, account_id, row_id, req.contacts, req.country_code, clock=clock)
        if req.startup_type == 3:
            _set_status(tx, tx.task_by_row(account_id, row_id), IN_PROGRESS, None, clock=clock)
            _after_entering_progress(tx, tx.task_by_row(account_id, row_id), clock=clock)
        return task_id


class _DryRun(Exception):
    """Ends a dry run's transaction: everything it wrote is rolled back."""


def check_append(store: Store, account_id: int, req: CallAppend, *, clock: Clock) -> int:
    """What ``call/append`` would answer, changing nothing: the contacts' count, or the very
    refusal the import would raise (its checks run in a transaction that is rolled back)."""
    try:
        append_contacts(store, account_id, req, clock=clock, dry_run=True)
    except _DryRun:
        return len(req.contacts)
    raise AssertionError("a dry run ended without rolling back")  # pragma: no cover


def append_contacts(
    store: Store, account_id: int, req: CallAppend, *, clock: Clock, dry_run: bool = False
) -> tuple[str, int]:
    """``call/append``: all the contacts or none; returns ``(taskId, imported)``. With
    ``dry_run`` (:func:`check_append`), everything is checked and written, then rolled back."""
    with store.lifecycle() as tx:
        task = _find(tx, account_id, req.ref)
        if task.task_status == FAILED:
            raise business_error(
                [f"taskId: task {task.task_id} has failed and takes no more contacts"]
            )
        if task.task_status == COMPLETED and task.task_keep == 0:
            raise business_error([f"taskId: task {task.task_id} is completed (taskKeep 0) "
                                  "and takes no more contacts"])  # fmt: skip
        if req.auto_flow_id is not None and req.auto_flow_id != task.auto_flow_id:
            raise business_error([f"autoFlowId: {req.auto_flow_id} is not the flow of task "
                                  f"{task.task_id} (its flow is {task.auto_flow_id})"])  # fmt: skip
        flow = tx.flow(account_id, task.auto_flow_id)
        if flow is None:
            raise business_error([f"autoFlowId: flow {task.auto_flow_id} of task "
                                  f"{task.task_id} is disabled"])  # fmt: skip
        problems = _param_problems(req.contacts, flow.variables, flow.id)
        if problems:
            raise business_error(problems)
        _refuse_taken(tx, account_id, req.contacts)
        _import(tx, account_id, task.row_id, req.contacts,
                req.country_code or task.country_code, clock=clock,
                call_callback_url=req.call_callback_url)  # fmt: skip
        if task.task_status == COMPLETED:  # taskKeep 1: the new contacts reopen it
            _set_status(tx, task, IN_PROGRESS, None, clock=clock)
            _after_entering_progress(tx, tx.task_by_row(task.account_id, task.row_id), clock=clock)
        if dry_run:
            raise _DryRun
        return task.task_id, len(req.contacts)


def delete_contact(store: Store, account_id: int, req: OrderDelete, *, clock: Clock) -> str:
    """``order/delete``: only a pending, never-dialled contact; returns the taskId."""
    with store.lifecycle() as tx:
        task = _find(tx, account_id, req.ref)
        order = tx.order(account_id, task.row_id, req.contact_id)
        if order is None or order.state == "deleted":
            raise business_error(
                [f"contactId: no contact '{req.contact_id}' in task {task.task_id}"]
            )
        if order.state != "pending" or order.attempts > 0:
            raise business_error(
                [f"contactId: '{req.contact_id}' has been dialled and cannot be deleted"]
            )
        tx.delete_order(account_id, order.id)
        tx.add_counters(account_id, task.row_id, counters.contact_deleted())
        _complete_if_done(tx, task, clock=clock)
        return task.task_id


def start_task(store: Store, account_id: int, req: TaskAction, *, clock: Clock) -> TaskState:
    """``task/start``: ready or paused -> in progress (a no-op when already in progress)."""
    with store.lifecycle() as tx:
        task = _find(tx, account_id, req.ref)
        if task.task_status == IN_PROGRESS:
            return task
        if task.task_status == PAUSED_BALANCE:
            raise business_error([f"taskStatus: task {task.task_id} is paused for insufficient "
                                  "balance; top up the account"])  # fmt: skip
        if task.task_status in (COMPLETED, FAILED):
            state = "is completed" if task.task_status == COMPLETED else "has failed"
            raise business_error([f"taskStatus: task {task.task_id} {state}"])
        if tx.flow(account_id, task.auto_flow_id) is None:
            raise business_error([f"autoFlowId: flow {task.auto_flow_id} of task "
                                  f"{task.task_id} is disabled"])  # fmt: skip
        if tx.route(account_id, task.route_id) is None:
            raise business_error([f"routeId: route '{task.route_id}' of task "
                                  f"{task.task_id} is disabled"])  # fmt: skip
        _set_status(tx, task, IN_PROGRESS, None, clock=clock, startup_by=req.startup_by)
        _after_entering_progress(tx, tx.task_by_row(task.account_id, task.row_id), clock=clock)
        return tx.task_by_row(task.account_id, task.row_id)


def pause_task(store: Store, account_id: int, req: TaskAction, *, clock: Clock) -> TaskState:
    """``task/pause``: in progress -> paused by the user (a no-op when already paused)."""
    with store.lifecycle() as tx:
        task = _find(tx, account_id, req.ref)
        if task.task_status == PAUSED:
            return task
        if task.task_status != IN_PROGRESS:
            raise business_error(
                [
                    "taskStatus: only an in-progress task can be paused "
                    f"(task {task.task_id} is {STATUS_WORDS[task.task_status]})"
                ]
            )
        _set_status(tx, task, PAUSED, BY_USER, clock=clock)
        return tx.task_by_row(task.account_id, task.row_id)


def top_up(store: Store, account_id: int, cents: int, *, clock: Clock) -> tuple[int, int]:
    """Add to the balance; above zero, tasks paused for balance resume.

    Returns ``(balance, tasks resumed)``.
    """
    if cents <= 0:
        raise StoreError(f"the amount must be a positive number of cents, got {cents}")
    with store.lifecycle() as tx:
        balance = tx.add_balance(account_id, cents)
        resumed = tx.tasks_in(account_id, statuses=[PAUSED_BALANCE])
        if balance <= 0:
            return balance, 0
        for row_id in resumed:
            task = tx.task_by_row(account_id, row_id)
            _set_status(tx, task, IN_PROGRESS, None, clock=clock)
            task = tx.task_by_row(account_id, row_id)
            if not _runnable(tx, task):  # its flow or route was disabled while it waited
                _set_status(tx, task, FAILED, None, clock=clock)
            else:
                _complete_if_done(tx, task, clock=clock)
        return balance, len(resumed)


def set_enabled(
    store: Store,
    *,
    flow_id: int | None = None,
    route_id: str | None = None,
    enabled: bool,
    clock: Clock,
    account_id: int | None = None,
) -> list[str]:
    """Enable or disable a flow or a route (of one account, or of whichever has it);
    disabling fails its tasks in progress.

    Returns the taskIds that failed.
    """
    with store.lifecycle() as tx:
        accounts = [account_id] if account_id is not None else tx.account_ids()
        found = False
        failed: list[str] = []
        for owner in accounts:
            if not tx.set_enabled(owner, flow_id=flow_id, route_id=route_id, enabled=enabled):
                continue
            found = True
            if enabled:
                continue
            for row_id in tx.tasks_using(owner, flow_id=flow_id, route_id=route_id):
                task = tx.task_by_row(owner, row_id)
                if task.task_status == IN_PROGRESS:
                    _set_status(tx, task, FAILED, None, clock=clock)
                    failed.append(task.task_id)
        if not found:
            what = f"flow {flow_id}" if flow_id is not None else f"route '{route_id}'"
            raise StoreError(f"no {what}")
        return failed


# -- the dialer's operations ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How a claimed call went, as a dialer (a telephony layer) reports it; times follow from
    the claim: ringing, then the talk with the AI agent, then for a transfer (result 17) the
    human leg's ringing and talk. The fields are those of the call record
    (:class:`~nxlink.contract.callrecord.CallRecord`)."""

    call_id: str
    result: int
    ring_seconds: int
    talk_seconds: int = 0
    manual_status: int | None = None
    manual_elapsed: int | None = None
    user_intent: str = ""
    summary: str = ""
    #: ``sipCode`` and ``hangupReason`` (``CALL_ENDINGS``).
    sip_code: str = ""
    hangup_reason: str = ""
    #: ``callerPhone``: the number the call came from.
    caller_phone: str = ""
    #: ``realPhone``: the number dialled (country code, ``+`` first).
    real_phone: str = ""
    #: ``sipAddr`` and ``lineId``: where the INVITE went, on which line.
    sip_addr: str = ""
    line_id: str = ""
    #: ``turnTime``: conversation turns (answered calls).
    turns: int = 0
    #: Seconds the human leg of a transfer rang before a human answered (or it gave up).
    manual_ring_seconds: int = 0
    #: The task's agent group's name, and the human who took the transfer.
    agent_group_name: str = ""
    agent_id: str = ""
    agent_name: str = ""

    @property
    def answered(self) -> bool:
        return self.result in counters.ANSWERED_RESULTS

    def end(self, start: int) -> int:
        """When the call ends, for a call placed at ``start``."""
        return (start + self.ring_seconds + self.talk_seconds + self.manual_ring_seconds
                + (self.manual_elapsed or 0))  # fmt: skip


#: A dialer that claimed within this many real milliseconds counts as live (fair shares).
DIALER_ALIVE_MS: Final = 5_000


def dialable(task: DialCandidate, now: int) -> bool:
    """May the task place calls at ``now`` (dialer clock)? In progress, its account enabled
    with a balance above zero, its flow and route enabled, ``shutdownAt`` not reached, and
    ``now`` inside its calling window."""
    shutdown_due = (
        not task.shutdown_fired and task.shutdown_at is not None and task.shutdown_at <= now
    )
    return (
        task.task_status == IN_PROGRESS
        and task.account_enabled
        and task.balance_cents > 0
        and task.flow_enabled
        and task.route_enabled
        and task.context is not None
        and not shutdown_due
        and calling_window(task).contains(now)
    )


def calling_window(task: DialCandidate) -> windows.Window:
    """The task's ``weekDay`` and ``zoneSecond``."""
    return windows.Window(task.week_days, task.zone_second)


def next_dialer_event(store: Store, now: int, *, dialer_id: str) -> int | None:
    """The earliest time after ``now`` (dialer clock) at which ``dialer_id`` could have
    something to do besides its own calls: another dialer's lease passes, a schedule fires, a
    retry or contact falls due, a calling window opens on orders waiting for it. None when
    nothing waits. One read, no lock.

    The store's plain ``earliest`` counts the orders of windowed tasks at their due time too
    (so that PostgreSQL's read of it stays an index-only scan of ``task_stats``): such a wake
    may find nothing to claim and costs one step. Their openings come from the windows'
    waits (:func:`nxlink.service.windows.wake_time`), so none is skipped.
    """
    waits = store.dialer_waits(now, dialer_id=dialer_id)
    times = [] if waits.earliest is None else [waits.earliest]
    for wait in waits.windows:
        window = windows.Window(wait.week_days, wait.zone_second)
        wake = windows.wake_time(window, now, due_now=wait.due_now, next_due=wait.next_due)
        if wake is not None:
            times.append(wake)
    return min(times, default=None)


def lines(task: DialCandidate) -> int:
    """The task's concurrent calls: ``maxCall``, or the account's default when it is 0."""
    return task.max_call if task.max_call > 0 else task.default_max_call


def claim(
    store: Store, now: int, *, dialer_id: str, lease_seconds: int, now_ms: int
) -> list[Claim]:
    """Claim due orders for ``dialer_id`` (and take over claims whose lease passed).

    Each dialer seen within :data:`DIALER_ALIVE_MS` holds at most its fair share,
    ``ceil(lines / live dialers)``, of a task's lines, and never more than the task's lines are
    dialling at once, whoever holds them.
    """
    lease_until = now + lease_seconds
    with store.lifecycle() as tx:
        live = tx.dialer_heartbeat(dialer_id, now_ms=now_ms, alive_ms=DIALER_ALIVE_MS)
        claims: list[Claim] = []
        for account_id in tx.account_ids():
            contexts: dict[int, DialContext] = {}
            for order in tx.adopt_expired(account_id, now, dialer_id=dialer_id,
                                          lease_until=lease_until):  # fmt: skip
                if order.task_row_id not in contexts:
                    contexts[order.task_row_id] = tx.dial_context(account_id, order.task_row_id)
                assert order.claimed_at is not None
                claims.append(_claim(order, contexts[order.task_row_id], order.claimed_at,
                                     adopted=True))  # fmt: skip
            for task in tx.dial_candidates(account_id, now):
                # A task whose lines were all busy when read is not locked: a claim costs a
                # lock per task that may take a call, not per task with an order due (with
                # every running task locked at every step, a dialer that fell behind fell
                # further behind). A line another dialer frees meanwhile is taken at the
                # next step.
                if not dialable(task, now) or task.dialling >= lines(task):
                    continue
                held = tx.lock_lines(account_id, task.task_row_id, dialer_id=dialer_id)
                if held is None:
                    continue  # another dialer is claiming for this task right now
                total = lines(task)
                share = -(-total // max(live, 1))
                room = min(total - held.dialling, share - held.mine)
                if room <= 0:
                    continue
                assert task.context is not None
                # A task's calls start in order (see Lines.floor): a dialer still catching up
                # on its own past starts this call when the line it takes was last freed.
                start = max(now, held.floor)
                if not calling_window(task).contains(start):
                    # The line was freed (by a dialer ahead of this one in simulated time)
                    # after the window closed: the call waits for the next opening.
                    continue
                claimed = tx.claim_orders(
                    account_id, task.task_row_id, now, limit=room, dialer_id=dialer_id,
                    claimed_at=start, lease_until=max(lease_until, start + lease_seconds),
                )  # fmt: skip
                if claimed:
                    tx.raise_dial_floor(account_id, task.task_row_id, start)
                claims.extend(_claim(order, task.context, start, adopted=False)
                              for order in claimed)  # fmt: skip
        return claims


def release(store: Store, *, dialer_id: str) -> int:
    """A dialer stops: its claims go back to pending (their calls were never placed) for
    another dialer to take at once, and it leaves the fair shares. Returns how many."""
    with store.lifecycle() as tx:
        released = sum(tx.release_claims(account_id, dialer_id=dialer_id)
                       for account_id in tx.account_ids())  # fmt: skip
        tx.forget_dialer(dialer_id)
        return released


def _claim(order: OrderState, context: DialContext, claimed_at: int, *, adopted: bool) -> Claim:
    return Claim(
        order_id=order.id,
        account_id=order.account_id,
        task_row_id=order.task_row_id,
        task_id=context.task_id,
        contact_id=order.contact_id,
        phone=order.phone,
        attempt=order.attempts + 1,
        claimed_at=claimed_at,
        max_ring_time=context.max_ring_time or DEFAULT_RING_SECONDS,
        agent_group_id=context.agent_group_id,
        route_id=context.route_id,
        answer_probability=context.answer_probability,
        talk_seconds_mean=context.talk_seconds_mean,
        price_per_minute_cents=context.price_per_minute_cents,
        adopted=adopted,
        country_code=order.country_code or context.route_country_code,
        caller_phone=context.caller_phone,
        line_ids=tuple(orjson.loads(context.line_ids)),
    )


def report(
    store: Store,
    held: Claim,
    outcome: CallOutcome,
    *,
    dialer_id: str,
    clock: Clock,
    links: RecordingLinks,
) -> bool:
    """Record a completed call: the call, its order, counters, cost, states, callbacks (an
    answered call's with its recording's link from ``links``).

    False when ``dialer_id`` no longer holds the claim (another dialer took it over).
    """
    if outcome.result not in counters.CALL_RESULTS:
        raise ValueError(f"unknown call result {outcome.result}")
    # Signed before the transaction: the key may be read (or created) on first use.
    audio_url = links.url(outcome.call_id, now=clock.now_ms // 1000) if outcome.answered else ""
    with store.lifecycle() as tx:
        account_id = held.account_id
        order = tx.held_order(account_id, held.order_id, dialer_id=dialer_id,
                              attempt=held.attempt)  # fmt: skip
        if order is None:
            return False
        task = tx.task_by_row(account_id, order.task_row_id)
        answered = outcome.answered
        attempts_allowed = task.order_max_call or DEFAULT_ORDER_MAX_CALL
        finished = (
            answered or outcome.result in counters.FINAL_RESULTS
            or held.attempt >= attempts_allowed
        )  # fmt: skip
        start = held.claimed_at
        end = outcome.end(start)
        answer_ts = start + outcome.ring_seconds if answered else None
        transfer = outcome.result == 17
        manual_start = start + outcome.ring_seconds + outcome.talk_seconds if transfer else None
        connected = end - (start + outcome.ring_seconds) if answered else 0
        cost = math.ceil(connected / 60) * held.price_per_minute_cents
        call_row = tx.insert_call(
            order,
            NewCall(
                call_id=outcome.call_id,
                attempt=held.attempt,
                callee_phone=order.phone,
                create_ts=start,
                call_start=start,
                call_answer=answer_ts,
                call_end=end,
                ring_seconds=outcome.ring_seconds,
                talk_seconds=outcome.talk_seconds if answered else 0,
                result=outcome.result,
                answered=answered,
                manual_status=outcome.manual_status if transfer else None,
                manual_elapsed=outcome.manual_elapsed if transfer else None,
                user_intent=outcome.user_intent if answered else "",
                summary=outcome.summary if answered else "",
                order_head=held.attempt == 1,
                order_tail=finished,
                cost_cents=cost,
                caller_phone=outcome.caller_phone,
                real_phone=outcome.real_phone,
                op_ts=end,
                turns=outcome.turns if answered else 0,
                hangup_reason=outcome.hangup_reason,
                sip_code=outcome.sip_code,
                sip_addr=outcome.sip_addr,
                line_id=outcome.line_id,
                route_id=held.route_id,
                agent_group_id=held.agent_group_id,
                agent_group_name=outcome.agent_group_name if held.agent_group_id else "",
                agent_id=outcome.agent_id if transfer else "",
                agent_name=outcome.agent_name if transfer else "",
                manual_start=manual_start,
                manual_answer=(
                    manual_start + outcome.manual_ring_seconds
                    if manual_start is not None
                    and outcome.manual_status == counters.MANUAL_ANSWERED
                    else None
                ),
                manual_end=end if transfer else None,
            ),
        )
        replay = DEFAULT_REPLAY_INTERVAL if task.replay_interval is None else task.replay_interval
        tx.finish_attempt(account_id, order.id, finished=finished, answered=answered,
                          next_attempt_ts=end + replay)  # fmt: skip
        # Rows are taken in the order every other event takes them, so that on a database
        # with row locks no two transactions wait for each other: the balance (a top-up takes
        # it, then the tasks it resumes), then the task's counters, then the task itself (a
        # status change writes the counters' row first).
        balance = tx.add_balance(task.account_id, -cost) if cost else None
        delta = counters.call_completed(
            result=outcome.result,
            talk_seconds=outcome.talk_seconds if answered else 0,
            manual_status=outcome.manual_status,
            manual_elapsed=outcome.manual_elapsed,
            first_attempt=held.attempt == 1,
        )
        if finished:
            delta = counters.combine(
                delta, counters.order_finished(answered=order.answered or answered)
            )
        tx.add_counters(account_id, task.row_id, delta)
        tx.raise_dial_floor(account_id, task.row_id, end)
        callback = calldoc.callback_url(task.call_callback_url, order.call_callback_url,
                                        tx.account(account_id).call_callback_url)  # fmt: skip
        if callback:
            record = calldoc.render_event(tx.call_facts(account_id, call_row), audio_url=audio_url)
            _enqueue(tx, task, "call", callback, "call.completed", record, clock=clock)
        # A task this call finished completes before a balance it emptied pauses the others.
        if finished:
            _complete_if_done(tx, tx.task_by_row(task.account_id, task.row_id), clock=clock)
        if balance is not None and balance <= 0:
            _pause_for_balance(tx, task.account_id, clock=clock)
        return True


def fire_schedules(store: Store, now: int, *, clock: Clock) -> int:
    """Fire every ``startupAt``/``shutdownAt`` reached by ``now`` (dialer clock), each once.

    Returns how many tasks had a schedule fire.
    """
    fired = 0
    with store.lifecycle() as tx:
        for account_id in tx.account_ids():
            rows = tx.due_schedules(account_id, now)
            fired += len(rows)
            for row_id in rows:
                _fire(tx, tx.task_by_row(account_id, row_id), now, clock=clock)
    return fired


def _fire(tx: LifecycleTx, task: TaskState, now: int, *, clock: Clock) -> None:
    account_id, row_id = task.account_id, task.row_id
    if (task.startup_type == 2 and not task.startup_fired
            and task.startup_at is not None and task.startup_at <= now):  # fmt: skip
        tx.update_task(account_id, row_id, startup_fired=1)
        if task.task_status in (READY, PAUSED) and _runnable(tx, task):
            _set_status(tx, task, IN_PROGRESS, None, clock=clock)
            _after_entering_progress(tx, tx.task_by_row(account_id, row_id), clock=clock)
    task = tx.task_by_row(account_id, row_id)
    if (not task.shutdown_fired and task.shutdown_at is not None
            and task.shutdown_at <= now):  # fmt: skip
        tx.update_task(account_id, row_id, shutdown_fired=1)
        if task.task_status == IN_PROGRESS:
            _set_status(tx, task, PAUSED, BY_SCHEDULE, clock=clock)


# -- inside a transaction ------------------------------------------------------------------


def _find(tx: LifecycleTx, account_id: int, ref: TaskRef) -> TaskState:
    if ref.user_task_id:
        task = tx.task(account_id, user_task_id=ref.user_task_id)
        if task is None:
            raise business_error([f"userTaskId: no task '{ref.user_task_id}' in this account"])
        return task
    if ref.task_id:
        task = tx.task(account_id, task_id=ref.task_id)
        if task is None:
            raise business_error([f"taskId: no task '{ref.task_id}' in this account"])
        return task
    raise business_error(["taskId: required (or userTaskId)"])


def _param_problems(
    contacts: tuple[ContactIn, ...], variables: tuple[str, ...], flow_id: int
) -> list[str]:
    known = set(variables)
    listed = ", ".join(variables) or "none"
    problems: list[str] = []
    for i, contact in enumerate(contacts):
        for j, (name, _value) in enumerate(contact.params):
            if name not in known:
                problems.append(f"list[{i}].params[{j}].name: '{name}' is not a variable of "
                                f"flow {flow_id} (variables: {listed})")  # fmt: skip
                if len(problems) == 20:
                    return problems
    return problems


def _refuse_taken(tx: LifecycleTx, account_id: int, contacts: tuple[ContactIn, ...]) -> None:
    taken = tx.contacts_taken(account_id, [c.contact_id for c in contacts])
    if taken:
        raise business_error([DUPLICATE_CONTACT + taken[0]])


def _import(
    tx: LifecycleTx,
    account_id: int,
    task_row_id: int,
    contacts: tuple[ContactIn, ...],
    country_code: str,
    *,
    clock: Clock,
    call_callback_url: str = "",
) -> None:
    tx.insert_orders(
        account_id,
        task_row_id,
        [
            NewOrder(
                contact_id=c.contact_id,
                phone=c.phone,
                name=c.name,
                country_code=country_code,
                params=orjson.dumps([{"name": n, "value": v} for n, v in c.params]).decode(),
                other=c.other,
                call_callback_url=call_callback_url,
            )
            for c in contacts
        ],
        now=clock.now,
    )
    tx.add_counters(account_id, task_row_id, counters.contacts_imported(len(contacts)))


def _runnable(tx: LifecycleTx, task: TaskState) -> bool:
    return (
        tx.flow(task.account_id, task.auto_flow_id) is not None
        and tx.route(task.account_id, task.route_id) is not None
    )


def _set_status(
    tx: LifecycleTx,
    task: TaskState,
    status: int,
    pause_reason: int | None,
    *,
    clock: Clock,
    **columns: Any,
) -> None:
    """Change a task's state along the table, and announce it."""
    if (task.task_status, status) not in TRANSITIONS:
        raise StoreError(f"task {task.task_id}: no transition {task.task_status} -> {status}")
    tx.update_task(task.account_id, task.row_id, task_status=status, pause_reason=pause_reason,
                   **columns)  # fmt: skip
    activity = _activity.get()
    if activity is not None:
        change = StatusChange(task.account_id, task.task_id, task.user_task_id, task.task_status,
                              status, pause_reason, clock.now)  # fmt: skip
        tx.after_commit(lambda: activity.status_changes.append(change))
    callback = task.task_callback_url or tx.account(task.account_id).task_callback_url
    if callback:
        document = tx.task_document(task.account_id, task.row_id)
        _enqueue(tx, task, "task", callback, "task.status", document, clock=clock)


def _enqueue(
    tx: LifecycleTx,
    task: TaskState,
    kind: str,
    url: str,
    event_type: str,
    carried: dict[str, Any],
    *,
    clock: Clock,
) -> None:
    """Write the callback of an event: the event's keys, then the object it carries (the task
    or the call record) at the top level, the vendor's shape."""
    event_id = new_event_id()
    body = {"eventId": event_id, "eventType": event_type, "eventTs": clock.now_ms, **carried}
    tx.enqueue_callback(task.account_id, kind=kind, url=url, body=orjson.dumps(body),
                        event_id=event_id, now_ms=clock.now_ms, task_id=task.task_id)  # fmt: skip
    activity = _activity.get()
    if activity is not None:
        tx.after_commit(activity._callback)


def _after_entering_progress(tx: LifecycleTx, task: TaskState, *, clock: Clock) -> None:
    """A task just became in progress: no open contact left (taskKeep 0) completes it;
    otherwise no balance pauses it at once."""
    if _complete_if_done(tx, task, clock=clock):
        return
    if tx.account(task.account_id).balance_cents <= 0:
        _set_status(tx, task, PAUSED_BALANCE, BY_BALANCE, clock=clock)


def _complete_if_done(tx: LifecycleTx, task: TaskState, *, clock: Clock) -> bool:
    """Every contact of a task with taskKeep 0 finished: it completes, whether in progress or
    paused for balance (nothing is left to pay for); a task paused by a user stays paused.
    Returns whether it completed."""
    if task.task_status not in (IN_PROGRESS, PAUSED_BALANCE) or task.task_keep != 0:
        return False
    still_open, finished = tx.open_orders(task.account_id, task.row_id)
    if still_open or not finished:
        return False
    _set_status(tx, task, COMPLETED, None, clock=clock)
    return True


def _pause_for_balance(tx: LifecycleTx, account_id: int, *, clock: Clock) -> None:
    for row_id in tx.tasks_in(account_id, statuses=[IN_PROGRESS]):
        _set_status(tx, tx.task_by_row(account_id, row_id), PAUSED_BALANCE, BY_BALANCE, clock=clock)
