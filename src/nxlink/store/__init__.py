"""Persistence: one interface, a backend per URL scheme."""

from __future__ import annotations

from nxlink.store.base import (
    STAT_COUNTERS,
    AccessKey,
    Account,
    Flow,
    KeyAuth,
    NewTask,
    Route,
    Store,
    StoreError,
    StoreUnavailable,
    TaskFilter,
)
from nxlink.store.urls import masked

__all__ = [
    "STAT_COUNTERS",
    "AccessKey",
    "Account",
    "Flow",
    "KeyAuth",
    "NewTask",
    "Route",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TaskFilter",
    "masked",
    "open_store",
]


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the database at ``url`` (``sqlite:///path``), creating or upgrading its schema.

    Backends are imported lazily, so that a missing optional driver only matters to its users.
    """
    scheme = url.split(":", 1)[0].lower()
    store: Store
    if scheme == "sqlite":
        from nxlink.store.sqlite import SQLiteStore

        store = SQLiteStore(url)
    elif scheme in ("postgresql", "postgres"):
        raise StoreError(
            f"{url.split('@')[-1]!r}: the PostgreSQL backend is not available in this version; "
            "use sqlite:///PATH"
        )
    else:
        raise StoreError(f"unsupported database URL {url!r}: expected sqlite:///PATH")
    if migrate:
        store.migrate()
    return store
