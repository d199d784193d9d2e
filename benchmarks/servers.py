"""Server processes under test: ``nxlink serve`` and the ceiling app, one per scenario.

Each is started in its own session on a free 127.0.0.1 port, waited for (``GET /healthz`` for
the product, any answer for the ceiling), measured (VmHWM from ``/proc/<pid>/status``) and
stopped by its own pid: SIGINT (uvicorn's graceful stop), then SIGKILL after a grace period.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from benchmarks.cpu import descendants
from benchmarks.signed import SignedRequest

REPO: Final = Path(__file__).resolve().parent.parent
VENV_BIN: Final = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


def post(port: int, req: SignedRequest, timeout: float = 60.0) -> Response:
    """Send one request with the standard library (the sample checks)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", req.path, body=req.body, headers=dict(req.headers))
        resp = conn.getresponse()
        return Response(resp.status, resp.read())
    finally:
        conn.close()


def get(port: int, path: str, timeout: float = 2.0) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return Response(resp.status, resp.read())
    finally:
        conn.close()


class ServerProcess:
    """A server subprocess; use as a context manager so it is always stopped."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        port: int,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/healthz",
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.port = port
        self.log_path = log_path
        # NXLINK_* settings of the calling shell never leak into a server under test.
        base = {k: v for k, v in os.environ.items() if not k.startswith("NXLINK_")}
        self.env = {**base, **(env or {})}
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"\n=== {time.strftime('%F %T')} {' '.join(self.cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            try:
                get(self.port, self.ready_path)
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f} s; see {self.log_path}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The server process and its workers (uvicorn runs ``--workers N`` > 1 as children)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return descendants(self.pid)

    def peak_rss_mib(self) -> float:
        """Largest VmHWM (peak resident set) of the server process and its workers, in MiB."""
        return max((_status_kib(pid, "VmHWM") for pid in self.pids()), default=0) / 1024

    def rss_mib(self) -> float:
        """Resident set (VmRSS) now of the server process and its workers together, in MiB."""
        return sum(_status_kib(pid, "VmRSS") for pid in self.pids()) / 1024

    def peak_rss_by_pid(self) -> dict[int, float]:
        """VmHWM of each process of the server, in MiB."""
        return {pid: _status_kib(pid, "VmHWM") / 1024 for pid in self.pids()}

    def stop(self, grace: float = 10.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def product_server(
    db_url: str,
    request_log: Path,
    server_log: Path,
    *,
    workers: int = 1,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """``nxlink serve`` on the benchmark database (``sqlite:///…`` or ``postgresql://…``),
    ``workers`` processes, request log into a file; ``extra_args`` (e.g. ``--simulate``) and
    ``env`` (``NXLINK_*`` settings) for the soak."""
    port = free_port()
    cmd = [
        str(VENV_BIN / "nxlink"),
        "serve",
        "--db",
        db_url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-file",
        str(request_log),
        *extra_args,
    ]
    # Settings not given on the command line (or in env) stay at the product's defaults.
    return ServerProcess("nxlink serve", cmd, port=port, log_path=server_log, env=env)


def ceiling_server(body_file: Path, server_log: Path) -> ServerProcess:
    """The bare ASGI app serving ``body_file``, with ``nxlink serve``'s uvicorn options."""
    from benchmarks.ceiling import BODY_ENV

    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks.ceiling", "--port", str(port), "--workers", "1"]
    return ServerProcess(
        "ceiling", cmd, port=port, log_path=server_log, env={BODY_ENV: str(body_file)}
    )
