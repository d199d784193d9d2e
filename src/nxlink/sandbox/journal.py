"""The request journal: what each API request sent and was answered, in a bounded ring.

The server records every request to ``/openapi/…`` (``TraceMiddleware``), oldest dropped
first. Kept per server process, in memory: a sandbox is one process, and nothing here touches
the database (so recording never waits on it). Bodies are kept up to ``body_bytes`` each.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

#: Request headers never kept: the signature would let anyone replay the request.
HIDDEN_HEADERS: Final = frozenset({b"sign"})


def _decoded(raw: bytes, truncated: bool) -> Any:
    """A kept body for people: its JSON when it is whole JSON, else its text."""
    if not truncated:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Entry:
    """One API request and its answer."""

    id: int
    ts_ms: int
    method: str
    path: str
    access_key: str | None
    #: As the server received them (ASGI: lower-case names, bytes), ``sign`` left out;
    #: decoded only when someone reads the journal.
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    body_truncated: bool
    #: ``None`` when nothing was answered (a dropped connection, a client that left).
    status: int | None
    code: int | None
    answer: bytes
    answer_truncated: bool
    trace_id: str
    ms: float
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as the admin API answers it."""
        return {
            "id": self.id,
            "ts": self.ts_ms,
            "method": self.method,
            "path": self.path,
            "accessKey": self.access_key,
            "headers": {
                name.decode("latin-1"): value.decode("latin-1") for name, value in self.headers
            },
            "body": _decoded(self.body, self.body_truncated),
            "bodyTruncated": self.body_truncated,
            "status": self.status,
            "code": self.code,
            "answer": _decoded(self.answer, self.answer_truncated),
            "answerTruncated": self.answer_truncated,
            "traceId": self.trace_id,
            "ms": self.ms,
            "fault": self.fault,
        }


@dataclass(frozen=True, slots=True)
class Filter:
    """Which entries: every given field must match. ``path`` is the full path;
    ``contains`` a substring of the request body (as UTF-8 text)."""

    path: str | None = None
    access_key: str | None = None
    code: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    contains: str | None = None

    def matches(self, entry: Entry) -> bool:
        return (
            (self.path is None or entry.path == self.path)
            and (self.access_key is None or entry.access_key == self.access_key)
            and (self.code is None or entry.code == self.code)
            and (self.since_ms is None or entry.ts_ms >= self.since_ms)
            and (self.until_ms is None or entry.ts_ms <= self.until_ms)
            and (
                self.contains is None
                or self.contains in entry.body.decode("utf-8", errors="replace")
            )
        )


class Journal:
    """The last ``size`` API requests of this process."""

    def __init__(self, size: int, *, body_bytes: int) -> None:
        self.size = size
        self.body_bytes = body_bytes
        self._entries: deque[Entry] = deque(maxlen=size)
        self._next_id = 1
        self._lock = threading.Lock()

    def record(
        self,
        *,
        ts_ms: int,
        method: str,
        path: str,
        access_key: str | None,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        status: int | None,
        code: int | None,
        answer: bytes,
        trace_id: str,
        ms: float,
        fault: str | None = None,
    ) -> None:
        """Keep one request (bodies cut at ``body_bytes``; ``sign`` left out)."""
        if self.size == 0:
            return
        kept = tuple(header for header in headers if header[0].lower() not in HIDDEN_HEADERS)
        limit = self.body_bytes
        with self._lock:
            entry = Entry(
                id=self._next_id, ts_ms=ts_ms, method=method, path=path,
                access_key=access_key, headers=kept, body=body[:limit],
                body_truncated=len(body) > limit, status=status, code=code,
                answer=answer[:limit], answer_truncated=len(answer) > limit,
                trace_id=trace_id, ms=ms, fault=fault,
            )  # fmt: skip
            self._next_id += 1
            self._entries.append(entry)

    def select(self, where: Filter, *, limit: int) -> tuple[int, list[Entry]]:
        """How many entries match, and the newest ``limit`` of them, oldest first."""
        with self._lock:
            entries = list(self._entries)
        matching = [entry for entry in entries if where.matches(entry)]
        return len(matching), matching[-limit:] if limit else []

    def count(self, where: Filter) -> int:
        return self.select(where, limit=0)[0]

    def forget(self, access_keys: Collection[str]) -> int:
        """Drop the entries of these access keys; how many there were."""
        keys = set(access_keys)
        with self._lock:
            kept = [entry for entry in self._entries if entry.access_key not in keys]
            dropped = len(self._entries) - len(kept)
            self._entries = deque(kept, maxlen=self.size)
        return dropped

    def clear(self) -> int:
        """Forget every entry; how many there were."""
        with self._lock:
            dropped = len(self._entries)
            self._entries.clear()
        return dropped
