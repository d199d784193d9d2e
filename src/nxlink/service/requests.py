"""Request bodies of the lifecycle endpoints: coercion and validation into typed requests.

Coercion is the task list's (``task-list.md``): integers take JSON integers, numbers with no
fraction and ``[+-]?[0-9]+`` strings; ``null``, ``""`` and absence mean "not set"; every bad
field is named in one 20000. Rules that need the database (the flow's variables, a known
route, a contact id already used) are checked by :mod:`nxlink.service.lifecycle`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlsplit

from nxlink.contract.callrecord import CALL_RESULTS
from nxlink.service.coerce import (
    NonFinite,
    clip,
    coerce_int,
    integer,
    is_unicode,
    is_unset,
    json_type,
    page,
    shown,
    timestamp,
)
from nxlink.service.errors import ApiError, business_error

#: Most contacts one request may import.
MAX_CONTACTS: Final = 10_000
#: Most problems one refusal lists; the rest are counted ("... and N more").
MAX_PROBLEMS: Final = 20
#: Length limits, in characters.
MAX_ID_LENGTH: Final = 64
MAX_NAME_LENGTH: Final = 200
MAX_DESC_LENGTH: Final = 1000
MAX_OTHER_LENGTH: Final = 4096
MAX_URL_LENGTH: Final = 2048
MAX_PARAM_VALUE_LENGTH: Final = 1000

_PHONE = re.compile(r"\+?[0-9]+")
_COUNTRY_CODE = re.compile(r"\+?[0-9]{1,4}")
_MIN_PHONE_DIGITS: Final = 3
_MAX_PHONE_DIGITS: Final = 20


@dataclass(frozen=True, slots=True)
class ContactIn:
    """One contact of ``list`` (``call/append``, ``task/create``)."""

    contact_id: str
    phone: str
    name: str = ""
    #: ``(name, value)`` pairs in the order sent; names distinct.
    params: tuple[tuple[str, str], ...] = ()
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
    country_code: str = ""
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


# -- parsers ----------------------------------------------------------------------------------


def parse_task_create(body: dict[str, Any]) -> TaskCreate:
    """Validate and coerce a ``task/create`` body; a 20000 names every bad field.

    ``orderMaxCall`` and ``replayInterval`` stay None when not sent (the lifecycle applies its
    defaults, 1 and 300 s).
    """
    problems: list[str] = []
    task_name = _string(body, "taskName", problems, max_length=MAX_NAME_LENGTH, required=True)
    if task_name and not task_name.strip():
        problems.append("taskName: must not be blank")
    auto_flow_id = _required_int(body, "autoFlowId", problems, low=1)
    route_id = _string(body, "routeId", problems, max_length=MAX_ID_LENGTH, required=True)
    task_keep = _required_int(body, "taskKeep", problems, low=0, high=1)
    startup_type = _required_int(body, "startupType", problems, low=0, high=3)
    user_task_id = _string(body, "userTaskId", problems, max_length=MAX_ID_LENGTH)
    other = _string(body, "other", problems, max_length=MAX_OTHER_LENGTH)
    task_desc = _string(body, "taskDesc", problems, max_length=MAX_DESC_LENGTH)
    startup_at = timestamp(body, "startupAt", problems)
    shutdown_at = timestamp(body, "shutdownAt", problems)
    if startup_type == 2 and is_unset(body.get("startupAt")):
        problems.append("startupAt: required when startupType is 2")
    if startup_at is not None and shutdown_at is not None and shutdown_at <= startup_at:
        problems.append(f"shutdownAt: must be after startupAt ({shutdown_at} <= {startup_at})")
    max_call = integer(body, "maxCall", problems, low=0, high=1000)
    max_ring_time = integer(body, "maxRingTime", problems, low=0, high=300)
    order_max_call = integer(body, "orderMaxCall", problems, low=1, high=10)
    replay_interval = integer(body, "replayInterval", problems, low=0, high=604_800)
    task_callback_url = _url(body, "taskCallbackUrl", problems)
    call_callback_url = _url(body, "callCallbackUrl", problems)
    country_code = _country_code(body, problems)
    strategy_id = _string(body, "strategyId", problems, max_length=MAX_ID_LENGTH)
    agent_group_id = _string(body, "agentGroupId", problems, max_length=MAX_ID_LENGTH)
    contacts = _contacts(body, problems, required=False)
    if problems:
        raise _refusal(problems)
    return TaskCreate(
        task_name=task_name,
        auto_flow_id=auto_flow_id,
        route_id=route_id,
        task_keep=task_keep,
        startup_type=startup_type,
        user_task_id=user_task_id,
        other=other,
        task_desc=task_desc,
        startup_at=startup_at,
        shutdown_at=shutdown_at,
        max_call=0 if max_call is None else max_call,
        max_ring_time=0 if max_ring_time is None else max_ring_time,
        order_max_call=order_max_call,
        replay_interval=replay_interval,
        task_callback_url=task_callback_url,
        call_callback_url=call_callback_url,
        country_code=country_code,
        strategy_id=strategy_id,
        agent_group_id=agent_group_id,
        contacts=contacts,
    )


def parse_call_append(body: dict[str, Any]) -> CallAppend:
    """Validate and coerce a ``call/append`` body: the task, ``countryCode``, 1..10000 contacts.

    A ``contactId`` repeated within the request is refused here; one used before in the account
    is the lifecycle's to refuse (with the same message).
    """
    problems: list[str] = []
    ref = _task_ref(body, problems)
    country_code = _country_code(body, problems)
    contacts = _contacts(body, problems, required=True)
    call_callback_url = _url(body, "callCallbackUrl", problems)
    if problems:
        raise _refusal(problems)
    return CallAppend(ref=ref, contacts=contacts, country_code=country_code,
                      call_callback_url=call_callback_url)  # fmt: skip


def parse_order_delete(body: dict[str, Any]) -> OrderDelete:
    """Validate and coerce an ``order/delete`` body: the task and a ``contactId``."""
    problems: list[str] = []
    ref = _task_ref(body, problems)
    contact_id = _contact_id("contactId", body.get("contactId"), problems)
    if problems:
        raise _refusal(problems)
    return OrderDelete(ref=ref, contact_id=contact_id)


def parse_task_action(body: dict[str, Any], *, default_startup_by: str) -> TaskAction:
    """Validate and coerce a ``task/start`` body: the task and ``startupBy``.

    ``startupBy`` not set is ``default_startup_by`` (the caller's ``accessKey``).
    """
    problems: list[str] = []
    ref = _task_ref(body, problems)
    startup_by = _string(body, "startupBy", problems, max_length=MAX_ID_LENGTH)
    if problems:
        raise _refusal(problems)
    return TaskAction(ref=ref, startup_by=startup_by or default_startup_by)


def parse_task_pause(body: dict[str, Any]) -> TaskAction:
    """Validate a ``task/pause`` body: the task only (``startupBy`` is not a field of pause)."""
    problems: list[str] = []
    ref = _task_ref(body, problems)
    if problems:
        raise _refusal(problems)
    return TaskAction(ref=ref)


def parse_call_list(body: dict[str, Any]) -> CallListQuery:
    """Validate and coerce a ``call/list`` body: ``taskId``, the filters and the page."""
    problems: list[str] = []
    task_id = _string(body, "taskId", problems, max_length=MAX_ID_LENGTH, required=True)
    start_ts = timestamp(body, "startTs", problems)
    end_ts = timestamp(body, "endTs", problems)
    if start_ts is not None and end_ts is not None and end_ts < start_ts:
        problems.append(f"endTs: must be at least startTs ({end_ts} < {start_ts})")
    call_id = _string(body, "callId", problems, max_length=MAX_ID_LENGTH)
    phone = _string(body, "phone", problems, max_length=MAX_ID_LENGTH)
    call_result = _call_result(body, problems)
    user_intent = _string(body, "userIntent", problems, max_length=MAX_NAME_LENGTH)
    min_elapsed = integer(body, "minElapsed", problems, low=0)
    max_elapsed = integer(body, "maxElapsed", problems, low=0)
    if min_elapsed is not None and max_elapsed is not None and max_elapsed < min_elapsed:
        problems.append(f"maxElapsed: must be at least minElapsed ({max_elapsed} < {min_elapsed})")
    page_number, page_size = page(body, problems, default_size=10)
    if problems:
        raise _refusal(problems)
    return CallListQuery(
        task_id=task_id,
        start_ts=start_ts,
        end_ts=end_ts,
        call_id=call_id or None,
        phone=phone or None,
        call_result=call_result,
        user_intent=user_intent or None,
        min_elapsed=min_elapsed,
        max_elapsed=max_elapsed,
        page_number=page_number,
        page_size=page_size,
    )


def parse_flow_list(body: dict[str, Any]) -> NameQuery:
    """Validate and coerce a ``flow/list`` body: ``name`` and the page (default size 10)."""
    return _name_query(body, "name", default_size=10)


def parse_route_list(body: dict[str, Any]) -> NameQuery:
    """Validate and coerce a ``route/list`` body: ``routeName`` and the page (default 100)."""
    return _name_query(body, "routeName", default_size=100)


# -- fields -----------------------------------------------------------------------------------


def _refusal(problems: list[str]) -> ApiError:
    """The 20000 listing the first :data:`MAX_PROBLEMS` problems and counting the rest."""
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]
    return business_error(problems)


def _text(label: str, text: str, problems: list[str], *, max_length: int | None) -> str:
    """``text`` when it is valid Unicode within ``max_length``; else "" after recording why."""
    if not is_unicode(text):
        problems.append(f"{label}: not valid Unicode (contains a lone surrogate escape)")
        return ""
    # PostgreSQL text cannot hold NUL.
    if "\x00" in text:
        problems.append(f"{label}: must not contain the NUL character")
        return ""
    if max_length is not None and len(text) > max_length:
        problems.append(f"{label}: at most {max_length} characters, got {len(text)}")
        return ""
    return text


def _string_value(
    label: str, value: Any, problems: list[str], *, max_length: int | None, required: bool
) -> str:
    """A string field's value; "" when not set (recorded as missing when ``required``) or bad."""
    if is_unset(value):
        if required:
            problems.append(f"{label}: required")
        return ""
    if not isinstance(value, str):
        problems.append(f"{label}: must be a string, got {json_type(value)}")
        return ""
    return _text(label, value, problems, max_length=max_length)


def _string(
    body: dict[str, Any],
    name: str,
    problems: list[str],
    *,
    max_length: int | None,
    required: bool = False,
) -> str:
    return _string_value(name, body.get(name), problems, max_length=max_length, required=required)


def _required_int(
    body: dict[str, Any], name: str, problems: list[str], *, low: int, high: int | None = None
) -> int:
    """A required integer field; 0 after recording the problem (the request is then refused)."""
    if is_unset(body.get(name)):
        problems.append(f"{name}: required")
        return 0
    number = integer(body, name, problems, low=low, high=high)
    return 0 if number is None else number


def _task_ref(body: dict[str, Any], problems: list[str]) -> TaskRef:
    """``taskId`` or ``userTaskId``; only the winner is kept (``userTaskId`` when both are set)."""
    task_id = _string(body, "taskId", problems, max_length=MAX_ID_LENGTH)
    user_task_id = _string(body, "userTaskId", problems, max_length=MAX_ID_LENGTH)
    if user_task_id:
        return TaskRef(user_task_id=user_task_id)
    if task_id:
        return TaskRef(task_id=task_id)
    if is_unset(body.get("taskId")) and is_unset(body.get("userTaskId")):
        problems.append("taskId: required (or userTaskId)")
    return TaskRef()


def _url(body: dict[str, Any], name: str, problems: list[str]) -> str:
    url = _string(body, name, problems, max_length=MAX_URL_LENGTH)
    if url and not _is_http_url(url):
        problems.append(f"{name}: must be an http(s) URL, got {shown(url)}")
        return ""
    return url


def _is_http_url(url: str) -> bool:
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


def _country_code(body: dict[str, Any], problems: list[str]) -> str:
    code = _string(body, "countryCode", problems, max_length=None)
    if code and not _COUNTRY_CODE.fullmatch(code):
        problems.append(
            f"countryCode: must be 1 to 4 digits with an optional leading +, got {shown(code)}"
        )
        return ""
    return code


def _call_result(body: dict[str, Any], problems: list[str]) -> int | None:
    value = body.get("callResult")
    if is_unset(value):
        return None
    number = coerce_int("callResult", value, problems)
    if number is not None and number not in CALL_RESULTS:
        allowed = ", ".join(map(str, CALL_RESULTS))
        problems.append(f"callResult: must be one of {allowed}, got {number}")
        return None
    return number


def _name_query(body: dict[str, Any], name: str, *, default_size: int) -> NameQuery:
    problems: list[str] = []
    text = _string(body, name, problems, max_length=MAX_NAME_LENGTH)
    page_number, page_size = page(body, problems, default_size=default_size)
    if problems:
        raise _refusal(problems)
    return NameQuery(
        name_fold=text.casefold() if text else None,
        page_number=page_number,
        page_size=page_size,
    )


# -- contacts ---------------------------------------------------------------------------------


def _contacts(
    body: dict[str, Any], problems: list[str], *, required: bool
) -> tuple[ContactIn, ...]:
    """``list``: at most :data:`MAX_CONTACTS` contacts, ``contactId`` distinct within it."""
    value = body.get("list")
    if is_unset(value):
        if required:
            problems.append("list: required")
        return ()
    if not isinstance(value, list):
        problems.append("list: must be an array")
        return ()
    if len(value) > MAX_CONTACTS:
        problems.append(f"list: at most {MAX_CONTACTS} contacts, got {len(value)}")
        return ()
    if required and not value:
        problems.append("list: must not be empty")
        return ()
    contacts: list[ContactIn] = []
    seen: set[str] = set()
    repeated: set[str] = set()
    for index, item in enumerate(value):
        label = f"list[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{label}: must be an object, got {json_type(item)}")
            continue
        contact_id = _contact_id(f"{label}.contactId", item.get("contactId"), problems)
        if contact_id in seen and contact_id not in repeated:
            repeated.add(contact_id)
            problems.append(f"Duplicate contactIds are not allowed: {contact_id}")
        elif contact_id:
            seen.add(contact_id)
        contacts.append(
            ContactIn(
                contact_id=contact_id,
                phone=_phone(f"{label}.phoneNumber", item.get("phoneNumber"), problems),
                name=_string_value(
                    f"{label}.name",
                    item.get("name"),
                    problems,
                    max_length=MAX_NAME_LENGTH,
                    required=False,
                ),
                params=_params(f"{label}.params", item.get("params"), problems),
                other=_string_value(
                    f"{label}.other",
                    item.get("other"),
                    problems,
                    max_length=MAX_OTHER_LENGTH,
                    required=False,
                ),
            )
        )
    return tuple(contacts)


def _contact_id(label: str, value: Any, problems: list[str]) -> str:
    """A string of 1..64 characters, or a JSON integer as its decimal string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _text(label, str(value), problems, max_length=MAX_ID_LENGTH)
    if not is_unset(value) and not isinstance(value, str):
        problems.append(f"{label}: must be a string or an integer, got {json_type(value)}")
        return ""
    return _string_value(label, value, problems, max_length=MAX_ID_LENGTH, required=True)


def _phone(label: str, value: Any, problems: list[str]) -> str:
    """``+?[0-9]{3,20}``, kept as sent (with its ``+``)."""
    phone = _string_value(label, value, problems, max_length=None, required=True)
    if not phone:
        return ""
    if not _PHONE.fullmatch(phone):
        problems.append(f"{label}: must be digits with an optional leading +, got {shown(phone)}")
        return ""
    digits = len(phone) - phone.startswith("+")
    if not _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
        problems.append(
            f"{label}: must have {_MIN_PHONE_DIGITS} to {_MAX_PHONE_DIGITS} digits, got {digits}"
        )
        return ""
    return phone


def _params(label: str, value: Any, problems: list[str]) -> tuple[tuple[str, str], ...]:
    """``[{name, value}]``: names 1..64 characters and distinct; values strings or numbers."""
    if is_unset(value):
        return ()
    if not isinstance(value, list):
        problems.append(f"{label}: must be an array, got {json_type(value)}")
        return ()
    params: list[tuple[str, str]] = []
    names: set[str] = set()
    for index, item in enumerate(value):
        where = f"{label}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object, got {json_type(item)}")
            continue
        name = _string_value(
            f"{where}.name", item.get("name"), problems, max_length=MAX_ID_LENGTH, required=True
        )
        if name in names:
            problems.append(f"{where}.name: {shown(name)} is repeated; names must be distinct")
        elif name:
            names.add(name)
        params.append((name, _param_value(f"{where}.value", item.get("value"), problems)))
    return tuple(params)


def _param_value(label: str, value: Any, problems: list[str]) -> str:
    """A string, or a JSON number as text: an integer's digits, a fraction as a double's
    shortest decimal form (the same text whichever path the body's parser took)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _text(label, value, problems, max_length=MAX_PARAM_VALUE_LENGTH)
    if isinstance(value, NonFinite):
        problems.append(f"{label}: must be a finite number, got {value.literal}")
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        problems.append(f"{label}: must be a string or a number, got {json_type(value)}")
        return ""
    if isinstance(value, int):
        return _text(label, str(value), problems, max_length=MAX_PARAM_VALUE_LENGTH)
    number = float(value)
    if number in (float("inf"), float("-inf")):
        problems.append(f"{label}: out of range for a number, got {clip(str(value))}")
        return ""
    return format(Decimal(repr(number)), "f")
