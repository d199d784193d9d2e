"""A database that cannot answer in time: HTTP 503, ``Retry-After`` and the envelope on every
endpoint, nothing written, and the client's retry; ``/readyz``'s answers.

The locks are real: a second SQLite connection holding ``BEGIN IMMEDIATE`` (another process's
writer), or this process's own writer busy in another thread.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from starlette.testclient import TestClient

from client.harness import SyncASGITransport
from conftest import NOW_MS, Api, Tenant, make_tenant
from nxlink import Client
from nxlink.server.app import API_PREFIX, TASK_LIST_PATH, create_app
from nxlink.server.settings import Settings
from nxlink.store import StoreUnavailable, TaskFilter
from nxlink.store.base import KeyAuth
from nxlink.store.sqlite import SQLiteStore

TRACE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CREATE = API_PREFIX + "task/create"
APPEND = API_PREFIX + "call/append"
BUSY = "database busy, try again: "
LOCKED = BUSY + "database is locked (waited 50 ms)"


def unavailable(response: Any, *, retry_after: str = "1") -> str:
    """The message of a 503: ``Retry-After``, exactly the envelope, the trace id echoed."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["Retry-After"] == retry_after
    assert response.headers["content-type"].split(";")[0] == "application/json"
    payload: dict[str, Any] = response.json()
    assert list(payload) == ["code", "message", "traceId"], payload
    assert payload["code"] == 20000
    assert TRACE.fullmatch(payload["traceId"])
    assert response.headers["X-Trace-Id"] == payload["traceId"]
    message: str = payload["message"]
    return message


def task_body(tenant: Tenant, **fields: Any) -> str:
    body = {"taskName": "renewals", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 1, "startupType": 1, **fields}  # fmt: skip
    return json.dumps(body)


def app_on(store: SQLiteStore, **settings: Any) -> Api:
    settings.setdefault("log_requests", False)
    clock = [NOW_MS]
    app = create_app(Settings(**settings), store=store, clock=lambda: clock[0])
    return Api(TestClient(app, raise_server_exceptions=False), clock)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "locks.db"


@pytest.fixture
def quick(db_path: Path) -> Iterator[SQLiteStore]:
    """A real store that waits at most 50 ms for a lock."""
    store = SQLiteStore(f"sqlite:///{db_path}", busy_timeout_ms=50)
    store.migrate()
    store.unlock()
    yield store
    store.close()


@contextlib.contextmanager
def write_lock_held(db_path: Path) -> Iterator[sqlite3.Connection]:
    """SQLite's write lock, held by another connection (as another process's writer would)."""
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield holder
        if holder.in_transaction:
            holder.execute("ROLLBACK")
    finally:
        holder.close()


def task_count(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        count: int = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        return count


# -- a real lock --------------------------------------------------------------------------------
def test_task_create_behind_a_held_lock_is_503_and_writes_nothing(
    quick: SQLiteStore, db_path: Path, tmp_path: Path
) -> None:
    tenant = make_tenant(quick)
    log_file = tmp_path / "requests.log"
    api = app_on(quick, log_requests=True, log_file=str(log_file), deliver_callbacks=False)
    with api.client:  # the lifespan closes the request log
        with write_lock_held(db_path):
            response = api.post(tenant, task_body(tenant), path=CREATE)
            assert unavailable(response) == LOCKED
            # Reads go on beside the writer (WAL): the task list still answers.
            assert api.tasks(tenant)["total"] == 0
        assert task_count(db_path) == 0
        created = api.post(tenant, task_body(tenant), path=CREATE)
        assert created.status_code == 200
        assert created.json()["code"] == 0
        assert task_count(db_path) == 1
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(r["path"], r["status"], r["code"]) for r in records] == [
        (CREATE, 503, 20000), (TASK_LIST_PATH, 200, 0), (CREATE, 200, 0),
    ]  # fmt: skip
    assert records[0]["traceId"] == response.headers["X-Trace-Id"]


def test_call_append_behind_a_held_lock_is_503_and_imports_nothing(
    quick: SQLiteStore, db_path: Path
) -> None:
    tenant = make_tenant(quick)
    api = app_on(quick, retry_after_s=7)
    task_id = api.post(tenant, task_body(tenant), path=CREATE).json()["data"]["taskId"]
    contacts = [{"contactId": f"c{i}", "phoneNumber": f"+8529{i:07d}"} for i in range(50)]
    body = json.dumps({"taskId": task_id, "list": contacts})
    with write_lock_held(db_path):
        assert unavailable(api.post(tenant, body, path=APPEND), retry_after="7") == LOCKED
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    appended = api.post(tenant, body, path=APPEND).json()
    assert appended["data"] == {"taskId": task_id, "count": 50}


def test_this_processes_own_writer_held_too_long_is_503(quick: SQLiteStore, db_path: Path) -> None:
    """The in-process write lock is waited for no longer than SQLite's."""
    tenant = make_tenant(quick)
    api = app_on(quick)
    inside, leave = threading.Event(), threading.Event()

    def long_write() -> None:
        with quick.lifecycle():
            inside.set()
            leave.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert inside.wait(10)
        message = unavailable(api.post(tenant, task_body(tenant), path=CREATE))
        assert message == BUSY + "another write held the lock (waited 50 ms)"
    finally:
        leave.set()
        writer.join(10)
    assert task_count(db_path) == 0


def test_the_client_retries_a_503_and_succeeds_once_the_lock_is_gone(
    quick: SQLiteStore, db_path: Path
) -> None:
    tenant = make_tenant(quick)
    api = app_on(quick)
    delays: list[float] = []
    statuses: list[int] = []
    with write_lock_held(db_path) as holder, anyio.from_thread.start_blocking_portal() as portal:

        class Patient(Client):
            def _sleep(self, seconds: float) -> None:
                delays.append(seconds)  # instead of waiting: the lock goes away meanwhile
                holder.execute("ROLLBACK")

        def seen(response: httpx.Response) -> None:
            statuses.append(response.status_code)

        http = httpx.Client(transport=SyncASGITransport(api.client.app, portal),
                            event_hooks={"response": [seen]})  # fmt: skip
        with http, Patient(access_key=tenant.access_key, access_secret=tenant.secret,
                           base_url="http://testserver", http_client=http,
                           clock=lambda: NOW_MS) as client:  # fmt: skip
            created = client.request("task/create", json.loads(task_body(tenant, userTaskId="r-1")))
    assert statuses == [503, 200]
    assert delays == [1.0]  # the server's Retry-After
    assert created["code"] == 0
    assert task_count(db_path) == 1
    page = api.tasks(tenant)
    assert [t["userTaskId"] for t in page["list"]] == ["r-1"]
    assert page["list"][0]["taskId"] == created["data"]["taskId"]


# -- a store that reports a timeout -------------------------------------------------------------
class TimingOut(SQLiteStore):
    """A real store whose task list (or key lookup, or ping) reports a statement timeout."""

    def __init__(self, url: str, *, fail: str, reason: str = "statement timeout") -> None:
        super().__init__(url)
        self.fail = fail
        self.reason = reason

    def task_page(
        self, account_id: int, flt: TaskFilter, *, offset: int, limit: int
    ) -> tuple[int, list[bytes]]:
        if self.fail == "task_page":
            raise StoreUnavailable(self.reason)
        return super().task_page(account_id, flt, offset=offset, limit=limit)

    def key_auth(self, access_key: str) -> KeyAuth | None:
        if self.fail == "key_auth":
            raise StoreUnavailable(self.reason)
        return super().key_auth(access_key)

    def ping(self) -> None:
        if self.fail == "ping":
            raise StoreUnavailable(self.reason)
        super().ping()


@pytest.fixture
def timing_out(tmp_path: Path) -> Iterator[TimingOut]:
    store = TimingOut(f"sqlite:///{tmp_path / 'slow.db'}", fail="")
    store.migrate()
    store.unlock()
    yield store
    store.close()


@pytest.mark.parametrize("where", ["task_page", "key_auth"])
def test_a_timeout_on_the_task_list_is_503(timing_out: TimingOut, where: str) -> None:
    tenant = make_tenant(timing_out)
    api = app_on(timing_out)
    timing_out.fail = where
    message = unavailable(api.post(tenant, '{"taskName":"renewal"}'))
    assert message == BUSY + "statement timeout"
    timing_out.fail = ""
    assert api.tasks(tenant)["code"] == 0


def test_the_503_message_is_the_reasons_first_line_only(timing_out: TimingOut) -> None:
    tenant = make_tenant(timing_out)
    api = app_on(timing_out)
    timing_out.fail = "task_page"
    timing_out.reason = "canceling statement due to statement timeout\nCONTEXT: SQL " + "x" * 500
    message = unavailable(api.post(tenant, "{}"))
    assert message == BUSY + "canceling statement due to statement timeout"
    timing_out.reason = "y" * 1000
    assert unavailable(api.post(tenant, "{}")) == BUSY + "y" * 200


def test_a_timeout_on_a_lifecycle_endpoint_is_503(timing_out: TimingOut) -> None:
    tenant = make_tenant(timing_out)
    api = app_on(timing_out)
    timing_out.fail = "key_auth"
    for path in ("task/create", "call/append", "order/delete", "task/start", "task/pause",
                 "call/list", "flow/list", "route/list"):  # fmt: skip
        message = unavailable(api.post(tenant, "{}", path=API_PREFIX + path))
        assert message == BUSY + "statement timeout", path


# -- /readyz ------------------------------------------------------------------------------------
class Pinged(SQLiteStore):
    """A real store whose ping can fail or hang until released."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.error: Exception | None = None
        self.hang = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def ping(self) -> None:
        if not self.release.is_set():
            self.hang.set()
            self.release.wait(10)
        if self.error is not None:
            raise self.error
        super().ping()


@pytest.fixture
def pinged(tmp_path: Path) -> Iterator[Pinged]:
    store = Pinged(f"sqlite:///{tmp_path / 'ready.db'}")
    store.migrate()
    store.unlock()
    yield store
    store.release.set()
    store.close()


def ready(api: Api) -> dict[str, Any]:
    response = api.client.get("/readyz")
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert payload["code"] == 0
    assert payload["message"] == "success"
    return payload


def test_readyz_answers_200_when_the_database_answers(pinged: Pinged) -> None:
    ready(app_on(pinged))


def test_readyz_names_the_failure_class_not_its_details(pinged: Pinged) -> None:
    api = app_on(pinged, retry_after_s=3)
    pinged.error = sqlite3.OperationalError("unable to open database file /secret/path")
    response = api.client.get("/readyz")
    assert unavailable(response, retry_after="3") == "database not ready: OperationalError"
    assert "/secret/path" not in response.text
    pinged.error = StoreUnavailable("database is locked (waited 50 ms)")
    assert unavailable(api.client.get("/readyz"), retry_after="3") == LOCKED
    pinged.error = None
    ready(api)


def test_readyz_gives_up_on_a_database_that_does_not_answer(pinged: Pinged) -> None:
    api = app_on(pinged, ready_timeout_ms=50)
    pinged.release.clear()
    message = unavailable(api.client.get("/readyz"))
    assert message == "database not ready: no answer within 50 ms"
    assert pinged.hang.is_set()
    # While the first ping still hangs, another probe waits behind it (no new thread): 503.
    assert unavailable(api.client.get("/readyz")) == message
    pinged.release.set()
    # Once the hung ping returns, the probe's thread answers again.
    deadline = time.monotonic() + 10
    while api.client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the probe never recovered"
        time.sleep(0.01)
    ready(api)


def test_the_openapi_document_tells_the_503(pinged: Pinged) -> None:
    document = app_on(pinged).client.get("/openapi.json").json()
    shared = document["components"]["responses"]
    for path, method in ((TASK_LIST_PATH, "post"), (CREATE, "post"), ("/readyz", "get")):
        answer = document["paths"][path][method]["responses"]["503"]
        if "$ref" in answer:  # the one database-busy answer of every API operation
            answer = shared[answer["$ref"].rsplit("/", 1)[-1]]
        assert "Retry-After" in answer["headers"], path
    example = shared["DatabaseBusy"]["content"]
    assert example["application/json"]["example"]["message"].startswith(BUSY)
