"""How a store uses its database: connection pool and time limits.

One object, :class:`DatabaseOptions`, passed to :func:`nxlink.store.open_store` or, when the
caller passes none, read from the environment (:meth:`DatabaseOptions.from_env`):

=================================  =======  ==================================================
variable                           default  meaning
=================================  =======  ==================================================
``NXLINK_DB_POOL_MIN``             1        connections a PostgreSQL store keeps open
``NXLINK_DB_POOL_MAX``             10       connections it may open (per process)
``NXLINK_DB_POOL_TIMEOUT_S``       10       seconds to wait for a free connection (and to
                                            connect) before giving up
``NXLINK_DB_STATEMENT_TIMEOUT_MS`` 30000    longest statement (PostgreSQL); 0: no limit
``NXLINK_DB_LOCK_TIMEOUT_MS``      10000    longest wait for a lock (PostgreSQL), or for the
                                            database's write lock (SQLite's busy timeout)
=================================  =======  ==================================================

A limit that is reached raises :class:`nxlink.store.StoreUnavailable` (the server answers 503).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from nxlink.store.base import StoreError

ENV_PREFIX = "NXLINK_DB_"


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    pool_min: int = 1
    pool_max: int = 10
    pool_timeout_s: float = 10.0
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        problems = []
        if self.pool_min < 0:
            problems.append(f"pool_min must be 0 or more, got {self.pool_min}")
        if self.pool_max < 1 or self.pool_max < self.pool_min:
            problems.append(f"pool_max must be at least 1 and at least pool_min "
                            f"({self.pool_min}), got {self.pool_max}")  # fmt: skip
        if not self.pool_timeout_s > 0:
            problems.append(f"pool_timeout_s must be above 0, got {self.pool_timeout_s}")
        if self.statement_timeout_ms < 0:
            problems.append(
                f"statement_timeout_ms must be 0 or more, got {self.statement_timeout_ms}"
            )
        if self.lock_timeout_ms < 0:
            problems.append(f"lock_timeout_ms must be 0 or more, got {self.lock_timeout_ms}")
        if problems:
            raise StoreError("database options: " + "; ".join(problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabaseOptions:
        """The options set by ``NXLINK_DB_POOL_MIN`` and the others; defaults for the rest."""
        env = os.environ if environ is None else environ
        values: dict[str, int | float] = {}
        for spec in fields(cls):
            name = ENV_PREFIX + spec.name.upper()
            raw = env.get(name, "").strip()
            if not raw:
                continue
            number: int | float
            try:
                number = float(raw) if spec.type == "float" else int(raw)
            except ValueError:
                kind = "a number" if spec.type == "float" else "an integer"
                raise StoreError(f"{name}: expected {kind}, got {raw!r}") from None
            values[spec.name] = number
        try:
            return cls(**values)  # type: ignore[arg-type]
        except StoreError as exc:
            raise StoreError(f"{exc} (from the NXLINK_DB_* environment variables)") from None
