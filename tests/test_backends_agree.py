"""Both backends answer the same bytes: the same calls on a SQLite-backed and on the run's
backend's server (on a PostgreSQL run: PostgreSQL) give byte-identical answers on every
endpoint, ``traceId`` aside, from data made by ``nxlink seed`` with the same seed and by the
same API calls and simulated dialling; their callback bodies agree too, event ids aside."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner
from starlette.testclient import TestClient

from conftest import NOW_MS, Api, Tenant
from lifecycle.helpers import seeded_task_ids
from nxlink.cli import main
from nxlink.dialer.simulator import Simulator
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.service.recordings import RecordingLinks
from nxlink.store import Store, open_store

NOW = NOW_MS // 1000
API = "/openapi/aiagent/"
TRACE = re.compile(rb'"traceId":"[0-9a-f-]+"')
EVENT = re.compile(rb'"eventId":"[0-9a-f]+"')


def _tenant(store: Store, url: str) -> Tenant:
    """An account with fixed names and key (a task started by a request names its key)."""
    account = admin.create_account(store, "acme")
    key = store.create_key(account.id, access_key="AK-1000000000000000001-1001",
                           secret="0123456789abcdef0123456789abcdef", now=NOW)  # fmt: skip
    # Created at NOW, not at the wall clock's second: flow/list and route/list show the time.
    flow = store.create_flow(account.id, name="Acme agent", variables=["name", "city"], now=NOW)
    route = store.create_route(account.id, name="HK mobile", country_code="852",
                               answer_probability=0.7, talk_seconds_mean=50,
                               price_per_minute_cents=3, route_id="AcmeRoute01",
                               caller_phone="+85230001000", line_ids=("hk-1", "hk-2"),
                               now=NOW)  # fmt: skip
    store.create_route(account.id, name="Spare", route_id="SpareRoute", country_code="",
                       price_per_minute_cents=0, answer_probability=0.5, talk_seconds_mean=60,
                       now=NOW)  # fmt: skip
    result = CliRunner().invoke(main, ["seed", "--account", "acme", "--tasks", "400",
                                       "--seed", "11", "--now", str(NOW), "--db", url])  # fmt: skip
    assert result.exit_code == 0, result.output
    lifecycle.top_up(store, account.id, 50_000, clock=Clock.at(NOW_MS))
    return Tenant(account.id, "acme", key.access_key, "0123456789abcdef0123456789abcdef", flow.id, flow.name,
                  route.route_id)  # fmt: skip


def _api(store: Store) -> Api:
    app = create_app(Settings(log_requests=False, recording_key="agree"), store=store,
                     clock=lambda: NOW_MS, new_task_id=seeded_task_ids(3))  # fmt: skip
    return Api(TestClient(app, raise_server_exceptions=False), [NOW_MS])


def _raw(api: Api, tenant: Tenant, path: str, body: dict[str, Any] | str) -> bytes:
    text = body if isinstance(body, str) else json.dumps(body)
    response = api.post(tenant, text, path=API + path)
    return f"{response.status_code} ".encode() + TRACE.sub(b'"traceId":""', response.content)


def _contacts(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"contactId": f"{prefix}{i}", "phoneNumber": f"+8529{i:07d}", "name": f"N {i}",
             "params": [{"name": "city", "value": "HK"}]} for i in range(n)]  # fmt: skip


def _history(store: Store, url: str) -> tuple[Tenant, list[bytes], list[str]]:
    """Make the same world, answering each call; return the answers of the writes."""
    tenant = _tenant(store, url)
    api = _api(store)
    answers = []
    ids = []
    for n, extra in enumerate(({}, {"taskKeep": 1}, {"startupType": 1}, {"maxCall": 1})):
        body = {"taskName": f"Live Straße {n}", "autoFlowId": tenant.flow_id,
                "routeId": tenant.route_id, "taskKeep": 0, "startupType": 3, "maxCall": 2,
                "orderMaxCall": 2, "replayInterval": 60, "userTaskId": f"ut-{n}",
                "taskCallbackUrl": "http://127.0.0.1:9/task",
                "callCallbackUrl": "http://127.0.0.1:9/call",
                "list": _contacts(f"t{n}-", 15), **extra}  # fmt: skip
        raw = _raw(api, tenant, "task/create", body)
        answers.append(raw)
        ids.append(json.loads(raw.split(b" ", 1)[1])["data"]["taskId"])
    writes: list[tuple[str, dict[str, Any] | str]] = [
        ("call/append", {"taskId": ids[1], "list": _contacts("late-", 5)}),
        ("call/append", {"userTaskId": "ut-0", "list": _contacts("t0-", 1)}),  # duplicate
        ("order/delete", {"taskId": ids[2], "contactId": "t2-3"}),
        ("order/delete", {"taskId": ids[2], "contactId": "nope"}),
        ("task/start", {"taskId": ids[2]}),
        ("task/pause", {"userTaskId": "ut-3"}),
        ("task/create", {"taskName": "", "autoFlowId": "x"}),
        ("task/create", "{not json"),
    ]
    answers += [_raw(api, tenant, path, body) for path, body in writes]
    sim = Simulator(store, seed=9, clock_ms=lambda: NOW_MS,
                    links=RecordingLinks(store, key="agree"))  # fmt: skip
    sim.advance(NOW)
    sim.advance(NOW + 2 * 3600)
    return tenant, answers, ids


READS: list[tuple[str, Callable[[list[str]], dict[str, Any] | str]]] = [
    ("task/list", lambda ids: {}),
    ("task/list", lambda ids: {"pageSize": 1000}),
    ("task/list", lambda ids: {"pageSize": 1000, "pageNumber": 1, "taskStatus": 3}),
    ("task/list", lambda ids: {"taskName": "straße", "pageSize": 50}),
    ("task/list", lambda ids: {"taskName": "a", "pageSize": 50}),
    ("task/list", lambda ids: {"taskName": "ing ", "pageSize": 50}),
    (
        "task/list",
        lambda ids: {"minCallsAnsweredRate": "33.33", "maxCallsAnsweredRate": 90, "pageSize": 100},
    ),
    (
        "task/list",
        lambda ids: {
            "minTaskTotalQuantity": 10,
            "maxTaskTotalQuantity": 5000,
            "createStartTs": NOW - 90 * 86400,
            "createEndTs": NOW,
        },
    ),
    ("task/list", lambda ids: {"pageNumber": 30, "pageSize": 10}),
    ("task/list", lambda ids: {"taskStatus": 9}),
    ("call/list", lambda ids: {"taskId": ids[0], "pageSize": 100}),
    ("call/list", lambda ids: {"taskId": ids[1], "pageSize": 100, "callResult": 1}),
    ("call/list", lambda ids: {"taskId": ids[3]}),
    ("call/list", lambda ids: {"taskId": "missing"}),
    ("flow/list", lambda ids: {}),
    ("route/list", lambda ids: {"routeName": "hk"}),
]


def _reads(store: Store, tenant: Tenant, ids: list[str]) -> list[bytes]:
    api = _api(store)
    return [_raw(api, tenant, path, body(ids)) for path, body in READS]


def _callbacks(store: Store) -> list[tuple[str, str, bytes]]:
    return [(item.kind, item.url, EVENT.sub(b'"eventId":""', item.body))
            for item in reversed(store.list_callbacks(limit=10_000))]  # fmt: skip


def test_sqlite_and_the_backend_answer_the_same_bytes(
    make_store_url: Callable[[str], str], tmp_path: Any
) -> None:
    urls = [f"sqlite:///{tmp_path / 'reference.db'}", make_store_url("other")]
    seen = []
    for url in urls:
        store = open_store(url)
        try:
            tenant, writes, ids = _history(store, url)
            seen.append((writes, _reads(store, tenant, ids), _callbacks(store),
                         store.recompute_counters()))  # fmt: skip
        finally:
            store.close()
    (writes, reads, callbacks, check), other = seen
    assert writes[0].startswith(b'200 {"code":0,')
    assert sum(b'"code":0,' in r for r in reads) >= 12  # most reads succeed, with data
    assert len(callbacks) > 20
    assert check.differences == []
    assert other[0] == writes
    for path_body, mine, theirs in zip(READS, reads, other[1], strict=True):
        assert theirs == mine, path_body[0]
    assert other[2] == callbacks
    assert other[3] == check
