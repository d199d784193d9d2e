"""``make bench``: build or reuse the dataset, run every scenario, write and print the report.

    .venv/bin/python -m benchmarks.run [--loadgen auto|wrk|python] [--scenarios a,b,...]
                                       [--duration 10] [--warmup 3] [--out latest]

Bounded: every scenario is one fresh server, a warm-up and a measured run, each limited in time
and in requests; the servers listen on 127.0.0.1 only and are stopped by their own pid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Final

from benchmarks import cpu, dataset, loadgen, report
from benchmarks.report import ScenarioResult
from benchmarks.scenarios import ORDER, Scenario, scenarios
from benchmarks.servers import REPO, ServerProcess, ceiling_server, post, product_server
from benchmarks.signed import TASK_LIST_PATH, SignedRequest, signed_request, signed_table

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"
DATA_DIR: Final = dataset.DATA_DIR
REQUEST_LOG: Final = DATA_DIR / "requests.log"
SERVER_LOG: Final = DATA_DIR / "server.log"
#: Captured answers the ceilings serve.
CEILING_BODIES: Final = {"a": DATA_DIR / "ceiling-10.json", "c": DATA_DIR / "ceiling-1000.json"}
#: Cores used by other processes while measured above which a scenario is run again.
CONTENDED_CORES: Final = 0.5
#: A signed table must outlive warm-up and measured run inside the server's 60 s window.
TABLE_MAX_AGE_S: Final = 45.0


class ScenarioFailed(Exception):
    pass


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


def capture(manifest: dataset.Manifest, all_sc: dict[str, Scenario]) -> dict[str, bytes]:
    """Real answers of the product for page 1 of (a) and (c): the ceilings serve these bytes."""
    captured: dict[str, bytes] = {}
    with product_server(dataset.DB_PATH, REQUEST_LOG, SERVER_LOG) as server:
        for key, page_size in (("a", 10), ("c", 1000)):
            body = json.dumps({"pageNumber": 1, "pageSize": page_size}, separators=(",", ":"))
            req = signed_request(
                manifest.access_key, manifest.access_secret, body.encode(), time.time_ns() // 10**6
            )
            resp = post(server.port, req)
            _check_product_answer(all_sc[key], resp.status, resp.body)
            CEILING_BODIES[key].write_bytes(resp.body)
            captured[key] = resp.body
            print(f"  captured a real ({key}) answer: {len(resp.body):,} bytes", flush=True)
    return captured


def _sample_check(sc: Scenario, server: ServerProcess, table: list[SignedRequest]) -> int:
    """Check a few answers outside the load run; return the size of the first one."""
    size = 0
    for req in table[:3]:
        resp = post(server.port, req)
        if sc.kind == "product":
            _check_product_answer(sc, resp.status, resp.body)
        elif resp.status != 200 or resp.body != CEILING_BODIES[sc.partner].read_bytes():
            raise ScenarioFailed(f"ceiling answered HTTP {resp.status}, {len(resp.body)} bytes")
        size = size or len(resp.body)
    return size


def run_scenario(
    sc: Scenario, manifest: dataset.Manifest, args: argparse.Namespace
) -> ScenarioResult:
    result = ScenarioResult(sc)
    server = (
        product_server(dataset.DB_PATH, REQUEST_LOG, SERVER_LOG)
        if sc.kind == "product"
        else ceiling_server(CEILING_BODIES[sc.partner], SERVER_LOG)
    )
    script = DATA_DIR / f"wrk-{sc.key}.lua"
    if args.quiet_wait > 0:
        waited, busy = cpu.wait_for_quiet(args.quiet_wait)
        if busy >= 0.5:
            result.notes.append(
                f"machine not quiet: {busy:.2f} cores busy after waiting {waited:.0f} s"
            )
    try:
        with server:
            built = time.monotonic()
            table = signed_table(
                manifest.access_key, manifest.access_secret, sc.bodies, copies=sc.copies
            )
            result.response_bytes = _sample_check(sc, server, table)
            common: dict[str, Any] = {
                "connections": args.connections,
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
            if time.monotonic() - built > TABLE_MAX_AGE_S:  # pragma: no cover - slow machine
                table = signed_table(
                    manifest.access_key, manifest.access_secret, sc.bodies, copies=sc.copies
                )
            meter = cpu.CpuMeter(server.pid)
            result.load = loadgen.run_load(
                args.tool, server.port, table, duration=args.duration, **common
            )
            result.cpu = meter.stop()
            result.rss_mib = server.peak_rss_mib()
            if server.proc is not None and server.proc.poll() is not None:
                raise ScenarioFailed(f"server exited with {server.proc.returncode}")
            if not result.load.ok:
                raise ScenarioFailed(_describe_errors("measured run", result.load))
        if sc.kind == "product":
            result.request_log = _check_request_log(server.pid)
            bad = result.request_log["not_200"] + result.request_log["code_not_0"]
            if bad:
                raise ScenarioFailed(f"request log: {bad} answers not HTTP 200 with code 0")
            seen = result.request_log["answers"]
            if seen < result.load.requests:
                raise ScenarioFailed(f"request log: {seen} lines < {result.load.requests} answers")
        _cpu_notes(result)
    except (ScenarioFailed, RuntimeError, OSError, ValueError) as exc:
        result.error = str(exc).splitlines()[0][:300]
        tail = server.log_tail(5)
        if tail:
            result.notes.append(f"server log tail: {tail}")
    return result


def _contended(result: ScenarioResult) -> bool:
    return result.ok and result.cpu is not None and result.cpu.other >= CONTENDED_CORES


def _run_with_retries(
    sc: Scenario, manifest: dataset.Manifest, args: argparse.Namespace
) -> ScenarioResult:
    """Run a scenario; while other processes took CPU during it, run it again (``--retries``).

    Keeps the attempt measured with the least CPU used by other processes.
    """
    result = run_scenario(sc, manifest, args)
    attempts = [result]
    while _contended(result) and len(attempts) <= args.retries:
        assert result.cpu is not None
        print(f"  ({sc.key}) other processes used {result.cpu.other:.2f} cores; running again",
              flush=True)  # fmt: skip
        result = run_scenario(sc, manifest, args)
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


def _check_request_log(pid: int) -> dict[str, int]:
    """Count this server's task-list answers in the product's request log, and the bad ones."""
    answers = not_200 = code_not_0 = 0
    with REQUEST_LOG.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("pid") != pid or record.get("path") != TASK_LIST_PATH:
                continue
            answers += 1
            not_200 += record.get("status") != 200
            code_not_0 += record.get("code") != 0
    return {"answers": answers, "not_200": not_200, "code_not_0": code_not_0}


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
    else:
        print(f"  ({res.scenario.key}) FAILED: {res.error}", flush=True)
    for note in res.notes:
        print(f"      note: {note}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark POST /openapi/aiagent/task/list.")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk when installed, else the Python generator")  # fmt: skip
    parser.add_argument("--scenarios", default=",".join(ORDER),
                        help="comma-separated subset of a,b,c,d,e,f")  # fmt: skip
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds (≤ 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (≤ 5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=1_000_000,
                        help="cap on answers per load run")  # fmt: skip
    parser.add_argument("--out", default="latest", help="results/<OUT>.json and .md")
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
    parser.add_argument("--rebuild-dataset", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 10 or not 0 <= args.warmup <= 5:
        parser.error("a scenario is at most 5 s warm-up + 10 s measured")
    if not 0 <= args.quiet_wait <= 120:
        parser.error("quiet-wait is 0..120 s")
    if not 0 <= args.retries <= 3:
        parser.error("retries is 0..3")
    if not 1 <= args.connections <= 256 or args.max_requests < 1:
        parser.error("connections must be 1..256 and max-requests positive")
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = set(keys) - set(ORDER)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.keys = [k for k in ORDER if k in keys]
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
    manifest = dataset.ensure(rebuild=args.rebuild_dataset)
    all_sc = scenarios(manifest)
    loadgen_name = (
        f"{loadgen.wrk_version()} (-t{loadgen.WRK_THREADS} -c{args.connections})"
        if args.tool == "wrk"
        else f"Python asyncio generator ({args.connections} connections)"
    )
    print(f"load generator: {loadgen_name}", flush=True)
    REQUEST_LOG.unlink(missing_ok=True)  # the product's request log, one line per request
    SERVER_LOG.unlink(missing_ok=True)

    results: dict[str, ScenarioResult] = {}
    capture_error = ""
    if any(all_sc[k].kind == "ceiling" for k in args.keys):
        try:
            capture(manifest, all_sc)
        except (ScenarioFailed, RuntimeError, OSError, ValueError) as exc:
            capture_error = f"could not capture the product's answer: {exc}"
            print(f"  {capture_error}", flush=True)
    for key in args.keys:
        sc = all_sc[key]
        print(f"{sc.label}: {sc.distinct_requests} distinct signed requests", flush=True)
        if sc.kind == "ceiling" and capture_error:
            results[key] = ScenarioResult(sc, error=capture_error)
        else:
            results[key] = _run_with_retries(sc, manifest, args)
        _print_line(results[key])

    # Report in the order a, b, c, d, e, f.
    results = {k: results[k] for k in sorted(results)}
    checks = report.targets(results)
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
            "workers": 1,
            "server": "nxlink serve --workers 1 --log-file benchmarks/.data/requests.log",
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
        },
    }
    data = {
        **meta,
        "scenarios": {k: r.as_dict() for k, r in results.items()},
        "ratios": {
            k: round(r, 4)
            for k, r in (
                (k, report.rps_ratio(results, k, results[k].scenario.partner))
                for k in results
                if results[k].scenario.kind == "product"
            )
            if r is not None
        },
        "ratios_per_server_core": {
            k: round(r, 4)
            for k, r in (
                (k, report.per_core_ratio(results, k, results[k].scenario.partner))
                for k in results
                if results[k].scenario.kind == "product"
            )
            if r is not None
        },
        "targets": [{"name": t.name, "measured": t.measured, "result": t.verdict} for t in checks],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    md = report.markdown(results, checks, meta)
    json_path, md_path = report.write(RESULTS_DIR, args.out, data, md)
    print()
    print(md)
    print(f"wrote {json_path.relative_to(REPO)} and {md_path.relative_to(REPO)} "
          f"({data['wall_seconds']:.0f} s)")  # fmt: skip
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
