"""The ASGI app: ``create_app(settings)``.

Routes parse and authenticate, call one service function and render the envelope. A pure ASGI
middleware gives every answer its ``traceId`` (body and ``X-Trace-Id``), turns a database that
cannot answer in time (:class:`StoreUnavailable`) into a 503 (:func:`store_busy`, also Starlette's
handler for its routes) and any unexpected exception into a 500 envelope without a stack trace,
writes the request log. :class:`FastRoutes` calls the API endpoints (plain ASGI callables)
directly; Starlette serves the other routes. The endpoints, their paths (aliases included),
thread pools and body limits come from :mod:`nxlink.contract.endpoints`; CORS, when origins are
set, is Starlette's middleware around both.

The event loop never waits on the database: each API request reads its body on the loop, then
makes one hop to a database thread (:mod:`nxlink.server.dbpool`) for authentication (the key
lookup), parsing, the store's work and rendering the answer's bytes. Reads and writes have
threads of their own (as SQLite has readers in parallel and one writer): a write waiting for the
database lock never holds up the task list, and a slow search never holds up a write.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from email.message import Message as MimeMessage
from typing import Any, Final

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nxlink.contract.codes import AUTH_HEADERS, Code
from nxlink.contract.endpoints import API_PREFIX as API_PREFIX
from nxlink.contract.endpoints import (
    CALL_LIST,
    ENDPOINTS,
    FLOW_LIST,
    ROUTE_LIST,
    TASK_LIST,
    Endpoint,
)
from nxlink.dialer.simulator import SharedSimClock, Simulator
from nxlink.sandbox.clock import SandboxClock, Timeline
from nxlink.sandbox.faults import HANG_MAX_S, Applied, Faults
from nxlink.sandbox.journal import Journal
from nxlink.sandbox.sink import Sink
from nxlink.server.admin import admin_routes
from nxlink.server.auth import Caller, Generations, authenticate, header_map
from nxlink.server.dbpool import DbThreads
from nxlink.server.envelope import envelope, new_trace_id
from nxlink.server.faults import ConnectionDropped, drop, fault_answer, hang
from nxlink.server.log import RequestLog
from nxlink.server.openapi import docs_html, openapi_document
from nxlink.server.recordings import ROUTE as RECORDING_ROUTE
from nxlink.server.recordings import RecordingFiles, recording_endpoint
from nxlink.server.settings import Settings
from nxlink.server.ui import ui_routes
from nxlink.service import catalog, lifecycle, replays, requests
from nxlink.service import tasks as task_service
from nxlink.service.errors import ApiError
from nxlink.service.lifecycle import Clock
from nxlink.service.recordings import RecordingLinks
from nxlink.service.tasks import TaskPage
from nxlink.store import Store, StoreUnavailable, open_store
from nxlink.store.base import TaskState
from nxlink.store.ratelimit import Limit

JSON = "application/json"
TASK_LIST_PATH = TASK_LIST.path
#: The request headers a browser may send across origins (CORS): the auth headers.
CORS_HEADERS = (*AUTH_HEADERS, "algorithm", "Content-Type")
#: A lifecycle endpoint: the caller and the decoded body in, the answer's fields out.
Handler = Callable[[Caller, dict[str, Any]], dict[str, Any]]
#: An API endpoint's work on a database thread: the caller, the raw body and the trace id in,
#: the answer's bytes out.
Answer = Callable[[Caller, bytes, str], bytes]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class State:
    """What the handlers share: settings, store, clock, log, the database threads."""

    def __init__(
        self, settings: Settings, store: Store, clock: Callable[[], int], log: RequestLog
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.log = log
        # Where every store call of a request runs (never on the event loop).
        self.reads = DbThreads(settings.db_threads, name="nxlink-read")
        self.writes = DbThreads(settings.db_write_threads, name="nxlink-write")
        # The readiness probe asks whether the database answers, not whether a request's thread
        # is free; and a probe stuck on a dead database holds none of theirs.
        self.probe = DbThreads(1, name="nxlink-ready")
        # The recordings' links, and their files.
        self.links = RecordingLinks(
            store,
            base_url=settings.public_base_url(),
            ttl_s=settings.recording_ttl_s,
            key=settings.recording_key,
        )
        self.recordings = RecordingFiles(store)
        # The sandbox's admin API and its request journal (nxlink.server.admin).
        self.admin_token = (
            (settings.admin_token or secrets.token_urlsafe(24)) if settings.admin else None
        )
        self.journal = (
            Journal(settings.journal_size, body_bytes=settings.journal_body_bytes)
            if settings.admin
            else None
        )
        # The process's simulator: the background dialer with --simulate, and what the
        # sandbox's clock moves (nxlink.sandbox.clock); the clock it follows is made at start.
        self.simulator: Simulator | None = None
        self.sandbox_clock: SandboxClock | None = None
        if settings.simulate or settings.admin:
            self.simulator = Simulator(store, seed=settings.sim_seed, links=self.links)
        # The time records are stamped with: the shared timeline (real time until a
        # simulator or the sandbox's clock makes one).
        self.timeline = Timeline(store, real_ms=clock)
        if settings.admin and self.simulator is not None:
            self.sandbox_clock = SandboxClock(store, self.simulator, real_ms=clock,
                                              timeline=self.timeline)  # fmt: skip
        # Where the clock's moves run: one at a time, beside the requests' threads.
        self.sandbox_threads = DbThreads(1, name="nxlink-sandbox")
        self.sink = Sink(settings.sink_size) if settings.admin else None
        # Faults on demand for API requests (nxlink.sandbox.faults), drawn from the seed; and
        # the longest a ``hang`` holds a request.
        self.faults = Faults(settings.sim_seed) if settings.admin else None
        self.hang_max_s = HANG_MAX_S
        # Each declared endpoint's work (set by create_app), for the dashboard.
        self.answers: dict[str, Answer] = {}
        # Rate limits per access key, off unless a rate is set.
        self.rate_limit = (
            Limit(settings.rate_limit_per_s, settings.rate_limit_burst)
            if settings.rate_limit_per_s > 0
            else None
        )

    def record_clock(self) -> Clock:
        """The clock a write is made with: records on the shared timeline (the dialers' and
        the sandbox's clock), callbacks and the outbox on real time."""
        return Clock(now=self.timeline.now_s(), now_ms=self.clock())

    def generations(self, endpoint: Endpoint, path: str) -> Generations:
        """The header pairs ``endpoint`` accepts at ``path`` under these settings."""
        settings = self.settings
        return Generations.of(
            endpoint,
            operation=path.removeprefix(API_PREFIX),
            strict=settings.strict_headers,
            extra_biz_types=settings.extra_biz_types,
            extra_actions=settings.extra_actions,
        )

    def body_limit(self, endpoint: Endpoint) -> int:
        """The largest body ``endpoint`` accepts, in bytes."""
        if endpoint.body_limit == "import":
            return self.settings.max_import_body_bytes
        return self.settings.max_body_bytes


def _page_body(trace_id: str, page: TaskPage, *, nest: bool) -> bytes:
    """The success envelope around tasks that are already JSON (no re-serialising).

    One join builds the whole body: a second copy of a megabyte page costs more than the join.
    """
    head = (
        f'{{"code":0,"message":"success","traceId":"{trace_id}",'
        + ('"data":{' if nest else "")
        + f'"total":{page.total},"pageNumber":{page.page_number},"pageSize":{page.page_size},'
        + '"list":['
    ).encode()
    tail = b"]}}" if nest else b"]}"
    tasks = page.tasks
    if not tasks:
        return head + tail
    parts = list(tasks)
    parts[0] = head + parts[0]
    parts[-1] = parts[-1] + tail
    return b",".join(parts)


def _json_response(
    scope: Scope, body: dict[str, Any], status: int = 200, **headers: str
) -> Response:
    scope["state"]["nx_code"] = body["code"]
    return Response(
        orjson.dumps(body), status_code=status, media_type=JSON, headers=headers or None
    )


def unavailable(scope: Scope, message: str, *, retry_after_s: int) -> Response:
    """HTTP 503 with ``Retry-After`` and the envelope: the database cannot answer now."""
    body = envelope(scope["state"]["nx_trace"], Code.BUSINESS_ERROR, message)
    return _json_response(scope, body, 503, **{"Retry-After": str(retry_after_s)})


def store_busy(scope: Scope, exc: StoreUnavailable, *, retry_after_s: int) -> Response:
    """The one answer to :class:`StoreUnavailable` (a lock, pool or statement timeout),
    whichever endpoint met it: 503, ``Retry-After``, and the store's short reason."""
    lines = str(exc).strip().splitlines()
    reason = lines[0][:200] if lines else ""
    message = f"database busy, try again: {reason}" if reason else "database busy, try again"
    return unavailable(scope, message, retry_after_s=retry_after_s)


def _too_big(limit: int) -> ApiError:
    return ApiError(
        Code.BUSINESS_ERROR, f"body: larger than the limit of {limit} bytes", http_status=413
    )


class RateLimited(Exception):
    """An access key past its rate limit: HTTP 429 with ``Retry-After``."""

    def __init__(self, access_key: str, wait_ms: float) -> None:
        self.retry_after_s = max(1, math.ceil(wait_ms / 1000))
        super().__init__(
            f"rate limit: too many requests for access key {access_key}; "
            f"try again in {self.retry_after_s} s"
        )


#: The trace id a write's kept answer is made with, replaced by each answer's own: a UUID of the
#: same length as every trace id (:func:`new_trace_id`), so that the kept bytes read as an
#: answer of the contract and the swap changes no offset.
REPLAY_TRACE: Final = "00000000-0000-0000-0000-000000000000"


class ClientGone(Exception):
    """The client closed the connection before its body ended: nothing is processed or sent."""


async def _read_body(
    receive: Receive, headers: Mapping[str, str], limit: int, *, timeout_s: float
) -> bytes:
    """The raw body, refused with 413 as soon as it passes ``limit``, and with 408 unless it
    has all arrived within ``timeout_s`` (the request's headers have just arrived)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_big(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientGone  # a cut-off body is never taken for a whole one
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_big(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise ApiError(
            Code.BUSINESS_ERROR,
            f"body: not received within {timeout_s:g} s of the headers",
            http_status=408,
        ) from None
    return b"".join(chunks)


#: Answers after which the connection ends: the request's body was not read to its end.
_CLOSING = frozenset({408, 413, 431})


async def _send_json(
    send: Send, status: int, payload: bytes, *, extra: Sequence[tuple[str, str]] = ()
) -> None:
    """The whole answer in two messages (no Starlette response object on the hot path)."""
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode()),
               *((name.encode(), value.encode()) for name, value in extra)]  # fmt: skip
    if status in _CLOSING:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _check_content_type(headers: Mapping[str, str]) -> None:
    content_type = headers.get("content-type")
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != JSON:
        raise ApiError(
            Code.BUSINESS_ERROR,
            f"Content-Type: must be application/json, got {content_type[:60]!r}",
            http_status=415,
        )
    parsed = MimeMessage()
    parsed["content-type"] = content_type
    charset = parsed.get_content_charset()
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise ApiError(
            Code.BUSINESS_ERROR,
            f"Content-Type: the body must be UTF-8, got charset {charset[:40]!r}",
            http_status=415,
        )


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Callable[[], int] | None = None,
    new_task_id: Callable[[], str] = lifecycle.new_task_id,
) -> ASGIApp:
    """Build the app. ``store``, ``clock`` (epoch ms) and the taskId factory may be given,
    for tests."""
    settings = settings or Settings()
    state = State(
        settings,
        store if store is not None else open_store(settings.db),
        clock or _now_ms,
        RequestLog(settings.log_file, enabled=settings.log_requests),
    )
    # Which lists nest their page fields under "data": each as the vendor documents it, or all
    # one way (NXLINK_ENVELOPE).
    nested = {e.name for e in ENDPOINTS if e.paged and e.page_shape(settings.envelope) == "data"}

    faults = state.faults

    async def faulted(fault: Applied, scope: Scope, receive: Receive, send: Send) -> None:
        """A fault's answer instead of the endpoint's (``server/faults.py``)."""
        if fault.kind == "drop":
            await drop(scope)
        elif fault.kind == "hang":
            await hang(scope, receive, max_s=state.hang_max_s)
        else:
            trace_id = scope["state"]["nx_trace"]
            status, code, payload, extra = fault_answer(fault, trace_id, server_ms=state.clock())
            scope["state"]["nx_code"] = code
            await _send_json(send, status, payload, extra=extra)

    def api_endpoint(endpoint: Endpoint, path: str, answer: Answer) -> ASGIApp:
        """An API endpoint as a plain ASGI app, checked in the contract's order: the body's
        size and media type on the loop, then authentication and ``answer`` in one hop to a
        read or write thread (as declared). A :class:`StoreUnavailable` goes up to the
        middleware (503). Once the body is read, a sandbox fault that matches the path and the
        ``accessKey`` header answers instead of all that, or (latency) waits before it."""
        threads = state.reads if endpoint.read_only else state.writes
        limit = state.body_limit(endpoint)
        generations = state.generations(endpoint, path)

        def authenticated(headers: dict[str, str], body: bytes) -> Caller:
            caller = authenticate(
                headers,
                body,
                store=state.store,
                now_ms=state.clock,
                window_ms=settings.timestamp_window_ms,
                generations=generations,
            )
            if state.rate_limit is not None:
                wait_ms = state.store.take_token(
                    caller.access_key, now_ms=state.clock(), limit=state.rate_limit
                )
                if wait_ms > 0:
                    raise RateLimited(caller.access_key, wait_ms)
            return caller

        def run(headers: dict[str, str], body: bytes, trace_id: str) -> bytes:
            caller = authenticated(headers, body)
            if endpoint.read_only:
                return answer(caller, body, trace_id)
            # A write: the same signed request again gets the first answer (its own traceId)
            # and changes nothing (service/replays.py).
            kept, _replayed = replays.once(
                state.store,
                caller.account_id,
                replays.replay_key(caller.access_key, caller.ts, caller.sign, endpoint.name),
                now_ms=state.clock(),
                window_ms=settings.timestamp_window_ms,
                run=lambda: answer(caller, body, REPLAY_TRACE),
            )
            return kept.replace(REPLAY_TRACE.encode(), trace_id.encode(), 1)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            req_state = scope["state"]
            trace_id = req_state["nx_trace"]
            headers = header_map(scope["headers"])
            access_key = req_state["nx_access_key"] = headers.get("accesskey")
            try:
                body = await _read_body(receive, headers, limit, timeout_s=settings.body_timeout_s)
                fault = faults.match(path, access_key) if faults is not None else None
                if fault is not None:
                    # The fault answers instead of the endpoint; after a latency, it runs.
                    req_state["nx_fault"] = fault.fault_id
                    if fault.kind != "latency":
                        await faulted(fault, scope, receive, send)
                        return
                    await asyncio.sleep(fault.delay_s)
                _check_content_type(headers)
                payload = await threads.run(lambda: run(headers, body, trace_id))
            except ClientGone:
                return
            except RateLimited as exc:
                req_state["nx_code"] = int(Code.BUSINESS_ERROR)
                refusal = orjson.dumps(envelope(trace_id, Code.BUSINESS_ERROR, str(exc)))
                retry = (("retry-after", str(exc.retry_after_s)),)
                await _send_json(send, 429, refusal, extra=retry)
                return
            except ApiError as exc:
                req_state["nx_code"] = int(exc.code)
                refusal = orjson.dumps(envelope(trace_id, exc.code, exc.message))
                await _send_json(send, exc.http_status, refusal)
                return
            req_state["nx_code"] = 0
            await _send_json(send, 200, payload)

        return app

    def task_list(caller: Caller, body: bytes, trace_id: str) -> bytes:
        """``POST /openapi/aiagent/task/list``: the page's bytes."""
        query = task_service.parse_task_list(task_service.parse_json_object(body))
        page = task_service.list_tasks(state.store, caller.account_id, query)
        return _page_body(trace_id, page, nest=TASK_LIST.name in nested)

    def lifecycle_answer(handler: Handler) -> Answer:
        """A lifecycle endpoint's work: the decoded body through ``handler``, the envelope."""

        def answer(caller: Caller, body: bytes, trace_id: str) -> bytes:
            fields = handler(caller, task_service.parse_json_object(body))
            result = envelope(trace_id, 0, "success")
            result.update(fields)
            return orjson.dumps(result)

        return answer

    def paged(endpoint: Endpoint, page: catalog.Page) -> dict[str, Any]:
        return {"data": page.fields()} if endpoint.name in nested else page.fields()

    def task_create(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        req = requests.parse_task_create(body)
        task_id = lifecycle.create_task(
            state.store, caller.account_id, req, clock=state.record_clock(), new_id=new_task_id,
            id_seed=settings.sim_seed if settings.seeded_ids else None,
        )  # fmt: skip
        return {"data": {"taskId": task_id}}

    def call_append(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        req = requests.parse_call_append(body)
        task_id, count = lifecycle.append_contacts(
            state.store, caller.account_id, req, clock=state.record_clock()
        )
        return {"data": {"taskId": task_id, "count": count}}

    def order_delete(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        req = requests.parse_order_delete(body)
        task_id = lifecycle.delete_contact(
            state.store, caller.account_id, req, clock=state.record_clock()
        )
        return {"data": {"taskId": task_id, "contactId": req.contact_id}}

    def task_state(task: TaskState) -> dict[str, Any]:
        return {"data": {"taskId": task.task_id, "taskStatus": task.task_status,
                         "pauseReason": task.pause_reason}}  # fmt: skip

    def task_start(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        req = requests.parse_task_action(body, default_startup_by=caller.access_key)
        return task_state(
            lifecycle.start_task(state.store, caller.account_id, req, clock=state.record_clock())
        )

    def task_pause(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        req = requests.parse_task_pause(body)
        return task_state(
            lifecycle.pause_task(state.store, caller.account_id, req, clock=state.record_clock())
        )

    def call_list(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        query = requests.parse_call_list(body)
        return paged(CALL_LIST, catalog.list_calls(state.store, caller.account_id, query,
                                                   links=state.links,
                                                   now=state.clock() // 1000))  # fmt: skip

    def flow_list(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        query = requests.parse_flow_list(body)
        return paged(FLOW_LIST, catalog.list_flows(state.store, caller.account_id, query))

    def route_list(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        query = requests.parse_route_list(body)
        return paged(ROUTE_LIST, catalog.list_routes(state.store, caller.account_id, query))

    # Each declared endpoint's work; its paths, threads and body limit come from the registry.
    answers: dict[str, Answer] = {TASK_LIST.name: task_list}
    answers.update(
        (name, lifecycle_answer(handler))
        for name, handler in (
            ("task/create", task_create),
            ("call/append", call_append),
            ("order/delete", order_delete),
            ("task/start", task_start),
            ("task/pause", task_pause),
            ("call/list", call_list),
            ("flow/list", flow_list),
            ("route/list", route_list),
        )
    )
    declared = {endpoint.name for endpoint in ENDPOINTS}
    assert set(answers) == declared, f"handlers {sorted(answers)} != endpoints {sorted(declared)}"
    # The dashboard calls the same work for a signed-in session (nxlink.server.ui).
    state.answers = answers
    api_routes: dict[str, ASGIApp] = {}
    for endpoint in ENDPOINTS:
        for path in endpoint.paths:
            api_routes[path] = api_endpoint(endpoint, path, answers[endpoint.name])

    async def healthz(request: Request) -> Response:
        return _json_response(
            request.scope, envelope(request.scope["state"]["nx_trace"], 0, "success")
        )

    async def readyz(request: Request) -> Response:
        scope = request.scope
        try:
            ping = state.probe.run(state.store.ping)
            await asyncio.wait_for(ping, settings.ready_timeout_ms / 1000)
        except StoreUnavailable:
            raise  # the database is busy: the same answer as every endpoint's (busy below)
        except TimeoutError:
            problem = f"no answer within {settings.ready_timeout_ms} ms"
        except Exception as exc:  # any database failure means "not ready"; its class says which
            problem = type(exc).__name__
        else:
            return _json_response(scope, envelope(scope["state"]["nx_trace"], 0, "success"))
        message = f"database not ready: {problem}"
        return unavailable(scope, message, retry_after_s=settings.retry_after_s)

    document = openapi_document(settings)
    document_bytes = orjson.dumps(document)
    page_html = docs_html(document)

    async def openapi_json(request: Request) -> Response:
        request.scope["state"]["nx_code"] = 0
        return Response(document_bytes, media_type=JSON)

    async def docs(request: Request) -> Response:
        request.scope["state"]["nx_code"] = 0
        return HTMLResponse(page_html)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"method {request.method} not allowed for {request.url.path}"
            allowed = (exc.headers or {}).get("Allow")
            if allowed:
                message += f"; use {allowed}"
        elif exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        else:
            message = exc.detail
        headers = dict(exc.headers or {})
        trace_id = request.scope["state"]["nx_trace"]
        return _json_response(
            request.scope,
            envelope(trace_id, Code.BUSINESS_ERROR, message),
            exc.status_code,
            **headers,
        )

    async def busy(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StoreUnavailable)
        return store_busy(request.scope, exc, retry_after_s=settings.retry_after_s)

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Starlette's outermost layer calls this, then re-raises for the server's own log.
        trace_id = request.scope["state"]["nx_trace"]
        message = f"internal error (traceId {trace_id})"
        return _json_response(request.scope, envelope(trace_id, Code.BUSINESS_ERROR, message), 500)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        workers = _start_background(settings, state)
        try:
            yield
        finally:
            for _thread, stop in workers:
                stop.set()
            for thread, _stop in workers:
                thread.join(timeout=15)
            for threads in (state.reads, state.writes, state.probe, state.sandbox_threads):
                threads.close()
            state.store.close()
            state.log.close()
            state.recordings.close()

    app = Starlette(
        routes=[
            *(Route(path, AsgiEndpoint(app), methods=["POST"]) for path, app in api_routes.items()),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            *admin_routes(state),
            *(ui_routes(state) if settings.ui else ()),
            Route(
                RECORDING_ROUTE,
                recording_endpoint(
                    links=state.links,
                    files=state.recordings,
                    threads=state.reads,
                    now_s=lambda: state.clock() // 1000,
                    envelope=envelope,
                ),
                methods=["GET", "HEAD"],
            ),
        ],
        exception_handlers={
            HTTPException: http_error,
            StoreUnavailable: busy,
            Exception: internal_error,
        },
        lifespan=lifespan,
    )
    # Paths are exact: "/task/list/" is unknown (404 with the envelope), never a redirect
    # built from the Host header.
    app.router.redirect_slashes = False
    fast_routes = {("POST", path): app for path, app in api_routes.items()}
    routed: ASGIApp = FastRoutes(app, fast_routes)
    if settings.cors_origins:
        # Inside the trace middleware, around every route (the API endpoints too): a preflight
        # gets its trace id and log line, and every answer its CORS headers.
        routed = CORSMiddleware(
            routed,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=list(CORS_HEADERS),
            expose_headers=["X-Trace-Id"],
        )
    return TraceMiddleware(routed, state)


class FastRoutes:
    """Calls the API endpoints directly, and Starlette for every other request.

    Starlette's request, response and middleware layers cost about a quarter of a 10-row page
    (measured; see benchmarks/README.md). The endpoints are registered with Starlette too, which
    answers 405 for their other methods.
    """

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], ASGIApp]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.routes.get((scope["method"], scope["path"]), self.app)(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class AsgiEndpoint:
    """Marks a plain ASGI callable as such for Starlette's router (not a request handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class TraceMiddleware:
    """Trace id, request log, the 503 and 500 envelopes, for every HTTP request."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        trace_id = new_trace_id()
        req_state = scope.setdefault("state", {})
        req_state["nx_trace"] = trace_id
        status: int | None = None  # None: nothing answered (a dropped connection, a client gone)
        response_started = False
        journal = self.state.journal if scope["path"].startswith(API_PREFIX) else None
        sent: list[bytes] = []
        received: list[bytes] = []
        if journal is not None:
            receive = _teed(receive, received, journal.body_bytes)

        async def send_traced(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-trace-id", trace_id.encode()),
                ]
                fault = req_state.get("nx_fault")
                if fault is not None:  # a sandbox fault answered, or delayed, this request
                    message["headers"].append((b"x-nxlink-fault", fault.encode()))
            elif journal is not None and message["type"] == "http.response.body":
                sent.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_traced)
        except ConnectionDropped:
            raise  # a drop fault under another ASGI server: its own answer to an error
        except StoreUnavailable as exc:
            req_state["nx_code"] = int(Code.BUSINESS_ERROR)
            if not response_started:
                busy = store_busy(scope, exc, retry_after_s=self.state.settings.retry_after_s)
                await busy(scope, receive, send_traced)
        except Exception:
            # The stack trace goes to the server's own stderr, never into the answer.
            print(f"traceId={trace_id} unhandled error:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            req_state["nx_code"] = int(Code.BUSINESS_ERROR)
            if not response_started:
                status = 500
                body = orjson.dumps(
                    envelope(trace_id, Code.BUSINESS_ERROR, f"internal error (traceId {trace_id})")
                )
                await send({
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", JSON.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"x-trace-id", trace_id.encode())],
                })  # fmt: skip
                await send({"type": "http.response.body", "body": body})
        finally:
            if journal is not None:
                journal.record(
                    ts_ms=self.state.clock(), method=scope["method"], path=scope["path"],
                    access_key=req_state.get("nx_access_key"), headers=scope["headers"],
                    body=b"".join(received), status=status, code=req_state.get("nx_code"),
                    answer=b"".join(sent), trace_id=trace_id,
                    ms=round((time.perf_counter() - started) * 1000, 3),
                    fault=req_state.get("nx_fault"),
                )  # fmt: skip
            self.state.log.write({
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "code": req_state.get("nx_code"),
                "ms": round((time.perf_counter() - started) * 1000, 3),
                "accessKey": req_state.get("nx_access_key"),
                "traceId": trace_id,
                "pid": os.getpid(),
            })  # fmt: skip


def _teed(receive: Receive, into: list[bytes], limit: int) -> Receive:
    """``receive``, keeping a copy of the body's first ``limit`` bytes (and one more, so that
    the journal knows it was cut) in ``into``."""
    kept = 0

    async def teed() -> Message:
        nonlocal kept
        message = await receive()
        if message["type"] == "http.request" and kept <= limit:
            chunk = message.get("body", b"")[: limit + 1 - kept]
            into.append(chunk)
            kept += len(chunk)
        return message

    return teed


def _start_background(
    settings: Settings, state: State
) -> list[tuple[threading.Thread, threading.Event]]:
    """The threads a server runs beside its requests: callback delivery, the simulator."""
    workers = []
    store = state.store
    if settings.deliver_callbacks:
        from nxlink.callbacks.delivery import Deliverer
        from nxlink.callbacks.delivery import start_thread as start_delivery

        deliverer = Deliverer(store, backoff_scale=settings.callback_backoff_scale)
        workers.append(start_delivery(deliverer))
    if settings.simulate and state.simulator is not None:
        from nxlink.dialer.simulator import start_thread as start_simulator

        follower = SharedSimClock(store, speed=settings.sim_speed)
        if state.sandbox_clock is not None:
            state.sandbox_clock.follower = follower
        workers.append(start_simulator(state.simulator, follower))
    return workers


def app_from_env() -> ASGIApp:
    """Factory for ``uvicorn --factory`` and server workers: settings from the environment."""
    return create_app(Settings())
