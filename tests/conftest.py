"""Shared fixtures: a fresh database on each backend (a store on it, an observer of it), small
factories, and a signed in-process client."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import random
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import answers
from backends import POSTGRES_ENV, Backend, PostgresBackend, SQLiteBackend
from db import Observer
from nxlink.server import app as server_app
from nxlink.server.app import TASK_LIST_PATH
from nxlink.server.settings import Settings
from nxlink.service import admin
from nxlink.store import NewTask, Store, open_store

#: The fixed server clock of in-process tests (epoch ms).
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z

# Every store of the run (in this process and the server processes it starts) seals secrets
# under one master key of the run's own, never the user's (~/.config/nxlink/master.key): the
# default key file's folder moves to the run's, and NXLINK_MASTER_KEY_FILE names the same
# file, for the tests that start commands without the NXLINK_* environment.
_CONFIG = Path(tempfile.mkdtemp(prefix="nxlink-test-config-"))
os.environ["XDG_CONFIG_HOME"] = str(_CONFIG)
os.environ.pop("NXLINK_MASTER_KEY", None)
os.environ["NXLINK_MASTER_KEY_FILE"] = str(_CONFIG / "nxlink" / "master.key")


# -- every answer the tests receive is validated against the OpenAPI document ------------------
answers.install()


@pytest.fixture(autouse=True)
def answers_follow_the_document() -> Iterator[None]:
    """Fails the test if an API answer it received does not validate against the document."""
    answers.FAILURES.clear()
    yield
    failures = list(answers.FAILURES)
    answers.FAILURES.clear()
    assert not failures, "answers that do not follow the OpenAPI document:\n" + "\n".join(
        failures[:10]
    )


# -- databases: every test that asks for one runs on each backend ------------------------------
BACKENDS = ["sqlite", "postgres"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


#: Set (CI sets it) to make a run without ``NXLINK_TEST_POSTGRES_URL`` fail instead of running
#: the PostgreSQL tests nowhere.
REQUIRE_POSTGRES_ENV = "NXLINK_TEST_REQUIRE_POSTGRES"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(REQUIRE_POSTGRES_ENV) and not os.environ.get(POSTGRES_ENV):
        raise pytest.UsageError(f"{REQUIRE_POSTGRES_ENV} is set but {POSTGRES_ENV} is not: "
                                "the PostgreSQL tests would not run")  # fmt: skip


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """``NXLINK_TEST_POSTGRES_URL`` for the tests only PostgreSQL has (skipped, with the
    reason shown, when it is not set; CI sets it)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL only: set {POSTGRES_ENV} (e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")  # fmt: skip
    return url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresBackend]:
    """The PostgreSQL server of ``NXLINK_TEST_POSTGRES_URL``: one schema per database."""
    made = PostgresBackend(os.environ[POSTGRES_ENV])
    yield made
    made.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """The kind of database of this run of the test (its id: ``sqlite`` or ``postgres``)."""
    if request.param == "postgres":
        made: Backend = request.getfixturevalue("postgres")
        return made
    return SQLiteBackend()


@pytest.fixture
def store_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database (``sqlite:///<tmp_path>/test.db``, or a schema of
    its own on PostgreSQL), dropped after the test."""
    with backend.database(tmp_path, "test") as url:
        yield url


@pytest.fixture
def make_store_url(backend: Backend, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``make_store_url(name)``: another fresh database of the test's backend (each name
    once; ``test`` is ``store_url``'s), dropped after the test."""
    made: dict[str, str] = {}

    def make(name: str) -> str:
        assert name != "test" and name not in made, f"a database named {name!r} exists"
        made[name] = backend.create(tmp_path, name)
        return made[name]

    yield make
    with contextlib.ExitStack() as drops:  # every one dropped, whichever fails
        for url in made.values():
            drops.callback(backend.drop, url)


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A SQLite database with every migration applied, as the bytes of its file: the
    ``store`` fixture starts from a copy instead of migrating each test's database again
    (39 ms a test; the migrations themselves are tested on empty databases, from
    ``store_url``)."""
    path = tmp_path_factory.mktemp("migrated") / "migrated.db"
    made = open_store(f"sqlite:///{path}")
    made.close()
    assert not path.with_name(path.name + "-wal").exists(), "the template is one file"
    return path.read_bytes()


@pytest.fixture
def store(store_url: str, backend: Backend, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An open store on the test's fresh database, migrated."""
    if backend.name == "sqlite":
        path = Path(store_url.removeprefix("sqlite:///"))
        if not path.exists():
            template: bytes = request.getfixturevalue("sqlite_migrated")
            path.touch(mode=0o600)
            path.write_bytes(template)
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def db(store_url: str) -> Iterator[Observer]:
    """The test's own connection to the database of ``store``, for reading (and now and then
    writing) rows with plain SQL."""
    with Observer(store_url) as observer:
        yield observer


@dataclass
class Tenant:
    """An account with a key, a flow and a route."""

    account_id: int
    name: str
    access_key: str
    secret: str
    flow_id: int
    flow_name: str
    route_id: str


_counter = itertools.count(1)


def make_tenant(store: Store, name: str | None = None, *, route_id: str | None = None) -> Tenant:
    name = name or f"acct{next(_counter)}"
    account = admin.create_account(store, name)
    key = admin.create_key(store, name)
    flow = admin.create_flow(store, name, name=f"{name} agent", variables=["name"])
    route = admin.create_route(store, name, name=f"{name} route", country_code="852",
                               route_id=route_id)  # fmt: skip
    return Tenant(account.id, name, key.access_key, key.access_secret, flow.id, flow.name,
                  route.route_id)  # fmt: skip


def make_task(tenant: Tenant, **overrides: Any) -> NewTask:
    """A task of ``tenant``; ``stats`` counters and any column may be overridden."""
    n = next(_counter)
    fields: dict[str, Any] = {
        "task_id": f"00000000-0000-4000-8000-{n:012d}",
        "auto_flow_id": tenant.flow_id,
        "route_id": tenant.route_id,
        "task_name": f"task {n}",
        "create_ts": 1_750_000_000 + n,
    }
    fields.update(overrides)
    return NewTask(**fields)


def sign_md5(access_key: str, secret: str, ts: str, body: bytes) -> str:
    """The signature built by hand from the recipe (independent of ``nxlink.signing``)."""
    pre = f"accessKey={access_key}&action=nxai&bizType=100&ts={ts}".encode()
    if body:
        pre += b"&body=" + body
    pre += f"&accessSecret={secret}".encode()
    return hashlib.md5(pre).hexdigest()


class Api:
    """A signed in-process client of the real app, with a fixed clock."""

    def __init__(self, client: TestClient, clock: list[int]) -> None:
        self.client = client
        self.clock = clock
        # Each request signs its own ts (a millisecond earlier than the last, within the
        # window), as a real client's clock moves: the same signed write twice is a replay.
        self._sent = itertools.count()

    def post(
        self,
        tenant: Tenant,
        body: bytes | str,
        *,
        ts: str | None = None,
        path: str = TASK_LIST_PATH,
        headers: dict[str, str] | None = None,
    ) -> Any:
        raw = body.encode() if isinstance(body, str) else body
        ts = ts if ts is not None else str(self.clock[0] - next(self._sent) % 30_000)
        sent = {
            "Content-Type": "application/json",
            "accessKey": tenant.access_key,
            "ts": ts,
            "bizType": "100",
            "action": "nxai",
            "sign": sign_md5(tenant.access_key, tenant.secret, ts, raw),
        }
        sent.update(headers or {})
        return self.client.post(path, content=raw, headers=sent)

    def tasks(self, tenant: Tenant, body: bytes | str = b"") -> dict[str, Any]:
        response = self.post(tenant, body)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        assert payload["code"] == 0, payload
        return payload


_apps_made: dict[str, int] = {}


def repeatable_task_ids() -> Callable[[], str]:
    """taskIds that are the same on every run of the calling test (but differ between tests
    and between the apps one test makes): the simulator's outcomes depend on the taskId, so a
    test's calls are then the same every time, whatever else runs."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    made = _apps_made[test] = _apps_made.get(test, 0) + 1
    rng = random.Random(f"{test}#{made}")
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_api(store: Store, **settings: Any) -> Api:
    clock = [NOW_MS]
    settings.setdefault("log_requests", False)
    app = server_app.create_app(Settings(**settings), store=store, clock=lambda: clock[0],
                     new_task_id=repeatable_task_ids())  # fmt: skip
    return Api(TestClient(app, raise_server_exceptions=False), clock)


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store)
