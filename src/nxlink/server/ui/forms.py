"""The dashboard's forms, made from the endpoint registry.

A filter form has one input per declared field of the endpoint (``task/list``, ``call/list``):
its label, type, bounds and help come from the declaration, so a field added to the contract
appears in the dashboard and a bound changed there changes the input. What the browser submits
goes back into an API body unchanged but for dates (a ``datetime-local`` input, read as UTC),
so the API's own parser checks it and its refusal is shown as the API words it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nxlink.contract import endpoints as contract
from nxlink.contract.callrecord import CALL_RESULT_NAMES
from nxlink.contract.codes import TASK_STATUS_NAMES
from nxlink.contract.endpoints import Endpoint

#: A ``datetime-local`` value: ``2026-12-01T09:30`` (seconds optional).
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")
#: Fields that are not filters: the page and the task the calls belong to.
_NOT_FILTERS = frozenset({"pageNumber", "pageSize", "taskId"})
#: The choices of fields that take one of a few values.
_CHOICES: dict[str, dict[int, str]] = {
    "taskStatus": dict(TASK_STATUS_NAMES),
    "callResult": dict(CALL_RESULT_NAMES),
}
#: Labels that read better than the wire name.
_LABELS = {
    "taskName": "Task name contains",
    "taskStatus": "Status",
    "createStartTs": "Created from (UTC)",
    "createEndTs": "Created to (UTC)",
    "minCallsAnsweredRate": "Answer rate at least (%)",
    "maxCallsAnsweredRate": "Answer rate at most (%)",
    "minTaskTotalQuantity": "Contacts at least",
    "maxTaskTotalQuantity": "Contacts at most",
    "startTs": "Called from (UTC)",
    "endTs": "Called to (UTC)",
    "callId": "Call id",
    "phone": "Phone",
    "callResult": "Result",
    "userIntent": "Intent",
    "minElapsed": "Talk at least (s)",
    "maxElapsed": "Talk at most (s)",
}


@dataclass(frozen=True, slots=True)
class Input:
    """One input of a filter form."""

    name: str
    label: str
    kind: str  # "text" | "number" | "datetime-local" | "select"
    help: str
    value: str
    low: int | None = None
    high: int | None = None
    step: str | None = None
    choices: tuple[tuple[str, str], ...] = ()


def _kind(field: contract.Field) -> str:
    if field.name in _CHOICES:
        return "select"
    if isinstance(field, contract.Timestamp):
        return "datetime-local"
    if isinstance(field, (contract.Integer, contract.Rate)):
        return "number"
    return "text"


def filter_inputs(endpoint: Endpoint, query: Mapping[str, str]) -> list[Input]:
    """The filter inputs of ``endpoint``, filled from the page's query string."""
    inputs = []
    for field in endpoint.fields:
        if field.name in _NOT_FILTERS:
            continue
        kind = _kind(field)
        low = high = None
        step = None
        if isinstance(field, contract.Integer):
            low, high = field.low, field.high
        elif isinstance(field, contract.Rate):
            low, high, step = 0, 100, "any"
        choices = tuple(
            (str(code), f"{code} {name}") for code, name in _CHOICES.get(field.name, {}).items()
        )
        inputs.append(
            Input(
                name=field.name,
                label=_LABELS.get(field.name, field.name),
                kind=kind,
                help=field.description,
                value=query.get(field.name, ""),
                low=low,
                high=high,
                step=step,
                choices=choices,
            )
        )
    return inputs


def api_body(endpoint: Endpoint, query: Mapping[str, str], **fixed: Any) -> dict[str, Any]:
    """The API body for the form's values: each declared field the query sets, dates as epoch
    seconds (UTC); everything else exactly as typed, for the API's parser to judge."""
    body: dict[str, Any] = {}
    for field in endpoint.fields:
        value = query.get(field.name, "").strip()
        if not value:
            continue
        if isinstance(field, contract.Timestamp) and _LOCAL_TIME.fullmatch(value):
            moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
            body[field.name] = int(moment.timestamp())
        else:
            body[field.name] = value
    body.update(fixed)
    return body


def epoch_to_local(value: Any) -> str:
    """A ``datetime-local`` value for epoch seconds (UTC), or the value unchanged."""
    if isinstance(value, str) and value.isdigit():
        return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return str(value)
