"""The lifecycle's commands through click's ``CliRunner`` on a temporary database: ``accounts
topup``, the outcome profile of ``routes create``, ``flows``/``routes`` ``disable``/``enable``,
``verify-counters`` and ``simulate``."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from backends import existing
from conftest import Tenant, make_tenant
from db import Observer
from nxlink.cli import main
from nxlink.dialer.simulator import Simulator
from nxlink.service import lifecycle, requests
from nxlink.service.lifecycle import Clock
from nxlink.store import Store


def _run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    if code:
        # A refusal, not a crash with a stack trace.
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
    return result


@pytest.fixture
def url(store_url: str) -> str:
    """The database the commands open (``store`` is the test's own view of it)."""
    return store_url


def _clock() -> Clock:
    ms = time.time_ns() // 1_000_000
    return Clock(ms // 1000, ms)


def _task(store: Store, tenant: Tenant, *, contacts: int = 3, **fields: Any) -> str:
    body: dict[str, Any] = {
        "taskName": "cli",
        "autoFlowId": tenant.flow_id,
        "routeId": tenant.route_id,
        "taskKeep": 0,
        "startupType": 3,
        "list": [
            {"contactId": f"{tenant.name}-{fields.get('userTaskId', '')}-{i}",
             "phoneNumber": f"+8527{i:07d}"}
            for i in range(contacts)
        ],
    }  # fmt: skip
    body.update(fields)
    return lifecycle.create_task(
        store, tenant.account_id, requests.parse_task_create(body), clock=_clock()
    )


def _state(db: Observer, task_id: str) -> tuple[int, int | None]:
    row = db.one("SELECT task_status, pause_reason FROM tasks WHERE task_id = ?", task_id)
    assert row is not None
    return int(row[0]), row[1]


def _balance(store: Store, name: str) -> int:
    account = store.get_account(name)
    assert account is not None
    return account.balance_cents


# -- accounts topup -----------------------------------------------------------------------------


def test_topup_adds_to_the_balance(store: Store, url: str) -> None:
    make_tenant(store, "acme")
    result = _run("accounts", "topup", "acme", "--amount", "500", "--db", url)
    assert result.stdout == "balance of 'acme': 500 cents\n"
    assert _balance(store, "acme") == 500
    result = _run("accounts", "topup", "acme", "--amount", "25", "--db", url)
    assert result.stdout == "balance of 'acme': 525 cents\n"
    assert _balance(store, "acme") == 525


def test_topup_resumes_tasks_paused_for_balance(store: Store, url: str, db: Observer) -> None:
    acme = make_tenant(store, "acme")
    other = make_tenant(store, "globex")
    first = _task(store, acme, userTaskId="a")
    second = _task(store, acme, userTaskId="b")
    theirs = _task(store, other, userTaskId="c")
    assert {_state(db, t) for t in (first, second, theirs)} == {(6, 3)}
    result = _run("accounts", "topup", "acme", "--amount", "300", "--db", url)
    assert result.stdout == "balance of 'acme': 300 cents; 2 task(s) resumed\n"
    assert (_state(db, first), _state(db, second)) == ((2, None), (2, None))
    assert _state(db, theirs) == (6, 3)  # another account's task is not touched


def test_topup_that_leaves_the_balance_at_or_below_zero(
    store: Store, url: str, db: Observer
) -> None:
    acme = make_tenant(store, "acme")
    task_id = _task(store, acme)
    db.execute("UPDATE accounts SET balance_cents = -500 WHERE name = 'acme'")
    result = _run("accounts", "topup", "acme", "--amount", "100", "--db", url)
    assert result.stdout == "balance of 'acme': -400 cents\n"
    result = _run("accounts", "topup", "acme", "--amount", "400", "--db", url)
    assert result.stdout == "balance of 'acme': 0 cents\n"
    assert _state(db, task_id) == (6, 3)
    result = _run("accounts", "topup", "acme", "--amount", "1", "--db", url)
    assert result.stdout == "balance of 'acme': 1 cents; 1 task(s) resumed\n"
    assert _state(db, task_id) == (2, None)


@pytest.mark.parametrize("amount", ["0", "-5", "1.5", "ten"])
def test_topup_refuses_an_amount_that_is_not_a_positive_integer(
    store: Store, url: str, amount: str
) -> None:
    make_tenant(store, "acme")
    result = _run("accounts", "topup", "acme", "--amount", amount, "--db", url, code=2)
    assert "--amount" in result.output
    assert _balance(store, "acme") == 0


def test_topup_of_an_unknown_account(store: Store, url: str) -> None:
    result = _run("accounts", "topup", "nope", "--amount", "5", "--db", url, code=1)
    assert "no account named 'nope'" in result.output


def test_topup_needs_an_amount(store: Store, url: str) -> None:
    make_tenant(store, "acme")
    result = _run("accounts", "topup", "acme", "--db", url, code=2)
    assert "--amount" in result.output


# -- routes create: the outcome profile ---------------------------------------------------------


def test_routes_create_stores_the_outcome_profile(store: Store, url: str) -> None:
    acme = make_tenant(store, "acme")
    result = _run("routes", "create", "--account", "acme", "--name", "HK busy",
                  "--country-code", "852", "--answer-rate", "0.2", "--talk-seconds", "90",
                  "--price-per-minute", "4", "--db", url)  # fmt: skip
    match = re.fullmatch(r"routeId: ([A-Za-z0-9]{10})\n", result.stdout)
    assert match, result.stdout
    route = next(r for r in store.list_routes(acme.account_id) if r.route_id == match[1])
    assert (
        route.name,
        route.country_code,
        route.answer_probability,
        route.talk_seconds_mean,
        route.price_per_minute_cents,
        route.enabled,
    ) == ("HK busy", "852", 0.2, 90, 4, True)


def test_routes_create_profile_defaults(store: Store, url: str) -> None:
    acme = make_tenant(store, "acme")
    result = _run("routes", "create", "--account", "acme", "--name", "plain", "--json",
                  "--db", url)  # fmt: skip
    assert result.stdout.startswith('{"routeId": "')
    route = store.list_routes(acme.account_id)[-1]
    assert (route.name, route.answer_probability, route.talk_seconds_mean,
            route.price_per_minute_cents) == ("plain", 0.5, 60, 0)  # fmt: skip


@pytest.mark.parametrize("edge", ["0", "1"])
def test_routes_create_takes_answer_rates_at_the_edges(store: Store, url: str, edge: str) -> None:
    acme = make_tenant(store, "acme")
    _run("routes", "create", "--account", "acme", "--name", "edge", "--answer-rate", edge,
         "--talk-seconds", "0", "--db", url)  # fmt: skip
    route = store.list_routes(acme.account_id)[-1]
    assert (route.answer_probability, route.talk_seconds_mean) == (float(edge), 0)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--answer-rate", "1.5"),
        ("--answer-rate", "-0.1"),
        ("--answer-rate", "half"),
        ("--talk-seconds", "-1"),
        ("--talk-seconds", "2.5"),
        ("--price-per-minute", "-1"),
        ("--price-per-minute", "0.5"),
    ],
)
def test_routes_create_refuses_a_bad_profile(
    store: Store, url: str, option: str, value: str
) -> None:
    acme = make_tenant(store, "acme")
    result = _run("routes", "create", "--account", "acme", "--name", "bad", option, value,
                  "--db", url, code=2)  # fmt: skip
    assert option in result.output
    assert [r.name for r in store.list_routes(acme.account_id)] == ["acme route"]


# -- flows and routes: disable and enable -------------------------------------------------------


def test_flows_disable_fails_tasks_in_progress_and_enable_brings_the_flow_back(
    store: Store, url: str, db: Observer
) -> None:
    acme = make_tenant(store, "acme")
    lifecycle.top_up(store, acme.account_id, 10_000, clock=_clock())
    running = _task(store, acme, userTaskId="run")
    ready = _task(store, acme, userTaskId="ready", startupType=1)
    result = _run("flows", "disable", str(acme.flow_id), "--db", url)
    assert result.stdout == f"disabled flow {acme.flow_id}; 1 task(s) failed\n"
    assert _state(db, running) == (4, None)
    assert _state(db, ready) == (1, None)
    assert [f.enabled for f in store.list_flows(acme.account_id)] == [False]
    result = _run("flows", "enable", str(acme.flow_id), "--db", url)
    assert result.stdout == f"enabled flow {acme.flow_id}\n"
    assert [f.enabled for f in store.list_flows(acme.account_id)] == [True]
    assert _state(db, running) == (4, None)  # failed tasks stay failed
    result = _run("flows", "disable", str(acme.flow_id), "--db", url)
    assert result.stdout == f"disabled flow {acme.flow_id}; 0 task(s) failed\n"


def test_flows_disable_of_an_unknown_flow(store: Store, url: str) -> None:
    result = _run("flows", "disable", "999", "--db", url, code=1)
    assert "no flow 999" in result.output
    result = _run("flows", "enable", "999", "--db", url, code=1)
    assert "no flow 999" in result.output
    _run("flows", "disable", "three", "--db", url, code=2)


def test_routes_disable_fails_tasks_in_progress_and_enable_brings_the_route_back(
    store: Store, url: str, db: Observer
) -> None:
    acme = make_tenant(store, "acme")
    lifecycle.top_up(store, acme.account_id, 10_000, clock=_clock())
    first = _task(store, acme, userTaskId="one")
    second = _task(store, acme, userTaskId="two")
    ready = _task(store, acme, userTaskId="ready", startupType=1)
    # Calls in flight when the route goes: they still end and are counted.
    sim = Simulator(store, seed=2)
    started = _clock().now
    sim.advance(started)
    assert sim.in_flight == 6
    result = _run("routes", "disable", acme.route_id, "--db", url)
    assert result.stdout == f"disabled route {acme.route_id}; 2 task(s) failed\n"
    assert (_state(db, first), _state(db, second), _state(db, ready)) == (
        (4, None), (4, None), (1, None)
    )  # fmt: skip
    assert [r.enabled for r in store.list_routes(acme.account_id)] == [False]
    sim.advance(started + 3600)
    assert sim.in_flight == 0
    result = _run("routes", "enable", acme.route_id, "--db", url)
    assert result.stdout == f"enabled route {acme.route_id}\n"
    assert [r.enabled for r in store.list_routes(acme.account_id)] == [True]
    assert _state(db, first) == (4, None)
    _run("verify-counters", "--db", url)


def test_routes_disable_of_an_unknown_route(store: Store, url: str) -> None:
    result = _run("routes", "disable", "NoSuchRoute", "--db", url, code=1)
    assert "no route 'NoSuchRoute'" in result.output
    result = _run("routes", "enable", "NoSuchRoute", "--db", url, code=1)
    assert "no route 'NoSuchRoute'" in result.output


# -- verify-counters ----------------------------------------------------------------------------

OK_TAIL = "task(s), every counter equals its recomputation from orders and calls"


def test_verify_counters_on_an_empty_database(url: str) -> None:
    result = _run("verify-counters", "--db", existing(url))
    assert result.stdout == f"ok: 0 {OK_TAIL}\n"


def _dialled(store: Store) -> tuple[Tenant, list[str]]:
    """An account with two tasks that have been dialled, and three seeded tasks."""
    acme = make_tenant(store, "acme")
    lifecycle.top_up(store, acme.account_id, 10_000, clock=_clock())
    tasks = [_task(store, acme, userTaskId="one", contacts=5),
             _task(store, acme, userTaskId="two", contacts=4, orderMaxCall=2)]  # fmt: skip
    sim = Simulator(store, seed=5)
    now = _clock().now
    sim.advance(now)
    sim.advance(now + 3 * 3600)
    return acme, tasks


def test_verify_counters_on_a_clean_database(store: Store, url: str) -> None:
    _dialled(store)
    _run("seed", "--account", "acme", "--tasks", "3", "--seed", "1", "--db", url)
    result = _run("verify-counters", "--db", url)
    assert result.stdout == f"ok: 2 {OK_TAIL}; 3 seeded task(s) left out\n"


def test_verify_counters_names_a_corrupted_counter(store: Store, url: str, db: Observer) -> None:
    _, (first, second) = _dialled(store)
    _run("seed", "--account", "acme", "--tasks", "3", "--seed", "1", "--db", url)
    stored = db.scalar("SELECT total_call_count FROM task_stats WHERE task_id = ?", second)
    db.execute(
        "UPDATE task_stats SET total_call_count = total_call_count + 1 WHERE task_id = ?", second
    )
    assert stored > 0
    result = _run("verify-counters", "--db", url, code=1)
    header = ["taskId", "counter", "stored", "recomputed"]
    row = [second, "total_call_count", str(stored + 1), str(stored)]
    rule = ["-" * max(len(h), len(c)) for h, c in zip(header, row, strict=True)]
    assert [line.split() for line in result.stdout.splitlines()] == [header, rule, row]
    assert first not in result.stdout
    assert result.stderr == "1 difference(s) in 1 of 2 task(s); 3 seeded task(s) left out\n"


def test_verify_counters_names_every_difference(store: Store, url: str, db: Observer) -> None:
    _, (first, second) = _dialled(store)
    db.execute("UPDATE task_stats SET total_order_count = total_order_count + 2, "
               "total_call_elapsed = total_call_elapsed + 7")  # fmt: skip
    result = _run("verify-counters", "--db", url, code=1)
    rows = [line.split() for line in result.stdout.splitlines()[2:]]
    assert sorted((row[0], row[1], int(row[2]) - int(row[3])) for row in rows) == sorted([
        (first, "total_order_count", 2), (first, "total_call_elapsed", 7),
        (second, "total_order_count", 2), (second, "total_call_elapsed", 7),
    ])  # fmt: skip
    assert result.stderr == "4 difference(s) in 2 of 2 task(s)\n"


# -- simulate -----------------------------------------------------------------------------------

PLACED = re.compile(
    r"placed (\d+) call\(s\), reported (\d+) in \d+\.\d s; (\d+) in flight released "
    r"\(another dialer places them again\)"
)


@pytest.fixture
def sigterm() -> Iterator[None]:
    """``simulate`` installs its own SIGTERM handler: give the test process its own back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_simulate_dials_tasks_in_progress(
    store: Store, url: str, db: Observer, sigterm: None
) -> None:
    acme = make_tenant(store, "acme")
    lifecycle.top_up(store, acme.account_id, 100_000, clock=_clock())
    _task(store, acme, contacts=20)
    result = _run("simulate", "--db", url, "--speed", "600", "--for", "2")
    match = PLACED.fullmatch(result.stdout.splitlines()[-1])
    assert match, result.stdout
    placed, reported, in_flight = map(int, match.groups())
    assert placed > 0
    assert placed == reported + in_flight
    assert db.scalar("SELECT count(*) FROM calls") == reported
    # Stopped cleanly, it gave back what it held: nothing waits for a lease to pass.
    assert db.scalar("SELECT count(*) FROM orders WHERE state = 'dialling'") == 0
    assert db.scalar("SELECT count(*) FROM dialers") == 0
    assert result.stderr.startswith(f"simulating on {url} at 600x, seed 0 (dialer sim-")
    assert _run("verify-counters", "--db", url).stdout == f"ok: 1 {OK_TAIL}\n"


def test_simulate_with_nothing_to_dial(store: Store, url: str, sigterm: None) -> None:
    acme = make_tenant(store, "acme")
    lifecycle.top_up(store, acme.account_id, 100_000, clock=_clock())
    _task(store, acme, contacts=5, startupType=1)  # ready, not in progress
    result = _run("simulate", "--db", url, "--speed", "600", "--for", "0.3", "--no-callbacks")
    match = PLACED.fullmatch(result.stdout.splitlines()[-1])
    assert match, result.stdout
    assert match.groups() == ("0", "0", "0")


@pytest.mark.parametrize(("option", "value"), [("--speed", "0"), ("--speed", "-1"),
                                               ("--for", "0"), ("--speed", "fast")])  # fmt: skip
def test_simulate_refuses_bad_options(url: str, option: str, value: str) -> None:
    result = _run("simulate", "--db", url, option, value, code=2)
    assert option in result.output
