"""What the lifecycle costs: importing contacts and recording simulated calls, each against the
bare SQLite writes they cannot do without, measured in the same run.

    .venv/bin/python -m benchmarks.lifecycle [--contacts 10000] [--calls-contacts 3000] [--repeat 3]

1. **Import**: ``call/append`` of N contacts through the service (``parse_call_append`` on the
   decoded body, then ``lifecycle.append_contacts``: flow-variable and duplicate checks, the
   insert, the counter update, the re-render of the task's JSON), against a baseline of one
   ``executemany`` INSERT of the same rows into a bare table of the same columns, in one
   transaction, on a database opened with the same settings.
2. **Calls**: a task of M contacts (``maxCall`` 50, one attempt each) dialled to the end by the
   simulator (claims, outcome draws, one transaction per reported call: the call row, the
   order, the counters, the task's JSON, the balance), against a baseline of the same number of
   bare transactions that each insert one call row and add to one counter row.

Prints the medians of ``--repeat`` runs and the ratio product / baseline (lower is better; the
baseline is the floor of a durable write on this machine at this moment). Not a test.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from nxlink.dialer.simulator import Simulator
from nxlink.service import admin, lifecycle, requests
from nxlink.service.lifecycle import Clock
from nxlink.service.tasks import parse_json_object
from nxlink.store import open_store

NOW = 1_767_225_600


def _clock() -> Clock:
    return Clock(NOW, NOW * 1000)


def _tenant(folder: Path, name: str) -> tuple[Any, int, str, int]:
    store = open_store(f"sqlite:///{folder / (name + '.db')}")
    account = admin.create_account(store, "bench")
    flow = admin.create_flow(store, "bench", name="agent", variables=["name", "due"])
    route = admin.create_route(store, "bench", name="route", answer_probability=0.6,
                               talk_seconds_mean=60, price_per_minute_cents=1)  # fmt: skip
    lifecycle.top_up(store, account.id, 10**12, clock=_clock())
    return store, account.id, route.route_id, flow.id


def _contacts(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {"contactId": f"{prefix}-{i}", "name": f"Customer {i}", "phoneNumber": f"+852{i:08d}",
         "params": [{"name": "name", "value": f"Customer {i}"}]}
        for i in range(n)
    ]  # fmt: skip


def _bare(folder: Path, name: str) -> sqlite3.Connection:
    conn = sqlite3.connect(folder / name, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "page_size = 16384"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def import_run(folder: Path, n: int) -> tuple[float, float]:
    store, account_id, route_id, flow_id = _tenant(folder, "import")
    task_id = lifecycle.create_task(
        store, account_id,
        requests.parse_task_create({"taskName": "bench", "autoFlowId": flow_id,
                                    "routeId": route_id, "taskKeep": 1, "startupType": 1}),
        clock=_clock(),
    )  # fmt: skip
    body = json.dumps({"taskId": task_id, "list": _contacts(n, "c")}).encode()
    started = time.perf_counter()
    req = requests.parse_call_append(parse_json_object(body))
    lifecycle.append_contacts(store, account_id, req, clock=_clock())
    product = time.perf_counter() - started
    store.close()

    conn = _bare(folder, "import-bare.db")
    conn.execute(
        "CREATE TABLE orders (account_id INTEGER, id INTEGER PRIMARY KEY, task_row_id INTEGER, "
        "contact_id TEXT, name TEXT, phone TEXT, country_code TEXT, params TEXT, other TEXT, "
        "created_ts INTEGER)"
    )
    conn.execute("CREATE UNIQUE INDEX orders_contact ON orders (account_id, contact_id)")
    rows = [
        (1, 1, c["contactId"], c["name"], c["phoneNumber"], "", json.dumps(c["params"]), "", NOW)
        for c in json.loads(body)["list"]
    ]
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO orders (account_id, task_row_id, contact_id, name, phone, country_code, "
        "params, other, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    baseline = time.perf_counter() - started
    conn.close()
    return product, baseline


def calls_run(folder: Path, n: int) -> tuple[float, float, int]:
    store, account_id, route_id, flow_id = _tenant(folder, "calls")
    lifecycle.create_task(
        store, account_id,
        requests.parse_task_create({"taskName": "bench", "autoFlowId": flow_id,
                                    "routeId": route_id, "taskKeep": 0, "startupType": 3,
                                    "maxCall": 50, "list": _contacts(n, "d")}),
        clock=_clock(),
    )  # fmt: skip
    simulator = Simulator(store, seed=1, clock_ms=lambda: NOW * 1000)
    started = time.perf_counter()
    moment = NOW
    while True:
        moment += 600
        simulator.advance(moment)
        if simulator.in_flight == 0 and simulator.reported >= n:
            break
    product = time.perf_counter() - started
    calls = simulator.reported
    store.close()

    conn = _bare(folder, "calls-bare.db")
    conn.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, task_row_id INTEGER, "
                 "call_id TEXT UNIQUE, result INTEGER, talk_seconds INTEGER)")  # fmt: skip
    conn.execute("CREATE TABLE stats (task_row_id INTEGER PRIMARY KEY, calls INTEGER)")
    conn.execute("INSERT INTO stats VALUES (1, 0)")
    started = time.perf_counter()
    for i in range(calls):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO calls (task_row_id, call_id, result, talk_seconds) "
                     "VALUES (1, ?, 1, 60)", (f"call-{i}",))  # fmt: skip
        conn.execute("UPDATE stats SET calls = calls + 1 WHERE task_row_id = 1")
        conn.execute("COMMIT")
    baseline = time.perf_counter() - started
    conn.close()
    return product, baseline, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--calls-contacts", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    imports: list[tuple[float, float]] = []
    calls: list[tuple[float, float, int]] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            imports.append(import_run(Path(folder), args.contacts))
            calls.append(calls_run(Path(folder), args.calls_contacts))
    imp, imp_base = (statistics.median(x[i] for x in imports) for i in (0, 1))
    call, call_base = (statistics.median(x[i] for x in calls) for i in (0, 1))
    count = calls[0][2]
    rows = [
        ("measure", "product", "baseline", "ratio"),
        ("---",) * 4,
        (f"call/append of {args.contacts:,} contacts", f"{imp * 1000:.0f} ms",
         f"{imp_base * 1000:.0f} ms", f"{imp / imp_base:.1f}x"),
        (f"{count:,} simulated calls, end to end",
         f"{call:.2f} s ({count / call:,.0f} calls/s)",
         f"{call_base:.2f} s ({count / call_base:,.0f} tx/s)", f"{call / call_base:.1f}x"),
    ]  # fmt: skip
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
