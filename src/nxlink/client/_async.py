"""The asynchronous client: :class:`AsyncClient`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
import httpx

from nxlink import signing
from nxlink.client._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, Attempts, BaseClient, Region
from nxlink.client.models import Page
from nxlink.client.resources import AsyncTasks, read_any_page
from nxlink.client.sandbox import AsyncSandbox

__all__ = ["AsyncClient"]


class AsyncClient(BaseClient):
    """An asynchronous NXLink client (asyncio or trio); arguments as :class:`~nxlink.Client`.

    ::

        async with nxlink.AsyncClient(base_url="http://127.0.0.1:8000") as client:
            page = await client.tasks.list(min_answer_rate=50)
            async for task in client.tasks.iter(task_status="in-progress"):
                ...

    ``http_client``: your own :class:`httpx.AsyncClient`, not closed by :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        access_key: str | None = None,
        access_secret: str | None = None,
        region: Region | str | None = None,
        base_url: str | None = None,
        algorithm: signing.Algorithm | str = "md5",
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], int] | None = None,
        admin_token: str | None = None,
    ) -> None:
        super().__init__(
            access_key=access_key, access_secret=access_secret, region=region,
            base_url=base_url, algorithm=algorithm, timeout=timeout, max_retries=max_retries,
            clock=clock,
        )  # fmt: skip
        self._owns_http = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.AsyncClient(timeout=self.timeout)
        )
        #: The task list: ``await client.tasks.list(...)``, ``async for t in client.tasks.iter()``.
        self.tasks = AsyncTasks(self)
        #: The sandbox's admin API on the same server (``admin_token``, else
        #: ``NXLINK_ADMIN_TOKEN``): ``client.sandbox.count_requests(path="call/append")``.
        self.sandbox = AsyncSandbox(base_url=self.base_url, admin_token=admin_token,
                                   http_client=self._http)  # fmt: skip

    async def aclose(self) -> None:
        """Close the connection pool (unless it belongs to a ``http_client`` you passed)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def request(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` to any endpoint and return the decoded answer (the whole envelope).

        As :meth:`Client.request <nxlink.Client.request>`: same paths, body, errors and
        retries. ::

            created = await client.request("task/create", {...})
        """
        full, raw, replay_safe = self._prepare(path, body)
        return await self._post(full, raw, replay_safe=replay_safe)

    async def request_page(self, path: str, body: Mapping[str, Any] | None = None) -> Page:
        """POST ``body`` to a list endpoint (``call/list``, ``flow/list``, ``route/list``,
        ``task/list``) and read its page, wherever the server put the page fields: beside
        ``code`` and ``message`` (the vendor's task/list and call/list) or under ``data`` (its
        flow/list and route/list; a server may force one shape on every list). ::

            flows = await client.request_page("flow/list", {"name": "renewal"})
            flow_id = flows.rows[0]["autoFlowId"]

        Sent, retried and refused as :meth:`request`.
        """
        full, raw, replay_safe = self._prepare(path, body)
        return read_any_page(await self._post(full, raw, replay_safe=replay_safe), full, body)

    async def _post(self, path: str, body: bytes, *, replay_safe: bool = True) -> dict[str, Any]:
        """POST ``body`` to ``path``, signed, retried as the policy says; the success payload.

        ``replay_safe``: false when the request may change state (see :class:`Attempts`).
        """
        attempts = Attempts(replay_safe=replay_safe)
        while True:
            request = self._build_request(self._http, path, body, attempts)
            try:
                response = await self._http.send(request, auth=None)
            except httpx.RequestError as exc:
                step = self._on_transport_error(exc, attempts)
            else:
                outcome = self._on_response(response, attempts)
                if isinstance(outcome, dict):
                    return outcome
                step = outcome
            await self._sleep(step.delay)
