"""Persistence: one interface, a backend per URL scheme."""

from __future__ import annotations

from nxlink.store.base import (
    STAT_COUNTERS,
    AccessKey,
    Account,
    CommitUncertain,
    Flow,
    KeyAuth,
    NewTask,
    ReplayKey,
    Route,
    Store,
    StoreError,
    StoreUnavailable,
    TaskFilter,
)
from nxlink.store.options import DatabaseOptions
from nxlink.store.secretbox import MasterKeyError, MasterKeySource
from nxlink.store.urls import masked

__all__ = [
    "STAT_COUNTERS",
    "AccessKey",
    "Account",
    "CommitUncertain",
    "DatabaseOptions",
    "Flow",
    "KeyAuth",
    "MasterKeyError",
    "MasterKeySource",
    "NewTask",
    "ReplayKey",
    "Route",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TaskFilter",
    "masked",
    "open_store",
]


def open_store(
    url: str,
    *,
    migrate: bool = True,
    options: DatabaseOptions | None = None,
    master_key: MasterKeySource | None = None,
) -> Store:
    """Open the database at ``url``, creating or upgrading its schema, and unlock its sealed
    secrets with the master key (``master_key``, default ``NXLINK_MASTER_KEY`` or the key file:
    :class:`~nxlink.store.secretbox.MasterKeySource`).

    ``sqlite:///path`` or ``postgresql://user[:password]@host[:port]/database[?params]``
    (``postgres://`` too; libpq parameters such as ``options=-csearch_path=<schema>,public``
    apply to every connection). ``options`` (pool and time limits) default to the
    ``NXLINK_DB_*`` environment variables (:class:`DatabaseOptions`). Backends are imported
    lazily, so that a missing optional driver only matters to its users.
    """
    scheme = url.split(":", 1)[0].lower()
    opts = options if options is not None else DatabaseOptions.from_env()
    store: Store
    if scheme == "sqlite":
        from nxlink.store.sqlite import SQLiteStore

        store = SQLiteStore(url, busy_timeout_ms=opts.lock_timeout_ms)
    elif scheme in ("postgresql", "postgres"):
        try:
            from nxlink.store.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"{masked(url)}: the PostgreSQL driver is missing ({exc.name or exc}): "
                "install nxlink[postgres]"
            ) from None
        store = PostgresStore(
            url,
            pool_min=opts.pool_min,
            pool_max=opts.pool_max,
            pool_timeout_s=opts.pool_timeout_s,
            statement_timeout_ms=opts.statement_timeout_ms,
            lock_timeout_ms=opts.lock_timeout_ms,
        )
    else:
        raise StoreError(
            f"unsupported database URL {masked(url)!r}: expected sqlite:///PATH or "
            "postgresql://USER@HOST/DATABASE"
        )
    if migrate:
        try:
            store.migrate()
            store.unlock(master_key)
        except BaseException:
            store.close()
            raise
    return store
