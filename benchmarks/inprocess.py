"""Where a task-list request's time goes, in-process, stage by stage (no HTTP, no load).

    .venv/bin/python -m benchmarks.inprocess [--scenarios a,b,c,d] [--repeat 1]

For each request body of a scenario it times the product's own functions in the order the
handler calls them: auth (``authenticate``: headers, clock, ``key_auth``, md5), body parsing
(``parse_json_object`` + ``parse_task_list``), ``SQLiteStore.task_page`` (count and page SQL),
rendering the answer bytes (whatever the product does: the app's ``_page_body`` around
pre-rendered task JSON when the store returns text or bytes, else ``task_object`` per row and
``orjson.dumps``), and one request-log line.
The sum is the product's own CPU per request; the ceiling's per-request cost is what uvicorn
adds on top. Uses the benchmark dataset (``benchmarks/.data/bench.db``), read only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from benchmarks import dataset
from benchmarks.scenarios import scenarios
from benchmarks.signed import signed_request

STAGES = ("auth", "parse", "task_page", "render", "log")


def profile(keys: list[str], repeat: int) -> dict[str, dict[str, float]]:
    import orjson
    from starlette.datastructures import Headers

    from nxlink.contract.endpoints import TASK_LIST
    from nxlink.server import app as app_module
    from nxlink.server.auth import Generations, authenticate
    from nxlink.server.log import RequestLog
    from nxlink.service import tasks as svc
    from nxlink.store import open_store

    page_body = getattr(app_module, "_page_body", None)
    task_object = getattr(svc, "task_object", None)

    def render(total: int, number: int, size: int, rows: list[Any]) -> bytes:
        if page_body is not None and all(isinstance(row, (str, bytes)) for row in rows):
            page = svc.TaskPage(total=total, page_number=number, page_size=size, tasks=rows)
            return bytes(page_body("0" * 32, page, nest=False))
        objects = [task_object(row) for row in rows] if task_object is not None else rows
        return orjson.dumps({
            "code": 0, "message": "success", "traceId": "0" * 32, "total": total,
            "pageNumber": number, "pageSize": size, "list": objects,
        })  # fmt: skip

    manifest = dataset.ensure(quiet=True)
    store = open_store(manifest.db_url)
    log = RequestLog(str(dataset.DATA_DIR / "inprocess-requests.log"))
    out: dict[str, dict[str, float]] = {}
    generations = Generations.of(TASK_LIST, strict=False)
    try:
        for key in keys:
            sc = scenarios(manifest)[key]
            # At least 50 requests per scenario, so that (d)'s single body is timed often enough.
            bodies = list(sc.bodies) * max(repeat, -(-50 // len(sc.bodies)))
            samples: dict[str, list[float]] = {s: [] for s in STAGES}
            rows_seen = 0
            clock = time.perf_counter_ns
            for body in bodies:
                req = signed_request(
                    manifest.access_key, manifest.access_secret, body, time.time_ns() // 10**6
                )
                headers = Headers(raw=[(k.lower().encode(), v.encode()) for k, v in req.headers])
                t0 = clock()
                caller = authenticate(
                    headers, body, store=store, now_ms=lambda: time.time_ns() // 10**6,
                    window_ms=60_000, generations=generations,
                )  # fmt: skip
                t1 = clock()
                query = svc.parse_task_list(svc.parse_json_object(body))
                t2 = clock()
                offset = (query.page_number - 1) * query.page_size
                total, rows = store.task_page(
                    caller.account_id, query.filter, offset=offset, limit=query.page_size
                )
                t3 = clock()
                render(total, query.page_number, query.page_size, rows)
                t4 = clock()
                log.write({"method": "POST", "path": req.path, "status": 200, "code": 0,
                           "ms": 1.0, "accessKey": manifest.access_key, "traceId": "0" * 32,
                           "pid": 1})  # fmt: skip
                t5 = clock()
                marks = (t0, t1, t2, t3, t4, t5)
                for index, stage in enumerate(STAGES):
                    samples[stage].append((marks[index + 1] - marks[index]) / 1000)
                rows_seen += len(rows)
            stats: dict[str, float] = {"requests": len(bodies), "rows_per_request":
                                       rows_seen / len(bodies)}  # fmt: skip
            for stage, values in samples.items():
                stats[f"{stage}_mean_us"] = statistics.fmean(values)
                stats[f"{stage}_p50_us"] = statistics.median(values)
            stats["sum_mean_us"] = sum(stats[f"{s}_mean_us"] for s in STAGES)
            out[key] = stats
    finally:
        log.close()
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-stage in-process timing of the task list.")
    parser.add_argument("--scenarios", default="a,b,c,d")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    keys = [k for k in args.scenarios.split(",") if k in "abcd" and k]
    results = profile(keys, args.repeat)
    print("mean µs per request (p50 in brackets)")
    header = f"{'':4}{'rows':>6}" + "".join(f"{s:>20}" for s in STAGES) + f"{'sum':>10}"
    print(header)
    for key, st in results.items():
        cells = "".join(
            f"{st[f'{s}_mean_us']:>11,.0f} ({st[f'{s}_p50_us']:>6,.0f})" for s in STAGES
        )
        print(f"({key}) {st['rows_per_request']:>5.0f}{cells}{st['sum_mean_us']:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
