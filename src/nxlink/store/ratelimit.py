"""Rate limits per access key: the generic cell rate algorithm (a token bucket kept as one
number), with ``rate`` requests per second and bursts of ``burst``.

Each key has a *theoretical arrival time* ``tat`` (epoch ms): a request at ``now`` is allowed
when ``max(tat, now) - now <= tolerance``, where ``interval = 1000 / rate`` and ``tolerance =
(burst - 1) * interval``; it then moves ``tat`` to ``max(tat, now) + interval``. A refused
request changes nothing and may come back after ``max(tat, now) - tolerance - now`` ms.

:func:`take` is the rule; SQLite keeps the cells in each process's memory
(:class:`MemoryCells`), PostgreSQL in a table shared by every process, where
``PostgresStore.take_token`` runs the same rule in one statement (a test checks the two agree).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    rate_per_s: float
    burst: int

    @property
    def interval_ms(self) -> float:
        return 1000.0 / self.rate_per_s

    @property
    def tolerance_ms(self) -> float:
        return (self.burst - 1) * self.interval_ms


def take(tat_ms: float | None, now_ms: int, limit: Limit) -> tuple[float, float]:
    """``(new tat, wait ms)`` for one request: wait 0 when it is allowed (and ``tat`` moves),
    else how long until it would be (``tat`` unchanged)."""
    start = now_ms if tat_ms is None else max(tat_ms, now_ms)
    if start - now_ms <= limit.tolerance_ms:
        return start + limit.interval_ms, 0.0
    assert tat_ms is not None
    return tat_ms, start - limit.tolerance_ms - now_ms


class MemoryCells:
    """The cells of one process (SQLite): a dict under a lock."""

    def __init__(self) -> None:
        self._cells: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, access_key: str, now_ms: int, limit: Limit) -> float:
        with self._lock:
            tat, wait = take(self._cells.get(access_key), now_ms, limit)
            self._cells[access_key] = tat
            if len(self._cells) > 100_000:  # keys idle past their tolerance are full anyway
                self._cells = {k: v for k, v in self._cells.items() if v > now_ms}
            return wait
