"""The real server process on a loopback port, started through the installed console script."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

NXLINK = Path(sys.executable).with_name("nxlink")
START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Served:
    """A running ``nxlink serve``."""

    base: str
    port: int
    proc: subprocess.Popen[bytes]
    err_path: Path


@contextmanager
def serving(folder: Path, db: str, *extra: str, log: bool = False) -> Iterator[str]:
    """Run ``nxlink serve``; yield its base URL once ``/healthz`` answers; always stop it.

    The request log goes to the server's stderr file when ``log`` is true.
    """
    with server_process(folder, db, *extra, log=log) as served:
        yield served.base


@contextmanager
def server_process(
    folder: Path,
    db: str,
    *extra: str,
    log: bool = False,
    env: Mapping[str, str] | None = None,
    nofile: int | None = None,
) -> Iterator[Served]:
    """Like :func:`serving`, with ``env`` added to the server's environment, its open-file
    limit (soft and hard) set to ``nofile``, and the process at hand."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    quiet = () if log else ("--no-log",)
    err_path = folder / f"serve-{port}.err"

    def limit_files() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [str(NXLINK), "serve", "--db", db, "--port", str(port), *quiet, *extra],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            preexec_fn=limit_files if nofile is not None else None,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {proc.returncode}: {err_path.read_text()}"
                    )
                try:
                    if httpx.get(base + "/healthz", timeout=1.0).json()["code"] == 0:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server not healthy in {START_TIMEOUT_S} s: {err_path.read_text()}"
                    )
                time.sleep(0.05)
            yield Served(base, port, proc, err_path)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
