"""A throwaway PostgreSQL server for the tests that need one of their own: a cluster made with
``initdb`` in a temporary folder, on a free loopback port, stopped and removed at the end.

It can require a password (``scram-sha-256``), and be stopped and started again (an outage).
As root, the server's programs run as the ``postgres`` user (``initdb`` refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

#: Where Debian and Ubuntu put the server's programs.
BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14", "13")]


def server_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, if any."""
    for folder in [*BIN_DIRS, *(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep))]:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cluster:
    """``with Cluster(password="...") as cluster:`` a running server; ``cluster.url(db)``.

    ``settings`` are server settings given at every start (``{"shared_preload_libraries":
    "pg_stat_statements"}``).
    """

    def __init__(
        self, *, password: str | None = None, settings: dict[str, str] | None = None
    ) -> None:
        found = server_bin()
        if found is None:
            raise RuntimeError("no initdb/pg_ctl found (PostgreSQL server binaries)")
        self.bin = found
        self.password = password
        self.settings = dict(settings or {})
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="nxlink-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{log}")

    def url(self, database: str = "postgres") -> str:
        secret = f":{self.password}" if self.password is not None else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        args = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                "--no-sync"]  # fmt: skip
        if self.password is None:
            args.append("--auth=trust")
        else:
            pwfile = self.folder / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._as:
                owner = pwd.getpwnam("postgres")
                os.chown(pwfile, owner.pw_uid, owner.pw_gid)
            args += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        self._run(*args)

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.folder} -c fsync=off")  # fmt: skip
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def __enter__(self) -> Cluster:
        try:
            self.init()
            self.start()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
