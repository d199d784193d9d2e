"""CPU accounting around a load run: who used the two cores (server, database, load generator,
others).

On a shared machine a benchmark is only as good as its quiet: every scenario records how many
cores the server (the process and its workers), the database (the PostgreSQL backend processes
connected to the benchmark database; 0 for SQLite, which runs inside the server), the load
generator and everything else used while it was measured.
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


def descendants(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn with workers > 1 runs them as children)."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                found.extend(int(c) for c in children)
        except OSError:
            continue
    return found


def _tree_seconds(pid: int) -> dict[int, float]:
    return {p: _process_seconds(p) for p in descendants(pid)}


def postgres_backends(dbname: str) -> list[int]:
    """Pids of the PostgreSQL backends connected to ``dbname``, from their process titles.

    A backend's title is ``postgres: [cluster: ]user database host(port) activity``; the
    server's own processes (checkpointer, WAL writer, …) and other databases' backends are not
    counted (they land in "everything else").
    """
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if not title.startswith(b"postgres: "):
            continue
        words = title.replace(b"\0", b" ").decode(errors="replace").split()[1:]
        if words and words[0].endswith(":"):  # cluster_name, e.g. "15/main:"
            words = words[1:]
        if len(words) >= 2 and words[1] == dbname:
            found.append(int(entry))
    return found


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
    #: PostgreSQL backends of the benchmark database (0 for SQLite).
    database: float = 0.0
    #: Per server process (the supervisor and each worker), by pid.
    server_processes: tuple[tuple[int, float], ...] = ()

    def as_dict(self) -> dict[str, float]:
        keys = ("machine", "server", "database", "loadgen", "other")
        return {k: round(getattr(self, k), 2) for k in keys}


def _delta(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used in between; a process new since ``before`` counts whole.

    (A process that ended in between is lost: the servers' and the database's processes live
    for the whole run.)
    """
    return {pid: max(0.0, secs - before.get(pid, 0.0)) for pid, secs in after.items()}


class CpuMeter:
    """Cores used from construction to :meth:`stop` by the server's process tree, the
    database's backends (when ``database`` names one), this process with its children (the
    load generator) and, by difference with ``/proc/stat``, everything else."""

    def __init__(self, server_pid: int, *, database: str | None = None) -> None:
        self.server_pid = server_pid
        self.database = database
        self._start = (time.monotonic(), _machine_ticks(), _tree_seconds(server_pid),
                       self._database_seconds(), _own_seconds())  # fmt: skip

    def _database_seconds(self) -> dict[int, float]:
        if self.database is None:
            return {}
        return {pid: _process_seconds(pid) for pid in postgres_backends(self.database)}

    def stop(self) -> CpuUse:
        wall0, (busy0, _), server0, db0, own0 = self._start
        wall = max(time.monotonic() - wall0, 1e-9)
        busy1, _ = _machine_ticks()
        machine = (busy1 - busy0) / _TICK / wall
        per_process = _delta(server0, _tree_seconds(self.server_pid))
        server = sum(per_process.values()) / wall
        database = sum(_delta(db0, self._database_seconds()).values()) / wall
        loadgen = (_own_seconds() - own0) / wall
        return CpuUse(
            machine,
            server,
            loadgen,
            max(0.0, machine - server - database - loadgen),
            database,
            tuple((pid, secs / wall) for pid, secs in sorted(per_process.items())),
        )


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
