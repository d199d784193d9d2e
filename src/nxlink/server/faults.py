"""A fault applied to an API request, over ASGI (:mod:`nxlink.sandbox.faults` decides which).

``code`` and ``status`` faults are answers like any other. ``drop`` and ``hang`` need the
connection itself: nxlink's HTTP protocol (:mod:`nxlink.server.protocol`, what ``nxlink serve``
runs) offers it to the app as the scope extension :data:`CONNECTION_EXTENSION`, ``{"close":
…, "hold": …}``. ``close()`` closes the connection at once with nothing more sent (the app then
returns without an answer, which the protocol does not replace with its 500); ``hold()`` says
the request is held on purpose, so that a shutdown closes it instead of waiting for it. Under an
ASGI server without the extension (an in-process test client, plain uvicorn), a drop raises
:class:`ConnectionDropped` out of the app, and that server answers as it does any error.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable
from typing import Any, Final

import orjson
from starlette.types import Receive, Scope

from nxlink.contract.codes import Code
from nxlink.sandbox.faults import DEFAULT_MESSAGE_CODES, HANG_MAX_S, Applied, default_message
from nxlink.server.envelope import envelope

#: The scope extension through which the app closes or holds its connection.
CONNECTION_EXTENSION: Final = "nxlink.connection"


class ConnectionDropped(Exception):
    """A ``drop`` (or a ``hang`` past its bound) under an ASGI server that cannot close the
    connection for the app."""


def fault_answer(
    fault: Applied, trace_id: str, *, server_ms: int
) -> tuple[int, int, bytes, tuple[tuple[str, str], ...]]:
    """A ``code`` or ``status`` fault's answer: HTTP status, envelope code, body, headers."""
    if fault.kind == "code":
        assert fault.code is not None
        code = fault.code
        message = fault.message
        if message is None:
            assert code in DEFAULT_MESSAGE_CODES
            message = default_message(code, server_ms=server_ms)
        return 200, code, orjson.dumps(envelope(trace_id, code, message)), ()
    assert fault.kind == "status" and fault.status is not None
    status = fault.status
    message = fault.message or _phrase(status)
    headers: tuple[tuple[str, str], ...] = ()
    if fault.retry_after_s is not None:
        headers = (("retry-after", str(fault.retry_after_s)),)
    body = orjson.dumps(envelope(trace_id, Code.BUSINESS_ERROR, message))
    return status, int(Code.BUSINESS_ERROR), body, headers


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _connection(scope: Scope) -> dict[str, Callable[[], Any]] | None:
    extensions = scope.get("extensions") or {}
    found: dict[str, Callable[[], Any]] | None = extensions.get(CONNECTION_EXTENSION)
    return found


async def drop(scope: Scope) -> None:
    """Close the request's connection with no answer (see the module's doc)."""
    connection = _connection(scope)
    if connection is None:
        raise ConnectionDropped(
            "fault: drop needs nxlink's HTTP protocol (nxlink serve) to close the connection"
        )
    connection["close"]()


async def hang(scope: Scope, receive: Receive, *, max_s: float = HANG_MAX_S) -> None:
    """No answer until the client closes the connection, or for ``max_s``; then :func:`drop`.
    The request's body has been read."""
    connection = _connection(scope)
    if connection is not None:
        connection["hold"]()
    try:
        async with asyncio.timeout(max_s):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass
    await drop(scope)
