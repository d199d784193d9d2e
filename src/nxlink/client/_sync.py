"""The synchronous client: :class:`Client`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from nxlink import signing
from nxlink.client._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, Attempts, BaseClient, Region
from nxlink.client.models import Page
from nxlink.client.resources import Tasks, read_any_page
from nxlink.client.sandbox import Sandbox

__all__ = ["Client"]


class Client(BaseClient):
    """A synchronous NXLink client.

    ::

        with nxlink.Client(region="hk") as client:      # keys from NXLINK_ACCESS_KEY/SECRET
            page = client.tasks.list(task_status="in-progress", page_size=20)
            routes = client.request_page("route/list")  # any list, whatever its shape

    ``access_key``/``access_secret`` default to ``NXLINK_ACCESS_KEY``/``NXLINK_ACCESS_SECRET``.
    Where requests go: ``region`` (``"hk"``, ``"amer"``, ``"idn"``) or ``base_url``, else
    ``NXLINK_BASE_URL``, else ``NXLINK_REGION``, else ``"hk"``. ``algorithm``: ``"md5"`` or
    ``"sha256"``. ``timeout``: seconds (or an :class:`httpx.Timeout`) per attempt.
    ``max_retries``: retries after connection errors, timeouts and HTTP 429/500/502/503/504,
    0.5 s doubling to 8 s with jitter (``Retry-After`` honoured); a call that may change state
    is resent as the same signed bytes, which the server acts on once (see :meth:`request`).
    ``http_client``: your own :class:`httpx.Client` (proxies, transports, ...), not closed by
    :meth:`close`. ``clock``: epoch milliseconds for ``ts`` (default the system clock).
    ``admin_token``: the sandbox's admin token for :attr:`sandbox` (default
    ``NXLINK_ADMIN_TOKEN``).
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
        http_client: httpx.Client | None = None,
        clock: Callable[[], int] | None = None,
        admin_token: str | None = None,
    ) -> None:
        super().__init__(
            access_key=access_key, access_secret=access_secret, region=region,
            base_url=base_url, algorithm=algorithm, timeout=timeout, max_retries=max_retries,
            clock=clock,
        )  # fmt: skip
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=self.timeout)
        #: The task list: ``client.tasks.list(...)``, ``client.tasks.iter(...)``.
        self.tasks = Tasks(self)
        #: The sandbox's admin API on the same server (``admin_token``, else
        #: ``NXLINK_ADMIN_TOKEN``): ``client.sandbox.count_requests(path="call/append")``.
        self.sandbox = Sandbox(base_url=self.base_url, admin_token=admin_token,
                                   http_client=self._http)  # fmt: skip

    def close(self) -> None:
        """Close the connection pool (unless it belongs to a ``http_client`` you passed)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def request(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` to any endpoint and return the decoded answer (the whole envelope).

        ``path``: ``"task/create"`` or ``"/openapi/aiagent/task/create"``. ``body``: a mapping
        (``None`` is ``{}``), serialised once as compact JSON; those exact bytes are signed and
        sent (also on retries, each signed again with a fresh ``ts``). ::

            created = client.request("task/create", {
                "taskName": "renewals", "autoFlowId": 1, "routeId": "CJq6rtX2lg",
                "taskKeep": 0, "startupType": 1,
            })
            task_id = created["data"]["taskId"]
            flows = client.request("flow/list")["data"]["list"]  # or request_page()

        Success (code 0) returns the envelope as sent: ``data`` for a single result, the page
        fields (``total``, ``pageNumber``, ``pageSize``, ``list``) at the top level or under
        ``data`` for a list, as the vendor documents each list (or the server is configured);
        :meth:`request_page` reads either. Anything else raises as
        :meth:`tasks.list <nxlink.client.resources.Tasks.list>` does (:class:`ApiError` and its
        subclasses, with the answer in ``envelope``; :class:`TransportError`).

        Retries: ``task/list``, ``call/list``, ``flow/list`` and ``route/list`` only read, and
        are retried like the task list, each attempt signed afresh. Every other endpoint may
        change state (``task/create``, ``call/append``, ``order/delete``, ``call/delete``,
        ``task/start``, ``task/pause``): each retry sends the first attempt's signed bytes (the
        same ``ts`` and ``sign``), which the server answers as the first time without acting
        again, for 50 s after signing (:data:`~nxlink.client._base.RESEND_WINDOW_MS`; the
        server's window is 60 s). After that, a write that certainly did not reach the server
        (a connection that could not be made, no pooled connection in time, HTTP 429 or 503) is
        signed afresh; one that may have been acted on (a timeout or a connection lost after
        sending, HTTP 500/502/504) raises that first failure (:class:`TimeoutError`,
        :class:`TransportError`, :class:`ApiError`): check (for instance list by
        ``userTaskId``) before sending it again.
        """
        full, raw, replay_safe = self._prepare(path, body)
        return self._post(full, raw, replay_safe=replay_safe)

    def request_page(self, path: str, body: Mapping[str, Any] | None = None) -> Page:
        """POST ``body`` to a list endpoint (``call/list``, ``flow/list``, ``route/list``,
        ``task/list``) and read its page, wherever the server put the page fields: beside
        ``code`` and ``message`` (the vendor's task/list and call/list) or under ``data`` (its
        flow/list and route/list; a server may force one shape on every list). ::

            flows = client.request_page("flow/list", {"name": "renewal"})
            flow_id = flows.rows[0]["autoFlowId"]

        Sent, retried and refused as :meth:`request`.
        """
        full, raw, replay_safe = self._prepare(path, body)
        return read_any_page(self._post(full, raw, replay_safe=replay_safe), full, body)

    def _post(self, path: str, body: bytes, *, replay_safe: bool = True) -> dict[str, Any]:
        """POST ``body`` to ``path``, signed, retried as the policy says; the success payload.

        ``replay_safe``: false when the request may change state (see :class:`Attempts`).
        """
        attempts = Attempts(replay_safe=replay_safe)
        while True:
            request = self._build_request(self._http, path, body, attempts)
            try:
                response = self._http.send(request, auth=None)
            except httpx.RequestError as exc:
                step = self._on_transport_error(exc, attempts)
            else:
                outcome = self._on_response(response, attempts)
                if isinstance(outcome, dict):
                    return outcome
                step = outcome
            self._sleep(step.delay)
