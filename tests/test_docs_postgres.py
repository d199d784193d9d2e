"""The README's PostgreSQL section works as written: its commands, run one by one against the
run's backend (the URL of its first line replaced by the test's database), with the SQLite
database it copies from made beforehand. The long-running ones (serve, worker) must come up,
serve, and stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import make_tenant
from live import NXLINK, free_port
from nxlink.service.seeding import seed_account
from nxlink.store import open_store

pytestmark = pytest.mark.slow

README = (Path(__file__).parent.parent / "README.md").read_text()
EXAMPLE_URL = "postgresql://nxlink:secret@db.internal:5432/nxlink"


def _commands() -> list[str]:
    start = README.index("\n## PostgreSQL\n")
    end = README.index("\n## ", start + 1)
    (block,) = re.findall(r"(?ms)^```sh\n(.*?)^```$", README[start:end])
    lines = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    assert lines[0] == f"export NXLINK_DB={EXAMPLE_URL}"
    return [line for line in lines[1:] if line]


def test_the_postgresql_section_runs_as_written(tmp_path: Path, store_url: str) -> None:
    source = open_store(f"sqlite:///{tmp_path / 'nxlink.db'}")
    try:
        make_tenant(source, "acme")
        seed_account(source, "acme", count=50, seed=1)
    finally:
        source.close()
    env = {key: value for key, value in os.environ.items() if not key.startswith("NXLINK_")}
    env["NXLINK_DB"] = store_url
    env["PATH"] = f"{NXLINK.parent}{os.pathsep}{env.get('PATH', '')}"
    commands = _commands()
    assert [c.split()[1] for c in commands] == ["db", "db", "db", "serve", "worker"]
    outputs = []
    for command in commands:
        args = shlex.split(command.replace('"$NXLINK_DB"', shlex.quote(store_url)))
        assert args[0] == "nxlink"
        args[0] = str(NXLINK)
        if args[1] == "serve":
            port = free_port()
            outputs.append(_runs_until_sigterm([*args, "--port", str(port)], tmp_path, env,
                                               health=f"http://127.0.0.1:{port}/readyz"))  # fmt: skip
        elif args[1] == "worker":
            outputs.append(_runs_until_sigterm(args, tmp_path, env, health=None))
        else:
            done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=120, check=False)  # fmt: skip
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            outputs.append(done.stdout)
    upgrade, current, copy, _serve, worker = outputs
    assert upgrade.endswith("applied 0005_call_record.sql\nnow at 5\n"), upgrade
    assert current.startswith("5"), current
    assert copy.startswith("copied ") and "tasks 50," in copy, copy
    assert "worker stopped after" in worker, worker
    store = open_store(store_url)
    try:
        account = store.get_account("acme")
        assert account is not None
        assert store.count_tasks(account.id) == 50
        assert store.recompute_counters().differences == []
    finally:
        store.close()


def _runs_until_sigterm(args: list[str], cwd: Path, env: dict[str, str], *,
                        health: str | None) -> str:  # fmt: skip
    """Start a long-running command, see it serve (or stay up), stop it with SIGTERM: exit 0."""
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        if health is None:
            time.sleep(2)
        else:
            while True:
                assert proc.poll() is None, proc.communicate()[0]
                try:
                    if httpx.get(health, timeout=1).json()["code"] == 0:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "not ready in time"
                time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[0]
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out
    return out
