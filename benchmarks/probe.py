"""The side probe: ``GET /healthz`` at a steady pace while a scenario runs, timed one by one.

It answers "does a slow task-list query hold up anything else?": the product runs its store
calls on a pool of database threads, so the event loop should answer the health check at once
even while a ``taskName`` search scans half a million names. Each probe opens a new connection
(as a load balancer's health check does), so the time includes the accept.

Bounded: one probe every ``interval`` seconds, at most ``max_probes``, each with a 5 s timeout,
and it stops when asked or after ``max_seconds``.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final

#: The product's health answer must stay under this, whatever the task list is doing.
HEALTHZ_LIMIT_MS: Final = 50.0


@dataclass(slots=True)
class ProbeResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def percentile(self, pct: float) -> float:
        values = sorted(self.latencies_ms)
        if not values:
            return 0.0
        return values[max(0, math.ceil(pct / 100 * len(values)) - 1)]

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms, default=0.0)

    @property
    def ok(self) -> bool:
        return bool(self.latencies_ms) and not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "probes": len(self.latencies_ms),
            "errors": self.errors,
            "first_error": self.first_error or None,
            "p50_ms": round(self.percentile(50), 3),
            "p99_ms": round(self.percentile(99), 3),
            "max_ms": round(self.max_ms, 3),
            "over_limit": sum(ms >= HEALTHZ_LIMIT_MS for ms in self.latencies_ms),
            "limit_ms": HEALTHZ_LIMIT_MS,
        }


class HealthProbe:
    """Probe ``GET /healthz`` on 127.0.0.1:``port`` from a thread; ``with`` it around a run."""

    def __init__(
        self,
        port: int,
        *,
        interval: float = 0.05,
        max_probes: int = 2_000,
        max_seconds: float = 60.0,
    ) -> None:
        self.port = port
        self.interval = interval
        self.max_probes = max_probes
        self.max_seconds = max_seconds
        self.result = ProbeResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-probe", daemon=True)

    def _once(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5.0)
        started = time.perf_counter()
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            body = resp.read()
            elapsed = (time.perf_counter() - started) * 1000
            if resp.status != 200 or b'"code":0' not in body[:64]:
                raise ValueError(f"HTTP {resp.status}: {body[:80]!r}")
            self.result.latencies_ms.append(elapsed)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            self.result.errors += 1
            self.result.first_error = self.result.first_error or f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        next_at = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            if len(self.result.latencies_ms) + self.result.errors >= self.max_probes:
                return
            self._once()
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)
