"""Replayed writes (``service/replays.py``): one change and the first answer, on both backends,
also for two copies at once through two stores (two processes) on one database."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from conftest import NOW_MS, Tenant, make_tenant
from db import Observer
from nxlink.service import lifecycle, replays
from nxlink.service.errors import ApiError, business_error
from nxlink.service.lifecycle import Clock
from nxlink.service.requests import parse_task_create
from nxlink.store import ReplayKey, Store, open_store

WINDOW_MS = 60_000
KEY_SIGN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return make_tenant(store, "acme")


def _create(store: Store, tenant: Tenant, name: str = "replayed") -> bytes:
    req = parse_task_create({"taskName": name, "autoFlowId": tenant.flow_id,
                             "routeId": tenant.route_id, "taskKeep": 0, "startupType": 1})  # fmt: skip
    task_id = lifecycle.create_task(store, tenant.account_id, req, clock=Clock.at(NOW_MS))
    return orjson.dumps({"code": 0, "message": "success", "data": {"taskId": task_id}})


def _key(tenant: Tenant, ts: int = NOW_MS, sign: str = KEY_SIGN) -> ReplayKey:
    return replays.replay_key(tenant.access_key, str(ts), sign, "task/create")


def _tasks(db: Observer) -> int:
    row = db.one("SELECT count(*) FROM tasks")
    assert row is not None
    return int(row[0])


def test_a_write_sent_three_times_makes_one_change_and_one_answer(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    answers = [
        replays.once(
            store,
            tenant.account_id,
            _key(tenant),
            now_ms=NOW_MS + i,
            window_ms=WINDOW_MS,
            run=lambda: _create(store, tenant),
        )
        for i in range(3)
    ]
    assert [replayed for _, replayed in answers] == [False, True, True]
    assert len({answer for answer, _ in answers}) == 1
    assert _tasks(db) == 1
    # Another signature (another request) is another write.
    other = replays.once(store, tenant.account_id, _key(tenant, sign="f" * 32), now_ms=NOW_MS,
                         window_ms=WINDOW_MS, run=lambda: _create(store, tenant))  # fmt: skip
    assert other[1] is False
    assert other[0] != answers[0][0]
    assert _tasks(db) == 2


def test_the_sign_is_the_same_however_cased(store: Store, tenant: Tenant, db: Observer) -> None:
    for sign in (KEY_SIGN, KEY_SIGN.upper()):
        replays.once(store, tenant.account_id, _key(tenant, sign=sign), now_ms=NOW_MS,
                     window_ms=WINDOW_MS, run=lambda: _create(store, tenant))  # fmt: skip
    assert _tasks(db) == 1


def test_a_refused_write_keeps_nothing_and_is_checked_again(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    def refused() -> bytes:
        _create(store, tenant)  # written in the joined transaction ...
        raise business_error(["taskName: refused on purpose"])  # ... and rolled back

    with pytest.raises(ApiError, match="refused on purpose"):
        replays.once(store, tenant.account_id, _key(tenant), now_ms=NOW_MS,
                     window_ms=WINDOW_MS, run=refused)  # fmt: skip
    assert _tasks(db) == 0
    assert db.one("SELECT count(*) FROM write_replays") == (0,)
    answer, replayed = replays.once(store, tenant.account_id, _key(tenant), now_ms=NOW_MS,
                                    window_ms=WINDOW_MS, run=lambda: _create(store, tenant))  # fmt: skip
    assert not replayed
    assert _tasks(db) == 1
    assert db.one("SELECT answer FROM write_replays") == (answer,)


def test_keys_are_forgotten_once_their_ts_cannot_pass_the_window(
    store: Store, tenant: Tenant, db: Observer
) -> None:
    replays.once(store, tenant.account_id, _key(tenant), now_ms=NOW_MS, window_ms=WINDOW_MS,
                 run=lambda: _create(store, tenant))  # fmt: skip
    last_chance = NOW_MS + WINDOW_MS + replays.MARGIN_MS
    _, replayed = replays.once(store, tenant.account_id, _key(tenant), now_ms=last_chance,
                               window_ms=WINDOW_MS, run=lambda: _create(store, tenant))  # fmt: skip
    assert replayed
    # Any other write of the account later forgets it (its ts can no longer pass).
    replays.once(store, tenant.account_id, _key(tenant, ts=NOW_MS + 200_000),
                 now_ms=last_chance + 1, window_ms=WINDOW_MS,
                 run=lambda: _create(store, tenant, "later"))  # fmt: skip
    keys = db.rows("SELECT ts FROM write_replays")
    assert keys == [(NOW_MS + 200_000,)]


def test_two_copies_at_once_through_two_stores_make_one_change(
    store_url: str, store: Store, tenant: Tenant, db: Observer
) -> None:
    other = open_store(store_url)
    ran: list[str] = []
    inside = threading.Event()
    results: dict[str, tuple[bytes, bool]] = {}

    def slow_write(on: Store, who: str) -> bytes:
        ran.append(who)
        answer = _create(on, tenant)
        inside.set()
        time.sleep(0.3)  # the other copy arrives while this transaction is open
        return answer

    def first() -> None:
        results["first"] = replays.once(store, tenant.account_id, _key(tenant), now_ms=NOW_MS,
                                        window_ms=WINDOW_MS,
                                        run=lambda: slow_write(store, "first"))  # fmt: skip

    try:
        thread = threading.Thread(target=first)
        thread.start()
        assert inside.wait(10)
        results["second"] = replays.once(other, tenant.account_id, _key(tenant),
                                         now_ms=NOW_MS + 5, window_ms=WINDOW_MS,
                                         run=lambda: slow_write(other, "second"))  # fmt: skip
        thread.join(10)
    finally:
        other.close()
    assert ran == ["first"]
    assert results["first"] == (results["second"][0], False)
    assert results["second"][1] is True
    assert _tasks(db) == 1
