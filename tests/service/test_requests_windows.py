"""``task/create``'s calling window, ``weekDay`` and ``zoneSecond``: every form accepted (kept
as a mask of ISO days) and every bad form refused with its exact message."""

from __future__ import annotations

import re

import pytest

from nxlink.contract import endpoints as contract
from nxlink.service.requests import parse_task_create
from nxlink.service.windows import EVERY_DAY
from service.test_requests import CREATE, refusal, run, with_field


@pytest.mark.parametrize(
    ("json_value", "mask"),
    [
        (None, EVERY_DAY),  # absent
        ("null", EVERY_DAY),
        ('""', EVERY_DAY),
        ('"1"', 0b1),
        ('"7"', 0b100_0000),
        ('"1,2,3,4,5"', 0b1_1111),
        ('"6,7"', 0b110_0000),
        ('"3,1"', 0b101),  # any order, kept as the set
        ('"7,6,5,4,3,2,1"', EVERY_DAY),
        ('"1,2,3,4,5,6,7"', EVERY_DAY),
    ],
)
def test_week_day_accepted(json_value: str | None, mask: int) -> None:
    req = run(parse_task_create, with_field(CREATE, "weekDay", json_value))
    assert (req.week_days, req.zone_second) == (mask, 0)


@pytest.mark.parametrize(
    ("json_value", "zone"),
    [
        (None, 0), ("null", 0), ('""', 0), ("0", 0), ("28800", 28_800), ('"28800"', 28_800),
        ("-43200", -43_200), ("50400", 50_400), ("19800", 19_800), ("20700", 20_700),
        ("-1", -1), ("2.0", 2),
    ],
)  # fmt: skip
def test_zone_second_accepted(json_value: str | None, zone: int) -> None:
    req = run(parse_task_create, with_field(CREATE, "zoneSecond", json_value))
    assert (req.week_days, req.zone_second) == (EVERY_DAY, zone)


WEEK_DAY_REFUSED: list[tuple[str, str]] = [
    ("3", 'weekDay: must be a string of days such as "1,2,3,4,5", got 3'),
    ("[1, 2]", 'weekDay: must be a string of days such as "1,2,3,4,5", got an array'),
    ("true", 'weekDay: must be a string of days such as "1,2,3,4,5", got a boolean'),
    ('{"d": 1}', 'weekDay: must be a string of days such as "1,2,3,4,5", got an object'),
    ('"1, 2"', 'weekDay: must not contain spaces, got "1, 2"'),
    ('" 1"', 'weekDay: must not contain spaces, got " 1"'),
    ('"1\\t2"', 'weekDay: must not contain spaces, got "1\\t2"'),
    ('"  "', 'weekDay: must not contain spaces, got "  "'),
    ('"1,,2"', 'weekDay: has an empty item (a comma at an end, or two together), got "1,,2"'),
    ('"1,"', 'weekDay: has an empty item (a comma at an end, or two together), got "1,"'),
    ('",1"', 'weekDay: has an empty item (a comma at an end, or two together), got ",1"'),
    ('","', 'weekDay: has an empty item (a comma at an end, or two together), got ","'),
    ('"0"', 'weekDay: "0" is not a day: days are 1 (Monday) to 7 (Sunday), got "0"'),
    ('"1,8"', 'weekDay: "8" is not a day: days are 1 (Monday) to 7 (Sunday), got "1,8"'),
    ('"12"', 'weekDay: "12" is not a day: days are 1 (Monday) to 7 (Sunday), got "12"'),
    ('"01"', 'weekDay: "01" is not a day: days are 1 (Monday) to 7 (Sunday), got "01"'),
    ('"1;2"', 'weekDay: "1;2" is not a day: days are 1 (Monday) to 7 (Sunday), got "1;2"'),
    ('"mon"', 'weekDay: "mon" is not a day: days are 1 (Monday) to 7 (Sunday), got "mon"'),
    ('"-1"', 'weekDay: "-1" is not a day: days are 1 (Monday) to 7 (Sunday), got "-1"'),
    ('"\u0663"', 'weekDay: "\u0663" is not a day: days are 1 (Monday) to 7 (Sunday), '
                 'got "\u0663"'),  # an Arabic-Indic three: a digit, not a day
    ('"1,1"', 'weekDay: day 1 is given twice, got "1,1"'),
    ('"3,1,3"', 'weekDay: day 3 is given twice, got "3,1,3"'),
    ('"1,2,3,4,5,6,7,1"', 'weekDay: day 1 is given twice, got "1,2,3,4,5,6,7,1"'),
]  # fmt: skip


@pytest.mark.parametrize(("json_value", "message"), WEEK_DAY_REFUSED)
def test_week_day_refused(json_value: str, message: str) -> None:
    assert refusal(parse_task_create, with_field(CREATE, "weekDay", json_value)) == message


def test_a_long_week_day_is_clipped_in_the_message() -> None:
    value = "1," * 30 + "9"
    assert refusal(parse_task_create, with_field(CREATE, "weekDay", f'"{value}"')) == (
        'weekDay: "9" is not a day: days are 1 (Monday) to 7 (Sunday), got '
        '"1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1..."'
    )


ZONE_SECOND_REFUSED: list[tuple[str, str]] = [
    ("-43201", "zoneSecond: must be from -43200 to 50400, got -43201"),
    ("50401", "zoneSecond: must be from -43200 to 50400, got 50401"),
    ('"50401"', "zoneSecond: must be from -43200 to 50400, got 50401"),
    ("86400", "zoneSecond: must be from -43200 to 50400, got 86400"),
    ("1.5", "zoneSecond: must be an integer, not a fraction (1.5)"),
    ('"UTC+8"', 'zoneSecond: must be an integer, got the string "UTC+8"'),
    ("true", "zoneSecond: must be an integer, got a boolean"),
    ("[28800]", "zoneSecond: must be an integer, got an array"),
    ("NaN", "zoneSecond: must be a finite integer, got NaN"),
    ("4294967296", "zoneSecond: out of range for a 32-bit integer, got 4294967296"),
]  # fmt: skip


@pytest.mark.parametrize(("json_value", "message"), ZONE_SECOND_REFUSED)
def test_zone_second_refused(json_value: str, message: str) -> None:
    assert refusal(parse_task_create, with_field(CREATE, "zoneSecond", json_value)) == message


def test_both_bad_are_one_refusal_naming_both_in_order() -> None:
    body = with_field({**CREATE, "weekDay": "8"}, "zoneSecond", "99999")
    assert refusal(parse_task_create, body) == (
        'weekDay: "8" is not a day: days are 1 (Monday) to 7 (Sunday), got "8"; '
        "zoneSecond: must be from -43200 to 50400, got 99999"
    )


def test_a_window_with_a_zone() -> None:
    req = run(parse_task_create, {**CREATE, "weekDay": "5,1", "zoneSecond": -18_000})
    assert (req.week_days, req.zone_second) == (0b1_0001, -18_000)


def test_every_declared_form_is_seen() -> None:
    """Each refusal form the declaration documents (``contract.WEEK_DAY_REFUSALS``) is
    produced by a case above: the list of forms and the parser do not drift apart."""
    for form in contract.WEEK_DAY_REFUSALS:
        parts = re.split(r"(<[^<>]+>)", f"weekDay: {form}")
        pattern = re.compile("".join(".+?" if i % 2 else re.escape(p)
                                     for i, p in enumerate(parts)))  # fmt: skip
        assert any(pattern.fullmatch(message) for _, message in WEEK_DAY_REFUSED), form
