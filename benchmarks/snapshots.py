"""How long the sandbox's snapshot, restore and reset take on a demo-sized database.

    .venv/bin/python -m benchmarks.snapshots [--backend sqlite|postgres|both] [--tasks 5000]
                                             [--repeat 5] [--pg-url URL]

Builds the demo's database with the product's code (``scripts/demo.py``: account ``demo``, a
flow, a route, ``seed_account`` with seed 2026) in a temporary SQLite file, or in a throwaway
schema of the PostgreSQL database at ``--pg-url`` (loopback only; dropped afterwards with its
snapshots), then times ``Store.take_snapshot`` and ``Store.restore_snapshot`` ``--repeat``
times each (after a reset of the account, so that every restore has work to do) and one
``Store.reset_account``. Prints the median and the slowest of each against the target (under a
second). Bounded: a few seconds per backend. Not a test: no timing is asserted, the exit status
is 0 whenever it ran.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

from nxlink.service import admin
from nxlink.service.seeding import seed_account
from nxlink.store import Store, open_store

TARGET_S = 1.0
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="nxlink-snapshots-") as folder:
        yield f"sqlite:///{Path(folder) / 'demo.db'}"


@contextlib.contextmanager
def _postgres(base_url: str) -> Iterator[str]:
    import psycopg

    host = urlsplit(base_url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"--pg-url must name a loopback host, got {host!r}")
    schema = f"nxbench_snap_{secrets.token_hex(4)}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    sep = "&" if "?" in base_url else "?"
    try:
        # This schema alone: another schema on the path (public) may hold tables of the same names.
        yield f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                        (schema + "%",)).fetchall():  # fmt: skip
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(url: str, *, tasks: int, repeat: int) -> dict[str, list[float]]:
    store: Store = open_store(url)
    try:
        account = admin.create_account(store, "demo")
        admin.create_flow(store, "demo", name="Renewal agent", variables=["name", "due"])
        admin.create_route(store, "demo", name="HK mobile", country_code="852",
                           answer_probability=0.62, talk_seconds_mean=75,
                           price_per_minute_cents=2)  # fmt: skip
        admin.create_key(store, "demo")
        seed_account(store, "demo", count=tasks, seed=2026, now=1_767_225_600)
        store.analyze()
        times: dict[str, list[float]] = {"snapshot": [], "restore": [], "reset": []}
        for i in range(repeat):
            times["snapshot"].append(_timed(lambda i=i: store.take_snapshot("demo", now_ms=i)))
        times["reset"].append(_timed(lambda: store.reset_account(account.id, catalog=False)))
        for _ in range(repeat):
            times["restore"].append(_timed(lambda: store.restore_snapshot("demo")))
            assert store.count_tasks(account.id) == tasks
            store.reset_account(account.id, catalog=False)
        store.restore_snapshot("demo")
        if store.recompute_counters().differences:
            raise SystemExit("counters disagree after a restore")
        store.delete_snapshot("demo")
        return times
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--tasks", type=int, default=5000, help="seeded tasks (demo: 5000)")
    parser.add_argument("--repeat", type=int, default=5, choices=range(1, 21), metavar="1..20")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(f"| backend | operation | median (s) | slowest (s) | under {TARGET_S:g} s |")
    print("|---|---|---|---|---|")
    for backend in backends:
        place = _sqlite() if backend == "sqlite" else _postgres(args.pg_url)
        with place as url:
            times = measure(url, tasks=args.tasks, repeat=args.repeat)
        for operation, values in times.items():
            slowest = max(values)
            print(f"| {backend} | {operation} ({args.tasks} tasks) | "
                  f"{statistics.median(values):.3f} | {slowest:.3f} | "
                  f"{'yes' if slowest < TARGET_S else 'NO'} |")  # fmt: skip
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
