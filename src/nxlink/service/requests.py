"""Request bodies: coercion and validation into typed requests, driven by the declarations of
:mod:`nxlink.contract.endpoints`.

Each endpoint's fields and rules are compiled once into a :class:`Parser`: a tuple of steps, one
per field or rule in declaration order, each reading its field of the body, recording what is
wrong as ``<field>: <what is wrong>`` and keeping the coerced value. Every bad field is named in
one 20000. Coercion is the task list's (``task-list.md``): integers take JSON integers, numbers
with no fraction and ``[+-]?[0-9]+`` strings; ``null``, ``""`` and absence mean "not set". Rules
that need the database (the flow's variables, a known route, a contact id already used) are
checked by :mod:`nxlink.service.lifecycle`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from nxlink.contract import endpoints as contract
from nxlink.contract.endpoints import DUPLICATE_CONTACT, MAX_PROBLEMS, Endpoint
from nxlink.service import windows
from nxlink.service.coerce import (
    INT64_MAX,
    INT64_MIN,
    NonFinite,
    clip,
    coerce_int,
    integer,
    is_unicode,
    is_unset,
    json_type,
    shown,
    timestamp,
)
from nxlink.service.errors import ApiError, business_error

#: Most contacts one request may import.
MAX_CONTACTS: Final = contract.MAX_CONTACTS
#: Rate bounds are compared exactly, to this many significant decimal places (a bound with more
#: is refused: each extra digit costs time on every row it is compared with).
MAX_RATE_DECIMALS: Final = 100
#: A positive rate bound below this selects exactly what this selects: no task's answer rate,
#: 100 * answered / calls with fewer than 2**63 calls, lies strictly between 0 and 1e-17.
TINY_RATE: Final = Fraction(1, 10**30)

_PHONE = re.compile(r"\+?[0-9]+")
_NUMBER_STRING = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


@dataclass(frozen=True, slots=True)
class ContactIn:
    """One contact of ``list`` (``call/append``, ``task/create``)."""

    contact_id: str
    phone: str
    name: str = ""
    #: ``(name, value)`` pairs in the order sent; names distinct; each value any JSON value
    #: (as :func:`orjson.dumps` writes it), kept and echoed as sent.
    params: tuple[tuple[str, Any], ...] = ()
    other: str = ""


@dataclass(frozen=True, slots=True)
class TaskRef:
    """A task named by ``taskId`` or ``userTaskId`` (``userTaskId`` wins when both are set)."""

    task_id: str | None = None
    user_task_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskCreate:
    task_name: str
    auto_flow_id: int
    route_id: str
    task_keep: int
    startup_type: int
    user_task_id: str = ""
    other: str = ""
    task_desc: str = ""
    startup_at: int | None = None
    shutdown_at: int | None = None
    max_call: int = 0
    max_ring_time: int = 0
    order_max_call: int | None = None
    replay_interval: int | None = None
    #: ``weekDay`` as a mask of ISO days (``windows.EVERY_DAY``: not set) and ``zoneSecond``.
    week_days: int = windows.EVERY_DAY
    zone_second: int = 0
    task_callback_url: str = ""
    call_callback_url: str = ""
    country_code: str = ""
    strategy_id: str = ""
    agent_group_id: str = ""
    contacts: tuple[ContactIn, ...] = ()


@dataclass(frozen=True, slots=True)
class CallAppend:
    ref: TaskRef
    contacts: tuple[ContactIn, ...]
    #: The flow the caller believes the task has (``None``: not sent); another is refused.
    auto_flow_id: int | None = None
    country_code: str = ""
    #: Where the calls of these contacts are announced ("": the task's ``callCallbackUrl``).
    call_callback_url: str = ""


@dataclass(frozen=True, slots=True)
class OrderDelete:
    ref: TaskRef
    contact_id: str


@dataclass(frozen=True, slots=True)
class TaskAction:
    """``task/start`` and ``task/pause``."""

    ref: TaskRef
    startup_by: str = ""


@dataclass(frozen=True, slots=True)
class CallListQuery:
    task_id: str
    start_ts: int | None = None
    end_ts: int | None = None
    call_id: str | None = None
    phone: str | None = None
    call_result: int | None = None
    user_intent: str | None = None
    min_elapsed: int | None = None
    max_elapsed: int | None = None
    page_number: int = 1
    page_size: int = 10


@dataclass(frozen=True, slots=True)
class NameQuery:
    """``flow/list`` (``name``) and ``route/list`` (``routeName``): casefolded contains."""

    name_fold: str | None = None
    page_number: int = 1
    page_size: int = 10


# -- the compiled parser -----------------------------------------------------------------------

#: One field or rule: reads the body (and the values kept so far, by attribute), records
#: problems, keeps its value (under the field's attribute).
Step = Callable[[dict[str, Any], list[str], dict[str, Any]], None]
#: One field of a contact: its label (``list[3].phoneNumber``) and value in, the coerced value out.
ValueParser = Callable[[str, Any, list[str]], Any]


class Parser:
    """An endpoint's fields and rules, compiled: ``parser(body)`` is the dict of attributes
    (``Field.attr``) to coerced values, or the 20000 naming every bad field."""

    __slots__ = ("always", "attrs", "defaults", "endpoint", "optional", "pairs", "required_when",
                 "steps")  # fmt: skip
    attrs: dict[str, str]

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        attrs = {field.name: field.attr or field.name for field in endpoint.fields}
        self.attrs = attrs
        #: Every field and rule in declaration order (the order a refusal lists problems in).
        self.steps: tuple[tuple[str | None, str, Any, Step], ...] = tuple(
            (*_unset(item, attrs), _step(item, attrs)) for item in endpoint.items
        )
        # For a request that passes: the values of the fields not sent, the steps of the
        # optional fields by name (run for those sent), the steps that always run, and the
        # rules as plain comparisons.
        fields = [
            step for step, item in zip(self.steps, endpoint.items, strict=True)
            if isinstance(item, contract.Field)
        ]  # fmt: skip
        self.defaults = {attr: unset for name, attr, unset, _ in fields if name is not None}
        self.optional = {name: step for name, _, _, step in fields if name is not None}
        self.always = tuple(step for name, _, _, step in fields if name is None)
        self.pairs: tuple[tuple[str, str, bool], ...] = tuple(
            (attrs[rule.name], attrs[rule.other], isinstance(rule, contract.After))
            for rule in endpoint.rules
            if isinstance(rule, (contract.AtLeast, contract.After))
        )
        self.required_when: tuple[tuple[str, str, int], ...] = tuple(
            (rule.name, attrs[rule.other], rule.value)
            for rule in endpoint.rules
            if isinstance(rule, contract.RequiredWhen)
        )

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        problems: list[str] = []
        values = self.defaults.copy()
        optional = self.optional
        # The hot path: only the fields sent (and set) run their steps.
        for name, value in body.items():
            if value is not None and value != "":
                step = optional.get(name)
                if step is not None:
                    step(body, problems, values)
        for step in self.always:
            step(body, problems, values)
        if not problems:
            for late, early, strict in self.pairs:
                high, low = values[late], values[early]
                if high is not None and low is not None and (high <= low if strict else high < low):
                    break
            else:
                for name, other, expected in self.required_when:
                    if values[other] == expected and is_unset(body.get(name)):
                        break
                else:
                    return values
        # Refused: the ordered run words every problem, in declaration order.
        raise self.refusal(body)

    def refusal(self, body: dict[str, Any]) -> ApiError:
        """The 20000 of a body that breaks a field or a rule, every problem named in order."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name, attr, unset, step in self.steps:
            if name is not None and is_unset(body.get(name)):
                values[attr] = unset
                continue
            step(body, problems, values)
        assert problems, "refused without a problem"
        return refusal(problems)


def _unset(item: contract.Item, attrs: dict[str, str]) -> tuple[str | None, str, Any]:
    """``(name, attr, value)`` of a field whose value is fixed when it is not set, so that the
    parser skips its step then; ``name`` None for one that must always run (a rule, a required
    field, a task reference)."""
    if not isinstance(item, contract.Field) or item.required or isinstance(item, contract.TaskRef):
        return None, "", None
    attr = attrs[item.name]
    if isinstance(item, contract.Text):
        return item.name, attr, None if item.fold or item.unset_is_none else ""
    if isinstance(item, contract.Integer):
        return item.name, attr, item.default
    if isinstance(item, (contract.Timestamp, contract.Rate, contract.OneOf)):
        return item.name, attr, None
    if isinstance(item, contract.Contacts):
        return item.name, attr, ()
    if isinstance(item, (contract.Url, contract.CountryCode)):
        return item.name, attr, ""
    if isinstance(item, contract.WeekDays):
        return item.name, attr, windows.EVERY_DAY
    return None, "", None


def refusal(problems: list[str]) -> ApiError:
    """The 20000 listing the first :data:`MAX_PROBLEMS` problems and counting the rest."""
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]
    return business_error(problems)


def _step(item: contract.Item, attrs: dict[str, str]) -> Step:
    """The step of one declared field or rule."""
    if isinstance(item, contract.AtLeast):
        return _at_least(item, attrs)
    if isinstance(item, contract.After):
        return _after(item, attrs)
    if isinstance(item, contract.RequiredWhen):
        return _required_when(item, attrs)
    attr = attrs[item.name]
    if isinstance(item, contract.TaskRef):
        return _task_ref(item, attr)
    if isinstance(item, contract.Integer):
        return _integer(item, attr)
    if isinstance(item, contract.OneOf):
        return _one_of(item, attr)
    if isinstance(item, contract.Timestamp):
        name = item.name
        return lambda body, problems, values: values.__setitem__(
            attr, timestamp(body, name, problems)
        )
    if isinstance(item, contract.Rate):
        return _rate_step(item, attr)
    if isinstance(item, contract.Contacts):
        return _contacts(item, attr)
    parse = _value_parser(item)
    name = item.name

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        values[attr] = parse(name, body.get(name), problems)

    return step


def _value_parser(field: contract.Field) -> ValueParser:
    """The parser of a field that stands on its own value (also inside a contact)."""
    if isinstance(field, contract.Text):
        return _text_field(field)
    if isinstance(field, contract.Url):
        return _url(field)
    if isinstance(field, contract.CountryCode):
        return _country_code(field)
    if isinstance(field, contract.ContactId):
        return _contact_id(field.max_length)
    if isinstance(field, contract.Phone):
        return _phone(field)
    if isinstance(field, contract.Params):
        return _params(field)
    if isinstance(field, contract.WeekDays):
        return _week_days
    raise TypeError(f"{field.name}: no parser for a {type(field).__name__}")


# -- rules -------------------------------------------------------------------------------------


def _at_least(rule: contract.AtLeast, attrs: dict[str, str]) -> Step:
    name, other, show = rule.name, rule.other, rule.show_values
    high_attr, low_attr = attrs[name], attrs[other]

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        high, low = values[high_attr], values[low_attr]
        if high is not None and low is not None and high < low:
            detail = f" ({high} < {low})" if show else ""
            problems.append(f"{name}: must be at least {other}{detail}")

    return step


def _after(rule: contract.After, attrs: dict[str, str]) -> Step:
    name, other = rule.name, rule.other
    late_attr, early_attr = attrs[name], attrs[other]

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        late, early = values[late_attr], values[early_attr]
        if late is not None and early is not None and late <= early:
            problems.append(f"{name}: must be after {other} ({late} <= {early})")

    return step


def _required_when(rule: contract.RequiredWhen, attrs: dict[str, str]) -> Step:
    name, other, value = rule.name, rule.other, rule.value
    other_attr = attrs[other]

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        if values[other_attr] == value and is_unset(body.get(name)):
            problems.append(f"{name}: required when {other} is {value}")

    return step


# -- fields ------------------------------------------------------------------------------------


def _integer(field: contract.Integer, attr: str) -> Step:
    name, low, high, default, required, bits = (
        field.name, field.low, field.high, field.default, field.required, field.bits
    )  # fmt: skip

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        if required and is_unset(body.get(name)):
            # 0 stands in; the request is refused anyway.
            problems.append(f"{name}: required")
            values[attr] = 0
            return
        number = integer(body, name, problems, low=low, high=high, bits=bits)
        values[attr] = default if number is None else number

    return step


def _one_of(field: contract.OneOf, attr: str) -> Step:
    name, allowed = field.name, frozenset(field.values)
    listed = ", ".join(map(str, field.values))
    others_match_nothing = field.others_match_nothing

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        value = body.get(name)
        number = None if is_unset(value) else coerce_int(name, value, problems)
        # A filter's unknown value is kept: the store's equality then selects nothing.
        if number is not None and number not in allowed and not others_match_nothing:
            problems.append(f"{name}: must be one of {listed}, got {number}")
            number = None
        values[attr] = number

    return step


def _text(
    label: str, text: str, problems: list[str], *, max_length: int | None, allow_nul: bool = False
) -> str:
    """``text`` when it is valid Unicode within ``max_length``; else "" after recording why."""
    if not is_unicode(text):
        problems.append(f"{label}: not valid Unicode (contains a lone surrogate escape)")
        return ""
    # PostgreSQL text cannot hold NUL (a filter's NUL is the store's to match).
    if not allow_nul and "\x00" in text:
        problems.append(f"{label}: must not contain the NUL character")
        return ""
    if max_length is not None and len(text) > max_length:
        problems.append(f"{label}: at most {max_length} characters, got {len(text)}")
        return ""
    return text


def _string_value(
    label: str,
    value: Any,
    problems: list[str],
    *,
    max_length: int | None,
    required: bool,
    allow_nul: bool = False,
) -> str:
    """A string field's value; "" when not set (recorded as missing when ``required``) or bad."""
    if is_unset(value):
        if required:
            problems.append(f"{label}: required")
        return ""
    if not isinstance(value, str):
        problems.append(f"{label}: must be a string, got {json_type(value)}")
        return ""
    return _text(label, value, problems, max_length=max_length, allow_nul=allow_nul)


def _text_field(field: contract.Text) -> ValueParser:
    max_length, required, allow_nul = field.max_length, field.required, field.allow_nul
    not_blank, fold, unset_is_none = field.not_blank, field.fold, field.unset_is_none

    def parse(label: str, value: Any, problems: list[str]) -> str | None:
        text = _string_value(label, value, problems, max_length=max_length, required=required,
                             allow_nul=allow_nul)  # fmt: skip
        if not_blank and text and not text.strip():
            problems.append(f"{label}: must not be blank")
        if fold:
            return text.casefold() if text else None
        if unset_is_none:
            return text or None
        return text

    return parse


def _task_ref(field: contract.TaskRef, attr: str) -> Step:
    """``taskId`` or ``userTaskId``; only the winner is kept (``userTaskId`` when both are set)."""
    name, alternative, max_length = field.name, field.alternative, field.max_length

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        task_id = _string_value(name, body.get(name), problems, max_length=max_length,
                                required=False)  # fmt: skip
        user_task_id = _string_value(alternative, body.get(alternative), problems,
                                     max_length=max_length, required=False)  # fmt: skip
        if user_task_id:
            values[attr] = TaskRef(user_task_id=user_task_id)
            return
        if task_id:
            values[attr] = TaskRef(task_id=task_id)
            return
        if is_unset(body.get(name)) and is_unset(body.get(alternative)):
            problems.append(f"{name}: required (or {alternative})")
        values[attr] = TaskRef()

    return step


def _url(field: contract.Url) -> ValueParser:
    max_length = field.max_length

    def parse(label: str, value: Any, problems: list[str]) -> str:
        url = _string_value(label, value, problems, max_length=max_length, required=False)
        if url and not is_http_url(url):
            problems.append(f"{label}: must be an http(s) URL, got {shown(url)}")
            return ""
        return url

    return parse


def url_problems(label: str, value: str, *, field: str = "taskCallbackUrl") -> list[str]:
    """What is wrong with ``value`` as the URL field ``field`` of ``task/create`` (length and
    form, worded as a request's refusal is, under ``label``); ``[]`` when it is a URL a
    request would take. The account's default callback URLs are held to the same rule."""
    declared = next(
        item for item in contract.TASK_CREATE.items
        if isinstance(item, contract.Url) and item.name == field
    )  # fmt: skip
    problems: list[str] = []
    _url(declared)(label, value, problems)
    return problems


def is_http_url(url: str) -> bool:
    """An absolute ``http://`` or ``https://`` URL with a host, that a client can send to."""
    if any(char.isspace() or not char.isprintable() for char in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme.lower() in ("http", "https")
        and url[len(parts.scheme) :].startswith("://")
        and bool(parts.hostname)
        and port != 0
    )


def _country_code(field: contract.CountryCode) -> ValueParser:
    low, high = field.min_digits, field.max_digits
    pattern = re.compile(rf"\+?[0-9]{{{low},{high}}}")

    def parse(label: str, value: Any, problems: list[str]) -> str:
        code = _string_value(label, value, problems, max_length=None, required=False)
        if code and not pattern.fullmatch(code):
            problems.append(
                f"{label}: must be {low} to {high} digits with an optional leading +, "
                f"got {shown(code)}"
            )
            return ""
        return code

    return parse


def _week_days(label: str, value: Any, problems: list[str]) -> int:
    """``weekDay`` as a mask of ISO days (:mod:`nxlink.service.windows`); not set, or refused
    (one problem, the first of ``contract.WEEK_DAY_REFUSALS`` that applies), is every day."""
    if is_unset(value):
        return windows.EVERY_DAY
    if not isinstance(value, str):
        problems.append(f'{label}: must be a string of days such as "1,2,3,4,5", '
                        f"got {json_type(value)}")  # fmt: skip
        return windows.EVERY_DAY
    if any(char.isspace() for char in value):
        problems.append(f"{label}: must not contain spaces, got {shown(value)}")
        return windows.EVERY_DAY
    items = value.split(",")
    if "" in items:
        problems.append(f"{label}: has an empty item (a comma at an end, or two together), "
                        f"got {shown(value)}")  # fmt: skip
        return windows.EVERY_DAY
    for item in items:
        if len(item) != 1 or item not in "1234567":
            problems.append(f"{label}: {shown(item)} is not a day: days are 1 (Monday) to 7 "
                            f"(Sunday), got {shown(value)}")  # fmt: skip
            return windows.EVERY_DAY
    for index, item in enumerate(items):
        if item in items[:index]:
            problems.append(f"{label}: day {item} is given twice, got {shown(value)}")
            return windows.EVERY_DAY
    return windows.days_mask([int(item) for item in items])


def _rate_step(field: contract.Rate, attr: str) -> Step:
    name, low, high = field.name, Decimal(field.low), Decimal(field.high)
    bounds = f"from {field.low:.1f} to {field.high:.1f}"

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        value = body.get(name)
        values[attr] = None if is_unset(value) else _rate(name, value, problems, low, high, bounds)

    return step


def _rate(
    name: str, value: Any, problems: list[str], low: Decimal, high: Decimal, bounds: str
) -> Fraction | None:
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
    if not low <= decimal <= high:
        shown_value = shown(value) if isinstance(value, str) else clip(str(value))
        problems.append(f"{name}: must be {bounds}, got {shown_value}")
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


# -- contacts ----------------------------------------------------------------------------------


def _contacts(field: contract.Contacts, attr: str) -> Step:
    """``list``: at most ``max_items`` contacts, the ``unique`` field distinct within it."""
    name, required, max_items = field.name, field.required, field.max_items
    parsers = tuple(
        (item.name, item.attr or item.name, _value_parser(item)) for item in field.items
    )
    unique = field.unique

    def step(body: dict[str, Any], problems: list[str], values: dict[str, Any]) -> None:
        values[attr] = ()
        value = body.get(name)
        if is_unset(value):
            if required:
                problems.append(f"{name}: required")
            return
        if not isinstance(value, list):
            problems.append(f"{name}: must be an array")
            return
        if len(value) > max_items:
            problems.append(f"{name}: at most {max_items} contacts, got {len(value)}")
            return
        if required and not value:
            problems.append(f"{name}: must not be empty")
            return
        contacts: list[ContactIn] = []
        seen: set[str] = set()
        repeated: set[str] = set()
        for index, entry in enumerate(value):
            label = f"{name}[{index}]"
            if not isinstance(entry, dict):
                problems.append(f"{label}: must be an object, got {json_type(entry)}")
                continue
            kept: dict[str, Any] = {}
            for key, item_attr, parse in parsers:
                parsed = kept[item_attr] = parse(f"{label}.{key}", entry.get(key), problems)
                if key == unique:
                    if parsed in seen and parsed not in repeated:
                        repeated.add(parsed)
                        problems.append(DUPLICATE_CONTACT + parsed)
                    elif parsed:
                        seen.add(parsed)
            contacts.append(ContactIn(**kept))
        values[attr] = tuple(contacts)

    return step


def _contact_id(max_length: int) -> ValueParser:
    """A string of 1..``max_length`` characters, or a JSON integer as its decimal string."""

    def parse(label: str, value: Any, problems: list[str]) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return _text(label, str(value), problems, max_length=max_length)
        if not is_unset(value) and not isinstance(value, str):
            problems.append(f"{label}: must be a string or an integer, got {json_type(value)}")
            return ""
        return _string_value(label, value, problems, max_length=max_length, required=True)

    return parse


def _phone(field: contract.Phone) -> ValueParser:
    """``+?[0-9]{min,max}``, kept as sent (with its ``+``)."""
    low, high = field.min_digits, field.max_digits

    def parse(label: str, value: Any, problems: list[str]) -> str:
        phone = _string_value(label, value, problems, max_length=None, required=True)
        if not phone:
            return ""
        if not _PHONE.fullmatch(phone):
            problems.append(
                f"{label}: must be digits with an optional leading +, got {shown(phone)}"
            )
            return ""
        digits = len(phone) - phone.startswith("+")
        if not low <= digits <= high:
            problems.append(f"{label}: must have {low} to {high} digits, got {digits}")
            return ""
        return phone

    return parse


def _params(field: contract.Params) -> ValueParser:
    """``[{name, value}]``: names distinct; values any JSON value."""
    name_max, value_max = field.name_max_length, field.value_max_length

    def parse(label: str, value: Any, problems: list[str]) -> tuple[tuple[str, Any], ...]:
        if is_unset(value):
            return ()
        if not isinstance(value, list):
            problems.append(f"{label}: must be an array, got {json_type(value)}")
            return ()
        params: list[tuple[str, Any]] = []
        names: set[str] = set()
        for index, item in enumerate(value):
            where = f"{label}[{index}]"
            if not isinstance(item, dict):
                problems.append(f"{where}: must be an object, got {json_type(item)}")
                continue
            name = _string_value(f"{where}.name", item.get("name"), problems,
                                 max_length=name_max, required=True)  # fmt: skip
            if name in names:
                problems.append(f"{where}.name: {shown(name)} is repeated; names must be distinct")
            elif name:
                names.add(name)
            params.append(
                (name, _param_value(f"{where}.value", item.get("value"), problems, value_max))
            )
        return tuple(params)

    return parse


def _param_value(label: str, value: Any, problems: list[str], max_length: int) -> Any:
    """A variable's value as sent: a string of at most ``max_length`` characters, or any other
    JSON value whose compact JSON is at most ``max_length`` characters. ``None`` after recording
    why not."""
    if isinstance(value, str):
        return _text(label, value, problems, max_length=max_length)
    try:
        kept = _json_value(value)
    except _NotJson as exc:
        problems.append(f"{label}: {exc}")
        return None
    size = len(orjson.dumps(kept))
    if size > max_length:
        problems.append(f"{label}: at most {max_length} characters of JSON, got {size}")
        return None
    return kept


class _NotJson(ValueError):
    """What in a value no JSON reader keeps as sent."""


def _json_value(value: Any) -> Any:
    """``value`` (as the body's parser made it) as plain JSON data that every JSON reader reads
    back the same: integers within 64 bits, fractions as doubles, valid Unicode; else
    :class:`_NotJson` naming the first thing that is not."""
    if isinstance(value, NonFinite):
        raise _NotJson(f"must be a finite number, got {value.literal}")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) or (
        # An integer too long for int() (the body's parser keeps it a Decimal).
        isinstance(value, Decimal) and value.as_tuple().exponent == 0
        and len(value.as_tuple().digits) > 40
    ):  # fmt: skip
        if not INT64_MIN <= value <= INT64_MAX:
            raise _NotJson(f"out of range for a 64-bit integer, got {clip(str(value))}")
        return int(value)
    if isinstance(value, (float, Decimal)):
        number = float(value)
        if number in (float("inf"), float("-inf")):
            raise _NotJson(f"out of range for a number, got {clip(str(value))}")
        return number
    if isinstance(value, str):
        if not is_unicode(value):
            raise _NotJson("not valid Unicode (contains a lone surrogate escape)")
        return value
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {_json_value(str(key)): _json_value(item) for key, item in value.items()}
    raise _NotJson(f"not a JSON value ({type(value).__name__})")  # pragma: no cover


# -- the endpoints' requests -------------------------------------------------------------------

#: Each endpoint's parser, by its name (``task/list``).
PARSERS: Final[dict[str, Parser]] = {e.name: Parser(e) for e in contract.ENDPOINTS}
_TASK_CREATE = PARSERS[contract.TASK_CREATE.name]
_CALL_APPEND = PARSERS[contract.CALL_APPEND.name]
_ORDER_DELETE = PARSERS[contract.ORDER_DELETE.name]
_TASK_START = PARSERS[contract.TASK_START.name]
_TASK_PAUSE = PARSERS[contract.TASK_PAUSE.name]
_CALL_LIST = PARSERS[contract.CALL_LIST.name]
_FLOW_LIST = PARSERS[contract.FLOW_LIST.name]
_ROUTE_LIST = PARSERS[contract.ROUTE_LIST.name]


def parse_task_create(body: dict[str, Any]) -> TaskCreate:
    """Validate and coerce a ``task/create`` body; a 20000 names every bad field.

    ``orderMaxCall`` and ``replayInterval`` stay None when not sent (the lifecycle applies its
    defaults, 1 and 300 s).
    """
    return TaskCreate(**_TASK_CREATE(body))


def parse_call_append(body: dict[str, Any]) -> CallAppend:
    """Validate and coerce a ``call/append`` body: the task, ``autoFlowId``, ``countryCode``,
    ``callCallbackUrl``, 1..10000 contacts.

    A ``contactId`` repeated within the request is refused here; one used before in the account
    is the lifecycle's to refuse (with the same message).
    """
    return CallAppend(**_CALL_APPEND(body))


def parse_order_delete(body: dict[str, Any]) -> OrderDelete:
    """Validate and coerce an ``order/delete`` (``call/delete``) body: the task and a
    ``contactId``."""
    return OrderDelete(**_ORDER_DELETE(body))


def parse_task_action(body: dict[str, Any], *, default_startup_by: str) -> TaskAction:
    """Validate and coerce a ``task/start`` body: the task and ``startupBy``.

    ``startupBy`` not set is ``default_startup_by`` (the caller's ``accessKey``).
    """
    values = _TASK_START(body)
    return TaskAction(ref=values["ref"], startup_by=values["startup_by"] or default_startup_by)


def parse_task_pause(body: dict[str, Any]) -> TaskAction:
    """Validate a ``task/pause`` body: the task only (``startupBy`` is not a field of pause)."""
    return TaskAction(**_TASK_PAUSE(body))


def parse_call_list(body: dict[str, Any]) -> CallListQuery:
    """Validate and coerce a ``call/list`` body: ``taskId``, the filters and the page."""
    return CallListQuery(**_CALL_LIST(body))


def parse_flow_list(body: dict[str, Any]) -> NameQuery:
    """Validate and coerce a ``flow/list`` body: ``name`` and the page."""
    return NameQuery(**_FLOW_LIST(body))


def parse_route_list(body: dict[str, Any]) -> NameQuery:
    """Validate and coerce a ``route/list`` body: ``routeName`` and the page."""
    return NameQuery(**_ROUTE_LIST(body))
