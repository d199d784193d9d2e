"""Field coercion shared by every request parser (``task-list.md`` "Coercion").

As a Java/Jackson server would: integers are 32-bit (``int``) unless a field is declared 64-bit
(``long``: ids and durations the vendor types so), and take JSON integers, numbers with no
fraction and ``[+-]?[0-9]+`` strings; ``null``, ``""`` and absence mean "not set". Each helper
records what is wrong with a field as ``<field>: <what is wrong>`` in a list of problems, so that
one refusal names every bad field.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Final

INT32_MIN: Final = -(1 << 31)
INT32_MAX: Final = (1 << 31) - 1
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
#: Each integer width a field may have: its (lowest, highest) value.
INT_RANGES: Final[dict[int, tuple[int, int]]] = {
    32: (INT32_MIN, INT32_MAX),
    64: (INT64_MIN, INT64_MAX),
}
#: Epoch seconds at or above this look like milliseconds.
MILLIS_THRESHOLD: Final = 10**11

INT_STRING: Final = re.compile(r"[+-]?[0-9]+")


class NonFinite:
    """A ``NaN``/``Infinity`` literal met while parsing a body (refused by every field)."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


def is_unset(value: Any) -> bool:
    """True for the values that mean "not set": absence (None), ``null`` and ``""``."""
    return value is None or value == ""


def json_type(value: Any) -> str:
    """How a refusal shows a value that has the wrong type: ``the string "x"``, ``an array``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {shown(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, NonFinite):
        return value.literal
    return f"{value}"


def clip(text: str) -> str:
    """``text``, cut to 40 characters (ending in ``...``) when longer."""
    return text if len(text) <= 40 else text[:37] + "..."


def shown(text: str) -> str:
    """``text`` clipped and quoted as a JSON string, for a message.

    A lone surrogate is written as its escape (``\\ud800``): the message must encode as UTF-8.
    """
    quoted = json.dumps(clip(text), ensure_ascii=False)
    return quoted if is_unicode(quoted) else quoted.encode("utf-8", "backslashreplace").decode()


def coerce_int(name: str, value: Any, problems: list[str], *, bits: int = 32) -> int | None:
    """A signed integer of ``bits`` (32 or 64) bits from ``value``, or None after recording why
    not."""
    low, high = INT_RANGES[bits]
    out_of_range = f"{name}: out of range for a {bits}-bit integer, got"
    if isinstance(value, (bool, list, dict)):
        problems.append(f"{name}: must be an integer, got {json_type(value)}")
        return None
    if isinstance(value, NonFinite):
        problems.append(f"{name}: must be a finite integer, got {value.literal}")
        return None
    if isinstance(value, str):
        if not INT_STRING.fullmatch(value):
            problems.append(f"{name}: must be an integer, got {json_type(value)}")
            return None
        digits = value.lstrip("+-").lstrip("0")
        # More digits than the widest value has: out of range, without converting them all.
        if len(digits) > len(str(high)):
            problems.append(f"{out_of_range} {shown(value)}")
            return None
        number = int(digits or "0")
        if value.startswith("-"):
            number = -number
    elif isinstance(value, int):
        number = value
    elif isinstance(value, Decimal):
        if value.copy_abs() > high + 1:
            problems.append(f"{out_of_range} {clip(str(value))}")
            return None
        if value != value.to_integral_value():
            problems.append(f"{name}: must be an integer, not a fraction ({clip(str(value))})")
            return None
        number = int(value)
    else:  # pragma: no cover - json.loads yields no other types
        problems.append(f"{name}: must be an integer")
        return None
    if not low <= number <= high:
        problems.append(f"{out_of_range} {clip(str(number))}")
        return None
    return number


def integer(
    body: dict[str, Any],
    name: str,
    problems: list[str],
    *,
    low: int,
    high: int | None = None,
    bits: int = 32,
) -> int | None:
    """The ``bits``-bit integer field ``name`` of ``body`` within ``low..high``; None when not
    set or bad."""
    value = body.get(name)
    if is_unset(value):
        return None
    number = coerce_int(name, value, problems, bits=bits)
    if number is None:
        return None
    if number < low or (high is not None and number > high):
        if name == "pageSize" and high is not None and number > high:
            problems.append(f"pageSize: at most {high}, got {number}")
        elif high is None:
            problems.append(f"{name}: must be at least {low}, got {number}")
        else:
            problems.append(f"{name}: must be from {low} to {high}, got {number}")
        return None
    return number


def looks_like_millis(value: Any) -> bool:
    """An integer value of 10^11 or more, as an integer field may carry it."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        return False
    if isinstance(value, str) and not INT_STRING.fullmatch(value):
        return False
    number = Decimal(value)
    return number >= MILLIS_THRESHOLD and number == number.to_integral_value()


def timestamp(body: dict[str, Any], name: str, problems: list[str]) -> int | None:
    """The epoch-seconds field ``name`` (``>= 0``, not milliseconds); None when not set or bad."""
    value = body.get(name)
    if is_unset(value):
        return None
    # Before the 32-bit check, which milliseconds would fail less helpfully.
    if looks_like_millis(value):
        problems.append(
            f"{name}: {clip(str(value))} looks like epoch milliseconds; send epoch seconds"
        )
        return None
    number = coerce_int(name, value, problems)
    if number is None:
        return None
    if number < 0:
        problems.append(f"{name}: must be at least 0, got {number}")
        return None
    return number


def is_unicode(text: str) -> bool:
    """False when ``text`` holds a lone surrogate (a ``\\ud800`` escape with no partner)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
