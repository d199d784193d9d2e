"""What only the PostgreSQL backend has to prove: keys ready to distribute by account (read
from the catalog), text without NUL, row locks that never let two claims take one task's
lines or a takeover pass a report, time limits and lost connections as ``StoreUnavailable``
(never a driver exception), recovery after the server restarts, and the task list's plans.

Each test runs on a schema of its own (``store_url``/``store``) of ``NXLINK_TEST_POSTGRES_URL``,
or on a throwaway server started for the module.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import psycopg
import pytest

from backends import Backend
from conftest import make_task, make_tenant
from db import Observer
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.service.requests import ContactIn, TaskCreate
from nxlink.store import DatabaseOptions, Store, StoreError, StoreUnavailable, open_store
from nxlink.store import postgres as pg_store
from nxlink.store.base import CallFilter, TaskFilter, ui_token_hash
from pgcluster import Cluster, server_bin

NOW_MS = 1_767_225_600_000
NOW = NOW_MS // 1000

#: Global tables (Citus reference tables); every other table holds one account's rows.
GLOBAL_TABLES = {
    "accounts",
    "access_keys",
    "schema_migrations",
    "dialers",
    "sim_clock",
    "master_key_check",
    "rate_buckets",  # keyed by access key, as access_keys
    "callback_faults",  # the sandbox's, for every account
    "ui_sessions",  # keyed by a token's hash (a lookup knows no account yet), as access_keys
}
TENANT_TABLES = (
    "flows", "routes", "tasks", "task_stats", "task_pages", "account_task_counts",
    "account_day_counts", "account_status_day_counts", "account_hour_counts",
    "account_status_hour_counts", "orders", "calls", "outbox", "outbox_attempts",
)  # fmt: skip


@pytest.fixture
def pg_url(postgres_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of the test's own empty schema (PostgreSQL only, whatever the run's backend)."""
    backend: Backend = request.getfixturevalue("postgres")
    with backend.database(tmp_path, "pg") as url:
        yield url


@pytest.fixture
def pg(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url)
    yield store
    store.close()


@pytest.fixture
def pgdb(pg_url: str) -> Iterator[Observer]:
    with Observer(pg_url) as observer:
        yield observer


def _store(url: str, **options: Any) -> Store:
    return open_store(url, options=DatabaseOptions(**options))


# -- Citus readiness, from the catalog ---------------------------------------------------------

_KEYS = """
SELECT c.relname, i.indisprimary, i.indisunique, ic.relname,
       array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)
             JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
             ORDER BY k.n)
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indrelid
JOIN pg_class AS ic ON ic.oid = i.indexrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind = 'r'
ORDER BY 1, 4
"""

_FOREIGN_KEYS = """
SELECT c.relname, f.relname, con.conname,
       array(SELECT a.attname FROM unnest(con.conkey) AS k (attnum)
             JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum),
       array(SELECT a.attname FROM unnest(con.confkey) AS k (attnum)
             JOIN pg_attribute AS a ON a.attrelid = f.oid AND a.attnum = k.attnum)
FROM pg_constraint AS con
JOIN pg_class AS c ON c.oid = con.conrelid
JOIN pg_class AS f ON f.oid = con.confrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND con.contype = 'f'
ORDER BY 1, 3
"""


def test_every_tenant_key_starts_with_the_account(pg: Store, pgdb: Observer) -> None:
    db = pgdb
    tables = set(db.tables())
    tenant = tables - GLOBAL_TABLES
    assert {"flows", "routes", "tasks", "task_stats", "task_pages", "orders", "calls",
            "outbox", "account_task_counts", "account_day_counts", "account_status_day_counts",
            "account_hour_counts", "account_status_hour_counts"} <= tenant  # fmt: skip
    keys = db.rows(_KEYS)
    with_primary = {table for table, primary, *_ in keys if primary}
    assert with_primary == tables, "every table has a primary key"
    for table, _primary, unique, index, columns in keys:
        if table in tenant and unique:
            assert columns[0] == "account_id", (table, index, columns)
    for table in tenant:
        assert db.scalar("SELECT count(*) FROM information_schema.columns WHERE "
                         "table_schema = current_schema() AND table_name = ? AND "
                         "column_name = 'account_id'", table) == 1, table  # fmt: skip
    # The unique keys the brief names, by their columns.
    unique = {(t, tuple(c)) for t, _, u, _, c in keys if u}
    assert {("tasks", ("account_id", "id")), ("tasks", ("account_id", "task_id")),
            ("tasks", ("account_id", "user_task_id")), ("orders", ("account_id", "contact_id")),
            ("calls", ("account_id", "call_id")), ("calls", ("account_id", "order_id", "attempt")),
            ("outbox", ("account_id", "event_id")), ("routes", ("account_id", "route_id")),
            ("task_stats", ("account_id", "task_row_id"))} <= unique  # fmt: skip
    # A foreign key between tenant tables joins on the account too; to a global table it
    # names the account itself.
    for table, target, name, columns, target_columns in db.rows(_FOREIGN_KEYS):
        if target in GLOBAL_TABLES:
            assert (target, columns, target_columns) == ("accounts", ["account_id"], ["id"])
        else:
            assert table in tenant and target in tenant, name
            assert columns[0] == "account_id" and target_columns[0] == "account_id", name


def test_the_trigram_index_serves_name_searches_of_three_or_more(pg: Store, pgdb: Observer) -> None:
    tenant = make_tenant(pg)
    names = [f"Renewal {i}" if i % 100 == 0 else f"Campaign {i}" for i in range(3000)]
    pg.insert_tasks(tenant.account_id, [make_task(tenant, task_name=name) for name in names])
    pg.analyze()

    def plan(needle: str) -> str:
        statement, params = pg_store._page_statement(
            tenant.account_id, TaskFilter(name_fold=needle), offset=0, limit=10
        )
        with psycopg.connect(pgdb.url) as conn:
            rows = conn.execute(f"EXPLAIN {statement}", params).fetchall()
        return "\n".join(row[0] for row in rows)

    assert "tasks_name_trgm" in plan("newa")
    assert "tasks_name_trgm" in plan("50%_\\")  # escaped LIKE characters keep the index
    assert "tasks_name_trgm" not in plan("ne")  # 1-2 characters: strpos over the account
    total, docs = pg.task_page(tenant.account_id, TaskFilter(name_fold="n 1"), offset=0, limit=10)
    assert total == sum("n 1" in name.casefold() for name in names) and len(docs) == 10


# -- text without NUL ----------------------------------------------------------------------


def test_nul_is_refused_in_writes_and_found_nowhere(pg: Store, pgdb: Observer) -> None:
    tenant = make_tenant(pg)
    with pytest.raises(StoreError, match="task_name contains a NUL"):
        pg.insert_tasks(tenant.account_id, [make_task(tenant, task_name="a\0b")])
    with pytest.raises(StoreError, match="other contains a NUL"):
        pg.insert_tasks(tenant.account_id, [make_task(tenant), make_task(tenant, other="\0")])
    assert pgdb.scalar("SELECT count(*) FROM tasks") == 0  # the whole batch refused
    with pytest.raises(StoreError, match="name contains a NUL"):
        pg.create_account("bad\0name", now=NOW)
    with pytest.raises(StoreError, match="route_id contains a NUL"):
        pg.create_route(tenant.account_id, route_id="r\0", name="r", country_code="",
                        price_per_minute_cents=0, answer_probability=0.5, talk_seconds_mean=60,
                        now=NOW)  # fmt: skip
    pg.insert_tasks(tenant.account_id, [make_task(tenant, task_name="a b")])
    assert pg.task_page(tenant.account_id, TaskFilter(name_fold="a\0"), offset=0, limit=10) == (
        0,
        [],
    )
    assert pg.task_page(tenant.account_id, TaskFilter(name_fold="a"), offset=0, limit=10)[0] == 1
    assert pg.get_account("bad\0name") is None
    assert pg.key_auth("AK-\0") is None
    assert pg.revoke_key("AK-\0", now=NOW) is False


# -- row locks -------------------------------------------------------------------------------


def _live_task(store: Store, contacts: int = 5, max_call: int = 3) -> tuple[int, int]:
    tenant = make_tenant(store)
    clock = Clock.at(NOW_MS)
    lifecycle.top_up(store, tenant.account_id, 10_000, clock=clock)
    req = TaskCreate(task_name="live", auto_flow_id=tenant.flow_id, route_id=tenant.route_id,
                     task_keep=0, startup_type=3, max_call=max_call,
                     contacts=tuple(ContactIn(contact_id=f"c{i}", phone=f"+8529{i:07d}")
                                    for i in range(contacts)))  # fmt: skip
    task_id = lifecycle.create_task(store, tenant.account_id, req, clock=clock)
    with store.lifecycle() as tx:
        task = tx.task(tenant.account_id, task_id=task_id)
        assert task is not None
        return tenant.account_id, task.row_id


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # handed to the test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_claim_skips_a_task_another_claim_holds(pg_url: str) -> None:
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        account, row = _live_task(first)
        held, done = threading.Event(), threading.Event()

        def hold() -> list[int]:
            with first.lifecycle() as tx:
                lines = tx.lock_lines(account, row, dialer_id="one")
                assert lines is not None and (lines.dialling, lines.mine) == (0, 0)
                claimed = tx.claim_orders(account, row, NOW, limit=2, dialer_id="one",
                                          claimed_at=NOW, lease_until=NOW + 60)  # fmt: skip
                held.set()
                assert done.wait(10)
                return [o.id for o in claimed]

        thread, out = _in_thread(hold)
        assert held.wait(10)
        with second.lifecycle() as tx:
            started = time.monotonic()
            assert tx.lock_lines(account, row, dialer_id="two") is None  # skipped, not waited
            # The pending orders the other claim took are not offered either.
            others = tx.claim_orders(account, row, NOW, limit=10, dialer_id="two",
                                     claimed_at=NOW, lease_until=NOW + 60)  # fmt: skip
            assert time.monotonic() - started < 1.0
        done.set()
        thread.join(10)
        (mine,) = out
        assert len(mine) == 2 and not set(mine) & {o.id for o in others}
        assert len(others) == 3
    finally:
        first.close()
        second.close()


def test_a_takeover_waits_for_the_report_in_progress_then_finds_it_done(pg_url: str) -> None:
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        account, row = _live_task(first, contacts=1)
        with first.lifecycle() as tx:
            (order,) = tx.claim_orders(account, row, NOW, limit=1, dialer_id="one",
                                       claimed_at=NOW, lease_until=NOW + 10)  # fmt: skip
        reporting, release = threading.Event(), threading.Event()

        def report() -> None:
            with first.lifecycle() as tx:
                held = tx.held_order(account, order.id, dialer_id="one", attempt=1)
                assert held is not None
                reporting.set()
                assert release.wait(10)
                tx.finish_attempt(account, order.id, finished=True, answered=False,
                                  next_attempt_ts=NOW + 100)  # fmt: skip

        thread, out = _in_thread(report)
        assert reporting.wait(10)
        adopter, adopted = _in_thread(lambda: _adopt(second, account))
        time.sleep(0.3)
        assert adopter.is_alive(), "the takeover waits for the report's lock"
        release.set()
        thread.join(10)
        adopter.join(10)
        assert out == [None]
        assert adopted == [[]], "the claim was reported: nothing to take over"
    finally:
        first.close()
        second.close()


def _adopt(store: Store, account: int) -> list[int]:
    with store.lifecycle() as tx:
        return [o.id for o in tx.adopt_expired(account, NOW + 20, dialer_id="two",
                                               lease_until=NOW + 80)]  # fmt: skip


def test_simulators_joining_at_once_share_one_timeline(pg_url: str) -> None:
    stores = [open_store(pg_url) for _ in range(6)]
    try:
        barrier = threading.Barrier(len(stores))

        def join(store: Store) -> Any:
            barrier.wait(10)
            return store.join_sim_clock(speed=60.0, real_ms=NOW_MS)

        threads = [_in_thread(lambda s=s: join(s)) for s in stores]  # type: ignore[misc]
        for thread, _ in threads:
            thread.join(10)
        anchors = [out[0] for _, out in threads]
        assert all(not isinstance(a, BaseException) for a in anchors), anchors
        assert len(set(anchors)) == 1
        assert stores[0].sim_clock() == anchors[0]
    finally:
        for store in stores:
            store.close()


# -- time limits and lost connections: StoreUnavailable ------------------------------------


@pytest.fixture
def account_locked(pg: Store, pg_url: str) -> Iterator[int]:
    """An account whose row another connection holds locked (an open transaction)."""
    account = pg.create_account("locked", now=NOW).id
    with psycopg.connect(pg_url) as holder:
        holder.execute("SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (account,))
        yield account
        holder.rollback()


def _top_up(store: Store, account: int) -> None:
    lifecycle.top_up(store, account, 100, clock=Clock.at(NOW_MS))


def test_a_lock_timeout_is_store_unavailable(pg_url: str, account_locked: int) -> None:
    store = _store(pg_url, lock_timeout_ms=200)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="lock was not granted within 200 ms") as info:
            _top_up(store, account_locked)
        assert 0.15 < time.monotonic() - started < 5
        assert not isinstance(info.value.__cause__, psycopg.Error)
        assert store.list_accounts()  # the store goes on
    finally:
        store.close()


def test_a_statement_timeout_is_store_unavailable(pg_url: str, account_locked: int) -> None:
    store = _store(pg_url, statement_timeout_ms=300, lock_timeout_ms=0)
    try:
        with pytest.raises(StoreUnavailable, match="did not answer within 300 ms"):
            _top_up(store, account_locked)
        assert store.list_accounts()
    finally:
        store.close()


def test_no_free_connection_is_store_unavailable(pg_url: str) -> None:
    store = _store(pg_url, pool_max=1, pool_timeout_s=0.3)
    try:
        busy, done = threading.Event(), threading.Event()

        def hold() -> None:
            with store.lifecycle():
                busy.set()
                assert done.wait(10)

        thread, _ = _in_thread(hold)
        assert busy.wait(10)
        with pytest.raises(StoreUnavailable, match=r"no free connection within 0\.3 s"):
            store.list_accounts()
        done.set()
        thread.join(10)
        assert store.list_accounts() == []
    finally:
        store.close()


def test_a_deadlock_is_store_unavailable_and_the_other_commits(pg_url: str) -> None:
    store = _store(pg_url, pool_max=4)
    try:
        a, b = (store.create_account(name, now=NOW).id for name in ("a", "b"))
        barrier = threading.Barrier(2)

        def cross(first: int, second: int) -> None:
            with store.lifecycle() as tx:
                tx.add_balance(first, 1)
                barrier.wait(10)
                tx.add_balance(second, 1)

        one, out_one = _in_thread(lambda: cross(a, b))
        two, out_two = _in_thread(lambda: cross(b, a))
        one.join(20)
        two.join(20)
        outcomes = sorted(type(o[0]).__name__ for o in (out_one, out_two))
        assert outcomes == ["NoneType", "StoreUnavailable"], (out_one, out_two)
        balances = {acc.id: acc.balance_cents for acc in store.list_accounts()}
        assert balances == {a: 1, b: 1}
    finally:
        store.close()


@pytest.fixture(scope="module")
def server(postgres_url: str) -> Iterator[Cluster]:
    """A PostgreSQL server of the module's own, to stop and start."""
    if server_bin() is None:
        if os.environ.get("NXLINK_TEST_REQUIRE_POSTGRES"):
            pytest.fail("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    with Cluster(settings={"shared_preload_libraries": "pg_stat_statements"}) as cluster:
        yield cluster


def test_an_outage_is_store_unavailable_and_the_store_recovers(server: Cluster) -> None:
    store = _store(server.url(), pool_min=2, pool_max=4, pool_timeout_s=5)
    try:
        tenant = make_tenant(store, "outage")
        store.insert_tasks(tenant.account_id, [make_task(tenant)])
        server.stop()
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="the database is unavailable") as info:
                store.task_page(tenant.account_id, TaskFilter(), offset=0, limit=10)
            assert time.monotonic() - started < 3, "an outage is answered at once"
            assert info.value.__cause__ is None or not isinstance(
                info.value.__cause__, psycopg.Error
            )
        with pytest.raises(StoreUnavailable):
            store.insert_tasks(tenant.account_id, [make_task(tenant)])
        server.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                total, _ = store.task_page(tenant.account_id, TaskFilter(), offset=0, limit=10)
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not recover"
                time.sleep(0.1)
        assert total == 1
        assert store.insert_tasks(tenant.account_id, [make_task(tenant)]) == 1
        # A restart while the store is idle costs no request.
        time.sleep(1.2)
        server.stop()
        server.start()
        assert store.task_page(tenant.account_id, TaskFilter(), offset=0, limit=10)[0] == 2
    finally:
        store.close()


# -- the task list -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [None, 2])
def test_the_hour_jump_equals_skipping_row_by_row(
    pg: Store, monkeypatch: pytest.MonkeyPatch, status: int | None
) -> None:
    tenant, other = make_tenant(pg), make_tenant(pg)
    base = 1_760_000_000 - 1_760_000_000 % 86_400
    tasks = [make_task(tenant, create_ts=base + (i * 7919) % (30 * 86_400) // 3 * 3,
                       task_status=2 if i % 3 else 1 + i % 6) for i in range(400)]  # fmt: skip
    pg.insert_tasks(tenant.account_id, tasks[:200])
    pg.insert_tasks(other.account_id, [make_task(other, create_ts=base + i) for i in range(30)])
    pg.insert_tasks(tenant.account_id, tasks[200:])
    _, docs = pg.task_page(tenant.account_id, TaskFilter(status=status), offset=0, limit=1000)
    expected = [(d["createTs"], d["id"]) for d in map(json.loads, docs)]
    assert expected == sorted(expected, reverse=True) and len(expected) > 100
    monkeypatch.setattr(pg_store, "DIRECT_SKIP", 0)
    for limit in (1, 9, 50):
        for offset in range(0, len(expected) + 3, 7):
            total, rows = pg.task_page(tenant.account_id, TaskFilter(status=status),
                                       offset=offset, limit=limit)  # fmt: skip
            assert total == len(expected)
            got = [(d["createTs"], d["id"]) for d in map(json.loads, rows)]
            assert got == expected[offset : offset + limit], (offset, limit)


def test_rates_compare_exactly_in_numeric_when_bigint_could_overflow(pg: Store) -> None:
    tenant = make_tenant(pg)
    pairs = [(1, 3), (2, 3), (333, 1000), (1, 1), (0, 5), (2**31 - 2, 2**31 - 1)]
    pg.insert_tasks(tenant.account_id, [
        make_task(tenant, stats={"answer_call_count": a, "total_call_count": t}) for a, t in pairs
    ])  # fmt: skip
    bounds = [Fraction(100, 3), Fraction(10**40 + 1, 3 * 10**38), Fraction(333, 10),
              Fraction(1, 10**30), Fraction(9999999995, 100000000)]  # fmt: skip
    for low in bounds:
        for high in (*bounds, Fraction(100)):
            flt = TaskFilter(min_answer_rate=low, max_answer_rate=high)
            want = sum(1 for a, t in pairs if low <= Fraction(100 * a, t) <= high)
            assert pg.task_page(tenant.account_id, flt, offset=0, limit=10)[0] == want, (low, high)


def test_ids_after_a_rolled_back_insert(backend: Backend, store: Store) -> None:
    """SQLite hands out the next id after the highest one stored (a rolled-back task's id is
    given again); PostgreSQL's sequence never goes back (a gap is left). Both keep a task's
    row id equal to its statistics id."""
    tenant = make_tenant(store)
    store.insert_tasks(tenant.account_id, [make_task(tenant)])
    with pytest.raises(RuntimeError), store.lifecycle() as tx:
        tx.insert_task(tenant.account_id, make_task(tenant))
        raise RuntimeError("rolled back")
    store.insert_tasks(tenant.account_id, [make_task(tenant)])
    _, docs = store.task_page(tenant.account_id, TaskFilter(), offset=0, limit=10)
    ids = sorted((d["id"], d["statInfo"]["id"]) for d in map(json.loads, docs))
    assert ids == ([(1, 1), (2, 2)] if backend.name == "sqlite" else [(1, 1), (3, 3)])


# -- every statement on tenant data names the account: what the server executed ---------------

#: A reference to a table in a statement (FROM, JOIN, UPDATE, INSERT INTO, DELETE FROM, COPY).
_TABLE_REFERENCE = re.compile(r"\b(?:from|join|update|into|copy)\s+([a-z_]+)\b")
_UTILITY = re.compile(r"^\s*(?:create|alter|drop|do|set|begin|commit|rollback|vacuum|analyze|"
                      r"lock|savepoint|release|select pg_advisory|select pg_stat_statements|"
                      r"--)", re.IGNORECASE)  # fmt: skip


def _workload(store: Store) -> None:
    """Every kind of operation the store serves: accounts and keys, tasks and contacts, start,
    pause, top-ups, a disabled flow, dialling to the end, callbacks, every list, verify,
    copying out."""
    from nxlink.callbacks import Deliverer
    from nxlink.dialer.simulator import Simulator
    from nxlink.service.requests import CallAppend, OrderDelete, TaskAction, TaskRef
    from nxlink.store.copy import TABLES

    clock = Clock.at(NOW_MS)
    tenants = [make_tenant(store), make_tenant(store)]
    for tenant in tenants:
        lifecycle.top_up(store, tenant.account_id, 10_000, clock=clock)
        store.insert_tasks(tenant.account_id, [make_task(tenant, task_name=f"Seeded {i}",
                                                         create_ts=NOW - 3600 * i)
                                               for i in range(40)])  # fmt: skip
        ids = []
        for n in range(3):
            req = TaskCreate(
                task_name=f"Live {n}", auto_flow_id=tenant.flow_id, route_id=tenant.route_id,
                task_keep=n % 2, startup_type=3 if n else 2, startup_at=NOW + 60,
                shutdown_at=NOW + 7200, max_call=2, order_max_call=2, replay_interval=30,
                task_callback_url="http://127.0.0.1:9/t", call_callback_url="http://127.0.0.1:9/c",
                user_task_id=f"u{n}",
                contacts=tuple(ContactIn(contact_id=f"{tenant.name}-{n}-{i}", phone=f"+8529{i:07d}")
                               for i in range(6)),
            )  # fmt: skip
            ids.append(lifecycle.create_task(store, tenant.account_id, req, clock=clock))
        lifecycle.append_contacts(store, tenant.account_id, CallAppend(
            ref=TaskRef(task_id=ids[1]), country_code="",
            contacts=(ContactIn(contact_id=f"{tenant.name}-x", phone="+85290000001"),
                      ContactIn(contact_id=f"{tenant.name}-y", phone="+85290000002"))),
            clock=clock)  # fmt: skip
        lifecycle.delete_contact(store, tenant.account_id, OrderDelete(
            ref=TaskRef(task_id=ids[1]), contact_id=f"{tenant.name}-y"), clock=clock)  # fmt: skip
        lifecycle.pause_task(store, tenant.account_id, TaskAction(ref=TaskRef(task_id=ids[2])),
                             clock=clock)  # fmt: skip
        lifecycle.start_task(store, tenant.account_id, TaskAction(ref=TaskRef(task_id=ids[2]),
                             startup_by="ops"), clock=clock)  # fmt: skip
    simulator = Simulator(store, seed=3, clock_ms=lambda: NOW_MS)
    for moment in range(NOW, NOW + 4 * 3600, 300):  # event by event, past the shutdownAt
        simulator.advance(moment)
    assert simulator.reported > 20
    simulator.port.release()
    admin.set_enabled(store, flow_id=tenants[0].flow_id, enabled=False)
    admin.set_enabled(store, flow_id=tenants[0].flow_id, enabled=True)
    with Deliverer(store, clock_ms=lambda: NOW_MS + 10**7) as deliverer:
        assert deliverer.deliver_due() > 0
    items = store.claim_callbacks(NOW_MS + 10**9, limit=5, lease_ms=60_000)
    store.release_callbacks(items, now_ms=NOW_MS + 10**9)
    for item in store.list_callbacks(limit=3):
        store.get_callback(item.id)
        store.retry_callback(item.id, now_ms=NOW_MS)
    store.list_callbacks(failed_only=True)
    for tenant in tenants:
        store.signing_key(tenant.account_id)
        store.key_auth(tenant.access_key)
        store.list_flows(tenant.account_id)
        store.list_routes(tenant.account_id)
        store.count_tasks(tenant.account_id)
        for flt, offset in (
            (TaskFilter(), 0), (TaskFilter(), 1500), (TaskFilter(status=2), 1500),
            (TaskFilter(name_fold="live"), 0), (TaskFilter(name_fold="li"), 0),
            (TaskFilter(status=2, created_from=NOW - 86400, created_to=NOW + 86400,
                        min_answer_rate=Fraction(10), max_answer_rate=Fraction(10**40, 3 * 10**37),
                        min_contacts=1, max_contacts=100), 0),
        ):  # fmt: skip
            store.task_page(tenant.account_id, flt, offset=offset, limit=10)
        _, docs = store.task_page(
            tenant.account_id, TaskFilter(name_fold="live"), offset=0, limit=1
        )
        task_id = json.loads(docs[0])["taskId"]
        store.call_page(tenant.account_id, task_id, CallFilter(), offset=0, limit=10)
        store.call_page(tenant.account_id, task_id, CallFilter(call_result=1, phone="x"),
                        offset=0, limit=10)  # fmt: skip
        # The dashboard's reads and writes.
        with store.lifecycle() as tx:
            found = tx.task(tenant.account_id, task_id=task_id)
        assert found is not None
        for state in (None, "deleted"):
            store.order_page(tenant.account_id, found.row_id, state=state, page_number=2,
                             page_size=3)  # fmt: skip
        store.call_activity(tenant.account_id, found.row_id, bucket_s=60)
        store.call_results(tenant.account_id, found.row_id)
        for state in (None, "failed"):
            store.list_task_callbacks(tenant.account_id, task_id, state=state, limit=5)
        store.callback_counts(tenant.account_id, task_id)
        for item in store.list_task_callbacks(tenant.account_id, task_id, state=None, limit=2):
            store.retry_account_callback(tenant.account_id, item.id, now_ms=NOW_MS)
        token = ui_token_hash(tenant.name)
        store.create_ui_session(token_hash=token, account_id=tenant.account_id,
                                access_key=tenant.access_key, csrf_token="c", now_ms=NOW_MS,
                                ttl_ms=3_600_000)  # fmt: skip
        store.ui_session(token, now_ms=NOW_MS + 120_000)
        store.end_ui_session(token)
        store.purge_ui_sessions(now_ms=NOW_MS)
    assert store.recompute_counters().differences == []
    for table in TABLES:
        store.count_rows(table)
        for _ in store.dump_rows(table, batch=100):
            pass


def test_every_statement_on_tenant_data_names_the_account(server: Cluster) -> None:
    """What the server executed (``pg_stat_statements``) for every kind of operation, a copy
    into another database included: each statement on a tenant table names ``account_id`` at
    least once per tenant table it reads or writes."""
    from nxlink.store.copy import copy_database

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for name in ("nx_statements", "nx_statements_copy"):
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        store = open_store(server.url("nx_statements"))
        target = open_store(server.url("nx_statements_copy"))
        try:
            conn.execute("SELECT pg_stat_statements_reset()")
            _workload(store)
            copy_database(store, target)
        finally:
            store.close()
            target.close()
        rows = conn.execute(
            "SELECT s.query FROM pg_stat_statements AS s JOIN pg_database AS d "
            "ON d.oid = s.dbid WHERE d.datname IN ('nx_statements', 'nx_statements_copy')"
        ).fetchall()
    checked = 0
    for (query,) in rows:
        if _UTILITY.match(query):
            continue
        text = query.lower()
        references = [t for t in _TABLE_REFERENCE.findall(text) if t in TENANT_TABLES]
        if not references:
            continue
        checked += 1
        assert text.count("account_id") >= len(references), query
    assert checked >= 60, f"only {checked} statements on tenant data were seen"


def test_a_connection_lost_while_committing_is_not_try_again(
    pg: Store, pgdb: Observer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose COMMIT got no answer may have been made: CommitUncertain (the server's
    500, which the client never resends), not StoreUnavailable (503, resent)."""
    from conftest import make_api
    from nxlink.store import CommitUncertain
    from nxlink.store.postgres_lifecycle import PostgresLifecycleTx

    tenant = make_tenant(pg)
    _top_up(pg, tenant.account_id)

    def lost(self: PostgresLifecycleTx) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(PostgresLifecycleTx, "commit", lost)
    with pytest.raises(CommitUncertain, match="the connection was lost while committing"):
        admin.top_up(pg, tenant.name, 100)
    body = json.dumps({"taskName": "t", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
                       "taskKeep": 0, "startupType": 1})  # fmt: skip
    answer = make_api(pg).post(tenant, body, path="/openapi/aiagent/task/create")
    assert answer.status_code == 500
    assert answer.json()["code"] == 20000
    assert "retry-after" not in answer.headers

    # A COMMIT the server refused (here: a lock not granted in time) rolled back: try again.
    def refused(self: PostgresLifecycleTx) -> None:
        raise psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")

    monkeypatch.setattr(PostgresLifecycleTx, "commit", refused)
    with pytest.raises(StoreUnavailable):
        admin.top_up(pg, tenant.name, 100)


def test_status_changes_of_one_account_in_two_transactions_never_deadlock(pg_url: str) -> None:
    """Each transaction that changes task counts takes its account's lock first, so two of them
    cannot each hold a count row the other needs. Without it: X moves a task 2 → 3 (count rows 2
    and 3), Y moves one 1 → 2 (holds row 1, waits for 2), X moves one 1 → 2 (waits for row 1):
    a deadlock, one of them rolled back and answered 503."""
    store = open_store(pg_url)
    try:
        tenant = make_tenant(store)
        a, b, c = (make_task(tenant, task_status=s) for s in (2, 1, 1))
        store.insert_tasks(tenant.account_id, [a, b, c])
    finally:
        store.close()
    move = "UPDATE tasks SET task_status = %s WHERE task_id = %s"
    with psycopg.connect(pg_url) as x, psycopg.connect(pg_url) as y:
        x.execute("SET deadlock_timeout = '100ms'")
        y.execute("SET deadlock_timeout = '100ms'")
        x.execute(move, (3, a.task_id))  # X: counts 2 and 3
        started = threading.Event()

        def other() -> None:
            started.set()
            y.execute(move, (2, c.task_id))  # Y: count 1, then 2 (held by X)
            y.commit()

        thread, out = _in_thread(other)
        assert started.wait(10)
        time.sleep(0.3)  # Y is waiting now
        x.execute(move, (2, b.task_id))  # X: count 1 (held by Y without the account lock)
        x.commit()
        thread.join(10)
        assert out == [None]
    with Observer(pg_url) as db:
        counts = db.rows("SELECT task_status, n FROM account_task_counts WHERE account_id = ? "
                         "AND n > 0 ORDER BY 1", tenant.account_id)  # fmt: skip
    assert counts == [(2, 2), (3, 1)]
