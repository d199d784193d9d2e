"""What each lifecycle event does to a task's ``statInfo`` counters: the one place they move.

The table of ``lifecycle.md`` ("What moves each counter"), as functions returning the change to
add. The lifecycle applies them with ``LifecycleTx.add_counters`` in the transaction of the
record that causes them; ``Store.recompute_counters`` checks the result against the records.
"""

from __future__ import annotations

from nxlink.contract.callrecord import (
    ANSWERED_RESULTS,
    CALL_RESULTS,
    FINAL_RESULTS,
    MANUAL_ANSWERED,
    MANUAL_FAILED,
)

__all__ = ["ANSWERED_RESULTS", "CALL_RESULTS", "FINAL_RESULTS", "MANUAL_ANSWERED", "MANUAL_FAILED"]


def contacts_imported(n: int) -> dict[str, int]:
    """Contacts imported by ``task/create`` or ``call/append``."""
    return {"total_order_count": n}


def contact_deleted() -> dict[str, int]:
    """A pending contact deleted by ``order/delete``."""
    return {"total_order_count": -1}


def call_completed(
    *,
    result: int,
    talk_seconds: int,
    manual_status: int | None,
    manual_elapsed: int | None,
    first_attempt: bool,
) -> dict[str, int]:
    """A call completes (its record is written in the same transaction)."""
    delta = {"total_call_count": 1}
    if result in ANSWERED_RESULTS:
        delta["answer_call_count"] = 1
        delta["total_call_elapsed"] = talk_seconds
    if result == 17 and manual_status == MANUAL_ANSWERED:
        delta["manual_answer_count"] = 1
        delta["manual_elapsed"] = manual_elapsed or 0
    elif result == 17 and manual_status == MANUAL_FAILED:
        delta["manual_fail_count"] = 1
    if first_attempt:
        delta["dialed_order_count"] = 1
    return delta


def order_finished(*, answered: bool) -> dict[str, int]:
    """A contact will not be called again; ``answered``: at least one of its calls was."""
    delta = {"finish_order_count": 1}
    if answered:
        delta["answer_order_count"] = 1
    return delta


def combine(*deltas: dict[str, int]) -> dict[str, int]:
    """Several changes as one (one statistics update, one re-render of the task)."""
    total: dict[str, int] = {}
    for delta in deltas:
        for name, n in delta.items():
            total[name] = total.get(name, 0) + n
    return total
