"""The demo-data generator: deterministic, realistic, and consistent with ``lifecycle.md``."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from nxlink.service.seed import YEAR_SECONDS, generate_tasks
from nxlink.store.base import STAT_COUNTERS, NewTask

NOW = 1_775_000_000  # 2026-03-31T23:33:20Z
SEED = 7
ACCOUNT = 42
FLOWS = (11, 12, 13)
ROUTES = ("rt-a", "rt-b")
COUNT = 20_000

_LABEL = re.compile(r" (\d{4}-\d{2})(?: #\d{1,3})?$")


def _generate(
    count: int, *, seed: int = SEED, account_id: int = ACCOUNT, start_index: int = 0
) -> list[NewTask]:
    return list(
        generate_tasks(
            seed=seed,
            account_id=account_id,
            count=count,
            now=NOW,
            flows=FLOWS,
            route_ids=ROUTES,
            start_index=start_index,
        )
    )


@pytest.fixture(scope="module")
def tasks() -> list[NewTask]:
    return _generate(COUNT)


# -- determinism --------------------------------------------------------------------------------


def test_same_arguments_same_tasks() -> None:
    assert _generate(2000) == _generate(2000)


def _slice(index: int, count: int) -> tuple[int, int]:
    """``[start, end)`` of the ``index``-th of ``count`` equal slices of the year before NOW."""
    first = NOW - YEAR_SECONDS
    return first + index * YEAR_SECONDS // count, first + (index + 1) * YEAR_SECONDS // count


@pytest.mark.parametrize("count", [300, COUNT])
def test_tasks_come_in_creation_order(tasks: list[NewTask], count: int) -> None:
    run = tasks if count == COUNT else _generate(count)
    assert len(run) == count
    stamps = [t.create_ts for t in run]
    assert all(a <= b for a, b in pairwise(stamps))
    first_start, first_end = _slice(0, count)
    assert first_start <= stamps[0] < first_end
    last_start, last_end = _slice(count - 1, count)
    assert last_end == NOW
    assert last_start <= stamps[-1] <= NOW
    # Slices depend on count, so a shorter run is no prefix; the same arguments still repeat.
    assert _generate(count) == run


def test_different_seed_or_account_differs() -> None:
    base = _generate(200)
    for other in (_generate(200, seed=SEED + 1), _generate(200, account_id=ACCOUNT + 1)):
        assert {t.task_id for t in other}.isdisjoint(t.task_id for t in base)
        assert [t.task_name for t in other] != [t.task_name for t in base]


def test_second_run_on_one_account_yields_new_tasks(tasks: list[NewTask]) -> None:
    more = _generate(5000, start_index=COUNT)
    assert {t.task_id for t in more}.isdisjoint(t.task_id for t in tasks)
    assert len({t.task_id for t in more}) == 5000
    first = {t.user_task_id for t in tasks if t.user_task_id}
    second = {t.user_task_id for t in more if t.user_task_id}
    assert first.isdisjoint(second)
    for index, task in enumerate(more, start=COUNT):
        assert task.user_task_id in ("", f"ut-{ACCOUNT}-{index}")


def test_arguments_are_checked_at_the_call() -> None:
    with pytest.raises(ValueError, match="negative"):
        generate_tasks(seed=1, account_id=1, count=-1, now=NOW, flows=FLOWS, route_ids=ROUTES)
    with pytest.raises(ValueError, match="empty"):
        generate_tasks(seed=1, account_id=1, count=5, now=NOW, flows=(), route_ids=ROUTES)
    with pytest.raises(ValueError, match="empty"):
        generate_tasks(seed=1, account_id=1, count=5, now=NOW, flows=FLOWS, route_ids=[])
    empty = generate_tasks(seed=1, account_id=1, count=0, now=NOW, flows=(), route_ids=())
    assert list(empty) == []


def test_a_million_tasks_fit_the_time_budget() -> None:
    """100,000 tasks in at most 6 s of CPU: a million in the 60 s budget (12–16 s)."""
    started = time.process_time()
    produced = sum(1 for _ in _generate(100_000, seed=99))
    assert produced == 100_000
    assert time.process_time() - started < 6.0


# -- identity and plain fields ------------------------------------------------------------------


def test_task_ids_are_unique_uuid4(tasks: list[NewTask]) -> None:
    assert len({t.task_id for t in tasks}) == COUNT
    for task in tasks:
        parsed = uuid.UUID(task.task_id)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == task.task_id


def test_user_task_ids(tasks: list[NewTask]) -> None:
    given = [t.user_task_id for t in tasks if t.user_task_id]
    assert 0 < len(given) < COUNT
    assert len(set(given)) == len(given)
    for index, task in enumerate(tasks):
        assert task.user_task_id in ("", f"ut-{ACCOUNT}-{index}")


def test_field_ranges(tasks: list[NewTask]) -> None:
    for t in tasks:
        assert t.auto_flow_id in FLOWS
        assert t.route_id in ROUTES
        assert t.task_keep in (0, 1)
        assert t.import_type in (0, 1, 2)
        assert 0 <= t.func_flag < 8
        assert t.max_call >= 0
        assert t.max_ring_time >= 0
        assert t.order_max_call is None or 1 <= t.order_max_call <= 3
        assert t.replay_interval is None or 60 <= t.replay_interval <= 3600
        assert t.task_name
    assert {t.auto_flow_id for t in tasks} == set(FLOWS)
    assert {t.route_id for t in tasks} == set(ROUTES)
    assert {t.task_keep for t in tasks} == {0, 1}
    assert {t.import_type for t in tasks} == {0, 1, 2}
    assert {t.order_max_call for t in tasks} == {None, 1, 2, 3}
    assert None in {t.replay_interval for t in tasks}
    assert any(t.task_desc for t in tasks) and any(not t.task_desc for t in tasks)
    assert any(t.other for t in tasks) and any(not t.other for t in tasks)


def test_startup_settings(tasks: list[NewTask]) -> None:
    for t in tasks:
        assert t.startup_type in (0, 1, 2, 3)
        if t.startup_type == 2:
            assert t.startup_at is not None
            assert t.startup_at >= t.create_ts
            assert t.shutdown_at is None or t.shutdown_at > t.startup_at
        else:
            assert t.startup_at is None and t.shutdown_at is None
        if t.startup_type == 1:
            assert t.startup_by
        else:
            assert t.startup_by == ""
    assert {t.startup_type for t in tasks} == {0, 1, 2, 3}
    assert any(t.startup_type == 2 and t.shutdown_at is None for t in tasks)
    assert any(t.shutdown_at is not None for t in tasks)


# -- statuses -----------------------------------------------------------------------------------


def test_status_mix(tasks: list[NewTask]) -> None:
    by_status = Counter(t.task_status for t in tasks)
    assert by_status == {1: 2346, 2: 3666, 3: 8386, 4: 1568, 5: 2423, 6: 1611}
    assert by_status.most_common(1)[0][0] == 3  # completed is the largest group
    assert by_status[4] < by_status[3] / 4


def test_pause_reasons(tasks: list[NewTask]) -> None:
    for t in tasks:
        if t.task_status == 5:
            assert t.pause_reason in (1, 2)
        elif t.task_status == 6:
            assert t.pause_reason == 3
        else:
            assert t.pause_reason is None
    reasons = Counter(t.pause_reason for t in tasks if t.task_status == 5)
    assert reasons == {1: 2172, 2: 251}
    # Paused by its schedule only when it has one.
    assert all(t.shutdown_at is not None for t in tasks if t.pause_reason == 2)


def test_ready_tasks_have_not_started(tasks: list[NewTask]) -> None:
    ready = [t for t in tasks if t.task_status == 1]
    assert ready
    for t in ready:
        assert t.startup_type != 3
        assert all(t.stats[name] == 0 for name in STAT_COUNTERS if name != "total_order_count")


# -- creation times and names -------------------------------------------------------------------


def test_create_ts_spread_over_the_year_with_ties(tasks: list[NewTask]) -> None:
    stamps = [t.create_ts for t in tasks]
    assert all(NOW - YEAR_SECONDS <= ts <= NOW for ts in stamps)
    assert len(set(stamps)) == 17_530  # not all distinct: the id tie-breaker matters
    # Tasks come in creation order, so every tie is between neighbours.
    assert sum(a == b for a, b in pairwise(stamps)) == COUNT - 17_530
    assert min(stamps) < NOW - 360 * 86400 and max(stamps) > NOW - 5 * 86400
    months = Counter(datetime.fromtimestamp(ts, UTC).strftime("%Y-%m") for ts in stamps)
    assert len(months) == 13  # the partial month a year ago, through the current one


def test_name_labels_match_the_creation_month(tasks: list[NewTask]) -> None:
    labelled = 0
    for t in tasks:
        match = _LABEL.search(t.task_name)
        if match:
            labelled += 1
            assert match.group(1) == datetime.fromtimestamp(t.create_ts, UTC).strftime("%Y-%m")
    assert labelled > COUNT // 2


def test_non_ascii_names_for_the_unicode_filter(tasks: list[NewTask]) -> None:
    names = [t.task_name for t in tasks]
    assert sum(not n.isascii() for n in names) == 7380
    folded = [n.casefold() for n in names]
    for needle, expected in (
        ("ÜBERWEISUNG", 467),
        ("zahlungserinnerung äöü", 458),
        ("牛小信 回访", 467),
        ("ÑANDÚ", 457),
    ):
        assert sum(needle.casefold() in n for n in folded) == expected, needle
    # Upper and lower case of one letter find the same tasks.
    assert sum("äöü" in n for n in folded) == sum("ÄÖÜ".casefold() in n for n in folded)


# -- counters -----------------------------------------------------------------------------------


def test_stats_hold_every_counter(tasks: list[NewTask]) -> None:
    for t in tasks:
        assert set(t.stats) == set(STAT_COUNTERS)
        assert all(type(v) is int and v >= 0 for v in t.stats.values())


def test_counter_invariants(tasks: list[NewTask]) -> None:
    for t in tasks:
        s = t.stats
        total, dialed = s["total_order_count"], s["dialed_order_count"]
        finished, answer_orders = s["finish_order_count"], s["answer_order_count"]
        calls, answered, elapsed = (
            s["total_call_count"],
            s["answer_call_count"],
            s["total_call_elapsed"],
        )
        m_answer, m_fail, m_elapsed = (
            s["manual_answer_count"],
            s["manual_fail_count"],
            s["manual_elapsed"],
        )
        attempts = max(t.order_max_call or 1, 1)
        ctx = t.task_id
        assert 0 <= total <= 50_000, ctx
        assert 0 <= dialed <= total, ctx
        assert finished <= total and finished <= dialed, ctx
        assert answer_orders <= finished, ctx
        assert dialed <= calls <= dialed * attempts, ctx
        assert answered <= calls, ctx
        assert answer_orders <= answered, ctx
        assert answered * 5 <= elapsed <= answered * 600, ctx
        assert m_answer + m_fail <= answered, ctx
        assert m_answer * 10 <= m_elapsed <= m_answer * 900, ctx
        if t.task_status == 3 and t.task_keep == 0:
            assert finished == total, ctx
        if t.task_status == 1:
            assert dialed == finished == answer_orders == calls == answered == 0, ctx
            assert elapsed == m_answer == m_fail == m_elapsed == 0, ctx
        if not t.agent_group_id:
            assert m_answer == m_fail == m_elapsed == 0, ctx


def test_sizes_are_skewed(tasks: list[NewTask]) -> None:
    sizes = sorted(t.stats["total_order_count"] for t in tasks)
    assert sizes.count(0) == 801
    assert sum(size >= 40_000 for size in sizes) == 378
    assert sizes[-1] == 49_966
    assert sizes[COUNT // 2] == 490  # the median task is small


def test_tasks_without_calls(tasks: list[NewTask]) -> None:
    silent = [t for t in tasks if t.stats["total_call_count"] == 0]
    assert len(silent) == 4229
    # Not only ready tasks: started ones whose first call has not completed, and empty ones.
    assert sum(t.task_status != 1 for t in silent) == 1883
    assert any(t.task_status != 1 and t.stats["total_order_count"] > 0 for t in silent)


def test_answer_rates_cover_the_range(tasks: list[NewTask]) -> None:
    rates = [
        t.stats["answer_call_count"] / t.stats["total_call_count"]
        for t in tasks
        if t.stats["total_call_count"]
    ]
    assert len(rates) == COUNT - 4229
    assert sum(r == 0 for r in rates) == 784
    assert sum(r == 1 for r in rates) == 484
    for low in range(10):
        assert any(low / 10 <= r < (low + 1) / 10 for r in rates), low


def test_manual_transfers(tasks: list[NewTask]) -> None:
    transferred = [t for t in tasks if t.stats["manual_answer_count"] > 0]
    assert len(transferred) == 2848
    for t in transferred:
        assert t.agent_group_id
        assert t.stats["manual_elapsed"] > 0
    assert any(t.stats["manual_fail_count"] > 0 for t in transferred)
