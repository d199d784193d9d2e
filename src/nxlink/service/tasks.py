"""The task list: request coercion and validation, the query, and ``statInfo`` derivation.

Coercion follows ``task-list.md`` (as a Java/Jackson server would): integers take JSON
integers, numbers with no fraction and ``[+-]?[0-9]+`` strings; rates also take decimal strings;
``null``, ``""`` and absence mean "not set"; every bad field is named in one message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

import orjson

from nxlink.service.coerce import (
    NonFinite,
    clip,
    integer,
    is_unicode,
    json_type,
    page,
    shown,
    timestamp,
)
from nxlink.service.errors import business_error
from nxlink.store import Store, TaskFilter

MAX_NAME_LENGTH: Final = 200
#: Rate bounds are compared exactly, to this many significant decimal places (a bound with more
#: is refused: each extra digit costs time on every row it is compared with).
MAX_RATE_DECIMALS: Final = 100
#: A positive rate bound below this selects exactly what this selects: no task's answer rate,
#: 100 * answered / calls with fewer than 2**63 calls, lies strictly between 0 and 1e-17.
TINY_RATE: Final = Fraction(1, 10**30)

_NUMBER_STRING = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a request body into a JSON object, keeping numbers exact.

    An empty body is ``{}``. Fractions become :class:`~decimal.Decimal`; ``NaN``/``Infinity``
    become :class:`NonFinite`, so that the field holding them is named in the refusal.
    """
    if not body:
        return {}
    # Fast path: orjson, unless the body holds a fraction (kept exact below) or something orjson
    # refuses (NaN, huge integers, bad UTF-8), which the exact parser below names precisely.
    try:
        fast = orjson.loads(body)
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
    problems: list[str] = []

    name = body.get("taskName")
    name_fold: str | None = None
    if name is not None and name != "":
        if not isinstance(name, str):
            problems.append(f"taskName: must be a string, got {json_type(name)}")
        elif not is_unicode(name):
            problems.append("taskName: not valid Unicode (contains a lone surrogate escape)")
        elif len(name) > MAX_NAME_LENGTH:
            problems.append(f"taskName: at most {MAX_NAME_LENGTH} characters, got {len(name)}")
        else:
            name_fold = name.casefold()

    status = integer(body, "taskStatus", problems, low=1, high=6)
    start = timestamp(body, "createStartTs", problems)
    end = timestamp(body, "createEndTs", problems)
    if start is not None and end is not None and start > end:
        problems.append(f"createEndTs: must be at least createStartTs ({end} < {start})")

    min_rate = _rate(body, "minCallsAnsweredRate", problems)
    max_rate = _rate(body, "maxCallsAnsweredRate", problems)
    if min_rate is not None and max_rate is not None and min_rate > max_rate:
        problems.append("maxCallsAnsweredRate: must be at least minCallsAnsweredRate")

    min_contacts = integer(body, "minTaskTotalQuantity", problems, low=0)
    max_contacts = integer(body, "maxTaskTotalQuantity", problems, low=0)
    if min_contacts is not None and max_contacts is not None and min_contacts > max_contacts:
        problems.append(
            f"maxTaskTotalQuantity: must be at least minTaskTotalQuantity "
            f"({max_contacts} < {min_contacts})"
        )

    page_number, page_size = page(body, problems, default_size=10)

    if problems:
        raise business_error(problems)
    return TaskListQuery(
        filter=TaskFilter(
            name_fold=name_fold,
            status=status,
            created_from=start,
            created_to=end,
            min_answer_rate=min_rate,
            max_answer_rate=max_rate,
            min_contacts=min_contacts,
            max_contacts=max_contacts,
        ),
        page_number=page_number,
        page_size=page_size,
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


# -- coercion ---------------------------------------------------------------------------------


def _rate(body: dict[str, Any], name: str, problems: list[str]) -> Fraction | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (bool, list, dict)):
        problems.append(f"{name}: must be a number, got {json_type(value)}")
        return None
    if isinstance(value, NonFinite):
        problems.append(f"{name}: must be a finite number, got {value.literal}")
        return None
    if isinstance(value, str):
        if not _NUMBER_STRING.fullmatch(value):
            problems.append(f"{name}: must be a number, got {json_type(value)}")
            return None
        decimal = Decimal(value)
    elif isinstance(value, int):
        decimal = Decimal(value)
    elif isinstance(value, Decimal):
        decimal = value
    else:  # pragma: no cover - json.loads yields no other types
        problems.append(f"{name}: must be a number")
        return None
    if not 0 <= decimal <= 100:
        problems.append(f"{name}: must be from 0.0 to 100.0, got {_shown_number(value)}")
        return None
    if decimal == 0:
        return Fraction(0)
    if decimal < Decimal("1e-30"):
        return TINY_RATE
    if _decimals(decimal) > MAX_RATE_DECIMALS:
        problems.append(f"{name}: at most {MAX_RATE_DECIMALS} decimal places")
        return None
    return Fraction(decimal)


def _decimals(value: Decimal) -> int:
    """Significant decimal places (trailing zeros do not count)."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    trailing = len(digits) - len(significant)
    return max(0, -exponent - trailing)


def _shown_number(value: Any) -> str:
    return shown(value) if isinstance(value, str) else clip(str(value))
