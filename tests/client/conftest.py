"""Fixtures of the client tests: an event loop thread, and both shells of the client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import httpx
import pytest
from anyio.from_thread import BlockingPortal

from client.harness import (
    BASE_URL,
    KINDS,
    AnswersLost,
    Kind,
    MakeShell,
    Shell,
    SyncASGITransport,
)
from nxlink import AsyncClient, Client


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as running:
        yield running


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    value: Kind = request.param
    return value


@pytest.fixture
def make_shell(portal: BlockingPortal) -> Iterator[MakeShell]:
    """``make_shell(kind, app=... | transport=..., **client_kwargs)``; with neither, the
    shell goes over the network to ``base_url``. ``lose_answers=N``: the app acts on the first
    N requests but their answers are lost (the client sees a read timeout)."""
    made: list[Shell] = []

    def make(
        kind: Kind,
        *,
        app: Any = None,
        transport: httpx.MockTransport | None = None,
        lose_answers: int = 0,
        **kwargs: Any,
    ) -> Shell:
        kwargs.setdefault("access_key", "AK-test")
        kwargs.setdefault("access_secret", "s3cr3t")
        kwargs.setdefault("base_url", BASE_URL)
        requests: list[httpx.Request] = []
        delays: list[float] = []
        shell: Shell
        if kind == "sync":
            sync_transport: httpx.BaseTransport | None = transport
            if sync_transport is None and app is not None:
                sync_transport = SyncASGITransport(app, portal)
                if lose_answers:
                    sync_transport = AnswersLost(sync_transport, lose_answers)
            http = httpx.Client(
                transport=sync_transport, event_hooks={"request": [requests.append]}
            )
            client = Client(http_client=http, **kwargs)
            client._sleep = delays.append  # type: ignore[method-assign]
            shell = Shell(kind, client, portal, http, requests, delays)
        else:

            async def record(request: httpx.Request) -> None:
                requests.append(request)

            async def sleep(seconds: float) -> None:
                delays.append(seconds)

            async_transport: httpx.AsyncBaseTransport | None = transport
            if async_transport is None and app is not None:
                async_transport = httpx.ASGITransport(app=app)
                if lose_answers:
                    async_transport = AnswersLost(async_transport, lose_answers)
            ahttp = httpx.AsyncClient(transport=async_transport, event_hooks={"request": [record]})
            aclient = AsyncClient(http_client=ahttp, **kwargs)
            aclient._sleep = sleep  # type: ignore[method-assign]
            shell = Shell(kind, aclient, portal, ahttp, requests, delays)
        made.append(shell)
        return shell

    yield make
    for shell in made:
        shell.close()
