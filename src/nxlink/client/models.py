"""Typed answers of the task list: :class:`TaskPage`, and :class:`Task` and :class:`StatInfo`
(declared once in :mod:`nxlink.contract.task`, where the OpenAPI document reads them too); and
:class:`Page`, a page of any list as plain rows.

Fields are snake_case and validate from the wire's camelCase names. The models are tolerant:
unknown keys are kept (``model_extra``), keys the contract marks optional may be missing, numbers
sent where a string is expected become strings, and a page reads the same whether its fields sit
at the top level of the answer or under ``data`` (:func:`page_fields`): the vendor puts them at
the top level for task/list and call/list and under ``data`` for flow/list and route/list, and a
server may force one shape on every list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field

from nxlink.contract.codes import TaskStatus
from nxlink.contract.task import StatInfo, Task, Wire, rate_pct

__all__ = [
    "STATUS_NAMES",
    "Page",
    "StatInfo",
    "Task",
    "TaskPage",
    "page_fields",
    "parse_status",
    "rate_pct",
]

#: The word for each status, as the command line prints and accepts it.
STATUS_NAMES: dict[TaskStatus, str] = {
    status: status.name.lower().replace("_", "-") for status in TaskStatus
}


def parse_status(value: int | str | TaskStatus) -> TaskStatus:
    """A status from its number (``2``, ``"2"``) or its word (``"in-progress"``, ``"IN_PROGRESS"``).

    Raises :class:`ValueError` for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a task status: {value!r}")
    if isinstance(value, TaskStatus):
        return value
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        number = int(text)
        for status in TaskStatus:
            if status == number:
                return status
    word = text.lower().replace("_", "-").replace(" ", "-")
    for status, name in STATUS_NAMES.items():
        if name == word:
            return status
    choices = ", ".join(f"{int(s)} {n}" for s, n in STATUS_NAMES.items())
    raise ValueError(f"not a task status: {value!r} (one of {choices})")


def page_fields(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The page fields (``total``, ``pageNumber``, ``pageSize``, ``list``) of a list's success
    answer, wherever they sit: beside ``code`` and ``message``, or in a ``data`` object."""
    if "list" in payload or "total" in payload:
        return payload
    data = payload.get("data")
    return data if isinstance(data, Mapping) else payload


def _page_input(payload: Mapping[str, Any], *, page_number: int, page_size: int) -> dict[str, Any]:
    """What a page model validates: the page fields (those requested filling in for missing
    ones) and the answer's ``traceId``."""
    fields = page_fields(payload)
    rows = fields.get("list")
    return {
        "total": fields.get("total", 0),
        "pageNumber": fields.get("pageNumber", page_number),
        "pageSize": fields.get("pageSize", page_size),
        "list": rows if rows is not None else [],
        "traceId": payload.get("traceId") or "",
    }


class _Paged(Wire):
    """What every page of a list has: the total, its place, the answer's trace id, and how it
    is read from an answer (the rows are the subclass's)."""

    total: int
    """How many rows match the filters, on every page."""
    page_number: int
    """This page's number, from 1."""
    page_size: int
    """Rows per page."""
    trace_id: str = ""
    """The answer's ``traceId``."""

    @property
    def page_count(self) -> int:
        """How many pages ``total`` rows fill at this page size."""
        return -(-self.total // self.page_size) if self.page_size > 0 else 0

    @property
    def has_next(self) -> bool:
        """Whether a later page holds rows."""
        return self.page_number * self.page_size < self.total

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, page_number: int, page_size: int) -> Self:
        """Read a success answer, with its page fields at the top level or under ``data``.

        ``page_number`` and ``page_size`` (those requested) fill in for missing fields.
        """
        return cls.model_validate(
            _page_input(payload, page_number=page_number, page_size=page_size)
        )


class Page(_Paged):
    """One page of any list (``call/list``, ``flow/list``, ``route/list``, ``task/list``):
    ``total`` matching rows, and this page's ``rows`` as the service sent them."""

    rows: list[dict[str, Any]] = Field(default_factory=list, alias="list")
    """This page's rows, each the decoded JSON object (wire keys)."""


class TaskPage(_Paged):
    """One page of the task list: ``total`` matching tasks, and this page's ``tasks``."""

    tasks: list[Task] = Field(default_factory=list, alias="list")
    """This page's tasks, newest first."""
