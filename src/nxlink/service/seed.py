"""Deterministic, realistic demo tasks for filling an account (benchmarks, demos, tests).

:func:`generate_tasks` yields :class:`~nxlink.store.base.NewTask` objects whose counters obey the
invariants of ``lifecycle.md`` as if the tasks had lived: contacts imported, dialled, answered,
retried and finished. The same arguments always yield the same tasks; nothing reads the clock or
the global random generator. A million tasks take 12–16 s of CPU in CPython 3.11.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Final

from nxlink.store.base import NewTask

__all__ = ["YEAR_SECONDS", "generate_tasks"]

#: ``create_ts`` lies in ``[now - YEAR_SECONDS, now]``.
YEAR_SECONDS: Final[int] = 365 * 86400

_DAY: Final[int] = 86400
# What ``uuid.UUID(int=n, version=4)`` does to ``n``: clear, then set, the variant and version
# bits. Applying the masks and formatting the hex directly gives the same string, three times
# faster.
_UUID4_CLEAR: Final[int] = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_UUID4_SET: Final[int] = (0x8000 << 48) | (4 << 76)
_PROFILES: Final[int] = 1024

# Cumulative status thresholds on rng.random(): completed 42 %, in progress 18 %, ready 12 %,
# paused 12 %, failed 8 %, paused for balance 8 %.
_STATUS_CUTS: Final[tuple[tuple[float, int], ...]] = (
    (0.42, 3),
    (0.60, 2),
    (0.72, 1),
    (0.84, 5),
    (0.92, 4),
    (1.01, 6),
)

_PURPOSES_ASCII: Final[tuple[str, ...]] = (
    "Renewal reminders",
    "Payment follow-up",
    "Appointment confirmation",
    "Customer satisfaction survey",
    "Overdue notice",
    "Welcome call",
    "Lead qualification",
    "Delivery notification",
    "Policy renewal",
    "Win-back campaign",
    "Event invitation",
    "Debt collection",
)
#: Non-ASCII purposes, for the case-insensitive Unicode name filter.
_PURPOSES_INTL: Final[tuple[str, ...]] = (
    "Überweisung",
    "Zahlungserinnerung ÄÖÜ",
    "牛小信 回访",
    "Ñandú",
    "Encuesta de satisfacción",
    "Rappel d'échéance",
    "Straßenumfrage",
    "Опрос клиентов",
)
# ASCII names three times as likely: about a third of all names end up non-ASCII.
_PURPOSES: Final[tuple[str, ...]] = _PURPOSES_ASCII * 3 + _PURPOSES_INTL
_SEGMENTS: Final[tuple[str, ...]] = (
    "VIP",
    "new customers",
    "dormant",
    "north region",
    "south region",
    "SMB",
    "enterprise",
    "trial users",
    "Bestandskunden",
    "Großkunden",
    "老客户",
    "España",
)
_DESCRIPTIONS: Final[tuple[str, ...]] = (
    "",
    "",
    "Imported from CRM export",
    "Second wave, numbers not reached in the first one",
    "Weekly batch",
    "Agent v2 pilot",
    "Compliance-approved script",
    "Kunden mit offener Rechnung",
    "按地区分批外呼",
)
_OTHERS: Final[tuple[str, ...]] = (
    "",
    "",
    "",
    '{"source":"crm"}',
    '{"batch":"A"}',
    "campaign=spring",
    "ref:ÄÖÜ-01",
)
_STARTERS: Final[tuple[str, ...]] = (
    "alice@example.com",
    "bob@example.com",
    "ops-bot",
    "jürgen.müller",
    "王小明",
)
_MAX_CALLS: Final[tuple[int, ...]] = (0, 0, 0, 1, 2, 5, 10, 20, 50, 100)
_RING_TIMES: Final[tuple[int, ...]] = (0, 0, 0, 20, 25, 30, 45, 60)
_ORDER_MAX_CALLS: Final[tuple[int | None, ...]] = (None, None, 1, 1, 2, 2, 3)
_FUNC_FLAGS: Final[tuple[int, ...]] = (0, 0, 0, 0, 1, 2, 3, 4, 5, 7)
_STRATEGIES: Final[tuple[str, ...]] = ("", "", "", "st-default", "st-night", "st-weekend")
_AGENT_GROUPS: Final[tuple[str, ...]] = ("ag-sales", "ag-support", "ag-collections", "ag-vip")
_CALLBACKS: Final[tuple[str, ...]] = (
    "",
    "",
    "",
    "https://hooks.example.com/nxlink/task",
    "https://crm.example.org/callbacks/task-status",
)
_CALL_CALLBACKS: Final[tuple[str, ...]] = ("", "", "", "https://hooks.example.com/nxlink/call")
_COUNTRIES: Final[tuple[str, ...]] = ("", "", "86", "49", "1", "34", "44")


def _months(now: int) -> tuple[list[int], list[str]]:
    """Start (epoch s, UTC) and ``YYYY-MM`` label of every month from a year before ``now``."""
    first = datetime.fromtimestamp(max(now - YEAR_SECONDS, 0), UTC)
    year, month = first.year, first.month
    starts: list[int] = []
    labels: list[str] = []
    while True:
        start = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
        if starts and start > now:
            return starts, labels
        starts.append(start)
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _size(rand: float, rng: random.Random) -> int:
    """Contacts in a task: 4 % empty, most small, a few huge (up to 50,000)."""
    if rand < 0.04:
        return 0
    if rand < 0.70:
        u = rng.random()
        return 1 + int(999 * u * u)  # 1..1000, mostly under 250
    if rand < 0.92:
        return rng.randrange(1000, 10_000)
    if rand < 0.98:
        return rng.randrange(10_000, 40_000)
    return rng.randrange(40_000, 50_001)


def generate_tasks(
    *,
    seed: int,
    account_id: int,
    count: int,
    now: int,
    flows: Sequence[int],
    route_ids: Sequence[str],
    start_index: int = 0,
) -> Iterator[NewTask]:
    """Yield ``count`` realistic tasks for ``account_id``, created in the year before ``now``.

    Deterministic in its arguments. ``start_index`` is how many tasks the account already has:
    it feeds the generator's seed (so a second run yields new task ids) and numbers the
    ``user_task_id`` values ``ut-<account>-<index>``, unique across runs.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    if count and (not flows or not route_ids):
        raise ValueError("flows and route_ids must not be empty")
    # Validated here, not on the first next(): the body below is a separate generator.
    return _generate(
        random.Random(f"nxlink-seed:{seed}:{account_id}:{start_index}"),
        account_id=account_id,
        count=count,
        now=now,
        flows=list(flows),
        route_ids=list(route_ids),
        start_index=start_index,
    )


def _generate(
    rng: random.Random,
    *,
    account_id: int,
    count: int,
    now: int,
    flows: list[int],
    route_ids: list[str],
    start_index: int,
) -> Iterator[NewTask]:
    rand = rng.random
    randrange = rng.randrange
    choice = rng.choice
    getrandbits = rng.getrandbits
    month_starts, month_labels = _months(now)
    flow_list = flows
    route_list = route_ids
    status_cuts = _STATUS_CUTS
    uuid4_clear = _UUID4_CLEAR
    uuid4_set = _UUID4_SET
    # The settings that do not interact with anything else come as one of a fixed set of
    # combinations, drawn once: one choice per task instead of ten.
    profiles = [
        (
            choice(_OTHERS),
            choice(_DESCRIPTIONS),
            choice(_MAX_CALLS),
            randrange(3),
            choice(_FUNC_FLAGS),
            choice(_RING_TIMES),
            choice(_STRATEGIES),
            choice(_CALLBACKS),
            choice(_CALL_CALLBACKS),
            choice(_COUNTRIES),
        )
        for _ in range(_PROFILES)
    ]
    # Tasks are created in time order, as they would be in real use (the row order of a store
    # then follows creation time): task i lands in the i-th of ``count`` equal slices of the year.
    first_ts = now - YEAR_SECONDS
    prev_ts = first_ts

    for index in range(start_index, start_index + count):
        # Equal to str(uuid.UUID(int=getrandbits(128), version=4)).
        h = "%032x" % ((getrandbits(128) & uuid4_clear) | uuid4_set)
        task_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

        # Creation time: one task in eight shares the second of the previous one (bulk creation).
        offset = index - start_index
        slice_start = first_ts + offset * YEAR_SECONDS // count
        slice_end = first_ts + (offset + 1) * YEAR_SECONDS // count
        if rand() >= 0.125:
            prev_ts = max(prev_ts, slice_start + randrange(max(slice_end - slice_start, 1)))
        create_ts = prev_ts

        r = rand()
        status = 6
        for cut, st in status_cuts:
            if r < cut:
                status = st
                break

        # Name and text fields.
        r = rand()
        purpose = choice(_PURPOSES)
        label = month_labels[bisect_right(month_starts, create_ts) - 1]
        if r < 0.7:
            name = f"{purpose} {label} #{randrange(1, 1000)}"
        elif r < 0.9:
            name = f"{purpose} – {choice(_SEGMENTS)}"
        else:
            name = f"{choice(_SEGMENTS)} {purpose} {label}"
        user_task_id = f"ut-{account_id}-{index}" if rand() < 0.6 else ""

        # Start-up settings; an immediate start (3) never leaves a task ready.
        startup_type = randrange(3) if status == 1 else randrange(4)
        startup_at: int | None = None
        shutdown_at: int | None = None
        startup_by = ""
        if startup_type == 2:
            startup_at = create_ts + randrange(3 * _DAY)
            if status != 1 and startup_at > now:
                startup_at = now
            if rand() < 0.6:
                shutdown_at = startup_at + randrange(3600, 30 * _DAY)
        elif startup_type == 1:
            startup_by = choice(_STARTERS)

        pause_reason: int | None = None
        if status == 5:
            pause_reason = 2 if shutdown_at is not None and rand() < 0.7 else 1
        elif status == 6:
            pause_reason = 3

        task_keep = 1 if rand() < 0.2 else 0
        order_max_call = choice(_ORDER_MAX_CALLS)
        attempts = order_max_call or 1
        replay_interval: int | None = None
        if attempts > 1 or rand() < 0.2:
            replay_interval = randrange(60, 3601)
        agent_group_id = choice(_AGENT_GROUPS) if rand() < 0.2 else ""

        # Counters, as the lifecycle would have moved them.
        total = _size(rand(), rng)
        dialed = finished = answered = calls = elapsed = 0
        manual_answer = manual_fail = manual_elapsed = 0
        if status != 1 and total:
            if status == 3:
                dialed = finished = total
            elif rand() < 0.1:
                dialed = 0  # started or failed before its first call completed
            else:
                dialed = int(total * rand())
            if dialed:
                # Answer rate across the whole range, with some dead routes and perfect lists.
                r = rand()
                rate = 0.0 if r < 0.03 else 1.0 if r < 0.05 else rand()
                # An answered call finishes its order, so answered calls == answered orders.
                answered = int(dialed * rate + 0.5)
                if status != 3:
                    # With one attempt per contact, a dialled contact is a finished one.
                    finished = (
                        dialed if attempts == 1 else answered + int((dialed - answered) * rand())
                    )
                calls = dialed
                if attempts > 1:
                    calls += int((dialed - answered) * (attempts - 1) * rand())
                    calls += int(answered * (attempts - 1) * 0.3 * rand())
                if answered:
                    u = rand()
                    elapsed = answered * 5 + int(answered * 595 * u * u)
                    if agent_group_id:
                        transfers = int(answered * (0.05 + 0.45 * rand()) + 0.5)
                        manual_answer = int(transfers * (0.5 + 0.45 * rand()) + 0.5)
                        manual_fail = transfers - manual_answer
                        manual_elapsed = manual_answer * 10 + int(manual_answer * 890 * rand())

        (
            other,
            task_desc,
            max_call,
            import_type,
            func_flag,
            max_ring_time,
            strategy_id,
            task_callback_url,
            call_callback_url,
            country_code,
        ) = choice(profiles)
        yield NewTask(
            task_id=task_id,
            auto_flow_id=choice(flow_list),
            route_id=choice(route_list),
            task_name=name,
            create_ts=create_ts,
            task_status=status,
            pause_reason=pause_reason,
            user_task_id=user_task_id,
            other=other,
            task_desc=task_desc,
            task_keep=task_keep,
            startup_type=startup_type,
            startup_at=startup_at,
            shutdown_at=shutdown_at,
            startup_by=startup_by,
            max_call=max_call,
            import_type=import_type,
            func_flag=func_flag,
            max_ring_time=max_ring_time,
            strategy_id=strategy_id,
            agent_group_id=agent_group_id,
            task_callback_url=task_callback_url,
            call_callback_url=call_callback_url,
            country_code=country_code,
            order_max_call=order_max_call,
            replay_interval=replay_interval,
            stats={
                "total_order_count": total,
                "dialed_order_count": dialed,
                "finish_order_count": finished,
                "answer_order_count": answered,
                "total_call_count": calls,
                "answer_call_count": answered,
                "total_call_elapsed": elapsed,
                "manual_answer_count": manual_answer,
                "manual_fail_count": manual_fail,
                "manual_elapsed": manual_elapsed,
            },
        )
