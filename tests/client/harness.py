"""Both client shells behind one small interface, so that every case runs through each.

The sync :class:`~nxlink.Client` reaches the in-process app through :class:`SyncASGITransport`
(httpx's own ``ASGITransport`` driven on an event loop in a helper thread); the async client
uses ``httpx.ASGITransport`` directly, on that same loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from anyio.from_thread import BlockingPortal

from nxlink import AsyncClient, Client, Task, TaskPage

Kind = Literal["sync", "async"]
KINDS: tuple[Kind, ...] = ("sync", "async")
BASE_URL = "http://testserver"


class SyncASGITransport(httpx.BaseTransport):
    """Serve a sync httpx client from an ASGI app, on the portal's event loop."""

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=content, request=request
            )

        return self._portal.call(call)


class AnswersLost(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Deliver each request to ``inner``, then lose the first ``lose`` answers: the server acted
    on the request but the client sees a read timeout."""

    def __init__(self, inner: httpx.BaseTransport | httpx.AsyncBaseTransport, lose: int) -> None:
        self._inner = inner
        self.lose = lose

    def _lost(self, request: httpx.Request) -> None:
        if self.lose > 0:
            self.lose -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(self._inner, httpx.BaseTransport)
        response = self._inner.handle_request(request)
        self._lost(request)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(self._inner, httpx.AsyncBaseTransport)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        self._lost(request)
        return response


@dataclass
class Shell:
    """One client, sync or async, driven synchronously; records requests and sleeps."""

    kind: Kind
    client: Client | AsyncClient
    portal: BlockingPortal
    http: httpx.Client | httpx.AsyncClient
    requests: list[httpx.Request] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    def list(self, **kwargs: Any) -> TaskPage:
        if isinstance(self.client, Client):
            return self.client.tasks.list(**kwargs)
        return self.portal.call(functools.partial(self.client.tasks.list, **kwargs))

    def iter(self, **kwargs: Any) -> list[Task]:
        if isinstance(self.client, Client):
            return list(self.client.tasks.iter(**kwargs))
        client = self.client

        async def walk() -> list[Task]:
            return [task async for task in client.tasks.iter(**kwargs)]

        return self.portal.call(walk)

    def close(self) -> None:
        if isinstance(self.http, httpx.Client):
            self.http.close()
        else:
            self.portal.call(self.http.aclose)


MakeShell = Callable[..., Shell]
