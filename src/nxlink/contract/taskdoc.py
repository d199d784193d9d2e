"""The task object of the task list (``task-list.md``), rendered to the bytes that are sent.

This is the one definition of a task's wire form: key order of the vendor's reference page,
``statInfo`` rates (``"66.67%"``: two decimals, half up; ``null`` on a zero denominator) and
averages (rounded down; ``null`` on zero). A task callback carries the same object
(:func:`document`), so a receiver reads a task exactly as the task list shows it. The store's
unit of work calls :func:`render` in the transaction of every write that changes an input, and
keeps the result as opaque bytes; a
page is then read as stored bytes, never assembled per request, and no backend renders JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class TaskDocInputs:
    """Everything a task object is made of: the task's columns, its flow's name and its
    statistics row (``stat_id`` and the counters)."""

    row_id: int
    stat_id: int
    account_id: int
    task_id: str
    user_task_id: str
    other: str
    auto_flow_id: int
    auto_flow_name: str
    task_status: int
    pause_reason: int | None
    task_name: str
    task_desc: str
    task_keep: int
    startup_type: int
    startup_at: int | None
    shutdown_at: int | None
    startup_by: str
    route_id: str
    max_call: int
    import_type: int
    func_flag: int
    max_ring_time: int
    strategy_id: str
    agent_group_id: str
    task_callback_url: str
    create_ts: int
    order_max_call: int | None
    replay_interval: int | None
    total_order_count: int = 0
    dialed_order_count: int = 0
    finish_order_count: int = 0
    answer_order_count: int = 0
    total_call_count: int = 0
    answer_call_count: int = 0
    total_call_elapsed: int = 0
    manual_answer_count: int = 0
    manual_fail_count: int = 0
    manual_elapsed: int = 0


def rate(numerator: int, denominator: int) -> str | None:
    """``"66.67%"``: a percentage, two decimals, rounded half up; None on a zero denominator."""
    if denominator == 0:
        return None
    hundredths = (numerator * 20000 + denominator) // (2 * denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def average(total: int, count: int) -> int | None:
    """Integer average rounded down; None when ``count`` is 0."""
    return None if count == 0 else total // count


def stat_info(t: TaskDocInputs) -> dict[str, Any]:
    """The task's ``statInfo`` object, keys in the order sent."""
    manual = t.manual_answer_count + t.manual_fail_count
    return {
        "id": t.stat_id,
        "taskId": t.task_id,
        "autoFlowId": t.auto_flow_id,
        "answerOrderCount": t.answer_order_count,
        "finishOrderCount": t.finish_order_count,
        "totalOrderCount": t.total_order_count,
        "dialedOrderCount": t.dialed_order_count,
        "totalCallElapsed": t.total_call_elapsed,
        "answerCallCount": t.answer_call_count,
        "totalCallCount": t.total_call_count,
        "manualElapsed": t.manual_elapsed,
        "manualAnswerCount": t.manual_answer_count,
        "manualFailCount": t.manual_fail_count,
        "createTs": t.create_ts,
        "answerRate": rate(t.answer_call_count, t.total_call_count),
        "dialProgress": rate(t.dialed_order_count, t.total_order_count),
        "finishRate": rate(t.finish_order_count, t.total_order_count),
        "manualAnswerRate": rate(t.manual_answer_count, manual),
        "avgCallDuration": average(t.total_call_elapsed, t.answer_call_count),
        "avgManualDuration": average(t.manual_elapsed, t.manual_answer_count),
    }


def document(t: TaskDocInputs) -> dict[str, Any]:
    """The task object, keys in the order sent: the task list's item and the body of a task
    callback (beside the event's own keys)."""
    return {
        "id": t.row_id,
        "taskId": t.task_id,
        "saasUserId": t.account_id,
        "userTaskId": t.user_task_id,
        "other": t.other,
        "autoFlowId": t.auto_flow_id,
        "autoFlowName": t.auto_flow_name,
        "taskStatus": t.task_status,
        "pauseReason": t.pause_reason,
        "taskName": t.task_name,
        "taskDesc": t.task_desc,
        "taskKeep": t.task_keep,
        "startupType": t.startup_type,
        "startupAt": t.startup_at,
        "shutdownAt": t.shutdown_at,
        "startupBy": t.startup_by,
        "routeId": t.route_id,
        "maxCall": t.max_call,
        "importType": t.import_type,
        "funcFlag": t.func_flag,
        "maxRingTime": t.max_ring_time,
        "strategyId": t.strategy_id,
        "agentGroupId": t.agent_group_id,
        "taskCallbackUrl": t.task_callback_url,
        "createTs": t.create_ts,
        "statInfo": stat_info(t),
        "orderMaxCall": t.order_max_call,
        "replayInterval": t.replay_interval,
    }  # fmt: skip


def render(t: TaskDocInputs) -> bytes:
    """The task object as the task list sends it (compact UTF-8 JSON)."""
    return orjson.dumps(document(t))
