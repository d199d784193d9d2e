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
from nxlink.sandbox.faults import ALL, Faults, Spec
from nxlink.sandbox.journal import Filter, Journal
from nxlink.server.envelope import envelope

if TYPE_CHECKING:
    from nxlink.server.app import State

#: Where the admin API lives.
PREFIX: Final = "/_nxlink"
#: Most journal entries one answer lists.
MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100
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


def endpoint_path(raw: str, *, name: str = "path") -> str:
    """An endpoint given as ``task/list``, ``/task/list`` or its full path: the full path;
    an unknown endpoint is refused, naming it."""
    text = raw.strip()
    full = text if text.startswith(API_PREFIX) else API_PREFIX + text.lstrip("/")
    if full not in BY_PATH:
        known = ", ".join(sorted(path.removeprefix(API_PREFIX) for path in BY_PATH))
        raise AdminRefusal(400, f"{name}: no such endpoint {raw[:60]!r}; expected one of {known}")
    return full


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
    if state.admin_token is None or state.journal is None or state.faults is None:
        return []
    return [
        *journal_routes(state.journal, state.admin_token),
        *fault_routes(state.faults, state.admin_token, now_ms=state.clock),
    ]
