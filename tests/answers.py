"""Every answer the test suite receives from an API endpoint, validated against the OpenAPI
document: the schema of that path and HTTP status (an unknown path: the shared 404).

:func:`install` wraps ``create_app`` (every in-process app the tests build, whichever way) in
:class:`ValidatingApp`, and httpx's HTTP transport (the real server processes of the slow
tests), but for the answers of sandbox faults (:data:`FAULT_HEADER`); :data:`FAILURES`
collects what did not validate, and ``conftest.py`` fails the test that received it.
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
#: The header of an answer a sandbox fault made or delayed: what the test asked for, not what
#: the document describes (a fault may answer any status), so it is not validated.
FAULT_HEADER = "x-nxlink-fault"


@functools.cache
def _document(envelope: str, rate_limited: bool) -> dict[str, Any]:
    """The document of a server with ``envelope`` and, when ``rate_limited``, a rate limit
    (which adds the 429 answer)."""
    limit = 1.0 if rate_limited else 0.0
    return openapi_document(Settings(envelope=envelope, rate_limit_per_s=limit))  # type: ignore[arg-type]


Validator = jsonschema.Draft202012Validator


class _Check:
    """The checks of one path and status: the success answer (its page's rows one by one,
    each distinct row once per test run: rows recur across the suite's many listings) or the
    refusal, chosen by ``code`` (the document's ``oneOf`` of the two, whose codes are
    disjoint)."""

    def __init__(self, document: dict[str, Any], schema: dict[str, Any]) -> None:
        components = document["components"]
        self.success: Validator | None = None
        self.error: Validator | None = None
        self.rows: Validator | None = None
        self.rows_at: tuple[str, ...] = ()
        for branch in schema.get("oneOf", [schema]):
            name = branch["$ref"].rsplit("/", 1)[-1]
            if name == "Error":
                self.error = Validator({**branch, "components": components})
                continue
            success = json.loads(json.dumps(components["schemas"][name]))
            for at in (("list",), ("data", "list")):
                holder = success
                for key in at[:-1]:
                    holder = holder["properties"].get(key, {})
                rows = holder.get("properties", {}).get(at[-1])
                if rows is not None and rows.get("type") == "array":
                    self.rows = Validator({**rows["items"], "components": components})
                    self.rows_at = at
                    rows["items"] = {}
            self.success = Validator({**success, "components": components})
        self.valid_rows: set[str] = set()

    def problems(self, answer: Any) -> list[str]:
        success = isinstance(answer, dict) and answer.get("code") == 0
        validator = self.success if success else self.error
        if validator is None:
            return ["(answer): the document has no such answer here"]
        found = _reasons(validator, answer)
        if success and self.rows is not None and not found:
            rows: Any = answer
            for key in self.rows_at:
                rows = rows[key]
            for index, row in enumerate(rows):
                key = json.dumps(row, sort_keys=True)
                if key in self.valid_rows:
                    continue
                reasons = _reasons(self.rows, row, prefix=f"{'/'.join(self.rows_at)}/{index}")
                if reasons:
                    return reasons
                self.valid_rows.add(key)
        return found


def _reasons(validator: Validator, value: Any, *, prefix: str = "") -> list[str]:
    """The deepest reason ``value`` does not validate (a oneOf's branch, not "is not valid under
    any of the given schemas"); empty when it does."""
    if validator.is_valid(value):
        return []
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    assert error is not None
    while error.context:
        error = jsonschema.exceptions.best_match(error.context) or error.context[0]
    where = "/".join(filter(None, [prefix, *map(str, error.absolute_path)])) or "(answer)"
    return [f"{where}: {error.message[:300]}"]


@functools.cache
def _check(envelope: str, path: str, status: int, rate_limited: bool) -> _Check | None:
    """The check of ``path``'s answers with ``status``; None when the document has none."""
    document = _document(envelope, rate_limited)
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
    return _Check(document, response["content"]["application/json"]["schema"])


def problems(
    envelope: str, path: str, status: int, body: bytes, *, rate_limited: bool = False
) -> list[str]:
    """Why the answer does not validate (empty: it does)."""
    check = _check(envelope, path, status, rate_limited)
    if check is None:
        return [f"{status} {path}: the document has no answer with status {status}"]
    try:
        answer = json.loads(body)
    except ValueError:
        return [f"{status} {path}: not JSON: {body[:80]!r}"]
    VALIDATED[0] += 1
    return [f"{status} {path}: {reason}" for reason in check.problems(answer)]


class ValidatingApp:
    """An ASGI app whose API answers are validated on their way out."""

    def __init__(self, app: Any, envelope: str, *, rate_limited: bool = False) -> None:
        self.app = app
        self.envelope = envelope
        self.rate_limited = rate_limited

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
                json_answer[0] = headers.get(b"content-type", b"").startswith(
                    b"application/json"
                ) and not headers.get(FAULT_HEADER.encode())
            elif message["type"] == "http.response.body" and json_answer[0]:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    FAILURES.extend(
                        problems(
                            self.envelope,
                            scope["path"],
                            status[0],
                            b"".join(chunks),
                            rate_limited=self.rate_limited,
                        )
                    )
            await send(message)

        await self.app(scope, receive, watched)


def _validating_create_app(create_app: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(create_app)
    def create(settings: Settings | None = None, *args: Any, **kwargs: Any) -> Any:
        app = create_app(settings, *args, **kwargs)
        settings = settings or Settings()
        return ValidatingApp(app, settings.envelope, rate_limited=settings.rate_limit_per_s > 0)

    return create


def _validating_transport(handle: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
    @functools.wraps(handle)
    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = handle(self, request)
        path = request.url.path
        if (
            path.startswith(API_PREFIX)
            and response.headers.get("content-type", "").startswith("application/json")
            and FAULT_HEADER not in response.headers
        ):
            body = response.read()
            # A real server process: its envelope setting is its own; one of the three fits.
            found = [problems(envelope, path, response.status_code, body)
                     for envelope in ("vendor", "flat", "data")]  # fmt: skip
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
