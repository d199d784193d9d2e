"""The results the endpoints answer besides tasks and calls, and the callback bodies.

Each model is the one declaration of its object's wire form: the OpenAPI document and the
reference in ``docs/`` read their fields, types and meaning from here. The task object is
:mod:`nxlink.contract.task`'s, the call record :mod:`nxlink.contract.callrecord`'s; the
callback bodies carry them at the top level (the vendor's shape), and their models are made
from those declarations rather than written again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from nxlink.contract.callrecord import CallRecord
from nxlink.contract.task import StatInfo, Task

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


def _carrying(name: str, doc: str, carried: type[BaseModel], **own: Any) -> type[_Event]:
    """The model of a callback body: the event's keys (``eventId``, ``eventType``,
    ``eventTs``), then ``carried``'s keys at the top level, as the vendor posts them.

    ``carried``'s fields are read from its declaration (one declaration of each object), every
    one required since the body always has it; ``own`` adds or replaces fields, as
    ``(type, FieldInfo)``.
    """
    fields: dict[str, Any] = {
        attr: (info.annotation, Field(description=info.description))
        for attr, info in carried.model_fields.items()
    }
    fields.update(own)
    model: type[_Event] = create_model(
        name, __base__=_Event, __doc__=doc, __module__=__name__, **fields
    )
    return model


TaskStatusEvent = _carrying(
    "TaskStatusEvent",
    "POSTed to the task's ``taskCallbackUrl`` (else the account's default task callback URL) "
    "on every status change of the task: the task object as the task list shows it after the "
    "change, ``statInfo`` included, at the top level.",
    Task,
    event_type=(Literal["task.status"], Field(description="A task status change.")),
    task_status=(
        Literal[1, 2, 3, 4, 5, 6],
        Field(description="The new status: 1 ready, 2 in progress, 3 completed, 4 failed, "
              "5 paused, 6 paused: insufficient balance."),
    ),
    pause_reason=(
        Literal[1, 2, 3] | None,
        Field(description="Set while the status is 5 or 6, else null: 1 user, 2 scheduled "
              "shutdown, 3 insufficient balance."),
    ),
    stat_info=(StatInfo, Field(description="The task's statistics when the event was written.")),
)  # fmt: skip

CallCompletedEvent = _carrying(
    "CallCompletedEvent",
    "POSTed for every completed call to its ``callCallbackUrl`` (the contact's from "
    "``call/append``, else the task's, else the account's default): the call record as "
    "``call/list`` shows it, and the contact's ``other``, at the top level.",
    CallRecord,
    event_type=(Literal["call.completed"], Field(description="A call of the task completed.")),
    other=(str, Field(description="The contact's ``other`` from ``call/append``, returned "
                      "unchanged.")),
)  # fmt: skip
