"""Deep pages start from the creation day they fall in: same rows as skipping one by one.

SQLite only: the day jump and its threshold (``sqlite.DIRECT_SKIP``) are the SQLite store's, and
the last test writes through its connection; the ``store`` fixture here is SQLite's alone.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_task, make_tenant
from nxlink.store import Store, TaskFilter, open_store
from nxlink.store import sqlite as sqlite_store

DAY = 86_400
HOUR = 3_600


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'test.db'}")
    yield opened
    opened.close()


def _fill(store: Store) -> tuple[int, list[tuple[int, int, int]]]:
    """300 tasks over 40 days with many same-second ties; returns (account, [(ts, id, status)])."""
    tenant = make_tenant(store)
    other = make_tenant(store)
    rng = random.Random(5)
    base = 1_760_000_000 - 1_760_000_000 % DAY
    mine = [
        make_task(tenant, create_ts=base + rng.randrange(40) * DAY + rng.choice((0, 0, 1, DAY - 1, HOUR - 1, HOUR, rng.randrange(DAY))),
                  task_status=rng.randrange(1, 7))
        for _ in range(300)
    ]  # fmt: skip
    noise = [make_task(other, create_ts=base + i * 3600) for i in range(50)]
    store.insert_tasks(tenant.account_id, mine[:150])
    store.insert_tasks(other.account_id, noise)
    store.insert_tasks(tenant.account_id, mine[150:])
    _, docs = store.task_page(tenant.account_id, TaskFilter(), offset=0, limit=1000)
    rows = [json.loads(doc) for doc in docs]
    return tenant.account_id, [(r["createTs"], r["id"], r["taskStatus"]) for r in rows]


@pytest.mark.parametrize("status", [None, 1, 4])
def test_day_jump_equals_row_skip(
    store: Store, monkeypatch: pytest.MonkeyPatch, status: int | None
) -> None:
    account, everything = _fill(store)
    expected = sorted(
        ((ts, row_id) for ts, row_id, st in everything if status is None or st == status),
        reverse=True,
    )
    # With the threshold at 0 every non-zero offset takes the day jump.
    monkeypatch.setattr(sqlite_store, "DIRECT_SKIP", 0)
    for limit in (1, 7, 50):
        for offset in range(0, len(expected) + 3, 3):
            total, rows = store.task_page(
                account, TaskFilter(status=status), offset=offset, limit=limit
            )
            assert total == len(expected)
            got = [(task["createTs"], task["id"]) for task in map(json.loads, rows)]
            assert got == expected[offset : offset + limit]


def test_counts_follow_status_changes(store: Store) -> None:
    tenant = make_tenant(store)
    store.insert_tasks(tenant.account_id, [make_task(tenant, task_status=1) for _ in range(5)])
    conn = store._conn  # type: ignore[attr-defined]
    conn.execute("UPDATE tasks SET task_status = 2 WHERE id IN (1, 2)")
    assert store.task_page(tenant.account_id, TaskFilter(status=1), offset=0, limit=10)[0] == 3
    total, rows = store.task_page(tenant.account_id, TaskFilter(status=2), offset=0, limit=10)
    assert total == 2
    assert sorted(json.loads(r)["id"] for r in rows) == [1, 2]
    stats = conn.execute("SELECT task_row_id, task_status FROM task_stats ORDER BY 1").fetchall()
    assert stats == [(1, 2), (2, 2), (3, 1), (4, 1), (5, 1)]
    with pytest.raises(Exception, match="never change"):
        conn.execute("UPDATE tasks SET create_ts = create_ts + 1 WHERE id = 1")
