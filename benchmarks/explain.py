"""Where a scenario's database time goes: the store's own statements, with their plans.

    .venv/bin/python -m benchmarks.explain [--backend sqlite|postgres] [--scenarios g,b]
                                           [--pg-url URL] [--repeat 3]

For a few request bodies of each scenario (page 1 of every substring for (g), the first three
bodies for (b), the first one otherwise) it parses the body with the product's parser, calls the
store's ``task_page`` in-process (timed, median of ``--repeat``) and records every SQL
statement that call sent, as sent: SQLite's trace callback (bound values expanded), psycopg's
``Connection.execute`` wrapped for the duration. Each statement is then explained:
``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)`` with the same parameters on
PostgreSQL. Nothing here copies the store's SQL, so what it shows is what the server runs.

Read only; uses the cached datasets (``benchmarks.dataset``, ``benchmarks.pgdata``). Prints the
report and writes it to ``benchmarks/results/explain-<backend>.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import dataset, pgdata
from benchmarks.scenarios import NAME_SUBSTRINGS, body, scenarios

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _bodies(key: str) -> list[bytes]:
    sc = scenarios(dataset.ensure(quiet=True))[key]
    if key == "g":
        return [body({"taskName": n, "pageNumber": 1, "pageSize": 10}) for n, _ in NAME_SUBSTRINGS]
    return list(sc.bodies[: 3 if key == "b" else 1])


@contextlib.contextmanager
def _recording_psycopg() -> Iterator[list[tuple[Any, Any]]]:
    import psycopg

    seen: list[tuple[Any, Any]] = []
    original = psycopg.Connection.execute

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        seen.append((query, params))
        return original(self, query, params, **kwargs)

    psycopg.Connection.execute = execute  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        psycopg.Connection.execute = original  # type: ignore[method-assign]


def _explain_postgres(url: str, statements: list[tuple[Any, Any]]) -> list[str]:
    import psycopg

    out: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for query, params in statements:
            text = query.decode() if isinstance(query, bytes) else str(query)
            if not text.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params).fetchall()
            out += ["", "    " + " ".join(text.split())[:600], ""]
            out += [f"    {row[0]}" for row in rows]
    return out


def _explain_sqlite(db_path: str, statements: list[str]) -> list[str]:
    import sqlite3

    out: list[str] = []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        for text in statements:
            if not text.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            t0 = time.perf_counter()
            conn.execute(text).fetchall()
            took = (time.perf_counter() - t0) * 1000
            plan = conn.execute(f"EXPLAIN QUERY PLAN {text}").fetchall()
            out += ["", "    " + " ".join(text.split())[:600], f"    ({took:.1f} ms alone)"]
            out += [
                f"    {'  ' * (0 if parent == 0 else 1)}{detail}" for _, parent, _, detail in plan
            ]
    finally:
        conn.close()
    return out


def explain(backend: str, keys: list[str], *, url: str, repeat: int) -> str:
    from nxlink.service import tasks as svc
    from nxlink.store import open_store

    manifest = dataset.ensure(quiet=True)
    db_url = manifest.db_url if backend == "sqlite" else url
    if backend == "postgres":
        pgdata.ensure(manifest, url=url, quiet=True)
    store = open_store(db_url)
    lines = [f"# {backend}: the store's statements per request ({db_url})"]
    try:
        account = store.get_account(manifest.big_account)
        assert account is not None
        for key in keys:
            lines += ["", f"## ({key})"]
            for raw in _bodies(key):
                query = svc.parse_task_list(svc.parse_json_object(raw))
                offset = (query.page_number - 1) * query.page_size
                times = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    total, rows = store.task_page(
                        account.id, query.filter, offset=offset, limit=query.page_size
                    )
                    times.append((time.perf_counter() - t0) * 1000)
                took = statistics.median(times)
                lines += ["", f"### {raw.decode()}: total {total:,}, {len(rows)} rows, "
                          f"task_page {took:.1f} ms (median of {repeat})"]  # fmt: skip
                if backend == "postgres":
                    with _recording_psycopg() as seen:
                        store.task_page(account.id, query.filter, offset=offset,
                                        limit=query.page_size)  # fmt: skip
                    lines += _explain_postgres(url, seen)
                else:
                    traced: list[str] = []
                    conn = store._conn  # type: ignore[attr-defined]  # the calling thread's
                    conn.set_trace_callback(traced.append)
                    try:
                        store.task_page(account.id, query.filter, offset=offset,
                                        limit=query.page_size)  # fmt: skip
                    finally:
                        conn.set_trace_callback(None)
                    lines += _explain_sqlite(str(dataset.DB_PATH), traced)
    finally:
        store.close()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The store's statements and their plans.")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--scenarios", default="g")
    parser.add_argument("--pg-url", default=pgdata.DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    keys = [k for k in args.scenarios.split(",") if k in ("a", "b", "c", "d", "g")]
    text = explain(args.backend, keys, url=args.pg_url, repeat=max(1, args.repeat))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"explain-{args.backend}.txt"
    path.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
