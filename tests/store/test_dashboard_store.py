"""The store's side of the web dashboard (issue 12), on each backend: sign-in sessions, a task's
contacts page, its calls by time and by result, its callbacks and their retry, and migration
0012's taskId of callbacks enqueued before it."""

from __future__ import annotations

import collections
import hashlib
import json
from typing import Any

import pytest

from backends import Backend
from conftest import NOW_MS, Tenant, make_tenant, repeatable_task_ids
from db import Observer
from nxlink.dialer.simulator import Simulator
from nxlink.service import admin, lifecycle, requests
from nxlink.service.lifecycle import Clock
from nxlink.service.requests import OrderDelete, TaskRef
from nxlink.store import Store, StoreError, open_store
from nxlink.store.base import (
    NOT_SNAPSHOTTED,
    ActivityBucket,
    OrderPage,
    OrderRow,
    UiSession,
    ui_token_hash,
)
from store.test_migrations import _apply_first

NOW = NOW_MS // 1000
CLOCK = Clock.at(NOW_MS)
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def _session_rows(db: Observer) -> list[tuple[Any, ...]]:
    return db.rows(
        "SELECT token_hash, account_id, access_key, csrf_token, created_ms, expires_ms, "
        "last_seen_ms FROM ui_sessions ORDER BY token_hash"
    )


def _sign_in(store: Store, tenant: Tenant, token: str, *, now_ms: int = NOW_MS,
             ttl_ms: int = HOUR_MS) -> UiSession:  # fmt: skip
    return store.create_ui_session(
        token_hash=ui_token_hash(token), account_id=tenant.account_id,
        access_key=tenant.access_key, csrf_token=f"csrf-{token.upper()}", now_ms=now_ms, ttl_ms=ttl_ms,
    )  # fmt: skip


# -- sessions ----------------------------------------------------------------------------------


def test_a_session_lives_until_it_expires_and_only_its_hash_is_stored(
    store: Store, db: Observer
) -> None:
    acme = make_tenant(store)
    made = _sign_in(store, acme, "cookie-token-1")
    token_hash = ui_token_hash("cookie-token-1")
    assert token_hash == hashlib.sha256(b"cookie-token-1").hexdigest()
    assert made == UiSession(token_hash, acme.account_id, acme.access_key,
                             "csrf-COOKIE-TOKEN-1", NOW_MS, NOW_MS + HOUR_MS, NOW_MS)  # fmt: skip
    assert _session_rows(db) == [(token_hash, acme.account_id, acme.access_key,
                                  "csrf-COOKIE-TOKEN-1", NOW_MS, NOW_MS + HOUR_MS, NOW_MS)]  # fmt: skip
    assert "cookie-token-1" not in repr(_session_rows(db))
    assert store.ui_session(token_hash, now_ms=NOW_MS) == made
    # Fixed expiry: using it does not move it; expires_ms == now is already gone.
    late = store.ui_session(token_hash, now_ms=NOW_MS + HOUR_MS - 1)
    assert late is not None and late.expires_ms == NOW_MS + HOUR_MS
    assert store.ui_session(token_hash, now_ms=NOW_MS + HOUR_MS) is None
    assert store.ui_session(token_hash, now_ms=NOW_MS + 2 * HOUR_MS) is None
    assert store.ui_session(ui_token_hash("another token"), now_ms=NOW_MS) is None
    assert store.ui_session("not a hash", now_ms=NOW_MS) is None
    assert store.ui_session(token_hash.upper(), now_ms=NOW_MS) is None


def test_last_seen_moves_at_most_once_a_minute(store: Store, db: Observer) -> None:
    acme = make_tenant(store)
    made = _sign_in(store, acme, "t")

    def stored() -> int:
        return int(db.scalar("SELECT last_seen_ms FROM ui_sessions"))

    seen = store.ui_session(made.token_hash, now_ms=NOW_MS + MINUTE_MS - 1)
    assert seen is not None and seen.last_seen_ms == NOW_MS
    assert stored() == NOW_MS
    seen = store.ui_session(made.token_hash, now_ms=NOW_MS + MINUTE_MS)
    assert seen is not None and seen.last_seen_ms == NOW_MS + MINUTE_MS
    assert stored() == NOW_MS + MINUTE_MS
    seen = store.ui_session(made.token_hash, now_ms=NOW_MS + 2 * MINUTE_MS - 1)
    assert seen is not None and seen.last_seen_ms == NOW_MS + MINUTE_MS
    assert stored() == NOW_MS + MINUTE_MS
    # A request that read the session before a later one moved it never moves it back.
    seen = store.ui_session(made.token_hash, now_ms=NOW_MS + 5 * MINUTE_MS)
    assert stored() == NOW_MS + 5 * MINUTE_MS
    store._touch_ui_session(made.token_hash, now_ms=NOW_MS + 3 * MINUTE_MS)
    assert stored() == NOW_MS + 5 * MINUTE_MS
    assert seen == UiSession(made.token_hash, acme.account_id, acme.access_key, "csrf-T",
                             NOW_MS, NOW_MS + HOUR_MS, NOW_MS + 5 * MINUTE_MS)  # fmt: skip


def test_revoking_the_key_or_disabling_the_account_ends_its_sessions_at_once(
    store: Store, db: Observer
) -> None:
    acme = make_tenant(store)
    second_key = admin.create_key(store, acme.name)
    other = make_tenant(store)
    first = _sign_in(store, acme, "first")
    second = store.create_ui_session(
        token_hash=ui_token_hash("second"), account_id=acme.account_id,
        access_key=second_key.access_key, csrf_token="c2", now_ms=NOW_MS, ttl_ms=HOUR_MS,
    )  # fmt: skip
    theirs = _sign_in(store, other, "theirs")
    assert store.revoke_key(acme.access_key, now=NOW)
    assert store.ui_session(first.token_hash, now_ms=NOW_MS + 1) is None
    assert store.ui_session(second.token_hash, now_ms=NOW_MS + 1) == second
    assert db.execute("UPDATE accounts SET enabled = 0 WHERE id = ?", acme.account_id) == 1
    assert store.ui_session(second.token_hash, now_ms=NOW_MS + 1) is None
    assert store.ui_session(theirs.token_hash, now_ms=NOW_MS + 1) == theirs
    # A key of a disabled account cannot sign in either.
    with pytest.raises(StoreError, match="no enabled key of enabled account"):
        store.create_ui_session(token_hash=ui_token_hash("again"), account_id=acme.account_id,
                                access_key=second_key.access_key, csrf_token="c", now_ms=NOW_MS,
                                ttl_ms=HOUR_MS)  # fmt: skip


def test_signing_out_and_purging(store: Store, db: Observer) -> None:
    acme = make_tenant(store)
    short = _sign_in(store, acme, "short", ttl_ms=1_000)
    long = _sign_in(store, acme, "long", ttl_ms=HOUR_MS)
    out = _sign_in(store, acme, "out")
    assert store.end_ui_session(out.token_hash) is True
    assert store.end_ui_session(out.token_hash) is False
    assert store.end_ui_session("zz") is False
    assert store.ui_session(out.token_hash, now_ms=NOW_MS) is None
    assert store.purge_ui_sessions(now_ms=NOW_MS + 999) == 0
    assert store.purge_ui_sessions(now_ms=NOW_MS + 1_000) == 1
    assert [row[0] for row in _session_rows(db)] == [long.token_hash]
    assert short.token_hash not in [row[0] for row in _session_rows(db)]
    # Signing in purges what expired, so the table cannot grow without bound.
    _sign_in(store, acme, "s1", ttl_ms=10)
    _sign_in(store, acme, "s2", ttl_ms=10)
    assert len(_session_rows(db)) == 3
    later = _sign_in(store, acme, "later", now_ms=NOW_MS + 10)
    assert sorted(row[0] for row in _session_rows(db)) == sorted([long.token_hash,
                                                                  later.token_hash])  # fmt: skip


def test_a_session_is_refused_for_bad_input_and_writes_nothing(store: Store, db: Observer) -> None:
    acme, other = make_tenant(store), make_tenant(store)
    _sign_in(store, acme, "kept")
    before = _session_rows(db)
    good: dict[str, Any] = {
        "token_hash": ui_token_hash("new"), "account_id": acme.account_id,
        "access_key": acme.access_key, "csrf_token": "c", "now_ms": NOW_MS, "ttl_ms": HOUR_MS,
    }  # fmt: skip
    cases = [
        ({"account_id": other.account_id}, "no enabled key of enabled account"),
        ({"access_key": "AK-unknown"}, "no enabled key of enabled account"),
        ({"access_key": "AK\0x"}, "access_key: contains NUL"),
        ({"token_hash": "cookie-token"}, "token_hash: expected the 64 lowercase hex digits"),
        ({"token_hash": ui_token_hash("kept")}, "token_hash: a session with this token exists"),
        ({"csrf_token": ""}, "csrf_token: expected 1 to 256 characters"),
        ({"csrf_token": "x" * 257}, "csrf_token: expected 1 to 256 characters"),
        ({"csrf_token": "a\0b"}, "csrf_token: expected 1 to 256 characters, no NUL"),
        ({"ttl_ms": 0}, "ttl_ms 0: expected 1 or more"),
    ]
    for change, message in cases:
        with pytest.raises(StoreError, match=message):
            store.create_ui_session(**{**good, **change})
        assert _session_rows(db) == before, change
    assert store.revoke_key(other.access_key, now=NOW)
    with pytest.raises(StoreError, match="no enabled key"):
        store.create_ui_session(**{**good, "account_id": other.account_id,
                                   "access_key": other.access_key})  # fmt: skip
    assert _session_rows(db) == before


def test_a_reset_keeps_sessions_unless_it_deletes_the_keys(store: Store, db: Observer) -> None:
    acme, other = make_tenant(store), make_tenant(store)
    mine, theirs = _sign_in(store, acme, "mine"), _sign_in(store, other, "theirs")
    store.reset_account(acme.account_id, catalog=False)
    assert store.ui_session(mine.token_hash, now_ms=NOW_MS) == mine
    store.reset_account(acme.account_id, catalog=True)
    assert [row[0] for row in _session_rows(db)] == [theirs.token_hash]
    # The key comes back under the same name with another secret: the old session does not.
    admin.create_key(store, acme.name)
    assert store.ui_session(mine.token_hash, now_ms=NOW_MS) is None
    store.reset_account(None, catalog=True)
    assert _session_rows(db) == []


def test_a_restore_keeps_the_sessions_of_the_keys_it_brings_back(
    store: Store, db: Observer
) -> None:
    assert "ui_sessions" in NOT_SNAPSHOTTED
    acme = make_tenant(store)
    before = _sign_in(store, acme, "before")
    store.take_snapshot("s", now_ms=NOW_MS)
    if store.url.startswith("sqlite"):
        import sqlite3

        snap = sqlite3.connect(store.url.removeprefix("sqlite:///") + ".snapshots/s.db")
        try:
            assert snap.execute("SELECT count(*) FROM ui_sessions").fetchone() == (0,)
        finally:
            snap.close()
    after = _sign_in(store, acme, "after")
    newer = make_tenant(store)  # its account and key are not in the snapshot
    lost = _sign_in(store, newer, "lost")
    store.restore_snapshot("s")
    assert store.ui_session(before.token_hash, now_ms=NOW_MS) == before
    assert store.ui_session(after.token_hash, now_ms=NOW_MS) == after
    assert store.ui_session(lost.token_hash, now_ms=NOW_MS) is None
    assert sorted(row[0] for row in _session_rows(db)) == sorted([before.token_hash,
                                                                  after.token_hash])  # fmt: skip


# -- a task's contacts ---------------------------------------------------------------------------


def _create(store: Store, tenant: Tenant, contacts: int, *, prefix: str = "", **fields: Any) -> str:
    body = {"taskName": "dash", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 1,
            "list": [{"contactId": f"{prefix}{tenant.name}-{i}", "phoneNumber": f"+8529{i:07d}",
                      "name": f"N{i}", "params": [{"name": "name", "value": f"v{i}"}]}
                     for i in range(contacts)],
            **fields}  # fmt: skip
    # The simulator's outcomes follow the taskId: the same ones on every run.
    return lifecycle.create_task(store, tenant.account_id, requests.parse_task_create(body),
                                 clock=CLOCK, new_id=repeatable_task_ids())  # fmt: skip


def _row_of(store: Store, account_id: int, task_id: str) -> int:
    with store.lifecycle() as tx:
        task = tx.task(account_id, task_id=task_id)
    assert task is not None
    return task.row_id


def _orders_oracle(db: Observer, row_id: int, states: tuple[str, ...]) -> list[OrderRow]:
    rows = db.rows(
        "SELECT contact_id, name, phone, state, attempts, answered, next_attempt_ts, created_ts "
        "FROM orders WHERE task_row_id = ? ORDER BY id DESC", row_id
    )  # fmt: skip
    return [OrderRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7]) for r in rows
            if r[3] in states]  # fmt: skip


def test_the_contacts_page_newest_first_without_the_deleted(store: Store, db: Observer) -> None:
    acme, other = make_tenant(store), make_tenant(store)
    task_id = _create(store, acme, 23)
    _create(store, other, 5)  # another task's contacts, in between
    row = _row_of(store, acme.account_id, task_id)
    for i in (3, 7, 22):
        lifecycle.delete_contact(store, acme.account_id, OrderDelete(
            ref=TaskRef(task_id=task_id), contact_id=f"{acme.name}-{i}"), clock=CLOCK)  # fmt: skip
    page = store.order_page(acme.account_id, row, state=None, page_number=1, page_size=5)
    assert page.total == 20
    assert page.orders[0] == OrderRow(f"{acme.name}-21", "N21", "+85290000021", "pending", 0,
                                      False, 0, NOW)  # fmt: skip
    assert [o.contact_id for o in page.orders] == [f"{acme.name}-{i}" for i in (21, 20, 19, 18, 17)]
    every = _orders_oracle(db, row, ("pending", "dialling", "finished"))
    assert len(every) == 20
    pages = [store.order_page(acme.account_id, row, state=None, page_number=n, page_size=6)
             for n in (1, 2, 3, 4, 5)]  # fmt: skip
    assert [p.total for p in pages] == [20] * 5
    assert [len(p.orders) for p in pages] == [6, 6, 6, 2, 0]
    assert [o for p in pages for o in p.orders] == every
    deleted = store.order_page(acme.account_id, row, state="deleted", page_number=1, page_size=10)
    assert deleted == OrderPage(3, tuple(_orders_oracle(db, row, ("deleted",))))
    assert [o.contact_id for o in deleted.orders] == [f"{acme.name}-{i}" for i in (22, 7, 3)]
    assert store.order_page(acme.account_id, row, state="finished", page_number=1,
                            page_size=10) == OrderPage(0, ())  # fmt: skip
    # Another account never sees the task's contacts.
    assert store.order_page(other.account_id, row, state=None, page_number=1,
                            page_size=10) == OrderPage(0, ())  # fmt: skip
    assert store.order_page(acme.account_id, 10**9, state=None, page_number=1,
                            page_size=10) == OrderPage(0, ())  # fmt: skip


def test_the_contacts_page_after_calls(store: Store, db: Observer) -> None:
    acme = make_tenant(store)
    lifecycle.top_up(store, acme.account_id, 1_000_000, clock=CLOCK)
    task_id = _create(store, acme, 12, startupType=3, maxCall=3, orderMaxCall=2)
    row = _row_of(store, acme.account_id, task_id)
    sim = Simulator(store, seed=5, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)
    sim.advance(NOW + 600)  # some calls done, some contacts waiting for their retry
    for state in ("pending", "dialling", "finished"):
        page = store.order_page(acme.account_id, row, state=state, page_number=1, page_size=100)
        assert page == OrderPage(len(_orders_oracle(db, row, (state,))),
                                 tuple(_orders_oracle(db, row, (state,))))  # fmt: skip
    page = store.order_page(acme.account_id, row, state=None, page_number=1, page_size=100)
    assert page.orders == tuple(_orders_oracle(db, row, ("pending", "dialling", "finished")))
    assert any(o.attempts > 0 for o in page.orders) and any(o.answered for o in page.orders)


def test_the_contacts_page_refuses_bad_arguments(store: Store) -> None:
    acme = make_tenant(store)
    row = _row_of(store, acme.account_id, _create(store, acme, 1))
    for kwargs, message in (
        ({"state": "done"}, "contact state 'done': expected one of pending, dialling, finished, "
                            "deleted"),
        ({"page_number": 0}, "page_number 0: expected 1 or more"),
        ({"page_size": 0}, "page_size 0: expected 1 or more"),
    ):  # fmt: skip
        args: dict[str, Any] = {"state": None, "page_number": 1, "page_size": 10, **kwargs}
        with pytest.raises(StoreError, match=message):
            store.order_page(acme.account_id, row, **args)


# -- a task's calls by time and by result ---------------------------------------------------------


def _dial_to_end(store: Store, seed: int = 2) -> Simulator:
    sim = Simulator(store, seed=seed, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)
    sim.advance(NOW + 8 * 3600)
    assert sim.in_flight == 0
    return sim


def test_activity_and_results_after_simulated_calls(store: Store, db: Observer) -> None:
    acme, other = make_tenant(store), make_tenant(store)
    for tenant in (acme, other):
        lifecycle.top_up(store, tenant.account_id, 1_000_000, clock=CLOCK)
    task_id = _create(store, acme, 40, startupType=3, maxCall=4, orderMaxCall=3,
                      replayInterval=600)  # fmt: skip
    theirs = _create(store, other, 10, startupType=3)
    _dial_to_end(store)
    row = _row_of(store, acme.account_id, task_id)
    calls = db.rows("SELECT create_ts, answered, result FROM calls WHERE task_row_id = ?", row)
    assert len(calls) > 40 and 0 < sum(a for _, a, _ in calls) < len(calls)
    stats = db.one("SELECT total_call_count, answer_call_count FROM task_stats "
                   "WHERE task_row_id = ?", row)  # fmt: skip
    assert stats == (len(calls), sum(a for _, a, _ in calls))
    for bucket in (1, 60, 300, 3600, 86_400):
        got = store.call_activity(acme.account_id, row, bucket_s=bucket)
        counted: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0])
        for ts, answered, _ in calls:
            counted[ts // bucket * bucket][0] += 1
            counted[ts // bucket * bucket][1] += answered
        assert got == [ActivityBucket(start, n, a) for start, (n, a) in sorted(counted.items())]
    assert len(store.call_activity(acme.account_id, row, bucket_s=300)) >= 3  # retries later
    results = store.call_results(acme.account_id, row)
    assert results == dict(sorted(collections.Counter(r for _, _, r in calls).items()))
    assert list(results) == sorted(results) and len(results) >= 2
    # Another account's task has no calls for this one, and neither has an unknown task.
    their_row = _row_of(store, other.account_id, theirs)
    assert store.call_activity(acme.account_id, their_row, bucket_s=60) == []
    assert store.call_results(acme.account_id, their_row) == {}
    assert store.call_activity(other.account_id, row, bucket_s=60) == []
    assert store.call_results(other.account_id, row) == {}
    assert store.call_results(other.account_id, their_row) != {}
    with pytest.raises(StoreError, match="bucket_s 0: expected 1 or more"):
        store.call_activity(acme.account_id, row, bucket_s=0)


def test_activity_of_a_task_without_calls(store: Store) -> None:
    acme = make_tenant(store)
    row = _row_of(store, acme.account_id, _create(store, acme, 3))
    assert store.call_activity(acme.account_id, row, bucket_s=60) == []
    assert store.call_results(acme.account_id, row) == {}


# -- a task's callbacks -------------------------------------------------------------------------


def _with_callbacks(store: Store, tenant: Tenant, contacts: int, tag: str) -> str:
    return _create(store, tenant, contacts, prefix=tag, startupType=3, maxCall=2, orderMaxCall=1,
                   taskCallbackUrl=f"http://127.0.0.1:9/{tag}/task",
                   callCallbackUrl=f"http://127.0.0.1:9/{tag}/call")  # fmt: skip


def test_every_callback_names_its_task_and_a_task_lists_its_own(store: Store, db: Observer) -> None:
    acme, other = make_tenant(store), make_tenant(store)
    for tenant in (acme, other):
        lifecycle.top_up(store, tenant.account_id, 1_000_000, clock=CLOCK)
    first = _with_callbacks(store, acme, 4, "a1")
    second = _with_callbacks(store, acme, 3, "a2")
    theirs = _with_callbacks(store, other, 2, "o")
    _dial_to_end(store)
    rows = db.rows("SELECT id, kind, task_id, body FROM outbox ORDER BY id")
    assert {kind for _, kind, _, _ in rows} == {"task", "call"}
    for _, _kind, task_id, body in rows:
        doc = json.loads(body)
        assert task_id == doc["taskId"]  # both kinds carry it at the top level
    assert {task_id for _, _, task_id, _ in rows} == {first, second, theirs}
    for task_id in (first, second):
        listed = store.list_task_callbacks(acme.account_id, task_id, state=None, limit=100)
        mine = [item_id for item_id, _, t, _ in rows if t == task_id]
        assert [item.id for item in listed] == sorted(mine, reverse=True)
        assert {item.task_id for item in listed} == {task_id}
        assert store.callback_counts(acme.account_id, task_id) == {
            "pending": len(mine), "delivered": 0, "failed": 0}  # fmt: skip
    # 4 contacts, one call each, and at least the task's start and completion.
    assert len(store.list_task_callbacks(acme.account_id, first, state=None, limit=100)) >= 6
    newest = store.list_task_callbacks(acme.account_id, first, state=None, limit=2)
    assert newest == store.list_task_callbacks(acme.account_id, first, state=None, limit=100)[:2]
    assert store.get_callback(newest[0].id) == newest[0]
    # Another account never lists them, nor an unknown task.
    assert store.list_task_callbacks(other.account_id, first, state=None, limit=100) == []
    assert store.list_task_callbacks(acme.account_id, theirs, state=None, limit=100) == []
    assert store.list_task_callbacks(acme.account_id, "no-such-task", state=None, limit=10) == []
    assert store.callback_counts(other.account_id, first) == {
        "pending": 0, "delivered": 0, "failed": 0}  # fmt: skip


def test_a_task_s_callbacks_by_state_and_retrying_them(store: Store, db: Observer) -> None:
    acme, other = make_tenant(store), make_tenant(store)
    for tenant in (acme, other):
        lifecycle.top_up(store, tenant.account_id, 1_000_000, clock=CLOCK)
    task_id = _with_callbacks(store, acme, 3, "a")
    theirs = _with_callbacks(store, other, 2, "o")
    _dial_to_end(store)
    items = store.list_task_callbacks(acme.account_id, task_id, state=None, limit=100)
    assert len(items) >= 5
    delivered, failed, *pending = [item.id for item in items]
    claimed = store.claim_callbacks(NOW_MS + 10**6, limit=100, lease_ms=1)
    assert delivered in [c.id for c in claimed]
    store.record_delivery(delivered, now_ms=NOW_MS + 10**6, delivered=True, status=204, error="",
                          next_attempt_ms=None)  # fmt: skip
    store.record_delivery(failed, now_ms=NOW_MS + 10**6, delivered=False, status=500,
                          error="HTTP 500", next_attempt_ms=None)  # fmt: skip
    assert store.callback_counts(acme.account_id, task_id) == {
        "pending": len(pending), "delivered": 1, "failed": 1}  # fmt: skip
    assert [i.id for i in store.list_task_callbacks(
        acme.account_id, task_id, state="failed", limit=10)] == [failed]  # fmt: skip
    assert [i.id for i in store.list_task_callbacks(
        acme.account_id, task_id, state="delivered", limit=10)] == [delivered]  # fmt: skip
    assert [i.id for i in store.list_task_callbacks(
        acme.account_id, task_id, state="pending", limit=100)] == pending  # fmt: skip
    assert [i.id for i in store.list_task_callbacks(
        acme.account_id, task_id, state="pending", limit=1)] == pending[:1]  # fmt: skip

    def row(item_id: int) -> tuple[Any, ...] | None:
        return db.one("SELECT state, attempts, round_base, next_attempt_ms FROM outbox "
                      "WHERE id = ?", item_id)  # fmt: skip

    everything = db.rows("SELECT * FROM outbox ORDER BY id")
    # Another account's retry of it changes nothing, nor a retry of an unknown item.
    assert store.retry_account_callback(other.account_id, failed, now_ms=NOW_MS + 7) is False
    assert store.retry_account_callback(acme.account_id, 10**9, now_ms=NOW_MS + 7) is False
    # A delivered callback is not sent again.
    assert store.retry_account_callback(acme.account_id, delivered, now_ms=NOW_MS + 7) is False
    assert db.rows("SELECT * FROM outbox ORDER BY id") == everything
    assert row(failed) == ("failed", 1, 0, NOW_MS)
    assert store.retry_account_callback(acme.account_id, failed, now_ms=NOW_MS + 7) is True
    assert row(failed) == ("pending", 1, 1, NOW_MS + 7)
    # A pending one is made due now too, as retry_callback does (the same statement).
    their_item = store.list_task_callbacks(other.account_id, theirs, state=None, limit=1)[0]
    assert store.retry_account_callback(acme.account_id, their_item.id, now_ms=NOW_MS) is False
    assert store.retry_account_callback(other.account_id, their_item.id,
                                        now_ms=NOW_MS + 9) is True  # fmt: skip
    assert row(their_item.id) == ("pending", 0, 0, NOW_MS + 9)


def test_the_callback_reads_refuse_bad_arguments(store: Store) -> None:
    acme = make_tenant(store)
    with pytest.raises(StoreError, match="callback state 'sent': expected one of pending, "
                                         "delivered, failed"):  # fmt: skip
        store.list_task_callbacks(acme.account_id, "t", state="sent", limit=10)
    with pytest.raises(StoreError, match="limit 0: expected 1 or more"):
        store.list_task_callbacks(acme.account_id, "t", state=None, limit=0)
    assert store.list_task_callbacks(acme.account_id, "t\0", state=None, limit=1) == []
    assert store.callback_counts(acme.account_id, "t\0") == {
        "pending": 0, "delivered": 0, "failed": 0}  # fmt: skip


# -- migration 0012 on a database that already had callbacks -------------------------------------

#: Bodies as the code before migration 12 wrote them, and the task id each gets.
BODIES = [
    ("task", b'{"eventId":"e","eventType":"task.status","taskId":"task-one","taskStatus":3}',
     "task-one"),
    ("call", b'{"eventId":"e","eventType":"call.completed","call":{"callId":"c1",'
             b'"taskId":"task-two","result":1}}', "task-two"),
    ("call", b'{"eventType":"call.completed","taskId":"flat-three"}', "flat-three"),
    ("task", b'{"eventType":"task.status"}', ""),
    ("task", b'not json but "taskId" in it', ""),
    ("task", b'["taskId"]', ""),
    ("call", b'{"call":"taskId"}', ""),
    ("task", b'\xff\xfe "taskId" not utf-8', ""),
    ("task", '{"taskId":"t\u00e9che-4","name":"牛小信"}'.encode(), "t\u00e9che-4"),
]  # fmt: skip


def test_migration_12_gives_old_callbacks_their_task(
    backend: Backend, store_url: str, db: Observer
) -> None:
    _apply_first(store_url, backend.name, 11)
    account = db.scalar("INSERT INTO accounts (name, created_ts) VALUES ('old', 1) RETURNING id")
    for n, (kind, body, _) in enumerate(BODIES):
        db.execute("INSERT INTO outbox (account_id, event_id, kind, url, body, created_ms, "
                   "next_attempt_ms) VALUES (?, ?, ?, 'http://127.0.0.1:9/h', ?, ?, ?)",
                   account, f"event-{n}", kind, body, NOW_MS + n, NOW_MS + n)  # fmt: skip
    store = open_store(store_url)
    try:
        assert store.schema_version() == store.known_migrations()[-1][0]
        found = db.rows("SELECT event_id, task_id, body FROM outbox ORDER BY id")
        assert found == [(f"event-{n}", task_id, body)
                         for n, (_, body, task_id) in enumerate(BODIES)]  # fmt: skip
        listed = store.list_task_callbacks(account, "task-two", state=None, limit=10)
        assert [(item.event_id, item.kind, item.task_id) for item in listed] == [
            ("event-1", "call", "task-two")]  # fmt: skip
        assert store.callback_counts(account, "") == {"pending": 5, "delivered": 0, "failed": 0}
    finally:
        store.close()
