"""``POST /_nxlink/reset`` and ``/_nxlink/snapshots``: a reset deletes one account's runtime
data and nothing of another's; a restore answers byte for byte what was answered at the
snapshot; refusals name what is wrong and change nothing. On both backends."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, Tenant, make_api, make_task, make_tenant
from db import Observer
from nxlink.service import admin, lifecycle
from nxlink.store import Store
from nxlink.store.base import COUNT_TABLES, NOT_SNAPSHOTTED, SNAPSHOT_TABLES
from server.test_lifecycle_endpoints import (
    CALLS,
    CLOCK,
    PAUSE,
    START,
    create,
    ok,
    run_to_end,
    simulator,
    sure_route,
)

TOKEN = "reset-token-1234"
TENANT_TABLES = ("tasks", "task_stats", "task_pages", "orders", "calls", "outbox",
                 "write_replays")  # fmt: skip
TRACE = re.compile(rb'"traceId":"[^"]*"')


def admin_call(api: Api, method: str, path: str, *, token: str = TOKEN, **params: str) -> Any:
    return api.client.request(method, "/_nxlink" + path, params=params,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def data(response: Any) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (0, "success")
    return body["data"]


def refusal(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == 20000
    assert "data" not in body
    message: str = body["message"]
    return message


def busy_tenant(store: Store, api: Api, name: str) -> tuple[Tenant, str]:
    """An account with a finished task (3 contacts called, callbacks queued), 4 seeded tasks
    and a paused one."""
    tenant = make_tenant(store, name)
    lifecycle.top_up(store, tenant.account_id, 1_000_000, clock=CLOCK)
    route = sure_route(store, tenant)
    url = "http://127.0.0.1:9/callbacks"
    task_id = create(api, tenant, routeId=route, taskCallbackUrl=url, callCallbackUrl=url,
                     list=[{"contactId": f"{name}-{i}", "phoneNumber": f"+8529000000{i}"}
                           for i in range(3)])  # fmt: skip
    store.insert_tasks(tenant.account_id, [make_task(tenant) for _ in range(4)])
    paused = create(api, tenant, taskName="paused", startupType=1)
    ok(api, tenant, START, {"taskId": paused})
    ok(api, tenant, PAUSE, {"taskId": paused})
    return tenant, task_id


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token=TOKEN)


@pytest.fixture
def world(store: Store, api: Api) -> tuple[Tenant, str, Tenant, str]:
    acme, acme_task = busy_tenant(store, api, "acme")
    beta, beta_task = busy_tenant(store, api, "beta")
    run_to_end(simulator(store))
    return acme, acme_task, beta, beta_task


def rows_of(db: Observer, account_id: int) -> dict[str, int]:
    return {table: db.scalar(f"SELECT count(*) FROM {table} WHERE account_id = ?", account_id)
            for table in (*TENANT_TABLES, "access_keys", "flows", "routes")}  # fmt: skip


def counts_of(db: Observer, account_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """The account's derived task counts (rows with n > 0)."""
    return {table: db.rows(f"SELECT * FROM {table} WHERE account_id = ? AND n > 0 ORDER BY 2, 3",
                           account_id) for table in COUNT_TABLES}  # fmt: skip


def counts_are_exact(db: Observer) -> None:
    """Every derived count equals a count of the tasks themselves."""
    assert db.rows("SELECT account_id, task_status, n FROM account_task_counts WHERE n > 0 "
                   "ORDER BY 1, 2") == db.rows(
        "SELECT account_id, task_status, count(*) FROM tasks GROUP BY account_id, task_status "
        "ORDER BY 1, 2")  # fmt: skip
    assert db.rows("SELECT account_id, hour, n FROM account_hour_counts WHERE n > 0 "
                   "ORDER BY 1, 2") == db.rows(
        "SELECT account_id, create_ts / 3600, count(*) FROM tasks "
        "GROUP BY account_id, create_ts / 3600 ORDER BY 1, 2")  # fmt: skip


def answers(api: Api, tenant: Tenant, task_id: str) -> list[bytes]:
    """The raw bodies of the task list and the call list, without their traceIds."""
    bodies = [
        api.post(tenant, '{"pageSize":1000}').content,
        api.post(tenant, '{"pageSize":5,"pageNumber":2}').content,
        api.post(tenant, '{"taskName":"pau","pageSize":10}').content,
        api.post(tenant, json.dumps({"taskId": task_id, "pageSize": 100}), path=CALLS).content,
    ]
    return [TRACE.sub(b'"traceId":""', body) for body in bodies]


def everything(db: Observer) -> dict[str, Any]:
    """Every row of every table of the sandbox's data, for "nothing changed"."""
    found = {table: db.rows(f"SELECT * FROM {table}") for table in SNAPSHOT_TABLES}
    return {table: sorted(rows, key=repr) for table, rows in found.items()}


# -- reset -------------------------------------------------------------------------------------


def test_reset_one_account_leaves_the_other_untouched(
    store: Store, api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str]
) -> None:
    acme, _, beta, beta_task = world
    acme_rows, beta_rows = rows_of(db, acme.account_id), rows_of(db, beta.account_id)
    assert acme_rows["tasks"] == 6 and acme_rows["orders"] == 3 and acme_rows["calls"] >= 3
    assert acme_rows["outbox"] >= 4
    beta_counts, beta_answers = counts_of(db, beta.account_id), answers(api, beta, beta_task)
    journal = api.client.app.state.journal  # type: ignore[attr-defined]
    assert journal.count(journal_filter(acme.access_key)) > 0
    beta_journal = journal.count(journal_filter(beta.access_key))
    balances = db.rows("SELECT id, balance_cents FROM accounts ORDER BY id")

    done = data(admin_call(api, "POST", "/reset", account="acme"))

    assert done == {"accounts": ["acme"], "catalog": False, "deleted": {
        "tasks": 6, "orders": 3, "calls": acme_rows["calls"], "callbacks": acme_rows["outbox"],
        "replays": acme_rows["write_replays"], "keys": 0, "flows": 0, "routes": 0,
        "journal": done["deleted"]["journal"]}}  # fmt: skip
    assert done["deleted"]["journal"] > 0
    assert rows_of(db, acme.account_id) == {**dict.fromkeys(TENANT_TABLES, 0), "access_keys": 1,
                                            "flows": 1, "routes": 2}  # fmt: skip
    assert counts_of(db, acme.account_id) == {table: [] for table in COUNT_TABLES}
    assert rows_of(db, beta.account_id) == beta_rows
    assert counts_of(db, beta.account_id) == beta_counts
    assert answers(api, beta, beta_task) == beta_answers
    assert db.rows("SELECT id, balance_cents FROM accounts ORDER BY id") == balances
    check = store.recompute_counters()
    assert check.differences == [] and check.checked == beta_rows["tasks"] - 4
    counts_are_exact(db)
    assert journal.count(journal_filter(acme.access_key)) == 0
    assert journal.count(journal_filter(beta.access_key)) == beta_journal + len(beta_answers)
    # The account works on: its key, flow and route are there, its task list is empty, and a
    # contact id of before can be imported again.
    assert api.tasks(acme, '{"pageSize":10}')["total"] == 0
    again = create(api, acme, list=[{"contactId": "acme-0", "phoneNumber": "+85290000000"}])
    assert api.tasks(acme, '{"pageSize":10}')["list"][0]["taskId"] == again
    assert store.recompute_counters().differences == []
    counts_are_exact(db)


def journal_filter(access_key: str) -> Any:
    from nxlink.sandbox.journal import Filter

    return Filter(access_key=access_key)


def test_reset_with_the_catalog_deletes_keys_flows_and_routes(
    store: Store, api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str]
) -> None:
    acme, _, beta, _ = world
    beta_rows = rows_of(db, beta.account_id)
    done = data(admin_call(api, "POST", "/reset", account="acme", catalog="true"))
    assert done["catalog"] is True
    assert (done["deleted"]["keys"], done["deleted"]["flows"], done["deleted"]["routes"]) == (
        1, 1, 2)  # fmt: skip
    assert rows_of(db, acme.account_id) == dict.fromkeys((*TENANT_TABLES, "access_keys",
                                                          "flows", "routes"), 0)  # fmt: skip
    assert rows_of(db, beta.account_id) == beta_rows
    assert db.scalar("SELECT balance_cents FROM accounts WHERE id = ?", acme.account_id) > 0
    # The key is gone: the account's old requests are refused.
    assert api.post(acme, '{"pageSize":1}').json()["code"] != 0
    assert store.recompute_counters().differences == []
    counts_are_exact(db)


def test_reset_every_account(
    store: Store, api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str]
) -> None:
    acme, _, beta, _ = world
    clock_before = db.rows("SELECT * FROM sim_clock")
    done = data(admin_call(api, "POST", "/reset", all="true"))
    assert done["accounts"] == ["acme", "beta"]
    assert done["deleted"]["tasks"] == 12 and done["deleted"]["orders"] == 6
    for account in (acme, beta):
        assert rows_of(db, account.account_id) == {
            **dict.fromkeys(TENANT_TABLES, 0),
            "access_keys": 1,
            "flows": 1,
            "routes": 2,
        }
        assert api.tasks(account, '{"pageSize":10,"taskName":"task"}')["total"] == 0
    assert db.rows("SELECT * FROM sim_clock") == clock_before
    assert store.recompute_counters().differences == []
    counts_are_exact(db)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "account: missing; expected account=NAME (one account) or all=true "
                  "(every account)"),
        ({"account": "acme", "all": "true"}, 400,
         "account and all=true: give one of them, not both"),
        ({"account": "nobody"}, 404, "account 'nobody': no such account"),
        ({"all": "yes"}, 400, "all: expected true or false, got 'yes'"),
        ({"account": "acme", "catalog": "maybe"}, 400,
         "catalog: expected true or false, got 'maybe'"),
        ({"account": "acme", "accounts": "x"}, 400,
         "accounts: unknown parameter; expected one of account, all, catalog"),
    ],
)  # fmt: skip
def test_a_bad_reset_is_refused_and_changes_nothing(
    api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str], params: dict[str, str],
    status: int, message: str,
) -> None:  # fmt: skip
    before = everything(db)
    assert refusal(admin_call(api, "POST", "/reset", **params), status) == message
    assert everything(db) == before


# -- snapshots ---------------------------------------------------------------------------------


def test_restore_answers_byte_identically_to_the_moment_of_the_snapshot(
    store: Store, api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str]
) -> None:
    acme, acme_task, beta, beta_task = world
    at_snapshot = answers(api, acme, acme_task) + answers(api, beta, beta_task)
    counts = counts_of(db, acme.account_id), counts_of(db, beta.account_id)
    taken = data(admin_call(api, "POST", "/snapshots/before-demo"))["snapshot"]
    assert taken == {"name": "before-demo", "createdMs": api.clock[0],
                     "schemaVersion": store.schema_version(), "tasks": 12}  # fmt: skip

    # Everything changes: a reset, a new task, a new key, another account, a top-up.
    data(admin_call(api, "POST", "/reset", account="acme", catalog="true"))
    create(api, beta, taskName="after the snapshot", startupType=1)
    admin.create_key(store, "beta")
    make_tenant(store, "gamma")
    lifecycle.top_up(store, beta.account_id, 5, clock=CLOCK)
    assert answers(api, beta, beta_task) != at_snapshot[4:]
    # The simulator's clock belongs to the running processes: a restore leaves it.
    store.join_sim_clock(speed=7.0, real_ms=api.clock[0])
    clock_now = db.rows("SELECT origin_real_ms, origin_sim, speed FROM sim_clock")
    assert [row[2] for row in clock_now] == [7.0]

    restored = data(admin_call(api, "POST", "/snapshots/before-demo/restore"))["restored"]
    assert restored == taken
    # The app's read threads (each with its own connection) see the restored data.
    assert answers(api, acme, acme_task) + answers(api, beta, beta_task) == at_snapshot
    assert (counts_of(db, acme.account_id), counts_of(db, beta.account_id)) == counts
    assert db.rows("SELECT name FROM accounts ORDER BY id") == [("acme",), ("beta",)]
    assert db.rows("SELECT origin_real_ms, origin_sim, speed FROM sim_clock") == clock_now
    assert store.recompute_counters().differences == []
    counts_are_exact(db)
    # Restoring again gives the same; the data goes on from there (a new task is listed).
    data(admin_call(api, "POST", "/snapshots/before-demo/restore"))
    assert answers(api, acme, acme_task) + answers(api, beta, beta_task) == at_snapshot
    new = create(api, acme, taskName="after the restore", startupType=1)
    assert api.tasks(acme, '{"pageSize":1}')["list"][0]["taskId"] == new
    counts_are_exact(db)


def test_snapshots_are_listed_replaced_and_deleted(
    store: Store, api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str]
) -> None:
    assert data(admin_call(api, "GET", "/snapshots")) == {"list": []}
    data(admin_call(api, "POST", "/snapshots/b"))
    api.clock[0] += 1000
    data(admin_call(api, "POST", "/snapshots/A_1-x"))
    listed = data(admin_call(api, "GET", "/snapshots"))["list"]
    assert [(s["name"], s["createdMs"], s["tasks"]) for s in listed] == [
        ("A_1-x", api.clock[0], 12), ("b", api.clock[0] - 1000, 12)]  # fmt: skip
    # Taking a snapshot under a name in use replaces it.
    data(admin_call(api, "POST", "/reset", all="true"))
    api.clock[0] += 1000
    assert data(admin_call(api, "POST", "/snapshots/b"))["snapshot"]["tasks"] == 0
    assert data(admin_call(api, "DELETE", "/snapshots/A_1-x")) == {"deleted": "A_1-x"}
    listed = data(admin_call(api, "GET", "/snapshots"))["list"]
    assert [(s["name"], s["createdMs"], s["tasks"]) for s in listed] == [("b", api.clock[0], 0)]
    assert refusal(admin_call(api, "DELETE", "/snapshots/A_1-x"), 404) == (
        "snapshot 'A_1-x': no such snapshot")  # fmt: skip
    if store.url.startswith("sqlite"):
        folder = Path(store.url.removeprefix("sqlite:///") + ".snapshots")
        assert sorted(p.name for p in folder.iterdir()) == ["b.db"]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "b.db").stat().st_mode) == 0o600
    data(admin_call(api, "DELETE", "/snapshots/b"))
    assert data(admin_call(api, "GET", "/snapshots")) == {"list": []}


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("POST", "/snapshots/nope/restore", 404, "snapshot 'nope': no such snapshot"),
        ("POST", "/snapshots/bad%20name", 400,
         "snapshot name 'bad name': expected 1 to 64 letters, digits, '_' or '-'"),
        ("POST", "/snapshots/bad.name/restore", 400,
         "snapshot name 'bad.name': expected 1 to 64 letters, digits, '_' or '-'"),
        ("POST", "/snapshots/" + "x" * 65, 400,
         f"snapshot name '{'x' * 65}': expected 1 to 64 letters, digits, '_' or '-'"),
        ("DELETE", "/snapshots/nope", 404, "snapshot 'nope': no such snapshot"),
    ],
)  # fmt: skip
def test_bad_snapshot_requests_are_refused_and_change_nothing(
    store: Store, api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str], method: str,
    path: str, status: int, message: str,
) -> None:  # fmt: skip
    data(admin_call(api, "POST", "/snapshots/kept"))
    before = everything(db), store.list_snapshots()
    assert refusal(admin_call(api, method, path), status) == message
    assert (everything(db), store.list_snapshots()) == before


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [("POST", "/reset", {"all": "true"}), ("POST", "/snapshots/kept/restore", {}),
     ("POST", "/snapshots/other", {}), ("DELETE", "/snapshots/kept", {}),
     ("GET", "/snapshots", {})],
)  # fmt: skip
def test_a_wrong_token_is_refused_and_changes_nothing(
    store: Store, api: Api, db: Observer, world: tuple[Tenant, str, Tenant, str], method: str,
    path: str, params: dict[str, str],
) -> None:  # fmt: skip
    data(admin_call(api, "POST", "/snapshots/kept"))
    acme = world[0]
    create(api, acme, taskName="after the snapshot", startupType=1)
    before = everything(db), store.list_snapshots()
    response = admin_call(api, method, path, token="wrong-token", **params)
    assert refusal(response, 401) == "Authorization: wrong admin token"
    assert (everything(db), store.list_snapshots()) == before


def test_every_table_is_in_a_snapshot_or_kept_on_purpose(store: Store, db: Observer) -> None:
    """A new table must say whether a restore puts it back (SNAPSHOT_TABLES), leaves it
    (NOT_SNAPSHOTTED), or is derived from the tasks (COUNT_TABLES)."""
    tables = {t for t in db.tables() if not t.startswith("task_names_")}  # SQLite's name index
    known = {*SNAPSHOT_TABLES, *NOT_SNAPSHOTTED, *COUNT_TABLES}
    assert tables - known == set()
    assert set(SNAPSHOT_TABLES) <= tables


def test_a_snapshot_of_another_schema_version_is_refused(
    store: Store, api: Api, db: Observer
) -> None:
    make_tenant(store, "acme")
    data(admin_call(api, "POST", "/snapshots/old"))
    if store.url.startswith("sqlite"):
        import sqlite3

        path = store.url.removeprefix("sqlite:///") + ".snapshots/old.db"
        with sqlite3.connect(path) as conn:
            conn.execute("INSERT INTO schema_migrations VALUES (99, 'later', 0)")
        conn.close()
    else:
        schema = db.scalar("SELECT nspname FROM pg_namespace WHERE nspname LIKE ?",
                           db.scalar("SELECT current_schema()") + "\\_\\_s%")  # fmt: skip
        comment = json.loads(db.scalar("SELECT obj_description(oid, 'pg_namespace') FROM "
                                       "pg_namespace WHERE nspname = ?", schema))  # fmt: skip
        later = json.dumps({**comment, "schemaVersion": 99})
        db.execute(f"COMMENT ON SCHEMA \"{schema}\" IS '{later}'")
    before = everything(db)
    version = store.schema_version()
    assert refusal(admin_call(api, "POST", "/snapshots/old/restore"), 409) == (
        f"snapshot 'old': made at schema version 99, the database is at {version}")  # fmt: skip
    assert everything(db) == before


def test_a_snapshot_file_is_private(store: Store, api: Api) -> None:
    if not store.url.startswith("sqlite"):
        pytest.skip("SQLite keeps snapshots in files")
    previous = os.umask(0)  # even so: the file is made with mode 0600
    try:
        data(admin_call(api, "POST", "/snapshots/private"))
    finally:
        os.umask(previous)
    path = Path(store.url.removeprefix("sqlite:///") + ".snapshots/private.db")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.glob(".*")) == []  # no partial file left
