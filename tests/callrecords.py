"""The call record's contract as tests check it: every key with its type (the pydantic model),
the per-result table written out here (not imported), and the rules between the fields."""

from __future__ import annotations

from typing import Any

from nxlink.contract.answers import CallCompletedEvent
from nxlink.contract.callrecord import CALL_RECORD_KEYS, CallRecord
from nxlink.dialer.simulator import AGENT_NAMES

#: callResult -> (callStatus, sipCode, the hang-up reasons it may have).
TABLE: dict[int, tuple[int, str, set[str]]] = {
    1: (1, "200", {"agent ended the call", "callee hung up"}),
    2: (2, "480", {"no answer"}),
    3: (1, "200", {"callee hung up"}),
    4: (2, "486", {"busy"}),
    5: (2, "603", {"rejected"}),
    6: (2, "503", {"unreachable"}),
    7: (3, "404", {"invalid number"}),
    8: (3, "403", {"blocked"}),
    9: (3, "502", {"route failure"}),
    17: (1, "200", {"human agent ended the call", "callee hung up"}),
    21: (1, "200", {"voicemail"}),
}
ANSWERED = {1, 3, 17, 21}
INTENTS = {"A", "B", "C", "D", "E", "F"}
BASE_URL = "http://127.0.0.1:8000"


def outcome_kind(call: dict[str, Any]) -> str:
    """The outcome kind of a record: answered, not answered, voicemail, transfer answered or
    transfer failed."""
    result = call["callResult"]
    if result == 17:
        return "transfer answered" if call["manualCallStatus"] == 1 else "transfer failed"
    if result == 21:
        return "voicemail"
    return "answered" if result in ANSWERED else "not answered"


def check_record(call: dict[str, Any], *, event: bool = False, base_url: str = BASE_URL) -> None:
    """One call record (``event``: a call callback's body, the record at its top level beside
    the event's keys, with ``other``) against the contract."""
    if event:
        CallCompletedEvent.model_validate(call, strict=True)
        assert list(call) == ["eventId", "eventType", "eventTs", *CALL_RECORD_KEYS, "other"]
    else:
        CallRecord.model_validate(call, strict=True)
        assert list(call) == list(CALL_RECORD_KEYS)
    result = call["callResult"]
    status, sip_code, reasons = TABLE[result]
    assert (call["callStatus"], call["sipCode"]) == (status, sip_code)
    assert call["opTs"] == call["callEnd"]
    assert call["createTs"] == call["callStart"]
    assert call["realPhone"][0] == "+" and call["realPhone"][1:].isdigit()
    assert call["sipAddr"] == f"sip:{call['realPhone'][1:]}@{call['lineId']}.sip.invalid"
    assert call["callerPhone"][0] == "+" and call["callerPhone"][1:].isdigit()
    if result in ANSWERED:
        assert call["callAnswer"] == call["callStart"] + call["callRingTime"]
        assert call["callElapsed"] > 0 and call["turnTime"] >= 1
        assert call["userIntent"] in INTENTS and call["callSummary"]
        link = f"{base_url}/recordings/{call['callId']}.wav?exp="
        assert call["callAudioUrl"].startswith(link), call["callAudioUrl"]
    else:
        assert (call["callAnswer"], call["callElapsed"], call["turnTime"]) == (0, 0, 0)
        assert (call["userIntent"], call["callSummary"], call["callAudioUrl"]) == ("", "", "")
        assert call["callEnd"] == call["callStart"] + call["callRingTime"]
    manual = (call["manualCallStatus"], call["manualCallStart"], call["manualCallAnswer"],
              call["manualCallEnd"], call["manualElapsed"])  # fmt: skip
    if result != 17:
        assert call["hangupReason"] in reasons
        assert manual == (0, 0, 0, 0, 0)
        assert (call["agentId"], call["agentName"]) == ("", "")
        if result in ANSWERED:
            assert call["callEnd"] == call["callAnswer"] + call["callElapsed"]
        return
    assert call["agentGroupId"] and call["agentGroupName"] == f"Agent group {call['agentGroupId']}"
    start = call["callAnswer"] + call["callElapsed"]
    assert call["manualCallStart"] == start
    assert call["manualCallEnd"] == call["callEnd"]
    if call["manualCallStatus"] == 1:
        assert call["hangupReason"] in reasons
        assert start + 3 <= call["manualCallAnswer"] <= start + 15
        assert call["manualCallEnd"] == call["manualCallAnswer"] + call["manualElapsed"]
        assert call["manualElapsed"] >= 10
        index = AGENT_NAMES.index(call["agentName"])
        assert call["agentId"] == f"{call['agentGroupId']}-{index + 1:02d}"
        assert call["callSummary"] == (
            f"Callee asked for a person; transferred to {call['agentName']}."
        )
    else:
        assert call["manualCallStatus"] == 2
        assert call["hangupReason"] == "transfer not answered"
        assert (call["manualCallAnswer"], call["manualElapsed"]) == (0, 0)
        assert start + 15 <= call["manualCallEnd"] <= start + 30
        assert (call["agentId"], call["agentName"]) == ("", "")
        assert call["callSummary"] == "Callee asked for a person; no agent picked up the transfer."
