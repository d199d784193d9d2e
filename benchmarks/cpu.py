"""CPU accounting around a load run: who used the two cores (server, load generator, others).

On a shared machine a benchmark is only as good as its quiet: every scenario records how many
cores the server, the load generator and everything else used while it was measured.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_TICK: Final = os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs together, from ``/proc/stat``."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _process_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _own_seconds() -> float:
    """CPU seconds of this process and its waited-for children (wrk runs as one)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass(frozen=True, slots=True)
class CpuUse:
    """Cores in use on average over a run (1.0 = one core fully busy)."""

    machine: float
    server: float
    loadgen: float
    other: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 2) for k in ("machine", "server", "loadgen", "other")}


class CpuMeter:
    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._start = (time.monotonic(), _machine_ticks(), _process_seconds(server_pid),
                       _own_seconds())  # fmt: skip

    def stop(self) -> CpuUse:
        wall0, (busy0, _), server0, own0 = self._start
        wall = max(time.monotonic() - wall0, 1e-9)
        busy1, _ = _machine_ticks()
        machine = (busy1 - busy0) / _TICK / wall
        server = (_process_seconds(self.server_pid) - server0) / wall
        loadgen = (_own_seconds() - own0) / wall
        return CpuUse(machine, server, loadgen, max(0.0, machine - server - loadgen))


def busy_cores(interval: float = 1.0) -> float:
    """Cores busy machine-wide over ``interval`` seconds."""
    busy0, _ = _machine_ticks()
    time.sleep(interval)
    busy1, _ = _machine_ticks()
    return (busy1 - busy0) / _TICK / interval


def wait_for_quiet(max_wait: float, threshold: float = 0.5) -> tuple[float, float]:
    """Wait (at most ``max_wait`` s) until under ``threshold`` cores are busy.

    Returns (seconds waited, busy cores at the last sample).
    """
    started = time.monotonic()
    busy = busy_cores(0.5)
    while busy >= threshold and time.monotonic() - started < max_wait:
        busy = busy_cores(1.0)
    return time.monotonic() - started, busy
