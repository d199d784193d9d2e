"""The call record: the vendor's whole call object, as ``call/list`` answers it and the call
callback sends it, at the top level of its body (``lifecycle.md``, "Call results";
``decisions.md`` #20).

:class:`CallRecord` is the one declaration of its fields: their wire names, order, types and
meaning. The renderer, the OpenAPI document, the reference in ``docs/``, the call callback's
model (:class:`~nxlink.contract.answers.CallCompletedEvent`) and the tests read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

#: ``callResult`` values (``lifecycle.md``, "Call results").
CALL_RESULTS: Final = (1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21)
#: What each ``callResult`` means, in words (the documents and the dashboard say it so).
CALL_RESULT_NAMES: Final[dict[int, str]] = {
    1: "answered, conversation completed",
    2: "no answer before maxRingTime",
    3: "answered, callee hung up early",
    4: "busy",
    5: "rejected by the callee",
    6: "unreachable / powered off",
    7: "invalid number",
    8: "blocked (do-not-call, carrier block)",
    9: "route or network failure",
    17: "answered and transferred to a human",
    21: "answering machine / voicemail",
}
#: Results with a conversation: they count as answered.
ANSWERED_RESULTS: Final = frozenset((1, 3, 17, 21))
#: Results after which a contact is never called again (besides the answered ones).
FINAL_RESULTS: Final = frozenset((1, 3, 7, 8, 17, 21))

#: ``callStatus``: whether the callee's line was connected.
CALL_STATUS_CONNECTED: Final = 1
CALL_STATUS_NOT_CONNECTED: Final = 2
CALL_STATUS_FAILED: Final = 3
#: ``manualCallStatus``: the human leg of a transfer (result 17).
MANUAL_NONE: Final = 0
MANUAL_ANSWERED: Final = 1
MANUAL_FAILED: Final = 2


@dataclass(frozen=True, slots=True)
class CallEnding:
    """How a call with one ``callResult`` ends on the wire: its SIP final response and the
    hang-up reasons a dialer reports for it."""

    meaning: str
    """The result, in words (``lifecycle.md``, "Call results")."""
    sip_code: str
    """``sipCode``: the SIP final response to the INVITE."""
    hangup_reasons: tuple[str, ...]
    """``hangupReason``: the reasons a call with this result ends for (one is reported)."""


#: ``sipCode`` and ``hangupReason`` per ``callResult``: the one table the simulator draws from
#: and the documentation renders. Result 17 ends for one of its reasons when the human answered,
#: and for :data:`TRANSFER_NOT_ANSWERED` when no human picked up.
CALL_ENDINGS: Final[dict[int, CallEnding]] = {
    1: CallEnding("answered, conversation completed", "200",
                  ("agent ended the call", "callee hung up")),
    2: CallEnding("no answer before maxRingTime", "480", ("no answer",)),
    3: CallEnding("answered, callee hung up early", "200", ("callee hung up",)),
    4: CallEnding("busy", "486", ("busy",)),
    5: CallEnding("rejected by the callee", "603", ("rejected",)),
    6: CallEnding("unreachable / powered off", "503", ("unreachable",)),
    7: CallEnding("invalid number", "404", ("invalid number",)),
    8: CallEnding("blocked (do-not-call, carrier block)", "403", ("blocked",)),
    9: CallEnding("route or network failure", "502", ("route failure",)),
    17: CallEnding("answered and transferred to a human", "200",
                   ("human agent ended the call", "callee hung up")),
    21: CallEnding("answered by an answering machine / voicemail", "200", ("voicemail",)),
}  # fmt: skip
#: ``hangupReason`` of a transfer no human picked up (result 17, ``manualCallStatus`` 2).
TRANSFER_NOT_ANSWERED: Final = "transfer not answered"


def call_status(result: int) -> int:
    """``callStatus`` of a ``callResult``: 1 connected (answered results), 2 not connected
    (no answer, busy, rejected, unreachable), 3 failed (invalid number, blocked, route
    failure)."""
    if result in ANSWERED_RESULTS:
        return CALL_STATUS_CONNECTED
    if result in (7, 8, 9):
        return CALL_STATUS_FAILED
    return CALL_STATUS_NOT_CONNECTED


class Attribute(BaseModel):
    """One variable of the contact (its ``params`` from ``call/append``), as sent."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str
    """The variable's name."""
    value: JsonValue
    """Its value as sent in ``params``: any JSON value (a string, a number, an object …)."""


class CallRecord(BaseModel):
    """One completed call attempt. Every key is always present; a field with nothing to say is
    ``""`` (strings) or ``0`` (numbers), never ``null``. Times are epoch seconds."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    id: int
    """Internal row id of the call; unique, and the tie-breaker of ``call/list``'s order."""
    call_id: str
    """The call's id (unique)."""
    task_id: str
    """The task's ``taskId``."""
    user_task_id: str
    """The task's ``userTaskId``, ``""`` when not given."""
    contact_id: str
    """The contact's ``contactId``."""
    auto_flow_id: int
    """The AI agent (flow) that made the call."""
    auto_flow_name: str
    """The AI agent's name."""
    callee_phone: str
    """The contact's number, as imported."""
    caller_phone: str
    """The number the call came from: the route's caller number."""
    real_phone: str
    """The number actually dialled: the callee's number with its country code, ``+`` first."""
    create_ts: int
    """When the call was placed."""
    op_ts: int
    """When the record last changed: the call's end (its report)."""
    call_status: int
    """1 connected (answered results), 2 not connected (2, 4, 5, 6), 3 failed (7, 8, 9)."""
    call_result: int
    """The outcome, one of the call-result table (1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21)."""
    call_elapsed: int
    """Seconds of talk with the AI agent; 0 when not answered."""
    call_ring_time: int
    """Seconds of ringing before the answer or the give-up."""
    call_start: int
    """When dialling began."""
    call_answer: int
    """When the callee answered; 0 when not answered."""
    call_end: int
    """When the call ended."""
    user_intent: str
    """The conversation's tag (answered calls), ``""`` otherwise."""
    call_summary: str
    """A one-line summary of the conversation (answered calls), ``""`` otherwise."""
    turn_time: int
    """Conversation turns (answered calls), 0 otherwise."""
    hangup_reason: str
    """Why the call ended, e.g. ``"callee hung up"``, ``"no answer"``, ``"busy"``."""
    sip_code: str
    """The SIP final response code, e.g. ``"200"``, ``"486"``."""
    sip_addr: str
    """The SIP address the call was sent to."""
    line_id: str
    """The line (trunk) of the route that carried the call."""
    route_id: str
    """The route's ``routeId``."""
    call_audio_url: str
    """Absolute, expiring, signed URL of the recording on this server (a WAV file
    ``callElapsed`` seconds long); ``""`` when not answered."""
    attributes: list[Attribute] = Field(default_factory=list)
    """The contact's variables, in the order imported."""
    order_head: int
    """1 for the first call of its contact, else 0."""
    order_tail: int
    """1 for the last call of its contact (it will not be called again), else 0."""
    agent_group_id: str
    """The task's human agent group (transfers), ``""`` when none."""
    agent_group_name: str
    """That group's name, ``""`` when none."""
    agent_id: str
    """The human agent who took the transfer (human leg answered), ``""`` otherwise."""
    agent_name: str
    """That agent's name, ``""`` otherwise."""
    manual_call_status: int
    """The human leg of a transfer (result 17): 1 answered, 2 failed; 0 without one."""
    manual_call_start: int
    """When the transfer to a human began; 0 without one."""
    manual_call_answer: int
    """When the human answered; 0 when not answered."""
    manual_call_end: int
    """When the human leg ended; 0 without one."""
    manual_elapsed: int
    """Seconds of talk with the human; 0 when not answered."""
    call_callback_url: str
    """Where this call's callback goes: the contact's own URL from ``call/append``, else the
    task's ``callCallbackUrl``, else the account's default call callback URL; ``""`` when none
    is set."""
    order_callback_url: str
    """The contact's own callback URL from ``call/append``, ``""`` when none was given."""


#: The wire keys of a call record, in the order they are sent.
CALL_RECORD_KEYS: Final[tuple[str, ...]] = tuple(
    field.alias or name for name, field in CallRecord.model_fields.items()
)
