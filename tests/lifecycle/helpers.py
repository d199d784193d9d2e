"""Small tools shared by the lifecycle proofs: the CLI, task ids."""

from __future__ import annotations

import random
import subprocess
import uuid
from collections.abc import Callable

from live import NXLINK


def nxlink(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed console script; the caller checks the exit code."""
    return subprocess.run(
        [str(NXLINK), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def seeded_task_ids(seed: int) -> Callable[[], str]:
    """A taskId factory that gives the same uuid4s in every run with the same seed."""
    rng = random.Random(seed)
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))
