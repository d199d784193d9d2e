"""A small task dataset with an oracle, and the table of filter cases run against it.

Shared by the in-process tests and the real-server tests of the client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from conftest import Tenant, make_task
from nxlink import TaskStatus
from nxlink.store import Store

UTC = dt.UTC
T0 = 1_766_275_200  # 2025-12-21T00:00:00Z
HOUR = 3600


@dataclass(frozen=True)
class Row:
    name: str
    status: int
    create_ts: int
    contacts: int
    dialed: int
    calls: int
    answered: int

    @property
    def rate(self) -> float | None:
        return None if self.calls == 0 else 100 * self.answered / self.calls


ROWS = [
    Row("Renewal wave 1", 2, T0, 100, 80, 90, 45),  # 50.00 %
    Row("renewal wave 2", 2, T0 + HOUR, 200, 200, 300, 100),  # 33.33 %
    Row("RENEWAL final", 3, T0 + 2 * HOUR, 50, 50, 60, 60),  # 100 %
    Row("Collections Ä", 5, T0 + 3 * HOUR, 10, 0, 0, 0),  # no calls
    Row("collections ä 2", 6, T0 + 4 * HOUR, 0, 0, 0, 0),
    Row("Survey", 1, T0 + 5 * HOUR, 1000, 10, 12, 3),  # 25 %
    Row("Survey %_", 4, T0 + 6 * HOUR, 5, 5, 5, 0),  # 0 %
    Row("Reminder", 2, T0 + 86_400, 30, 30, 40, 22),  # 55 %, same second as the next
    Row("Reminder", 2, T0 + 86_400, 31, 1, 1, 1),  # 100 %
]


def task_uuid(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def insert_rows(store: Store, tenant: Tenant) -> None:
    """Insert :data:`ROWS` for ``tenant``; task ``i`` gets id ``task_uuid(i)``."""
    tasks = [
        make_task(
            tenant,
            task_id=task_uuid(i),
            task_name=row.name,
            task_status=row.status,
            pause_reason=1 if row.status in (5, 6) else None,
            create_ts=row.create_ts,
            stats={
                "total_order_count": row.contacts,
                "dialed_order_count": row.dialed,
                "total_call_count": row.calls,
                "answer_call_count": row.answered,
                "total_call_elapsed": row.answered * 60,
            },
        )
        for i, row in enumerate(ROWS)
    ]
    store.insert_tasks(tenant.account_id, tasks)


def expected(predicate: Callable[[Row], bool]) -> list[str]:
    """Task ids matching ``predicate``, newest first (then higher id first)."""
    chosen = [(row.create_ts, i) for i, row in enumerate(ROWS) if predicate(row)]
    return [task_uuid(i) for _, i in sorted(chosen, reverse=True)]


def _between(low: float | None, high: float | None) -> Callable[[Row], bool]:
    def check(row: Row) -> bool:
        rate = row.rate
        if rate is None:
            return False
        return (low is None or rate >= low) and (high is None or rate <= high)

    return check


# (id, arguments of tasks.list, which rows match)
CASES: list[tuple[str, dict[str, Any], Callable[[Row], bool]]] = [
    ("everything", {}, lambda r: True),
    ("name-any-case", {"task_name": "renewal"}, lambda r: "renewal" in r.name.lower()),
    ("name-unicode-fold", {"task_name": "ä"}, lambda r: "ä" in r.name.lower()),
    ("name-literal-percent", {"task_name": "%_"}, lambda r: "%_" in r.name),
    ("status-enum", {"task_status": TaskStatus.IN_PROGRESS}, lambda r: r.status == 2),
    ("status-int", {"task_status": 5}, lambda r: r.status == 5),
    ("status-word", {"task_status": "paused-balance"}, lambda r: r.status == 6),
    (
        "created-from-aware",
        {
            "created_from": dt.datetime(
                2025, 12, 21, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))
            )
        },
        lambda r: r.create_ts >= T0,
    ),
    (
        "created-from-naive-utc",
        {"created_from": dt.datetime(2025, 12, 21, 3, 0)},
        lambda r: r.create_ts >= T0 + 3 * HOUR,
    ),
    ("created-from-epoch", {"created_from": T0 + 2 * HOUR}, lambda r: r.create_ts >= T0 + 2 * HOUR),
    (
        "created-from-fraction-rounds-up",
        {"created_from": T0 + 2 * HOUR + 0.5},
        lambda r: r.create_ts > T0 + 2 * HOUR,
    ),
    ("created-to-epoch", {"created_to": T0 + HOUR}, lambda r: r.create_ts <= T0 + HOUR),
    (
        "created-to-date-whole-day",
        {"created_to": dt.date(2025, 12, 21)},
        lambda r: r.create_ts < T0 + 86_400,
    ),
    (
        "created-from-date",
        {"created_from": dt.date(2025, 12, 22)},
        lambda r: r.create_ts >= T0 + 86_400,
    ),
    (
        "created-range",
        {"created_from": T0 + HOUR, "created_to": dt.datetime(2025, 12, 21, 5, 0, tzinfo=UTC)},
        lambda r: T0 + HOUR <= r.create_ts <= T0 + 5 * HOUR,
    ),
    ("min-rate", {"min_answer_rate": 50}, _between(50, None)),
    ("max-rate-float", {"max_answer_rate": 33.34}, _between(None, 33.34)),
    ("max-rate-exact-decimal", {"max_answer_rate": Decimal("33.33")}, _between(None, 33.33)),
    ("rate-zero-to-zero", {"min_answer_rate": 0, "max_answer_rate": 0}, _between(0, 0)),
    ("rate-range", {"min_answer_rate": 25.0, "max_answer_rate": 55}, _between(25, 55)),
    ("min-contacts", {"min_contacts": 50}, lambda r: r.contacts >= 50),
    ("max-contacts", {"max_contacts": 10}, lambda r: r.contacts <= 10),
    (
        "contacts-range",
        {"min_contacts": 30, "max_contacts": 100},
        lambda r: 30 <= r.contacts <= 100,
    ),
    (
        "combined",
        {"task_name": "RENEWAL", "task_status": 2, "min_answer_rate": 40, "min_contacts": 1},
        lambda r: "renewal" in r.name.lower() and r.status == 2 and (r.rate or 0) >= 40,
    ),
    ("nothing-matches", {"task_name": "no such task"}, lambda r: False),
]
