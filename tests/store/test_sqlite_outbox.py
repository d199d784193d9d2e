"""The callback outbox of the store (on each backend, despite the file's name, which mirrors
``store/sqlite_outbox.py``): claims and leases, recorded tries, retries, signing keys."""

from __future__ import annotations

import threading

from callbacks import add_callback
from conftest import make_tenant
from db import Observer
from nxlink.store import Store, open_store
from nxlink.store.base import OutboxItem, SigningKey

T0 = 1_767_225_600_000


def _ids(items: list[OutboxItem]) -> list[int]:
    return [item.id for item in items]


def _lease(store: Store, item_id: int) -> int:
    with Observer(store.url) as db:
        return int(db.scalar("SELECT lease_until_ms FROM outbox WHERE id = ?", item_id))


def test_claims_due_items_oldest_due_first(store: Store) -> None:
    account = make_tenant(store).account_id
    a = add_callback(store, account, next_attempt_ms=T0 + 300)
    b = add_callback(store, account, next_attempt_ms=T0 + 100)
    c = add_callback(store, account, next_attempt_ms=T0 + 200)
    d = add_callback(store, account, next_attempt_ms=T0 + 100)
    add_callback(store, account, next_attempt_ms=T0 + 1001)  # not due yet
    assert _ids(store.claim_callbacks(T0 + 1000, limit=3, lease_ms=500)) == [b, d, c]
    assert _ids(store.claim_callbacks(T0 + 1000, limit=3, lease_ms=500)) == [a]
    assert store.claim_callbacks(T0 + 1000, limit=3, lease_ms=500) == []


def test_a_claimed_item_carries_everything_stored(store: Store) -> None:
    account = make_tenant(store).account_id
    body = '{"eventType": "call.completed",  "name":"牛小信"}\n'.encode()
    item_id = add_callback(
        store, account, url="https://example.com/cb?x=1", body=body, kind="call",
        created_ms=T0, next_attempt_ms=T0 + 5, event_id="ab" * 16,
    )  # fmt: skip
    [item] = store.claim_callbacks(T0 + 5, limit=10, lease_ms=1000)
    assert item == OutboxItem(
        id=item_id, account_id=account, event_id="ab" * 16, kind="call",
        url="https://example.com/cb?x=1", body=body, created_ms=T0, state="pending",
        attempts=0, round_base=0, next_attempt_ms=T0 + 5, last_status=None, last_error="",
        delivered_ms=None,
    )  # fmt: skip
    assert type(item.body) is bytes
    assert store.get_callback(item_id) == item


def test_a_leased_item_is_not_claimed_again_until_its_lease_passes(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    assert _ids(store.claim_callbacks(T0, limit=10, lease_ms=60_000)) == [item_id]
    assert _lease(store, item_id) == T0 + 60_000
    assert store.claim_callbacks(T0 + 1, limit=10, lease_ms=60_000) == []
    assert store.claim_callbacks(T0 + 59_999, limit=10, lease_ms=60_000) == []
    # The deliverer that held it died: once the lease has passed, another one takes it.
    assert _ids(store.claim_callbacks(T0 + 60_000, limit=10, lease_ms=60_000)) == [item_id]
    assert _lease(store, item_id) == T0 + 120_000


def test_two_stores_on_one_database_never_claim_the_same_item(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    try:
        account = make_tenant(first).account_id
        ids = [add_callback(first, account, next_attempt_ms=T0 + i) for i in range(200)]
        assert _ids(first.claim_callbacks(T0 + 1000, limit=2, lease_ms=60_000)) == ids[:2]
        assert _ids(second.claim_callbacks(T0 + 1000, limit=3, lease_ms=60_000)) == ids[2:5]

        claimed: dict[str, list[int]] = {"first": [], "second": []}

        def drain(name: str, store: Store) -> None:
            while batch := store.claim_callbacks(T0 + 1000, limit=3, lease_ms=60_000):
                claimed[name].extend(_ids(batch))

        threads = [
            threading.Thread(target=drain, args=("first", first)),
            threading.Thread(target=drain, args=("second", second)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        both = claimed["first"] + claimed["second"]
        assert sorted(both) == ids[5:]
        assert len(set(both)) == len(both)
    finally:
        first.close()
        second.close()


def test_a_delivered_try(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    store.claim_callbacks(T0, limit=1, lease_ms=60_000)
    store.record_delivery(
        item_id, now_ms=T0 + 40, delivered=True, status=204, error="", next_attempt_ms=None
    )
    item = store.get_callback(item_id)
    assert item is not None
    assert (item.state, item.attempts, item.round_base, item.next_attempt_ms) == (
        "delivered", 1, 0, T0,
    )  # fmt: skip
    assert (item.last_status, item.last_error, item.delivered_ms) == (204, "", T0 + 40)
    assert _lease(store, item_id) == 0
    assert store.claim_callbacks(T0 + 10**9, limit=10, lease_ms=1) == []


def test_a_failed_try_with_a_next_one_releases_the_lease(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    store.claim_callbacks(T0, limit=1, lease_ms=60_000)
    store.record_delivery(
        item_id, now_ms=T0 + 7, delivered=False, status=503, error="HTTP 503",
        next_attempt_ms=T0 + 10_007,
    )  # fmt: skip
    item = store.get_callback(item_id)
    assert item is not None
    assert (item.state, item.attempts, item.next_attempt_ms) == ("pending", 1, T0 + 10_007)
    assert (item.last_status, item.last_error, item.delivered_ms) == (503, "HTTP 503", None)
    assert store.claim_callbacks(T0 + 10_006, limit=10, lease_ms=60_000) == []
    # Due again long before the first lease (T0 + 60000) would have passed.
    assert _ids(store.claim_callbacks(T0 + 10_007, limit=10, lease_ms=60_000)) == [item_id]


def test_the_last_try_of_a_round_fails_the_item(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    store.record_delivery(
        item_id, now_ms=T0 + 3, delivered=False, status=None,
        error="ConnectError: [Errno 111] Connection refused", next_attempt_ms=None,
    )  # fmt: skip
    item = store.get_callback(item_id)
    assert item is not None
    assert (item.state, item.attempts, item.next_attempt_ms, item.last_status) == (
        "failed", 1, T0, None,
    )  # fmt: skip
    assert item.last_error == "ConnectError: [Errno 111] Connection refused"
    assert store.claim_callbacks(T0 + 10**9, limit=10, lease_ms=1) == []


def test_a_late_try_never_undoes_a_delivery(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    store.record_delivery(
        item_id, now_ms=T0 + 1, delivered=True, status=200, error="", next_attempt_ms=None
    )
    store.record_delivery(
        item_id, now_ms=T0 + 2, delivered=False, status=500, error="HTTP 500",
        next_attempt_ms=T0 + 10_002,
    )  # fmt: skip
    item = store.get_callback(item_id)
    assert item is not None
    assert (item.state, item.attempts, item.last_status, item.delivered_ms) == (
        "delivered", 1, 200, T0 + 1,
    )  # fmt: skip


def test_retry_starts_a_new_round_due_now(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    for attempt in range(7):
        store.record_delivery(
            item_id, now_ms=T0 + attempt, delivered=False, status=500, error="HTTP 500",
            next_attempt_ms=None if attempt == 6 else T0 + attempt + 1,
        )  # fmt: skip
    assert store.retry_callback(item_id, now_ms=T0 + 99_000) is True
    item = store.get_callback(item_id)
    assert item is not None
    assert (item.state, item.attempts, item.round_base, item.next_attempt_ms) == (
        "pending", 7, 7, T0 + 99_000,
    )  # fmt: skip
    assert (item.last_status, item.last_error) == (500, "HTTP 500")
    assert _ids(store.claim_callbacks(T0 + 99_000, limit=10, lease_ms=1)) == [item_id]


def test_retry_of_a_pending_item_keeps_its_lease(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    store.claim_callbacks(T0, limit=1, lease_ms=60_000)
    assert store.retry_callback(item_id, now_ms=T0 + 5) is True
    assert store.claim_callbacks(T0 + 5, limit=10, lease_ms=60_000) == []
    assert _ids(store.claim_callbacks(T0 + 60_000, limit=10, lease_ms=60_000)) == [item_id]


def test_retry_refuses_delivered_and_unknown_items(store: Store) -> None:
    account = make_tenant(store).account_id
    item_id = add_callback(store, account, next_attempt_ms=T0)
    store.record_delivery(
        item_id, now_ms=T0, delivered=True, status=200, error="", next_attempt_ms=None
    )
    assert store.retry_callback(item_id, now_ms=T0 + 1) is False
    assert store.retry_callback(item_id + 1, now_ms=T0 + 1) is False
    item = store.get_callback(item_id)
    assert item is not None
    assert (item.state, item.round_base, item.next_attempt_ms) == ("delivered", 0, T0)


def test_list_newest_first_failed_only_and_limit(store: Store) -> None:
    account = make_tenant(store).account_id
    ids = [add_callback(store, account, next_attempt_ms=T0) for _ in range(5)]
    for item_id in (ids[1], ids[3]):
        store.record_delivery(
            item_id, now_ms=T0, delivered=False, status=500, error="HTTP 500",
            next_attempt_ms=None,
        )  # fmt: skip
    assert _ids(store.list_callbacks()) == ids[::-1]
    assert _ids(store.list_callbacks(limit=2)) == [ids[4], ids[3]]
    assert _ids(store.list_callbacks(failed_only=True)) == [ids[3], ids[1]]
    assert _ids(store.list_callbacks(failed_only=True, limit=1)) == [ids[3]]
    assert store.get_callback(ids[4] + 1) is None


def test_signing_key_is_the_newest_enabled_key_of_an_enabled_account(
    store: Store, db: Observer
) -> None:
    account = store.create_account("signer", now=1_700_000_000).id
    assert store.signing_key(account) is None
    store.create_key(account, access_key="AK-old", secret="s-old", now=1_700_000_100)
    store.create_key(account, access_key="AK-b", secret="s-b", now=1_700_000_200)
    store.create_key(account, access_key="AK-a", secret="s-a", now=1_700_000_200)
    # Same creation second: the one created last wins.
    assert store.signing_key(account) == SigningKey("AK-a", "s-a")
    store.revoke_key("AK-a", now=1_700_000_300)
    assert store.signing_key(account) == SigningKey("AK-b", "s-b")
    store.revoke_key("AK-b", now=1_700_000_300)
    assert store.signing_key(account) == SigningKey("AK-old", "s-old")
    other = store.create_account("other", now=1_700_000_000).id
    store.create_key(other, access_key="AK-other", secret="s-other", now=1_800_000_000)
    assert store.signing_key(account) == SigningKey("AK-old", "s-old")
    db.execute("UPDATE accounts SET enabled = 0 WHERE id = ?", account)
    assert store.signing_key(account) is None
    assert store.signing_key(other) == SigningKey("AK-other", "s-other")
