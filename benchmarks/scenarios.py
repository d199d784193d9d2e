"""The scenarios: which server, which request bodies, and what a sample answer must hold.

Product scenarios (a)–(d) and (g) run against ``nxlink serve``; ceilings (e) and (f) run the
bare ASGI app of :mod:`benchmarks.ceiling` answering the captured bytes of a real (a) or (c)
answer, with the same request tables as the product scenario they bound. (g) is the name search
at concurrency 1, with a ``/healthz`` probe beside it. The scale-out pair (s1)/(s2) replays
(a)'s requests on one and on two API processes (PostgreSQL only: SQLite's one writer is not
what the pair measures, and its readers share one file).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Final, Literal

from benchmarks.dataset import Manifest

DAY: Final = 86_400
#: Order of a full run per backend: the ceilings first (their bytes are captured before), then
#: the product, then the scale-out pair.
ORDER: Final = ("e", "f", "a", "b", "c", "d", "g", "s1", "s2")
#: (g)'s substrings, typed as a user would; each followed by its share of the ``big`` account's
#: task names (dataset version 2): frequent (the year, a common word ending, "Renewal"/"renewal"),
#: medium ("Welcome call", two non-ASCII purposes: "Ñandú", "Опрос клиентов") and rare (the
#: "VIP" segment, one of 999 "#n" suffixes).
NAME_SUBSTRINGS: Final[tuple[tuple[str, float], ...]] = (
    ("2025", 0.666), ("tion", 0.410), ("enew", 0.136), ("Call", 0.067),
    ("Ñand", 0.023), ("Опро", 0.023), ("VIP ", 0.008), ("#999", 0.0007),
)  # fmt: skip


def body(fields: dict[str, Any]) -> bytes:
    """Compact JSON in UTF-8, as a typical client sends it."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def _shuffled(items: list[bytes], seed: int) -> tuple[bytes, ...]:
    """A fixed shuffle: any window of the cycle mixes cheap and expensive pages."""
    random.Random(seed).shuffle(items)
    return tuple(items)


def bodies_a() -> tuple[bytes, ...]:
    return _shuffled([body({"pageNumber": p, "pageSize": 10}) for p in range(1, 2001)], 1)


_RATE_BANDS: Final[tuple[tuple[float | int, float | int], ...]] = (
    (20, 80), (0, 50), (50, 100), (30, 70), (10, 90), (40.5, 60.5), (0, 100), (25, 75.5),
)  # fmt: skip
_CONTACT_BANDS: Final[tuple[tuple[int, int], ...]] = (
    (100, 10_000), (0, 1000), (1000, 50_000), (500, 5000), (1, 100), (200, 2000),
)  # fmt: skip


def bodies_b(now: int, count: int = 300) -> tuple[bytes, ...]:
    """``count`` distinct filtered requests: every filter of the contract but the name one.

    Status 1–6, a 7-day creation window ("last week", as a console would offer) ending
    0–357 days before the dataset's clock, an answer-rate band, a contact-count band, page 1–3.
    In the big account one status over 7 days is about 1,600 tasks for the count to examine.
    """
    rng = random.Random(2)
    seen: set[bytes] = set()
    out: list[bytes] = []
    while len(out) < count:
        end = now - rng.randrange(358) * DAY
        low_rate, high_rate = rng.choice(_RATE_BANDS)
        low_contacts, high_contacts = rng.choice(_CONTACT_BANDS)
        item = body({
            "taskStatus": rng.randint(1, 6),
            "createStartTs": end - 7 * DAY,
            "createEndTs": end,
            "minCallsAnsweredRate": low_rate,
            "maxCallsAnsweredRate": high_rate,
            "minTaskTotalQuantity": low_contacts,
            "maxTaskTotalQuantity": high_contacts,
            "pageNumber": rng.randint(1, 3),
            "pageSize": 10,
        })  # fmt: skip
        if item not in seen:
            seen.add(item)
            out.append(item)
    return tuple(out)


def bodies_c() -> tuple[bytes, ...]:
    return _shuffled([body({"pageNumber": p, "pageSize": 1000}) for p in range(1, 101)], 3)


def bodies_d() -> tuple[bytes, ...]:
    return (body({"pageNumber": 400, "pageSize": 1000}),)


def bodies_g() -> tuple[bytes, ...]:
    """Every substring of :data:`NAME_SUBSTRINGS`, pages 1–3 of 10 rows (24 bodies, shuffled)."""
    items = [
        body({"taskName": name, "pageNumber": page, "pageSize": 10})
        for name, _ in NAME_SUBSTRINGS
        for page in (1, 2, 3)
    ]
    return _shuffled(items, 7)


def name_totals(db_path: str, account: str) -> dict[str, int]:
    """How many of ``account``'s tasks contain each of (g)'s substrings, the contract's way
    (``casefold`` both sides), computed here in Python from ``task_name``: not from the
    product's folded column or its index, so a wrong answer of either shows."""
    import sqlite3

    folds = {name: name.casefold() for name, _ in NAME_SUBSTRINGS}
    totals = dict.fromkeys(folds, 0)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT t.task_name FROM tasks AS t JOIN accounts AS a ON a.id = t.account_id "
            "WHERE a.name = ?",
            (account,),
        )
        for (task_name,) in rows:
            folded = task_name.casefold()
            for name, fold in folds.items():
                if fold in folded:
                    totals[name] += 1
    finally:
        conn.close()
    return totals


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    kind: Literal["product", "ceiling"]
    bodies: tuple[bytes, ...]
    #: Signed copies per body (distinct ``ts``, hence distinct signatures).
    copies: int
    #: Product: the ceiling it is compared with. Ceiling: the product scenario whose captured
    #: answer it serves.
    partner: str
    #: Sample check: rows expected in ``list`` and the expected ``total`` (None: not checked).
    expect_rows: int | None = None
    expect_total: int | None = None
    #: Whether wrk checks every answer's body (status 200 and ``"code":0``) in Lua. For 1 MB
    #: answers wrk's body buffering costs more CPU than the ceiling server itself, which would
    #: make the load generator the bottleneck; there, non-2xx come from wrk's own status
    #: counter and the product's request log is checked line by line instead.
    check_bodies: bool = True
    #: Connections of the load run (None: the run's ``--connections``).
    connections: int | None = None
    #: ``nxlink serve --workers``.
    workers: int = 1
    #: Probe ``GET /healthz`` beside the load run (:mod:`benchmarks.probe`).
    probe: bool = False
    #: The backends it runs on.
    backends: tuple[str, ...] = ("sqlite", "postgres")

    @property
    def distinct_requests(self) -> int:
        return len(self.bodies) * self.copies

    @property
    def label(self) -> str:
        return f"({self.key}) {self.title}"


def scenarios(manifest: Manifest) -> dict[str, Scenario]:
    big = manifest.big_tasks
    a, b, c, d = bodies_a(), bodies_b(manifest.fixed_now), bodies_c(), bodies_d()

    def big_page(key: str, title: str, bodies: tuple[bytes, ...], copies: int) -> Scenario:
        return Scenario(key, title, "product", bodies, copies, "f", 1000, big, check_bodies=False)

    items = [
        Scenario("a", "10 rows, no filter, pages 1–2000", "product", a, 1, "e", 10, big),
        Scenario("b", "10 rows, 4 filters, varied, pages 1–3", "product", b, 1, "e"),
        big_page("c", "1000 rows, no filter, pages 1–100", c, 2),
        big_page("d", "1000 rows, page 400 (offset 399,000)", d, 200),
        Scenario("e", "ceiling: bare ASGI, captured 10-task page", "ceiling", a, 1, "a"),
        Scenario("f", "ceiling: bare ASGI, captured 1000-task page", "ceiling", c, 2, "c",
                 check_bodies=False),
        Scenario("g", "10 rows, taskName contains 4 chars (8 substrings), pages 1–3, "
                 "concurrency 1", "product", bodies_g(), 1, "e", connections=1, probe=True),
        Scenario("s1", "scale-out: (a) on 1 API process", "product", a, 1, "e", 10, big,
                 backends=("postgres",)),
        Scenario("s2", "scale-out: (a) on 2 API processes (--workers 2)", "product", a, 1, "e",
                 10, big, workers=2, backends=("postgres",)),
    ]  # fmt: skip
    return {s.key: s for s in items}
