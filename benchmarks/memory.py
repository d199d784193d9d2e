"""The memory diagnostic: the soak's load on a traced server, and what grows. Not a test.

    .venv/bin/python -m benchmarks.memory [--backend sqlite|postgres] [--minutes 8]
        [--frames 25] [--warmup 90] [--interval 60] [--rate 100] [--workers 8] [--top 15]

The soak's pieces (:mod:`benchmarks.soak`: a fresh database, :func:`~benchmarks.soak.prepare`,
:class:`~benchmarks.soak.Receiver`, :class:`~benchmarks.soak.Load`) with the server started
through :mod:`benchmarks.tracedserve` (``python -X tracemalloc=<frames> -m
benchmarks.tracedserve serve ...``, the arguments of the soak's ``nxlink serve``). After
``--warmup`` s and every ``--interval`` s the server gets SIGUSR1 and dumps a tracemalloc
snapshot and its object counts; the RSS is sampled every few seconds. At the end: the
allocation sites that grew most from the first dump to the last (``compare_to(...,
'traceback')``) and their size at every dump, the types whose object counts grew, and the
RSS, traced memory and glibc heap over time. ``--frames 0`` runs without tracemalloc (object
counts, heap and RSS only: the RSS of an untraced process). Output on stdout and in
``benchmarks/results/memory-<backend>[-<tag>].txt`` and ``.json``.

Bounded: ``--minutes`` at most 10, a request cap, 127.0.0.1 only; callbacks go to the local
receiver only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks import dataset, pgdata, soak
from benchmarks.servers import ServerProcess, product_server
from benchmarks.tracedserve import DIR_ENV

DATA_DIR: Final = dataset.DATA_DIR / "memory"
#: Frames of no interest in a site's traceback (the diagnostic's own, the import machinery).
IGNORED: Final = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>",
                  "<unknown>", tracemalloc.__file__)  # fmt: skip
#: Frames anywhere in a traceback that mark the dump's own allocations.
DUMPER: Final = "*/benchmarks/tracedserve.py"


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def traced_server(
    db_url: str, backend: str, *, frames: int, seed: int, dumps: Path
) -> ServerProcess:
    """The soak's ``nxlink serve`` command, run by :mod:`benchmarks.tracedserve`."""
    server = product_server(
        db_url, DATA_DIR / f"requests-{backend}.log", DATA_DIR / f"server-{backend}.log",
        extra_args=["--simulate", "--speed", f"{soak.SIM_SPEED:g}", "--seed", str(seed)],
        env={"NXLINK_CALLBACK_BACKOFF_SCALE": str(soak.BACKOFF_SCALE), DIR_ENV: str(dumps)},
    )  # fmt: skip
    assert Path(server.cmd[0]).name == "nxlink" and server.cmd[1] == "serve", server.cmd
    python = [sys.executable, *(["-X", f"tracemalloc={frames}"] if frames else [])]
    server.cmd = [*python, "-m", "benchmarks.tracedserve", *server.cmd[1:]]
    return server


_DB_COUNTS: Final = {
    "orders": "SELECT state, count(*) FROM orders GROUP BY state",
    "live_tasks": "SELECT task_status, count(*) FROM tasks WHERE synthetic = 0 "
    "GROUP BY task_status",
    "outbox": "SELECT state, count(*) FROM outbox GROUP BY state",
    "calls": "SELECT 'calls', count(*) FROM calls",
}


def db_counts(db_url: str) -> dict[str, dict[str, int]]:
    """Rows by state at a dump: what the dialer has to do, read beside the server."""
    if db_url.startswith("sqlite:///"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            return {k: {str(a): int(b) for a, b in conn.execute(q)} for k, q in _DB_COUNTS.items()}
    import psycopg

    with psycopg.connect(db_url, autocommit=True, connect_timeout=10) as pg:
        return {k: {str(a): int(b) for a, b in pg.execute(q)} for k, q in _DB_COUNTS.items()}


class Dumper:
    """SIGUSR1 to the server at ``warmup`` and every ``interval`` s; waits for each dump."""

    def __init__(self, server: ServerProcess, directory: Path, db_url: str, *, warmup: float,
                 interval: float) -> None:  # fmt: skip
        self.server = server
        self.db_url = db_url
        self.db: list[dict[str, dict[str, int]]] = []
        self._lock = threading.Lock()
        self.directory = directory
        self.warmup = warmup
        self.interval = interval
        self.started = time.monotonic()
        self.taken: list[tuple[int, float, float]] = []  # (n, t, rss MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dumper", daemon=True)

    def take(self) -> None:
        with self._lock:
            self._take()

    def _take(self) -> None:
        n = len(self.taken)
        rss = self.server.rss_mib()
        t = round(time.monotonic() - self.started, 1)
        os.kill(self.server.pid, signal.SIGUSR1)
        done = self.directory / f"stats-{n}.json"
        deadline = time.monotonic() + 120
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not done.exists():
            raise RuntimeError(f"dump {n} not written within 120 s")
        self.taken.append((n, t, rss))
        self.db.append(db_counts(self.db_url))
        stats = json.loads(done.read_text())
        sims = stats.get("simulators") or [{}]
        _say(f"dump {n} at {t:.0f} s: RSS {rss:.1f} MiB (dump took {stats['dump_seconds']} s); "
             f"simulator {sims[0]}; db {self.db[-1]}")  # fmt: skip

    def _run(self) -> None:
        if self._stop.wait(self.warmup):
            return
        self.take()
        while not self._stop.wait(self.interval):
            self.take()

    def __enter__(self) -> Dumper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=180)


# -- the analysis ---------------------------------------------------------------------------------


def _load(directory: Path, n: int) -> tracemalloc.Snapshot | None:
    path = directory / f"snap-{n}.pickle"
    if not path.exists():
        return None
    snap = tracemalloc.Snapshot.load(str(path))
    filters = [tracemalloc.Filter(False, pattern) for pattern in IGNORED]
    return snap.filter_traces([*filters, tracemalloc.Filter(False, DUMPER, all_frames=True)])


def _short(frame: tracemalloc.Frame) -> str:
    name = frame.filename
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/"):
        if marker in name:
            name = name.split(marker, 1)[1]
            break
    return f"{name}:{frame.lineno}"


def _own_frames(tb: tracemalloc.Traceback, limit: int = 8) -> list[str]:
    """The innermost ``limit`` frames, innermost first (tracemalloc keeps them oldest last)."""
    return [_short(frame) for frame in list(tb)[::-1][:limit]]


def analyse(
    directory: Path, taken: Sequence[tuple[int, float, float]], *, top: int
) -> dict[str, Any]:
    stats = [json.loads((directory / f"stats-{n}.json").read_text()) for n, _, _ in taken]
    times = [t for _, t, _ in taken]
    out: dict[str, Any] = {
        "dumps": [{"n": n, "t": t, "rss_mib": round(rss, 1),
                   "traced_mib": round(s["traced"][0] / 2**20, 2) if s["traced"] else None,
                   "tracemalloc_overhead_mib": round(s["tracemalloc_overhead"] / 2**20, 1),
                   "heap_in_use_mib": round(s["mallinfo"].get("uordblks", 0) / 2**20, 1),
                   "heap_free_mib": round(s["mallinfo"].get("fordblks", 0) / 2**20, 1),
                   "mmapped_mib": round(s["mallinfo"].get("hblkhd", 0) / 2**20, 1),
                   "anonymous_mib": round(s["smaps_rollup_kib"].get("Anonymous", 0) / 1024, 1),
                   "threads": len(s["threads"]), "asyncio_tasks": s["asyncio_tasks"],
                   "gc_objects": sum(s["objects"].values()),
                   "simulators": s.get("simulators", [])}
                  for (n, t, rss), s in zip(taken, stats, strict=True)],
    }  # fmt: skip
    first, last = stats[0]["objects"], stats[-1]["objects"]
    grown = sorted(((last.get(k, 0) - first.get(k, 0), k) for k in set(first) | set(last)),
                   reverse=True)[:top]  # fmt: skip
    out["object_growth"] = [
        {"type": k, "delta": d, "counts": [s["objects"].get(k, 0) for s in stats]}
        for d, k in grown
        if d > 0
    ]
    out["threads_last"] = stats[-1]["threads"]
    snaps = [_load(directory, n) for n, _, _ in taken]
    if snaps[0] is None or snaps[-1] is None:
        return out
    base, end = snaps[0], snaps[-1]
    minutes = max((times[-1] - times[0]) / 60, 1e-9)
    sites = []
    by_tb = [{st.traceback: st for st in s.statistics("traceback")} for s in snaps if s]
    growing = sorted(end.compare_to(base, "traceback"), key=lambda d: -d.size_diff)
    for diff in growing[:top]:
        series = [round(d[diff.traceback].size / 1024, 1) if diff.traceback in d else 0.0
                  for d in by_tb]  # fmt: skip
        sites.append({"size_diff_kib": round(diff.size_diff / 1024, 1),
                      "size_kib": round(diff.size / 1024, 1), "count_diff": diff.count_diff,
                      "count": diff.count, "kib_per_min": round(diff.size_diff / 1024 / minutes, 1),
                      "kib_over_time": series, "frames": _own_frames(diff.traceback)})  # fmt: skip
    out["sites"] = sites
    out["lines"] = [
        {"size_diff_kib": round(d.size_diff / 1024, 1), "size_kib": round(d.size / 1024, 1),
         "count_diff": d.count_diff, "where": _short(d.traceback[0])}
        for d in sorted(end.compare_to(base, "lineno"), key=lambda d: -d.size_diff)[:top]
    ]  # fmt: skip
    files = sorted(end.compare_to(base, "filename"), key=lambda d: -d.size_diff)
    out["files"] = [
        {"size_diff_kib": round(d.size_diff / 1024, 1),
         "where": _short(d.traceback[0]).rsplit(":", 1)[0]}
        for d in files[:top]
    ]  # fmt: skip
    out["traced_total_diff_kib"] = round(sum(d.size_diff for d in files) / 1024, 1)
    return out


def render(figures: dict[str, Any]) -> str:
    a = figures["analysis"]
    lines = [
        f"memory diagnostic, {figures['backend']}"
        f"{' (' + figures['tag'] + ')' if figures['tag'] else ''}: "
        f"{figures['minutes']:g} min at {figures['rate']:g} req/s, tracemalloc frames "
        f"{figures['frames']}, commit {figures['commit']}; {figures['requests']:,} requests, "
        f"{figures['tasks_created']:,} tasks created, {figures['http_5xx']} 5xx",
        "",
        "dumps (t s: RSS / traced / tracemalloc's own / heap in use / heap free / mmapped / "
        "anonymous MiB; threads; asyncio tasks; gc objects):",
    ]
    for d in a["dumps"]:
        lines.append(f"  {d['t']:6.0f}: {d['rss_mib']:6.1f} / {d['traced_mib']} / "
                     f"{d['tracemalloc_overhead_mib']} / "
                     f"{d['heap_in_use_mib']} / {d['heap_free_mib']} / {d['mmapped_mib']} / "
                     f"{d['anonymous_mib']}; {d['threads']}; {d['asyncio_tasks']}; "
                     f"{d['gc_objects']:,}")  # fmt: skip
    for d, db in zip(a["dumps"], figures.get("db_counts") or [], strict=False):
        sims = "; ".join(
            f"lag {x['lag_sim_s']} sim s, {x['in_flight']} in flight on {x['tasks_in_flight']} "
            f"tasks ({x['ended_not_reported']} ended, unreported), placed {x['placed']:,}, "
            f"reported {x['reported']:,}"
            for x in d.get("simulators") or []
        )
        lines.append(f"  {d['t']:6.0f}: simulator: {sims or '-'}; db: {db}")
    rss = figures["rss_growth"]
    lines += ["", f"RSS after warm-up: {rss['at_warmup_mib']} → {rss['last_mib']} MiB "
              f"({rss['growth'] * 100:+.1f} %)", ""]  # fmt: skip
    if a.get("object_growth"):
        lines.append("object counts that grew (type: delta; counts at each dump):")
        for g in a["object_growth"]:
            lines.append(f"  {g['type']}: {g['delta']:+,}; {g['counts']}")
        lines.append("")
    if "sites" in a:
        lines.append(
            f"traced total growth first → last dump: {a['traced_total_diff_kib']:+,.1f} KiB"
        )
        lines.append("")
        lines.append("allocation sites that grew most (traceback, innermost first):")
        for s in a["sites"]:
            lines.append(f"  {s['size_diff_kib']:+,.1f} KiB ({s['kib_per_min']:+.1f} KiB/min), "
                         f"now {s['size_kib']:,.1f} KiB in {s['count']:,} blocks "
                         f"({s['count_diff']:+,}); KiB at each dump "
                         f"{s['kib_over_time']}")  # fmt: skip
            for frame in s["frames"]:
                lines.append(f"      {frame}")
        lines += ["", "lines that grew most:"]
        lines += [f"  {d['size_diff_kib']:+,.1f} KiB (now {d['size_kib']:,.1f}, "
                  f"{d['count_diff']:+,} blocks) {d['where']}" for d in a["lines"]]  # fmt: skip
        lines += ["", "files that grew most:"]
        lines += [f"  {d['size_diff_kib']:+,.1f} KiB {d['where']}" for d in a["files"]]
    return "\n".join(lines) + "\n"


# -- the run --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    backend = args.backend
    seconds = args.minutes * 60
    max_requests = math.ceil(args.rate * seconds * 1.2)
    dumps = DATA_DIR / f"dumps-{backend}{'-' + args.tag if args.tag else ''}"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if dumps.exists():
        for path in dumps.iterdir():
            path.unlink()
    pg_url = args.pg_url
    _say(f"{backend}: fresh database, {args.seed_tasks:,} seeded tasks")
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(soak.fresh_database(backend, pg_url, keep=False))
        receiver = soak.Receiver(seed=args.seed)
        tenant, seeded = soak.prepare(db_url, receiver.url, seed=args.seed,
                                      seed_tasks=args.seed_tasks)  # fmt: skip
        receiver.access_key, receiver.access_secret = tenant.access_key, tenant.access_secret
        stack.enter_context(receiver)
        server = traced_server(db_url, backend, frames=args.frames, seed=args.seed, dumps=dumps)
        stack.enter_context(server)
        base_url = f"http://127.0.0.1:{server.port}"
        load = soak.Load(base_url, tenant, receiver_url=receiver.url, seeded_task_ids=seeded,
                         rate=args.rate, workers=args.workers, max_requests=max_requests,
                         seed=args.seed)  # fmt: skip
        _say(f"{backend}: load for {seconds:.0f} s at {args.rate:g} req/s on {base_url} "
             f"(server pid {server.pid}, dumps in {dumps})")  # fmt: skip
        database = pgdata.database_name(db_url) if backend == "postgres" else None
        dumper = Dumper(server, dumps, db_url, warmup=args.warmup, interval=args.interval)
        with soak.Sampler(server, interval=5.0, database=database) as sampler:
            with dumper:
                load.run(seconds)
            sampler.sample()
            dumper.take()  # the last dump, with the load just stopped
        server.stop()
    _say(f"{backend}: {load.stats.requests:,} requests; analysing {len(dumper.taken)} dumps")
    figures: dict[str, Any] = {
        "backend": backend,
        "tag": args.tag,
        "minutes": args.minutes,
        "rate": args.rate,
        "frames": args.frames,
        "commit": soak.machine()["commit"],
        "requests": load.stats.requests,
        "http_5xx": load.stats.count_5xx,
        "tasks_created": len(load.tasks),
        "rss_growth": soak.rss_growth(sampler.rss, args.warmup),
        "rss_samples": sampler.rss,
        "analysis": analyse(dumps, dumper.taken, top=args.top),
        "db_counts": dumper.db,
    }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=soak.BACKENDS, default="postgres")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--frames", type=int, default=25, help="tracemalloc frames (0: off)")
    parser.add_argument("--warmup", type=float, default=90.0)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seed-tasks", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--pg-url", default=soak.DEFAULT_PG_URL.replace("_soak", "_memory"))
    parser.add_argument("--tag", default="")
    parser.add_argument("--analyse-only", action="store_true",
                        help="analyse the dumps of the last run again (no load)")  # fmt: skip
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 10 or not 0 < args.rate <= 1000 or not 0 <= args.frames <= 100:
        parser.error("--minutes 0–10, --rate 0–1000, --frames 0–100")
    if args.warmup >= args.minutes * 60:
        parser.error("--warmup must end before the load does")
    name = f"memory-{args.backend}{'-' + args.tag if args.tag else ''}"
    out_json = soak.RESULTS_DIR / f"{name}.json"
    if args.analyse_only:
        figures = json.loads(out_json.read_text(encoding="utf-8"))
        dumps = DATA_DIR / f"dumps-{args.backend}{'-' + args.tag if args.tag else ''}"
        taken = [(d["n"], d["t"], d["rss_mib"]) for d in figures["analysis"]["dumps"]]
        figures["analysis"] = analyse(dumps, taken, top=args.top)
    else:
        figures = run(args)
    text = render(figures)
    soak.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (soak.RESULTS_DIR / f"{name}.txt").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
