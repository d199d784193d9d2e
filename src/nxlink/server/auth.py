"""Request authentication, in the order of ``conventions.md``: 1001, 1002, 1004, 1005, 1003."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from nxlink import signing
from nxlink.contract.codes import AUTH_HEADERS, MESSAGES, Code
from nxlink.service.errors import ApiError
from nxlink.store import Store


@dataclass(frozen=True, slots=True)
class Caller:
    access_key: str
    account_id: int


def _fail(code: Code, detail: str = "") -> ApiError:
    message = MESSAGES[code]
    return ApiError(code, f"{message}: {detail}" if detail else message)


def header_map(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as a dict of lowercase names; the first of repeated headers wins."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in reversed(raw)
    }


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    *,
    store: Store,
    now_ms: Callable[[], int],
    window_ms: int,
    biz_types: Collection[str],
    actions: Collection[str],
) -> Caller:
    values = {name: headers.get(name.lower(), "") for name in AUTH_HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise _fail(Code.MISSING_PARAMETERS, ", ".join(missing))

    access_key, ts, biz_type, action, sign = (values[name] for name in AUTH_HEADERS)
    problems: list[str] = []
    if not (ts.isascii() and ts.isdigit()):
        problems.append(f"ts must be decimal digits (epoch milliseconds), got {ts[:40]!r}")
    if biz_type not in biz_types:
        problems.append(f"bizType must be 100, got {biz_type[:40]!r}")
    if action not in actions:
        problems.append(f"action must be nxai, got {action[:40]!r}")
    raw_algorithm = headers.get("algorithm")
    algorithm = signing.normalize_algorithm(raw_algorithm)
    if algorithm is None:
        problems.append(f"algorithm must be md5 or sha256, got {str(raw_algorithm)[:40]!r}")
    if problems:
        raise _fail(Code.PARAMETER_ERROR, "; ".join(problems))
    assert algorithm is not None

    server_ms = now_ms()
    # More than 18 digits is centuries away from any clock (and too long for int()).
    if len(ts) > 18 or abs(server_ms - int(ts)) > window_ms:
        raise _fail(Code.TIMESTAMP_EXPIRED, f"server time {server_ms}")

    auth = store.key_auth(access_key)
    if auth is None:
        raise _fail(Code.INSUFFICIENT_AUTHORITY)

    if not signing.verify(
        sign,
        access_key=access_key,
        access_secret=auth.secret,
        ts=ts,
        body=body,
        action=action,
        biz_type=biz_type,
        algorithm=algorithm,
    ):
        raise _fail(Code.INVALID_SIGNATURE)
    return Caller(access_key=access_key, account_id=auth.account_id)
