"""Per-thread read caches (key lookups, day totals) never outlive a change to the database.

SQLite only: these are the SQLite store's own caches (emptied by ``PRAGMA data_version``) and
its deep-page threshold (``sqlite.DIRECT_SKIP``); the ``store`` fixture here is SQLite's alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_task, make_tenant
from nxlink.service import admin
from nxlink.store import Store, TaskFilter, open_store
from nxlink.store import sqlite as sqlite_store

DAY = 86_400


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'test.db'}")
    yield opened
    opened.close()


def test_key_revoked_through_another_connection_is_refused_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    server, admin_cli = open_store(url), open_store(url)
    try:
        tenant = make_tenant(server)
        assert server.key_auth(tenant.access_key) is not None  # now cached
        assert server.key_auth(tenant.access_key) is not None
        admin.revoke_key(admin_cli, tenant.access_key)
        assert server.key_auth(tenant.access_key) is None
    finally:
        server.close()
        admin_cli.close()


def test_key_revoked_through_the_same_store_is_refused_at_once(store: Store) -> None:
    tenant = make_tenant(store)
    assert store.key_auth(tenant.access_key) is not None
    admin.revoke_key(store, tenant.access_key)
    assert store.key_auth(tenant.access_key) is None


@pytest.mark.parametrize("same_store", [True, False])
def test_deep_pages_follow_tasks_added_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_store: bool
) -> None:
    monkeypatch.setattr(sqlite_store, "DIRECT_SKIP", 0)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    reader = open_store(url)
    writer = reader if same_store else open_store(url)
    try:
        tenant = make_tenant(reader)
        base = 1_760_000_000 - 1_760_000_000 % DAY
        writer.insert_tasks(
            tenant.account_id,
            [make_task(tenant, create_ts=base + (i % 20) * DAY + i) for i in range(100)],
        )

        def ids(offset: int) -> list[int]:
            _, docs = reader.task_page(tenant.account_id, TaskFilter(), offset=offset, limit=5)
            return [json.loads(doc)["id"] for doc in docs]

        before = ids(50)  # fills the day totals
        # New tasks on the newest day push every later row down by ten.
        writer.insert_tasks(
            tenant.account_id,
            [make_task(tenant, create_ts=base + 30 * DAY + i) for i in range(10)],
        )
        assert ids(60) == before
        total, _ = reader.task_page(tenant.account_id, TaskFilter(), offset=0, limit=1)
        assert total == 110
    finally:
        reader.close()
        if writer is not reader:
            writer.close()
