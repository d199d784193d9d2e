"""Every answer the test suite receives from an API endpoint, validated against the OpenAPI
document: the schema of that path and HTTP status (an unknown path: the shared 404).

:func:`install` wraps ``create_app`` (every in-process app the tests build, whichever way) in
:class:`ValidatingApp`, and httpx's HTTP transport (the real server processes of the slow
tests); :data:`FAILURES` collects what did not validate, and ``conftest.py`` fails the test
that received it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema

from nxlink.contract.endpoints import API_PREFIX
from nxlink.server import app as server_app
from nxlink.server.openapi import openapi_document
from nxlink.server.settings import Settings

#: What did not validate since the current test began: "<status> <path>: <why>".
FAILURES: list[str] = []
#: How many answers were validated (a test checks that the hook runs).
VALIDATED = [0]


@functools.cache
def _document(envelope: str) -> dict[str, Any]:
    return openapi_document(Settings(envelope=envelope))  # type: ignore[arg-type]


@functools.cache
def _validator(envelope: str, path: str, status: int) -> jsonschema.Draft202012Validator | None:
    """The validator of ``path``'s answers with ``status``; None when the document has none."""
    document = _document(envelope)
    item = document["paths"].get(path)
    if item is None:
        response = document["components"]["responses"]["NotFound"] if status == 404 else None
    else:
        response = item["post"]["responses"].get(str(status))
    if response is None:
        return None
    ref = response.get("$ref")
    if ref:
        response = document["components"]["responses"][ref.rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def problems(envelope: str, path: str, status: int, body: bytes) -> list[str]:
    """Why the answer does not validate (empty: it does)."""
    validator = _validator(envelope, path, status)
    if validator is None:
        return [f"{status} {path}: the document has no answer with status {status}"]
    try:
        answer = json.loads(body)
    except ValueError:
        return [f"{status} {path}: not JSON: {body[:80]!r}"]
    VALIDATED[0] += 1
    error = jsonschema.exceptions.best_match(validator.iter_errors(answer))
    if error is None:
        return []
    # The deepest reason (a oneOf's branch), not "is not valid under any of the given schemas".
    while error.context:
        error = jsonschema.exceptions.best_match(error.context) or error.context[0]
    where = "/".join(map(str, error.absolute_path)) or "(answer)"
    return [f"{status} {path}: {where}: {error.message[:300]}"]


class ValidatingApp:
    """An ASGI app whose API answers are validated on their way out."""

    def __init__(self, app: Any, envelope: str) -> None:
        self.app = app
        self.envelope = envelope

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        status = [0]
        json_answer = [False]
        chunks: list[bytes] = []

        async def watched(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = dict(message.get("headers", ()))
                json_answer[0] = headers.get(b"content-type", b"").startswith(b"application/json")
            elif message["type"] == "http.response.body" and json_answer[0]:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    FAILURES.extend(
                        problems(self.envelope, scope["path"], status[0], b"".join(chunks))
                    )
            await send(message)

        await self.app(scope, receive, watched)


def _validating_create_app(create_app: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(create_app)
    def create(settings: Settings | None = None, *args: Any, **kwargs: Any) -> Any:
        app = create_app(settings, *args, **kwargs)
        return ValidatingApp(app, (settings or Settings()).envelope)

    return create


def _validating_transport(handle: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
    @functools.wraps(handle)
    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = handle(self, request)
        path = request.url.path
        if path.startswith(API_PREFIX) and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            body = response.read()
            # A real server process: its envelope setting is its own; one of the two fits.
            found = [problems(envelope, path, response.status_code, body)
                     for envelope in ("flat", "data")]  # fmt: skip
            if all(found):
                FAILURES.extend(found[0])
        return response

    return handle_request


def install() -> None:
    """Validate every answer from here on (once per process)."""
    if getattr(server_app.create_app, "__wrapped__", None):
        return
    server_app.create_app = _validating_create_app(server_app.create_app)  # type: ignore[assignment]
    httpx.HTTPTransport.handle_request = _validating_transport(  # type: ignore[method-assign]
        httpx.HTTPTransport.handle_request
    )


__all__ = ["FAILURES", "VALIDATED", "ValidatingApp", "install", "problems"]
