"""The results the endpoints answer besides tasks and calls, and the callback bodies.

Each model is the one declaration of its object's wire form: the OpenAPI document and the
reference in ``docs/`` read their fields, types and meaning from here. The task object is
:mod:`nxlink.contract.task`'s, the call record :mod:`nxlink.contract.callrecord`'s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from nxlink.contract.callrecord import CallEvent
from nxlink.contract.task import StatInfo

__all__ = [
    "CallCompletedEvent",
    "ContactDeleted",
    "ContactsAppended",
    "Flow",
    "Route",
    "TaskCreated",
    "TaskState",
    "TaskStatusEvent",
]


class _Answer(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


class TaskCreated(_Answer):
    """``task/create``'s result."""

    task_id: str
    """The new task's ``taskId`` (a UUID)."""


class ContactsAppended(_Answer):
    """``call/append``'s result."""

    task_id: str
    """The task's ``taskId``."""
    count: int
    """How many contacts were imported (all of the request's)."""


class ContactDeleted(_Answer):
    """``order/delete``'s (and ``call/delete``'s) result."""

    task_id: str
    """The task's ``taskId``."""
    contact_id: str
    """The deleted contact's ``contactId``."""


class TaskState(_Answer):
    """``task/start``'s and ``task/pause``'s result: the task's state after the call."""

    task_id: str
    """The task's ``taskId``."""
    task_status: Literal[1, 2, 3, 4, 5, 6]
    """1 ready, 2 in progress, 3 completed, 4 failed, 5 paused, 6 paused: insufficient
    balance."""
    pause_reason: Literal[1, 2, 3] | None
    """Set while the status is 5 or 6, else null: 1 user, 2 scheduled shutdown, 3 insufficient
    balance."""


class Flow(_Answer):
    """An enabled AI agent (flow) of the account."""

    auto_flow_id: int
    """The flow's id, for ``autoFlowId`` in ``task/create``."""
    auto_flow_name: str
    """The flow's name."""
    variables: list[str]
    """The variable names the flow accepts in a contact's ``params``."""
    create_ts: int
    """Creation time, epoch seconds."""


class Route(_Answer):
    """An enabled call route of the account."""

    route_id: str
    """The route's id, for ``routeId`` in ``task/create``."""
    route_name: str
    """The route's name."""
    country_code: str
    """Country calling code of the route."""
    price_per_minute: int
    """Price in cents per answered minute."""
    create_ts: int
    """Creation time, epoch seconds."""


class _Event(_Answer):
    event_id: str
    """32 lowercase hex characters, also the ``X-Nxlink-Event-Id`` header; every try of one
    delivery carries the same id, so a receiver can drop duplicates."""
    event_type: str
    """What happened."""
    event_ts: int
    """When the event happened, epoch milliseconds."""


class TaskStatusEvent(_Event):
    """POSTed to the task's ``taskCallbackUrl`` on every status change of the task."""

    event_type: Literal["task.status"]
    """A task status change."""
    task_id: str
    """The task's ``taskId``."""
    user_task_id: str
    """The task's ``userTaskId``, ``""`` when not given."""
    other: str
    """The task's pass-through ``other``."""
    auto_flow_id: int
    """The task's AI agent (flow)."""
    auto_flow_name: str
    """The AI agent's name."""
    task_name: str
    """The task's name."""
    task_status: Literal[1, 2, 3, 4, 5, 6]
    """The new status."""
    pause_reason: Literal[1, 2, 3] | None
    """Set while the status is 5 or 6, else null."""
    stat_info: StatInfo
    """The task's statistics when the event was written."""


class CallCompletedEvent(_Event):
    """POSTed to the call's ``callCallbackUrl`` for every completed call."""

    event_type: Literal["call.completed"]
    """A call of the task completed."""
    call: CallEvent
    """The call, as ``call/list`` shows it, with the contact's ``other``."""
