"""Rows of the store's tables as the interface's values, and the portable SQL fragments both
backends select them with (column lists, the task's FROM clause); each backend's own SQL lives in
its module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any, Final

import orjson

from nxlink.contract.calldoc import CallFacts
from nxlink.store.base import (
    STAT_COUNTERS,
    Account,
    CallbackAttempt,
    CallbackFault,
    CallFilter,
    DialCandidate,
    DialContext,
    NewCall,
    OrderRow,
    OrderState,
    OutboxItem,
    Route,
    TaskRow,
    TaskState,
    UiSession,
)

#: An account (:class:`~nxlink.store.base.Account`, fields in order) from ``accounts``.
ACCOUNT_COLUMNS: Final = (
    "id, name, enabled, balance_cents, default_max_call, created_ts, task_callback_url, "
    "call_callback_url, callbacks_signed"
)


def account_row(row: Sequence[Any]) -> Account:
    """A row of :data:`ACCOUNT_COLUMNS` as the interface's value."""
    return Account(row[0], row[1], bool(row[2]), row[3], row[4], row[5], row[6], row[7],
                   bool(row[8]))  # fmt: skip


TASK_COLUMNS: Final = (
    "t.id, t.account_id, t.task_id, t.user_task_id, t.task_name, t.other, t.auto_flow_id, "
    "coalesce(f.name, ''), t.route_id, t.task_status, t.pause_reason, t.task_keep, "
    "t.startup_type, t.startup_at, t.shutdown_at, t.startup_fired, t.shutdown_fired, "
    "t.max_call, t.max_ring_time, t.order_max_call, t.replay_interval, t.agent_group_id, "
    "t.task_callback_url, t.call_callback_url, t.country_code, t.create_ts"
)
TASK_FROM: Final = (
    "FROM tasks AS t LEFT JOIN flows AS f ON f.account_id = t.account_id AND f.id = t.auto_flow_id"
)

ROUTE_COLUMNS: Final = (
    "id, account_id, route_id, name, country_code, price_per_minute_cents, answer_probability, "
    "talk_seconds_mean, created_ts, enabled, caller_phone, line_ids"
)

ORDER_COLUMNS: Final = (
    "id, account_id, task_row_id, contact_id, phone, state, attempts, answered, "
    "next_attempt_ts, claimed_by, claimed_at, lease_until, country_code, "
    "call_callback_url"
)

CONTEXT_COLUMNS: Final = (
    "t.task_id, t.max_ring_time, t.agent_group_id, t.route_id, r.answer_probability, "
    "r.talk_seconds_mean, r.price_per_minute_cents, r.caller_phone, r.line_ids, r.country_code"
)

#: A call's facts (:class:`~nxlink.contract.calldoc.CallFacts`, fields in order) from
#: ``calls AS c``, its task ``t``, its order ``o``, its flow ``f`` and its account ``a``
#: (:data:`CALL_FROM`).
CALL_COLUMNS: Final = (
    "c.id, c.call_id, t.task_id, t.user_task_id, o.contact_id, t.auto_flow_id, "
    "coalesce(f.name, ''), c.callee_phone, c.caller_phone, c.real_phone, c.create_ts, c.op_ts, "
    "c.result, c.talk_seconds, c.ring_seconds, c.call_start, c.call_answer, c.call_end, "
    "c.user_intent, c.summary, c.turns, c.hangup_reason, c.sip_code, c.sip_addr, c.line_id, "
    "c.route_id, o.params, c.order_head, c.order_tail, c.agent_group_id, c.agent_group_name, "
    "c.agent_id, c.agent_name, c.manual_status, c.manual_start, c.manual_answer, c.manual_end, "
    "c.manual_elapsed, t.call_callback_url, o.call_callback_url, o.other, a.call_callback_url"
)
CALL_FROM: Final = (
    "FROM calls AS c "
    "JOIN tasks AS t ON t.account_id = c.account_id AND t.id = c.task_row_id "
    "JOIN orders AS o ON o.account_id = c.account_id AND o.id = c.order_id "
    "JOIN accounts AS a ON a.id = c.account_id "
    "LEFT JOIN flows AS f ON f.account_id = c.account_id AND f.id = t.auto_flow_id "
)
#: The columns :class:`~nxlink.store.base.NewCall` writes, in its field order (the order and
#: task columns come from the order).
CALL_INSERT_COLUMNS: Final = (
    "account_id", "task_row_id", "order_id", "call_id", "attempt", "callee_phone", "create_ts",
    "call_start", "call_answer", "call_end", "ring_seconds", "talk_seconds", "result",
    "answered", "manual_status", "manual_elapsed", "user_intent", "summary", "order_head",
    "order_tail", "cost_cents", "caller_phone", "real_phone", "op_ts", "turns",
    "hangup_reason", "sip_code", "sip_addr", "line_id", "route_id", "agent_group_id",
    "agent_group_name", "agent_id", "agent_name", "manual_start", "manual_answer",
    "manual_end",
)  # fmt: skip

TASK_INSERT_COLUMNS: Final = (
    "account_id", "id", "task_id", "user_task_id", "other", "auto_flow_id", "task_status",
    "pause_reason", "task_name", "name_fold", "task_desc", "task_keep", "startup_type",
    "startup_at", "shutdown_at", "startup_by", "route_id", "max_call", "import_type",
    "func_flag", "max_ring_time", "strategy_id", "agent_group_id", "task_callback_url",
    "call_callback_url", "country_code", "create_ts", "order_max_call", "replay_interval",
    "startup_fired", "shutdown_fired", "synthetic", "week_days", "zone_second",
)  # fmt: skip
STAT_INSERT_COLUMNS: Final = ("account_id", "task_row_id", "id", "task_id", "auto_flow_id",
                               "create_ts", "task_status", *STAT_COUNTERS)  # fmt: skip


def task_row_values(account_id: int, row: TaskRow, *, synthetic: bool) -> tuple[Any, ...]:
    """A ``tasks`` row in :data:`TASK_INSERT_COLUMNS` order."""
    task, flag = row.task, int(synthetic)
    return (
        account_id, row.row_id, task.task_id, task.user_task_id, task.other,
        task.auto_flow_id, task.task_status, task.pause_reason, task.task_name,
        task.task_name.casefold(), task.task_desc, task.task_keep, task.startup_type,
        task.startup_at, task.shutdown_at, task.startup_by, task.route_id, task.max_call,
        task.import_type, task.func_flag, task.max_ring_time, task.strategy_id,
        task.agent_group_id, task.task_callback_url, task.call_callback_url, task.country_code,
        task.create_ts, task.order_max_call, task.replay_interval, flag, flag, flag,
        task.week_days, task.zone_second,
    )  # fmt: skip


def stat_row_values(account_id: int, row: TaskRow) -> tuple[Any, ...]:
    """A ``task_stats`` row in :data:`STAT_INSERT_COLUMNS` order."""
    task = row.task
    return (
        account_id, row.row_id, row.stat_id, task.task_id, task.auto_flow_id, task.create_ts,
        task.task_status, *(task.stats.get(name, 0) for name in STAT_COUNTERS),
    )  # fmt: skip


def task_state(row: tuple[Any, ...]) -> TaskState:
    return TaskState(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9],
        row[10], row[11], row[12], row[13], row[14], bool(row[15]), bool(row[16]), row[17],
        row[18], row[19], row[20], row[21], row[22], row[23], row[24], row[25],
    )  # fmt: skip


def route_row(row: Sequence[Any]) -> Route:
    """A row of :data:`ROUTE_COLUMNS` as the interface's value."""
    return Route(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                 bool(row[9]), row[10], tuple(orjson.loads(row[11])))  # fmt: skip


def order_state(row: tuple[Any, ...]) -> OrderState:
    return OrderState(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]),
                      row[8], row[9], row[10], row[11], row[12], row[13])  # fmt: skip


def candidate(row: tuple[Any, ...]) -> DialCandidate:
    return DialCandidate(
        task_row_id=row[0], account_id=row[1], task_status=row[2], max_call=row[3],
        default_max_call=row[4], account_enabled=bool(row[5]), balance_cents=row[6],
        flow_enabled=bool(row[7]), route_enabled=bool(row[8]), shutdown_at=row[9],
        shutdown_fired=bool(row[10]),
        context=None if row[14] is None else DialContext(*row[11:21]), dialling=int(row[21]),
        week_days=row[22], zone_second=row[23],
    )  # fmt: skip


def call_facts(row: Sequence[Any]) -> CallFacts:
    """A row of :data:`CALL_COLUMNS` as the interface's value."""
    return CallFacts(*row)


def call_values(order: OrderState, call: NewCall) -> tuple[Any, ...]:
    """The values of :data:`CALL_INSERT_COLUMNS` for a call of ``order``."""
    values = [getattr(call, f.name) for f in fields(call)]
    values[10] = int(call.answered)
    values[15], values[16] = int(call.order_head), int(call.order_tail)
    return (order.account_id, order.task_row_id, order.id, *values)


def call_filter(flt: CallFilter, mark: str) -> tuple[list[str], list[Any]]:
    """The ``call/list`` filters as clauses on ``calls AS c`` (parameter marker ``mark``) and
    their values, besides the account and task every page is limited to."""
    clauses: list[str] = []
    values: list[Any] = []
    for value, clause in (
        (flt.start_ts, "c.create_ts >= {}"),
        (flt.end_ts, "c.create_ts <= {}"),
        (flt.call_id, "c.call_id = {}"),
        (flt.phone, "c.callee_phone = {}"),
        (flt.call_result, "c.result = {}"),
        (flt.user_intent, "c.user_intent = {}"),
        (flt.min_elapsed, "c.talk_seconds >= {}"),
        (flt.max_elapsed, "c.talk_seconds <= {}"),
    ):
        if value is not None:
            clauses.append(clause.format(mark))
            values.append(value)
    return clauses, values


def outbox_item(row: Sequence[Any]) -> OutboxItem:
    """An ``outbox`` row (columns in :class:`OutboxItem` order) as the interface's value."""
    return OutboxItem(
        id=row[0], account_id=row[1], event_id=row[2], kind=row[3], url=row[4],
        body=bytes(row[5]), created_ms=row[6], state=row[7], attempts=row[8],
        round_base=row[9], next_attempt_ms=row[10], last_status=row[11], last_error=row[12],
        delivered_ms=row[13], task_id=row[14],
    )  # fmt: skip


#: The columns of ``outbox_attempts`` in :class:`CallbackAttempt` order.
ATTEMPT_COLUMNS: Final = (
    "id, account_id, outbox_id, event_id, url, attempt, started_ms, ended_ms, latency_ms, "
    "status, error, delivered, fault, delay_ms"
)
#: The columns of ``callback_faults`` in :class:`CallbackFault` order.
FAULT_COLUMNS: Final = "id, url_part, delay_ms, fail_first, fail_status, created_ms"


def callback_attempt(row: Sequence[Any]) -> CallbackAttempt:
    """An ``outbox_attempts`` row (:data:`ATTEMPT_COLUMNS`) as the interface's value."""
    return CallbackAttempt(
        id=row[0], account_id=row[1], outbox_id=row[2], event_id=row[3], url=row[4],
        attempt=row[5], started_ms=row[6], ended_ms=row[7], latency_ms=float(row[8]),
        status=row[9], error=row[10], delivered=bool(row[11]), fault=row[12], delay_ms=row[13],
    )  # fmt: skip


def callback_fault(row: Sequence[Any]) -> CallbackFault:
    """A ``callback_faults`` row (:data:`FAULT_COLUMNS`) as the interface's value."""
    return CallbackFault(*row)


#: The columns of ``orders`` in :class:`OrderRow` order (the dashboard's contacts page).
ORDER_ROW_COLUMNS: Final = (
    "contact_id, name, phone, state, attempts, answered, next_attempt_ts, created_ts"
)


def order_row(row: Sequence[Any]) -> OrderRow:
    """An ``orders`` row (:data:`ORDER_ROW_COLUMNS`) as the interface's value."""
    return OrderRow(str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]),
                    bool(row[5]), int(row[6]), int(row[7]))  # fmt: skip


#: A live dashboard session by token hash (first parameter) at a time in epoch ms (second):
#: its access key is an enabled key of its account, and the account is enabled.
LIVE_UI_SESSION: Final = (
    "SELECT s.token_hash, s.account_id, s.access_key, s.csrf_token, s.created_ms, "
    "s.expires_ms, s.last_seen_ms FROM ui_sessions AS s "
    "JOIN access_keys AS k ON k.access_key = s.access_key AND k.account_id = s.account_id "
    "JOIN accounts AS a ON a.id = s.account_id "
    "WHERE s.token_hash = {mark} AND s.expires_ms > {mark} AND k.enabled = 1 AND a.enabled = 1"
)
#: Deletes the sessions whose access key is gone (a restore brought back other keys).
DEAD_UI_SESSIONS: Final = (
    "DELETE FROM ui_sessions WHERE NOT EXISTS (SELECT 1 FROM access_keys AS k "
    "WHERE k.access_key = ui_sessions.access_key AND k.account_id = ui_sessions.account_id)"
)


def ui_session(row: Sequence[Any]) -> UiSession:
    """A ``ui_sessions`` row (:data:`LIVE_UI_SESSION`'s columns) as the interface's value."""
    return UiSession(str(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]),
                     int(row[5]), int(row[6]))  # fmt: skip
