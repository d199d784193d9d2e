"""The pytest plugin: a live nxlink sandbox per test (a ``pytest11`` entry point).

Installing nxlink with its ``server`` extra makes two fixtures available to every test suite::

    def test_my_integration(nxlink_sandbox, nxlink_client):
        created = nxlink_client.request("task/create", {...})
        nxlink_sandbox.advance("1h")
        assert nxlink_sandbox.count_requests(path="task/create") == 1

``nxlink_sandbox`` is a :class:`SandboxServer`: a real ``nxlink serve`` on a free loopback
port with a fresh SQLite database in the test's temporary folder, one account (``acme``, with
a balance), its key, a flow and a route; the clock frozen at the start (time moves only with
:meth:`~nxlink.Sandbox.advance`), the seed fixed and taskIds seeded, so the same test gives the
same calls every run. It is an :class:`nxlink.Sandbox` (every control: the clock, the journal,
the sink, ...) plus the account's credentials, :meth:`SandboxServer.magic_number`,
:meth:`SandboxServer.sink_url` and :meth:`SandboxServer.callbacks`. The server stops
after the test. ``nxlink_client`` is a :class:`nxlink.Client` for it, with the admin token.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from nxlink.client import Client, Sandbox
from nxlink.contract.callrecord import CALL_RESULTS

#: The simulator's seed in every sandbox the plugin starts.
SEED: Final = 7
#: How long the server may take to answer ``/healthz``.
START_TIMEOUT_S: Final = 30.0
ACCOUNT: Final = "acme"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _nxlink_command() -> list[str]:
    beside = Path(sys.executable).with_name("nxlink")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-c", "from nxlink._console import main; main()"]


class SandboxServer(Sandbox):
    """A running sandbox for one test: the admin controls of :class:`nxlink.Sandbox`, and the
    account it was made with."""

    def __init__(
        self,
        *,
        base_url: str,
        admin_token: str,
        db_url: str,
        access_key: str,
        access_secret: str,
        saas_user_id: int,
        flow_id: int,
        route_id: str,
    ) -> None:
        super().__init__(base_url=base_url, admin_token=admin_token)
        self.admin_token = admin_token
        #: The sandbox's database (for ``nxlink --db`` commands).
        self.db_url = db_url
        #: The account's credentials and catalog.
        self.account = ACCOUNT
        self.access_key = access_key
        self.access_secret = access_secret
        self.saas_user_id = saas_user_id
        self.flow_id = flow_id
        self.route_id = route_id

    def client(self, **kwargs: Any) -> Client:
        """A :class:`nxlink.Client` of the account (``kwargs`` as ``Client``'s)."""
        return Client(base_url=self.base_url, access_key=self.access_key,
                      access_secret=self.access_secret, admin_token=self.admin_token,
                      **kwargs)  # fmt: skip

    def sink_url(self, name: str) -> str:
        """Where a task's callbacks go to be read back with :meth:`callbacks`: the sandbox's
        own sink ``name``."""
        return f"{self.base_url}/_nxlink/sink/{name}"

    def callbacks(self, name: str, *, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The callbacks the sink ``name`` received, once there are at least ``count`` of them
        (delivery runs beside the requests); ``AssertionError`` after ``timeout`` seconds.

        Each is a sink record (:meth:`nxlink.Sandbox.sink`); its ``body`` is the vendor's flat
        callback: ``record["body"]["taskStatus"]`` for a task's, ``record["body"]["callResult"]``
        and ``record["body"]["contactId"]`` for a call's."""
        deadline = time.monotonic() + timeout
        while True:
            records: list[dict[str, Any]] = self.sink(name, limit=1000)["list"]
            if len(records) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(records) >= count, f"sink {name!r}: {len(records)} callback(s), not {count}"
        return records

    @staticmethod
    def magic_number(
        result: int | None = None,
        *,
        human_answers: bool = True,
        answered_on: int | None = None,
        prefix: str = "+85291",
    ) -> str:
        """A phone number whose calls the simulator does not draw: ``result`` (a call result)
        on every attempt (17: the human leg answered, unless ``human_answers=False``), or no
        answer until attempt ``answered_on`` (2 to 9), answered then."""
        if (result is None) == (answered_on is None):
            raise ValueError("give result or answered_on")
        if answered_on is not None:
            if not 2 <= answered_on <= 9:
                raise ValueError(f"answered_on: from 2 to 9, got {answered_on}")
            return f"{prefix}555{answered_on}01"
        assert result is not None
        if result not in CALL_RESULTS:
            raise ValueError(f"result: one of {', '.join(map(str, CALL_RESULTS))}, got {result}")
        if result == 17 and not human_answers:
            return f"{prefix}555117"
        return f"{prefix}5550{result:02d}"


@dataclass(frozen=True, slots=True)
class _Account:
    access_key: str
    access_secret: str
    saas_user_id: int
    flow_id: int
    route_id: str


def _prepare(db_url: str, env: Mapping[str, str]) -> _Account:
    """The account, its key, flow and route, and a balance, written before the server starts."""
    from nxlink.service import admin
    from nxlink.store import open_store
    from nxlink.store.secretbox import MasterKeySource

    store = open_store(db_url, master_key=MasterKeySource(value=env["NXLINK_MASTER_KEY"]))
    try:
        account = admin.create_account(store, ACCOUNT)
        key = admin.create_key(store, ACCOUNT)
        flow = admin.create_flow(store, ACCOUNT, name="Sandbox agent", variables=["name"])
        route = admin.create_route(store, ACCOUNT, name="Sandbox route", country_code="852",
                                   route_id="SANDBOX-1", price_per_minute_cents=1)  # fmt: skip
        admin.top_up(store, ACCOUNT, 10**9)
    finally:
        store.close()
    return _Account(key.access_key, key.access_secret, account.id, flow.id, route.route_id)


@contextmanager
def sandbox_server(folder: Path, *, seed: int = SEED) -> Iterator[SandboxServer]:
    """Start a sandbox in ``folder`` (its database and key live there), frozen; stop it after."""
    from nxlink.store.secretbox import SecretBox

    folder.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{folder / 'nxlink.db'}"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "NXLINK_MASTER_KEY": SecretBox.generate().encoded,
        "NXLINK_ADMIN": "on",
        "NXLINK_ADMIN_TOKEN": token,
        "NXLINK_SIM_SEED": str(seed),
        "NXLINK_SEEDED_IDS": "true",
        "NXLINK_CALLBACK_BACKOFF_SCALE": "0.01",
    }
    made = _prepare(db_url, env)
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [*_nxlink_command(), "serve", "--db", db_url, "--port", str(port), "--no-log"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    server = SandboxServer(
        base_url=base_url, admin_token=token, db_url=db_url, access_key=made.access_key,
        access_secret=made.access_secret, saas_user_id=made.saas_user_id,
        flow_id=made.flow_id, route_id=made.route_id,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nxlink serve exited with {proc.returncode}: "
                                   f"{(folder / 'server.log').read_text()[-2000:]}")  # fmt: skip
            try:
                if httpx.get(base_url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nxlink serve did not answer within {START_TIMEOUT_S} s")
            time.sleep(0.05)
        server.set_clock(now=(time.time_ns() // 1_000_000_000) * 1000, frozen=True)
        yield server
    finally:
        server.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


@pytest.fixture
def nxlink_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A live nxlink sandbox for this test (see :mod:`nxlink.pytest_plugin`)."""
    with sandbox_server(tmp_path_factory.mktemp("nxlink")) as server:
        yield server


@pytest.fixture
def nxlink_client(nxlink_sandbox: SandboxServer) -> Iterator[Client]:
    """A :class:`nxlink.Client` of the sandbox's account, with its admin token."""
    with nxlink_sandbox.client() as client:
        yield client
