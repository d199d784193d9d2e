"""The event loop never waits on the database (STYLE.md §13).

A real uvicorn server, in this process on a loopback port, over a store whose name search
blocks (the slowest query there is, held until the test lets it go): ``/healthz``, ``/readyz``
and other clients' task lists answer while such searches are in flight, at most
``NXLINK_DB_THREADS`` queries run at once, and SIGTERM's graceful stop lets them finish. In
process: no store method runs on the event loop's thread, each API request makes one hop to a
database thread, and ``/healthz`` touches no database at all.

The time bounds below are generous ("not blocked", far below the held query), not benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from conftest import NOW_MS, Api, Tenant, make_tenant, sign_md5
from live import free_port
from nxlink.server import dbpool
from nxlink.server.app import API_PREFIX, TASK_LIST_PATH, create_app
from nxlink.server.settings import Settings
from nxlink.service import lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store, TaskFilter
from nxlink.store.base import LifecycleTx
from nxlink.store.sqlite import SQLiteStore

T = TypeVar("T")
#: Far below the held query (held until released), far above a free loop's answer.
NOT_BLOCKED_S = 0.25
WAIT_S = 10.0


class HeldSearch(SQLiteStore):
    """A real store whose ``taskName`` searches block until released; counts them."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.release = threading.Event()
        self._changed = threading.Condition()
        self.inside = 0
        self.peak = 0

    def task_page(
        self, account_id: int, flt: TaskFilter, *, offset: int, limit: int
    ) -> tuple[int, list[bytes]]:
        if flt.name_fold is None:
            return super().task_page(account_id, flt, offset=offset, limit=limit)
        with self._changed:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self._changed.notify_all()
        try:
            self.release.wait(WAIT_S)
            return super().task_page(account_id, flt, offset=offset, limit=limit)
        finally:
            with self._changed:
                self.inside -= 1
                self._changed.notify_all()

    def wait_inside(self, n: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.inside == n, WAIT_S), self.inside


@pytest.fixture
def held(tmp_path: Path) -> Iterator[HeldSearch]:
    store = HeldSearch(f"sqlite:///{tmp_path / 'held.db'}")
    store.migrate()
    store.unlock()
    yield store
    store.release.set()
    store.close()


@contextmanager
def uvicorn_serving(app: Any) -> Iterator[tuple[str, uvicorn.Server]]:
    """The app on a real uvicorn server in a thread; yields its base URL and the server."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


def signed(tenant: Tenant, body: bytes) -> dict[str, str]:
    ts = str(NOW_MS)
    return {"Content-Type": "application/json", "accessKey": tenant.access_key, "ts": ts,
            "bizType": "100", "action": "nxai",
            "sign": sign_md5(tenant.access_key, tenant.secret, ts, body)}  # fmt: skip


def post_list(base: str, tenant: Tenant, body: bytes) -> httpx.Response:
    """One task-list request on a connection of its own."""
    return httpx.post(base + TASK_LIST_PATH, content=body, headers=signed(tenant, body),
                      timeout=WAIT_S * 2)  # fmt: skip


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def app_on(store: Store, **settings: Any) -> Any:
    settings.setdefault("log_requests", False)
    settings.setdefault("deliver_callbacks", False)
    return create_app(Settings(**settings), store=store, clock=lambda: NOW_MS)


SEARCH = b'{"taskName":"renewal"}'


def test_probes_answer_while_every_database_thread_is_held(held: HeldSearch) -> None:
    tenant = make_tenant(held)
    with (
        uvicorn_serving(app_on(held, db_threads=2)) as (base, _server),
        ThreadPoolExecutor(4) as clients,
    ):
        searches = [clients.submit(post_list, base, tenant, SEARCH) for _ in range(4)]
        held.wait_inside(2)  # both database threads hold a search; two more wait for one
        for _ in range(5):
            health, took = timed(lambda: httpx.get(base + "/healthz", timeout=WAIT_S))
            assert health.status_code == 200
            assert health.json()["code"] == 0
            assert took < NOT_BLOCKED_S, f"/healthz took {took:.3f} s behind held queries"
        # /readyz asks the database on a thread of its own, not behind the held searches.
        readiness = httpx.get(base + "/readyz", timeout=WAIT_S)
        assert (readiness.status_code, readiness.json()["code"]) == (200, 0)
        assert held.inside == 2
        assert not any(search.done() for search in searches)
        held.release.set()
        answers = [search.result(WAIT_S * 2) for search in searches]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(200, 0)] * 4
    assert held.peak == 2  # NXLINK_DB_THREADS bounds the queries at once


def test_other_clients_task_lists_answer_beside_slow_searches(held: HeldSearch) -> None:
    tenant = make_tenant(held)
    with (
        uvicorn_serving(app_on(held, db_threads=4)) as (base, _server),
        ThreadPoolExecutor(2) as clients,
    ):
        searches = [clients.submit(post_list, base, tenant, SEARCH) for _ in range(2)]
        held.wait_inside(2)
        for _ in range(3):
            page, took = timed(lambda: post_list(base, tenant, b'{"pageSize":10}'))
            assert (page.status_code, page.json()["code"]) == (200, 0)
            assert took < NOT_BLOCKED_S, f"a plain page took {took:.3f} s behind two searches"
        assert not any(search.done() for search in searches)
        held.release.set()
        assert [s.result(WAIT_S * 2).status_code for s in searches] == [200, 200]


class LockedOut(SQLiteStore):
    """A real store that notes when a write transaction is asked for (it then waits for
    SQLite's lock)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writing = threading.Event()

    @contextlib.contextmanager
    def lifecycle(self) -> Iterator[LifecycleTx]:
        self.writing.set()
        with super().lifecycle() as tx:
            yield tx


def test_a_write_waiting_for_the_lock_holds_up_no_read(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = LockedOut(f"sqlite:///{path}")
    store.migrate()
    store.unlock()
    tenant = make_tenant(store)
    holder = sqlite3.connect(path, isolation_level=None)
    body = json.dumps(
        {
            "taskName": "renewals",
            "autoFlowId": tenant.flow_id,
            "routeId": tenant.route_id,
            "taskKeep": 1,
            "startupType": 1,
        }
    ).encode()
    try:
        with (
            uvicorn_serving(app_on(store, db_threads=1)) as (base, _server),
            ThreadPoolExecutor(1) as clients,
        ):
            holder.execute("BEGIN IMMEDIATE")  # another process's writer
            create = clients.submit(
                httpx.post,
                base + API_PREFIX + "task/create",
                content=body,
                headers=signed(tenant, body),
                timeout=WAIT_S * 2,
            )
            assert store.writing.wait(WAIT_S)
            for _ in range(3):
                page, took = timed(lambda: post_list(base, tenant, b"{}"))
                assert (page.status_code, page.json()["total"]) == (200, 0)
                assert took < NOT_BLOCKED_S, f"a read took {took:.3f} s behind a waiting write"
            assert not create.done()
            holder.execute("ROLLBACK")
            created = create.result(WAIT_S * 2)
            assert (created.status_code, created.json()["code"]) == (200, 0)
            assert post_list(base, tenant, b"{}").json()["total"] == 1
    finally:
        holder.close()
        store.close()


def test_graceful_stop_lets_requests_in_flight_finish(held: HeldSearch) -> None:
    """What SIGTERM does to ``nxlink serve`` (uvicorn's handler sets ``should_exit``)."""
    tenant = make_tenant(held)
    with (
        uvicorn_serving(app_on(held)) as (base, server),
        ThreadPoolExecutor(1) as clients,
    ):
        search = clients.submit(post_list, base, tenant, SEARCH)
        held.wait_inside(1)
        server.should_exit = True
        deadline = time.monotonic() + WAIT_S
        while True:  # the listening socket closes first; the request is still held
            try:
                httpx.get(base + "/healthz", timeout=1.0)
            except httpx.TransportError:
                break
            assert time.monotonic() < deadline, "the server kept accepting"
            time.sleep(0.01)
        assert not search.done()
        held.release.set()
        answer = search.result(WAIT_S * 2)
    assert (answer.status_code, answer.json()["code"]) == (200, 0)


# -- in process ---------------------------------------------------------------------------------
class LoopWatch:
    """Stands in for a store: passes every call on, noting its name and whether an event loop
    was running in the calling thread."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls: list[tuple[str, bool]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop = True
            except RuntimeError:
                on_loop = False
            self.calls.append((name, on_loop))
            return attr(*args, **kwargs)

        return call


def test_no_store_call_runs_on_the_event_loop(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(store)
    lifecycle.top_up(store, tenant.account_id, 100_000, clock=Clock(NOW_MS // 1000, NOW_MS))
    watch = LoopWatch(store)
    hops: list[str] = []
    run = dbpool.DbThreads.run

    async def counted(self: dbpool.DbThreads, call: Callable[[], T]) -> T:
        hops.append(self.name)
        return await run(self, call)

    monkeypatch.setattr(dbpool.DbThreads, "run", counted)
    api = Api(TestClient(app_on(cast(Store, watch)), raise_server_exceptions=False), [NOW_MS])

    def ok(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(tenant, json.dumps(body), path=API_PREFIX + path)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        assert payload["code"] == 0, payload
        return payload

    task = {"taskName": "renewals", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 1, "startupType": 1}  # fmt: skip
    task_id = ok("task/create", task)["data"]["taskId"]
    ok("call/append", {"taskId": task_id, "list": [
        {"contactId": "c1", "phoneNumber": "+85291230001"},
        {"contactId": "c2", "phoneNumber": "+85291230002"}]})  # fmt: skip
    ok("order/delete", {"taskId": task_id, "contactId": "c2"})
    ok("task/start", {"taskId": task_id})
    ok("task/pause", {"taskId": task_id})
    ok("call/list", {"taskId": task_id})
    ok("flow/list", {})
    ok("route/list", {})
    assert ok("task/list", {})["total"] == 1
    assert ok("task/list", {"taskName": "renew", "taskStatus": 5})["total"] == 1
    refused = api.post(tenant, b"{}", headers={"sign": "0" * 32})  # 1003 after the key lookup
    assert refused.json()["code"] == 1003
    assert api.client.get("/readyz").json()["code"] == 0

    called = {name for name, _ in watch.calls}
    assert {"key_auth", "lifecycle", "task_page", "call_page", "list_flows", "list_routes",
            "ping"} <= called, called  # fmt: skip
    assert [name for name, on_loop in watch.calls if on_loop] == []
    # One hop per request: writes on the write thread, reads on the read threads.
    assert hops == ["nxlink-write"] * 5 + ["nxlink-read"] * 6 + ["nxlink-ready"]


class NoDatabase:
    """A store that must not be touched."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was used: {name}")


def test_healthz_touches_no_database() -> None:
    app = create_app(Settings(log_requests=False), store=cast(Store, NoDatabase()))
    client = TestClient(app, raise_server_exceptions=False)
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["code"] == 0
        assert response.json()["message"] == "success"


def test_the_pool_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least one thread, got 0"):
        dbpool.DbThreads(0, name="none")
    with pytest.raises(ValueError, match="db_threads"):
        Settings(db_threads=0)


def test_a_queued_call_never_starts_once_its_caller_gives_up() -> None:
    pool = dbpool.DbThreads(1, name="one")
    gate = threading.Event()
    ran: list[str] = []

    async def scenario() -> None:
        first = asyncio.ensure_future(pool.run(lambda: gate.wait(WAIT_S)))
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.run(lambda: ran.append("second")), 0.01)
        gate.set()
        assert await first is True
        assert await pool.run(lambda: "third") == "third"

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        pool.close()
    assert ran == []
