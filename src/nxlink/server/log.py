"""The request log: one JSON object per line. Never the secret, never a sign pre-image."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

import orjson


class RequestLog:
    def __init__(self, path: str | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._owned: TextIO | None = None
        if enabled and path:
            self._owned = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._lock = threading.Lock()

    @property
    def stream(self) -> TextIO:
        return self._owned if self._owned is not None else sys.stderr

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = orjson.dumps({"time": round(time.time(), 3), **record}).decode() + "\n"
        with self._lock:
            self.stream.write(line)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None
