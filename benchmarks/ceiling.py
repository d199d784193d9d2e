"""The ceiling: a bare ASGI app answering every request with precomputed bytes.

It consumes the request body and returns the bytes of a real task-list answer captured from the
product (a 10-task page for scenario (e), a 1000-task page for (f)), with the product's
response headers. Served by uvicorn with exactly the options ``nxlink serve`` passes, it measures
what the server stack alone costs: the best the product could do on this machine.

Run: ``python -m benchmarks.ceiling --port PORT`` with ``NXBENCH_CEILING_BODY=<file>``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Final

from starlette.types import ASGIApp, Receive, Scope, Send

#: Environment variable naming the file whose bytes every answer carries.
BODY_ENV: Final = "NXBENCH_CEILING_BODY"


def make_app(body: bytes, trace_id: str = "0" * 32) -> ASGIApp:
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            (b"x-trace-id", trace_id.encode()),
        ],
    }
    finish: dict[str, Any] = {"type": "http.response.body", "body": body}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:  # consume the request body, as the product does
            message = await receive()
            more = message.get("more_body", False)
        await send(start)
        await send(finish)

    return app


def app_factory() -> ASGIApp:
    """Factory for ``uvicorn --factory``: the bytes come from the file named by the env var."""
    path = os.environ.get(BODY_ENV)
    if not path:
        raise RuntimeError(f"set {BODY_ENV} to the file holding the answer bytes")
    return make_app(Path(path).read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the ceiling app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    import uvicorn

    # The same options as src/nxlink/cli/serve.py passes for ``nxlink serve``.
    uvicorn.run(
        "benchmarks.ceiling:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_level="warning",
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
