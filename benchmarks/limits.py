"""Connection limits under load (issue 10, item 3): a benchmark, not a test.

    .venv/bin/python -m benchmarks.limits                  # both parts, about 3 minutes
    .venv/bin/python -m benchmarks.limits --rounds 1 --seconds 5 --slow 1000   # a quick look

Two servers of the same app on the same small SQLite database, each with its open-file limit at
1,024 (soft and hard), started in the same run:

* ``limits``: ``nxlink serve``, i.e. uvicorn with ``nxlink.server.protocol``;
* ``plain``: uvicorn's own httptools protocol (``--http httptools``), as before the limits.

1. **Slowloris.** A bounded attacker (a process of its own) holds up to ``--slow`` connections
   (2,000), each sending a header section a byte a second and reopened 0.5 s after the server
   gives it up (at most 100 opens per slot, ``--attack-s`` seconds in all). Meanwhile an
   ordinary client makes ``--requests`` requests, each on a fresh connection with a 5 s timeout,
   alternating ``GET /healthz`` and a signed task list. Reported: the client's answers by
   status (``200`` means HTTP 200 and code 0), its latencies, and what the attacker saw.
2. **Throughput.** wrk (1 thread, 16 connections) on the signed task list and on ``/healthz``,
   ``--rounds`` interleaved rounds of ``--seconds`` each; the ratio of the medians,
   ``limits`` / ``plain``.

Prints one JSON line per measurement and a summary, and writes ``benchmarks/results/limits.json``.
Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.loadgen import run_wrk, wrk_path
from benchmarks.servers import REPO, VENV_BIN, free_port, get, post
from benchmarks.signed import SignedRequest, signed_request

HOST = "127.0.0.1"
FD_LIMIT = 1024
LIST_BODY = b'{"pageNumber":1,"pageSize":10}'
RESULTS = REPO / "benchmarks" / "results" / "limits.json"


# -- the servers ---------------------------------------------------------------------------------
def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@contextmanager
def server(kind: str, db: str, folder: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``limits`` or ``plain`` on a free port, fd limit 1,024; stopped by its own pid."""
    port = free_port()
    env = {**os.environ, "NXLINK_DB": db, "NXLINK_LOG_REQUESTS": "false",
           "NXLINK_DELIVER_CALLBACKS": "false"}  # fmt: skip
    if kind == "limits":
        cmd = [str(VENV_BIN / "nxlink"), "serve", "--db", db, "--port", str(port), "--no-log",
               "--no-deliver"]  # fmt: skip
    else:
        cmd = [str(VENV_BIN / "python"), "-m", "uvicorn", "nxlink.server.app:app_from_env",
               "--factory", "--http", "httptools", "--host", HOST, "--port", str(port),
               "--no-access-log", "--log-level", "warning", "--no-server-header",
               "--timeout-keep-alive", "5"]  # fmt: skip
    with (folder / f"{kind}.err").open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True, preexec_fn=_limit_files)  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if get(port, "/healthz").status == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{kind} did not start: {(folder / f'{kind}.err').read_text()}"
                    )
                time.sleep(0.05)
            yield port, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def make_database(folder: Path) -> tuple[str, str, str]:
    """A SQLite database with one account of 1,000 seeded tasks: (url, access key, secret)."""
    from nxlink.service import admin
    from nxlink.service.seeding import seed_account
    from nxlink.store import open_store

    url = f"sqlite:///{folder / 'limits.db'}"
    store = open_store(url)
    try:
        admin.create_account(store, "bench")
        key = admin.create_key(store, "bench")
        seed_account(store, "bench", count=1000, seed=1)
    finally:
        store.close()
    return url, key.access_key, key.access_secret


def fresh_list(key: tuple[str, str]) -> SignedRequest:
    return signed_request(key[0], key[1], LIST_BODY, time.time_ns() // 1_000_000)


# -- 1. slowloris --------------------------------------------------------------------------------
async def _attack(port: int, slots: int, seconds: float) -> dict[str, Any]:
    end = time.monotonic() + seconds
    stats: Counter[str] = Counter()
    budget = [slots * 100]

    async def slot() -> None:
        while time.monotonic() < end and budget[0] > 0:
            budget[0] -= 1
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
            except (OSError, TimeoutError):
                stats["connect_failed"] += 1
                await asyncio.sleep(1)
                continue
            stats["opened"] += 1
            stats["open_now"] += 1
            stats["most_open"] = max(stats["most_open"], stats["open_now"])
            try:
                writer.write(b"POST /openapi/aiagent/task/list HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                for byte in b"X-Slow: " + b"a" * 10_000:
                    if time.monotonic() >= end:
                        break
                    try:
                        raw = await asyncio.wait_for(reader.read(4096), 1.0)
                    except TimeoutError:
                        writer.write(bytes([byte]))
                        continue
                    status = raw.split(b" ", 2)[1].decode() if raw else "closed"
                    stats[f"answered_{status}"] += 1
                    break
            except OSError:
                stats["reset"] += 1
            finally:
                stats["open_now"] -= 1
                writer.close()
            await asyncio.sleep(0.5)

    tasks = []
    for i in range(slots):
        tasks.append(asyncio.create_task(slot()))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)
    stats.pop("open_now", None)
    return dict(stats)


def attacker_main(port: int, slots: int, seconds: float) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, slots + 1000), hard))
    print(json.dumps(asyncio.run(_attack(port, slots, seconds))), flush=True)


async def _request(port: int, data: bytes) -> tuple[str, float]:
    started = time.monotonic()
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                writer.write(data)
                raw = await reader.read()
            finally:
                writer.close()
    except TimeoutError:
        return "timeout", time.monotonic() - started
    except OSError as exc:
        return type(exc).__name__, time.monotonic() - started
    parts = raw.split(b" ", 2)
    status = parts[1].decode() if len(parts) > 1 else "empty"
    if status == "200" and b'"code":0' not in raw:
        status = "200 but code != 0"
    return status, time.monotonic() - started


async def _ordinary(port: int, key: tuple[str, str], count: int) -> dict[str, Any]:
    answers: Counter[str] = Counter()
    seconds = []
    for i in range(count):
        if i % 2 == 0:
            data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        else:
            data = (
                fresh_list(key).raw(HOST).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
            )
        status, took = await _request(port, data)
        answers[status] += 1
        seconds.append(took)
    seconds.sort()
    return {
        "answers": dict(answers),
        "p50_ms": round(seconds[len(seconds) // 2] * 1000, 1),
        "p95_ms": round(seconds[int(len(seconds) * 0.95)] * 1000, 1),
        "max_ms": round(seconds[-1] * 1000, 1),
    }


def slowloris(port: int, key: tuple[str, str], args: argparse.Namespace) -> dict[str, Any]:
    attacker = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.limits", "--attacker", str(port),
         "--slow", str(args.slow), "--attack-s", str(args.attack_s)],
        stdout=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    time.sleep(args.client_after)
    started = time.monotonic()
    client = asyncio.run(_ordinary(port, key, args.requests))
    client["client_s"] = round(time.monotonic() - started, 1)
    out, _ = attacker.communicate(timeout=args.attack_s + 60)
    client["attacker"] = json.loads(out.decode().strip().splitlines()[-1])
    return client


# -- 2. throughput -------------------------------------------------------------------------------
def throughput(port: int, key: tuple[str, str], what: str, args: argparse.Namespace,
               folder: Path) -> float:  # fmt: skip
    if what == "list":
        request = fresh_list(key)
        sample = post(port, request)
        assert sample.status == 200 and json.loads(sample.body)["code"] == 0, sample
        result = run_wrk(port, [request], duration=args.seconds, connections=16,
                         max_requests=10**9, script_path=folder / "list.lua",
                         check_bodies=False)  # fmt: skip
        assert result.errors == result.non_200 == 0, result
        return result.requests / result.duration_s
    path = wrk_path()
    assert path is not None
    out = subprocess.run(
        [path, "-t1", "-c16", f"-d{args.seconds}s", f"http://{HOST}:{port}/healthz"],
        capture_output=True, text=True, timeout=args.seconds + 30, check=True,
    ).stdout  # fmt: skip
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    return float(out.split("Requests/sec:")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=2000, help="slow connections (slots)")
    parser.add_argument("--attack-s", type=float, default=40.0, help="attack duration")
    parser.add_argument("--client-after", type=float, default=8.0, help="client start delay")
    parser.add_argument("--requests", type=int, default=200, help="ordinary client requests")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--attacker", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker:
        attacker_main(args.attacker, args.slow, args.attack_s)
        return
    if wrk_path() is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    report: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(),
                              "fd_limit": FD_LIMIT, "args": vars(args)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="nxlink-limits-") as tmp:
        folder = Path(tmp)
        url, access_key, secret = make_database(folder)
        key = (access_key, secret)
        with server("limits", url, folder) as (lim, _), server("plain", url, folder) as (plain, _):
            ports = {"limits": lim, "plain": plain}
            rates: dict[str, dict[str, list[float]]] = {
                kind: {"list": [], "healthz": []} for kind in ports
            }
            for r in range(args.rounds):
                order = list(ports) if r % 2 == 0 else list(reversed(ports))
                for kind in order:
                    for what in ("list", "healthz"):
                        rate = throughput(ports[kind], key, what, args, folder)
                        rates[kind][what].append(rate)
                        print(json.dumps({"round": r, "server": kind, "what": what,
                                          "rps": round(rate)}), flush=True)  # fmt: skip
            report["throughput"] = {
                what: {
                    "limits_rps": [round(x) for x in rates["limits"][what]],
                    "plain_rps": [round(x) for x in rates["plain"][what]],
                    "ratio": round(
                        statistics.median(rates["limits"][what])
                        / statistics.median(rates["plain"][what]),
                        3,
                    ),
                }
                for what in ("list", "healthz")
            }
            print(json.dumps({"throughput": report["throughput"]}), flush=True)
            report["slowloris"] = {}
            for kind in ("limits", "plain"):
                result = slowloris(ports[kind], key, args)
                report["slowloris"][kind] = result
                print(json.dumps({"slowloris": kind, **result}), flush=True)
                time.sleep(12)  # let the server drop what is left before the next
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
