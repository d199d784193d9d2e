"""What the client raises.

Every exception derives from :class:`NxError`::

    NxError
    ├── ApiError(code, message, trace_id)      the service answered, and not with success
    │   ├── AuthError                          codes 1001–1005
    │   │   ├── SignatureError                 1003: the signature does not match
    │   │   └── TimestampError                 1004: ts is outside the server's window
    │   └── BusinessError                      20000: the body breaks the endpoint's rules
    └── TransportError                         no answer: connection refused, reset, DNS, ...
        └── TimeoutError                       no answer in time

An :class:`ApiError` for an answer outside the contract's HTTP 200 (HTTP 404, 429, 500, ...)
is a plain :class:`ApiError` with :attr:`ApiError.status_code` set, whatever code its envelope
carries: the code family only classifies the contract's answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "BusinessError",
    "NxError",
    "SignatureError",
    "TimeoutError",
    "TimestampError",
    "TransportError",
]


class NxError(Exception):
    """Base class of every error the client raises (also for a missing access key or secret)."""


class ApiError(NxError):
    """The service answered with something other than success.

    ``code`` is the envelope's ``code`` (``None`` when the answer was not an envelope at all),
    ``message`` its ``message`` and ``trace_id`` its ``traceId`` (``""`` when absent): quote
    the trace id when you report a problem, the service logs it with the request.
    ``envelope`` is the whole answer as decoded, when it was a JSON object.
    """

    def __init__(
        self,
        code: int | None,
        message: str,
        trace_id: str = "",
        *,
        status_code: int = 200,
        retry_after: float | None = None,
        envelope: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.trace_id = trace_id
        #: The HTTP status of the answer (200 for every code of the contract).
        self.status_code = status_code
        #: Seconds the server asked to wait (``Retry-After``), when it did.
        self.retry_after = retry_after
        #: The answer as decoded (``None`` when it was not a JSON object).
        self.envelope: dict[str, Any] | None = dict(envelope) if envelope is not None else None

    def __str__(self) -> str:
        parts = [] if self.code is None else [f"code {self.code}"]
        if self.status_code != 200:
            parts.append(f"HTTP {self.status_code}")
        if self.trace_id:
            parts.append(f"traceId {self.trace_id}")
        return f"{self.message} ({', '.join(parts)})" if parts else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"trace_id={self.trace_id!r})"
        )


class AuthError(ApiError):
    """Codes 1001–1005: a header is missing or malformed, the key is unknown or revoked, ..."""


class SignatureError(AuthError):
    """Code 1003: the signature does not match (wrong secret, or the body changed in transit)."""


class TimestampError(AuthError):
    """Code 1004: ``ts`` is too far from the server's clock.

    ``server_time_ms`` is the server's clock from the message, when it carries it.
    """

    def __init__(
        self,
        code: int | None,
        message: str,
        trace_id: str = "",
        *,
        status_code: int = 200,
        retry_after: float | None = None,
        envelope: Mapping[str, Any] | None = None,
        server_time_ms: int | None = None,
    ) -> None:
        super().__init__(
            code, message, trace_id, status_code=status_code, retry_after=retry_after,
            envelope=envelope,
        )  # fmt: skip
        self.server_time_ms = server_time_ms


class BusinessError(ApiError):
    """Code 20000: the request body breaks the endpoint's rules; the message names each field."""


class TransportError(NxError):
    """No answer came back: the connection failed, was reset, or the name did not resolve."""


class TimeoutError(TransportError):
    """No answer within the client's ``timeout`` (connecting, writing, reading or waiting for a
    pooled connection). Named as httpx names it; it is not Python's built-in ``TimeoutError``."""
