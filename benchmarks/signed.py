"""Signed task-list requests, prepared before a scenario so the load generator only replays them.

The signature is computed here from ``conventions.md`` (not with ``nxlink.signing``), so a
mistake in the product's signing cannot hide in the benchmark: the product must accept these.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

TASK_LIST_PATH: Final = "/openapi/aiagent/task/list"
BIZ_TYPE: Final = "100"
ACTION: Final = "nxai"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """One fully signed ``POST``: what wrk's ``wrk.format`` and the Python generator send."""

    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def raw(self, host: str) -> bytes:
        """The HTTP/1.1 request bytes (keep-alive), as the Python load generator sends them."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + self.body


def sign(access_key: str, access_secret: str, ts: str, body: bytes) -> str:
    """md5 hex of ``accessKey=..&action=nxai&bizType=100&ts=..[&body=..]&accessSecret=..``."""
    pre = f"accessKey={access_key}&action={ACTION}&bizType={BIZ_TYPE}&ts={ts}".encode()
    if body:
        pre += b"&body=" + body
    pre += f"&accessSecret={access_secret}".encode()
    return hashlib.md5(pre, usedforsecurity=False).hexdigest()


def signed_request(
    access_key: str, access_secret: str, body: bytes, ts_ms: int, *, path: str = TASK_LIST_PATH
) -> SignedRequest:
    """``body`` signed at ``ts_ms`` for ``path`` (the task list unless said)."""
    ts = str(ts_ms)
    headers = (
        ("Content-Type", "application/json"),
        ("accessKey", access_key),
        ("ts", ts),
        ("bizType", BIZ_TYPE),
        ("action", ACTION),
        ("sign", sign(access_key, access_secret, ts, body)),
    )
    return SignedRequest(path, headers, body)


def signed_table(
    access_key: str, access_secret: str, bodies: Sequence[bytes], *, copies: int = 1
) -> list[SignedRequest]:
    """``copies`` signed requests per body, all stamped now (each copy 1 ms apart, so distinct).

    Valid for the server's 60 s timestamp window, i.e. for one ≤ 15 s scenario.
    """
    now_ms = time.time_ns() // 1_000_000
    return [
        signed_request(access_key, access_secret, body, now_ms - copy)
        for copy in range(copies)
        for body in bodies
    ]
