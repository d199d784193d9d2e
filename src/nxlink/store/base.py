"""The store interface: everything the service needs from a database, and nothing of SQL.

Backends (``sqlite.py``, ``postgres.py``) implement :class:`Store`; ``open_store(url)`` picks
one by URL scheme. A page of the task list travels as the tasks' JSON, rendered in Python
(:mod:`nxlink.contract.taskdoc`) by the unit of work of every write that changes a task
(:meth:`Store.lifecycle`) and stored as opaque bytes, so that a 1000-row page costs no per-row
object construction and no backend renders JSON.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from nxlink.contract.calldoc import CallFacts
from nxlink.contract.taskdoc import TaskDocInputs, document, render

if TYPE_CHECKING:
    from nxlink.store.ratelimit import Limit
    from nxlink.store.secretbox import MasterKeySource, SecretBox

#: The statistics counters, in the order of the ``task_stats`` columns.
STAT_COUNTERS: Final[tuple[str, ...]] = (
    "total_order_count",
    "dialed_order_count",
    "finish_order_count",
    "answer_order_count",
    "total_call_count",
    "answer_call_count",
    "total_call_elapsed",
    "manual_answer_count",
    "manual_fail_count",
    "manual_elapsed",
)


if TYPE_CHECKING:
    from nxlink.store.copy import Table

#: Loads a batch of copied rows of a table (``Store.loading``).
Loader = Callable[["Table", list[tuple[Any, ...]]], None]

#: Runs one portable SQL statement (``?`` parameters) in a snapshot; returns its rows.
Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class StoreError(Exception):
    """A store operation was refused (unknown name, duplicate, ...); the message says why."""


class CommitUncertain(StoreError):
    """The connection was lost while a transaction committed: the change may or may not have
    been made. Unlike :class:`StoreUnavailable` this is never answered as "try again": the
    server answers 500. The write's replay record is in the same transaction, so the same
    signed request sent again reads the first answer or makes the change once."""


class StoreUnavailable(StoreError):
    """The database could not answer in time (a lock, pool or statement timeout, a lost
    connection): the request may be tried again later. The server answers 503 with
    ``Retry-After``."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    enabled: bool
    balance_cents: int
    default_max_call: int
    created_ts: int
    #: Where task callbacks go for a task without a ``taskCallbackUrl`` (``""``: nowhere).
    task_callback_url: str = ""
    #: Where call callbacks go when neither the contact nor its task has a
    #: ``callCallbackUrl`` (``""``: nowhere).
    call_callback_url: str = ""
    #: Whether callbacks carry the five auth headers (``sign`` among them); read at each try.
    callbacks_signed: bool = True


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key: str
    account_id: int
    account_name: str
    enabled: bool
    created_ts: int
    revoked_ts: int | None


@dataclass(frozen=True, slots=True)
class KeyAuth:
    """What authentication needs to know about an ``accessKey``."""

    account_id: int
    secret: str


@dataclass(frozen=True, slots=True)
class Flow:
    id: int
    account_id: int
    name: str
    variables: tuple[str, ...]
    created_ts: int
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    account_id: int
    route_id: str
    name: str
    country_code: str
    price_per_minute_cents: int
    answer_probability: float
    talk_seconds_mean: int
    created_ts: int
    enabled: bool = True
    #: The number its calls come from (``callerPhone``).
    caller_phone: str = ""
    #: Its lines (trunks), by id: a call goes out on one of them (``lineId``).
    line_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """The filters of the task list, already validated and normalised by the service.

    ``name_fold`` is casefolded; rates are exact fractions on the 0–100 scale.
    """

    name_fold: str | None = None
    status: int | None = None
    created_from: int | None = None
    created_to: int | None = None
    min_answer_rate: Fraction | None = None
    max_answer_rate: Fraction | None = None
    min_contacts: int | None = None
    max_contacts: int | None = None

    def status_only(self) -> bool:
        """True when the filter needs no more than the per-status task counts."""
        return (
            self.name_fold is None
            and self.created_from is None
            and self.created_to is None
            and self.min_answer_rate is None
            and self.max_answer_rate is None
            and self.min_contacts is None
            and self.max_contacts is None
        )


#: ``tasks.week_days`` of a task without a calling window: every ISO day's bit (bit ``d - 1``
#: for day ``d``), the column's default; ``nxlink.service.windows`` says what a mask allows.
EVERY_DAY: Final = 0b111_1111


@dataclass(slots=True)
class NewTask:
    """A task to insert, with its initial counters (``stats`` keyed by :data:`STAT_COUNTERS`)."""

    task_id: str
    auto_flow_id: int
    route_id: str
    task_name: str
    create_ts: int
    task_status: int = 1
    pause_reason: int | None = None
    user_task_id: str = ""
    other: str = ""
    task_desc: str = ""
    task_keep: int = 0
    startup_type: int = 0
    startup_at: int | None = None
    shutdown_at: int | None = None
    startup_by: str = ""
    max_call: int = 0
    import_type: int = 0
    func_flag: int = 0
    max_ring_time: int = 0
    strategy_id: str = ""
    agent_group_id: str = ""
    task_callback_url: str = ""
    call_callback_url: str = ""
    country_code: str = ""
    order_max_call: int | None = None
    replay_interval: int | None = None
    #: The calling window (``nxlink.service.windows``): a mask of ISO days (:data:`EVERY_DAY`:
    #: no window) and the UTC offset they are counted in.
    week_days: int = EVERY_DAY
    zone_second: int = 0
    stats: dict[str, int] = field(default_factory=dict)


# -- the callback outbox --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayKey:
    """What makes a signed request the same request again: its key, ``ts`` and ``sign``, at
    one operation (the signature does not cover the path)."""

    access_key: str
    ts: int
    sign: str
    operation: str


@dataclass(frozen=True, slots=True)
class SigningKey:
    access_key: str
    secret: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A callback: what to POST where, and how its delivery went so far (times: epoch ms)."""

    id: int
    account_id: int
    event_id: str
    kind: str  # "task" | "call"
    url: str
    body: bytes
    created_ms: int
    state: str  # "pending" | "delivered" | "failed"
    attempts: int
    round_base: int
    next_attempt_ms: int
    last_status: int | None
    last_error: str
    delivered_ms: int | None
    #: The taskId of the task the callback announces (``""``: enqueued before migration 12
    #: with a body naming none).
    task_id: str = ""


#: The states of a callback, in the order :meth:`OutboxStore.callback_counts` gives them.
CALLBACK_STATES: Final[tuple[str, ...]] = ("pending", "delivered", "failed")


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One delivery try of a callback (times: epoch ms; ``latency_ms``: the POST's own)."""

    id: int
    account_id: int
    outbox_id: int
    event_id: str
    url: str
    attempt: int  # the callback's try number, 1 for the first
    started_ms: int
    ended_ms: int
    latency_ms: float
    status: int | None  # None: no answer (see error)
    error: str
    delivered: bool
    fault: str  # "" | "delay" | "fail"
    delay_ms: int


@dataclass(frozen=True, slots=True)
class AttemptFilter:
    """Which delivery tries to list; None: any."""

    event_id: str | None = None
    url_part: str | None = None
    status: int | None = None
    delivered: bool | None = None


@dataclass(frozen=True, slots=True)
class CallbackFault:
    """A sandbox rule for callbacks whose URL contains ``url_part`` (empty: every callback):
    their first ``fail_first`` tries fail as if the receiver answered ``fail_status``, and each
    POST sent waits ``delay_ms`` first."""

    id: int
    url_part: str
    delay_ms: int
    fail_first: int
    fail_status: int
    created_ms: int


class OutboxStore(abc.ABC):
    """The delivery side of the callback outbox (rows are written by lifecycle transactions)."""

    @abc.abstractmethod
    def claim_callbacks(self, now_ms: int, *, limit: int, lease_ms: int) -> list[OutboxItem]:
        """Pending callbacks due at ``now_ms`` whose lease has passed; lease them until
        ``now_ms + lease_ms`` (one transaction), oldest due first."""

    @abc.abstractmethod
    def record_delivery(
        self,
        item_id: int,
        *,
        now_ms: int,
        delivered: bool,
        status: int | None,
        error: str,
        next_attempt_ms: int | None,
        started_ms: int | None = None,
        latency_ms: float = 0.0,
        fault: str = "",
        delay_ms: int = 0,
    ) -> None:
        """Record one try: delivered, or failed with the next try at ``next_attempt_ms``
        (None: no tries left, the item becomes 'failed'). ``attempts`` grows by one, and the
        try is added to the callback's attempts (:meth:`list_callback_attempts`) in the same
        transaction: begun at ``started_ms`` (default ``now_ms``), its POST taking
        ``latency_ms``, ``fault`` and ``delay_ms`` what a callback fault did to it."""

    @abc.abstractmethod
    def list_callback_attempts(
        self, where: AttemptFilter, *, limit: int
    ) -> tuple[int, list[CallbackAttempt]]:
        """How many tries match, and the newest ``limit`` of them, oldest first."""

    @abc.abstractmethod
    def add_callback_fault(
        self, *, url_part: str, delay_ms: int, fail_first: int, fail_status: int, now_ms: int
    ) -> CallbackFault: ...

    @abc.abstractmethod
    def list_callback_faults(self) -> list[CallbackFault]:
        """Oldest first."""

    @abc.abstractmethod
    def remove_callback_fault(self, fault_id: int) -> bool:
        """False when there is no such rule."""

    @abc.abstractmethod
    def clear_callback_faults(self) -> int:
        """Remove every rule; how many there were."""

    @abc.abstractmethod
    def release_callbacks(self, items: Sequence[OutboxItem], *, now_ms: int) -> None:
        """Give up the leases of claimed callbacks this deliverer will not try (it is
        stopping): another deliverer may claim them at once."""

    @abc.abstractmethod
    def list_callbacks(self, *, failed_only: bool = False, limit: int = 100) -> list[OutboxItem]:
        """Newest first."""

    @abc.abstractmethod
    def get_callback(self, item_id: int) -> OutboxItem | None: ...

    def retry_callback(self, item_id: int, *, now_ms: int) -> bool:
        """Make a failed or pending item due now with a fresh round of tries
        (``round_base = attempts``); False when no such item exists or it was delivered."""
        return self._retry_callback(None, item_id, now_ms=now_ms)

    def retry_account_callback(self, account_id: int, item_id: int, *, now_ms: int) -> bool:
        """:meth:`retry_callback` on behalf of an account (the dashboard's retry): False as
        well when the item is another account's."""
        return self._retry_callback(account_id, item_id, now_ms=now_ms)

    @abc.abstractmethod
    def _retry_callback(self, account_id: int | None, item_id: int, *, now_ms: int) -> bool:
        """The one retry statement of :meth:`retry_callback`, limited to ``account_id``'s
        items unless None."""

    def list_task_callbacks(
        self, account_id: int, task_id: str, *, state: str | None, limit: int
    ) -> list[OutboxItem]:
        """The callbacks of one task of the account (in ``state``, one of
        :data:`CALLBACK_STATES`, or any when None), the newest ``limit`` first."""
        if state is not None and state not in CALLBACK_STATES:
            raise StoreError(f"callback state {state!r}: expected one of "
                             f"{', '.join(CALLBACK_STATES)}")  # fmt: skip
        if limit < 1:
            raise StoreError(f"limit {limit}: expected 1 or more")
        return self._task_callbacks(account_id, task_id, state=state, limit=limit)

    @abc.abstractmethod
    def _task_callbacks(
        self, account_id: int, task_id: str, *, state: str | None, limit: int
    ) -> list[OutboxItem]:
        """:meth:`list_task_callbacks` with its arguments checked: one indexed read."""

    def callback_counts(self, account_id: int, task_id: str) -> dict[str, int]:
        """How many callbacks of one task of the account are in each state: every one of
        :data:`CALLBACK_STATES`, in that order, zeros included."""
        found = self._callback_counts(account_id, task_id)
        return {state: found.get(state, 0) for state in CALLBACK_STATES}

    @abc.abstractmethod
    def _callback_counts(self, account_id: int, task_id: str) -> dict[str, int]:
        """The task's callbacks counted by state (one GROUP BY; absent states left out)."""

    @abc.abstractmethod
    def signing_key(self, account_id: int) -> SigningKey | None:
        """The account's newest enabled access key, for signing callbacks; None when the
        account has none or is disabled."""

    @abc.abstractmethod
    def callbacks_signed(self, account_id: int) -> bool:
        """Whether the account's callbacks are signed now (``nxlink accounts set-callbacks``).

        True also for a disabled or missing account: its callbacks take the signed way, where
        the want of an enabled key fails each try, so nothing of it goes out unsigned."""


# -- the life of tasks: one transaction, its primitives ------------------------------------


@dataclass(frozen=True, slots=True)
class TaskState:
    """What the lifecycle needs to know about a task (read inside its transaction)."""

    row_id: int
    account_id: int
    task_id: str
    user_task_id: str
    task_name: str
    other: str
    auto_flow_id: int
    auto_flow_name: str
    route_id: str
    task_status: int
    pause_reason: int | None
    task_keep: int
    startup_type: int
    startup_at: int | None
    shutdown_at: int | None
    startup_fired: bool
    shutdown_fired: bool
    max_call: int
    max_ring_time: int
    order_max_call: int | None
    replay_interval: int | None
    agent_group_id: str
    task_callback_url: str
    call_callback_url: str
    country_code: str
    create_ts: int


@dataclass(frozen=True, slots=True)
class NewOrder:
    contact_id: str
    phone: str
    name: str = ""
    country_code: str = ""
    #: JSON array of ``{"name", "value"}`` objects.
    params: str = "[]"
    other: str = ""
    #: The contact's own ``callCallbackUrl`` (``call/append``), ``""`` for the task's.
    call_callback_url: str = ""


@dataclass(frozen=True, slots=True)
class OrderState:
    id: int
    account_id: int
    task_row_id: int
    contact_id: str
    phone: str
    state: str
    attempts: int
    answered: bool
    next_attempt_ts: int
    claimed_by: str | None
    claimed_at: int | None
    lease_until: int | None
    #: The country code the contact was imported with (``""``: none given).
    country_code: str = ""
    #: The contact's own ``callCallbackUrl`` (``""``: its task's).
    call_callback_url: str = ""


@dataclass(frozen=True, slots=True)
class Claim:
    """An order a dialer holds: everything needed to place its call."""

    order_id: int
    account_id: int
    task_row_id: int
    task_id: str
    contact_id: str
    phone: str
    #: 1 for the first call of the contact.
    attempt: int
    #: When the claim was made (the call's start), on the dialer's clock.
    claimed_at: int
    max_ring_time: int
    agent_group_id: str
    route_id: str
    answer_probability: float
    talk_seconds_mean: int
    price_per_minute_cents: int
    #: True when this dialer took over the claim of another that stopped reporting.
    adopted: bool = False
    #: The contact's country code, else the route's (``""``: neither has one).
    country_code: str = ""
    #: The route's caller number and lines.
    caller_phone: str = ""
    line_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NewCall:
    call_id: str
    attempt: int
    callee_phone: str
    create_ts: int
    call_start: int
    call_answer: int | None
    call_end: int
    ring_seconds: int
    talk_seconds: int
    result: int
    answered: bool
    manual_status: int | None
    manual_elapsed: int | None
    user_intent: str
    summary: str
    order_head: bool
    order_tail: bool
    cost_cents: int
    #: What the dialer reported besides (``CallOutcome``); see the call record.
    caller_phone: str = ""
    real_phone: str = ""
    op_ts: int = 0
    turns: int = 0
    hangup_reason: str = ""
    sip_code: str = ""
    sip_addr: str = ""
    line_id: str = ""
    route_id: str = ""
    agent_group_id: str = ""
    agent_group_name: str = ""
    agent_id: str = ""
    agent_name: str = ""
    manual_start: int | None = None
    manual_answer: int | None = None
    manual_end: int | None = None


@dataclass(frozen=True, slots=True)
class CallFilter:
    start_ts: int | None = None
    end_ts: int | None = None
    call_id: str | None = None
    phone: str | None = None
    call_result: int | None = None
    user_intent: str | None = None
    min_elapsed: int | None = None
    max_elapsed: int | None = None


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    """The dialers' shared timeline: ``origin_sim + (real_ms - origin_real_ms) / 1000 * speed``
    epoch seconds at real time ``real_ms``; ``origin_sim`` whatever the time when ``frozen``
    (the speed is kept for when it runs again)."""

    origin_real_ms: int
    origin_sim: int
    speed: float
    frozen: bool = False

    def at(self, real_ms: int) -> int:
        return self.at_ms(real_ms) // 1000

    def at_ms(self, real_ms: int) -> int:
        """The timeline at ``real_ms``, in epoch milliseconds."""
        if self.frozen:
            return self.origin_sim * 1000
        return self.origin_sim * 1000 + int((real_ms - self.origin_real_ms) * self.speed)

    def moved(self, real_ms: int, *, to: int | None = None, speed: float | None = None,
              frozen: bool | None = None) -> ClockAnchor:  # fmt: skip
        """The timeline from ``real_ms`` on: at ``to`` (epoch s; default where it is now), at
        ``speed`` and ``frozen`` (default as it is)."""
        return ClockAnchor(
            real_ms,
            self.at(real_ms) if to is None else to,
            self.speed if speed is None else speed,
            self.frozen if frozen is None else frozen,
        )


@dataclass(frozen=True, slots=True)
class CounterCheck:
    """``verify-counters``: how many tasks were recomputed, how many seeded tasks were left
    out (their counters were generated), and every difference found."""

    checked: int
    synthetic: int
    differences: list[CounterDifference]


@dataclass(frozen=True, slots=True)
class CounterDifference:
    task_row_id: int
    task_id: str
    counter: str
    stored: int
    recomputed: int


@dataclass(frozen=True, slots=True)
class DialContext:
    """What a call of a task needs besides its order: the task's ring time and agent group,
    its route's profile and price."""

    task_id: str
    max_ring_time: int
    agent_group_id: str
    route_id: str
    answer_probability: float
    talk_seconds_mean: int
    price_per_minute_cents: int
    caller_phone: str
    #: JSON array of the route's line ids.
    line_ids: str
    route_country_code: str


@dataclass(frozen=True, slots=True)
class Lines:
    """A task's lines as a claim finds them, under the task's claim lock."""

    #: Orders being dialled now, by any dialer.
    dialling: int
    #: Of those, held by the claiming dialer.
    mine: int
    #: No call of the task may start before this (``tasks.dial_floor``).
    floor: int


@dataclass(frozen=True, slots=True)
class DialCandidate:
    """A task with at least one pending order due, and the facts the service decides on
    (``nxlink.service.lifecycle.dialable``): the store only reads them."""

    task_row_id: int
    account_id: int
    task_status: int
    max_call: int
    default_max_call: int
    account_enabled: bool
    balance_cents: int
    flow_enabled: bool
    #: False when the task's route does not exist (any more).
    route_enabled: bool
    shutdown_at: int | None
    shutdown_fired: bool
    context: DialContext | None
    #: Orders of the task being dialled now, by any dialer, as read (no lock): a claim skips
    #: a task whose lines were all busy without locking them (``Lines`` is the locked count).
    dialling: int
    #: The task's calling window (``nxlink.service.windows.Window``): days mask and zone.
    week_days: int = EVERY_DAY
    zone_second: int = 0


@dataclass(frozen=True, slots=True)
class WindowWait:
    """The pending orders of the tasks in progress that share one calling window."""

    week_days: int
    zone_second: int
    #: Some order is due at the time asked about (``next_attempt_ts <= now``).
    due_now: bool
    #: The earliest ``next_attempt_ts`` after that time, None if no order falls due later.
    next_due: int | None


@dataclass(frozen=True, slots=True)
class DialerWaits:
    """:meth:`Store.dialer_waits`: the earliest plain event after ``now`` (None: none) and
    the waits of the windowed tasks."""

    earliest: int | None
    windows: tuple[WindowWait, ...] = ()


class LifecycleTx(abc.ABC):
    """The primitives of one lifecycle transaction (``Store.lifecycle()``).

    The rules (which event moves which counter and state, which order is dialled next) live in
    ``nxlink.service``; this object only reads and writes rows, all of them in the one
    transaction it stands for. Every primitive on tenant data names the account.

    The unit of work keeps each touched task's JSON current: :meth:`add_counters`,
    :meth:`update_task` and :meth:`insert_tasks` note the task, and before the transaction
    commits, :meth:`flush_docs` renders each noted task once
    (:func:`nxlink.contract.taskdoc.render`) and stores the bytes. Backends implement the
    underscored primitives and never render JSON themselves.
    """

    def __init__(self) -> None:
        self._touched: dict[tuple[int, int], None] = {}
        self._committed: list[Callable[[], None]] = []

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` once the transaction has committed (never when it rolls back)."""
        self._committed.append(hook)

    # -- the unit of work (concrete: the same for every backend) -----------------------------
    def add_counters(self, account_id: int, task_row_id: int, delta: dict[str, int]) -> None:
        """Add ``delta`` (keys of :data:`STAT_COUNTERS`) to the task's statistics."""
        changes = {name: n for name, n in delta.items() if n}
        if not changes:
            return
        unknown = set(changes) - set(STAT_COUNTERS)
        if unknown:
            raise StoreError(f"unknown counters: {sorted(unknown)}")
        self._bump_counters(account_id, task_row_id, changes)
        self._touched[(account_id, task_row_id)] = None

    def update_task(self, account_id: int, row_id: int, **columns: Any) -> None:
        """Set ``tasks`` columns (``task_status``, ``pause_reason``, ``startup_by``, ...)."""
        unknown = set(columns) - UPDATABLE_TASK_COLUMNS
        if unknown:
            raise StoreError(f"task columns not updatable: {sorted(unknown)}")
        if not columns:
            return
        self._update_task(account_id, row_id, columns)
        if set(columns) - _UNRENDERED_COLUMNS:
            self._touched[(account_id, row_id)] = None

    def insert_task(self, account_id: int, task: NewTask) -> int:
        """Insert a task and its statistics row; return the task's row id."""
        return self.insert_tasks(account_id, [task], synthetic=False)[0]

    def insert_tasks(
        self, account_id: int, tasks: Sequence[NewTask], *, synthetic: bool
    ) -> list[int]:
        """Insert tasks with their statistics rows and their JSON; return their row ids.

        Synthetic (seeded) tasks are history: their schedules count as fired and their
        counters were generated, so ``verify-counters`` leaves them out.
        """
        if not tasks:
            return []
        names = self._flow_names(account_id)
        ids = self._reserve_task_ids(len(tasks))
        rows = []
        for (row_id, stat_id), task in zip(ids, tasks, strict=True):
            stats = {name: task.stats.get(name, 0) for name in STAT_COUNTERS}
            inputs = TaskDocInputs(
                row_id=row_id, stat_id=stat_id, account_id=account_id, task_id=task.task_id,
                user_task_id=task.user_task_id, other=task.other,
                auto_flow_id=task.auto_flow_id, auto_flow_name=names.get(task.auto_flow_id, ""),
                task_status=task.task_status, pause_reason=task.pause_reason,
                task_name=task.task_name, task_desc=task.task_desc, task_keep=task.task_keep,
                startup_type=task.startup_type, startup_at=task.startup_at,
                shutdown_at=task.shutdown_at, startup_by=task.startup_by,
                route_id=task.route_id, max_call=task.max_call, import_type=task.import_type,
                func_flag=task.func_flag, max_ring_time=task.max_ring_time,
                strategy_id=task.strategy_id, agent_group_id=task.agent_group_id,
                task_callback_url=task.task_callback_url, create_ts=task.create_ts,
                order_max_call=task.order_max_call, replay_interval=task.replay_interval,
                **stats,
            )  # fmt: skip
            rows.append(TaskRow(row_id, stat_id, task, render(inputs)))
        self._insert_task_rows(account_id, rows, synthetic=synthetic)
        return [row.row_id for row in rows]

    def task_document(self, account_id: int, task_row_id: int) -> dict[str, Any]:
        """The task object as the task list renders it, as of now in this transaction (what a
        task callback carries)."""
        (inputs,) = self._doc_inputs(account_id, [task_row_id])
        return document(inputs)

    def flush_docs(self) -> None:
        """Render and store the JSON of every task touched in this transaction (each once)."""
        by_account: dict[int, list[int]] = {}
        for account_id, row_id in self._touched:
            by_account.setdefault(account_id, []).append(row_id)
        self._touched.clear()
        for account_id, row_ids in by_account.items():
            docs = [
                (inputs.row_id, inputs.create_ts, render(inputs))
                for inputs in self._doc_inputs(account_id, sorted(row_ids))
            ]
            self._put_docs(account_id, docs)

    # -- reads -------------------------------------------------------------------------------
    @abc.abstractmethod
    def account(self, account_id: int) -> Account: ...

    @abc.abstractmethod
    def account_ids(self) -> list[int]:
        """Every account's id, ascending (accounts are a global, reference table)."""

    @abc.abstractmethod
    def flow(self, account_id: int, flow_id: int) -> Flow | None:
        """An enabled flow of the account."""

    @abc.abstractmethod
    def route(self, account_id: int, route_id: str) -> Route | None:
        """An enabled route of the account."""

    @abc.abstractmethod
    def task(
        self, account_id: int, *, task_id: str | None = None, user_task_id: str | None = None
    ) -> TaskState | None: ...

    @abc.abstractmethod
    def task_by_row(self, account_id: int, row_id: int) -> TaskState: ...

    @abc.abstractmethod
    def task_id_using(self, account_id: int, user_task_id: str) -> str | None:
        """The taskId already using ``user_task_id`` in the account, if any."""

    @abc.abstractmethod
    def task_count(self, account_id: int) -> int:
        """How many tasks the account has, read so that no other transaction adds one to it
        before this one ends (the seeded task ids count on it)."""

    @abc.abstractmethod
    def contacts_taken(self, account_id: int, contact_ids: Sequence[str]) -> list[str]:
        """Those of ``contact_ids`` used before in the account (deleted ones included), in
        the order given."""

    @abc.abstractmethod
    def order(self, account_id: int, task_row_id: int, contact_id: str) -> OrderState | None: ...

    @abc.abstractmethod
    def open_orders(self, account_id: int, task_row_id: int) -> tuple[bool, bool]:
        """``(has an order pending or dialling, has a finished order)``: index seeks only."""

    @abc.abstractmethod
    def tasks_in(self, account_id: int, *, statuses: Sequence[int]) -> list[int]:
        """Row ids of the account's tasks in ``statuses``, ascending."""

    @abc.abstractmethod
    def tasks_using(
        self, account_id: int, *, flow_id: int | None = None, route_id: str | None = None
    ) -> list[int]:
        """Row ids of the account's tasks using a flow or a route, ascending."""

    # -- writes ------------------------------------------------------------------------------
    @abc.abstractmethod
    def insert_orders(
        self, account_id: int, task_row_id: int, orders: Sequence[NewOrder], *, now: int
    ) -> None: ...

    @abc.abstractmethod
    def delete_order(self, account_id: int, order_id: int) -> None:
        """Mark the order deleted (its contact id stays taken)."""

    @abc.abstractmethod
    def add_balance(self, account_id: int, cents: int) -> int:
        """Add ``cents`` (may be negative) to the balance; return the new balance."""

    @abc.abstractmethod
    def set_enabled(self, account_id: int, *, flow_id: int | None = None,
                    route_id: str | None = None, enabled: bool) -> bool:  # fmt: skip
        """Enable or disable a flow or a route of the account; False when it does not exist."""

    @abc.abstractmethod
    def enqueue_callback(
        self,
        account_id: int,
        *,
        kind: str,
        url: str,
        body: bytes,
        event_id: str,
        now_ms: int,
        task_id: str,
    ) -> None:
        """Add a callback to the outbox, due at once; ``task_id`` is the taskId of the task
        it announces (the dashboard lists a task's callbacks by it; the body is not read)."""

    # -- replayed writes ---------------------------------------------------------------------
    @abc.abstractmethod
    def claim_replay(
        self, account_id: int, key: ReplayKey, *, now_ms: int, forget_before_ts: int
    ) -> bytes | None:
        """Reserve ``key`` for this transaction's write and return None; or, when a committed
        write holds it, that write's recorded answer (a transaction holding it now is waited
        for). Keys whose ``ts`` is before ``forget_before_ts`` are forgotten first."""

    @abc.abstractmethod
    def record_replay(self, account_id: int, key: ReplayKey, answer: bytes) -> None:
        """Keep the answer of the write that reserved ``key``."""

    # -- the dialer --------------------------------------------------------------------------
    @abc.abstractmethod
    def dialer_heartbeat(self, dialer_id: str, *, now_ms: int, alive_ms: int) -> int:
        """Note ``dialer_id`` as live until ``now_ms + alive_ms`` (real time; rewritten at most
        every ``alive_ms / 2``), forget dialers not seen since; return how many are live."""

    @abc.abstractmethod
    def forget_dialer(self, dialer_id: str) -> None:
        """``dialer_id`` stopped: it no longer counts among the live dialers."""

    @abc.abstractmethod
    def release_claims(self, account_id: int, *, dialer_id: str) -> int:
        """Put the account's orders ``dialer_id`` holds back to pending, as if never claimed
        (their calls were not placed); return how many."""

    @abc.abstractmethod
    def adopt_expired(
        self, account_id: int, now: int, *, dialer_id: str, lease_until: int
    ) -> list[OrderState]:
        """Atomically take over the account's claims of other dialers whose lease passed by
        ``now`` (oldest lease first); the orders as they are now held by ``dialer_id``."""

    @abc.abstractmethod
    def dial_candidates(self, account_id: int, now: int) -> list[DialCandidate]:
        """The account's tasks with at least one pending order due at ``now``, by row id, with
        the facts that decide whether they may dial and how many of their orders are being
        dialled (a read: nothing is locked). One statement, whose cost grows with the tasks
        and dialling orders of the account, never with their product."""

    @abc.abstractmethod
    def lock_lines(self, account_id: int, task_row_id: int, *, dialer_id: str) -> Lines | None:
        """Lock the task's lines for this transaction and read them (:class:`Lines`); None
        when another transaction is claiming for the task right now (it is skipped, not
        waited for)."""

    @abc.abstractmethod
    def claim_orders(
        self,
        account_id: int,
        task_row_id: int,
        now: int,
        *,
        limit: int,
        dialer_id: str,
        claimed_at: int,
        lease_until: int,
    ) -> list[OrderState]:
        """Claim up to ``limit`` of the task's pending orders due at ``now``, earliest due
        first then by id, for ``dialer_id`` from ``claimed_at`` (the calls' start) until
        ``lease_until``; the orders as claimed."""

    @abc.abstractmethod
    def raise_dial_floor(self, account_id: int, task_row_id: int, ts: int) -> None:
        """Make the task's ``Lines.floor`` at least ``ts`` (it never goes down)."""

    @abc.abstractmethod
    def dial_context(self, account_id: int, task_row_id: int) -> DialContext: ...

    @abc.abstractmethod
    def held_order(
        self, account_id: int, order_id: int, *, dialer_id: str, attempt: int
    ) -> OrderState | None:
        """The order if ``dialer_id`` still holds its claim for ``attempt``."""

    @abc.abstractmethod
    def finish_attempt(
        self, account_id: int, order_id: int, *, finished: bool, answered: bool,
        next_attempt_ts: int,
    ) -> None:  # fmt: skip
        """Record a completed attempt on the order: pending again or finished."""

    @abc.abstractmethod
    def insert_call(self, order: OrderState, call: NewCall) -> int: ...

    @abc.abstractmethod
    def call_facts(self, account_id: int, call_row_id: int) -> CallFacts:
        """The call's facts, rendered by ``nxlink.contract.calldoc``."""

    @abc.abstractmethod
    def due_schedules(self, account_id: int, now: int) -> list[int]:
        """Row ids of the account's tasks whose unfired ``startupAt``/``shutdownAt`` is at or
        before ``now``, ordered by that time then id."""

    # -- the backend's side of the unit of work ----------------------------------------------
    @abc.abstractmethod
    def _bump_counters(self, account_id: int, task_row_id: int, changes: dict[str, int]) -> None:
        """Add the (validated, non-zero) changes to the statistics row."""

    @abc.abstractmethod
    def _update_task(self, account_id: int, row_id: int, columns: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def _flow_names(self, account_id: int) -> dict[int, str]:
        """Every flow of the account (enabled or not): id -> name."""

    @abc.abstractmethod
    def _reserve_task_ids(self, n: int) -> list[tuple[int, int]]:
        """``n`` fresh ``(task row id, statistics id)`` pairs, ascending."""

    @abc.abstractmethod
    def _insert_task_rows(
        self, account_id: int, rows: Sequence[TaskRow], *, synthetic: bool
    ) -> None:
        """Insert the tasks, their statistics rows and their JSON (``TaskRow.doc``)."""

    @abc.abstractmethod
    def _doc_inputs(self, account_id: int, row_ids: Sequence[int]) -> list[TaskDocInputs]:
        """What each task's JSON is rendered from, as of now in this transaction."""

    @abc.abstractmethod
    def _put_docs(self, account_id: int, docs: Sequence[tuple[int, int, bytes]]) -> None:
        """Store ``(row id, create_ts, JSON)`` as the tasks' JSON."""


#: A snapshot's name: letters, digits, ``_`` and ``-``, 1 to 64 of them.
SNAPSHOT_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: What a snapshot holds, in load order (a row's references come first): every table of the
#: sandbox's data. Not in it: the task counts per status, day and hour (derived: they follow the
#: restored tasks, by the triggers that keep them), and the tables of :data:`NOT_SNAPSHOTTED`.
SNAPSHOT_TABLES: Final[tuple[str, ...]] = (
    "accounts", "access_keys", "flows", "routes", "tasks", "task_stats", "task_pages",
    "orders", "calls", "outbox", "outbox_attempts", "write_replays", "master_key_check",
)  # fmt: skip
#: Tables a restore leaves as they are: the shared simulator clock and the live dialers (they
#: belong to the running processes, not to the data), the callback faults (controls of the
#: sandbox, like the clock), the schema's history, the rate buckets, the dashboard's sessions
#: (a restore drops only those whose access key it does not bring back).
NOT_SNAPSHOTTED: Final[tuple[str, ...]] = (
    "sim_clock", "dialers", "callback_faults", "schema_migrations", "rate_buckets",
    "ui_sessions",
)  # fmt: skip
#: The derived task counts (kept by triggers on ``tasks``).
COUNT_TABLES: Final[tuple[str, ...]] = (
    "account_task_counts", "account_day_counts", "account_status_day_counts",
    "account_hour_counts", "account_status_hour_counts",
)  # fmt: skip


class SnapshotError(StoreError):
    """A snapshot refused: a bad name, or one made by another schema version."""


class SnapshotMissing(SnapshotError):
    """No snapshot of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"snapshot {name!r}: no such snapshot")
        self.name = name


def snapshot_name(raw: str) -> str:
    """``raw`` when it is a valid snapshot name (:data:`SNAPSHOT_NAME`), else SnapshotError."""
    if not SNAPSHOT_NAME.fullmatch(raw):
        raise SnapshotError(f"snapshot name {raw[:80]!r}: expected 1 to 64 letters, digits, "
                            "'_' or '-'")  # fmt: skip
    return raw


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    name: str
    created_ms: int
    schema_version: int
    #: How many tasks it holds (every account's).
    tasks: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "createdMs": self.created_ms,
                "schemaVersion": self.schema_version, "tasks": self.tasks}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cleared:
    """How many rows a reset deleted."""

    tasks: int = 0
    orders: int = 0
    calls: int = 0
    callbacks: int = 0
    replays: int = 0
    keys: int = 0
    flows: int = 0
    routes: int = 0

    def __add__(self, other: Cleared) -> Cleared:
        return Cleared(*(a + b for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple[int, ...]:
        return (self.tasks, self.orders, self.calls, self.callbacks, self.replays, self.keys,
                self.flows, self.routes)  # fmt: skip

    def to_json(self) -> dict[str, int]:
        return {"tasks": self.tasks, "orders": self.orders, "calls": self.calls,
                "callbacks": self.callbacks, "replays": self.replays, "keys": self.keys,
                "flows": self.flows, "routes": self.routes}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task to insert with its allocated ids and rendered JSON."""

    row_id: int
    stat_id: int
    task: NewTask
    doc: bytes


# -- the dashboard ----------------------------------------------------------------------------

#: How a dashboard session's token is stored: the SHA-256 of its UTF-8, in lowercase hex.
UI_TOKEN_HASH: Final = re.compile(r"[0-9a-f]{64}")
#: A session's ``last_seen_ms`` moves at most this often (a page view is not a write).
UI_SEEN_EVERY_MS: Final = 60_000
#: The longest CSRF token a session keeps.
UI_CSRF_MAX: Final = 256
#: The states of a contact, in the order of their life; the contacts page shows the first
#: three unless asked for the deleted ones.
ORDER_STATES: Final[tuple[str, ...]] = ("pending", "dialling", "finished", "deleted")


def ui_token_hash(token: str) -> str:
    """What a dashboard session's cookie token is stored and looked up as
    (:data:`UI_TOKEN_HASH`): a database read never yields a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UiSession:
    """A dashboard session: made by signing in with ``access_key`` and its secret, live until
    ``expires_ms`` (real time, epoch ms; fixed, never slid) while the key and its account are
    enabled."""

    token_hash: str
    account_id: int
    access_key: str
    csrf_token: str
    created_ms: int
    expires_ms: int
    #: Last time it was used, to the minute (:data:`UI_SEEN_EVERY_MS`).
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class OrderRow:
    """A contact of a task as its contacts page shows it (times: the dialer's clock, epoch s)."""

    contact_id: str
    name: str
    phone: str
    state: str  # one of ORDER_STATES
    attempts: int
    answered: bool
    next_attempt_ts: int
    created_ts: int


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of a task's contacts, newest first, and how many there are in all."""

    total: int
    orders: tuple[OrderRow, ...]


@dataclass(frozen=True, slots=True)
class ActivityBucket:
    """A task's calls that started in ``[start_ts, start_ts + bucket)``, and how many of them
    were answered (dialer clock, epoch s)."""

    start_ts: int
    calls: int
    answered: int


#: Columns of ``tasks`` the lifecycle may set.
UPDATABLE_TASK_COLUMNS: Final = frozenset({
    "task_status", "pause_reason", "startup_by", "startup_fired", "shutdown_fired",
})  # fmt: skip
#: Of those, the ones the task object does not show.
_UNRENDERED_COLUMNS: Final = frozenset({"startup_fired", "shutdown_fired"})


class Store(OutboxStore):
    """One database. Methods are synchronous; every write is one transaction."""

    url: str
    _box: SecretBox | None = None

    # -- secrets at rest -------------------------------------------------------------------
    def unlock(self, source: MasterKeySource | None = None) -> SecretBox:
        """Open the database's sealed secrets with the master key (``source``, default the
        environment: :class:`~nxlink.store.secretbox.MasterKeySource`).

        A database without a key check yet (new, or from before secrets were sealed) gets
        one, and every plaintext secret is sealed, in one transaction. A missing or wrong key
        raises :class:`~nxlink.store.secretbox.MasterKeyError`.
        """
        from nxlink.store import secretbox

        source = source if source is not None else secretbox.MasterKeySource.from_env()
        for _ in range(3):  # another process may be sealing the same database right now
            box, new = secretbox.unlock(source, self._key_check())
            if not new:
                self._box = box
                return box

            def seal_plain(access_key: str, value: str, box: SecretBox = box) -> str:
                if secretbox.is_sealed(value):
                    return value
                return box.seal(secretbox.secret_purpose(access_key), value)

            if self._reseal(seal_plain, box.key_id, box.check(), expected=None) is not None:
                self._box = box
                return box
        raise secretbox.MasterKeyError("the database's key check kept changing; try again")

    def rotate_master(self, new: SecretBox) -> int:
        """Seal every secret under ``new`` instead, in one transaction; returns how many."""
        from nxlink.store import secretbox

        old = self.secrets

        def reseal(access_key: str, value: str) -> str:
            purpose = secretbox.secret_purpose(access_key)
            return new.seal(purpose, old.open(purpose, value))

        stored = self._key_check()
        count = self._reseal(reseal, new.key_id, new.check(),
                             expected=None if stored is None else stored[1])  # fmt: skip
        if count is None:
            raise secretbox.MasterKeyError("the database's key check changed; try again")
        self._box = new
        return count

    # -- rate limits -------------------------------------------------------------------------
    @abc.abstractmethod
    def take_token(self, access_key: str, *, now_ms: int, limit: Limit) -> float:
        """One request of ``access_key`` under ``limit`` (:mod:`nxlink.store.ratelimit`):
        0 when it may go on, else the milliseconds until it could."""

    @property
    def secrets(self) -> SecretBox:
        """The unlocked master key (:meth:`unlock`; ``open_store`` does it)."""
        if self._box is None:
            raise StoreError(f"{self.url}: secrets are locked (open it with open_store)")
        return self._box

    def seal_secret(self, access_key: str, secret: str) -> str:
        from nxlink.store.secretbox import secret_purpose

        return self.secrets.seal(secret_purpose(access_key), secret)

    def open_secret(self, access_key: str, stored: str) -> str:
        from nxlink.store.secretbox import secret_purpose

        return self.secrets.open(secret_purpose(access_key), stored)

    @abc.abstractmethod
    def _key_check(self) -> tuple[str, str] | None:
        """The stored ``(key_id, check)``, None before the first :meth:`unlock`."""

    @abc.abstractmethod
    def _reseal(
        self, change: Callable[[str, str], str], key_id: str, check: str, *, expected: str | None
    ) -> int | None:
        """In one write transaction, if the stored check is still ``expected``: replace every
        access key's stored secret by ``change(access_key, stored)``, store ``check`` (of key
        ``key_id``), and return how many secrets changed; None when the check moved. Leaves
        no old secret readable in the database's files."""

    # -- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> list[int]:
        """Create or upgrade the schema; return the versions applied now."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The highest applied migration, 0 for an empty database."""

    @abc.abstractmethod
    def known_migrations(self) -> list[tuple[int, str]]:
        """Every migration this version of nxlink has for the backend: ``(version, file
        name)``, ascending (``nxlink db current`` shows the latest)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release every connection."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""

    # -- accounts and keys -----------------------------------------------------------------
    @abc.abstractmethod
    def create_account(self, name: str, *, now: int) -> Account: ...

    @abc.abstractmethod
    def get_account(self, name: str) -> Account | None: ...

    @abc.abstractmethod
    def list_accounts(self) -> list[Account]: ...

    @abc.abstractmethod
    def set_account_callbacks(
        self,
        account_id: int,
        *,
        task_url: str | None = None,
        call_url: str | None = None,
        signed: bool | None = None,
    ) -> Account:
        """Set the account's default callback URLs (``""`` clears one) and whether its
        callbacks are signed; ``None`` leaves a setting as it is. Returns the account after."""

    @abc.abstractmethod
    def create_key(
        self, account_id: int, *, access_key: str, secret: str, now: int
    ) -> AccessKey: ...

    @abc.abstractmethod
    def list_keys(self) -> list[AccessKey]: ...

    @abc.abstractmethod
    def revoke_key(self, access_key: str, *, now: int) -> bool:
        """Revoke a key; False when no such enabled key exists."""

    @abc.abstractmethod
    def key_auth(self, access_key: str) -> KeyAuth | None:
        """The account and secret of an enabled key of an enabled account, else None."""

    # -- flows and routes ------------------------------------------------------------------
    @abc.abstractmethod
    def create_flow(
        self, account_id: int, *, name: str, variables: Sequence[str], now: int
    ) -> Flow: ...

    @abc.abstractmethod
    def list_flows(self, account_id: int) -> list[Flow]: ...

    @abc.abstractmethod
    def create_route(
        self,
        account_id: int,
        *,
        route_id: str,
        name: str,
        country_code: str,
        price_per_minute_cents: int,
        answer_probability: float,
        talk_seconds_mean: int,
        now: int,
        caller_phone: str = "",
        line_ids: Sequence[str] = (),
    ) -> Route: ...

    @abc.abstractmethod
    def list_routes(self, account_id: int) -> list[Route]: ...

    # -- tasks -----------------------------------------------------------------------------
    def insert_tasks(self, account_id: int, tasks: Iterable[NewTask]) -> int:
        """Insert seeded (synthetic) tasks in one transaction; return how many."""
        with self.lifecycle() as tx:
            return len(tx.insert_tasks(account_id, list(tasks), synthetic=True))

    @abc.abstractmethod
    def count_tasks(self, account_id: int) -> int: ...

    @abc.abstractmethod
    def task_page(
        self, account_id: int, flt: TaskFilter, *, offset: int, limit: int
    ) -> tuple[int, list[bytes]]:
        """``(total, tasks)`` from one consistent read, ordered ``create_ts desc, id desc``.

        Each task is the UTF-8 JSON of the wire task object, as stored by the unit of work.
        """

    @abc.abstractmethod
    def task_doc(self, account_id: int, task_id: str) -> bytes | None:
        """One task's wire object (UTF-8 JSON, as the task list sends it), or None when the
        account has no such task."""

    @abc.abstractmethod
    def analyze(self) -> None:
        """Refresh the planner's statistics (after a bulk load)."""

    # -- the life of tasks -------------------------------------------------------------------
    @contextlib.contextmanager
    def lifecycle(self) -> Iterator[LifecycleTx]:
        """One write transaction for a lifecycle event: committed when the block ends, rolled
        back (nothing written) when it raises. Touched tasks' JSON is re-rendered before the
        commit, in the same transaction. Opened inside another one of the same thread, it is
        that one (so a request's writes and its replay record commit together)."""
        joined: LifecycleTx | None = getattr(self._units, "tx", None)
        if joined is not None:  # a unit of work of this thread is open: this is part of it
            yield joined
            return
        with self._transaction() as tx:
            self._units.tx = tx
            try:
                yield tx
                tx.flush_docs()
            finally:
                self._units.tx = None
        for hook in tx._committed:
            hook()

    @functools.cached_property
    def _units(self) -> threading.local:
        """The unit of work open in each thread, which a nested :meth:`lifecycle` joins."""
        return threading.local()

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[LifecycleTx]:
        """The backend's write transaction and its primitives."""

    @abc.abstractmethod
    def call_page(
        self, account_id: int, task_id: str, flt: CallFilter, *, offset: int, limit: int
    ) -> tuple[int, list[CallFacts]] | None:
        """``(total, calls)`` of one task newest first, or None for an unknown task."""

    @abc.abstractmethod
    def call_by_id(self, call_id: str) -> CallFacts | None:
        """The call with ``callId`` in any account (call ids are unique), for its
        recording."""

    @abc.abstractmethod
    def join_sim_clock(self, *, speed: float, real_ms: int) -> ClockAnchor:
        """The shared timeline at ``speed``: the current one when it runs at that speed or is
        frozen, else a new one continuing from the current one's present (or from real time
        when none)."""

    @abc.abstractmethod
    def set_sim_clock(self, anchor: ClockAnchor) -> None:
        """Replace the shared timeline (the sandbox's clock controls)."""

    @abc.abstractmethod
    def sim_clock(self) -> ClockAnchor | None:
        """The shared timeline as it is now (another simulator may have changed its speed)."""

    @abc.abstractmethod
    def dialer_waits(self, now: int, *, dialer_id: str) -> DialerWaits:
        """What a dialer may have to do after ``now`` (dialer clock) besides its own calls,
        from one read (no lock taken): the earliest time another dialer's lease passes, a
        schedule fires or a pending order of a task in progress falls due (whatever its
        window), and the waits of the tasks in progress with a calling window, one per
        window. The service turns them into the dialer's next event
        (``lifecycle.next_dialer_event``)."""

    def recompute_counters(self) -> CounterCheck:
        """Every task's counters recomputed from its orders and calls (one snapshot), with
        the one definition of each counter (:mod:`nxlink.store.recount`) on every backend."""
        from nxlink.store import recount

        with self._snapshot() as query:
            return recount.check(query)

    # -- copying a whole database (nxlink.store.copy) ---------------------------------------
    @abc.abstractmethod
    def count_rows(self, table: Table) -> int:
        """How many rows ``table`` holds (every account's)."""

    @abc.abstractmethod
    def dump_rows(self, table: Table, *, batch: int) -> Iterator[list[tuple[Any, ...]]]:
        """Every row of ``table`` in ``table.order`` (account by account for tenant tables),
        as tuples of ``table.columns``, ``batch`` rows at a time; bytes columns as bytes."""

    @abc.abstractmethod
    def loading(self) -> contextlib.AbstractContextManager[Loader]:
        """One write transaction loading copied rows, as they are (ids included); when it
        commits, id allocation continues after the highest id loaded."""

    @abc.abstractmethod
    def _snapshot(self) -> contextlib.AbstractContextManager[Query]:
        """One consistent read; yields a function running portable SQL (``?`` parameters)."""

    # -- the sandbox's reset and snapshots (nxlink.server.admin) ----------------------------
    @abc.abstractmethod
    def reset_account(self, account_id: int | None, *, catalog: bool) -> Cleared:
        """Delete, in one transaction, the runtime data of one account (every account for
        None): its tasks (their statistics, JSON and counts), contacts, calls, callbacks and
        write replays; with ``catalog`` its access keys, flows and routes too. The account
        itself, its balance and the shared simulator clock stay."""

    @abc.abstractmethod
    def take_snapshot(self, name: str, *, now_ms: int) -> SnapshotInfo:
        """Copy the tables of :data:`SNAPSHOT_TABLES` as they are now (one consistent read)
        under ``name``, replacing a snapshot of that name."""

    @abc.abstractmethod
    def restore_snapshot(self, name: str) -> SnapshotInfo:
        """Put the snapshot's tables back in one transaction (the tables of
        :data:`NOT_SNAPSHOTTED` keep their rows); SnapshotMissing when there is none."""

    @abc.abstractmethod
    def list_snapshots(self) -> list[SnapshotInfo]:
        """This database's snapshots, by name."""

    @abc.abstractmethod
    def delete_snapshot(self, name: str) -> bool:
        """Remove a snapshot; whether there was one."""

    # -- the dashboard: sessions -------------------------------------------------------------
    # Sessions are not account data: reset_account keeps them (the user stays signed in)
    # unless it deletes the account's keys (catalog), a snapshot holds none (ui_sessions is in
    # NOT_SNAPSHOTTED), a restore keeps those whose key it restores, and a copy between
    # databases leaves them behind (nxlink.store.copy.TABLES): they are ephemeral.
    def create_ui_session(
        self,
        *,
        token_hash: str,
        account_id: int,
        access_key: str,
        csrf_token: str,
        now_ms: int,
        ttl_ms: int,
    ) -> UiSession:
        """A new session of ``access_key`` (an enabled key of the enabled ``account_id``: the
        caller has checked its secret) until ``now_ms + ttl_ms``. Expired sessions are purged
        in the same transaction, so the table holds only live ones and those of the last
        ``ttl_ms``."""
        if not UI_TOKEN_HASH.fullmatch(token_hash):
            raise StoreError("token_hash: expected the 64 lowercase hex digits of a SHA-256 "
                             "(ui_token_hash)")  # fmt: skip
        if not csrf_token or len(csrf_token) > UI_CSRF_MAX or "\0" in csrf_token:
            raise StoreError(f"csrf_token: expected 1 to {UI_CSRF_MAX} characters, no NUL")
        if "\0" in access_key:
            raise StoreError("access_key: contains NUL")
        if ttl_ms < 1:
            raise StoreError(f"ttl_ms {ttl_ms}: expected 1 or more")
        session = UiSession(token_hash, account_id, access_key, csrf_token, now_ms,
                            now_ms + ttl_ms, now_ms)  # fmt: skip
        if not self._insert_ui_session(session):
            raise StoreError(f"access key {access_key!r}: no enabled key of enabled account "
                             f"{account_id}")  # fmt: skip
        return session

    @abc.abstractmethod
    def _insert_ui_session(self, session: UiSession) -> bool:
        """In one write transaction: purge sessions expired at ``session.created_ms`` and
        insert ``session`` if its key is an enabled key of its enabled account (False when
        not; StoreError for a token hash already used)."""

    def ui_session(self, token_hash: str, *, now_ms: int) -> UiSession | None:
        """The live session of ``token_hash``: None when unknown, expired (``expires_ms <=
        now_ms``), or when its access key is revoked or disabled or its account disabled.
        Its ``last_seen_ms`` becomes ``now_ms`` when it is :data:`UI_SEEN_EVERY_MS` old or
        more (a write at most once a minute per session, not per page view)."""
        if not UI_TOKEN_HASH.fullmatch(token_hash):
            return None
        found = self._live_ui_session(token_hash, now_ms=now_ms)
        if found is None or now_ms - found.last_seen_ms < UI_SEEN_EVERY_MS:
            return found
        try:
            self._touch_ui_session(token_hash, now_ms=now_ms)
        except StoreUnavailable:
            # Bookkeeping only: a page view is not refused because the writer is busy (a long
            # import holds SQLite's one writer); the next request past the minute tries again.
            return found
        return UiSession(found.token_hash, found.account_id, found.access_key,
                         found.csrf_token, found.created_ms, found.expires_ms, now_ms)  # fmt: skip

    @abc.abstractmethod
    def _live_ui_session(self, token_hash: str, *, now_ms: int) -> UiSession | None:
        """The session if live at ``now_ms`` (one statement joining its key and account)."""

    @abc.abstractmethod
    def _touch_ui_session(self, token_hash: str, *, now_ms: int) -> None:
        """Set ``last_seen_ms = now_ms`` unless another request already moved it as far."""

    def end_ui_session(self, token_hash: str) -> bool:
        """Sign out: delete the session; whether there was one."""
        if not UI_TOKEN_HASH.fullmatch(token_hash):
            return False
        return self._delete_ui_session(token_hash)

    @abc.abstractmethod
    def _delete_ui_session(self, token_hash: str) -> bool: ...

    @abc.abstractmethod
    def purge_ui_sessions(self, *, now_ms: int) -> int:
        """Delete the sessions expired at ``now_ms``; how many."""

    # -- the dashboard: a task's contacts and calls ------------------------------------------
    def order_page(
        self,
        account_id: int,
        task_row_id: int,
        *,
        state: str | None,
        page_number: int,
        page_size: int,
    ) -> OrderPage:
        """Page ``page_number`` (1 first) of the task's contacts in ``state`` (one of
        :data:`ORDER_STATES`; None: every one but the deleted), newest first (by id), with
        their total, from one consistent read. Another account's task has none."""
        if state is not None and state not in ORDER_STATES:
            raise StoreError(f"contact state {state!r}: expected one of "
                             f"{', '.join(ORDER_STATES)}")  # fmt: skip
        if page_number < 1:
            raise StoreError(f"page_number {page_number}: expected 1 or more")
        if page_size < 1:
            raise StoreError(f"page_size {page_size}: expected 1 or more")
        states = ORDER_STATES[:3] if state is None else (state,)
        return self._order_page(account_id, task_row_id, states=states,
                                offset=(page_number - 1) * page_size, limit=page_size)  # fmt: skip

    @abc.abstractmethod
    def _order_page(
        self, account_id: int, task_row_id: int, *, states: Sequence[str], offset: int,
        limit: int,
    ) -> OrderPage:  # fmt: skip
        """:meth:`order_page` with its arguments checked: the contacts in ``states``."""

    def call_activity(
        self, account_id: int, task_row_id: int, *, bucket_s: int
    ) -> list[ActivityBucket]:
        """The task's calls by start time (``create_ts // bucket_s * bucket_s``), ascending,
        only buckets that have calls: one GROUP BY over the task's calls."""
        if bucket_s < 1:
            raise StoreError(f"bucket_s {bucket_s}: expected 1 or more")
        return self._call_activity(account_id, task_row_id, bucket_s=bucket_s)

    @abc.abstractmethod
    def _call_activity(
        self, account_id: int, task_row_id: int, *, bucket_s: int
    ) -> list[ActivityBucket]: ...

    @abc.abstractmethod
    def call_results(self, account_id: int, task_row_id: int) -> dict[int, int]:
        """How many of the task's calls ended with each ``result`` code (codes with none left
        out), ascending by code: one GROUP BY."""
