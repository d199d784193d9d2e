"""Database calls off the event loop: a bounded pool of long-lived threads.

Every store call the app makes runs here, never on the event loop, so that a slow query (a
``taskName`` search over half a million tasks) or a write waiting for the database lock holds
up one thread, not every other client and the health probe.

The pool is a :class:`~concurrent.futures.ThreadPoolExecutor` of its own rather than anyio's
shared worker threads: its size bounds how many queries run at once (and so how many database
connections a worker holds: the SQLite store keeps one per thread, a PostgreSQL pool hands one
to each), and its threads live as long as the app, where anyio's are dropped after 10 s idle,
each new one opening another connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class DbThreads:
    """At most ``size`` calls at once; the others wait, in order, without holding a thread."""

    def __init__(self, size: int, *, name: str) -> None:
        if size < 1:
            raise ValueError(f"a database pool needs at least one thread, got {size}")
        self.size = size
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` on a pool thread; its result or its exception.

        Cancelling the caller (a timeout) stops waiting; a call already running finishes on its
        thread, and one still queued never starts.
        """
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Drop queued calls, wait for running ones (so the store closes after them)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
