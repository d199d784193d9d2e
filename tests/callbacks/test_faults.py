"""Every delivery try in the callback's attempts, and the sandbox's callback faults."""

from __future__ import annotations

import threading
import time

from callbacks import add_callback
from callbacks.test_delivery import T0, Clock, Receiver, _item, receiver, tenant
from conftest import Tenant
from nxlink.callbacks import Deliverer
from nxlink.store import Store
from nxlink.store.base import AttemptFilter

__all__ = ["receiver", "tenant"]  # the fixtures


def test_each_try_is_an_attempt_with_its_status_and_error(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    event_id = _item(store, item_id).event_id
    clock = Clock(T0)
    with Deliverer(store, clock_ms=clock, backoff_scale=0.001) as deliverer:
        assert deliverer.deliver_due() == 1
        clock.now = T0 + 10
        assert deliverer.deliver_due() == 1
    total, attempts = store.list_callback_attempts(AttemptFilter(), limit=10)
    assert total == 2
    assert [(a.outbox_id, a.event_id, a.url, a.attempt, a.started_ms, a.ended_ms, a.status,
             a.error, a.delivered, a.fault, a.delay_ms) for a in attempts] == [
        (item_id, event_id, receiver.url, 1, T0, T0, 503, 'HTTP 503: {"error": "try later"}',
         False, "", 0),
        (item_id, event_id, receiver.url, 2, T0 + 10, T0 + 10, 200, "", True, "", 0),
    ]  # fmt: skip
    assert all(0 < a.latency_ms < 5000 for a in attempts)
    # Filters: by event, URL part, status, outcome; the newest of a limit, oldest first.
    assert store.list_callback_attempts(AttemptFilter(status=503), limit=10)[0] == 1
    assert store.list_callback_attempts(AttemptFilter(delivered=True), limit=10)[0] == 1
    assert store.list_callback_attempts(AttemptFilter(event_id="other"), limit=10) == (0, [])
    assert store.list_callback_attempts(AttemptFilter(url_part="/hooks/"), limit=10)[0] == 2
    assert store.list_callback_attempts(AttemptFilter(url_part="/nope/"), limit=10)[0] == 0
    total, [newest] = store.list_callback_attempts(AttemptFilter(event_id=event_id), limit=1)
    assert (total, newest.attempt) == (2, 2)


def test_a_late_report_of_a_try_records_no_attempt(store: Store, tenant: Tenant) -> None:
    item_id = add_callback(store, tenant.account_id, url="http://127.0.0.1:9/x", next_attempt_ms=T0)
    store.record_delivery(item_id, now_ms=T0, delivered=True, status=200, error="",
                          next_attempt_ms=None)  # fmt: skip
    store.record_delivery(item_id, now_ms=T0 + 1, delivered=False, status=500, error="late",
                          next_attempt_ms=T0 + 10)  # fmt: skip
    total, [attempt] = store.list_callback_attempts(AttemptFilter(), limit=10)
    assert (total, attempt.attempt, attempt.delivered) == (1, 1, True)


def test_the_first_n_tries_fail_without_sending(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    fault = store.add_callback_fault(url_part="/hooks/", delay_ms=0, fail_first=2,
                                     fail_status=502, now_ms=T0)  # fmt: skip
    other = add_callback(store, tenant.account_id, url=receiver.url.replace("/hooks/", "/else/"),
                         next_attempt_ms=T0)  # fmt: skip
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    clock = Clock(T0)
    with Deliverer(store, clock_ms=clock) as deliverer:
        assert deliverer.deliver_due() == 2
        item = _item(store, item_id)
        assert (item.state, item.attempts, item.last_status) == ("pending", 1, 502)
        assert item.last_error == (
            f"callback fault {fault.id}: try 1 of the first 2 fails as HTTP 502, not sent"
        )
        assert item.next_attempt_ms == T0 + 10_000  # the ordinary schedule
        clock.now = item.next_attempt_ms
        assert deliverer.deliver_due() == 1
        clock.now = _item(store, item_id).next_attempt_ms
        assert deliverer.deliver_due() == 1
    assert _item(store, item_id).state == "delivered"
    assert _item(store, other).state == "delivered"
    assert [r.path for r in receiver.requests] == ["/else/task", "/hooks/task"]
    _, attempts = store.list_callback_attempts(AttemptFilter(url_part="/hooks/"), limit=10)
    assert [(a.attempt, a.status, a.delivered, a.fault, a.latency_ms) for a in attempts] == [
        (1, 502, False, "fail", 0.0), (2, 502, False, "fail", 0.0),
        (3, 200, True, "", attempts[2].latency_ms),
    ]  # fmt: skip
    assert attempts[2].latency_ms > 0


def test_a_delay_waits_before_the_post_and_the_newest_rule_applies(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    store.add_callback_fault(url_part="", delay_ms=5000, fail_first=0, fail_status=500, now_ms=T0)
    store.add_callback_fault(url_part="/hooks/", delay_ms=300, fail_first=0, fail_status=500,
                             now_ms=T0)  # fmt: skip
    add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, timeout_s=2, lease_ms=10_000) as deliverer:
        began = time.monotonic()
        assert deliverer.deliver_due() == 1
        took = time.monotonic() - began
    assert 0.3 <= took < 2
    _, [attempt] = store.list_callback_attempts(AttemptFilter(), limit=10)
    assert (attempt.fault, attempt.delay_ms, attempt.delivered) == ("delay", 300, True)
    assert attempt.ended_ms - attempt.started_ms >= 300
    assert attempt.latency_ms < 300  # the POST alone


def test_a_delay_never_outlasts_the_lease(store: Store, tenant: Tenant, receiver: Receiver) -> None:
    store.add_callback_fault(url_part="", delay_ms=10_000, fail_first=0, fail_status=500,
                             now_ms=T0)  # fmt: skip
    add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    with Deliverer(store, timeout_s=0.5, lease_ms=700) as deliverer:
        assert deliverer.deliver_due() == 1
    _, [attempt] = store.list_callback_attempts(AttemptFilter(), limit=10)
    assert (attempt.fault, attempt.delay_ms) == ("delay", 200)


def test_stopping_during_a_delay_sends_nothing_and_gives_the_callback_back(
    store: Store, tenant: Tenant, receiver: Receiver
) -> None:
    store.add_callback_fault(url_part="", delay_ms=10_000, fail_first=0, fail_status=500,
                             now_ms=T0)  # fmt: skip
    item_id = add_callback(store, tenant.account_id, url=receiver.url, next_attempt_ms=T0)
    stop = threading.Event()
    with Deliverer(store) as deliverer:
        runner = threading.Thread(target=deliverer.run, args=(stop,), kwargs={"idle_s": 0.01})
        runner.start()
        time.sleep(0.3)
        began = time.monotonic()
        stop.set()
        runner.join(timeout=5)
        assert time.monotonic() - began < 1
    assert receiver.requests == []
    item = _item(store, item_id)
    assert (item.state, item.attempts) == ("pending", 0)
    assert store.claim_callbacks(int(time.time() * 1000), limit=5, lease_ms=1000) != []


def test_fault_rules_are_listed_removed_and_cleared(store: Store) -> None:
    first = store.add_callback_fault(url_part="a", delay_ms=1, fail_first=0, fail_status=500,
                                     now_ms=T0)  # fmt: skip
    second = store.add_callback_fault(url_part="b", delay_ms=0, fail_first=3, fail_status=404,
                                      now_ms=T0 + 1)  # fmt: skip
    assert store.list_callback_faults() == [first, second]
    assert (second.url_part, second.fail_first, second.fail_status, second.created_ms) == (
        "b",
        3,
        404,
        T0 + 1,
    )
    assert store.remove_callback_fault(first.id) is True
    assert store.remove_callback_fault(first.id) is False
    assert store.list_callback_faults() == [second]
    assert store.clear_callback_faults() == 1
    assert store.list_callback_faults() == []
