"""The sandbox's admin API: ``/_nxlink/…``, never under ``/openapi/``.

Every route but the callback sink needs ``Authorization: Bearer <token>`` (the setting
``NXLINK_ADMIN_TOKEN``, else a random token made at start and printed by ``nxlink serve``);
without it, or with another token, the answer is 401 with the envelope. ``NXLINK_ADMIN=off``
removes the routes. Answers are the contract's envelope with the result under ``data``; a bad
parameter is 400 with code 20000 and a message naming it.

The routes: the request journal (``/_nxlink/requests``) and faults (``/_nxlink/faults``, a rule
as a JSON body checked field by field, every problem named in one refusal). The controls
themselves live in :mod:`nxlink.sandbox`; this module parses and renders.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from nxlink.contract.codes import Code
from nxlink.contract.endpoints import API_PREFIX, BY_PATH
from nxlink.sandbox import faults as fault_rules
from nxlink.sandbox import sink as sinks
from nxlink.sandbox.clock import (
    MAX_ADVANCE_S,
    MAX_NOW_MS,
    MAX_SPEED,
    MIN_SPEED,
    ClockRefusal,
    SandboxClock,
)
from nxlink.sandbox.faults import ALL, Faults, Spec
from nxlink.sandbox.journal import Filter, Journal
from nxlink.sandbox.sink import Sink
from nxlink.sandbox.snapshots import UnknownAccount, reset
from nxlink.server.auth import header_map
from nxlink.server.dbpool import DbThreads
from nxlink.server.envelope import envelope
from nxlink.store.base import (
    AttemptFilter,
    CallbackAttempt,
    CallbackFault,
    SnapshotError,
    SnapshotMissing,
    snapshot_name,
)

if TYPE_CHECKING:
    from nxlink.server.app import State

#: Where the admin API lives.
PREFIX: Final = "/_nxlink"
#: Most journal entries one answer lists.
MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100
#: The largest body a callback sink takes (a callback is a few KiB).
SINK_BODY_MAX: Final = 262_144
_INT64: Final = 2**63 - 1

Handler = Callable[[Request], Awaitable[dict[str, Any]]]


class AdminRefusal(Exception):
    """A refused admin request: its HTTP status and what is wrong."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _answer(request: Request, status: int, body: dict[str, Any], **headers: str) -> Response:
    request.scope["state"]["nx_code"] = body["code"]
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers or None)  # fmt: skip


def _check_token(request: Request, token: str) -> None:
    raw = request.headers.get("authorization")
    if raw is None:
        raise AdminRefusal(401, "Authorization: missing; the admin API needs "
                                "'Authorization: Bearer <admin token>'",
                           headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    scheme, _, given = raw.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise AdminRefusal(401, "Authorization: expected 'Bearer <admin token>'",
                           headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        invalid = 'Bearer error="invalid_token"'
        raise AdminRefusal(401, "Authorization: wrong admin token",
                           headers={"WWW-Authenticate": invalid})  # fmt: skip


def guarded(token: str | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind the bearer token (none for ``token=None``), its result as
    ``data``, an :class:`AdminRefusal` as its envelope."""

    async def endpoint(request: Request) -> Response:
        trace_id = request.scope["state"]["nx_trace"]
        try:
            if token is not None:
                _check_token(request, token)
            data = await handler(request)
        except AdminRefusal as exc:
            body = envelope(trace_id, Code.BUSINESS_ERROR, exc.message)
            return _answer(request, exc.status, body, **exc.headers)
        body = envelope(trace_id, 0, "success")
        body["data"] = data
        return _answer(request, 200, body)

    return endpoint


# -- parameters --------------------------------------------------------------------------------


def _only(request: Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        expected = f"expected one of {', '.join(allowed)}" if allowed else "this route takes none"
        raise AdminRefusal(400, f"{unknown[0]}: unknown parameter; {expected}")


def _integer(request: Request, name: str, *, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not text.lstrip("-").isdigit():
        raise AdminRefusal(400, f"{name}: must be a whole number, got {raw[:40]!r}")
    value = int(text)
    if not low <= value <= high:
        raise AdminRefusal(400, f"{name}: must be from {low} to {high}, got {value}")
    return value


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise AdminRefusal(400, f"{name}: expected true or false, got {raw[:40]!r}")
    return value in ("true", "1")


def endpoint_path(raw: str, *, name: str = "path") -> str:
    """An endpoint given as ``task/list``, ``/task/list`` or its full path: the full path;
    an unknown endpoint is refused, naming it."""
    text = raw.strip()
    full = text if text.startswith(API_PREFIX) else API_PREFIX + text.lstrip("/")
    if full not in BY_PATH:
        known = ", ".join(sorted(path.removeprefix(API_PREFIX) for path in BY_PATH))
        raise AdminRefusal(400, f"{name}: no such endpoint {raw[:60]!r}; expected one of {known}")
    return full


async def json_body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``), with no key outside ``allowed``."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AdminRefusal(400, f"body: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise AdminRefusal(400, "body: must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        expected = ", ".join(allowed) if allowed else "no keys"
        raise AdminRefusal(400, f"{unknown[0]}: unknown key; expected {expected}")
    return body


def number(body: dict[str, Any], name: str, *, low: float, high: float, whole: bool,
           low_open: bool = False) -> float | int | None:  # fmt: skip
    """``body[name]`` as a number in its bounds (``None`` when absent)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a whole number" if whole else "a number"
        raise AdminRefusal(400, f"{name}: must be {kind}, got {orjson.dumps(value).decode()[:40]}")
    if whole and value != int(value):
        raise AdminRefusal(400, f"{name}: must be a whole number, got {value}")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bound = f"above {_shown(low)}" if low_open else f"from {_shown(low)}"
        raise AdminRefusal(400, f"{name}: must be {bound} to {_shown(high)}, got {_shown(value)}")
    return int(value) if whole else float(value)


def _shown(value: float) -> str:
    """A number as people write it: ``5``, ``0.5``, ``31622400``."""
    return str(int(value)) if value == int(value) else repr(float(value))


def boolean(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise AdminRefusal(
        400, f"{name}: must be true or false, got {orjson.dumps(value).decode()[:40]}"
    )


JOURNAL_FILTERS: Final = ("path", "accessKey", "code", "since", "until", "contains")


def journal_filter(request: Request) -> Filter:
    """The journal's filters from the query string (see :data:`JOURNAL_FILTERS`)."""
    params = request.query_params
    path = params.get("path")
    return Filter(
        path=endpoint_path(path) if path is not None else None,
        access_key=params.get("accessKey"),
        code=_integer(request, "code", low=-_INT64, high=_INT64),
        since_ms=_integer(request, "since", low=0, high=_INT64),
        until_ms=_integer(request, "until", low=0, high=_INT64),
        contains=params.get("contains"),
    )


# -- routes ------------------------------------------------------------------------------------


def journal_routes(journal: Journal, token: str | None) -> list[BaseRoute]:
    """``/_nxlink/requests``: list (GET), clear (DELETE); ``/_nxlink/requests/count``."""

    async def requests(request: Request) -> dict[str, Any]:
        if request.method == "DELETE":
            _only(request, ())
            return {"cleared": journal.clear()}
        _only(request, (*JOURNAL_FILTERS, "limit"))
        where = journal_filter(request)
        limit = _integer(request, "limit", low=0, high=MAX_LIMIT)
        total, entries = journal.select(where, limit=DEFAULT_LIMIT if limit is None else limit)
        return {"total": total, "list": [entry.to_json() for entry in entries]}

    async def count(request: Request) -> dict[str, Any]:
        _only(request, JOURNAL_FILTERS)
        return {"count": journal.count(journal_filter(request))}

    return [
        Route(PREFIX + "/requests", guarded(token, requests), methods=["GET", "DELETE"]),
        Route(PREFIX + "/requests/count", guarded(token, count), methods=["GET"]),
    ]


def clock_routes(clock: SandboxClock, token: str | None, *, reads: DbThreads,
                 moves: DbThreads) -> list[BaseRoute]:  # fmt: skip
    """``/_nxlink/clock``: read (GET), set the speed or freeze (POST); ``/clock/advance``."""

    async def read_or_set(request: Request) -> dict[str, Any]:
        if request.method == "GET":
            _only(request, ())
            return (await reads.run(clock.state)).to_json()
        body = await json_body(request, ("now", "speed", "frozen"))
        now = number(body, "now", low=0, high=MAX_NOW_MS, whole=True)
        speed = number(body, "speed", low=MIN_SPEED, high=MAX_SPEED, whole=False, low_open=True)
        frozen = boolean(body, "frozen")
        if now is None and speed is None and frozen is None:
            raise AdminRefusal(400, "body: give now, speed or frozen")
        try:
            state = await moves.run(lambda: clock.set(
                now_ms=None if now is None else int(now), speed=speed, frozen=frozen))  # fmt: skip
        except ClockRefusal as exc:
            raise AdminRefusal(409, str(exc)) from None
        return state.to_json()

    async def advance(request: Request) -> dict[str, Any]:
        body = await json_body(request, ("seconds",))
        seconds = number(body, "seconds", low=1, high=MAX_ADVANCE_S, whole=True)
        if seconds is None:
            raise AdminRefusal(400, "seconds: missing; how far to move the clock")
        moved = await moves.run(lambda: clock.advance(int(seconds)))
        return moved.to_json()

    return [
        Route(PREFIX + "/clock", guarded(token, read_or_set), methods=["GET", "POST"]),
        Route(PREFIX + "/clock/advance", guarded(token, advance), methods=["POST"]),
    ]


def _snapshot_of(request: Request) -> str:
    try:
        return snapshot_name(request.path_params["name"])
    except SnapshotError as exc:
        raise AdminRefusal(400, str(exc)) from None


def data_routes(state: State, token: str | None) -> list[BaseRoute]:
    """``POST /_nxlink/reset``; ``/_nxlink/snapshots``: list (GET); ``…/{name}``: take (POST),
    delete (DELETE); ``…/{name}/restore`` (POST)."""
    store = state.store

    async def reset_data(request: Request) -> dict[str, Any]:
        _only(request, ("account", "all", "catalog"))
        account = request.query_params.get("account")
        everything = _flag(request, "all")
        if account is not None and everything:
            raise AdminRefusal(400, "account and all=true: give one of them, not both")
        if account is None and not everything:
            raise AdminRefusal(400, "account: missing; expected account=NAME (one account) "
                                    "or all=true (every account)")  # fmt: skip
        catalog = _flag(request, "catalog")
        try:
            done = await state.writes.run(
                lambda: reset(store, state.journal, account=account, catalog=catalog)
            )
        except UnknownAccount as exc:
            raise AdminRefusal(404, exc.message) from None
        return done.to_json()

    async def snapshots(request: Request) -> dict[str, Any]:
        _only(request, ())
        found = await state.reads.run(store.list_snapshots)
        return {"list": [info.to_json() for info in found]}

    async def one_snapshot(request: Request) -> dict[str, Any]:
        _only(request, ())
        name = _snapshot_of(request)
        if request.method == "DELETE":
            if not await state.writes.run(lambda: store.delete_snapshot(name)):
                raise AdminRefusal(404, str(SnapshotMissing(name)))
            return {"deleted": name}
        now_ms = state.clock()
        info = await state.writes.run(lambda: store.take_snapshot(name, now_ms=now_ms))
        return {"snapshot": info.to_json()}

    async def restore(request: Request) -> dict[str, Any]:
        _only(request, ())
        name = _snapshot_of(request)
        try:
            info = await state.writes.run(lambda: store.restore_snapshot(name))
        except SnapshotMissing as exc:
            raise AdminRefusal(404, str(exc)) from None
        except SnapshotError as exc:
            raise AdminRefusal(409, str(exc)) from None
        return {"restored": info.to_json()}

    return [
        Route(PREFIX + "/reset", guarded(token, reset_data), methods=["POST"]),
        Route(PREFIX + "/snapshots", guarded(token, snapshots), methods=["GET"]),
        Route(
            PREFIX + "/snapshots/{name}", guarded(token, one_snapshot), methods=["POST", "DELETE"]
        ),
        Route(PREFIX + "/snapshots/{name}/restore", guarded(token, restore), methods=["POST"]),
    ]


def _sink_name(request: Request) -> str:
    name: str = request.path_params["name"]
    if not sinks.valid_name(name):
        raise AdminRefusal(400, f"name: must be 1 to 64 of A-Z a-z 0-9 _ . -, got {name[:80]!r}")
    return name


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AdminRefusal(413, f"body: larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AdminRefusal(413, f"body: larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def sink_routes(state: State, sink: Sink, token: str | None) -> list[BaseRoute]:
    """``/_nxlink/sink/{name}``: record a callback (POST, no token: a callback carries the
    account's signature instead), list (GET), clear (DELETE)."""
    # Anyone may post: what a sink holds stays below NXLINK_SINK_SIZE bodies of this size.
    limit = min(state.settings.max_body_bytes, SINK_BODY_MAX)

    async def posted(request: Request) -> dict[str, Any]:
        name = _sink_name(request)
        body = await _body(request, limit)
        raw = request.scope["headers"]
        headers = header_map(raw)
        verdict = await state.reads.run(lambda: sinks.check_signature(state.store, headers, body))
        kept = tuple((key.decode("latin-1").lower(), value.decode("latin-1"))
                     for key, value in raw)  # fmt: skip
        record = sink.record(name, received_ms=state.clock(), headers=kept, body=body,
                             verdict=verdict)  # fmt: skip
        return {"id": record.id, "signatureValid": verdict.valid}

    async def listed(request: Request) -> dict[str, Any]:
        name = _sink_name(request)
        if request.method == "DELETE":
            _only(request, ())
            return {"cleared": sink.clear(name)}
        _only(request, ("limit",))
        count = _integer(request, "limit", low=0, high=MAX_LIMIT)
        total, records = sink.select(name, limit=DEFAULT_LIMIT if count is None else count)
        return {"total": total, "list": [record.to_json() for record in records]}

    return [
        Route(PREFIX + "/sink/{name}", guarded(None, posted), methods=["POST"]),
        Route(PREFIX + "/sink/{name}", guarded(token, listed), methods=["GET", "DELETE"]),
    ]


# -- callback faults and deliveries ------------------------------------------------------------

#: The longest delay a callback fault may put before a POST (the deliverer's lease, 60 s by
#: default, must outlast the delay and the POST's timeout).
MAX_DELAY_MS: Final = 10_000
#: The most tries a callback fault may fail (a round has 7).
MAX_FAIL_FIRST: Final = 100
FAULT_FIELDS: Final = ("url", "delayMs", "failFirst", "failStatus")


def fault_json(fault: CallbackFault) -> dict[str, Any]:
    return {"id": fault.id, "url": fault.url_part, "delayMs": fault.delay_ms,
            "failFirst": fault.fail_first, "failStatus": fault.fail_status,
            "createdMs": fault.created_ms}  # fmt: skip


def attempt_json(attempt: CallbackAttempt) -> dict[str, Any]:
    return {"id": attempt.id, "eventId": attempt.event_id, "outboxId": attempt.outbox_id,
            "accountId": attempt.account_id, "url": attempt.url, "attempt": attempt.attempt,
            "startedMs": attempt.started_ms, "endedMs": attempt.ended_ms,
            "latencyMs": attempt.latency_ms, "status": attempt.status, "error": attempt.error,
            "delivered": attempt.delivered, "fault": attempt.fault,
            "delayMs": attempt.delay_ms}  # fmt: skip


def _field_int(body: dict[str, Any], name: str, *, low: int, high: int, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        shown = orjson.dumps(value).decode()[:40]
        raise AdminRefusal(400, f"{name}: must be a whole number, got {shown}")
    if not low <= value <= high:
        raise AdminRefusal(400, f"{name}: must be from {low} to {high}, got {value}")
    return value


def parse_fault(raw: bytes) -> dict[str, Any]:
    """A new callback fault's fields from its JSON body (see :data:`FAULT_FIELDS`)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AdminRefusal(400, "body: must be a JSON object") from None
    if not isinstance(body, dict):
        raise AdminRefusal(400, "body: must be a JSON object")
    unknown = sorted(set(body) - set(FAULT_FIELDS))
    if unknown:
        raise AdminRefusal(400, f"{unknown[0][:40]}: unknown field; expected one of "
                                f"{', '.join(FAULT_FIELDS)}")  # fmt: skip
    url = body.get("url", "")
    if not isinstance(url, str) or len(url) > 2048 or any(ord(c) < 32 for c in url):
        raise AdminRefusal(400, "url: must be text of at most 2048 characters without control "
                                "characters (a part of the URLs it applies to)")  # fmt: skip
    delay_ms = _field_int(body, "delayMs", low=0, high=MAX_DELAY_MS, default=0)
    fail_first = _field_int(body, "failFirst", low=0, high=MAX_FAIL_FIRST, default=0)
    fail_status = _field_int(body, "failStatus", low=100, high=599, default=500)
    if delay_ms == 0 and fail_first == 0:
        raise AdminRefusal(400, "body: give delayMs or failFirst (a fault doing nothing)")
    if 200 <= fail_status < 300:
        raise AdminRefusal(400, f"failStatus: must not be a success, got {fail_status}")
    return {"url_part": url, "delay_ms": delay_ms, "fail_first": fail_first,
            "fail_status": fail_status}  # fmt: skip


DELIVERY_FILTERS: Final = ("eventId", "url", "status", "delivered")


def _boolean(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw.strip().lower() in ("true", "1"):
        return True
    if raw.strip().lower() in ("false", "0"):
        return False
    raise AdminRefusal(400, f"{name}: must be true or false, got {raw[:40]!r}")


def callback_routes(state: State, token: str | None) -> list[BaseRoute]:
    """``/_nxlink/callback-faults``: list (GET), add (POST), clear (DELETE);
    ``/_nxlink/callback-faults/{id}``: remove (DELETE); ``/_nxlink/deliveries``: the tries."""
    store = state.store

    async def faults(request: Request) -> dict[str, Any]:
        _only(request, ())
        if request.method == "POST":
            fields = parse_fault(await _body(request, 65_536))
            now = state.clock()
            added = await state.writes.run(lambda: store.add_callback_fault(**fields, now_ms=now))
            return fault_json(added)
        if request.method == "DELETE":
            return {"cleared": await state.writes.run(store.clear_callback_faults)}
        return {"list": [fault_json(f) for f in await state.reads.run(store.list_callback_faults)]}

    async def fault(request: Request) -> dict[str, Any]:
        _only(request, ())
        raw: str = request.path_params["id"]
        if not raw.isdigit() or not 1 <= int(raw) <= _INT64:
            raise AdminRefusal(400, f"id: must be a callback fault's number, got {raw[:40]!r}")
        fault_id = int(raw)
        if not await state.writes.run(lambda: store.remove_callback_fault(fault_id)):
            raise AdminRefusal(404, f"id: no callback fault {fault_id}")
        return {"removed": fault_id}

    async def deliveries(request: Request) -> dict[str, Any]:
        _only(request, (*DELIVERY_FILTERS, "limit"))
        params = request.query_params
        where = AttemptFilter(
            event_id=params.get("eventId"),
            url_part=params.get("url"),
            status=_integer(request, "status", low=100, high=599),
            delivered=_boolean(request, "delivered"),
        )
        limit = _integer(request, "limit", low=0, high=MAX_LIMIT)
        total, attempts = await state.reads.run(
            lambda: store.list_callback_attempts(
                where, limit=DEFAULT_LIMIT if limit is None else limit
            )
        )
        return {"total": total, "list": [attempt_json(a) for a in attempts]}

    return [
        Route(PREFIX + "/callback-faults", guarded(token, faults),
              methods=["GET", "POST", "DELETE"]),
        Route(PREFIX + "/callback-faults/{id}", guarded(token, fault), methods=["DELETE"]),
        Route(PREFIX + "/deliveries", guarded(token, deliveries), methods=["GET"]),
    ]  # fmt: skip


# -- faults ------------------------------------------------------------------------------------

_BOUNDS: Final = {
    "ms": (0, fault_rules.MAX_LATENCY_MS),
    "maxMs": (0, fault_rules.MAX_LATENCY_MS),
    "code": (-(2**31), 2**31 - 1),
    "status": (400, 599),
    "retryAfter": (0, fault_rules.MAX_RETRY_AFTER_S),
    "times": (1, fault_rules.MAX_TIMES),
    "probability": (0, 1),
}


_Ms = Annotated[int, Field(ge=0, le=fault_rules.MAX_LATENCY_MS)]
_Code = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
_Status = Annotated[int, Field(ge=400, le=599)]
_RetryAfter = Annotated[int, Field(ge=0, le=fault_rules.MAX_RETRY_AFTER_S)]
_Times = Annotated[int, Field(ge=1, le=fault_rules.MAX_TIMES)]
_Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
_Text = Annotated[str, Field(min_length=1, max_length=fault_rules.MAX_MESSAGE_CHARS)]


class FaultBody(BaseModel):
    """``POST /_nxlink/faults``: a rule, as JSON (see ``docs/sandbox.md``). Its bounds are
    :data:`_BOUNDS`'s, which the refusals name."""

    model_config = ConfigDict(extra="forbid", strict=True)

    endpoint: str
    kind: Literal["latency", "code", "status", "drop", "hang"]
    accessKey: _Text | None = None
    ms: _Ms | None = None
    maxMs: _Ms | None = None
    code: _Code | None = None
    message: _Text | None = None
    status: _Status | None = None
    retryAfter: _RetryAfter | None = None
    times: _Times | None = None
    probability: _Probability = 1.0


_FAULT_FIELDS: Final = tuple(FaultBody.model_fields)


def _field_problem(error: Any) -> str:
    """One pydantic error as ``field: what is wrong``."""
    where = ".".join(str(part) for part in error["loc"]) or "body"
    kind = error["type"]
    given = error.get("input")
    if kind == "json_invalid":
        return "body: not valid JSON"
    if kind == "model_type":
        return "body: must be a JSON object"
    if kind == "missing":
        return f"{where}: required"
    if kind == "extra_forbidden":
        return f"{where}: unknown field, expected one of {', '.join(_FAULT_FIELDS)}"
    if kind == "literal_error":
        return f"{where}: must be one of {', '.join(fault_rules.KINDS)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{where}: must be a whole number, got {orjson.dumps(given).decode()[:40]}"
    if kind in ("float_type", "finite_number"):
        return f"{where}: must be a number from 0 to 1"
    if kind == "string_type":
        return f"{where}: must be a string"
    if kind == "string_too_short":
        return f"{where}: must not be empty"
    if kind == "string_too_long":
        return f"{where}: longer than {error['ctx']['max_length']} characters"
    if kind in ("greater_than_equal", "less_than_equal") and where in _BOUNDS:
        low, high = _BOUNDS[where]
        return f"{where}: must be from {low} to {high}, got {given}"
    return f"{where}: {error['msg']}"


def _fault_endpoint(raw: str) -> str | None:
    text = raw.strip()
    if text.lower() == ALL:
        return ALL
    full = text if text.startswith(API_PREFIX) else API_PREFIX + text.lstrip("/")
    return full if full in BY_PATH else None


def fault_spec(raw: bytes) -> Spec:
    """The rule of a ``POST /_nxlink/faults`` body; every problem named in one refusal (the
    rules between fields once each field is right)."""
    problems: list[str] = []
    try:
        body: FaultBody | None = FaultBody.model_validate_json(raw or b"null")
    except ValidationError as exc:
        body = None
        problems = [_field_problem(error) for error in exc.errors()]
    given: Any = body.endpoint if body is not None else _json_field(raw, "endpoint")
    endpoint = _fault_endpoint(given) if isinstance(given, str) else None
    if isinstance(given, str) and endpoint is None:
        known = ", ".join(sorted(path.removeprefix(API_PREFIX) for path in BY_PATH))
        problems.insert(0, f"endpoint: no such endpoint {given[:60]!r}, expected "
                           f"{ALL} or one of {known}")  # fmt: skip
    if body is None or endpoint is None:
        raise AdminRefusal(400, "; ".join(problems))
    spec = Spec(
        endpoint=endpoint, kind=body.kind, access_key=body.accessKey, ms=body.ms,
        max_ms=body.maxMs, code=body.code, message=body.message, status=body.status,
        retry_after_s=body.retryAfter, times=body.times, probability=body.probability,
    )  # fmt: skip
    problems = spec.problems()
    if problems:
        raise AdminRefusal(400, "; ".join(problems))
    return spec


def _json_field(raw: bytes, name: str) -> Any:
    """``name`` of a body that is a JSON object, else ``None``."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed.get(name) if isinstance(parsed, dict) else None


def fault_routes(
    faults: Faults, token: str | None, *, now_ms: Callable[[], int]
) -> list[BaseRoute]:
    """``/_nxlink/faults``: list (GET), add (POST), clear (DELETE);
    ``/_nxlink/faults/{id}``: remove one (DELETE)."""

    async def rules(request: Request) -> dict[str, Any]:
        _only(request, ())
        if request.method == "DELETE":
            return {"cleared": faults.clear()}
        if request.method == "POST":
            return faults.add(fault_spec(await request.body()), now_ms=now_ms())
        listed = faults.list()
        return {"total": len(listed), "list": listed}

    async def one(request: Request) -> dict[str, Any]:
        _only(request, ())
        fault_id = request.path_params["id"]
        removed = faults.remove(fault_id)
        if removed is None:
            raise AdminRefusal(404, f"id: no such fault {fault_id[:40]!r}")
        return removed

    return [
        Route(PREFIX + "/faults", guarded(token, rules), methods=["GET", "POST", "DELETE"]),
        Route(PREFIX + "/faults/{id}", guarded(token, one), methods=["DELETE"]),
    ]


def admin_routes(state: State) -> list[BaseRoute]:
    """Every route of the admin API, for the app's router (none when it is off)."""
    if (
        state.admin_token is None
        or state.journal is None
        or state.sandbox_clock is None
        or state.sink is None
        or state.faults is None
    ):
        return []
    return [
        *journal_routes(state.journal, state.admin_token),
        *clock_routes(
            state.sandbox_clock, state.admin_token, reads=state.reads, moves=state.sandbox_threads
        ),
        *data_routes(state, state.admin_token),
        *sink_routes(state, state.sink, state.admin_token),
        *callback_routes(state, state.admin_token),
        *fault_routes(state.faults, state.admin_token, now_ms=state.clock),
    ]
