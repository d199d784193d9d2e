"""The lifecycle endpoints' request parsers: every rule of the wire decisions, exact messages.

Bodies are written as JSON text and go through ``parse_json_object`` first, as the server does,
so that numbers arrive as they would (ints, Decimal for fractions, NonFinite for NaN).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from nxlink.service.errors import ApiError
from nxlink.service.requests import (
    MAX_CONTACTS,
    CallAppend,
    CallListQuery,
    ContactIn,
    NameQuery,
    OrderDelete,
    TaskAction,
    TaskCreate,
    TaskRef,
    parse_call_append,
    parse_call_list,
    parse_flow_list,
    parse_order_delete,
    parse_route_list,
    parse_task_action,
    parse_task_create,
    parse_task_pause,
)
from nxlink.service.tasks import parse_json_object

Parser = Callable[[dict[str, Any]], Any]

parse_task_start: Parser = partial(parse_task_action, default_startup_by="AK-caller")

CREATE: dict[str, Any] = {
    "taskName": "Renewals",
    "autoFlowId": 7,
    "routeId": "R-1",
    "taskKeep": 0,
    "startupType": 1,
}
CONTACT: dict[str, Any] = {"contactId": "c1", "phoneNumber": "85212345678"}
APPEND: dict[str, Any] = {"taskId": "t-1", "list": [CONTACT]}


def run(parser: Parser, body: str | dict[str, Any]) -> Any:
    """``parser`` over ``body`` (JSON text, or a dict dumped as JSON) as the server parses it."""
    text = body if isinstance(body, str) else json.dumps(body)
    return parser(parse_json_object(text.encode()))


def refusal(parser: Parser, body: str | dict[str, Any]) -> str:
    """The message of the 20000 ``body`` is refused with."""
    with pytest.raises(ApiError) as info:
        run(parser, body)
    assert info.value.code == 20000
    assert info.value.http_status == 200
    info.value.message.encode("utf-8")  # always renderable
    return info.value.message


def with_field(base: dict[str, Any], field: str, json_value: str | None) -> str:
    """``base`` as JSON text with ``field`` set to ``json_value`` (JSON text), or removed."""
    rest = json.dumps({k: v for k, v in base.items() if k != field})
    if json_value is None:
        return rest
    extra = f'"{field}": {json_value}'
    return f"{{{extra}}}" if rest == "{}" else f"{rest[:-1]}, {extra}}}"


def contact_with(field: str, json_value: str | None, base: dict[str, Any] = CONTACT) -> str:
    """An append body whose only contact has ``field`` set to ``json_value`` (or removed)."""
    return f'{{"taskId": "t-1", "list": [{with_field(base, field, json_value)}]}}'


def dumped(text: str) -> str:
    return json.dumps(text)


# -- task/create: accepted ----------------------------------------------------------------------


def test_create_minimal_body_and_defaults() -> None:
    assert run(parse_task_create, CREATE) == TaskCreate(
        task_name="Renewals",
        auto_flow_id=7,
        route_id="R-1",
        task_keep=0,
        startup_type=1,
        user_task_id="",
        other="",
        task_desc="",
        startup_at=None,
        shutdown_at=None,
        max_call=0,
        max_ring_time=0,
        order_max_call=None,
        replay_interval=None,
        task_callback_url="",
        call_callback_url="",
        country_code="",
        strategy_id="",
        agent_group_id="",
        contacts=(),
    )


def test_create_every_field() -> None:
    body = {
        "taskName": " Renewals 牛小信 ",
        "autoFlowId": "7",
        "routeId": "R-1",
        "taskKeep": 1,
        "startupType": 2,
        "userTaskId": "u-1",
        "other": "pass-through",
        "taskDesc": "Q3 renewals",
        "startupAt": 1_767_225_600,
        "shutdownAt": "1767229200",
        "maxCall": 20,
        "maxRingTime": 45,
        "orderMaxCall": 3,
        "replayInterval": 600,
        "taskCallbackUrl": "https://example.com/task",
        "callCallbackUrl": "http://127.0.0.1:8080/call?x=1",
        "countryCode": "+852",
        "strategyId": "S-1",
        "agentGroupId": "G-1",
        "list": [
            {
                "contactId": 42,
                "phoneNumber": "+85212345678",
                "name": "Chan Tai Man",
                "params": [{"name": "plan", "value": "gold"}, {"name": "due", "value": 30}],
                "other": "row 1",
            },
            {"contactId": "c2", "phoneNumber": "0085212345678"},
        ],
        "unknownField": [1, 2, 3],
    }
    assert run(parse_task_create, body) == TaskCreate(
        task_name=" Renewals 牛小信 ",
        auto_flow_id=7,
        route_id="R-1",
        task_keep=1,
        startup_type=2,
        user_task_id="u-1",
        other="pass-through",
        task_desc="Q3 renewals",
        startup_at=1_767_225_600,
        shutdown_at=1_767_229_200,
        max_call=20,
        max_ring_time=45,
        order_max_call=3,
        replay_interval=600,
        task_callback_url="https://example.com/task",
        call_callback_url="http://127.0.0.1:8080/call?x=1",
        country_code="+852",
        strategy_id="S-1",
        agent_group_id="G-1",
        contacts=(
            ContactIn(
                contact_id="42",
                phone="+85212345678",
                name="Chan Tai Man",
                params=(("plan", "gold"), ("due", 30)),
                other="row 1",
            ),
            ContactIn(contact_id="c2", phone="0085212345678"),
        ),
    )


CREATE_ACCEPTED: list[tuple[str, str, str, Any]] = [
    ("taskName", dumped("x" * 200), "task_name", "x" * 200),
    ("taskName", dumped("a"), "task_name", "a"),
    ("taskName", dumped("牛" * 200), "task_name", "牛" * 200),
    ("autoFlowId", "1", "auto_flow_id", 1),
    ("autoFlowId", '"7"', "auto_flow_id", 7),
    ("autoFlowId", "7.0", "auto_flow_id", 7),
    ("autoFlowId", "1e1", "auto_flow_id", 10),
    ("autoFlowId", "2147483647", "auto_flow_id", 2147483647),
    ("autoFlowId", "2147483648", "auto_flow_id", 2**31),
    ("autoFlowId", "9223372036854775807", "auto_flow_id", 2**63 - 1),
    ("autoFlowId", '"9223372036854775807"', "auto_flow_id", 2**63 - 1),
    ("autoFlowId", "9.2e18", "auto_flow_id", 9_200_000_000_000_000_000),
    ("routeId", dumped("r" * 64), "route_id", "r" * 64),
    ("taskKeep", "0", "task_keep", 0),
    ("taskKeep", '"1"', "task_keep", 1),
    ("startupType", "0", "startup_type", 0),
    ("startupType", "3", "startup_type", 3),
    ("userTaskId", dumped("u" * 64), "user_task_id", "u" * 64),
    ("userTaskId", "null", "user_task_id", ""),
    ("userTaskId", '""', "user_task_id", ""),
    ("other", dumped("o" * 4096), "other", "o" * 4096),
    ("taskDesc", dumped("d" * 1000), "task_desc", "d" * 1000),
    ("startupAt", "0", "startup_at", 0),
    ("startupAt", "2147483647", "startup_at", 2147483647),
    ("startupAt", '""', "startup_at", None),
    ("shutdownAt", "0", "shutdown_at", 0),
    ("shutdownAt", "null", "shutdown_at", None),
    ("maxCall", "0", "max_call", 0),
    ("maxCall", "1000", "max_call", 1000),
    ("maxCall", "null", "max_call", 0),
    ("maxCall", '""', "max_call", 0),
    ("maxRingTime", "0", "max_ring_time", 0),
    ("maxRingTime", "300", "max_ring_time", 300),
    ("maxRingTime", '""', "max_ring_time", 0),
    ("orderMaxCall", "1", "order_max_call", 1),
    ("orderMaxCall", "10", "order_max_call", 10),
    ("orderMaxCall", "null", "order_max_call", None),
    ("orderMaxCall", '""', "order_max_call", None),
    ("replayInterval", "0", "replay_interval", 0),
    ("replayInterval", "604800", "replay_interval", 604800),
    ("replayInterval", "null", "replay_interval", None),
    ("countryCode", '"852"', "country_code", "852"),
    ("countryCode", '"+852"', "country_code", "+852"),
    ("countryCode", '"1"', "country_code", "1"),
    ("countryCode", '"+1234"', "country_code", "+1234"),
    ("countryCode", '"0086"', "country_code", "0086"),
    ("countryCode", '""', "country_code", ""),
    ("strategyId", dumped("s" * 64), "strategy_id", "s" * 64),
    ("agentGroupId", dumped("g" * 64), "agent_group_id", "g" * 64),
    ("list", "[]", "contacts", ()),
    ("list", "null", "contacts", ()),
    ("list", '""', "contacts", ()),
]


@pytest.mark.parametrize(("field", "json_value", "attr", "expected"), CREATE_ACCEPTED)
def test_create_accepts(field: str, json_value: str, attr: str, expected: Any) -> None:
    assert getattr(run(parse_task_create, with_field(CREATE, field, json_value)), attr) == expected


# -- task/create: refused -------------------------------------------------------------------------

REQUIRED = ["taskName", "autoFlowId", "routeId", "taskKeep", "startupType"]


@pytest.mark.parametrize("field", REQUIRED)
@pytest.mark.parametrize("json_value", [None, "null", '""'])
def test_create_required_fields(field: str, json_value: str | None) -> None:
    body = with_field(CREATE, field, json_value)
    assert refusal(parse_task_create, body) == f"{field}: required"


def test_create_empty_body_names_every_required_field() -> None:
    assert refusal(parse_task_create, "{}") == (
        "taskName: required; autoFlowId: required; routeId: required; taskKeep: required; "
        "startupType: required"
    )


CREATE_REFUSED: list[tuple[str, str, str]] = [
    ("taskName", "5", "taskName: must be a string, got 5"),
    ("taskName", "true", "taskName: must be a string, got a boolean"),
    ("taskName", '["a"]', "taskName: must be a string, got an array"),
    ("taskName", '{"a": 1}', "taskName: must be a string, got an object"),
    ("taskName", '"   "', "taskName: must not be blank"),
    ("taskName", '"\\t\\n"', "taskName: must not be blank"),
    ("taskName", dumped("x" * 201), "taskName: at most 200 characters, got 201"),
    ("taskName", '"a\\ud800"', "taskName: not valid Unicode (contains a lone surrogate escape)"),
    ("taskName", '"a\\u0000b"', "taskName: must not contain the NUL character"),
    ("autoFlowId", "0", "autoFlowId: must be at least 1, got 0"),
    ("autoFlowId", "-3", "autoFlowId: must be at least 1, got -3"),
    ("autoFlowId", '"abc"', 'autoFlowId: must be an integer, got the string "abc"'),
    ("autoFlowId", '" 7"', 'autoFlowId: must be an integer, got the string " 7"'),
    ("autoFlowId", "1.5", "autoFlowId: must be an integer, not a fraction (1.5)"),
    ("autoFlowId", "true", "autoFlowId: must be an integer, got a boolean"),
    ("autoFlowId", "[7]", "autoFlowId: must be an integer, got an array"),
    ("autoFlowId", "NaN", "autoFlowId: must be a finite integer, got NaN"),
    ("autoFlowId", "-Infinity", "autoFlowId: must be a finite integer, got -Infinity"),
    (
        "autoFlowId",
        "9223372036854775808",
        "autoFlowId: out of range for a 64-bit integer, got 9223372036854775808",
    ),
    (
        "autoFlowId",
        '"9223372036854775808"',
        "autoFlowId: out of range for a 64-bit integer, got 9223372036854775808",
    ),
    (
        "autoFlowId",
        '"99999999999999999999"',
        'autoFlowId: out of range for a 64-bit integer, got "99999999999999999999"',
    ),
    (
        "autoFlowId",
        "9.3e18",
        "autoFlowId: out of range for a 64-bit integer, got 9.3E+18",
    ),
    ("autoFlowId", '"\\ud800"', 'autoFlowId: must be an integer, got the string "\\ud800"'),
    ("routeId", "12", "routeId: must be a string, got 12"),
    ("routeId", "[]", "routeId: must be a string, got an array"),
    ("routeId", dumped("r" * 65), "routeId: at most 64 characters, got 65"),
    ("taskKeep", "2", "taskKeep: must be from 0 to 1, got 2"),
    ("taskKeep", "-1", "taskKeep: must be from 0 to 1, got -1"),
    ("taskKeep", "false", "taskKeep: must be an integer, got a boolean"),
    ("startupType", "4", "startupType: must be from 0 to 3, got 4"),
    ("startupType", "-1", "startupType: must be from 0 to 3, got -1"),
    ("startupType", '"one"', 'startupType: must be an integer, got the string "one"'),
    ("userTaskId", dumped("u" * 65), "userTaskId: at most 64 characters, got 65"),
    ("userTaskId", "{}", "userTaskId: must be a string, got an object"),
    ("userTaskId", "17", "userTaskId: must be a string, got 17"),
    ("other", dumped("o" * 4097), "other: at most 4096 characters, got 4097"),
    ("other", "1.25", "other: must be a string, got 1.25"),
    ("taskDesc", dumped("d" * 1001), "taskDesc: at most 1000 characters, got 1001"),
    ("taskDesc", "false", "taskDesc: must be a string, got a boolean"),
    ("startupAt", "-1", "startupAt: must be at least 0, got -1"),
    (
        "startupAt",
        "1767225600000",
        "startupAt: 1767225600000 looks like epoch milliseconds; send epoch seconds",
    ),
    (
        "startupAt",
        '"100000000000"',
        "startupAt: 100000000000 looks like epoch milliseconds; send epoch seconds",
    ),
    ("startupAt", "99999999999", "startupAt: out of range for a 32-bit integer, got 99999999999"),
    ("shutdownAt", '"soon"', 'shutdownAt: must be an integer, got the string "soon"'),
    ("shutdownAt", "1.5", "shutdownAt: must be an integer, not a fraction (1.5)"),
    ("maxCall", "1001", "maxCall: must be from 0 to 1000, got 1001"),
    ("maxCall", "-1", "maxCall: must be from 0 to 1000, got -1"),
    ("maxRingTime", "301", "maxRingTime: must be from 0 to 300, got 301"),
    ("maxRingTime", "-1", "maxRingTime: must be from 0 to 300, got -1"),
    ("orderMaxCall", "0", "orderMaxCall: must be from 1 to 10, got 0"),
    ("orderMaxCall", "11", "orderMaxCall: must be from 1 to 10, got 11"),
    ("replayInterval", "604801", "replayInterval: must be from 0 to 604800, got 604801"),
    ("replayInterval", "-1", "replayInterval: must be from 0 to 604800, got -1"),
    ("countryCode", "852", "countryCode: must be a string, got 852"),
    (
        "countryCode",
        '"12345"',
        'countryCode: must be 1 to 4 digits with an optional leading +, got "12345"',
    ),
    (
        "countryCode",
        '"+"',
        'countryCode: must be 1 to 4 digits with an optional leading +, got "+"',
    ),
    (
        "countryCode",
        '"++85"',
        'countryCode: must be 1 to 4 digits with an optional leading +, got "++85"',
    ),
    (
        "countryCode",
        '"8 52"',
        'countryCode: must be 1 to 4 digits with an optional leading +, got "8 52"',
    ),
    (
        "countryCode",
        '"HK"',
        'countryCode: must be 1 to 4 digits with an optional leading +, got "HK"',
    ),
    (
        "countryCode",
        '"８５２"',
        'countryCode: must be 1 to 4 digits with an optional leading +, got "８５２"',
    ),
    ("strategyId", dumped("s" * 65), "strategyId: at most 64 characters, got 65"),
    ("agentGroupId", "true", "agentGroupId: must be a string, got a boolean"),
    ("list", '{"contactId": "c1"}', "list: must be an array"),
    ("list", '"c1,c2"', "list: must be an array"),
    ("list", "[3]", "list[0]: must be an object, got 3"),
]


@pytest.mark.parametrize(("field", "json_value", "message"), CREATE_REFUSED)
def test_create_refuses(field: str, json_value: str, message: str) -> None:
    assert refusal(parse_task_create, with_field(CREATE, field, json_value)) == message


# -- task/create: cross-field rules ------------------------------------------------------------


@pytest.mark.parametrize("startup_at", [None, "null", '""'])
@pytest.mark.parametrize("startup_type", ["2", '"2"', "2.0"])
def test_startup_type_2_needs_startup_at(startup_at: str | None, startup_type: str) -> None:
    body = json.loads(with_field(CREATE, "startupAt", startup_at))
    text = with_field(body, "startupType", startup_type)
    assert refusal(parse_task_create, text) == "startupAt: required when startupType is 2"


@pytest.mark.parametrize("startup_type", [0, 1, 3])
def test_other_startup_types_need_no_startup_at(startup_type: int) -> None:
    created = run(parse_task_create, CREATE | {"startupType": startup_type})
    assert (created.startup_type, created.startup_at) == (startup_type, None)


def test_startup_type_2_with_startup_at() -> None:
    created = run(parse_task_create, CREATE | {"startupType": 2, "startupAt": 0})
    assert (created.startup_type, created.startup_at) == (2, 0)


def test_a_bad_startup_at_is_named_once() -> None:
    body = CREATE | {"startupType": 2, "startupAt": -5}
    assert refusal(parse_task_create, body) == "startupAt: must be at least 0, got -5"


@pytest.mark.parametrize(
    ("startup_at", "shutdown_at", "message"),
    [
        (100, 100, "shutdownAt: must be after startupAt (100 <= 100)"),
        (100, 99, "shutdownAt: must be after startupAt (99 <= 100)"),
        (1_767_225_600, 0, "shutdownAt: must be after startupAt (0 <= 1767225600)"),
    ],
)
def test_shutdown_at_must_follow_startup_at(
    startup_at: int, shutdown_at: int, message: str
) -> None:
    body = CREATE | {"startupAt": startup_at, "shutdownAt": shutdown_at}
    assert refusal(parse_task_create, body) == message


@pytest.mark.parametrize(
    ("startup_at", "shutdown_at"), [(100, 101), (None, 5), (5, None), (0, 2147483647)]
)
def test_shutdown_at_after_startup_at_or_alone(
    startup_at: int | None, shutdown_at: int | None
) -> None:
    created = run(parse_task_create, CREATE | {"startupAt": startup_at, "shutdownAt": shutdown_at})
    assert (created.startup_at, created.shutdown_at) == (startup_at, shutdown_at)


# -- task/create: callback URLs ----------------------------------------------------------------

BAD_URLS = [
    "ftp://x",
    "javascript:alert(1)",
    "http://",
    "https://",
    "example.com",
    "example.com/callback",
    "//example.com/callback",
    "http:example.com",
    "http:/example.com",
    "https:///path",
    "http://:8080/cb",
    "http://exa mple.com/cb",
    " http://example.com",
    "http://example.com/\n",
    "http://example.com:0/cb",
    "http://example.com:99999/cb",
    "http://example.com:port/cb",
    "mailto:ops@example.com",
    "file:///etc/passwd",
    "ws://example.com/socket",
]


@pytest.mark.parametrize("field", ["taskCallbackUrl", "callCallbackUrl"])
@pytest.mark.parametrize("url", BAD_URLS)
def test_callback_urls_refused(field: str, url: str) -> None:
    message = refusal(parse_task_create, CREATE | {field: url})
    assert message == f"{field}: must be an http(s) URL, got {json.dumps(url)}"


def test_a_long_bad_url_is_clipped_in_the_message() -> None:
    url = "ftp://example.com/" + "a" * 100
    message = refusal(parse_task_create, CREATE | {"taskCallbackUrl": url})
    assert (
        message
        == 'taskCallbackUrl: must be an http(s) URL, got "ftp://example.com/aaaaaaaaaaaaaaaaaaa..."'
    )


GOOD_URLS = [
    "http://example.com",
    "https://example.com/",
    "https://example.com/hooks/task?token=abc&x=1#frag",
    "HTTPS://Example.COM:8443/a",
    "http://127.0.0.1:8080/cb",
    "http://[::1]:9000/cb",
    "http://user:pass@example.com/cb",
    "https://例え.jp/コールバック",
    "https://example.com/" + "a" * (2048 - len("https://example.com/")),
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_callback_urls_accepted(url: str) -> None:
    created = run(parse_task_create, CREATE | {"taskCallbackUrl": url, "callCallbackUrl": url})
    assert (created.task_callback_url, created.call_callback_url) == (url, url)


def test_callback_url_length_limit() -> None:
    url = "https://example.com/" + "a" * (2049 - len("https://example.com/"))
    message = refusal(parse_task_create, CREATE | {"callCallbackUrl": url})
    assert message == "callCallbackUrl: at most 2048 characters, got 2049"


@pytest.mark.parametrize(
    ("json_value", "message"),
    [
        ("42", "taskCallbackUrl: must be a string, got 42"),
        ('["http://example.com"]', "taskCallbackUrl: must be a string, got an array"),
    ],
)
def test_callback_url_must_be_a_string(json_value: str, message: str) -> None:
    assert refusal(parse_task_create, with_field(CREATE, "taskCallbackUrl", json_value)) == message


# -- task/create: several problems in one message ----------------------------------------------


def test_create_names_every_bad_field_in_order() -> None:
    body = {
        "taskName": 5,
        "autoFlowId": 0,
        "taskKeep": 3,
        "startupType": 2,
        "shutdownAt": -1,
        "maxCall": 1001,
        "taskCallbackUrl": "ftp://x",
        "countryCode": "+",
        "list": [{"contactId": "a", "phoneNumber": "12a"}],
    }
    assert refusal(parse_task_create, body) == (
        "taskName: must be a string, got 5; "
        "autoFlowId: must be at least 1, got 0; "
        "routeId: required; "
        "taskKeep: must be from 0 to 1, got 3; "
        "shutdownAt: must be at least 0, got -1; "
        "startupAt: required when startupType is 2; "
        "maxCall: must be from 0 to 1000, got 1001; "
        'taskCallbackUrl: must be an http(s) URL, got "ftp://x"; '
        'countryCode: must be 1 to 4 digits with an optional leading +, got "+"; '
        'list[0].phoneNumber: must be digits with an optional leading +, got "12a"'
    )


# -- contacts (call/append and task/create) ------------------------------------------------------


def test_append_minimal() -> None:
    assert run(parse_call_append, APPEND) == CallAppend(
        ref=TaskRef(task_id="t-1", user_task_id=None),
        contacts=(ContactIn(contact_id="c1", phone="85212345678"),),
        country_code="",
    )


def test_append_full_contact_and_country_code() -> None:
    body = {
        "taskId": "t-1",
        "countryCode": "+852",
        "list": [
            {
                "contactId": "c1",
                "phoneNumber": "+85212345678",
                "name": "牛小信",
                "params": [{"name": "plan", "value": "gold"}, {"name": "amount", "value": 12}],
                "other": '{"crm": 7}',
            },
            {"contactId": 2, "phoneNumber": "0085212345678", "name": "", "params": []},
        ],
    }
    assert run(parse_call_append, body) == CallAppend(
        ref=TaskRef(task_id="t-1"),
        contacts=(
            ContactIn(
                contact_id="c1",
                phone="+85212345678",
                name="牛小信",
                params=(("plan", "gold"), ("amount", 12)),
                other='{"crm": 7}',
            ),
            ContactIn(contact_id="2", phone="0085212345678"),
        ),
        country_code="+852",
    )


@pytest.mark.parametrize(
    ("json_value", "contact_id"),
    [
        ('"c1"', "c1"),
        ("42", "42"),
        ("-7", "-7"),
        ("0", "0"),
        ("9223372036854775807", "9223372036854775807"),
        ('" spaced "', " spaced "),
        (dumped("k" * 64), "k" * 64),
        ('"牛小信"', "牛小信"),
    ],
)
def test_contact_id_forms(json_value: str, contact_id: str) -> None:
    appended = run(parse_call_append, contact_with("contactId", json_value))
    assert appended.contacts[0].contact_id == contact_id


@pytest.mark.parametrize(
    ("json_value", "message"),
    [
        (None, "list[0].contactId: required"),
        ("null", "list[0].contactId: required"),
        ('""', "list[0].contactId: required"),
        ("1.5", "list[0].contactId: must be a string or an integer, got 1.5"),
        ("10.0", "list[0].contactId: must be a string or an integer, got 10.0"),
        ("true", "list[0].contactId: must be a string or an integer, got a boolean"),
        ("[1]", "list[0].contactId: must be a string or an integer, got an array"),
        ('{"id": 1}', "list[0].contactId: must be a string or an integer, got an object"),
        ("NaN", "list[0].contactId: must be a string or an integer, got NaN"),
        (dumped("k" * 65), "list[0].contactId: at most 64 characters, got 65"),
        ('"\\udc00"', "list[0].contactId: not valid Unicode (contains a lone surrogate escape)"),
        ('"a\\u0000"', "list[0].contactId: must not contain the NUL character"),
    ],
)
def test_contact_id_refused(json_value: str | None, message: str) -> None:
    assert refusal(parse_call_append, contact_with("contactId", json_value)) == message


@pytest.mark.parametrize(
    "phone",
    [
        "+85212345678",
        "0085212345678",
        "85212345678",
        "123",
        "+123",
        "000",
        "1" * 20,
        "+" + "1" * 20,
    ],
)
def test_phone_numbers_accepted_as_sent(phone: str) -> None:
    appended = run(parse_call_append, contact_with("phoneNumber", dumped(phone)))
    assert appended.contacts[0].phone == phone


@pytest.mark.parametrize(
    ("json_value", "message"),
    [
        ('"12a"', 'list[0].phoneNumber: must be digits with an optional leading +, got "12a"'),
        (
            '"phone"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "phone"',
        ),
        (
            '"852 1234 5678"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "852 1234 5678"',
        ),
        (
            '" 85212345678"',
            'list[0].phoneNumber: must be digits with an optional leading +, got " 85212345678"',
        ),
        (
            '"852-1234-5678"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "852-1234-5678"',
        ),
        (
            '"(852)12345678"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "(852)12345678"',
        ),
        ('"+"', 'list[0].phoneNumber: must be digits with an optional leading +, got "+"'),
        (
            '"++85212345678"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "++85212345678"',
        ),
        (
            '"852+12345678"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "852+12345678"',
        ),
        (
            '"85212345678\\n"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "85212345678\\n"',
        ),
        (
            '"٨٥٢١٢٣٤٥"',
            'list[0].phoneNumber: must be digits with an optional leading +, got "٨٥٢١٢٣٤٥"',
        ),
        ('"12"', "list[0].phoneNumber: must have 3 to 20 digits, got 2"),
        ('"+12"', "list[0].phoneNumber: must have 3 to 20 digits, got 2"),
        (dumped("1" * 21), "list[0].phoneNumber: must have 3 to 20 digits, got 21"),
        (dumped("+" + "1" * 21), "list[0].phoneNumber: must have 3 to 20 digits, got 21"),
        ("85212345678", "list[0].phoneNumber: must be a string, got 85212345678"),
        ("true", "list[0].phoneNumber: must be a string, got a boolean"),
        (None, "list[0].phoneNumber: required"),
        ("null", "list[0].phoneNumber: required"),
        ('""', "list[0].phoneNumber: required"),
    ],
)
def test_phone_numbers_refused(json_value: str | None, message: str) -> None:
    assert refusal(parse_call_append, contact_with("phoneNumber", json_value)) == message


@pytest.mark.parametrize(
    ("json_value", "expected"),
    [("null", None), ('""', None), ("1", 1), ('"42"', 42), ("9223372036854775807", 2**63 - 1)],
)
def test_append_takes_auto_flow_id(json_value: str, expected: int | None) -> None:
    # The task's flow is the lifecycle's to compare; the parser checks the form only.
    assert run(parse_call_append, with_field(APPEND, "autoFlowId", json_value)).auto_flow_id == (
        expected
    )


@pytest.mark.parametrize(
    ("json_value", "message"),
    [
        ("0", "autoFlowId: must be at least 1, got 0"),
        ("1.5", "autoFlowId: must be an integer, not a fraction (1.5)"),
        ('"x"', 'autoFlowId: must be an integer, got the string "x"'),
        (
            "9223372036854775808",
            "autoFlowId: out of range for a 64-bit integer, got 9223372036854775808",
        ),
    ],
)
def test_append_refuses_a_bad_auto_flow_id(json_value: str, message: str) -> None:
    assert refusal(parse_call_append, with_field(APPEND, "autoFlowId", json_value)) == message


@pytest.mark.parametrize(
    ("field", "json_value", "message"),
    [
        ("name", dumped("n" * 201), "list[0].name: at most 200 characters, got 201"),
        ("name", "5", "list[0].name: must be a string, got 5"),
        ("name", '"\\ud800"', "list[0].name: not valid Unicode (contains a lone surrogate escape)"),
        ("other", dumped("o" * 4097), "list[0].other: at most 4096 characters, got 4097"),
        ("other", '{"a": 1}', "list[0].other: must be a string, got an object"),
        ("params", '{"name": "a"}', "list[0].params: must be an array, got an object"),
        ("params", '"a=1"', 'list[0].params: must be an array, got the string "a=1"'),
        ("params", '["a"]', 'list[0].params[0]: must be an object, got the string "a"'),
        ("params", '[{"value": "1"}]', "list[0].params[0].name: required"),
        ("params", '[{"name": ""}]', "list[0].params[0].name: required"),
        (
            "params",
            '[{"name": 3, "value": "1"}]',
            "list[0].params[0].name: must be a string, got 3",
        ),
        (
            "params",
            f'[{{"name": {dumped("p" * 65)}}}]',
            "list[0].params[0].name: at most 64 characters, got 65",
        ),
        (
            "params",
            '[{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]',
            'list[0].params[1].name: "a" is repeated; names must be distinct',
        ),
        (
            "params",
            '[{"name": "a", "value": NaN}]',
            "list[0].params[0].value: must be a finite number, got NaN",
        ),
        (
            "params",
            '[{"name": "a", "value": {"k": [1, -Infinity]}}]',
            "list[0].params[0].value: must be a finite number, got -Infinity",
        ),
        (
            "params",
            '[{"name": "a", "value": 9223372036854775808}]',
            "list[0].params[0].value: out of range for a 64-bit integer, got 9223372036854775808",
        ),
        (
            "params",
            '[{"name": "a", "value": [-9223372036854775809]}]',
            "list[0].params[0].value: out of range for a 64-bit integer, got -9223372036854775809",
        ),
        (
            "params",
            '[{"name": "a", "value": {"k": 1e400}}]',
            "list[0].params[0].value: out of range for a number, got 1E+400",
        ),
        (
            "params",
            '[{"name": "a", "value": {"k": "\\ud800"}}]',
            "list[0].params[0].value: not valid Unicode (contains a lone surrogate escape)",
        ),
        (
            "params",
            f'[{{"name": "a", "value": {{"k": {dumped("v" * 993)}}}}}]',
            "list[0].params[0].value: at most 1000 characters of JSON, got 1001",
        ),
        (
            "params",
            '[{"name": "a", "value": 1e400}]',
            "list[0].params[0].value: out of range for a number, got 1E+400",
        ),
        (
            "params",
            f'[{{"name": "a", "value": {dumped("v" * 1001)}}}]',
            "list[0].params[0].value: at most 1000 characters, got 1001",
        ),
    ],
)
def test_contact_fields_refused(field: str, json_value: str, message: str) -> None:
    assert refusal(parse_call_append, contact_with(field, json_value)) == message


@pytest.mark.parametrize(
    ("json_value", "params"),
    [
        ("null", ()),
        ('""', ()),
        ("[]", ()),
        ('[{"name": "a", "value": "x"}]', (("a", "x"),)),
        ('[{"name": "a"}]', (("a", None),)),
        ('[{"name": "a", "value": null}]', (("a", None),)),
        ('[{"name": "a", "value": ""}]', (("a", ""),)),
        ('[{"name": "a", "value": 42}]', (("a", 42),)),
        ('[{"name": "a", "value": -7}]', (("a", -7),)),
        ('[{"name": "a", "value": 9223372036854775807}]', (("a", 2**63 - 1),)),
        ('[{"name": "a", "value": -9223372036854775808}]', (("a", -(2**63)),)),
        ('[{"name": "a", "value": 1.50}]', (("a", 1.5),)),
        ('[{"name": "a", "value": -0.25}]', (("a", -0.25),)),
        ('[{"name": "a", "value": 1e2}]', (("a", 100.0),)),
        ('[{"name": "a", "value": 1e-7}]', (("a", 1e-7),)),
        ('[{"name": "a", "value": true}]', (("a", True),)),
        ('[{"name": "a", "value": false}]', (("a", False),)),
        ('[{"name": "a", "value": []}]', (("a", []),)),
        ('[{"name": "a", "value": {}}]', (("a", {}),)),
        (
            '[{"name": "a", "value": {"plan": "gold", "due": [2026, 2, 1], '
            '"x": {"y": null, "z": 2.5, "t": true}}}]',
            (("a", {"plan": "gold", "due": [2026, 2, 1], "x": {"y": None, "z": 2.5, "t": True}}),),
        ),
        (f'[{{"name": "a", "value": {dumped("v" * 1000)}}}]', (("a", "v" * 1000),)),
        (
            f'[{{"name": "a", "value": {{"k": {dumped("v" * 992)}}}}}]',
            (("a", {"k": "v" * 992}),),
        ),
        ('[{"name": "b", "value": "2"}, {"name": "a", "value": "1"}]', (("b", "2"), ("a", "1"))),
        ('[{"name": "a", "value": "1"}, {"name": "A", "value": "2"}]', (("a", "1"), ("A", "2"))),
        ('[{"name": "a", "value": "1", "note": "ignored"}]', (("a", "1"),)),
    ],
)
@pytest.mark.parametrize("slow_path", [False, True])
def test_params(json_value: str, params: tuple[tuple[str, Any], ...], slow_path: bool) -> None:
    body = contact_with("params", json_value)
    if slow_path:  # a top-level fraction sends the whole body through the exact parser
        body = body[:-1] + ', "unknown": 0.5}'
    assert run(parse_call_append, body).contacts[0].params == params


def test_contact_labels_carry_the_index() -> None:
    body = {
        "taskId": "t-1",
        "list": [
            CONTACT,
            "c2",
            {"contactId": "c3", "phoneNumber": "1"},
            {"contactId": "c4", "phoneNumber": "123", "params": [{"name": "x"}, {"value": 1}]},
        ],
    }
    assert refusal(parse_call_append, body) == (
        'list[1]: must be an object, got the string "c2"; '
        "list[2].phoneNumber: must have 3 to 20 digits, got 1; "
        "list[3].params[1].name: required"
    )


@pytest.mark.parametrize(
    ("json_value", "message"),
    [
        (None, "list: required"),
        ("null", "list: required"),
        ('""', "list: required"),
        ("[]", "list: must not be empty"),
        ('{"contactId": "c1"}', "list: must be an array"),
        ('"c1"', "list: must be an array"),
        ("7", "list: must be an array"),
    ],
)
def test_append_list_refused(json_value: str | None, message: str) -> None:
    assert refusal(parse_call_append, with_field(APPEND, "list", json_value)) == message


def many_contacts(count: int) -> list[dict[str, Any]]:
    return [{"contactId": f"c{i}", "phoneNumber": f"852{i:08d}"} for i in range(count)]


@pytest.mark.parametrize(
    ("parser", "base"), [(parse_call_append, APPEND), (parse_task_create, CREATE)]
)
def test_at_most_10000_contacts(parser: Parser, base: dict[str, Any]) -> None:
    assert MAX_CONTACTS == 10_000
    accepted = run(parser, base | {"list": many_contacts(10_000)}).contacts
    assert len(accepted) == 10_000
    assert accepted[-1] == ContactIn(contact_id="c9999", phone="85200009999")
    message = refusal(parser, base | {"list": many_contacts(10_001)})
    assert message == "list: at most 10000 contacts, got 10001"


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (['"c1"', '"c2"', '"c1"'], "Duplicate contactIds are not allowed: c1"),
        (['"7"', "7"], "Duplicate contactIds are not allowed: 7"),
        (["7", "7"], "Duplicate contactIds are not allowed: 7"),
        (['"a"', '"a"', '"a"'], "Duplicate contactIds are not allowed: a"),
        (
            ['"a"', '"b"', '"b"', '"a"'],
            "Duplicate contactIds are not allowed: b; Duplicate contactIds are not allowed: a",
        ),
    ],
)
@pytest.mark.parametrize("parser", [parse_call_append, parse_task_create])
def test_duplicate_contact_ids_in_one_request(ids: list[str], message: str, parser: Parser) -> None:
    contacts = ", ".join(f'{{"contactId": {i}, "phoneNumber": "123"}}' for i in ids)
    base = APPEND if parser is parse_call_append else CREATE
    assert refusal(parser, with_field(base, "list", f"[{contacts}]")) == message


def test_contact_ids_differing_in_case_or_space_are_distinct() -> None:
    contacts = [{"contactId": i, "phoneNumber": "123"} for i in ("a", "A", "a ", " a")]
    appended = run(parse_call_append, {"taskId": "t-1", "list": contacts})
    assert [c.contact_id for c in appended.contacts] == ["a", "A", "a ", " a"]


# -- the task reference: taskId or userTaskId --------------------------------------------------

REF_PARSERS: list[tuple[Parser, dict[str, Any]]] = [
    (parse_call_append, {"list": [CONTACT]}),
    (parse_order_delete, {"contactId": "c1"}),
    (parse_task_start, {}),
    (parse_task_pause, {}),
]


@pytest.mark.parametrize(("parser", "rest"), REF_PARSERS)
@pytest.mark.parametrize(
    ("ref_fields", "ref"),
    [
        ({"taskId": "t-1"}, TaskRef(task_id="t-1")),
        ({"userTaskId": "u-1"}, TaskRef(user_task_id="u-1")),
        ({"taskId": "t-1", "userTaskId": "u-1"}, TaskRef(user_task_id="u-1")),
        ({"taskId": "t-1", "userTaskId": ""}, TaskRef(task_id="t-1")),
        ({"taskId": "t-1", "userTaskId": None}, TaskRef(task_id="t-1")),
        ({"taskId": None, "userTaskId": "u-1"}, TaskRef(user_task_id="u-1")),
        ({"taskId": "t" * 64}, TaskRef(task_id="t" * 64)),
    ],
)
def test_task_ref(
    parser: Parser, rest: dict[str, Any], ref_fields: dict[str, Any], ref: TaskRef
) -> None:
    assert run(parser, rest | ref_fields).ref == ref


@pytest.mark.parametrize(("parser", "rest"), REF_PARSERS)
@pytest.mark.parametrize(
    ("ref_fields", "message"),
    [
        ({}, "taskId: required (or userTaskId)"),
        ({"taskId": "", "userTaskId": None}, "taskId: required (or userTaskId)"),
        ({"taskId": 5}, "taskId: must be a string, got 5"),
        ({"userTaskId": ["u"]}, "userTaskId: must be a string, got an array"),
        ({"taskId": 5, "userTaskId": "u-1"}, "taskId: must be a string, got 5"),
        ({"taskId": "t" * 65}, "taskId: at most 64 characters, got 65"),
        ({"userTaskId": "u" * 65}, "userTaskId: at most 64 characters, got 65"),
    ],
)
def test_task_ref_refused(
    parser: Parser, rest: dict[str, Any], ref_fields: dict[str, Any], message: str
) -> None:
    assert refusal(parser, rest | ref_fields) == message


# -- order/delete --------------------------------------------------------------------------------


@pytest.mark.parametrize(("json_value", "contact_id"), [('"c1"', "c1"), ("42", "42")])
def test_order_delete(json_value: str, contact_id: str) -> None:
    body = with_field({"userTaskId": "u-1"}, "contactId", json_value)
    assert run(parse_order_delete, body) == OrderDelete(
        ref=TaskRef(user_task_id="u-1"), contact_id=contact_id
    )


@pytest.mark.parametrize(
    ("json_value", "message"),
    [
        (None, "contactId: required"),
        ('""', "contactId: required"),
        ("true", "contactId: must be a string or an integer, got a boolean"),
        ("2.5", "contactId: must be a string or an integer, got 2.5"),
        (dumped("k" * 65), "contactId: at most 64 characters, got 65"),
    ],
)
def test_order_delete_contact_id_refused(json_value: str | None, message: str) -> None:
    body = with_field({"taskId": "t-1"}, "contactId", json_value)
    assert refusal(parse_order_delete, body) == message


def test_order_delete_empty_body() -> None:
    assert refusal(parse_order_delete, "{}") == (
        "taskId: required (or userTaskId); contactId: required"
    )


# -- task/start and task/pause ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("startup_by", "expected"),
    [
        (None, "AK-caller"),
        ("", "AK-caller"),
        ("ops-console", "ops-console"),
        ("s" * 64, "s" * 64),
    ],
)
def test_task_start(startup_by: str | None, expected: str) -> None:
    body: dict[str, Any] = {"taskId": "t-1"}
    if startup_by is not None:
        body["startupBy"] = startup_by
    assert run(parse_task_start, body) == TaskAction(
        ref=TaskRef(task_id="t-1"), startup_by=expected
    )


@pytest.mark.parametrize(
    ("startup_by", "message"),
    [
        (5, "startupBy: must be a string, got 5"),
        (True, "startupBy: must be a string, got a boolean"),
        ("s" * 65, "startupBy: at most 64 characters, got 65"),
    ],
)
def test_task_start_refuses_a_bad_startup_by(startup_by: Any, message: str) -> None:
    assert refusal(parse_task_start, {"taskId": "t-1", "startupBy": startup_by}) == message


@pytest.mark.parametrize("startup_by", [None, "ops", 5, ["x"], "s" * 65])
def test_task_pause_ignores_startup_by(startup_by: Any) -> None:
    body = {"userTaskId": "u-1", "startupBy": startup_by}
    assert run(parse_task_pause, body) == TaskAction(ref=TaskRef(user_task_id="u-1"), startup_by="")


# -- call/list -----------------------------------------------------------------------------------


def test_call_list_defaults() -> None:
    assert run(parse_call_list, {"taskId": "t-1"}) == CallListQuery(
        task_id="t-1",
        start_ts=None,
        end_ts=None,
        call_id=None,
        phone=None,
        call_result=None,
        user_intent=None,
        min_elapsed=None,
        max_elapsed=None,
        page_number=1,
        page_size=10,
    )


def test_call_list_every_filter() -> None:
    body = {
        "taskId": "t-1",
        "startTs": "1767225600",
        "endTs": 1_767_229_200,
        "callId": "call-1",
        "phone": "+85212345678",
        "callResult": "17",
        "userIntent": "interested",
        "minElapsed": 0,
        "maxElapsed": 60.0,
        "pageNumber": 3,
        "pageSize": 1000,
    }
    assert run(parse_call_list, body) == CallListQuery(
        task_id="t-1",
        start_ts=1_767_225_600,
        end_ts=1_767_229_200,
        call_id="call-1",
        phone="+85212345678",
        call_result=17,
        user_intent="interested",
        min_elapsed=0,
        max_elapsed=60,
        page_number=3,
        page_size=1000,
    )


@pytest.mark.parametrize(
    "field", ["startTs", "endTs", "callId", "phone", "callResult", "userIntent", "minElapsed",
              "maxElapsed"]
)  # fmt: skip
@pytest.mark.parametrize("json_value", ["null", '""'])
def test_call_list_filters_not_set(field: str, json_value: str) -> None:
    body = with_field({"taskId": "t-1"}, field, json_value)
    assert run(parse_call_list, body) == CallListQuery(task_id="t-1")


@pytest.mark.parametrize("result", [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21])
def test_call_list_call_results(result: int) -> None:
    assert run(parse_call_list, {"taskId": "t-1", "callResult": result}).call_result == result


@pytest.mark.parametrize("result", [0, 10, "22", -1, 2**31 - 1, -(2**31)])
def test_call_list_keeps_an_unknown_call_result(result: int | str) -> None:
    # Not refused: the store's equality then matches no call (the vendor's filter).
    query = run(parse_call_list, {"taskId": "t-1", "callResult": result})
    assert query.call_result == int(result)


def test_call_list_takes_64_bit_elapsed_bounds() -> None:
    body = {"taskId": "t-1", "minElapsed": 2**31, "maxElapsed": "9223372036854775807"}
    query = run(parse_call_list, body)
    assert (query.min_elapsed, query.max_elapsed) == (2**31, 2**63 - 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "taskId: required"),
        ({"taskId": ""}, "taskId: required"),
        ({"userTaskId": "u-1"}, "taskId: required"),
        ({"taskId": 7}, "taskId: must be a string, got 7"),
        ({"taskId": "t" * 65}, "taskId: at most 64 characters, got 65"),
        ({"taskId": "t-1", "startTs": -1}, "startTs: must be at least 0, got -1"),
        (
            {"taskId": "t-1", "startTs": 1_767_225_600_000},
            "startTs: 1767225600000 looks like epoch milliseconds; send epoch seconds",
        ),
        (
            {"taskId": "t-1", "endTs": "1767225600000"},
            "endTs: 1767225600000 looks like epoch milliseconds; send epoch seconds",
        ),
        ({"taskId": "t-1", "startTs": 6, "endTs": 5}, "endTs: must be at least startTs (5 < 6)"),
        ({"taskId": "t-1", "callId": 5}, "callId: must be a string, got 5"),
        ({"taskId": "t-1", "callId": "c" * 65}, "callId: at most 64 characters, got 65"),
        ({"taskId": "t-1", "phone": 85212345678}, "phone: must be a string, got 85212345678"),
        (
            {"taskId": "t-1", "callResult": 2147483648},
            "callResult: out of range for a 32-bit integer, got 2147483648",
        ),
        (
            {"taskId": "t-1", "callResult": "answered"},
            'callResult: must be an integer, got the string "answered"',
        ),
        ({"taskId": "t-1", "userIntent": ["a"]}, "userIntent: must be a string, got an array"),
        ({"taskId": "t-1", "userIntent": "u" * 201}, "userIntent: at most 200 characters, got 201"),
        ({"taskId": "t-1", "minElapsed": -1}, "minElapsed: must be at least 0, got -1"),
        (
            {"taskId": "t-1", "minElapsed": 2**63},
            "minElapsed: out of range for a 64-bit integer, got 9223372036854775808",
        ),
        (
            {"taskId": "t-1", "maxElapsed": "9223372036854775808"},
            "maxElapsed: out of range for a 64-bit integer, got 9223372036854775808",
        ),
        (
            {"taskId": "t-1", "maxElapsed": "-99999999999999999999"},
            'maxElapsed: out of range for a 64-bit integer, got "-99999999999999999999"',
        ),
        ({"taskId": "t-1", "maxElapsed": True}, "maxElapsed: must be an integer, got a boolean"),
        (
            {"taskId": "t-1", "minElapsed": 30, "maxElapsed": 29},
            "maxElapsed: must be at least minElapsed (29 < 30)",
        ),
        ({"taskId": "t-1", "pageNumber": 0}, "pageNumber: must be at least 1, got 0"),
        ({"taskId": "t-1", "pageSize": 0}, "pageSize: must be from 1 to 1000, got 0"),
        ({"taskId": "t-1", "pageSize": 1001}, "pageSize: at most 1000, got 1001"),
    ],
)
def test_call_list_refused(body: dict[str, Any], message: str) -> None:
    assert refusal(parse_call_list, body) == message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"startTs": 5, "endTs": 5}, (5, 5, None, None)),
        ({"minElapsed": 7, "maxElapsed": 7}, (None, None, 7, 7)),
        ({"startTs": 0, "maxElapsed": 0}, (0, None, None, 0)),
    ],
)
def test_call_list_bounds_are_inclusive(
    body: dict[str, Any], expected: tuple[int | None, ...]
) -> None:
    query = run(parse_call_list, {"taskId": "t-1"} | body)
    assert (query.start_ts, query.end_ts, query.min_elapsed, query.max_elapsed) == expected


def test_call_list_names_every_bad_field() -> None:
    body = {"startTs": 9, "endTs": 8, "callResult": 1.5, "pageSize": 5000}
    assert refusal(parse_call_list, body) == (
        "taskId: required; endTs: must be at least startTs (8 < 9); "
        "callResult: must be an integer, not a fraction (1.5); "
        "pageSize: at most 1000, got 5000"
    )


# -- flow/list and route/list --------------------------------------------------------------------

NAME_PARSERS = [(parse_flow_list, "name", 10), (parse_route_list, "routeName", 100)]


@pytest.mark.parametrize(("parser", "field", "default_size"), NAME_PARSERS)
def test_name_list_defaults(parser: Parser, field: str, default_size: int) -> None:
    expected = NameQuery(name_fold=None, page_number=1, page_size=default_size)
    assert run(parser, "{}") == expected
    assert run(parser, {field: None, "pageNumber": None, "pageSize": ""}) == expected


@pytest.mark.parametrize(("parser", "field", "default_size"), NAME_PARSERS)
@pytest.mark.parametrize(
    ("name", "fold"),
    [("Sales", "sales"), ("STRASSE", "strasse"), ("Straße", "strasse"), ("牛", "牛")],
)
def test_name_list_folds_the_name(
    parser: Parser, field: str, default_size: int, name: str, fold: str
) -> None:
    body = {field: name, "pageNumber": 2, "pageSize": "1000"}
    assert run(parser, body) == NameQuery(name_fold=fold, page_number=2, page_size=1000)


@pytest.mark.parametrize(("parser", "field", "default_size"), NAME_PARSERS)
def test_name_list_refused(parser: Parser, field: str, default_size: int) -> None:
    assert refusal(parser, {field: 5}) == f"{field}: must be a string, got 5"
    assert refusal(parser, {field: "n" * 201}) == f"{field}: at most 200 characters, got 201"
    assert refusal(parser, {"pageSize": 1001}) == "pageSize: at most 1000, got 1001"
    assert refusal(parser, {"pageNumber": "0", "pageSize": 0}) == (
        "pageNumber: must be at least 1, got 0; pageSize: must be from 1 to 1000, got 0"
    )


def test_each_name_list_reads_only_its_own_field() -> None:
    assert run(parse_flow_list, {"routeName": 5}).name_fold is None
    assert run(parse_route_list, {"name": 5}).name_fold is None


# -- the problem cap -------------------------------------------------------------------------------


def bad_phones(count: int) -> dict[str, Any]:
    return {
        "taskId": "t-1",
        "list": [{"contactId": f"c{i}", "phoneNumber": "x"} for i in range(count)],
    }


def phone_problem(index: int) -> str:
    return f'list[{index}].phoneNumber: must be digits with an optional leading +, got "x"'


@pytest.mark.parametrize(
    ("count", "suffix"), [(1, []), (20, []), (21, ["... and 1 more"]), (25, ["... and 5 more"])]
)
def test_at_most_20_problems_are_listed(count: int, suffix: list[str]) -> None:
    listed = [phone_problem(i) for i in range(min(count, 20))]
    assert refusal(parse_call_append, bad_phones(count)) == "; ".join(listed + suffix)


def test_the_cap_counts_every_problem() -> None:
    body = bad_phones(10_000)
    message = refusal(parse_call_append, body | {"taskId": 1, "countryCode": "x"})
    assert message == "; ".join(
        [
            "taskId: must be a string, got 1",
            'countryCode: must be 1 to 4 digits with an optional leading +, got "x"',
            *(phone_problem(i) for i in range(18)),
            "... and 9982 more",
        ]
    )


def test_the_cap_applies_to_create() -> None:
    body = CREATE | {"list": [{"contactId": "d", "phoneNumber": "1"} for _ in range(30)]}
    message = refusal(parse_task_create, body)
    assert message == "; ".join(
        [
            "list[0].phoneNumber: must have 3 to 20 digits, got 1",
            "Duplicate contactIds are not allowed: d",
            "list[1].phoneNumber: must have 3 to 20 digits, got 1",
            *(f"list[{i}].phoneNumber: must have 3 to 20 digits, got 1" for i in range(2, 19)),
            "... and 11 more",
        ]
    )
