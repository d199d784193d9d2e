"""Faults on demand for API requests: the rules and their matching, without HTTP.

A :class:`Fault` says what happens to the requests it matches instead of (or, for latency,
before) their normal answer:

* ``latency``: the answer waits ``ms`` milliseconds, or a draw from ``ms`` to ``max_ms``, then
  the request runs as usual;
* ``code``: the contract's envelope with ``code`` and ``message`` at HTTP 200, like the
  contract's own refusals (1001–1005 have the real messages by default; 1004's names the
  server's time, as the real one does, so a client corrects its clock from it);
* ``status``: that HTTP status with the envelope (code 20000), ``Retry-After`` when given;
* ``drop``: the connection closed with no byte of an answer;
* ``hang``: no answer until the client gives up (closes the connection), at most
  :data:`HANG_MAX_S`, then as ``drop``.

A rule is for one endpoint (its full path; an alias is a path of its own) or :data:`ALL`, and
for one access key (the ``accessKey`` header as sent, before it is checked) or any. A request
gets at most one fault: the rules are tried oldest first, and the first that matches and whose
``probability`` draw passes applies. ``times`` is how many requests a rule still applies to
(``None``: until removed); a rule whose ``times`` runs out is removed. A draw that passes a rule
over costs it nothing.

Draws are deterministic: each rule has its own :class:`random.Random`, seeded from the server's
seed (``NXLINK_SIM_SEED``) and the rule's id, and draws once per request it matches (the
probability, then a latency range's value): the same rules, seed and requests give the same
faults. Ids are ``f1``, ``f2``, … in the order rules are added to a registry.

A :class:`Faults` registry lives in one server process, in memory, like the request journal:
with several server processes, each has its own (add the rules to, and send the requests
through, one process).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from nxlink.contract.codes import MESSAGES, Code

Kind = Literal["latency", "code", "status", "drop", "hang"]
#: Every kind of fault, in the order messages name them.
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
#: The endpoint of a rule for every endpoint.
ALL: Final = "all"
#: The longest a ``hang`` holds a request before dropping it, and the longest latency, seconds.
HANG_MAX_S: Final = 300.0
MAX_LATENCY_MS: Final = int(HANG_MAX_S * 1000)
#: The largest ``times`` and ``Retry-After`` a rule takes.
MAX_TIMES: Final = 1_000_000_000
MAX_RETRY_AFTER_S: Final = 86_400
#: Codes whose message may be left out: the real one is used (1004's with the server time).
DEFAULT_MESSAGE_CODES: Final = frozenset(range(Code.MISSING_PARAMETERS,
                                               Code.INSUFFICIENT_AUTHORITY + 1))  # fmt: skip
MAX_MESSAGE_CHARS: Final = 1000
#: Which parameters each kind takes (``message`` is optional for a status, and for the codes
#: above).
PARAMETERS: Final[dict[Kind, tuple[str, ...]]] = {
    "latency": ("ms", "max_ms"),
    "code": ("code", "message"),
    "status": ("status", "message", "retry_after_s"),
    "drop": (),
    "hang": (),
}
#: The admin API's names of the parameters.
WIRE_NAMES: Final = {"ms": "ms", "max_ms": "maxMs", "code": "code", "message": "message",
                     "status": "status", "retry_after_s": "retryAfter"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Spec:
    """What a rule matches and does; :meth:`problems` says what is wrong with it."""

    endpoint: str
    kind: Kind
    access_key: str | None = None
    ms: int | None = None
    max_ms: int | None = None
    code: int | None = None
    message: str | None = None
    status: int | None = None
    retry_after_s: int | None = None
    times: int | None = None
    probability: float = 1.0

    def problems(self) -> list[str]:
        """Each problem as ``field: what is wrong`` (admin API names); empty when valid.

        The fields' own types and ranges are the caller's to check; these are the rules
        between them."""
        found: list[str] = []
        if self.kind not in KINDS:
            return [f"kind: must be one of {', '.join(KINDS)}"]
        allowed = PARAMETERS[self.kind]
        for name, wire in WIRE_NAMES.items():
            if getattr(self, name) is not None and name not in allowed:
                takes = [k for k in KINDS if name in PARAMETERS[k]]
                found.append(f"{wire}: only with kind {' or '.join(takes)}")
        if self.kind == "latency":
            if self.ms is None:
                found.append("ms: required with kind latency")
            elif self.max_ms is not None and self.max_ms < self.ms:
                found.append(f"maxMs: must be at least ms ({self.ms}), got {self.max_ms}")
        elif self.kind == "code":
            if self.code is None:
                found.append("code: required with kind code")
            elif self.code == Code.SUCCESS:
                found.append("code: must not be 0 (success)")
            elif self.message is None and self.code not in DEFAULT_MESSAGE_CODES:
                found.append(f"message: required with code {self.code} (only 1001 to 1005 "
                             "have a default)")  # fmt: skip
        elif self.kind == "status" and self.status is None:
            found.append("status: required with kind status")
        return found


@dataclass(frozen=True, slots=True)
class Applied:
    """A fault applied to one request: the rule's id and what to do."""

    fault_id: str
    kind: Kind
    #: Seconds to wait first (``latency``).
    delay_s: float = 0.0
    code: int | None = None
    #: The message given with the rule, if any (the answer's default is the caller's).
    message: str | None = None
    status: int | None = None
    retry_after_s: int | None = None


def default_message(code: int, *, server_ms: int) -> str:
    """The real message of a refusal code of 1001 to 1005 (1004's names the server time)."""
    message = MESSAGES[Code(code)]
    return f"{message}: server time {server_ms}" if code == Code.TIMESTAMP_EXPIRED else message


@dataclass(slots=True)
class Fault:
    """A rule in a registry: its spec, how many requests it still applies to, its draws."""

    id: str
    spec: Spec
    created_ms: int
    times_left: int | None
    rng: random.Random
    applied: int = 0

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API answers it (every key, ``null`` where it does not apply;
        ``times`` is what remains)."""
        spec = self.spec
        return {
            "id": self.id,
            "endpoint": spec.endpoint,
            "accessKey": spec.access_key,
            "kind": spec.kind,
            "ms": spec.ms,
            "maxMs": spec.max_ms,
            "code": spec.code,
            "message": spec.message,
            "status": spec.status,
            "retryAfter": spec.retry_after_s,
            "times": self.times_left,
            "probability": spec.probability,
            "applied": self.applied,
            "created": self.created_ms,
        }

    def matches(self, path: str, access_key: str | None) -> bool:
        spec = self.spec
        return (spec.endpoint == ALL or spec.endpoint == path) and (
            spec.access_key is None or spec.access_key == access_key
        )


class Faults:
    """This process's fault rules, drawn with ``seed``. Thread-safe; :meth:`match` is cheap
    with no rules."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rules: list[Fault] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, spec: Spec, *, now_ms: int) -> dict[str, Any]:
        """Add a rule (its :meth:`Spec.problems` must be empty); the rule as answered."""
        problems = spec.problems()
        if problems:
            raise ValueError("; ".join(problems))
        with self._lock:
            fault_id = f"f{self._next_id}"
            self._next_id += 1
            fault = Fault(fault_id, spec, now_ms, spec.times,
                          random.Random(f"{self.seed}:{fault_id}"))  # fmt: skip
            self._rules.append(fault)
            return fault.to_json()

    def list(self) -> list[dict[str, Any]]:
        """The rules, oldest first."""
        with self._lock:
            return [fault.to_json() for fault in self._rules]

    def remove(self, fault_id: str) -> dict[str, Any] | None:
        """Remove one rule; the rule, or ``None`` when there is none with that id."""
        with self._lock:
            for index, fault in enumerate(self._rules):
                if fault.id == fault_id:
                    del self._rules[index]
                    return fault.to_json()
        return None

    def clear(self) -> int:
        """Remove every rule; how many there were."""
        with self._lock:
            cleared = len(self._rules)
            self._rules.clear()
        return cleared

    def match(self, path: str, access_key: str | None) -> Applied | None:
        """The fault for a request to ``path`` with ``access_key``, if any, counted against its
        rule's ``times`` (see the module's doc for the order and the draws)."""
        if not self._rules:
            return None
        with self._lock:
            for index, fault in enumerate(self._rules):
                if not fault.matches(path, access_key):
                    continue
                spec = fault.spec
                if not fault.rng.random() < spec.probability:
                    continue
                fault.applied += 1
                if fault.times_left is not None:
                    fault.times_left -= 1
                    if fault.times_left <= 0:
                        del self._rules[index]
                delay_ms = 0
                if spec.kind == "latency":
                    assert spec.ms is not None
                    delay_ms = spec.ms
                    if spec.max_ms is not None and spec.max_ms > spec.ms:
                        delay_ms = fault.rng.randint(spec.ms, spec.max_ms)
                return Applied(fault.id, spec.kind, delay_s=delay_ms / 1000, code=spec.code,
                               message=spec.message, status=spec.status,
                               retry_after_s=spec.retry_after_s)  # fmt: skip
        return None
