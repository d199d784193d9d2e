"""The NXLink request signature: pure functions shared by server, client and callbacks.

The recipe (``conventions.md``)::

    pre  = "accessKey=" + accessKey + "&action=" + action + "&bizType=" + bizType + "&ts=" + ts
    if raw body is not empty:  pre += "&body=" + raw body, byte for byte as sent
    pre += "&accessSecret=" + accessSecret
    sign = lowercase hex(md5(utf8(pre)))          # sha256 when algorithm: sha256

The body is hashed exactly as sent: never decoded, never re-serialised.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, Literal

Algorithm = Literal["md5", "sha256"]

ALGORITHMS: Final[tuple[Algorithm, ...]] = ("md5", "sha256")
BIZ_TYPE: Final = "100"
ACTION: Final = "nxai"


def normalize_algorithm(value: str | None) -> Algorithm | None:
    """Map an ``algorithm`` header value to a known algorithm; ``None`` when unknown.

    Missing or empty means md5; the match is case-insensitive.
    """
    if not value:
        return "md5"
    lowered = value.lower()
    if lowered == "md5":
        return "md5"
    if lowered == "sha256":
        return "sha256"
    return None


def preimage(
    *,
    access_key: str,
    action: str,
    biz_type: str,
    ts: str,
    body: bytes,
    access_secret: str,
) -> bytes:
    """Build the exact bytes that are hashed for a signature."""
    head = f"accessKey={access_key}&action={action}&bizType={biz_type}&ts={ts}".encode()
    tail = f"&accessSecret={access_secret}".encode()
    if body:
        return head + b"&body=" + body + tail
    return head + tail


def digest(data: bytes, algorithm: Algorithm = "md5") -> str:
    """Lowercase hex digest of ``data`` with ``algorithm``."""
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sign(
    *,
    access_key: str,
    access_secret: str,
    ts: str,
    body: bytes,
    action: str = ACTION,
    biz_type: str = BIZ_TYPE,
    algorithm: Algorithm = "md5",
) -> str:
    """Compute the ``sign`` header for a request."""
    pre = preimage(
        access_key=access_key,
        action=action,
        biz_type=biz_type,
        ts=ts,
        body=body,
        access_secret=access_secret,
    )
    return digest(pre, algorithm)


def verify(
    signature: str,
    *,
    access_key: str,
    access_secret: str,
    ts: str,
    body: bytes,
    action: str,
    biz_type: str,
    algorithm: Algorithm = "md5",
) -> bool:
    """Check ``signature`` in constant time.

    A body that is exactly ``{}`` is also accepted when signed without the ``&body=`` part
    (``decisions.md`` #12).
    """
    given = signature.encode("ascii", "replace")
    expected = sign(
        access_key=access_key,
        access_secret=access_secret,
        ts=ts,
        body=body,
        action=action,
        biz_type=biz_type,
        algorithm=algorithm,
    )
    ok = hmac.compare_digest(given, expected.encode())
    if body == b"{}":
        bare = sign(
            access_key=access_key,
            access_secret=access_secret,
            ts=ts,
            body=b"",
            action=action,
            biz_type=biz_type,
            algorithm=algorithm,
        )
        ok = hmac.compare_digest(given, bare.encode()) or ok
    return ok


def headers(
    *,
    access_key: str,
    access_secret: str,
    ts: str,
    body: bytes,
    algorithm: Algorithm = "md5",
) -> dict[str, str]:
    """The five auth headers (plus ``algorithm`` when not md5) for a request body."""
    out = {
        "accessKey": access_key,
        "ts": ts,
        "bizType": BIZ_TYPE,
        "action": ACTION,
        "sign": sign(
            access_key=access_key,
            access_secret=access_secret,
            ts=ts,
            body=body,
            algorithm=algorithm,
        ),
    }
    if algorithm != "md5":
        out["algorithm"] = algorithm
    return out
