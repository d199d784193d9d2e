"""``parse_json_object`` and ``parse_task_list``: every coercion rule and every refusal of
``task-list.md`` ("Coercion", "Errors specific to this endpoint")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from nxlink.service.errors import ApiError
from nxlink.service.tasks import TaskListQuery, parse_json_object, parse_task_list

INT_FIELDS = [
    "taskStatus", "createStartTs", "createEndTs", "minTaskTotalQuantity",
    "maxTaskTotalQuantity", "pageNumber", "pageSize",
]  # fmt: skip
RATE_FIELDS = ["minCallsAnsweredRate", "maxCallsAnsweredRate"]
NUMBER_FIELDS = INT_FIELDS + RATE_FIELDS
ALL_FIELDS = ["taskName", *NUMBER_FIELDS]
#: Integer fields whose range starts at 0.
ZERO_FIELDS = ["createStartTs", "createEndTs", "minTaskTotalQuantity", "maxTaskTotalQuantity"]

VALUE: dict[str, Callable[[TaskListQuery], Any]] = {
    "taskName": lambda q: q.filter.name_fold,
    "taskStatus": lambda q: q.filter.status,
    "createStartTs": lambda q: q.filter.created_from,
    "createEndTs": lambda q: q.filter.created_to,
    "minCallsAnsweredRate": lambda q: q.filter.min_answer_rate,
    "maxCallsAnsweredRate": lambda q: q.filter.max_answer_rate,
    "minTaskTotalQuantity": lambda q: q.filter.min_contacts,
    "maxTaskTotalQuantity": lambda q: q.filter.max_contacts,
    "pageNumber": lambda q: q.page_number,
    "pageSize": lambda q: q.page_size,
}
DEFAULTS: dict[str, Any] = {field: None for field in VALUE} | {"pageNumber": 1, "pageSize": 10}


def parse(body: str | bytes) -> TaskListQuery:
    """Both steps, from the raw body as the server gets it."""
    raw = body.encode() if isinstance(body, str) else body
    return parse_task_list(parse_json_object(raw))


def refusal(body: str | bytes) -> str:
    """The message of the 20000 the body is refused with."""
    with pytest.raises(ApiError) as info:
        parse(body)
    assert info.value.code == 20000
    assert info.value.http_status == 200
    assert info.value.message
    return info.value.message


def names(message: str, field: str) -> bool:
    """True when the message names ``field`` as ``<field>: ...``."""
    return re.search(rf"(?<![A-Za-z]){field}: ", message) is not None


def refused_naming(field: str, body: str | bytes) -> str:
    message = refusal(body)
    assert message.startswith(f"{field}: "), message
    return message


def body_with(field: str, json_value: str) -> str:
    return f'{{"{field}": {json_value}}}'


def only(field: str, query: TaskListQuery) -> Any:
    """The value of ``field``; every other field must be at its default."""
    for other, get in VALUE.items():
        if other != field:
            assert get(query) == DEFAULTS[other], other
    return VALUE[field](query)


# -- not set ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ALL_FIELDS)
@pytest.mark.parametrize("form", ["absent", "null", '""'])
def test_null_empty_and_absent_mean_not_set(field: str, form: str) -> None:
    body = "{}" if form == "absent" else body_with(field, form)
    assert only(field, parse(body)) == DEFAULTS[field]


@pytest.mark.parametrize("body", [b"", b"{}", b"{ }", b' \n{"pageSize":null}\n '])
def test_empty_body_and_empty_object_are_all_defaults(body: bytes) -> None:
    query = parse(body)
    assert query == parse_task_list({})
    assert (query.page_number, query.page_size) == (1, 10)
    assert query.filter.status_only() and query.filter.status is None


def test_empty_body_is_an_empty_object() -> None:
    assert parse_json_object(b"") == {}


def test_numbers_are_kept_exact() -> None:
    body = parse_json_object(b'{"a": 0.1, "b": 10, "c": 1e2, "d": "x"}')
    assert body == {"a": Decimal("0.1"), "b": 10, "c": Decimal("1e2"), "d": "x"}
    assert isinstance(body["b"], int)


# -- accepted integer forms ----------------------------------------------------------------------

INT_FORMS = [
    "{v}",
    "{v}.0",
    "{v}.000",
    "{v}e0",
    "{v}E+0",
    "{v}0e-1",
    '"{v}"',
    '"+{v}"',
    '"0{v}"',
    '"+00{v}"',
]


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize("form", INT_FORMS)
def test_integer_forms(field: str, form: str) -> None:
    value = 6 if field == "taskStatus" else 10
    assert only(field, parse(body_with(field, form.format(v=value)))) == value


@pytest.mark.parametrize("field", [f for f in INT_FIELDS if f != "taskStatus"])
@pytest.mark.parametrize("text", ["1e2", "1E2", "1E+2", "1e+2", "0.1e3", "1000e-1", "100.0"])
def test_integer_field_takes_a_number_with_no_fraction(field: str, text: str) -> None:
    assert only(field, parse(body_with(field, text))) == 100


@pytest.mark.parametrize("field", ZERO_FIELDS)
@pytest.mark.parametrize("text", ["0", "-0", "-0.0", "0e0", "0E5", '"0"', '"-0"', '"+0"', '"000"'])
def test_zero_forms(field: str, text: str) -> None:
    assert only(field, parse(body_with(field, text))) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("taskStatus", 1),
        ("taskStatus", 6),
        ("pageSize", 1),
        ("pageSize", 1000),
        ("pageNumber", 1),
        ("pageNumber", 2147483647),
        ("createStartTs", 0),
        ("createStartTs", 2147483647),
        ("createEndTs", 0),
        ("createEndTs", 2147483647),
        ("minTaskTotalQuantity", 0),
        ("minTaskTotalQuantity", 2147483647),
        ("maxTaskTotalQuantity", 0),
        ("maxTaskTotalQuantity", 2147483647),
    ],
)
def test_integer_range_edges_are_accepted(field: str, value: int) -> None:
    for text in (str(value), f'"{value}"', f"{value}.0"):
        assert only(field, parse(body_with(field, text))) == value


# -- accepted rate forms ---------------------------------------------------------------------------

RATE_FORMS = [
    ('"50.5"', Fraction(101, 2)),
    ("50.5", Fraction(101, 2)),
    ('"+50.5"', Fraction(101, 2)),
    ('".5"', Fraction(1, 2)),
    ('"+.5"', Fraction(1, 2)),
    ('"5."', Fraction(5)),
    ('"00.50"', Fraction(1, 2)),
    ("0.1", Fraction(1, 10)),  # the decimal sent, not the binary double
    ("33.33", Fraction(3333, 100)),
    ('"33.33"', Fraction(3333, 100)),
    ("66.666666666666666667", Fraction(66666666666666666667, 10**18)),
    ("1E-1", Fraction(1, 10)),
    ("5e-1", Fraction(1, 2)),
    ("1e2", Fraction(100)),
    ("100", Fraction(100)),
    ("100.0", Fraction(100)),
    ('"100"', Fraction(100)),
    ('"100.000"', Fraction(100)),
    ("0", Fraction(0)),
    ("-0", Fraction(0)),
    ("-0.0", Fraction(0)),
    ('"-0"', Fraction(0)),
    ('"-0.0"', Fraction(0)),
    ('"0."', Fraction(0)),
    ('".0"', Fraction(0)),
    ("0.0000000001", Fraction(1, 10**10)),
]


@pytest.mark.parametrize("field", RATE_FIELDS)
@pytest.mark.parametrize(("text", "value"), RATE_FORMS)
def test_rate_forms(field: str, text: str, value: Fraction) -> None:
    got = only(field, parse(body_with(field, text)))
    assert isinstance(got, Fraction)
    assert got == value


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("minCallsAnsweredRate", "1e-50"),
        ("maxCallsAnsweredRate", '"0.' + "0" * 44 + '1"'),
        ("maxCallsAnsweredRate", '"33.' + "3" * 60 + '"'),
    ],
)
def test_rate_with_many_decimals_is_compared_exactly(field: str, text: str) -> None:
    """A bound inside 0.0-100.0 is accepted at any precision a rate can tell apart (none of the
    refusals of ``task-list.md`` applies); it selects exactly what the decimal sent selects.

    A positive bound below 1e-30 is kept as 1e-30: no answer rate (100 * answered / calls, with
    fewer than 2**63 calls) lies strictly between 0 and 1e-17, so both select the same tasks."""
    sent = Fraction(Decimal(text.strip('"')))
    bound = only(field, parse(body_with(field, text)))
    assert isinstance(bound, Fraction)
    if sent >= Fraction(1, 10**30):
        assert bound == sent
    else:
        assert bound == Fraction(1, 10**30)
    rates = [Fraction(100 * a, t) for a, t in
             [(0, 1), (1, 2**63 - 1), (1, 10**18), (1, 3), (2, 3), (33, 99), (1, 1)]]  # fmt: skip
    for r in rates:
        assert (r >= sent) == (r >= bound)
        assert (r <= sent) == (r <= bound)


@pytest.mark.parametrize(
    ("field", "text"),
    [
        pytest.param("minCallsAnsweredRate", '"' + "0" * 20000 + '1"', id="20000-leading-zeros"),
        pytest.param("maxCallsAnsweredRate", '"' + "0" * 20000 + '12.5"', id="zeros-and-fraction"),
        pytest.param("minCallsAnsweredRate", '"33.' + "3" * 100 + '"', id="100-decimals-string"),
        pytest.param(
            "maxCallsAnsweredRate", "33." + "3" * 100 + "0" * 50, id="100-decimals-number"
        ),
    ],
)
def test_long_rate_values_inside_the_range_are_accepted(field: str, text: str) -> None:
    """No refusal of ``task-list.md`` applies to a long spelling of a rate from 0 to 100 (the
    body limit is 1 MiB); the bound selects what the decimal sent selects."""
    sent = Fraction(Decimal(text.strip('"')))
    bound = only(field, parse(body_with(field, text)))
    assert isinstance(bound, Fraction)
    rates = [Fraction(100 * a, t) for a, t in
             [(0, 1), (1, 8), (1, 3), (3333, 10000), (33333333, 10**8), (1, 1), (2**31 - 2, 2**31 - 1)]]  # fmt: skip
    for r in rates:
        assert (r >= sent) == (r >= bound), r
        assert (r <= sent) == (r <= bound), r


@pytest.mark.parametrize("field", RATE_FIELDS)
@pytest.mark.parametrize(
    "text", ['"33.' + "3" * 101 + '"', "33." + "3" * 150], ids=["101-string", "150-number"]
)
def test_rate_beyond_100_significant_decimals_is_refused(field: str, text: str) -> None:
    """This product's decision: exact comparison needs every digit (a rate can lie within any
    distance of a bound), and each digit costs time on every row compared, so a bound is taken
    to 100 significant decimals and refused beyond, naming the field."""
    with pytest.raises(ApiError) as caught:
        parse(body_with(field, text))
    assert caught.value.code == 20000
    assert caught.value.message == f"{field}: at most 100 decimal places"


# -- taskName ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Straße", "strasse"),
        ("ÄÖÜ", "äöü"),
        ("%_", "%_"),
        ("a%b_c", "a%b_c"),
        ("ΣΑΣ", "σασ"),
        (" x ", " x "),
        ("0", "0"),
        ("null", "null"),
    ],
)
def test_task_name_is_matched_casefolded(name: str, folded: str) -> None:
    assert only("taskName", parse(body_with("taskName", json.dumps(name)))) == folded


@pytest.mark.parametrize("name", ["a" * 200, "ä" * 200, "Ä" * 199 + "%"])
def test_task_name_of_200_characters_is_accepted(name: str) -> None:
    assert only("taskName", parse(body_with("taskName", f'"{name}"'))) == name.casefold()


@pytest.mark.parametrize("name", ["a" * 201, "ä" * 201, "x" * 5000])
def test_task_name_over_200_characters_is_refused(name: str) -> None:
    refused_naming("taskName", body_with("taskName", f'"{name}"'))


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ALL_FIELDS)
@pytest.mark.parametrize("text", ["true", "false"])
def test_booleans_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize("field", ALL_FIELDS)
@pytest.mark.parametrize("text", ["[]", "[10]", '["10"]', "{}", '{"value": 10}'])
def test_arrays_and_objects_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize("field", ALL_FIELDS)
@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_literals_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize(
    "text", ["10.5", '"10.5"', "0.1", "1e-1", "1.5e0", "5.000001", '"10.0"', '"5."', '".5"']
)
def test_fractions_in_integer_fields_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


NON_NUMERIC = [
    '"abc"',
    '"ten"',
    '"null"',
    '"true"',
    '"NaN"',
    '"Infinity"',
    '"0x10"',
    '"1_000"',
    '"1,000"',
    '"١٠"',
    '"１０"',
    '"+"',
    '"-"',
    '"--1"',
    '"+-1"',
    '"1-"',
    '"½"',
    '" "',
    '"1 0"',
]


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("text", NON_NUMERIC)
def test_non_numeric_strings_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize("field", RATE_FIELDS)
@pytest.mark.parametrize("text", ['"."', '"5.."', '"1.2.3"', '"+."', '"-."', '"5.5.5"', '"e1"'])
def test_malformed_decimal_strings_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("text", ['" 10"', '"10 "', '"\\t10"', '"10\\n"', '"\\n10"', '"\\u00a010"'])
def test_strings_with_whitespace_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("text", ['"1e1"', '"1E1"', '"1e+1"', '"10e0"', '"0.5e1"', '".5e1"'])
def test_exponents_in_strings_are_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("taskStatus", "0"),
        ("taskStatus", "7"),
        ("taskStatus", '"7"'),
        ("taskStatus", "-1"),
        ("taskStatus", "2147483648"),
        ("pageNumber", "0"),
        ("pageNumber", "-1"),
        ("pageNumber", '"0"'),
        ("pageNumber", "-0"),
        ("pageNumber", "2147483648"),
        ("pageSize", "0"),
        ("pageSize", "-1"),
        ("pageSize", "-0.0"),
        ("pageSize", "2147483648"),
        ("createStartTs", "-1"),
        ("createEndTs", '"-1"'),
        ("createStartTs", "2147483648"),
        ("createEndTs", "-2147483649"),
        ("createStartTs", "-2147483648"),
        ("minTaskTotalQuantity", "-1"),
        ("maxTaskTotalQuantity", "-1"),
        ("minTaskTotalQuantity", "2147483648"),
        ("maxTaskTotalQuantity", '"2147483648"'),
        ("minTaskTotalQuantity", "-2147483649"),
        ("maxTaskTotalQuantity", '"-2147483649"'),
        ("minTaskTotalQuantity", "2147483648.0"),
        ("maxTaskTotalQuantity", "9223372036854775808"),
        ("pageNumber", '"99999999999999999999"'),
        ("minCallsAnsweredRate", "-0.1"),
        ("minCallsAnsweredRate", "100.1"),
        ("maxCallsAnsweredRate", "-0.1"),
        ("maxCallsAnsweredRate", "100.1"),
        ("minCallsAnsweredRate", '"-0.1"'),
        ("maxCallsAnsweredRate", '"100.1"'),
        ("minCallsAnsweredRate", "100.0000000001"),
        ("maxCallsAnsweredRate", "-1"),
        ("minCallsAnsweredRate", "101"),
        ("maxCallsAnsweredRate", '"1000"'),
        ("maxCallsAnsweredRate", "1e3"),
        ("minCallsAnsweredRate", "-1e-10"),
    ],
)
def test_out_of_range_is_refused(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"createStartTs": 11, "createEndTs": 10}', ("createStartTs", "createEndTs")),
        (
            '{"createStartTs": "1750000001", "createEndTs": 1750000000}',
            ("createStartTs", "createEndTs"),
        ),
        (
            '{"minCallsAnsweredRate": "50.01", "maxCallsAnsweredRate": 50}',
            ("minCallsAnsweredRate", "maxCallsAnsweredRate"),
        ),
        (
            '{"minCallsAnsweredRate": 33.34, "maxCallsAnsweredRate": "33.33999"}',
            ("minCallsAnsweredRate", "maxCallsAnsweredRate"),
        ),
        (
            '{"minTaskTotalQuantity": 11, "maxTaskTotalQuantity": 10}',
            ("minTaskTotalQuantity", "maxTaskTotalQuantity"),
        ),
        (
            '{"minTaskTotalQuantity": 2147483647, "maxTaskTotalQuantity": 0}',
            ("minTaskTotalQuantity", "maxTaskTotalQuantity"),
        ),
    ],
)
def test_min_above_max_is_refused(body: str, named: tuple[str, str]) -> None:
    message = refusal(body)
    assert message.startswith((f"{named[0]}: ", f"{named[1]}: ")), message


@pytest.mark.parametrize(
    ("body", "pair"),
    [
        ('{"createStartTs": 10, "createEndTs": 10}', (10, 10)),
        (
            '{"minCallsAnsweredRate": "50", "maxCallsAnsweredRate": 50.0}',
            (Fraction(50), Fraction(50)),
        ),
        ('{"minCallsAnsweredRate": 0, "maxCallsAnsweredRate": 100}', (Fraction(0), Fraction(100))),
        ('{"minTaskTotalQuantity": 0, "maxTaskTotalQuantity": "0"}', (0, 0)),
    ],
)
def test_min_equal_to_max_is_accepted(body: str, pair: tuple[Any, Any]) -> None:
    f = parse(body).filter
    got = {
        (f.created_from, f.created_to),
        (f.min_answer_rate, f.max_answer_rate),
        (f.min_contacts, f.max_contacts),
    }
    assert pair in got


@pytest.mark.parametrize("field", ["createStartTs", "createEndTs"])
@pytest.mark.parametrize(
    "text",
    [
        "100000000000",
        '"100000000000"',
        '"+100000000000"',
        "1e11",
        "1E+11",
        "100000000000.0",
        "1746583929000",
        '"1746583929000"',
        "9223372036854775807",
        "1e15",
    ],
)
def test_timestamps_of_10_to_the_11_look_like_milliseconds(field: str, text: str) -> None:
    message = refused_naming(field, body_with(field, text))
    assert "milliseconds" in message


@pytest.mark.parametrize("field", ["createStartTs", "createEndTs"])
def test_timestamp_just_below_10_to_the_11_is_still_refused(field: str) -> None:
    refused_naming(field, body_with(field, "99999999999"))


@pytest.mark.parametrize("text", ["1001", '"1001"', "1001.0", "1.001e3", '"+1001"', "5000"])
def test_page_size_above_1000(text: str) -> None:
    message = refused_naming("pageSize", body_with("pageSize", text))
    assert "pageSize: at most 1000" in message


def test_page_size_0_and_page_number_0() -> None:
    refused_naming("pageSize", '{"pageSize": 0}')
    refused_naming("pageNumber", '{"pageNumber": 0}')
    message = refusal('{"pageNumber": 0, "pageSize": 0}')
    assert names(message, "pageNumber") and names(message, "pageSize"), message


def test_several_bad_fields_are_named_in_one_message() -> None:
    body = (
        '{"taskName": "' + "n" * 201 + '", "taskStatus": 0, "createStartTs": true, '
        '"createEndTs": 1746583929000, "minCallsAnsweredRate": "abc", '
        '"maxCallsAnsweredRate": 100.1, "minTaskTotalQuantity": [1], '
        '"maxTaskTotalQuantity": -1, "pageNumber": 1.5, "pageSize": 1001}'
    )
    message = refusal(body)
    for field in ALL_FIELDS:
        assert names(message, field), (field, message)
    assert "pageSize: at most 1000" in message
    assert "milliseconds" in message


def test_good_fields_do_not_hide_bad_ones() -> None:
    message = refusal('{"taskName": "ok", "pageSize": 10, "taskStatus": "x", "pageNumber": 0}')
    assert names(message, "taskStatus") and names(message, "pageNumber"), message
    assert not names(message, "taskName") and not names(message, "pageSize"), message


def test_unknown_fields_are_ignored() -> None:
    body = (
        '{"foo": 1, "tenantId": 5, "saasUserId": "7", "pagesize": 5000, "PageSize": true, '
        '"taskname": [1], "status": NaN, "list": {"a": null}, "": "", "pageNumber ": 0}'
    )
    assert parse(body) == parse_task_list({})


# -- bodies that are not a JSON object --------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"}",
        b"not json",
        b"{'pageSize': 1}",
        b'{"pageSize":1,}',
        b'{"pageSize":}',
        b"{} {}",
        b"{}x",
        b" ",
        b"\n",
        b"nul",
        b'{"pageSize":01}',
        b'{"pageSize":.5}',
        b'{"pageSize":+1}',
        b"{pageSize:1}",
        b'{"pageSize":1}/*c*/',
    ],
)
def test_body_not_json_is_refused(body: bytes) -> None:
    refusal(body)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"[{}]",
        b'[{"pageSize": 1}]',
        b'"str"',
        b'""',
        b"1",
        b"1.5",
        b"-0",
        b"null",
        b"true",
        b"false",
        b"NaN",
    ],
)
def test_json_that_is_not_an_object_is_refused(body: bytes) -> None:
    refusal(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"taskName": "\xff"}',
        b"\xc0\xaf",
        b'{"taskName": "\xed\xa0\x80"}',
        b"\xfe\xff{}",
        b'{"taskName": "Stra\xdfe"}',
        b'{"taskName": "\xe2\x82"}',
        b"\x80{}",
    ],
)
def test_non_utf8_bytes_are_refused(body: bytes) -> None:
    refusal(body)


# -- values a careless parser turns into an internal error -------------------------------------


@pytest.mark.parametrize(
    ("field", "text"),
    [
        pytest.param("pageSize", "1E+1000000", id="exponent-above-decimal-Emax"),
        pytest.param("pageNumber", "-1e999999999", id="negative-huge-exponent"),
        pytest.param("createEndTs", "-1E+1000000", id="timestamp-negative-huge-exponent"),
        pytest.param("minCallsAnsweredRate", "1e1000000", id="rate-huge-exponent"),
        pytest.param("maxCallsAnsweredRate", "-1e999999999999", id="rate-negative-huge-exponent"),
        pytest.param("taskStatus", "9" * 5000, id="integer-of-5000-digits"),
        pytest.param("maxTaskTotalQuantity", "-" + "1" * 5000, id="negative-integer-5000-digits"),
        pytest.param("minCallsAnsweredRate", "1" * 4301, id="rate-integer-of-4301-digits"),
    ],
)
def test_huge_numbers_are_refused_naming_the_field(field: str, text: str) -> None:
    refused_naming(field, body_with(field, text))


@pytest.mark.parametrize("field", ["pageSize", "createStartTs"])
def test_integer_string_with_many_leading_zeros_is_its_value(field: str) -> None:
    assert only(field, parse(body_with(field, '"' + "0" * 5000 + '3"'))) == 3


@pytest.mark.parametrize("field", RATE_FIELDS)
def test_rate_string_with_many_leading_zeros_is_its_value(field: str) -> None:
    assert only(field, parse(body_with(field, '"' + "0" * 5000 + '3.5"'))) == Fraction(7, 2)


def test_huge_negative_exponent_is_a_fraction() -> None:
    refused_naming("pageSize", '{"pageSize": 1e-999999999}')
    refused_naming("taskStatus", '{"taskStatus": 1.5e-999999999}')
