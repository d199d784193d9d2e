"""The contract's answer envelope, ``{code, message, traceId}``: built here, for the app and for
the HTTP protocol's own refusals (which answer before any app runs)."""

from __future__ import annotations

import http
import uuid
from typing import Any, Final

import orjson

from nxlink.contract.codes import Code

#: The form of every ``traceId`` (:func:`new_trace_id`), as the OpenAPI document states it.
TRACE_ID_PATTERN: Final = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: The vendor reference page's example ``traceId``.
EXAMPLE_TRACE_ID: Final = "3287f5aa-b8db-4dd7-97b0-03fabac2f4c7"


def envelope(trace_id: str, code: int, message: str) -> dict[str, Any]:
    """The contract's answer without page fields: ``code``, ``message``, ``traceId``."""
    return {"code": code, "message": message, "traceId": trace_id}


def new_trace_id() -> str:
    """A fresh ``traceId`` in the contract's form: a random UUID, lowercase, with dashes."""
    return str(uuid.uuid4())


def refusal(status: int, message: str, *, retry_after_s: int | None = None) -> bytes:
    """A whole HTTP/1.1 answer refusing a request (code 20000), ending with the connection.

    Written straight to a transport by the protocol: a status line, ``content-type``,
    ``content-length``, ``connection: close``, ``x-trace-id`` (the body's ``traceId``) and,
    when given, ``retry-after``.
    """
    trace_id = new_trace_id()
    body = orjson.dumps(envelope(trace_id, Code.BUSINESS_ERROR, message))
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        f"x-trace-id: {trace_id}",
    ]
    if retry_after_s is not None:
        lines.append(f"retry-after: {retry_after_s}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body
