"""What the sandbox's request journal costs a task-list request, in-process, against the same
app with the admin API off (``NXLINK_ADMIN=off``: no journal), measured in the same run.

    .venv/bin/python -m benchmarks.journal [--tasks 200] [--requests 2000] [--rounds 5]

One SQLite database in a temporary folder (one account, ``--tasks`` seeded tasks), two apps on
it (journal on, journal off), driven through ``httpx.ASGITransport`` (no sockets) with signed
``task/list`` requests of a 10-task page; the two alternate in ``--rounds`` blocks of
``--requests``, so that a noisy machine slows both alike. Prints the median microseconds per
request of each and their ratio. Bounded (a few seconds per round); not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from nxlink import signing
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin
from nxlink.service.seeding import seed_account
from nxlink.store import open_store

BODY = b'{"pageNumber":1,"pageSize":10}'


async def _block(app: object, key: str, secret: str, requests: int) -> float:
    """Seconds per request over ``requests`` task lists."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        started = time.perf_counter()
        for _ in range(requests):
            ts = str(time.time_ns() // 1_000_000)
            headers = signing.headers(access_key=key, access_secret=secret, ts=ts, body=BODY)
            headers["Content-Type"] = "application/json"
            answer = await client.post("/openapi/aiagent/task/list", content=BODY,
                                       headers=headers)  # fmt: skip
            assert answer.status_code == 200 and answer.json()["code"] == 0, answer.text
        return (time.perf_counter() - started) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nxlink-journal-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        store = open_store(url)
        try:
            admin.create_account(store, "bench")
            key = admin.create_key(store, "bench")
            admin.create_flow(store, "bench", name="agent", variables=["name"])
            admin.create_route(store, "bench", name="route", country_code="852")
            seed_account(store, "bench", count=args.tasks, seed=1)
        finally:
            store.close()
        apps = {
            on: create_app(Settings(db=url, admin=on, log_requests=False)) for on in (True, False)
        }
        seconds: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for on in (False, True):
                seconds[on].append(
                    asyncio.run(_block(apps[on], key.access_key, key.access_secret, args.requests))
                )
    off, on = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"task/list, {args.requests} requests x {args.rounds} rounds each, in-process:")
    print(f"  journal off (NXLINK_ADMIN=off): {off * 1e6:8.1f} µs per request")
    print(f"  journal on  (default):          {on * 1e6:8.1f} µs per request")
    print(f"  on / off: {on / off:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
