"""``verify-counters``: every counter recomputed from orders and calls, one definition each.

The definitions are portable SQL (SQLite and PostgreSQL run the same text), one scalar subquery
per counter over the task's own orders and calls, filtered by account like every statement on
tenant data. :func:`check` runs them account by account in the caller's snapshot.
"""

from __future__ import annotations

from typing import Final

from nxlink.store.base import STAT_COUNTERS, CounterCheck, CounterDifference, Query

#: How each counter follows from the records (``lifecycle.md``, "What moves each counter").
RECOUNT: Final[dict[str, str]] = {
    "total_order_count": "SELECT count(*) FROM orders AS o WHERE o.account_id = t.account_id "
    "AND o.task_row_id = t.id AND o.state <> 'deleted'",
    "dialed_order_count": "SELECT count(*) FROM calls AS c WHERE c.account_id = t.account_id "
    "AND c.task_row_id = t.id AND c.attempt = 1",
    "finish_order_count": "SELECT count(*) FROM orders AS o WHERE o.account_id = t.account_id "
    "AND o.task_row_id = t.id AND o.state = 'finished'",
    "answer_order_count": "SELECT count(*) FROM orders AS o WHERE o.account_id = t.account_id "
    "AND o.task_row_id = t.id AND o.state = 'finished' AND EXISTS (SELECT 1 FROM calls AS c "
    "WHERE c.account_id = o.account_id AND c.order_id = o.id AND c.answered = 1)",
    "total_call_count": "SELECT count(*) FROM calls AS c WHERE c.account_id = t.account_id "
    "AND c.task_row_id = t.id",
    "answer_call_count": "SELECT count(*) FROM calls AS c WHERE c.account_id = t.account_id "
    "AND c.task_row_id = t.id AND c.answered = 1",
    "total_call_elapsed": "SELECT coalesce(sum(c.talk_seconds), 0) FROM calls AS c "
    "WHERE c.account_id = t.account_id AND c.task_row_id = t.id AND c.answered = 1",
    "manual_answer_count": "SELECT count(*) FROM calls AS c WHERE c.account_id = t.account_id "
    "AND c.task_row_id = t.id AND c.result = 17 AND c.manual_status = 1",
    "manual_fail_count": "SELECT count(*) FROM calls AS c WHERE c.account_id = t.account_id "
    "AND c.task_row_id = t.id AND c.result = 17 AND c.manual_status = 2",
    "manual_elapsed": "SELECT coalesce(sum(c.manual_elapsed), 0) FROM calls AS c "
    "WHERE c.account_id = t.account_id AND c.task_row_id = t.id AND c.result = 17 "
    "AND c.manual_status = 1",
}
assert tuple(RECOUNT) == STAT_COUNTERS

_STORED: Final = ", ".join(f"s.{name}" for name in STAT_COUNTERS)
_RECOMPUTED: Final = ", ".join(f"({RECOUNT[name]})" for name in STAT_COUNTERS)
SQL: Final = (
    f"SELECT t.id, t.task_id, {_STORED}, {_RECOMPUTED} "
    "FROM tasks AS t JOIN task_stats AS s "
    "ON s.account_id = t.account_id AND s.task_row_id = t.id "
    "WHERE t.account_id = ? AND t.synthetic = 0 ORDER BY t.id"
)


def check(query: Query) -> CounterCheck:
    """Compare every stored counter with its recomputation, account by account."""
    differences: list[CounterDifference] = []
    width = len(STAT_COUNTERS)
    checked = synthetic = 0
    for (account_id,) in query("SELECT id FROM accounts ORDER BY id", ()):
        for row in query(SQL, (account_id,)):
            checked += 1
            stored, recomputed = row[2 : 2 + width], row[2 + width :]
            for name, have, want in zip(STAT_COUNTERS, stored, recomputed, strict=True):
                if int(have) != int(want):
                    differences.append(CounterDifference(row[0], row[1], name, have, want))
        ((n,),) = query(
            "SELECT count(*) FROM tasks WHERE account_id = ? AND synthetic = 1", (account_id,)
        )
        synthetic += int(n)
    return CounterCheck(checked, synthetic, differences)
