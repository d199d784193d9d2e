"""The task object of the task list (``task-list.md``): :class:`Task` and :class:`StatInfo`.

The one declaration of the task object's fields, their wire names and meaning: the client reads
answers with these models, and the OpenAPI document and the reference in ``docs/`` describe the
task object from them. The models are tolerant readers (unknown keys are kept in
``model_extra``, keys the contract marks optional may be missing, numbers sent where a string is
expected become strings); this server sends every key of the task object and of ``statInfo``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from nxlink.contract.codes import TaskStatus

__all__ = ["StatInfo", "Task", "Wire", "rate_pct"]


def rate_pct(value: str | None) -> float | None:
    """A rate string such as ``"66.67%"`` as the float ``66.67``; ``None`` stays ``None``.

    A bare number (``"66.67"``) is read the same way; anything unreadable gives ``None``.
    """
    if value is None:
        return None
    text = value.strip().removesuffix("%").strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="allow",
        frozen=True,
        coerce_numbers_to_str=True,
        use_attribute_docstrings=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object with its wire (camelCase) keys, as the service sent it.

        Keys the service did not send are left out; unknown keys it sent are kept.
        """
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class StatInfo(Wire):
    """A task's statistics (``statInfo``): counters, and rates and averages derived from them."""

    id: int | None = None
    """Internal row id of the statistics row."""
    task_id: str | None = None
    """Copy of the task's ``taskId``."""
    auto_flow_id: int | None = None
    """Copy of the task's ``autoFlowId``."""
    answer_order_count: int = 0
    """Finished contacts with at least one answered call."""
    finish_order_count: int = 0
    """Contacts that will not be called again."""
    total_order_count: int = 0
    """Contacts imported (minus deleted ones)."""
    dialed_order_count: int = 0
    """Contacts whose first call attempt has completed."""
    total_call_elapsed: int = 0
    """Seconds of talk over all answered calls."""
    answer_call_count: int = 0
    """Completed calls that were answered."""
    total_call_count: int = 0
    """Completed calls."""
    manual_elapsed: int = 0
    """Seconds of talk with a human agent."""
    manual_answer_count: int = 0
    """Transfers to a human agent that were answered."""
    manual_fail_count: int = 0
    """Transfers to a human agent that failed."""
    create_ts: int | None = None
    """Copy of the task's ``createTs`` (epoch seconds)."""
    answer_rate: str | None = None
    """``answerCallCount / totalCallCount`` as ``"66.67%"``; ``None`` before the first call."""
    dial_progress: str | None = None
    """``dialedOrderCount / totalOrderCount`` as ``"66.67%"``; ``None`` without contacts."""
    finish_rate: str | None = None
    """``finishOrderCount / totalOrderCount`` as ``"66.67%"``; ``None`` without contacts."""
    manual_answer_rate: str | None = None
    """Answered share of transfers to a human, as ``"66.67%"``; ``None`` without transfers."""
    avg_call_duration: int | None = None
    """Seconds of talk per answered call, rounded down; ``None`` before the first answer."""
    avg_manual_duration: int | None = None
    """Seconds of human talk per answered transfer, rounded down; ``None`` without one."""

    @property
    def answer_rate_pct(self) -> float | None:
        """:attr:`answer_rate` as a float on the 0–100 scale (``66.67``), or ``None``."""
        return rate_pct(self.answer_rate)

    @property
    def dial_progress_pct(self) -> float | None:
        """:attr:`dial_progress` as a float on the 0–100 scale, or ``None``."""
        return rate_pct(self.dial_progress)

    @property
    def finish_rate_pct(self) -> float | None:
        """:attr:`finish_rate` as a float on the 0–100 scale, or ``None``."""
        return rate_pct(self.finish_rate)

    @property
    def manual_answer_rate_pct(self) -> float | None:
        """:attr:`manual_answer_rate` as a float on the 0–100 scale, or ``None``."""
        return rate_pct(self.manual_answer_rate)


class Task(Wire):
    """One outbound task, as the task list answers it."""

    id: int
    """Internal row id; unique, and the tie-breaker of the list's order."""
    task_id: str
    """The task's UUID, assigned at creation."""
    saas_user_id: int | None = None
    """The owning account."""
    user_task_id: str = ""
    """The caller's own id for the task, ``""`` when not given."""
    other: str = ""
    """Pass-through text from creation, returned unchanged."""
    auto_flow_id: int | None = None
    """The AI agent (flow) that makes the calls."""
    auto_flow_name: str = ""
    """The AI agent's name."""
    task_status: int
    """1 ready, 2 in progress, 3 completed, 4 failed, 5 paused, 6 paused: insufficient balance.

    Compare with :class:`~nxlink.TaskStatus`; :attr:`status` gives the enum member."""
    pause_reason: int | None = None
    """While paused: 1 by a user, 2 scheduled shutdown, 3 insufficient balance."""
    task_name: str
    """The task's name."""
    task_desc: str = ""
    """The task's description."""
    task_keep: int | None = None
    """0 ends when every contact is done, 1 stays open for appended contacts."""
    startup_type: int | None = None
    """0 none, 1 manual, 2 scheduled, 3 immediate."""
    startup_at: int | None = None
    """Scheduled start, epoch seconds."""
    shutdown_at: int | None = None
    """Scheduled pause, epoch seconds."""
    startup_by: str = ""
    """Who started it (manual start)."""
    route_id: str = ""
    """The call route."""
    max_call: int | None = None
    """Most concurrent calls, 0 for the account's default."""
    import_type: int | None = None
    """How contacts came: 0 API, 1 file, 2 console."""
    func_flag: int | None = None
    """Feature bit set, 0 when none."""
    max_ring_time: int | None = None
    """Ring time in seconds, 0 for the route's default."""
    strategy_id: str = ""
    """Calling strategy."""
    agent_group_id: str = ""
    """Human agent group for transfers, ``""`` when none."""
    task_callback_url: str = ""
    """Where task status callbacks go."""
    create_ts: int
    """Creation time, epoch seconds."""
    stat_info: StatInfo = Field(default_factory=StatInfo)
    """The task's statistics."""
    order_max_call: int | None = None
    """Attempts per contact."""
    replay_interval: int | None = None
    """Seconds between attempts on one contact."""

    @property
    def status(self) -> TaskStatus | None:
        """:attr:`task_status` as a :class:`~nxlink.TaskStatus`, ``None`` if unknown."""
        try:
            return TaskStatus(self.task_status)
        except ValueError:
            return None

    @property
    def created_at(self) -> dt.datetime:
        """:attr:`create_ts` as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.create_ts, dt.UTC)
