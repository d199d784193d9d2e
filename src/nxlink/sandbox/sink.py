"""The callback sink: what was POSTed to ``/_nxlink/sink/{name}``, in a bounded ring.

A test or a demo points ``taskCallbackUrl`` / ``callCallbackUrl`` at the sandbox itself and
reads its callbacks back. Each record keeps every header, the body (its JSON when it parses)
and whether the five auth headers carry a valid signature for the key named in ``accessKey``
(callbacks are signed exactly like requests to the API, :mod:`nxlink.callbacks.delivery`), or
that it came unsigned (none of them: ``signatureProblem`` :data:`UNSIGNED`). The body is the
vendor's: the task or the call record at the top level beside ``eventId``, ``eventType`` and
``eventTs``.

Kept per server process, in memory, ``size`` records in all (across names), oldest dropped
first. Checking a signature looks the key up in the store; :func:`check_signature` is that
check and runs on a database thread.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import orjson

from nxlink import signing
from nxlink.store.base import Store

#: What a sink's name may be.
NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def valid_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


#: The problem of a callback that carries none of the five auth headers: its account sends
#: callbacks unsigned (``nxlink accounts set-callbacks NAME --unsigned``).
UNSIGNED: Final = "unsigned: none of the five auth headers (the account sends callbacks unsigned)"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a callback's signature holds, the account whose key verified it, and why not."""

    valid: bool
    account_id: int | None
    problem: str | None


def check_signature(store: Store, headers: dict[str, str], body: bytes) -> Verdict:
    """Check the auth headers (lowercase names) of a posted body against the store's key.

    The recipe is the API's (:func:`nxlink.signing.verify`, with the ``bizType``, ``action``
    and ``algorithm`` the request carries); the time window is not applied, since a callback
    retried by hand may be old.
    """
    names = ("accessKey", "ts", "bizType", "action", "sign")
    missing = [name for name in names if not headers.get(name.lower())]
    if len(missing) == len(names):
        return Verdict(False, None, UNSIGNED)
    if missing:
        return Verdict(False, None, f"{missing[0]}: header missing")
    access_key = headers["accesskey"]
    algorithm = signing.normalize_algorithm(headers.get("algorithm"))
    if algorithm is None:
        return Verdict(False, None, f"algorithm: unknown {headers['algorithm'][:40]!r}")
    auth = store.key_auth(access_key)
    if auth is None:
        return Verdict(False, None, f"accessKey: no enabled key {access_key[:64]!r}")
    ok = signing.verify(
        headers["sign"],
        access_key=access_key,
        access_secret=auth.secret,
        ts=headers["ts"],
        body=body,
        action=headers["action"],
        biz_type=headers["biztype"],
        algorithm=algorithm,
    )
    if not ok:
        return Verdict(False, auth.account_id, "sign: does not match the body and the key")
    return Verdict(True, auth.account_id, None)


def _decoded(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Record:
    """One POST to a sink."""

    id: int
    name: str
    received_ms: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        """The record as the admin API answers it."""
        headers = dict(self.headers)
        return {
            "id": self.id,
            "receivedMs": self.received_ms,
            "eventId": headers.get("x-nxlink-event-id"),
            "accessKey": headers.get("accesskey"),
            "signatureValid": self.verdict.valid,
            "accountId": self.verdict.account_id,
            "signatureProblem": self.verdict.problem,
            "headers": headers,
            "body": _decoded(self.body),
        }


class Sink:
    """The records of every sink of one server process, ``size`` at most, oldest dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._records: deque[Record] = deque(maxlen=size)
        self._next_id = 1
        self._lock = threading.Lock()

    def record(
        self,
        name: str,
        *,
        received_ms: int,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        verdict: Verdict,
    ) -> Record:
        with self._lock:
            record = Record(self._next_id, name, received_ms, headers, body, verdict)
            self._next_id += 1
            self._records.append(record)
            return record

    def select(self, name: str, *, limit: int) -> tuple[int, list[Record]]:
        """How many records ``name`` holds, and its newest ``limit``, oldest first."""
        with self._lock:
            mine = [record for record in self._records if record.name == name]
        return len(mine), mine[-limit:] if limit else []

    def clear(self, name: str) -> int:
        """Drop the records of ``name``; how many there were."""
        with self._lock:
            kept = [record for record in self._records if record.name != name]
            dropped = len(self._records) - len(kept)
            self._records.clear()
            self._records.extend(kept)
            return dropped
