"""The schema's history on both backends: from an empty database to the latest migration, and a
database still at migration 1, holding data, upgraded with every row and count intact.

On SQLite, migration 1 rendered each task's JSON in SQL (the ``task_docs`` view and its
triggers; migration 3 dropped them): the bytes it stored are the bytes the Python renderer
gives. PostgreSQL never had that renderer; its tasks' JSON was always written by the store.
"""

from __future__ import annotations

import importlib.resources
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from backends import Backend
from conftest import make_task, make_tenant
from db import Observer
from nxlink.contract import calldoc
from nxlink.contract.callrecord import CallRecord
from nxlink.contract.taskdoc import TaskDocInputs, render
from nxlink.store import TaskFilter, open_store
from nxlink.store.base import CallFilter

BASE_TS = 1_760_000_000  # 2025-10-09


def _scripts(backend: str) -> list[tuple[int, str, str]]:
    folder = importlib.resources.files("nxlink.store") / "migrations" / backend
    return sorted(
        (int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )


def _latest(backend: str) -> int:
    """The number of the newest migration."""
    return _scripts(backend)[-1][0]


def _apply_first(url: str, backend: str, last: int = 1) -> None:
    """The database as migrations 1 to ``last`` made it (recorded in ``schema_migrations``)."""
    scripts = _scripts(backend)[:last]
    assert [version for version, _, _ in scripts] == list(range(1, last + 1))
    record = ("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
              "applied_ts INTEGER NOT NULL)")  # fmt: skip
    if backend == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            for _, _, script in scripts:
                conn.executescript(script)
            conn.execute(record)
            conn.executemany("INSERT INTO schema_migrations VALUES (?, ?, 0)",
                             [(version, name) for version, name, _ in scripts])  # fmt: skip
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(url) as conn:  # one transaction, committed at the end
            for _, _, script in scripts:
                conn.execute(script.encode())
            conn.execute(record)
            for version, name, _ in scripts:
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, 0)", (version, name))


# -- an empty database -------------------------------------------------------------------------


def test_migrations_from_empty(backend: Backend, store_url: str, db: Observer) -> None:
    known = [(version, name) for version, name, _ in _scripts(backend.name)]
    numbers = [v for v, _ in known]
    # One numbered history: 0010 is the main line's (the sandbox clock), this branch has 0011.
    assert numbers == sorted(set(numbers)) and numbers[0] == 1, "one numbered history"
    sqlite_names = [name for _, name, _ in _scripts("sqlite")]
    assert [name for _, name in known] == sqlite_names, "the same numbers and names per dialect"
    store = open_store(store_url, migrate=False)
    try:
        assert store.schema_version() == 0
        assert store.known_migrations() == known
        assert store.migrate() == [v for v, _ in known]
        assert store.schema_version() == known[-1][0]
        assert store.migrate() == []
        assert store.list_accounts() == []
    finally:
        store.close()
    rows = db.rows("SELECT version, name, applied_ts FROM schema_migrations ORDER BY version")
    assert [(v, n) for v, n, _ in rows] == known
    assert all(ts > 1_700_000_000 for _, _, ts in rows)


def test_two_stores_opening_one_empty_database_migrate_it_once(
    store_url: str, db: Observer
) -> None:
    first = open_store(store_url)
    second = open_store(store_url)
    try:
        assert first.migrate() == [] and second.migrate() == []
        assert first.schema_version() == second.schema_version() == _latest("sqlite")
    finally:
        first.close()
        second.close()
    versions = db.rows("SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in versions] == [v for v, _, _ in _scripts("sqlite")]


# -- a database at migration 1, with data -------------------------------------------------------

#: Text that JSON escapes, case folding and trigrams all have opinions about.
NAMES = ["Ärger im Büro", "STRASSE straße", "😀 launch 100%", 'say "hi" \\ back', "ctl\x01\x1f\x7f",
         "line\u2028sep", "a_b%c", "Σοφία", "x"]  # fmt: skip
TEXTS = ["", "plain", 'q"uote', "tab\there\nnew", "</script>", "😀"]
#: (orders, dialed, finished, answered orders, calls, answered calls, elapsed, manual ok,
#: manual failed, manual elapsed): zero denominators, 2 of 3, rounding half up.
STATS = [
    (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    (3, 2, 1, 1, 3, 2, 100, 0, 0, 0),
    (7, 7, 7, 5, 9, 8, 481, 1, 2, 63),
    (20001, 1, 0, 0, 20001, 1, 5, 3, 0, 7),
]


def _old_tasks(tenant: Any, other: Any) -> list[tuple[Any, Any]]:
    """(tenant, NewTask) pairs of two accounts, some created in one second, some a day apart."""
    made = []
    for i in range(24):
        owner = tenant if i % 3 else other
        counters = dict(zip(
            ("total_order_count", "dialed_order_count", "finish_order_count",
             "answer_order_count", "total_call_count", "answer_call_count",
             "total_call_elapsed", "manual_answer_count", "manual_fail_count",
             "manual_elapsed"), STATS[i % len(STATS)], strict=True))  # fmt: skip
        status = 1 + i % 6
        made.append((owner, make_task(
            owner, task_name=NAMES[i % len(NAMES)], create_ts=BASE_TS + (i // 4) * 43_200 + i % 2,
            task_status=status, pause_reason={5: 1, 6: 3}.get(status),
            user_task_id=f"old-{i}" if i % 2 else "", other=TEXTS[i % len(TEXTS)],
            task_desc=TEXTS[(i + 1) % len(TEXTS)], task_keep=i % 2, startup_type=i % 4,
            startup_at=BASE_TS + 9_000 if i % 4 == 2 else None,
            shutdown_at=BASE_TS + 99_000 if i % 8 == 2 else None,
            max_call=i % 3, import_type=i % 3, func_flag=i, max_ring_time=30 * (i % 2),
            strategy_id=TEXTS[i % len(TEXTS)], agent_group_id="ag" if i % 5 == 0 else "",
            task_callback_url="https://cb.example/t?a=1&b=2" if i % 2 else "",
            order_max_call=None if i % 3 == 0 else 3, replay_interval=None if i % 4 else 600,
            stats=counters,
        )))  # fmt: skip
    return made


_TASK_COLUMNS = (
    "account_id", "id", "task_id", "user_task_id", "other", "auto_flow_id", "task_status",
    "pause_reason", "task_name", "name_fold", "task_desc", "task_keep", "startup_type",
    "startup_at", "shutdown_at", "startup_by", "route_id", "max_call", "import_type",
    "func_flag", "max_ring_time", "strategy_id", "agent_group_id", "task_callback_url",
    "call_callback_url", "country_code", "create_ts", "order_max_call", "replay_interval",
)  # fmt: skip
_STAT_COLUMNS = (
    "account_id", "task_row_id", "id", "task_id", "auto_flow_id", "create_ts", "task_status",
    "total_order_count", "dialed_order_count", "finish_order_count", "answer_order_count",
    "total_call_count", "answer_call_count", "total_call_elapsed", "manual_answer_count",
    "manual_fail_count", "manual_elapsed",
)  # fmt: skip


def _inputs(row_id: int, account_id: int, flow_name: str, task: Any) -> TaskDocInputs:
    return TaskDocInputs(
        row_id=row_id, stat_id=row_id, account_id=account_id, task_id=task.task_id,
        user_task_id=task.user_task_id, other=task.other, auto_flow_id=task.auto_flow_id,
        auto_flow_name=flow_name, task_status=task.task_status, pause_reason=task.pause_reason,
        task_name=task.task_name, task_desc=task.task_desc, task_keep=task.task_keep,
        startup_type=task.startup_type, startup_at=task.startup_at, shutdown_at=task.shutdown_at,
        startup_by=task.startup_by, route_id=task.route_id, max_call=task.max_call,
        import_type=task.import_type, func_flag=task.func_flag, max_ring_time=task.max_ring_time,
        strategy_id=task.strategy_id, agent_group_id=task.agent_group_id,
        task_callback_url=task.task_callback_url, create_ts=task.create_ts,
        order_max_call=task.order_max_call, replay_interval=task.replay_interval, **task.stats,
    )  # fmt: skip


def _fill_at_0001(db: Observer, backend: str, tenants: list[Any]) -> list[tuple[int, Any, Any]]:
    """Write accounts, flows, routes, tasks and statistics as the code of migration 1 did.

    SQLite's triggers then render every task's JSON (the 0001 view); on PostgreSQL, the JSON
    is the Python renderer's, written with the task as the store always wrote it.
    """
    for t in tenants:
        db.execute("INSERT INTO accounts (id, name, balance_cents, created_ts) VALUES (?, ?, ?, ?)",
                   t.account_id, t.name, 500, BASE_TS)  # fmt: skip
        db.execute("INSERT INTO flows (account_id, id, name, variables, created_ts) "
                   "VALUES (?, ?, ?, '[\"name\"]', ?)", t.account_id, t.flow_id, t.flow_name,
                   BASE_TS)  # fmt: skip
        db.execute("INSERT INTO routes (account_id, id, route_id, name, created_ts) "
                   "VALUES (?, ?, ?, 'r', ?)", t.account_id, t.account_id, t.route_id,
                   BASE_TS)  # fmt: skip
    made = []
    for row_id, (owner, task) in enumerate(_old_tasks(*tenants), start=1):
        values = {"account_id": owner.account_id, "id": row_id, "name_fold": task.task_name.casefold(),
                  **{c: getattr(task, c) for c in _TASK_COLUMNS if hasattr(task, c)}}  # fmt: skip
        db.execute(f"INSERT INTO tasks ({', '.join(_TASK_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(_TASK_COLUMNS))})",
                   *(values[c] for c in _TASK_COLUMNS))  # fmt: skip
        stats = {"account_id": owner.account_id, "task_row_id": row_id, "id": row_id,
                 "task_id": task.task_id, "auto_flow_id": task.auto_flow_id,
                 "create_ts": task.create_ts, "task_status": task.task_status, **task.stats}  # fmt: skip
        db.execute(f"INSERT INTO task_stats ({', '.join(_STAT_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(_STAT_COLUMNS))})",
                   *(stats[c] for c in _STAT_COLUMNS))  # fmt: skip
        if backend != "sqlite":
            doc = render(_inputs(row_id, owner.account_id, owner.flow_name, task))
            db.execute("INSERT INTO task_pages (account_id, create_ts, task_row_id, doc) "
                       "VALUES (?, ?, ?, ?)", owner.account_id, task.create_ts, row_id, doc)  # fmt: skip
        made.append((row_id, owner, task))
    if backend != "sqlite":  # the ids were given: the sequences go on after them
        for table, sequence in (("accounts", "accounts_id_seq"), ("flows", "flows_id_seq"),
                                ("routes", "routes_id_seq"), ("tasks", "task_ids")):  # fmt: skip
            db.scalar(f"SELECT setval('{sequence}', max(id)) FROM {table}")
    return made


def _snapshot(db: Observer) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "accounts": db.rows("SELECT id, name, enabled, balance_cents, default_max_call, "
                            "created_ts FROM accounts ORDER BY id"),
        "flows": db.rows("SELECT account_id, id, name, variables, enabled, created_ts FROM flows "
                         "ORDER BY account_id, id"),
        "routes": db.rows("SELECT account_id, id, route_id, name, enabled FROM routes "
                          "ORDER BY account_id, id"),
        "tasks": db.rows(f"SELECT {', '.join(_TASK_COLUMNS)} FROM tasks ORDER BY account_id, id"),
        "task_stats": db.rows(f"SELECT {', '.join(_STAT_COLUMNS)} FROM task_stats "
                              "ORDER BY account_id, task_row_id"),
        "task_pages": db.rows("SELECT account_id, create_ts, task_row_id, doc FROM task_pages "
                              "ORDER BY account_id, create_ts, task_row_id"),
    }  # fmt: skip


def _counts_agree_with_tasks(db: Observer) -> None:
    """Every count table holds exactly the counts of the tasks (zero rows aside)."""
    for table, key in (
        ("account_task_counts", "task_status"),
        ("account_day_counts", "create_ts / 86400"),
        ("account_status_day_counts", "task_status, create_ts / 86400"),
        ("account_hour_counts", "create_ts / 3600"),
        ("account_status_hour_counts", "task_status, create_ts / 3600"),
    ):
        stored = db.rows(f"SELECT * FROM {table} WHERE n > 0 ORDER BY 1, 2, 3")
        counted = db.rows(f"SELECT account_id, {key}, count(*) FROM tasks "
                          f"GROUP BY account_id, {key} ORDER BY 1, 2, 3")  # fmt: skip
        assert [tuple(r) for r in stored] == [tuple(r) for r in counted], table


def test_a_database_at_0001_with_data_upgrades_with_every_row_intact(
    backend: Backend, store_url: str, db: Observer, make_store_url: Callable[[str], str]
) -> None:
    # Tenants made on a scratch database, for their names and ids only.
    scratch = open_store(make_store_url("scratch"))
    try:
        tenants = [make_tenant(scratch), make_tenant(scratch)]
    finally:
        scratch.close()
    _apply_first(store_url, backend.name)
    made = _fill_at_0001(db, backend.name, tenants)
    before = _snapshot(db)
    assert len(before["task_pages"]) == len(made)
    _counts_agree_with_tasks(db)

    store = open_store(store_url)  # upgrades
    try:
        latest = _latest(backend.name)
        assert store.schema_version() == latest
        assert [v for (v,) in db.rows("SELECT version FROM schema_migrations ORDER BY 1")] == [
            v for v, _, _ in _scripts(backend.name)
        ]
        after = _snapshot(db)
        assert after == before, "every row of every table as it was"
        _counts_agree_with_tasks(db)
        # Tasks made before the lifecycle are history: schedules fired, counters generated.
        flags = db.rows("SELECT startup_fired, shutdown_fired, synthetic, dial_floor FROM tasks")
        assert set(flags) == {(1, 1, 1, 0)}

        # The stored JSON (on SQLite: rendered by migration 1's SQL) is the Python renderer's.
        by_row = {row_id: (owner, task) for row_id, owner, task in made}
        for account_id, _, row_id, doc in after["task_pages"]:
            owner, task = by_row[row_id]
            assert doc == render(_inputs(row_id, account_id, owner.flow_name, task)), row_id
        with store.lifecycle() as tx:
            for account_id in {owner.account_id for _, owner, _ in made}:
                rows = sorted(r for r, o, _ in made if o.account_id == account_id)
                stored = {r[2]: r[3] for r in after["task_pages"] if r[0] == account_id}
                for inputs in tx._doc_inputs(account_id, rows):  # type: ignore[attr-defined]
                    assert render(inputs) == stored[inputs.row_id]

        # The list answers the stored bytes, newest first, and its filters work on old rows.
        for tenant in tenants:
            mine = sorted(((t.create_ts, r) for r, o, t in made if o is tenant), reverse=True)
            total, docs = store.task_page(tenant.account_id, TaskFilter(), offset=0, limit=100)
            assert total == len(mine)
            assert [(json.loads(d)["createTs"], json.loads(d)["id"]) for d in docs] == mine
            for needle in ("straße", "ärger", "100%", "a_b", "σοφ", "x", "😀"):
                expected = sorted((r for r, o, t in made if o is tenant
                                   and needle.casefold() in t.task_name.casefold()), reverse=True)  # fmt: skip
                total, docs = store.task_page(tenant.account_id, TaskFilter(name_fold=needle.casefold()),
                                              offset=0, limit=100)  # fmt: skip
                assert sorted((json.loads(d)["id"] for d in docs), reverse=True) == expected, needle
                assert total == len(expected)
            for status in range(1, 7):
                total, _ = store.task_page(tenant.account_id, TaskFilter(status=status),
                                           offset=0, limit=1)  # fmt: skip
                assert total == sum(
                    1 for _, o, t in made if o is tenant and t.task_status == status
                )

        check = store.recompute_counters()
        assert (check.checked, check.synthetic, check.differences) == (0, len(made), [])
        # And the upgraded database takes new tasks, with ids after the old ones.
        newer = make_task(tenants[0], task_name="after the upgrade", create_ts=BASE_TS + 999_999)
        assert store.insert_tasks(tenants[0].account_id, [newer]) == 1
        _, docs = store.task_page(tenants[0].account_id, TaskFilter(), offset=0, limit=1)
        assert json.loads(docs[0])["taskName"] == "after the upgrade"
        assert json.loads(docs[0])["id"] > len(made)
        _counts_agree_with_tasks(db)
    finally:
        store.close()


def test_db_upgrade_of_a_database_at_0001_applies_the_rest(
    backend: Backend, store_url: str
) -> None:
    from click.testing import CliRunner

    from nxlink.cli import main

    _apply_first(store_url, backend.name)
    runner = CliRunner()
    latest = _latest(backend.name)
    pending = len(_scripts(backend.name)) - 1
    current = runner.invoke(main, ["db", "current", "--db", store_url])
    assert current.exit_code == 0, current.output
    assert (
        current.output == f"1 (latest known: {latest}; {pending} pending: run nxlink db upgrade)\n"
    )
    upgraded = runner.invoke(main, ["db", "upgrade", "--db", store_url])
    assert upgraded.exit_code == 0, upgraded.output
    names = [name for _, name, _ in _scripts(backend.name)]
    assert upgraded.output.splitlines() == [f"applied {n}" for n in names[1:]] + [
        f"now at {latest}"
    ]


# -- calls made before the whole call record (0005) ---------------------------------------------

#: (order id, phone, country code, result, ring, talk, manual status, manual elapsed)
_OLD_CALLS = [
    (1, "+85260000001", "", 1, 5, 40, None, None),
    (2, "060000002", "852", 2, 30, 0, None, None),
    (3, "60000003", "852", 17, 4, 30, 1, 60),
    (4, "+85260000004", "", 17, 6, 20, 2, 0),
]


def test_calls_made_before_0005_get_the_facts_they_imply(
    backend: Backend, store_url: str, db: Observer, make_store_url: Callable[[str], str]
) -> None:
    scratch = open_store(make_store_url("scratch"))
    try:
        tenants = [make_tenant(scratch), make_tenant(scratch)]
    finally:
        scratch.close()
    _apply_first(store_url, backend.name, last=4)
    made = _fill_at_0001(db, backend.name, tenants)
    row_id, owner, task = made[0]
    assert task.agent_group_id == "ag"
    db.execute("UPDATE routes SET country_code = '852' WHERE account_id = ?", owner.account_id)
    route_row = db.scalar("SELECT id FROM routes WHERE account_id = ?", owner.account_id)
    start = BASE_TS + 100
    for order_id, phone, country, result, ring, talk, status, elapsed in _OLD_CALLS:
        db.execute("INSERT INTO orders (account_id, id, task_row_id, contact_id, phone, "
                   "country_code, params, state, attempts, created_ts) "
                   "VALUES (?, ?, ?, ?, ?, ?, '[{\"name\": \"name\", \"value\": \"V\"}]', "
                   "'finished', 1, ?)", owner.account_id, order_id, row_id, f"old{order_id}",
                   phone, country, BASE_TS)  # fmt: skip
        answered = result in (1, 17)
        db.execute("INSERT INTO calls (account_id, id, call_id, task_row_id, order_id, attempt, "
                   "callee_phone, create_ts, call_start, call_answer, call_end, ring_seconds, "
                   "talk_seconds, result, answered, manual_status, manual_elapsed, user_intent, "
                   "summary, order_head, order_tail) "
                   "VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)",
                   owner.account_id, order_id, f"call-{order_id}", row_id, order_id, phone,
                   start, start, start + ring if answered else None,
                   start + ring + talk + (elapsed or 0), ring, talk, result, int(answered),
                   status, elapsed, "A" if answered else "", "old" if answered else "")  # fmt: skip

    store = open_store(store_url)  # upgrades to the latest
    try:
        assert store.schema_version() == _latest(backend.name)
        found = store.call_page(owner.account_id, task.task_id, CallFilter(), offset=0, limit=10)
        assert found is not None
        records = {r["callId"]: r for r in
                   (calldoc.render(c, audio_url="u" if c.answered else "") for c in found[1])}  # fmt: skip
        caller = f"+852{30_000_000 + route_row}"
        line = f"{task.route_id}-L1"
        facts = {cid: {k: r[k] for k in ("callerPhone", "realPhone", "sipCode", "hangupReason",
                                          "sipAddr", "lineId", "routeId", "opTs", "turnTime",
                                          "agentGroupId", "agentGroupName", "agentId",
                                          "agentName", "manualCallStatus", "manualCallStart",
                                          "manualCallAnswer", "manualCallEnd", "callAnswer",
                                          "attributes", "callStatus")}
                 for cid, r in records.items()}  # fmt: skip
        common = {"callerPhone": caller, "lineId": line, "routeId": task.route_id,
                  "agentGroupId": "ag", "agentGroupName": "Agent group ag",
                  "attributes": [{"name": "name", "value": "V"}]}  # fmt: skip
        assert facts == {
            "call-1": {**common, "realPhone": "+85260000001", "sipCode": "200",
                       "hangupReason": "callee hung up",
                       "sipAddr": f"sip:85260000001@{line}.sip.invalid", "opTs": start + 45,
                       "turnTime": 5, "agentId": "", "agentName": "", "manualCallStatus": 0,
                       "manualCallStart": 0, "manualCallAnswer": 0, "manualCallEnd": 0,
                       "callAnswer": start + 5, "callStatus": 1},
            "call-2": {**common, "realPhone": "+85260000002", "sipCode": "480",
                       "hangupReason": "no answer",
                       "sipAddr": f"sip:85260000002@{line}.sip.invalid", "opTs": start + 30,
                       "turnTime": 0, "agentId": "", "agentName": "", "manualCallStatus": 0,
                       "manualCallStart": 0, "manualCallAnswer": 0, "manualCallEnd": 0,
                       "callAnswer": 0, "callStatus": 2},
            "call-3": {**common, "realPhone": "+85260000003", "sipCode": "200",
                       "hangupReason": "callee hung up",
                       "sipAddr": f"sip:85260000003@{line}.sip.invalid", "opTs": start + 94,
                       "turnTime": 3, "agentId": "ag-01", "agentName": "Agent 01",
                       "manualCallStatus": 1, "manualCallStart": start + 34,
                       "manualCallAnswer": start + 34, "manualCallEnd": start + 94,
                       "callAnswer": start + 4, "callStatus": 1},
            "call-4": {**common, "realPhone": "+85260000004", "sipCode": "200",
                       "hangupReason": "transfer not answered",
                       "sipAddr": f"sip:85260000004@{line}.sip.invalid", "opTs": start + 26,
                       "turnTime": 2, "agentId": "", "agentName": "", "manualCallStatus": 2,
                       "manualCallStart": start + 26, "manualCallAnswer": 0,
                       "manualCallEnd": start + 26, "callAnswer": start + 6, "callStatus": 1},
        }  # fmt: skip
        for record in records.values():
            CallRecord.model_validate(record, strict=True)
        routes = {r.route_id: r for r in store.list_routes(owner.account_id)}
        assert (routes[task.route_id].caller_phone, routes[task.route_id].line_ids) == (
            caller,
            (line,),
        )
    finally:
        store.close()
