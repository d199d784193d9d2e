"""``make bench``: build or reuse the datasets, run every scenario per backend, write the report.

    .venv/bin/python -m benchmarks.run [--backend sqlite|postgres|both] [--scenarios a,b,...]
                                       [--loadgen auto|wrk|python] [--duration 10] [--warmup 3]
                                       [--pg-url URL] [--budget-minutes 20] [--out latest]

Bounded: every scenario is one fresh server, a warm-up and a measured run, each limited in time
and in requests; the servers listen on 127.0.0.1 only and are stopped by their own pid. Each
backend gets its share of ``--budget-minutes`` (from when its scenarios start); past it, the
quiet-machine waits and the re-runs are skipped, so a busy machine makes the run noisier, not
longer.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Final

from benchmarks import cpu, dataset, loadgen, pgdata, report
from benchmarks.probe import HealthProbe
from benchmarks.report import BackendRun, ScenarioResult
from benchmarks.scenarios import ORDER, Scenario, body, name_totals, scenarios
from benchmarks.servers import REPO, ServerProcess, ceiling_server, post, product_server
from benchmarks.signed import TASK_LIST_PATH, SignedRequest, signed_request, signed_table

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"
DATA_DIR: Final = dataset.DATA_DIR
REQUEST_LOG: Final = DATA_DIR / "requests.log"
SERVER_LOG: Final = DATA_DIR / "server.log"
BACKENDS: Final = ("sqlite", "postgres")
#: Cores used by other processes while measured above which a scenario is run again.
CONTENDED_CORES: Final = 0.5
#: A signed table must outlive warm-up and measured run inside the server's 60 s window.
TABLE_MAX_AGE_S: Final = 45.0
#: (g)'s per-substring timing after the measured run: sequential requests per substring.
BREAKDOWN_REPEAT: Final = 3
_TRACE_ID = re.compile(rb'"traceId":"[0-9a-f]*"')


class ScenarioFailed(Exception):
    pass


def ceiling_body(backend: str, partner: str) -> Path:
    """The captured answer a ceiling serves (page 1 of (a) or (c) from ``backend``)."""
    return DATA_DIR / f"ceiling-{backend}-{'10' if partner == 'a' else '1000'}.json"


def _check_product_answer(sc: Scenario, status: int, raw: bytes) -> dict[str, Any]:
    if status != 200:
        raise ScenarioFailed(f"sample answer HTTP {status}: {raw[:200]!r}")
    data: dict[str, Any] = json.loads(raw)
    if data.get("code") != 0:
        raise ScenarioFailed(f"sample answer code {data.get('code')}: {data.get('message')}")
    page: dict[str, Any] = data.get("data", data)
    rows = page.get("list")
    if not isinstance(rows, list):
        raise ScenarioFailed("sample answer has no list")
    if sc.expect_rows is not None and len(rows) != sc.expect_rows:
        raise ScenarioFailed(f"sample answer has {len(rows)} rows, expected {sc.expect_rows}")
    if sc.expect_total is not None and page.get("total") != sc.expect_total:
        raise ScenarioFailed(f"sample total {page.get('total')}, expected {sc.expect_total}")
    return page


class Bench:
    """One run: the arguments, the datasets, and the scenarios of each backend."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        #: When the current backend's share of the budget runs out.
        self.deadline: float = self.started + args.budget_minutes * 60
        self.sqlite = dataset.ensure(rebuild=args.rebuild_dataset)
        self.all_sc = scenarios(self.sqlite)
        self._name_totals: dict[str, int] | None = None
        #: (backend, "a" or "c") -> page 1 as captured, without its traceId.
        self.captured: dict[tuple[str, str], bytes] = {}

    # -- budget --------------------------------------------------------------------------
    def over_budget(self) -> bool:
        return time.monotonic() > self.deadline

    def name_totals(self) -> dict[str, int]:
        if self._name_totals is None:
            self._name_totals = name_totals(str(dataset.DB_PATH), self.sqlite.big_account)
        return self._name_totals

    # -- servers -------------------------------------------------------------------------
    def server_for(self, sc: Scenario, run: BackendRun) -> ServerProcess:
        if sc.kind == "ceiling":
            return ceiling_server(ceiling_body(run.backend, sc.partner), SERVER_LOG)
        return product_server(run.db_url, REQUEST_LOG, SERVER_LOG, workers=sc.workers)

    def capture(self, run: BackendRun) -> None:
        """Real answers of the product for page 1 of (a) and (c): the ceilings serve these."""
        with product_server(run.db_url, REQUEST_LOG, SERVER_LOG) as server:
            for key, page_size in (("a", 10), ("c", 1000)):
                raw = body({"pageNumber": 1, "pageSize": page_size})
                req = signed_request(self.sqlite.access_key, self.sqlite.access_secret,
                                     raw, time.time_ns() // 10**6)  # fmt: skip
                resp = post(server.port, req)
                _check_product_answer(self.all_sc[key], resp.status, resp.body)
                ceiling_body(run.backend, key).write_bytes(resp.body)
                print(f"  captured a real ({key}) answer: {len(resp.body):,} bytes", flush=True)
                self.captured[(run.backend, key)] = _TRACE_ID.sub(b"", resp.body)
        if run.backend != "sqlite":
            for key in ("a", "c"):
                theirs = self.captured.get(("sqlite", key))
                if theirs is not None:  # captured in this run
                    same = self.captured[(run.backend, key)] == theirs
                    run.same_answers[key] = same
                    if not same:
                        run.notes.append(
                            f"page 1 of ({key}) differs from SQLite's answer (beyond traceId)"
                        )

    # -- checks --------------------------------------------------------------------------
    def _signed(self, sc: Scenario) -> list[SignedRequest]:
        return signed_table(
            self.sqlite.access_key, self.sqlite.access_secret, sc.bodies, copies=sc.copies
        )

    def _sample_check(
        self, sc: Scenario, run: BackendRun, server: ServerProcess, table: list[SignedRequest]
    ) -> int:
        """Check a few answers outside the load run; return the size of the first one."""
        if sc.key == "g":
            return self._check_names(sc, server)
        size = 0
        for req in table[:3]:
            resp = post(server.port, req)
            if sc.kind == "product":
                _check_product_answer(sc, resp.status, resp.body)
            elif (
                resp.status != 200
                or resp.body != ceiling_body(run.backend, sc.partner).read_bytes()
            ):
                raise ScenarioFailed(f"ceiling answered HTTP {resp.status}, {len(resp.body)} bytes")
            size = size or len(resp.body)
        return size

    def _name_request(self, name: str, page: int) -> SignedRequest:
        raw = body({"taskName": name, "pageNumber": page, "pageSize": 10})
        return signed_request(
            self.sqlite.access_key, self.sqlite.access_secret, raw, time.time_ns() // 10**6
        )

    def _check_names(self, sc: Scenario, server: ServerProcess) -> int:
        """Page 1 of every substring: the total the plain-Python count says, 10 rows (or all
        of them), each name containing the substring."""
        size = 0
        for name, expected in self.name_totals().items():
            resp = post(server.port, self._name_request(name, 1))
            page = _check_product_answer(sc, resp.status, resp.body)
            if page.get("total") != expected:
                raise ScenarioFailed(f"taskName {name!r}: total {page.get('total')}, "
                                     f"expected {expected}")  # fmt: skip
            rows = page["list"]
            if len(rows) != min(10, expected):
                raise ScenarioFailed(f"taskName {name!r}: {len(rows)} rows")
            wrong = [r.get("taskName") for r in rows
                     if name.casefold() not in str(r.get("taskName", "")).casefold()]  # fmt: skip
            if wrong:
                raise ScenarioFailed(f"taskName {name!r}: answered {wrong[0]!r}")
            size = size or len(resp.body)
        return size

    def _name_breakdown(self, server: ServerProcess) -> dict[str, dict[str, float]]:
        """Page 1 of each substring, ``BREAKDOWN_REPEAT`` times one after the other: where
        (g)'s time goes by substring (client-side ms, standard library client)."""
        out: dict[str, dict[str, float]] = {}
        for name, total in self.name_totals().items():
            times = []
            for _ in range(BREAKDOWN_REPEAT):
                req = self._name_request(name, 1)
                t0 = time.perf_counter()
                resp = post(server.port, req)
                times.append((time.perf_counter() - t0) * 1000)
                if resp.status != 200:
                    raise ScenarioFailed(f"taskName {name!r}: HTTP {resp.status}")
            out[name] = {"total": total, "median_ms": round(statistics.median(times), 2),
                         "max_ms": round(max(times), 2)}  # fmt: skip
        return out

    def _check_request_log(self, pids: set[int]) -> dict[str, Any]:
        """Count this server's task-list answers in the product's request log, and the bad
        ones; answers per process (the share of each worker)."""
        answers = not_200 = code_not_0 = 0
        per_pid: dict[int, int] = {}
        with REQUEST_LOG.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                pid = record.get("pid")
                if pid not in pids or record.get("path") != TASK_LIST_PATH:
                    continue
                answers += 1
                per_pid[pid] = per_pid.get(pid, 0) + 1
                not_200 += record.get("status") != 200
                code_not_0 += record.get("code") != 0
        return {"answers": answers, "not_200": not_200, "code_not_0": code_not_0,
                "per_process": {str(k): v for k, v in sorted(per_pid.items())}}  # fmt: skip

    # -- one scenario --------------------------------------------------------------------
    def run_scenario(self, sc: Scenario, run: BackendRun) -> ScenarioResult:
        args = self.args
        result = ScenarioResult(sc)
        if sc.kind == "product":
            REQUEST_LOG.unlink(missing_ok=True)  # this server's lines only
        server = self.server_for(sc, run)
        script = DATA_DIR / f"wrk-{sc.key}.lua"
        quiet_wait = 0.0 if self.over_budget() else args.quiet_wait
        if quiet_wait > 0:
            waited, busy = cpu.wait_for_quiet(quiet_wait)
            if busy >= 0.5:
                result.notes.append(
                    f"machine not quiet: {busy:.2f} cores busy after waiting {waited:.0f} s"
                )
        connections = sc.connections or args.connections
        database = run.database if sc.kind == "product" else None
        try:
            with server:
                pids = set(server.pids())
                built = time.monotonic()
                table = self._signed(sc)
                result.response_bytes = self._sample_check(sc, run, server, table)
                common: dict[str, Any] = {
                    "connections": connections,
                    "max_requests": args.max_requests,
                    "script_path": script,
                    "check_bodies": sc.check_bodies,
                }
                if args.warmup > 0:
                    result.warmup = loadgen.run_load(
                        args.tool, server.port, table, duration=args.warmup, **common
                    )
                    if not result.warmup.ok:
                        raise ScenarioFailed(_describe_errors("warm-up", result.warmup))
                if time.monotonic() - built > TABLE_MAX_AGE_S:  # pragma: no cover - slow
                    table = self._signed(sc)
                probe = HealthProbe(server.port, max_seconds=args.duration + 30)
                meter = cpu.CpuMeter(server.pid, database=database)
                if sc.probe:
                    with probe:
                        result.load = loadgen.run_load(
                            args.tool, server.port, table, duration=args.duration, **common
                        )
                    result.probe = probe.result
                else:
                    result.load = loadgen.run_load(
                        args.tool, server.port, table, duration=args.duration, **common
                    )
                result.cpu = meter.stop()
                result.rss_by_process = server.peak_rss_by_pid()
                result.rss_mib = max(result.rss_by_process.values(), default=0.0)
                if server.proc is not None and server.proc.poll() is not None:
                    raise ScenarioFailed(f"server exited with {server.proc.returncode}")
                if not result.load.ok:
                    raise ScenarioFailed(_describe_errors("measured run", result.load))
                if sc.key == "g":
                    result.breakdown = self._name_breakdown(server)
                pids |= set(server.pids())
            if sc.kind == "product":
                result.request_log = self._check_request_log(pids)
                bad = result.request_log["not_200"] + result.request_log["code_not_0"]
                if bad:
                    raise ScenarioFailed(f"request log: {bad} answers not HTTP 200 with code 0")
                seen = result.request_log["answers"]
                if seen < result.load.requests:
                    raise ScenarioFailed(
                        f"request log: {seen} lines < {result.load.requests} answers"
                    )
            _cpu_notes(result)
        except (ScenarioFailed, RuntimeError, OSError, ValueError) as exc:
            result.error = str(exc).splitlines()[0][:300]
            tail = server.log_tail(5)
            if tail:
                result.notes.append(f"server log tail: {tail}")
        return result

    def run_with_retries(self, sc: Scenario, run: BackendRun) -> ScenarioResult:
        """Run a scenario; while other processes took CPU during it, run it again
        (``--retries``, not past the budget). Keeps the attempt measured with the least CPU
        used by other processes."""
        result = self.run_scenario(sc, run)
        attempts = [result]
        while _contended(result) and len(attempts) <= self.args.retries and not self.over_budget():
            assert result.cpu is not None
            print(f"  ({sc.key}) other processes used {result.cpu.other:.2f} cores; "
                  "running again", flush=True)  # fmt: skip
            result = self.run_scenario(sc, run)
            attempts.append(result)
        best = min(
            (r for r in attempts if r.ok),
            key=lambda r: r.cpu.other if r.cpu is not None else 0.0,
            default=attempts[-1],
        )
        if len(attempts) > 1:
            best.notes.append(
                f"attempt {attempts.index(best) + 1} of {len(attempts)} kept (least CPU used by "
                "other processes while measured)"
            )
        return best

    # -- one backend ---------------------------------------------------------------------
    def prepare(self, backend: str) -> BackendRun:
        if backend == "sqlite":
            return BackendRun(backend, self.sqlite.db_url, None)
        url = self.args.pg_url
        run = BackendRun(backend, url, pgdata.database_name(url))
        try:
            manifest = pgdata.ensure(self.sqlite, url=url, reload=self.args.reload_postgres)
        except Exception as exc:  # any failure to load means: not measured
            run.error = f"PostgreSQL dataset not available: {type(exc).__name__}: {exc}"
            run.error = run.error.splitlines()[0][:300]
            return run
        run.dataset = {
            "url": url,
            "rows": manifest.rows,
            "load_seconds": manifest.load_seconds,
            "analyze_seconds": manifest.analyze_seconds,
            "db_mib": round(manifest.db_bytes / 2**20, 1),
            "schema_version": manifest.schema_version,
            "schema_sha256": manifest.schema_sha256,
        }
        run.settings = pgdata.server_settings(url)
        return run

    def run_backend(self, backend: str) -> BackendRun:
        print(f"== {backend}", flush=True)
        share = self.args.budget_minutes * 60 / len(self.args.backends)
        self.deadline = time.monotonic() + share
        run = self.prepare(backend)
        if run.error:
            print(f"  {run.error}", flush=True)
            return run
        keys = [k for k in self.args.keys if backend in self.all_sc[k].backends]
        capture_error = ""
        if any(self.all_sc[k].kind == "ceiling" for k in keys):
            try:
                self.capture(run)
            except (ScenarioFailed, RuntimeError, OSError, ValueError) as exc:
                capture_error = f"could not capture the product's answer: {exc}"
                print(f"  {capture_error}", flush=True)
        for key in keys:
            sc = self.all_sc[key]
            print(f"{sc.label} [{backend}]: {sc.distinct_requests} distinct signed requests",
                  flush=True)  # fmt: skip
            if sc.kind == "ceiling" and capture_error:
                run.results[key] = ScenarioResult(sc, error=capture_error)
            else:
                run.results[key] = self.run_with_retries(sc, run)
            _print_line(run.results[key])
        return run


def _contended(result: ScenarioResult) -> bool:
    return result.ok and result.cpu is not None and result.cpu.other >= CONTENDED_CORES


def _cpu_notes(result: ScenarioResult) -> None:
    used = result.cpu
    if used is None:
        return
    if used.loadgen >= 0.8:
        result.notes.append(
            f"load generator near one full core ({used.loadgen:.2f}): "
            "this number is bounded by the load generator, not the server"
        )
    if used.other >= 0.5:
        result.notes.append(
            f"other processes used {used.other:.2f} cores while measured: number depressed"
        )


def _describe_errors(phase: str, load: loadgen.LoadResult) -> str:
    return (
        f"{phase}: {load.requests} answers, {load.non_200} not HTTP 200, {load.bad_code} with "
        f"code != 0, {load.errors} socket errors {load.detail.get('first_error', '')}".strip()
    )


def _print_line(res: ScenarioResult) -> None:
    if res.ok and res.load is not None:
        used = res.cpu.as_dict() if res.cpu is not None else {}
        print(
            f"  ({res.scenario.key}) {res.load.rps:>9,.1f} req/s  p50 {res.load.p50_us / 1000:7.2f}"
            f" ms  p99 {res.load.p99_us / 1000:7.2f} ms  RSS {res.rss_mib:6.1f} MiB  "
            f"({res.load.requests:,} answers; cores: {used})",
            flush=True,
        )
        if res.probe is not None:
            p = res.probe.as_dict()
            print(f"      /healthz: {p['probes']} probes, p50 {p['p50_ms']} ms, p99 "
                  f"{p['p99_ms']} ms, max {p['max_ms']} ms, {p['errors']} errors",
                  flush=True)  # fmt: skip
        if res.breakdown:
            cells = ", ".join(f"{k!r} {v['median_ms']:.1f}" for k, v in res.breakdown.items())
            print(f"      page 1 by substring, median ms: {cells}", flush=True)
    else:
        print(f"  ({res.scenario.key}) FAILED: {res.error}", flush=True)
    for note in res.notes:
        print(f"      note: {note}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark POST /openapi/aiagent/task/list.")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both",
                        help="the store(s) the product runs on")  # fmt: skip
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk when installed, else the Python generator")  # fmt: skip
    parser.add_argument("--scenarios", default=",".join(ORDER),
                        help=f"comma-separated subset of {','.join(ORDER)}")  # fmt: skip
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds (≤ 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (≤ 5)")
    parser.add_argument("--connections", type=int, default=32,
                        help="connections of every scenario but (g), which uses 1")  # fmt: skip
    parser.add_argument("--max-requests", type=int, default=1_000_000,
                        help="cap on answers per load run")  # fmt: skip
    parser.add_argument("--out", default="latest", help="results/<OUT>.json and .md")
    parser.add_argument("--pg-url", default=pgdata.DEFAULT_URL,
                        help="the benchmark's own PostgreSQL database (dropped and loaded "
                        "again when stale)")  # fmt: skip
    parser.add_argument("--reload-postgres", action="store_true")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="per scenario, wait up to this many seconds for a quiet machine (0: never)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="runs again a scenario during which other processes used ≥ 0.5 core (0..3)",
    )
    parser.add_argument("--budget-minutes", type=float, default=20.0,
                        help="shared by the backends; past its share, a backend's scenarios "
                        "skip the quiet-machine wait and the re-runs")  # fmt: skip
    parser.add_argument("--rebuild-dataset", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 10 or not 0 <= args.warmup <= 5:
        parser.error("a scenario is at most 5 s warm-up + 10 s measured")
    if not 0 <= args.quiet_wait <= 120:
        parser.error("quiet-wait is 0..120 s")
    if not 0 <= args.retries <= 3:
        parser.error("retries is 0..3")
    if not 0 < args.budget_minutes <= 120:
        parser.error("budget-minutes is 0..120")
    if not 1 <= args.connections <= 256 or args.max_requests < 1:
        parser.error("connections must be 1..256 and max-requests positive")
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = set(keys) - set(ORDER)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.keys = [k for k in ORDER if k in keys]
    args.backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    if args.loadgen == "auto":
        args.tool = "wrk" if loadgen.wrk_path() else "python"
    elif args.loadgen == "wrk" and not loadgen.wrk_path():
        parser.error("wrk is not installed")
    else:
        args.tool = args.loadgen
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    facts = report.machine_facts(REPO)  # load average before our own servers run
    bench = Bench(args)
    loadgen_name = (
        f"{loadgen.wrk_version()} (-t{loadgen.WRK_THREADS} -c{args.connections}; (g) -c1)"
        if args.tool == "wrk"
        else f"Python asyncio generator ({args.connections} connections; (g) 1)"
    )
    print(f"load generator: {loadgen_name}", flush=True)
    SERVER_LOG.unlink(missing_ok=True)

    runs = {backend: bench.run_backend(backend) for backend in args.backends}
    manifest = bench.sqlite
    meta: dict[str, Any] = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": facts,
        "config": {
            "loadgen": loadgen_name,
            "tool": args.tool,
            "connections": args.connections,
            "wrk_threads": loadgen.WRK_THREADS if args.tool == "wrk" else None,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "max_requests_per_run": args.max_requests,
            "quiet_wait_s": args.quiet_wait,
            "retries": args.retries,
            "budget_minutes": args.budget_minutes,
            "backends": args.backends,
            "server": "nxlink serve --db URL --workers N --log-file benchmarks/.data/requests.log",
        },
        "dataset": {
            "version": manifest.version,
            "total_tasks": manifest.total_tasks,
            "accounts": manifest.accounts,
            "big_tasks": manifest.big_tasks,
            "fixed_now": manifest.fixed_now,
            "db_mib": round(manifest.db_bytes / 2**20, 1),
            "page_size": manifest.page_size,
            "build_seconds": manifest.build_seconds,
            "name_totals": bench.name_totals() if "g" in args.keys else None,
        },
    }
    data = {
        **meta,
        "backends": {b: run.as_dict() for b, run in runs.items()},
        "targets": {b: [t.as_dict() for t in report.targets(run)] for b, run in runs.items()},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    md = report.markdown(runs, meta)
    json_path, md_path = report.write(RESULTS_DIR, args.out, data, md)
    print()
    print(md)
    print(f"wrote {json_path.relative_to(REPO)} and {md_path.relative_to(REPO)} "
          f"({data['wall_seconds']:.0f} s)")  # fmt: skip
    ok = all(not run.error and all(r.ok for r in run.results.values()) for run in runs.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
