"""The client installs with httpx and pydantic alone: it never imports server-side modules."""

from __future__ import annotations

import subprocess
import sys

# Run in a fresh interpreter where the server-side packages cannot be imported at all, as in a
# base install (httpx itself imports click for its own CLI when click is installed).
PROBE = r"""
import importlib.abc, sys

FORBIDDEN = ("starlette", "uvicorn", "orjson", "click", "pydantic_settings",
             "nxlink.server", "nxlink.store", "nxlink.service", "nxlink.cli")

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            raise ImportError(f"refused: {name}")
        return None

sys.meta_path.insert(0, Refuse())

import nxlink
from nxlink import AsyncClient, Client, TaskStatus
from nxlink.client import errors, models, resources

Client(access_key="AK", access_secret="s").close()
AsyncClient(access_key="AK", access_secret="s")
loaded = sorted(m for m in sys.modules
                if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
print(loaded)
"""


def test_the_client_imports_no_server_side_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
