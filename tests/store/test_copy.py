"""``nxlink db copy``: a whole database moved to another store answers the same bytes on every
endpoint, passes verify-counters, and keeps allocating ids where the source left off."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from starlette.testclient import TestClient

from conftest import NOW_MS, Api, Tenant, make_api, make_task, make_tenant
from nxlink.cli import main
from nxlink.dialer.simulator import Simulator
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store, open_store

NOW = NOW_MS // 1000
API = "/openapi/aiagent/"


def _fixed_id_api(store: Store) -> Api:
    """A client of an app that names its next task ``…aaaa``."""
    app = create_app(Settings(log_requests=False), store=store, clock=lambda: NOW_MS,
                     new_task_id=lambda: "00000000-0000-4000-8000-00000000aaaa")  # fmt: skip
    return Api(TestClient(app, raise_server_exceptions=False), [NOW_MS])


def _answer(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(tenant, json.dumps(body), path=API + path)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    answer.pop("traceId")
    return answer


def _populate(store: Store) -> tuple[Tenant, list[str]]:
    """A database with every kind of row: seeded tasks, live tasks with contacts, calls,
    callbacks (pending), a deleted contact, a disabled route, a shared clock."""
    acme = make_tenant(store, "acme")
    other = make_tenant(store, "other")
    store.insert_tasks(acme.account_id, [make_task(acme, task_name=f"seeded Straße {i}",
                                                   stats={"total_order_count": i})
                                         for i in range(30)])  # fmt: skip
    store.insert_tasks(other.account_id, [make_task(other) for _ in range(5)])
    lifecycle.top_up(store, acme.account_id, 100_000, clock=Clock.at(NOW_MS))
    admin.create_route(store, "acme", name="spare", route_id="SpareRoute")
    admin.set_enabled(store, route_id="SpareRoute", enabled=False)
    api = make_api(store)
    task_ids = []
    for n in range(3):
        body = {
            "taskName": f"live {n}", "autoFlowId": acme.flow_id, "routeId": acme.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 2, "orderMaxCall": 2,
            "taskCallbackUrl": "http://127.0.0.1:9/task", "callCallbackUrl": "http://127.0.0.1:9/call",
            "list": [{"contactId": f"c{n}-{i}", "phoneNumber": f"+8526{n}{i:06d}",
                      "params": [{"name": "name", "value": f"N{i}"}]} for i in range(12)],
        }  # fmt: skip
        task_ids.append(_answer(api, acme, "task/create", body)["data"]["taskId"])
    _answer(api, acme, "order/delete", {"taskId": task_ids[0], "contactId": "c0-11"})
    sim = Simulator(store, seed=5, clock_ms=lambda: NOW_MS)
    sim.advance(NOW)
    sim.advance(NOW + 1800)  # some calls done, some in flight
    return acme, task_ids


BODIES: list[tuple[str, Callable[[list[str]], dict[str, Any]]]] = [
    ("task/list", lambda ids: {}),
    ("task/list", lambda ids: {"pageSize": 1000}),
    ("task/list", lambda ids: {"taskName": "straße 1", "pageSize": 100}),
    ("task/list", lambda ids: {"taskStatus": 2}),
    ("task/list", lambda ids: {"minCallsAnsweredRate": "10", "pageSize": 50}),
    ("call/list", lambda ids: {"taskId": ids[0], "pageSize": 100}),
    ("call/list", lambda ids: {"taskId": ids[1], "pageSize": 100}),
    ("flow/list", lambda ids: {}),
    ("route/list", lambda ids: {}),
]


def _answers(store: Store, tenant: Tenant, ids: list[str]) -> list[dict[str, Any]]:
    api = make_api(store)
    return [_answer(api, tenant, path, body(ids)) for path, body in BODIES]


def _copy(source: str, target: str, code: int = 0) -> Any:
    result = CliRunner().invoke(main, ["db", "copy", "--from", source, "--to", target])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def test_copy_answers_the_same_bytes_and_verifies(
    tmp_path: Path, make_store_url: Callable[[str], str]
) -> None:
    """SQLite -> the run's backend -> SQLite again: every hop answers the same."""
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    target_url = make_store_url("target")
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    source = open_store(source_url)
    tenant, ids = _populate(source)
    before = _answers(source, tenant, ids)
    assert before[5]["total"] > 0  # the first live task has calls
    check = source.recompute_counters()
    assert check.differences == []
    outbox = source.list_callbacks(limit=1000)
    assert outbox
    source.close()

    for origin, copy in ((source_url, target_url), (target_url, back_url)):
        result = _copy(origin, copy)
        assert result.stdout.startswith("copied ")
        assert f" row(s) from {origin} to {copy} (accounts 2, access_keys 2," in result.stdout
        target = open_store(copy)
        try:
            assert _answers(target, tenant, ids) == before
            assert target.recompute_counters() == check
            assert target.list_callbacks(limit=1000) == outbox
        finally:
            target.close()

    # Ids continue after the copied ones, as they would have in the source.
    again, target = open_store(source_url), open_store(target_url)
    try:
        body = {"taskName": "after", "autoFlowId": tenant.flow_id,
                "routeId": tenant.route_id, "taskKeep": 0, "startupType": 1}  # fmt: skip
        made = [_answer(_fixed_id_api(store), tenant, "task/create", body)
                for store in (again, target)]  # fmt: skip
        assert made[0] == made[1]
        assert _answers(again, tenant, ids) == _answers(target, tenant, ids)
    finally:
        again.close()
        target.close()


def test_copy_refuses_a_target_that_is_not_empty(
    tmp_path: Path, make_store_url: Callable[[str], str]
) -> None:
    source_url = f"sqlite:///{tmp_path / 'a.db'}"
    target_url = make_store_url("b")
    for url in (source_url, target_url):
        store = open_store(url)
        make_tenant(store)
        store.close()
    result = _copy(source_url, target_url, code=1)
    assert result.output == (f"Error: {target_url}: the target is not empty (it has accounts); "
                             "copy into a new database\n")  # fmt: skip


def test_copy_of_a_database_onto_itself_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    result = _copy(url, url, code=2)
    assert "--from and --to name the same database" in result.output
