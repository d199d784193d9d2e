"""The task list: the body's decoding, the request (parsed from its declaration in
:mod:`nxlink.contract.endpoints` by :mod:`nxlink.service.requests`) and the page.

Coercion follows ``task-list.md`` (as a Java/Jackson server would): integers take JSON
integers, numbers with no fraction and ``[+-]?[0-9]+`` strings; rates also take decimal strings;
``null``, ``""`` and absence mean "not set"; every bad field is named in one message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import orjson

from nxlink.contract.endpoints import TASK_LIST
from nxlink.service.coerce import NonFinite, json_type
from nxlink.service.errors import business_error
from nxlink.service.requests import PARSERS
from nxlink.store import Store, TaskFilter

_PARSER: Final = PARSERS[TASK_LIST.name]
#: A JSON number token of 19 digits or more (after the character that can precede a number);
#: a string's digits (a phone number) follow a quote or a ``+`` and do not match.
_LONG_NUMBER: Final = re.compile(rb"[:\[,\s-][0-9]{19}")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a request body into a JSON object, keeping numbers exact.

    An empty body is ``{}``. Fractions become :class:`~decimal.Decimal`; ``NaN``/``Infinity``
    become :class:`NonFinite`, so that the field holding them is named in the refusal.
    """
    if not body:
        return {}
    # Fast path: orjson, unless the body holds a fraction (kept exact below), something orjson
    # refuses (NaN, bad UTF-8), which the exact parser below names precisely, or a number of 19
    # digits or more: orjson reads an integer past 64 bits as a double, which would take an
    # out-of-range value (a 2^64 in a contact's params) for another.
    try:
        fast = None if _LONG_NUMBER.search(body) else orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        if isinstance(fast, dict) and not any(isinstance(v, float) for v in fast.values()):
            return fast
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise business_error([f"body: not valid UTF-8 (byte {exc.start})"]) from None
    try:
        value = json.loads(
            text, parse_float=Decimal, parse_int=_parse_int, parse_constant=NonFinite
        )
    except json.JSONDecodeError as exc:
        raise business_error([f"body: not valid JSON ({exc.msg} at line {exc.lineno} "
                              f"column {exc.colno})"]) from None  # fmt: skip
    except RecursionError:
        raise business_error(["body: not valid JSON (nested too deeply)"]) from None
    if not isinstance(value, dict):
        raise business_error([f"body: must be a JSON object, got {json_type(value)}"])
    return value


def _parse_int(text: str) -> int | Decimal:
    # Past Python's int-conversion limit a JSON integer stays a Decimal (then refused by range).
    return int(text) if len(text) <= 40 else Decimal(text)


@dataclass(frozen=True, slots=True)
class TaskListQuery:
    filter: TaskFilter
    page_number: int
    page_size: int


@dataclass(frozen=True, slots=True)
class TaskPage:
    total: int
    page_number: int
    page_size: int
    #: Each task object as UTF-8 JSON, in page order.
    tasks: list[bytes]


def parse_task_list(body: dict[str, Any]) -> TaskListQuery:
    """Validate and coerce a task-list request body; a 20000 names every bad field."""
    v = _PARSER(body)
    return TaskListQuery(
        filter=TaskFilter(
            name_fold=v["name_fold"],
            status=v["status"],
            created_from=v["created_from"],
            created_to=v["created_to"],
            min_answer_rate=v["min_answer_rate"],
            max_answer_rate=v["max_answer_rate"],
            min_contacts=v["min_contacts"],
            max_contacts=v["max_contacts"],
        ),
        page_number=v["page_number"],
        page_size=v["page_size"],
    )


def list_tasks(store: Store, account_id: int, query: TaskListQuery) -> TaskPage:
    """One page of the account's tasks, newest first, with the true ``total``."""
    offset = (query.page_number - 1) * query.page_size
    total, rows = store.task_page(account_id, query.filter, offset=offset, limit=query.page_size)
    return TaskPage(
        total=total,
        page_number=query.page_number,
        page_size=query.page_size,
        tasks=rows,
    )
