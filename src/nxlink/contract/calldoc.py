"""The call record rendered for the wire: ``call/list``'s items and the call callback's body.

This is the one renderer of :class:`~nxlink.contract.callrecord.CallRecord` (and of the
record in :class:`~nxlink.contract.answers.CallCompletedEvent`): the store reads a call's raw facts
(:class:`CallFacts`, the same on both backends) and nothing else; the rules of the wire form
live here: ``""``/``0`` instead of nothing, ``callStatus`` from the result, the callback URL a
call's event goes to, the contact's variables as ``attributes`` (each value as sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from nxlink.contract.callrecord import MANUAL_NONE, call_status


@dataclass(frozen=True, slots=True)
class CallFacts:
    """One completed call as stored: the call's row, its task's, its contact's, its flow's
    name. ``None`` stands for what did not happen (no answer, no human leg)."""

    id: int
    call_id: str
    task_id: str
    user_task_id: str
    contact_id: str
    auto_flow_id: int
    auto_flow_name: str
    callee_phone: str
    caller_phone: str
    real_phone: str
    create_ts: int
    op_ts: int
    result: int
    talk_seconds: int
    ring_seconds: int
    call_start: int
    call_answer: int | None
    call_end: int
    user_intent: str
    summary: str
    turns: int
    hangup_reason: str
    sip_code: str
    sip_addr: str
    line_id: str
    route_id: str
    #: The contact's variables: JSON array of ``{"name", "value"}``, as imported.
    params: str
    #: 1 for the contact's first call, else 0.
    order_head: int
    #: 1 for the contact's last call, else 0.
    order_tail: int
    agent_group_id: str
    agent_group_name: str
    agent_id: str
    agent_name: str
    manual_status: int | None
    manual_start: int | None
    manual_answer: int | None
    manual_end: int | None
    manual_elapsed: int | None
    #: The task's ``callCallbackUrl``.
    task_callback_url: str
    #: The contact's own ``callCallbackUrl`` (``call/append``).
    order_callback_url: str
    #: The contact's pass-through ``other``.
    other: str
    #: The account's default call callback URL (``nxlink accounts set-callbacks``).
    account_callback_url: str

    @property
    def answered(self) -> bool:
        return self.call_answer is not None


def callback_url(task_url: str, order_url: str, account_url: str) -> str:
    """Where a call's callback goes: the contact's own URL (``call/append``) when set, else the
    task's, else the account's default (``nxlink accounts set-callbacks``)."""
    return order_url or task_url or account_url


def render(call: CallFacts, *, audio_url: str) -> dict[str, Any]:
    """The call record, keys in :data:`~nxlink.contract.callrecord.CALL_RECORD_KEYS` order.
    ``audio_url`` is the recording's signed link (``""`` for a call not answered)."""
    answered = call.call_answer is not None
    return {
        "id": call.id,
        "callId": call.call_id,
        "taskId": call.task_id,
        "userTaskId": call.user_task_id,
        "contactId": call.contact_id,
        "autoFlowId": call.auto_flow_id,
        "autoFlowName": call.auto_flow_name,
        "calleePhone": call.callee_phone,
        "callerPhone": call.caller_phone,
        "realPhone": call.real_phone,
        "createTs": call.create_ts,
        "opTs": call.op_ts,
        "callStatus": call_status(call.result),
        "callResult": call.result,
        "callElapsed": call.talk_seconds,
        "callRingTime": call.ring_seconds,
        "callStart": call.call_start,
        "callAnswer": call.call_answer or 0,
        "callEnd": call.call_end,
        "userIntent": call.user_intent,
        "callSummary": call.summary,
        "turnTime": call.turns,
        "hangupReason": call.hangup_reason,
        "sipCode": call.sip_code,
        "sipAddr": call.sip_addr,
        "lineId": call.line_id,
        "routeId": call.route_id,
        "callAudioUrl": audio_url if answered else "",
        "attributes": [
            {"name": str(p["name"]), "value": p.get("value")} for p in orjson.loads(call.params)
        ],
        "orderHead": int(call.order_head),
        "orderTail": int(call.order_tail),
        "agentGroupId": call.agent_group_id,
        "agentGroupName": call.agent_group_name,
        "agentId": call.agent_id,
        "agentName": call.agent_name,
        "manualCallStatus": call.manual_status or MANUAL_NONE,
        "manualCallStart": call.manual_start or 0,
        "manualCallAnswer": call.manual_answer or 0,
        "manualCallEnd": call.manual_end or 0,
        "manualElapsed": call.manual_elapsed or 0,
        "callCallbackUrl": callback_url(
            call.task_callback_url, call.order_callback_url, call.account_callback_url
        ),
        "orderCallbackUrl": call.order_callback_url,
    }


def render_event(call: CallFacts, *, audio_url: str) -> dict[str, Any]:
    """The call record as the call callback carries it, at the top level of the body beside
    the event's keys: the record and the contact's ``other``."""
    record = render(call, audio_url=audio_url)
    record["other"] = call.other
    return record
