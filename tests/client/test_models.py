"""Models tolerate what the wire may carry; request bodies are built exactly."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from nxlink import StatInfo, Task, TaskPage, TaskStatus
from nxlink.client.models import STATUS_NAMES, parse_status, rate_pct
from nxlink.client.resources import task_list_body

MINIMAL = {"id": 1, "taskId": "t-1", "taskName": "one", "taskStatus": 2, "createTs": 1767225600}


def test_status_words() -> None:
    assert STATUS_NAMES == {
        TaskStatus.READY: "ready",
        TaskStatus.IN_PROGRESS: "in-progress",
        TaskStatus.COMPLETED: "completed",
        TaskStatus.FAILED: "failed",
        TaskStatus.PAUSED: "paused",
        TaskStatus.PAUSED_BALANCE: "paused-balance",
    }


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (2, TaskStatus.IN_PROGRESS),
        ("2", TaskStatus.IN_PROGRESS),
        (TaskStatus.FAILED, TaskStatus.FAILED),
        ("in-progress", TaskStatus.IN_PROGRESS),
        ("IN_PROGRESS", TaskStatus.IN_PROGRESS),
        ("Paused Balance", TaskStatus.PAUSED_BALANCE),
        (" ready ", TaskStatus.READY),
    ],
)
def test_parse_status(value: Any, status: TaskStatus) -> None:
    assert parse_status(value) is status


@pytest.mark.parametrize("value", [0, 7, "7", "running", "", True])
def test_parse_status_refusals(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_status(value)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("66.67%", 66.67),
        ("100.00%", 100.0),
        ("0.00%", 0.0),
        ("12.5", 12.5),
        (" 7 % ", 7.0),
        (None, None),
        ("", None),
        ("n/a", None),
        ("nan%", None),
        ("inf", None),
    ],
)
def test_rate_pct(text: str | None, number: float | None) -> None:
    assert rate_pct(text) == number


def test_unknown_fields_are_kept_and_missing_ones_default() -> None:
    task = Task.model_validate(
        {**MINIMAL, "brandNew": [1, 2], "statInfo": {"answerRate": "50.00%", "extra": 1}}
    )
    assert task.model_extra == {"brandNew": [1, 2]}
    assert task.stat_info.model_extra == {"extra": 1}
    assert (task.user_task_id, task.route_id, task.pause_reason, task.max_call) == (
        "",
        "",
        None,
        None,
    )
    assert task.stat_info.total_order_count == 0
    assert task.stat_info.answer_rate_pct == 50.0
    assert task.to_wire() == {
        **MINIMAL,
        "brandNew": [1, 2],
        "statInfo": {"answerRate": "50.00%", "extra": 1},
    }


def test_numbers_where_strings_are_expected_become_strings() -> None:
    task = Task.model_validate(
        {**MINIMAL, "routeId": 12345, "statInfo": {"answerRate": 33.33, "dialProgress": 50}}
    )
    assert task.route_id == "12345"
    assert task.stat_info.answer_rate == "33.33"
    assert task.stat_info.answer_rate_pct == 33.33
    assert task.stat_info.dial_progress_pct == 50.0


def test_snake_case_names_validate_too() -> None:
    task = Task(id=1, task_id="t", task_name="n", task_status=9, create_ts=0)
    assert task.status is None
    assert task.created_at == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert StatInfo(answer_rate="1.00%").answer_rate_pct == 1.0


def test_models_are_frozen() -> None:
    task = Task.model_validate(MINIMAL)
    with pytest.raises(ValueError):
        task.task_name = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("nest", [False, True])
def test_both_envelopes(nest: bool) -> None:
    page = {"total": 21, "pageNumber": 3, "pageSize": 10, "list": [MINIMAL]}
    payload: dict[str, Any] = {"code": 0, "message": "success", "traceId": "abc"}
    payload.update({"data": page} if nest else page)
    result = TaskPage.from_payload(payload, page_number=9, page_size=9)
    assert (result.total, result.page_number, result.page_size, result.trace_id) == (
        21,
        3,
        10,
        "abc",
    )
    assert [t.task_id for t in result.tasks] == ["t-1"]
    assert (result.page_count, result.has_next) == (3, False)


def test_missing_page_fields_fall_back_to_the_request() -> None:
    result = TaskPage.from_payload(
        {"code": 0, "total": 3, "list": None}, page_number=2, page_size=2
    )
    assert (result.total, result.page_number, result.page_size, result.tasks, result.trace_id) == (
        3,
        2,
        2,
        [],
        "",
    )
    assert result.has_next is False
    assert TaskPage.from_payload({"total": 5}, page_number=2, page_size=2).has_next is True


# -- request bodies -----------------------------------------------------------------------------------
def _body(**kwargs: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(task_list_body(**kwargs))
    return parsed


def test_defaults_send_only_the_page() -> None:
    assert task_list_body() == b'{"pageNumber":1,"pageSize":10}'


def test_unicode_is_sent_as_utf8() -> None:
    assert (
        task_list_body(task_name="牛小信")
        == '{"taskName":"牛小信","pageNumber":1,"pageSize":10}'.encode()
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"created_from": dt.datetime(2026, 1, 1)}, "createStartTs", 1767225600),
        (
            {"created_from": dt.datetime(2026, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))},
            "createStartTs",
            1767225600,
        ),
        ({"created_from": dt.datetime(2026, 1, 1, 0, 0, 0, 1)}, "createStartTs", 1767225601),
        ({"created_to": dt.datetime(2026, 1, 1, 0, 0, 0, 999_999)}, "createEndTs", 1767225600),
        ({"created_from": dt.date(2026, 1, 1)}, "createStartTs", 1767225600),
        ({"created_to": dt.date(2026, 1, 1)}, "createEndTs", 1767311999),
        ({"created_from": 1767225600}, "createStartTs", 1767225600),
        ({"created_from": 1767225600.2}, "createStartTs", 1767225601),
        ({"created_to": 1767225600.8}, "createEndTs", 1767225600),
        ({"task_status": TaskStatus.PAUSED}, "taskStatus", 5),
        ({"task_status": "completed"}, "taskStatus", 3),
        ({"task_status": 9}, "taskStatus", 9),
        ({"min_answer_rate": 33.33}, "minCallsAnsweredRate", 33.33),
        ({"max_answer_rate": 50}, "maxCallsAnsweredRate", 50),
        (
            {"max_answer_rate": Decimal("33.3333333333333333333")},
            "maxCallsAnsweredRate",
            "33.3333333333333333333",
        ),
        ({"min_answer_rate": Decimal("1E+1")}, "minCallsAnsweredRate", "10"),
        ({"min_contacts": 0}, "minTaskTotalQuantity", 0),
        ({"max_contacts": 5}, "maxTaskTotalQuantity", 5),
    ],
)
def test_filter_values(kwargs: dict[str, Any], field: str, value: Any) -> None:
    assert _body(**kwargs)[field] == value


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"task_name": 5}, TypeError),
        ({"task_status": "running"}, ValueError),
        ({"created_from": "2026-01-01"}, TypeError),
        ({"created_to": True}, TypeError),
        ({"created_to": float("nan")}, ValueError),
        ({"min_answer_rate": "50"}, TypeError),
        ({"max_answer_rate": False}, TypeError),
        ({"min_contacts": 1.5}, TypeError),
        ({"page": "2"}, TypeError),
        ({"page_size": None}, TypeError),
        ({"min_answer_rate": float("inf")}, ValueError),
    ],
)
def test_wrong_types_are_refused_before_sending(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        task_list_body(**kwargs)
