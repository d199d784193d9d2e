"""Two real ``nxlink simulate`` processes on one database: no contact dialled twice.

Both dialers claim from the same tasks at once. Whatever the interleaving, each attempt of a
contact is one call, no contact gets more than ``orderMaxCall`` calls, no task has more than
``maxCall`` contacts being dialled at any moment (a thread watches every few milliseconds), both
dialers get work, and every counter still equals its recomputation.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import defaultdict

import pytest

from conftest import make_tenant
from db import Observer
from lifecycle.helpers import nxlink
from live import NXLINK
from nxlink.service import lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.service.requests import ContactIn, TaskCreate
from nxlink.store import open_store

pytestmark = pytest.mark.slow

TASKS = 3
CONTACTS_PER_TASK = 100
MAX_CALL = 3
ORDER_MAX_CALL = 2
RUN_SECONDS = 8
PLACED = re.compile(
    r"placed (\d+) call\(s\), reported (\d+) in [0-9.]+ s; (\d+) in flight released"
)


def _prepare(db_url: str) -> list[str]:
    store = open_store(db_url)
    try:
        tenant = make_tenant(store, "acme")
        ms = time.time_ns() // 1_000_000
        clock = Clock(now=ms // 1000, now_ms=ms)
        lifecycle.top_up(store, tenant.account_id, 10**7, clock=clock)
        task_ids = []
        for t in range(TASKS):
            contacts = tuple(
                ContactIn(contact_id=f"t{t}c{i}", phone=f"+8525{t}{i:06d}")
                for i in range(CONTACTS_PER_TASK)
            )
            req = TaskCreate(task_name=f"load {t}", auto_flow_id=tenant.flow_id,
                             route_id=tenant.route_id, task_keep=0, startup_type=3,
                             max_call=MAX_CALL, order_max_call=ORDER_MAX_CALL,
                             replay_interval=0, contacts=contacts)  # fmt: skip
            task_ids.append(lifecycle.create_task(store, tenant.account_id, req, clock=clock))
        return task_ids
    finally:
        store.close()


class DiallingWatch(threading.Thread):
    """Polls how many contacts of each task are being dialled; keeps the highest seen."""

    def __init__(self, db_url: str) -> None:
        super().__init__(name="dialling-watch", daemon=True)
        self.db_url = db_url
        self.stop = threading.Event()
        self.peak: dict[int, int] = defaultdict(int)
        self.polls = 0

    def run(self) -> None:
        with Observer(self.db_url) as db:
            while not self.stop.is_set():
                for task_row_id, dialling in db.rows(
                    "SELECT task_row_id, count(*) FROM orders WHERE state = 'dialling' "
                    "GROUP BY task_row_id"
                ):
                    self.peak[task_row_id] = max(self.peak[task_row_id], dialling)
                self.polls += 1
                time.sleep(0.003)


def test_two_simulators_never_dial_a_contact_twice(store_url: str) -> None:
    _prepare(store_url)
    watch = DiallingWatch(store_url)
    watch.start()
    args = ["simulate", "--db", store_url, "--speed", "600", "--for", str(RUN_SECONDS)]
    procs = [
        subprocess.Popen(
            [str(NXLINK), *args, "--seed", str(seed), "--no-callbacks"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=RUN_SECONDS + 60)
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        watch.stop.set()
        watch.join(timeout=10)

    placed, reported, released = [], [], []
    for returncode, out, err in outputs:
        assert returncode == 0, (out, err)
        assert "step failed" not in err, err  # a lost race would show as a failed step
        found = PLACED.search(out)
        assert found is not None, out
        placed.append(int(found[1]))
        reported.append(int(found[2]))
        released.append(int(found[3]))

    with Observer(store_url) as db:
        twice = db.rows(
            "SELECT order_id, attempt, count(*) FROM calls GROUP BY order_id, attempt "
            "HAVING count(*) > 1"
        )
        assert twice == []
        most = db.scalar(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM calls GROUP BY order_id) AS per_order"
        )
        assert most <= ORDER_MAX_CALL
        assert db.scalar("SELECT max(attempts) FROM orders") <= ORDER_MAX_CALL
        calls = db.scalar("SELECT count(*) FROM calls")
        in_flight = db.scalar("SELECT count(*) FROM orders WHERE state = 'dialling'")
    # Every call placed was reported by its dialer or given back when it stopped.
    assert sum(reported) == calls
    assert in_flight == 0
    assert sum(placed) == calls + sum(released)
    assert calls > 100

    assert watch.polls > 100
    # Every task had all its lines busy at some moment, and never more: in the database, and
    # in simulated time (a dialer catching up on its past never starts a call on a line that
    # another freed later).
    assert sorted(watch.peak.values()) == [MAX_CALL] * TASKS, dict(watch.peak)
    with Observer(store_url) as db:
        edges: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for row_id, start, end in db.rows("SELECT task_row_id, call_start, call_end FROM calls"):
            edges[row_id] += [(start, 1), (end, -1)]
    peaks = []
    for points in edges.values():
        running = peak = 0
        for _, step in sorted(points):  # an end sorts before a start at the same second
            running += step
            peak = max(peak, running)
        peaks.append(peak)
    assert sorted(peaks) == [MAX_CALL] * TASKS

    verify = nxlink("verify-counters", "--db", store_url)
    assert verify.returncode == 0, (verify.stdout, verify.stderr)
    assert verify.stdout.startswith(f"ok: {TASKS} task(s)"), verify.stdout

    # Both dialers got work: each live dialer holds at most its share of a task's lines, so
    # the first to claim cannot keep them all (it re-claims a line in the step that frees it).
    assert all(n > 0 for n in placed), f"calls placed by each dialer: {placed}"
