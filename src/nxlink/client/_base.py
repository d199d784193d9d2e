"""The policy core shared by :class:`~nxlink.Client` and :class:`~nxlink.AsyncClient`.

:class:`BaseClient` resolves the configuration, builds and signs requests, decides whether an
attempt is retried (and after how long) and maps answers to results or errors. It does no I/O:
the sync and async shells only send what it builds and sleep for as long as it says.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, Literal

import httpx

from nxlink import signing
from nxlink.client._auth import NxlinkAuth, system_clock_ms
from nxlink.client.errors import (
    ApiError,
    AuthError,
    BusinessError,
    NxError,
    SignatureError,
    TimeoutError,
    TimestampError,
    TransportError,
)
from nxlink.contract import endpoints
from nxlink.contract.codes import Code

Region = Literal["hk", "amer", "idn"]

#: The vendor's documented gateways.
REGIONS: Final[dict[str, str]] = {
    "hk": "https://api-hk.nxlink.ai",
    "amer": "https://chl-api.nxlink.ai",
    "idn": "https://api-idn.nxlink.ai",
}
DEFAULT_REGION: Final = "hk"
DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_MAX_RETRIES: Final = 2
INITIAL_RETRY_DELAY: Final = 0.5
MAX_RETRY_DELAY: Final = 8.0
#: A longer ``Retry-After`` is not waited for: the error is raised, carrying it.
MAX_RETRY_AFTER: Final = 60.0
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: The statuses with which the server turned a request away without acting on it. A 500, 502
#: or 504 may come after a change was made.
NOT_ACTED_STATUSES: Final = frozenset({429, 503})
#: How long after it was signed a request that may change state is still sent again with the
#: same signature (the same bytes, the same ``ts`` and ``sign``): the server answers a signed
#: write it has already accepted with its first answer and changes nothing, for as long as the
#: ``ts`` is inside its 60 s window. Ten seconds are kept for clock drift.
RESEND_WINDOW_MS: Final = 50_000
#: Where every endpoint lives.
API_PREFIX: Final = endpoints.API_PREFIX
#: Endpoints that only read: every attempt is signed afresh. Any other endpoint may change
#: state: it is sent again with its first signature (see :class:`Attempts`).
READ_ONLY_PATHS: Final = endpoints.READ_ONLY_PATHS

ENV_ACCESS_KEY: Final = "NXLINK_ACCESS_KEY"
ENV_ACCESS_SECRET: Final = "NXLINK_ACCESS_SECRET"
ENV_BASE_URL: Final = "NXLINK_BASE_URL"
ENV_REGION: Final = "NXLINK_REGION"

_PATH = re.compile(r"[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)*")
#: Transport failures raised before any byte of the request was sent.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AUTH_CODES: Final = frozenset(range(Code.MISSING_PARAMETERS, Code.INSUFFICIENT_AUTHORITY + 1))
_SERVER_TIME = re.compile(r"server time (\d{1,18})")


@cache
def _user_agent() -> str:
    try:
        return f"nxlink-python/{version('nxlink')}"
    except PackageNotFoundError:  # a source tree that is not installed
        return "nxlink-python"


def resolve_base_url(
    *, base_url: str | None, region: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """Where requests go: ``base_url`` or ``region``, else ``NXLINK_BASE_URL``, else
    ``NXLINK_REGION``, else the ``hk`` gateway. Giving both arguments is an error."""
    env = os.environ if environ is None else environ
    if base_url is not None and region is not None:
        raise ValueError("give region or base_url, not both")
    if base_url is None and region is None:
        base_url = env.get(ENV_BASE_URL) or None
        if base_url is None:
            region = env.get(ENV_REGION) or DEFAULT_REGION
    if base_url is None:
        assert region is not None
        try:
            return REGIONS[region.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown region {region!r}: expected one of {', '.join(REGIONS)}"
            ) from None
    url = base_url.strip().rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid base_url {base_url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"invalid base_url {base_url!r}: expected http(s)://host[:port]")
    return url


def api_path(path: str) -> str:
    """The full path of an endpoint: ``task/create``, ``/task/create`` and
    ``/openapi/aiagent/task/create`` all give ``/openapi/aiagent/task/create``."""
    if not isinstance(path, str):
        raise TypeError(f"path: expected a str, got {path!r}")
    name = path.strip().lstrip("/")
    if name.startswith(API_PREFIX[1:]):
        name = name[len(API_PREFIX) - 1 :]
    if not _PATH.fullmatch(name) or any(part in (".", "..") for part in name.split("/")):
        raise ValueError(f"invalid endpoint path {path!r}: expected e.g. task/create")
    return API_PREFIX + name


def request_body(body: Mapping[str, Any] | None) -> bytes:
    """``body`` (``None`` is ``{}``) as compact UTF-8 JSON, the exact bytes that are signed."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise TypeError(f"body: expected a mapping (a JSON object), got {type(body).__name__}")
    text = json.dumps(dict(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode()


def _credential(value: str | None, env_name: str, what: str, argument: str) -> str:
    resolved = value if value is not None else os.environ.get(env_name, "")
    if not resolved:
        raise NxError(f"no {what}: pass {argument}= or set {env_name}")
    return resolved


@dataclass(frozen=True, slots=True)
class Retry:
    """The decision to send the request again after ``delay`` seconds."""

    delay: float


@dataclass(slots=True)
class Attempts:
    """What has happened so far to one call: retries made, whether the clock was corrected.

    ``replay_safe`` is false for a request that may change state (a write). A write keeps its
    first signature (``signed``, made at ``signed_at_ms``) and every retry sends those same
    signed bytes, which the server answers as the first time and acts on once, while they
    are less than :data:`RESEND_WINDOW_MS` old. After that a write is signed afresh only if no
    attempt may have reached the server; otherwise ``unsure`` (the error of the first attempt
    that may have been acted on) is raised.
    """

    retries: int = 0
    clock_corrected: bool = False
    replay_safe: bool = True
    signed: dict[str, str] | None = None
    signed_at_ms: int = 0
    unsure: NxError | None = None


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), if any."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def api_error(
    code: int | None,
    message: str,
    trace_id: str,
    *,
    status_code: int = 200,
    retry_after: float | None = None,
    envelope: Mapping[str, Any] | None = None,
) -> ApiError:
    """The error for an answer: classified by code family for the contract's HTTP 200 answers,
    a plain :class:`ApiError` for any other HTTP status."""
    cls: type[ApiError] = ApiError
    if 200 <= status_code < 300 and code is not None:
        if code == Code.INVALID_SIGNATURE:
            cls = SignatureError
        elif code == Code.TIMESTAMP_EXPIRED:
            match = _SERVER_TIME.search(message)
            return TimestampError(
                code, message, trace_id, status_code=status_code, retry_after=retry_after,
                envelope=envelope, server_time_ms=int(match.group(1)) if match else None,
            )  # fmt: skip
        elif code in _AUTH_CODES:
            cls = AuthError
        elif code == Code.BUSINESS_ERROR:
            cls = BusinessError
    return cls(
        code, message, trace_id, status_code=status_code, retry_after=retry_after,
        envelope=envelope,
    )  # fmt: skip


def _envelope(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _code(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


class BaseClient:
    """Configuration, signing, retry decisions and error mapping; no I/O.

    Subclasses send :meth:`_build_request`'s requests and feed each outcome to
    :meth:`_on_response` or :meth:`_on_transport_error`, which either return the result, return
    a :class:`Retry`, or raise.
    """

    def __init__(
        self,
        *,
        access_key: str | None,
        access_secret: str | None,
        region: Region | str | None,
        base_url: str | None,
        algorithm: signing.Algorithm | str,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        clock: Callable[[], int] | None,
    ) -> None:
        key = _credential(access_key, ENV_ACCESS_KEY, "access key", "access_key")
        secret = _credential(access_secret, ENV_ACCESS_SECRET, "access secret", "access_secret")
        normalized = signing.normalize_algorithm(algorithm)
        if normalized is None:
            raise ValueError(f"unknown algorithm {algorithm!r}: expected md5 or sha256")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
        #: Where requests go, without a trailing slash.
        self.base_url = resolve_base_url(base_url=base_url, region=region)
        #: The access key requests are signed with.
        self.access_key = key
        #: ``md5`` or ``sha256``.
        self.algorithm: signing.Algorithm = normalized
        #: The timeout of each attempt.
        self.timeout = httpx.Timeout(timeout)
        #: Retries after the first attempt, for connection errors, timeouts and HTTP 429/5xx;
        #: for an endpoint that may change state, only for failures before the request was
        #: sent and HTTP 429/503.
        self.max_retries = max_retries
        self._clock = clock or system_clock_ms
        #: Added to the clock after the server reported its time in a 1004 answer.
        self.clock_offset_ms = 0
        self._last_ts_ms = 0
        self._ts_lock = threading.Lock()
        self._auth = NxlinkAuth(key, secret, algorithm=normalized, clock=self._now_ms)
        self._random: Callable[[], float] = random.random

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, access_key={self.access_key!r})"

    def _now_ms(self) -> int:
        """The ``ts`` of the next signature: the clock, moved on a millisecond past the last
        one when it has not moved or stepped back by less than a second (two writes with the
        same body in one millisecond would otherwise be the same signed request, which the
        server answers as a replay). A clock set back further is followed as it is."""
        now = self._clock() + self.clock_offset_ms
        with self._ts_lock:
            if self._last_ts_ms - 1000 < now <= self._last_ts_ms:
                now = self._last_ts_ms + 1
            self._last_ts_ms = now
        return now

    def _prepare(self, path: str, body: Mapping[str, Any] | None) -> tuple[str, bytes, bool]:
        """The full path, the body bytes, and whether the call may be sent again after a
        failure that may have reached the server (``request``)."""
        full = api_path(path)
        return full, request_body(body), full in READ_ONLY_PATHS

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, path: str, body: bytes, attempts: Attempts
    ) -> httpx.Request:
        """The next attempt's request, signed (:meth:`_signature`); send it with
        ``auth=None``."""
        return http.build_request(
            "POST",
            self.base_url + path,
            content=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": _user_agent(),
                **self._signature(body, attempts),
            },
            timeout=self.timeout,
        )

    def _signature(self, body: bytes, attempts: Attempts) -> dict[str, str]:
        """The auth headers of the next attempt: a read is signed afresh each time; a write
        reuses its first signature while it is fresh enough to be resent (see
        :class:`Attempts`), or raises ``attempts.unsure`` when it is not and an earlier
        attempt may have reached the server."""
        if attempts.replay_safe:
            return self._auth.sign(body)
        if attempts.signed is not None and self._resendable(attempts, 0.0):
            return attempts.signed
        if attempts.unsure is not None:
            raise attempts.unsure
        attempts.signed = self._auth.sign(body)
        attempts.signed_at_ms = int(attempts.signed["ts"])
        return attempts.signed

    def _resendable(self, attempts: Attempts, delay: float) -> bool:
        """Whether the write's signature is still fresh enough ``delay`` seconds from now."""
        now = self._clock() + self.clock_offset_ms + delay * 1000.0
        return now - attempts.signed_at_ms < RESEND_WINDOW_MS

    def _retry_write(self, attempts: Attempts, delay: float, unsure: NxError | None) -> bool:
        """For a write whose attempt failed, whether it is sent again after ``delay``:
        ``unsure`` is the error to raise in the end when the attempt may have reached the
        server (None when it certainly was not acted on)."""
        if unsure is not None and attempts.unsure is None:
            attempts.unsure = unsure
        return attempts.unsure is None or self._resendable(attempts, delay)

    def _retry_delay(self, retries: int, retry_after: float | None) -> float:
        """Seconds before retry number ``retries + 1``: ``Retry-After`` when the server gave
        one, else 0.5 s doubling up to 8 s, less up to a quarter of random jitter."""
        if retry_after is not None:
            return retry_after
        base = min(INITIAL_RETRY_DELAY * 2.0**retries, MAX_RETRY_DELAY)
        return base * (1.0 - 0.25 * self._random())

    def _on_response(self, response: httpx.Response, attempts: Attempts) -> dict[str, Any] | Retry:
        """The answer's payload on success, a :class:`Retry`, or raise the mapped error."""
        status = response.status_code
        retry_after = parse_retry_after(response.headers)
        outcome = _outcome(response, retry_after)
        if (
            status in RETRY_STATUSES
            and attempts.retries < self.max_retries
            and (retry_after is None or retry_after <= MAX_RETRY_AFTER)
        ):
            delay = self._retry_delay(attempts.retries, retry_after)
            unsure = None if status in NOT_ACTED_STATUSES or isinstance(outcome, dict) else outcome
            if attempts.replay_safe or self._retry_write(attempts, delay, unsure):
                attempts.retries += 1
                return Retry(delay)
        if isinstance(outcome, dict):
            return outcome
        if attempts.unsure is not None and (
            status in NOT_ACTED_STATUSES or isinstance(outcome, TimestampError)
        ):
            # This attempt was turned away (or its resent signature came too late); an
            # earlier attempt may have been acted on.
            raise attempts.unsure from outcome
        if (
            isinstance(outcome, TimestampError)
            and outcome.server_time_ms is not None
            and not attempts.clock_corrected
        ):
            # Sign again with the server's clock; this is a correction, not a retry.
            self.clock_offset_ms = outcome.server_time_ms - self._clock()
            attempts.clock_corrected = True
            attempts.signed = None
            return Retry(0.0)
        raise outcome

    def _on_transport_error(self, exc: httpx.RequestError, attempts: Attempts) -> Retry:
        """A :class:`Retry` for a network failure while retries remain, else raise it mapped.

        A write whose attempt timed out or lost its connection after sending may have been
        acted on: it is sent again only as the same signed bytes, while they are fresh enough
        (see :class:`Attempts`). A failure before sending (connecting, waiting for a pooled
        connection) never reached the server.
        """
        error = _transport_error(exc, self.base_url)
        if isinstance(exc, httpx.TransportError) and attempts.retries < self.max_retries:
            delay = self._retry_delay(attempts.retries, None)
            unsure = None if isinstance(exc, _NOT_SENT) else error
            if attempts.replay_safe or self._retry_write(attempts, delay, unsure):
                attempts.retries += 1
                return Retry(delay)
        raise (attempts.unsure or error) from exc


def _transport_error(exc: httpx.RequestError, base_url: str) -> NxError:
    """The client's error for a network failure."""
    url = exc.request.url if _has_request(exc) else base_url
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"timed out ({type(exc).__name__}) calling {url}: {detail}")
    return TransportError(f"{type(exc).__name__} calling {url}: {detail}")


def _outcome(response: httpx.Response, retry_after: float | None) -> dict[str, Any] | ApiError:
    """The success envelope of an answer, or the :class:`ApiError` it maps to."""
    status = response.status_code
    header_trace = response.headers.get("x-trace-id", "")
    envelope = _envelope(response)
    if envelope is None:
        text = response.text[:200].strip() or "(empty)"
        return ApiError(
            None,
            f"unexpected answer (HTTP {status}, not a JSON object): {text}",
            header_trace,
            status_code=status,
            retry_after=retry_after,
        )
    code = _code(envelope.get("code"))
    message = str(envelope.get("message") or "")
    trace_id = str(envelope.get("traceId") or header_trace)
    if 200 <= status < 300 and code == Code.SUCCESS:
        return envelope
    return api_error(
        code,
        message or f"HTTP {status} without a message",
        trace_id,
        status_code=status,
        retry_after=retry_after,
        envelope=envelope,
    )


def _has_request(exc: httpx.RequestError) -> bool:
    try:
        exc.request  # noqa: B018 - the property raises when no request was attached
    except RuntimeError:
        return False
    return True
