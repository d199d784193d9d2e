"""The task JSON the unit of work renders (``nxlink.contract.taskdoc``) agrees with the
contract's formulas and follows every write that changes one of its inputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends import Backend
from conftest import make_task, make_tenant
from nxlink.contract.taskdoc import average, rate
from nxlink.store import Store, StoreError, TaskFilter, open_store


def _only_task(store: Store, account_id: int) -> dict[str, Any]:
    total, docs = store.task_page(account_id, TaskFilter(), offset=0, limit=10)
    assert total == 1
    task: dict[str, Any] = json.loads(docs[0])
    return task


counts = st.integers(min_value=0, max_value=10**9)


@pytest.fixture(scope="module")
def shared_store(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with backend.database(tmp_path_factory.mktemp("docs"), "docs") as url:
        store = open_store(url)
        yield store
        store.close()


@settings(max_examples=200, deadline=None)
@given(
    orders=counts, dialed=counts, finished=counts, calls=counts, answered=counts,
    elapsed=counts, manual_ok=counts, manual_fail=counts, manual_elapsed=counts,
)  # fmt: skip
def test_rates_and_averages_match_the_reference(
    shared_store: Store,
    orders: int, dialed: int, finished: int, calls: int, answered: int, elapsed: int,
    manual_ok: int, manual_fail: int, manual_elapsed: int,
) -> None:  # fmt: skip
    store = shared_store
    tenant = make_tenant(store)
    answered = min(answered, calls)
    stats = {
        "total_order_count": orders, "dialed_order_count": dialed,
        "finish_order_count": finished, "total_call_count": calls,
        "answer_call_count": answered, "total_call_elapsed": elapsed,
        "manual_answer_count": manual_ok, "manual_fail_count": manual_fail,
        "manual_elapsed": manual_elapsed,
    }  # fmt: skip
    store.insert_tasks(tenant.account_id, [make_task(tenant, stats=stats)])
    info = _only_task(store, tenant.account_id)["statInfo"]
    assert info["answerRate"] == rate(answered, calls)
    assert info["dialProgress"] == rate(dialed, orders)
    assert info["finishRate"] == rate(finished, orders)
    assert info["manualAnswerRate"] == rate(manual_ok, manual_ok + manual_fail)
    assert info["avgCallDuration"] == average(elapsed, answered)
    assert info["avgManualDuration"] == average(manual_elapsed, manual_ok)


def test_doc_follows_every_write_of_the_unit_of_work(store: Store) -> None:
    tenant = make_tenant(store)
    store.insert_tasks(tenant.account_id, [make_task(tenant, task_name="Ärger")])
    before = _only_task(store, tenant.account_id)
    assert before["statInfo"]["answerRate"] is None
    assert before["autoFlowName"] == tenant.flow_name
    assert before["taskName"] == "Ärger"
    account, row = tenant.account_id, before["id"]

    with store.lifecycle() as tx:
        tx.add_counters(account, row, {"total_call_count": 3, "answer_call_count": 2,
                                       "total_call_elapsed": 100})  # fmt: skip
    after = _only_task(store, tenant.account_id)["statInfo"]
    assert (after["answerRate"], after["avgCallDuration"]) == ("66.67%", 50)

    with store.lifecycle() as tx:
        tx.update_task(account, row, task_status=5, pause_reason=1)
    task = _only_task(store, tenant.account_id)
    assert (task["taskStatus"], task["pauseReason"]) == (5, 1)

    # A transaction that fails leaves the stored JSON as it was, with its counters.
    with pytest.raises(RuntimeError), store.lifecycle() as tx:
        tx.add_counters(account, row, {"total_call_count": 1})
        tx.update_task(account, row, task_status=2, pause_reason=None)
        raise RuntimeError("rolled back")
    assert _only_task(store, tenant.account_id) == task


def test_unknown_counters_and_columns_are_refused(store: Store) -> None:
    tenant = make_tenant(store)
    store.insert_tasks(tenant.account_id, [make_task(tenant)])
    row = _only_task(store, tenant.account_id)["id"]
    with (
        pytest.raises(StoreError, match="unknown counters: \\['calls'\\]"),
        store.lifecycle() as tx,
    ):
        tx.add_counters(tenant.account_id, row, {"calls": 1})
    with (
        pytest.raises(StoreError, match="not updatable: \\['task_name'\\]"),
        store.lifecycle() as tx,
    ):
        tx.update_task(tenant.account_id, row, task_name="x")


def test_doc_keys_in_contract_order(store: Store) -> None:
    tenant = make_tenant(store)
    store.insert_tasks(tenant.account_id, [make_task(tenant)])
    task = _only_task(store, tenant.account_id)
    assert list(task) == [
        "id", "taskId", "saasUserId", "userTaskId", "other", "autoFlowId", "autoFlowName",
        "taskStatus", "pauseReason", "taskName", "taskDesc", "taskKeep", "startupType",
        "startupAt", "shutdownAt", "startupBy", "routeId", "maxCall", "importType", "funcFlag",
        "maxRingTime", "strategyId", "agentGroupId", "taskCallbackUrl", "createTs", "statInfo",
        "orderMaxCall", "replayInterval",
    ]  # fmt: skip
    assert list(task["statInfo"]) == [
        "id", "taskId", "autoFlowId", "answerOrderCount", "finishOrderCount", "totalOrderCount",
        "dialedOrderCount", "totalCallElapsed", "answerCallCount", "totalCallCount",
        "manualElapsed", "manualAnswerCount", "manualFailCount", "createTs", "answerRate",
        "dialProgress", "finishRate", "manualAnswerRate", "avgCallDuration", "avgManualDuration",
    ]  # fmt: skip
