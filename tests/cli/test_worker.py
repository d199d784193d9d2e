"""``nxlink worker``: the dialer and callback delivery as a process of their own, stopped by
SIGTERM with nothing left held."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_tenant
from live import NXLINK
from nxlink.cli import main
from nxlink.service import lifecycle, requests
from nxlink.service.lifecycle import Clock
from nxlink.store import Store, open_store

pytestmark = pytest.mark.slow


def _clock() -> Clock:
    return Clock.at(time.time_ns() // 1_000_000)


def test_worker_dials_until_sigterm_then_gives_back_what_it_holds(store_url: str) -> None:
    url = store_url
    store: Store = open_store(url)
    try:
        acme = make_tenant(store, "acme")
        lifecycle.top_up(store, acme.account_id, 1_000_000, clock=_clock())
        # Long calls at a moderate speed: some are still in flight when SIGTERM arrives.
        body = {
            "taskName": "worker", "autoFlowId": acme.flow_id, "routeId": acme.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 5,
            "list": [{"contactId": f"w-{i}", "phoneNumber": f"+8527{i:07d}"} for i in range(40)],
        }  # fmt: skip
        lifecycle.create_task(store, acme.account_id, requests.parse_task_create(body),
                              clock=_clock())  # fmt: skip
        proc = subprocess.Popen(
            [str(NXLINK), "worker", "--db", url, "--simulate", "--speed", "20", "--seed", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _dialling(store, acme.account_id) < 5:
                time.sleep(0.1)
            assert _dialling(store, acme.account_id) == 5  # maxCall lines held by the worker
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        first, last = err.strip().splitlines()[0], err.strip().splitlines()[-1]
        assert first.startswith(f"nxlink worker on {url}: dialer sim-")
        assert first.endswith("at 20x, seed 3, callback delivery")
        assert last.startswith("worker stopped after ")
        assert last.endswith("in flight released")
        # Nothing is left waiting for a lease to pass, and the counters agree with the calls.
        assert _dialling(store, acme.account_id) == 0
        check = store.recompute_counters()
        assert (check.checked, check.differences) == (1, [])
    finally:
        store.close()


def test_worker_with_nothing_to_do_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["worker", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                                       "--no-deliver"])  # fmt: skip
    assert result.exit_code == 2
    assert "nothing to do: give --simulate, or drop --no-deliver" in result.output


def _dialling(store: Store, account_id: int) -> int:
    """How many of the account's (one) task's contacts are being dialled now. The lines'
    lock is skipped, not waited for, while the worker claims for the task: ask again then."""
    for _ in range(200):
        with store.lifecycle() as tx:
            (row_id,) = tx.tasks_in(account_id, statuses=[1, 2, 3, 4, 5, 6])
            held = tx.lock_lines(account_id, row_id, dialer_id="observer")
        if held is not None:
            return held.dialling
        time.sleep(0.01)
    raise AssertionError("the task's lines stayed locked for 2 s")
