"""Rate limits per access key: the rule (``store/ratelimit.py``), and each backend's cells
(SQLite: the process's memory; PostgreSQL: a table shared by every process) following it."""

from __future__ import annotations

import pytest

from nxlink.store import Store, open_store
from nxlink.store.ratelimit import Limit, MemoryCells, take

LIMIT = Limit(rate_per_s=2.0, burst=3)  # a request per 500 ms, three at once


def test_the_rule() -> None:
    cells = MemoryCells()
    waits = [cells.take("AK", now, LIMIT) for now in (0, 0, 0, 0, 100, 500, 500, 2000)]
    # Three at once; the fourth waits 500 ms; at 100 ms 400 more; at 500 ms one is back.
    assert waits == [0.0, 0.0, 0.0, 500.0, 400.0, 0.0, 500.0, 0.0]
    assert take(None, 10, LIMIT) == (510.0, 0.0)
    assert cells.take("other", 0, LIMIT) == 0.0  # each key has its own


#: A sequence of (key, now) and what the rule answers for it.
SEQUENCE = [("a", t) for t in (0, 0, 0, 0, 10, 250, 499, 500, 501, 1500, 1500, 1500, 1500)] + [
    ("b", 0), ("a", 1501), ("b", 1), ("b", 2), ("b", 3),
]  # fmt: skip


def _expected() -> list[float]:
    cells = MemoryCells()
    return [cells.take(key, now, LIMIT) for key, now in SEQUENCE]


def test_a_backend_follows_the_rule(store: Store) -> None:
    waits = [store.take_token(key, now_ms=now, limit=LIMIT) for key, now in SEQUENCE]
    assert waits == pytest.approx(_expected(), abs=1e-9)
    assert waits.count(0.0) == 9


def test_processes_share_the_cells_on_postgresql(store_url: str, store: Store) -> None:
    other = open_store(store_url)
    try:
        stores = [store, other]
        waits = [stores[i % 2].take_token(key, now_ms=now, limit=LIMIT)
                 for i, (key, now) in enumerate(SEQUENCE)]  # fmt: skip
    finally:
        other.close()
    if store_url.startswith("postgresql"):
        assert waits == pytest.approx(_expected(), abs=1e-9)
    else:  # SQLite: each process (here each store) has cells of its own
        assert waits.count(0.0) > _expected().count(0.0)
