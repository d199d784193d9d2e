"""``nxlink`` with a memory probe: the diagnostic's server wrapper (:mod:`benchmarks.memory`).

    python -X tracemalloc=25 -m benchmarks.tracedserve serve --db URL ...   (nxlink's arguments)

Installs a SIGUSR1 handler, then runs the console script's ``main`` (in this process: ``serve
--workers 1`` runs uvicorn in it). Each SIGUSR1 writes, into ``$MEMDIAG_DIR``, the n-th
``snap-<n>.pickle`` (``tracemalloc.take_snapshot()``, when tracing) and ``stats-<n>.json``
(object counts by type from ``gc.get_objects()``, traced memory, glibc's ``mallinfo2``,
``/proc/self/smaps_rollup``, threads, asyncio tasks), ``stats`` last and renamed into place, so
its appearance says the dump is complete. A benchmark tool: nothing of it is in ``src/nxlink``.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

DIR_ENV = "MEMDIAG_DIR"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def mallinfo() -> dict[str, int]:
    """glibc's heap figures (bytes): ``arena`` (sbrk'd), ``hblkhd`` (mmapped), ``uordblks``
    (in use), ``fordblks`` (free but kept); {} without glibc 2.33+."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        func = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    func.restype = _MallInfo2
    info = func()
    return {name: int(getattr(info, name)) for name, _ in _MallInfo2._fields_}


def smaps_rollup() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[-1] == "kB":
                out[key] = int(parts[0])
    except OSError:
        pass
    return out


def _type_name(obj: object) -> str:
    cls = type(obj)
    module = getattr(cls, "__module__", "")
    return f"{module}.{cls.__qualname__}" if module not in ("builtins", "") else cls.__qualname__


def _simulators(objects: list[object]) -> list[dict[str, Any]]:
    """Each in-process simulator's progress: its own time against its clock's (the lag), the
    calls it holds in flight, how many ended by its own time but are not reported yet."""
    out = []
    clocks = [o for o in objects if _type_name(o).startswith("nxlink.dialer.simulator.")
              and _type_name(o).endswith("SimClock")]  # fmt: skip
    clock_now = clocks[0].now() if clocks else None  # type: ignore[attr-defined]
    for obj in objects:
        if _type_name(obj) != "nxlink.dialer.simulator.Simulator":
            continue
        calls = list(obj._calls)  # type: ignore[attr-defined]
        now = obj.now  # type: ignore[attr-defined]
        ends = [c.end for c in calls]
        starts = [c.held.claimed_at for c in calls]
        out.append({
            "sim_now": now, "clock_now": clock_now,
            "lag_sim_s": None if now is None or clock_now is None else clock_now - now,
            "in_flight": len(calls), "placed": obj.placed,  # type: ignore[attr-defined]
            "reported": obj.reported,  # type: ignore[attr-defined]
            "ended_not_reported": sum(1 for e in ends if now is not None and e <= now),
            "tasks_in_flight": len({c.held.task_row_id for c in calls}),
            "min_end": min(ends, default=None), "max_end": max(ends, default=None),
            "min_start": min(starts, default=None), "max_start": max(starts, default=None),
        })  # fmt: skip
    return out


def dump(directory: Path, n: int) -> None:
    started = time.monotonic()
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot()
        snap.dump(str(directory / f"snap-{n}.pickle"))
    objects = gc.get_objects()
    counts = Counter(_type_name(obj) for obj in objects)
    simulators = _simulators(objects)
    del objects
    loop = asyncio._get_running_loop()
    stats: dict[str, Any] = {
        "n": n,
        "time": time.time(),
        "objects": dict(counts.most_common()),
        "simulators": simulators,
        "gc_counts": gc.get_count(),
        "gc_stats": gc.get_stats(),
        "threads": sorted(t.name for t in threading.enumerate()),
        "asyncio_tasks": len(asyncio.all_tasks(loop)) if loop is not None else -1,
        "traced": tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else None,
        "tracemalloc_overhead": tracemalloc.get_tracemalloc_memory(),
        "mallinfo": mallinfo(),
        "smaps_rollup_kib": smaps_rollup(),
    }
    stats["dump_seconds"] = round(time.monotonic() - started, 2)
    tmp = directory / f"stats-{n}.json.tmp"
    tmp.write_text(json.dumps(stats, default=str), encoding="utf-8")
    tmp.rename(directory / f"stats-{n}.json")


def install(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1_000_000))

    def on_signal(signum: int, frame: object) -> None:
        n = next(counter)
        try:
            dump(directory, n)
        except Exception as exc:  # a diagnostic: say so, never stop the server
            print(f"tracedserve: dump {n} failed: {exc!r}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR1, on_signal)


def main() -> None:
    install(Path(os.environ[DIR_ENV]))
    sys.argv[0] = "nxlink"
    from nxlink._console import main as nxlink_main

    nxlink_main()


if __name__ == "__main__":
    main()
