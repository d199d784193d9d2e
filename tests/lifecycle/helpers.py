"""Small tools shared by the lifecycle proofs: an observer's connection, the CLI, task ids."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from live import NXLINK


def observe(path: Path) -> sqlite3.Connection:
    """A connection of the test's own, beside the code under test: autocommit, so that each
    statement reads the newest committed state and no snapshot is held between them."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def nxlink(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed console script; the caller checks the exit code."""
    return subprocess.run(
        [str(NXLINK), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def seeded_task_ids(seed: int) -> Callable[[], str]:
    """A taskId factory that gives the same uuid4s in every run with the same seed."""
    rng = random.Random(seed)
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))
