"""The sandbox's admin API from Python: :class:`Sandbox` and :class:`AsyncSandbox`.

``client.sandbox`` on a :class:`~nxlink.Client` (or ``AsyncClient``) shares its connection
pool and base URL; a :class:`Sandbox` of its own needs no access key::

    sandbox = nxlink.Sandbox(base_url="http://127.0.0.1:8000", admin_token="...")
    assert sandbox.count_requests(path="call/append", code=0) == 3

Faults for the next request to an endpoint::

    sandbox.add_fault("task/list", status=503, retry_after=1, times=1)

The token defaults to ``NXLINK_ADMIN_TOKEN``. Each method returns the answer's ``data``;
a refusal raises :class:`~nxlink.ApiError` (HTTP 401 for the token, 400 for a bad
argument, with the server's message), no answer :class:`~nxlink.TransportError`. Admin
calls are not retried.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import httpx

from nxlink.client._base import _outcome, _transport_error, resolve_base_url
from nxlink.client.errors import NxError

__all__ = ["AsyncSandbox", "Sandbox"]

ENV_ADMIN_TOKEN: Final = "NXLINK_ADMIN_TOKEN"
#: Where the admin API lives on a server.
ADMIN_PREFIX: Final = "/_nxlink"
#: What a callback sink's name may be (as the server checks it).
SINK_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True, slots=True)
class _Call:
    """One admin request: method, path under ``/_nxlink``, query parameters, JSON body."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None


_DURATION = re.compile(r"\s*(\d+)\s*([smhd]?)\s*", re.IGNORECASE)
_UNIT_S: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}

#: How far the clock moves: whole seconds, a :class:`datetime.timedelta`, or text such as
#: ``"90s"``, ``"15m"``, ``"1h"``, ``"2d"`` (and ``"1h30m"``).
Duration = int | datetime.timedelta | str


def parse_duration(value: Duration) -> int:
    """Whole seconds from a :data:`Duration`; ``ValueError`` naming what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"duration: expected seconds, a timedelta or text like 1h, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise ValueError(f"duration: must be whole seconds, got {value}")
        return int(seconds)
    if isinstance(value, str):
        parts = _DURATION.findall(value)
        if value.strip() and "".join(n + u for n, u in parts) == re.sub(r"\s+", "", value):
            return sum(int(n) * _UNIT_S[u.lower()] for n, u in parts)
        raise ValueError(f"duration: expected e.g. 90s, 15m, 1h, 2d or 1h30m, got {value!r}")
    raise ValueError(f"duration: expected seconds, a timedelta or text like 1h, got {value!r}")


def _params(**values: Any) -> dict[str, str]:
    """Query parameters from keyword arguments: ``None`` left out, the rest as text."""
    return {name: str(value) for name, value in values.items() if value is not None}


def _journal_filters(
    *,
    path: str | None,
    access_key: str | None,
    code: int | None,
    since: int | None,
    until: int | None,
    contains: str | None,
) -> dict[str, str]:
    return _params(path=path, accessKey=access_key, code=code, since=since, until=until,
                   contains=contains)  # fmt: skip


def _fault_body(
    endpoint: str,
    *,
    latency_ms: int | tuple[int, int] | None,
    code: int | None,
    message: str | None,
    status: int | None,
    retry_after: int | None,
    drop: bool,
    hang: bool,
    times: int | None,
    probability: float | None,
    access_key: str | None,
) -> dict[str, Any]:
    """The ``POST /_nxlink/faults`` body: the kind from the one of ``latency_ms``, ``code``,
    ``status``, ``drop`` and ``hang`` given (anything else is the server's to judge)."""
    kinds = [name for name, given in (("latency", latency_ms is not None),
                                      ("code", code is not None), ("status", status is not None),
                                      ("drop", drop), ("hang", hang)) if given]  # fmt: skip
    if len(kinds) != 1:
        raise ValueError(
            "give one of latency_ms=, code=, status=, drop=True, hang=True"
            + (f"; got {', '.join(kinds)}" if kinds else "")
        )
    body: dict[str, Any] = {"endpoint": endpoint, "kind": kinds[0]}
    if isinstance(latency_ms, tuple):
        body["ms"], body["maxMs"] = latency_ms
    elif latency_ms is not None:
        body["ms"] = latency_ms
    fields = {"code": code, "message": message, "status": status, "retryAfter": retry_after,
              "times": times, "probability": probability, "accessKey": access_key}  # fmt: skip
    body.update((name, value) for name, value in fields.items() if value is not None)
    return body


class _SandboxCore:
    """The admin calls as :class:`_Call` values and their answers as ``data``; no I/O."""

    def __init__(self, *, base_url: str, admin_token: str | None) -> None:
        token = admin_token if admin_token is not None else os.environ.get(ENV_ADMIN_TOKEN)
        self.base_url = base_url
        self._token = token or None

    def _request(self, http: httpx.Client | httpx.AsyncClient, call: _Call) -> httpx.Request:
        if self._token is None:
            raise NxError(f"no admin token: pass admin_token= or set {ENV_ADMIN_TOKEN}")
        return http.build_request(
            call.method,
            self.base_url + ADMIN_PREFIX + call.path,
            params=call.params,
            json=call.body,
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
        )

    @staticmethod
    def _data(response: httpx.Response) -> Any:
        outcome = _outcome(response, None)
        if isinstance(outcome, dict):
            return outcome.get("data")
        raise outcome

    def _failed(self, exc: httpx.RequestError) -> NxError:
        return _transport_error(exc, self.base_url)

    # -- the calls ---------------------------------------------------------------------------
    @staticmethod
    def _requests_call(limit: int | None, **filters: Any) -> _Call:
        return _Call("GET", "/requests", {**_journal_filters(**filters), **_params(limit=limit)})

    @staticmethod
    def _count_call(**filters: Any) -> _Call:
        return _Call("GET", "/requests/count", _journal_filters(**filters))

    @staticmethod
    def _set_clock_call(
        now: int | datetime.datetime | None, speed: float | None, frozen: bool | None
    ) -> _Call:
        if isinstance(now, datetime.datetime):
            if now.tzinfo is None:
                raise ValueError("now: give an aware datetime (with a time zone) or epoch ms")
            now = round(now.timestamp() * 1000)
        body = {k: v for k, v in (("now", now), ("speed", speed), ("frozen", frozen))
                if v is not None}  # fmt: skip
        return _Call("POST", "/clock", body=body)

    @staticmethod
    def _advance_call(by: Duration) -> _Call:
        return _Call("POST", "/clock/advance", body={"seconds": parse_duration(by)})

    @staticmethod
    def _reset_call(account: str | None, *, all_accounts: bool, catalog: bool) -> _Call:
        flags = _params(all="true" if all_accounts else None, catalog="true" if catalog else None)
        return _Call("POST", "/reset", {**_params(account=account), **flags})

    @staticmethod
    def _snapshot_call(method: str, name: str, action: str = "") -> _Call:
        return _Call(method, f"/snapshots/{quote(name, safe='')}{action}")

    @staticmethod
    def _sink_call(method: str, name: str, limit: int | None = None) -> _Call:
        if not SINK_NAME.fullmatch(name):
            raise NxError(f"sink name: must be 1 to 64 of A-Z a-z 0-9 _ . -, got {name[:80]!r}")
        return _Call(method, f"/sink/{name}", _params(limit=limit))

    @staticmethod
    def _add_callback_fault_call(
        url: str, delay_ms: int | None, fail_first: int | None, fail_status: int | None
    ) -> _Call:
        body = {"url": url, "delayMs": delay_ms, "failFirst": fail_first,
                "failStatus": fail_status}  # fmt: skip
        given = {name: value for name, value in body.items() if value is not None}
        return _Call("POST", "/callback-faults", body=given)

    @staticmethod
    def _deliveries_call(
        event_id: str | None, url: str | None, status: int | None, delivered: bool | None,
        limit: int | None,
    ) -> _Call:  # fmt: skip
        flag = None if delivered is None else ("true" if delivered else "false")
        return _Call("GET", "/deliveries", _params(eventId=event_id, url=url, status=status,
                                                   delivered=flag, limit=limit))  # fmt: skip

    @staticmethod
    def _add_fault_call(endpoint: str, **options: Any) -> _Call:
        return _Call("POST", "/faults", body=_fault_body(endpoint, **options))

    @staticmethod
    def _remove_fault_call(fault_id: str) -> _Call:
        return _Call("DELETE", "/faults/" + quote(str(fault_id), safe=""))


class Sandbox(_SandboxCore):
    """The admin API, synchronously. ``http_client``: your own :class:`httpx.Client` (not
    closed by :meth:`close`)."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        admin_token: str | None = None,
        http_client: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(base_url=resolve_base_url(base_url=base_url, region=None),
                         admin_token=admin_token)  # fmt: skip
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: _Call) -> Any:
        request = self._request(self._http, call)
        try:
            response = self._http.send(request)
        except httpx.RequestError as exc:
            raise self._failed(exc) from exc
        return self._data(response)

    # -- the request journal -----------------------------------------------------------------
    def requests(
        self,
        *,
        path: str | None = None,
        access_key: str | None = None,
        code: int | None = None,
        since: int | None = None,
        until: int | None = None,
        contains: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """The journal: ``{"total": matches, "list": [entries]}``, the newest ``limit``
        (default 100) matches, oldest first. Filters as :meth:`count_requests`."""
        call = self._requests_call(limit, path=path, access_key=access_key, code=code,
                                   since=since, until=until, contains=contains)  # fmt: skip
        return dict(self._send(call))

    def count_requests(
        self,
        *,
        path: str | None = None,
        access_key: str | None = None,
        code: int | None = None,
        since: int | None = None,
        until: int | None = None,
        contains: str | None = None,
    ) -> int:
        """How many journal entries match: ``path`` (``call/append``), ``access_key``,
        answer ``code``, ``since``/``until`` (epoch ms), ``contains`` (body substring)."""
        call = self._count_call(path=path, access_key=access_key, code=code, since=since,
                                until=until, contains=contains)  # fmt: skip
        return int(self._send(call)["count"])

    def clear_requests(self) -> int:
        """Empty the journal; how many entries it held."""
        return int(self._send(_Call("DELETE", "/requests"))["cleared"])

    # -- the clock ---------------------------------------------------------------------------
    def clock(self) -> dict[str, Any]:
        """The sandbox's clock: ``{"now": epoch ms, "speed": x, "frozen": bool}``."""
        return dict(self._send(_Call("GET", "/clock")))

    def set_clock(
        self,
        *,
        now: int | datetime.datetime | None = None,
        speed: float | None = None,
        frozen: bool | None = None,
    ) -> dict[str, Any]:
        """Set the time (epoch ms or an aware datetime), the speed, or freeze/unfreeze;
        the clock as it is then."""
        return dict(self._send(self._set_clock_call(now, speed, frozen)))

    def advance(self, by: Duration) -> dict[str, Any]:
        """Move the clock ``by`` (seconds, a timedelta, ``"1h"``) after running everything
        due on the way; what happened (``callsPlaced``, ``calls``, ``statusChanges``, ...)."""
        return dict(self._send(self._advance_call(by)))

    # -- reset and snapshots -----------------------------------------------------------------
    def reset(
        self, account: str | None = None, *, all_accounts: bool = False, catalog: bool = False
    ) -> dict[str, Any]:
        """Delete the runtime data of ``account`` (or, with ``all_accounts``, of every account):
        tasks, contacts, calls, callbacks, write replays and its journal entries; with
        ``catalog`` its access keys, flows and routes too. ``{"accounts", "catalog",
        "deleted": {what: how many}}``."""
        return dict(self._send(self._reset_call(account, all_accounts=all_accounts,
                                                catalog=catalog)))  # fmt: skip

    def snapshot(self, name: str) -> dict[str, Any]:
        """Copy the whole sandbox's data as snapshot ``name`` (replacing one of that name):
        ``{"name", "createdMs", "schemaVersion", "tasks"}``."""
        return dict(self._send(self._snapshot_call("POST", name))["snapshot"])

    def restore(self, name: str) -> dict[str, Any]:
        """Put snapshot ``name`` back: every answer is again the one given when it was taken.
        An unknown name raises :class:`~nxlink.ApiError` (HTTP 404)."""
        return dict(self._send(self._snapshot_call("POST", name, "/restore"))["restored"])

    def snapshots(self) -> list[dict[str, Any]]:
        """The server's snapshots, by name."""
        return list(self._send(_Call("GET", "/snapshots"))["list"])

    def delete_snapshot(self, name: str) -> None:
        """Remove snapshot ``name`` (HTTP 404 :class:`~nxlink.ApiError` when there is none)."""
        self._send(self._snapshot_call("DELETE", name))

    # -- the callback sink -------------------------------------------------------------------
    def sink(self, name: str, *, limit: int | None = None) -> dict[str, Any]:
        """What was POSTed to ``/_nxlink/sink/{name}``: ``{"total": n, "list": [records]}``,
        the newest ``limit`` (default 100), oldest first; each record has ``receivedMs``,
        ``eventId``, ``accessKey``, ``signatureValid``, ``accountId``, ``signatureProblem``,
        ``headers`` and ``body`` (a callback's: ``eventId``, ``eventType``, ``eventTs`` and the
        task's or the call record's keys, all at the top level)."""
        return dict(self._send(self._sink_call("GET", name, limit)))

    def clear_sink(self, name: str) -> int:
        """Empty the sink ``name``; how many records it held."""
        return int(self._send(self._sink_call("DELETE", name))["cleared"])

    # -- callback faults and deliveries ------------------------------------------------------
    def callback_faults(self) -> list[dict[str, Any]]:
        """The callback fault rules, oldest first."""
        return list(self._send(_Call("GET", "/callback-faults"))["list"])

    def add_callback_fault(
        self,
        url: str = "",
        *,
        delay_ms: int | None = None,
        fail_first: int | None = None,
        fail_status: int | None = None,
    ) -> dict[str, Any]:
        """A rule for callbacks whose URL contains ``url`` (empty: all): their first
        ``fail_first`` tries fail as HTTP ``fail_status`` (default 500) without being sent,
        and each POST sent waits ``delay_ms`` first. Returns the rule (with its ``id``)."""
        call = self._add_callback_fault_call(url, delay_ms, fail_first, fail_status)
        return dict(self._send(call))

    def remove_callback_fault(self, fault_id: int) -> None:
        """Remove one rule (ApiError 404 when there is none)."""
        self._send(_Call("DELETE", f"/callback-faults/{int(fault_id)}"))

    def clear_callback_faults(self) -> int:
        """Remove every rule; how many there were."""
        return int(self._send(_Call("DELETE", "/callback-faults"))["cleared"])

    def deliveries(
        self,
        *,
        event_id: str | None = None,
        url: str | None = None,
        status: int | None = None,
        delivered: bool | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Callback delivery tries: ``{"total": n, "list": [tries]}``, the newest ``limit``
        (default 100) matches, oldest first. Filters: ``event_id``, ``url`` (a part of it),
        the receiver's HTTP ``status``, ``delivered``."""
        call = self._deliveries_call(event_id, url, status, delivered, limit)
        return dict(self._send(call))

    # -- faults ------------------------------------------------------------------------------
    def add_fault(
        self,
        endpoint: str = "all",
        *,
        latency_ms: int | tuple[int, int] | None = None,
        code: int | None = None,
        message: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        drop: bool = False,
        hang: bool = False,
        times: int | None = None,
        probability: float | None = None,
        access_key: str | None = None,
    ) -> dict[str, Any]:
        """Add a fault rule for ``endpoint`` (``task/list``, its full path, or ``all``); the
        rule as the server keeps it (its ``id`` for :meth:`remove_fault`).

        Exactly one of: ``latency_ms`` (milliseconds, or a ``(low, high)`` range drawn from),
        ``code`` (the envelope with that code at HTTP 200; ``message`` needed but for 1001 to
        1005), ``status`` (that HTTP status; ``retry_after`` seconds, ``message``), ``drop``
        (the connection closed without an answer) or ``hang`` (no answer until the client
        gives up). ``times``: for the next N matching requests (default: until removed);
        ``probability``: the chance it applies to each (default 1); ``access_key``: only
        requests with that access key. A bad rule raises :class:`~nxlink.ApiError` (HTTP 400)
        naming each bad field; more than one kind, or none, raises ``ValueError`` unsent."""
        call = self._add_fault_call(endpoint, latency_ms=latency_ms, code=code, message=message,
                                    status=status, retry_after=retry_after, drop=drop,
                                    hang=hang, times=times, probability=probability,
                                    access_key=access_key)  # fmt: skip
        return dict(self._send(call))

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules, oldest first (a rule whose ``times`` ran out is gone)."""
        return list(self._send(_Call("GET", "/faults"))["list"])

    def remove_fault(self, fault_id: str) -> dict[str, Any]:
        """Remove one rule; the rule. An unknown id raises :class:`~nxlink.ApiError` (404)."""
        return dict(self._send(self._remove_fault_call(fault_id)))

    def clear_faults(self) -> int:
        """Remove every rule; how many there were."""
        return int(self._send(_Call("DELETE", "/faults"))["cleared"])


class AsyncSandbox(_SandboxCore):
    """The admin API, asynchronously; methods as :class:`Sandbox`."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        admin_token: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(base_url=resolve_base_url(base_url=base_url, region=None),
                         admin_token=admin_token)  # fmt: skip
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: _Call) -> Any:
        request = self._request(self._http, call)
        try:
            response = await self._http.send(request)
        except httpx.RequestError as exc:
            raise self._failed(exc) from exc
        return self._data(response)

    async def requests(
        self,
        *,
        path: str | None = None,
        access_key: str | None = None,
        code: int | None = None,
        since: int | None = None,
        until: int | None = None,
        contains: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        call = self._requests_call(limit, path=path, access_key=access_key, code=code,
                                   since=since, until=until, contains=contains)  # fmt: skip
        return dict(await self._send(call))

    async def count_requests(
        self,
        *,
        path: str | None = None,
        access_key: str | None = None,
        code: int | None = None,
        since: int | None = None,
        until: int | None = None,
        contains: str | None = None,
    ) -> int:
        call = self._count_call(path=path, access_key=access_key, code=code, since=since,
                                until=until, contains=contains)  # fmt: skip
        return int((await self._send(call))["count"])

    async def clear_requests(self) -> int:
        return int((await self._send(_Call("DELETE", "/requests")))["cleared"])

    async def clock(self) -> dict[str, Any]:
        return dict(await self._send(_Call("GET", "/clock")))

    async def set_clock(
        self,
        *,
        now: int | datetime.datetime | None = None,
        speed: float | None = None,
        frozen: bool | None = None,
    ) -> dict[str, Any]:
        return dict(await self._send(self._set_clock_call(now, speed, frozen)))

    async def advance(self, by: Duration) -> dict[str, Any]:
        return dict(await self._send(self._advance_call(by)))

    async def reset(
        self, account: str | None = None, *, all_accounts: bool = False, catalog: bool = False
    ) -> dict[str, Any]:
        call = self._reset_call(account, all_accounts=all_accounts, catalog=catalog)
        return dict(await self._send(call))

    async def snapshot(self, name: str) -> dict[str, Any]:
        return dict((await self._send(self._snapshot_call("POST", name)))["snapshot"])

    async def restore(self, name: str) -> dict[str, Any]:
        return dict((await self._send(self._snapshot_call("POST", name, "/restore")))["restored"])

    async def snapshots(self) -> list[dict[str, Any]]:
        return list((await self._send(_Call("GET", "/snapshots")))["list"])

    async def delete_snapshot(self, name: str) -> None:
        await self._send(self._snapshot_call("DELETE", name))

    async def sink(self, name: str, *, limit: int | None = None) -> dict[str, Any]:
        return dict(await self._send(self._sink_call("GET", name, limit)))

    async def clear_sink(self, name: str) -> int:
        return int((await self._send(self._sink_call("DELETE", name)))["cleared"])

    async def callback_faults(self) -> list[dict[str, Any]]:
        return list((await self._send(_Call("GET", "/callback-faults")))["list"])

    async def add_callback_fault(
        self,
        url: str = "",
        *,
        delay_ms: int | None = None,
        fail_first: int | None = None,
        fail_status: int | None = None,
    ) -> dict[str, Any]:
        call = self._add_callback_fault_call(url, delay_ms, fail_first, fail_status)
        return dict(await self._send(call))

    async def remove_callback_fault(self, fault_id: int) -> None:
        await self._send(_Call("DELETE", f"/callback-faults/{int(fault_id)}"))

    async def clear_callback_faults(self) -> int:
        return int((await self._send(_Call("DELETE", "/callback-faults")))["cleared"])

    async def deliveries(
        self,
        *,
        event_id: str | None = None,
        url: str | None = None,
        status: int | None = None,
        delivered: bool | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        call = self._deliveries_call(event_id, url, status, delivered, limit)
        return dict(await self._send(call))

    async def add_fault(
        self,
        endpoint: str = "all",
        *,
        latency_ms: int | tuple[int, int] | None = None,
        code: int | None = None,
        message: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        drop: bool = False,
        hang: bool = False,
        times: int | None = None,
        probability: float | None = None,
        access_key: str | None = None,
    ) -> dict[str, Any]:
        call = self._add_fault_call(endpoint, latency_ms=latency_ms, code=code, message=message,
                                    status=status, retry_after=retry_after, drop=drop,
                                    hang=hang, times=times, probability=probability,
                                    access_key=access_key)  # fmt: skip
        return dict(await self._send(call))

    async def faults(self) -> list[dict[str, Any]]:
        return list((await self._send(_Call("GET", "/faults")))["list"])

    async def remove_fault(self, fault_id: str) -> dict[str, Any]:
        return dict(await self._send(self._remove_fault_call(fault_id)))

    async def clear_faults(self) -> int:
        return int((await self._send(_Call("DELETE", "/faults")))["cleared"])
