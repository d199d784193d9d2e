"""Helpers of the callback tests: outbox rows written with plain SQL, as a lifecycle
transaction would write them."""

from __future__ import annotations

import itertools

from db import Observer
from nxlink.store import Store

_events = itertools.count(1)


def add_callback(
    store: Store,
    account_id: int,
    *,
    url: str = "http://127.0.0.1:9/hook",
    body: bytes = b'{"eventType":"task.status"}',
    kind: str = "task",
    created_ms: int = 1_767_225_600_000,
    next_attempt_ms: int | None = None,
    event_id: str | None = None,
) -> int:
    """Insert one pending callback (due at ``created_ms`` unless told); return its id."""
    event = event_id or f"{next(_events):032x}"
    with Observer(store.url) as db:
        item_id: int = db.scalar(
            "INSERT INTO outbox (account_id, event_id, kind, url, body, created_ms, "
            "next_attempt_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            account_id, event, kind, url, body, created_ms,
            created_ms if next_attempt_ms is None else next_attempt_ms,
        )  # fmt: skip
    return item_id
