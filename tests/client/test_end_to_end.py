"""Both clients against the real app in-process: every filter, both envelopes, errors, paging.

The same table of cases runs through the sync and the async client (``kind``) and through the
flat and the ``data`` envelope; expected rows come from a plain-Python oracle over the dataset.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from client.dataset import CASES, T0, Row, expected, insert_rows, task_uuid
from client.harness import Kind, MakeShell
from conftest import NOW_MS, Tenant, make_task, make_tenant
from nxlink import (
    AuthError,
    BusinessError,
    SignatureError,
    TaskStatus,
    TimestampError,
)
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.store import Store


@dataclass
class World:
    tenant: Tenant
    apps: dict[str, Any]


@pytest.fixture
def world(store: Store) -> World:
    tenant = make_tenant(store)
    insert_rows(store, tenant)
    apps = {
        envelope: create_app(
            Settings(envelope=envelope, log_requests=False), store=store, clock=lambda: NOW_MS
        )
        for envelope in ("flat", "data")
    }
    return World(tenant, apps)


@pytest.mark.parametrize("envelope", ["flat", "data"])
@pytest.mark.parametrize(
    ("arguments", "predicate"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_filter(
    make_shell: MakeShell,
    world: World,
    kind: Kind,
    envelope: str,
    arguments: dict[str, Any],
    predicate: Callable[[Row], bool],
) -> None:
    shell = make_shell(
        kind,
        app=world.apps[envelope],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    want = expected(predicate)
    page = shell.list(**arguments, page_size=100)
    assert [t.task_id for t in page.tasks] == want
    assert (page.total, page.page_number, page.page_size) == (len(want), 1, 100)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", page.trace_id
    )
    # iter() walks the same tasks, here two per page.
    walked = shell.iter(**arguments, page_size=2)
    assert [t.task_id for t in walked] == want
    assert len(shell.requests) == 1 + max(1, -(-len(want) // 2))


def test_request_body_is_compact_and_signed_as_sent(
    make_shell: MakeShell, world: World, kind: Kind
) -> None:
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    shell.list(
        task_name="Ä",
        task_status="in-progress",
        created_from=T0,
        created_to=T0 + 1,
        min_answer_rate=Decimal("12.50"),
        max_answer_rate=99.5,
        min_contacts=0,
        max_contacts=7,
        page=2,
        page_size=3,
    )
    [request] = shell.requests
    assert (
        request.content
        == (
            '{"taskName":"Ä","taskStatus":2,"createStartTs":1766275200,"createEndTs":1766275201,'
            '"minCallsAnsweredRate":"12.50","maxCallsAnsweredRate":99.5,"minTaskTotalQuantity":0,'
            '"maxTaskTotalQuantity":7,"pageNumber":2,"pageSize":3}'
        ).encode()
    )
    assert request.url == "http://testserver/openapi/aiagent/task/list"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accessKey"] == world.tenant.access_key
    assert request.headers["ts"] == str(NOW_MS)
    assert request.headers["bizType"] == "100"
    assert request.headers["action"] == "nxai"
    assert "algorithm" not in request.headers


def test_typed_task_and_page_fields(make_shell: MakeShell, world: World, kind: Kind) -> None:
    shell = make_shell(
        kind,
        app=world.apps["data"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    page = shell.list(task_name="wave 1")
    assert (page.total, page.page_number, page.page_size, page.page_count) == (1, 1, 10, 1)
    assert page.has_next is False
    [task] = page.tasks
    assert task.id == 1
    assert task.task_id == task_uuid(0)
    assert task.saas_user_id == world.tenant.account_id
    assert task.task_name == "Renewal wave 1"
    assert task.task_status == 2
    assert task.status is TaskStatus.IN_PROGRESS
    assert task.pause_reason is None
    assert task.auto_flow_id == world.tenant.flow_id
    assert task.auto_flow_name == world.tenant.flow_name
    assert task.route_id == world.tenant.route_id
    assert task.create_ts == T0
    assert task.created_at == dt.datetime(2025, 12, 21, tzinfo=dt.UTC)
    assert (task.order_max_call, task.replay_interval, task.startup_at) == (None, None, None)
    stat = task.stat_info
    assert stat.task_id == task_uuid(0)
    assert (stat.total_order_count, stat.dialed_order_count) == (100, 80)
    assert (stat.total_call_count, stat.answer_call_count, stat.total_call_elapsed) == (
        90,
        45,
        2700,
    )
    assert (stat.answer_rate, stat.answer_rate_pct) == ("50.00%", 50.0)
    assert (stat.dial_progress, stat.dial_progress_pct) == ("80.00%", 80.0)
    assert (stat.finish_rate, stat.finish_rate_pct) == ("0.00%", 0.0)
    assert (stat.manual_answer_rate, stat.manual_answer_rate_pct) == (None, None)
    assert (stat.avg_call_duration, stat.avg_manual_duration) == (60, None)
    assert task.model_extra == {}


def test_wire_form_equals_the_service_answer(
    make_shell: MakeShell, world: World, kind: Kind
) -> None:
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    page = shell.list(page_size=100)
    from starlette.testclient import TestClient

    from conftest import Api  # the hand-signed test client of the server's own tests

    raw = Api(TestClient(world.apps["flat"]), [NOW_MS]).tasks(world.tenant, b'{"pageSize":100}')
    assert [t.to_wire() for t in page.tasks] == raw["list"]
    assert [list(t.to_wire()) for t in page.tasks] == [list(r) for r in raw["list"]]


def test_page_past_the_end(make_shell: MakeShell, world: World, kind: Kind) -> None:
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    page = shell.list(page=4, page_size=3)
    assert (page.total, page.page_number, page.page_size, page.tasks) == (9, 4, 3, [])
    assert page.page_count == 3
    middle = shell.list(page=2, page_size=3)
    assert [t.task_id for t in middle.tasks] == expected(lambda r: True)[3:6]
    assert middle.has_next is True


def test_sha256_signatures(make_shell: MakeShell, world: World, kind: Kind) -> None:
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
        algorithm="SHA256",
    )
    assert shell.list().total == 9
    assert shell.requests[0].headers["algorithm"] == "sha256"
    assert len(shell.requests[0].headers["sign"]) == 64


# -- errors ---------------------------------------------------------------------------------------
def test_wrong_secret_is_a_signature_error_and_not_retried(
    make_shell: MakeShell, world: World, kind: Kind
) -> None:
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret="not-the-secret",
        clock=lambda: NOW_MS,
    )
    with pytest.raises(SignatureError) as caught:
        shell.list()
    error = caught.value
    assert (error.code, error.message, error.status_code) == (
        1003,
        "Authentication failed (invalid signature)",
        200,
    )
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", error.trace_id
    )
    assert (
        str(error)
        == f"Authentication failed (invalid signature) (code 1003, traceId {error.trace_id})"
    )
    assert len(shell.requests) == 1
    assert shell.delays == []


def test_unknown_key_is_an_auth_error(make_shell: MakeShell, world: World, kind: Kind) -> None:
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key="AK-nobody",
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    with pytest.raises(AuthError) as caught:
        shell.list()
    assert type(caught.value) is AuthError
    assert (caught.value.code, caught.value.message) == (
        1005,
        "Authentication failed (insufficient authority)",
    )
    assert len(shell.requests) == 1


def test_bad_filters_are_a_business_error_naming_each_field(
    make_shell: MakeShell, world: World, kind: Kind
) -> None:
    shell = make_shell(
        kind,
        app=world.apps["data"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    with pytest.raises(BusinessError) as caught:
        shell.list(task_status=7, page_size=1001)
    assert caught.value.code == 20000
    assert (
        caught.value.message
        == "taskStatus: must be from 1 to 6, got 7; pageSize: at most 1000, got 1001"
    )
    with pytest.raises(BusinessError) as crossed:
        shell.list(min_answer_rate=60, max_answer_rate=50)
    assert crossed.value.message == "maxCallsAnsweredRate: must be at least minCallsAnsweredRate"
    assert len(shell.requests) == 2
    assert shell.delays == []


def test_a_slow_clock_is_corrected_once_from_the_1004_answer(
    make_shell: MakeShell, world: World, kind: Kind
) -> None:
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS - 120_000,
        max_retries=0,
    )
    assert shell.list().total == 9
    assert [r.headers["ts"] for r in shell.requests] == [str(NOW_MS - 120_000), str(NOW_MS)]
    assert shell.client.clock_offset_ms == 120_000
    assert shell.delays == [0.0]
    # Later calls sign with the corrected clock straight away (the clock here stands still:
    # each signature moves on a millisecond past the last, so no two are the same request).
    assert shell.list().total == 9
    assert shell.requests[-1].headers["ts"] == str(NOW_MS + 1)
    assert len(shell.requests) == 3


def test_a_clock_that_keeps_drifting_raises_the_timestamp_error(
    make_shell: MakeShell, world: World, kind: Kind
) -> None:
    readings = iter([NOW_MS - 120_000, NOW_MS - 120_000, NOW_MS - 300_000])
    shell = make_shell(
        kind,
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: next(readings),
    )
    with pytest.raises(TimestampError) as caught:
        shell.list()
    assert caught.value.server_time_ms == NOW_MS
    assert (
        caught.value.message == f"Authentication failed (timestamp expired): server time {NOW_MS}"
    )
    assert [r.headers["ts"] for r in shell.requests] == [
        str(NOW_MS - 120_000),
        str(NOW_MS - 180_000),
    ]


# -- iter over many pages ---------------------------------------------------------------------------
@pytest.fixture
def big(store: Store) -> tuple[Tenant, list[str]]:
    tenant = make_tenant(store)
    tasks = [
        make_task(tenant, task_id=task_uuid(10_000 + i), create_ts=T0 + i // 3) for i in range(2500)
    ]
    store.insert_tasks(tenant.account_id, tasks)
    newest_first = [t.task_id for t in sorted(tasks, key=lambda t: t.create_ts, reverse=True)]
    return tenant, newest_first


def _pages_asked(shell_requests: list[Any]) -> list[tuple[int, int]]:
    bodies = [json.loads(r.content) for r in shell_requests]
    return [(b["pageNumber"], b["pageSize"]) for b in bodies]


@pytest.mark.parametrize("envelope", ["flat", "data"])
def test_iter_walks_2500_tasks_in_pages_of_1000(
    make_shell: MakeShell, store: Store, big: tuple[Tenant, list[str]], kind: Kind, envelope: str
) -> None:
    tenant, newest_first = big
    app = create_app(
        Settings(envelope=envelope, log_requests=False), store=store, clock=lambda: NOW_MS
    )
    shell = make_shell(
        kind,
        app=app,
        access_key=tenant.access_key,
        access_secret=tenant.secret,
        clock=lambda: NOW_MS,
    )
    walked = shell.iter(page_size=1000)
    assert len(walked) == 2500
    assert len({t.id for t in walked}) == 2500
    # Ties on createTs are broken by id, descending: compare the whole order.
    keys = [(t.create_ts, t.id) for t in walked]
    assert keys == sorted(keys, reverse=True)
    assert sorted(t.task_id for t in walked) == sorted(newest_first)
    assert _pages_asked(shell.requests) == [(1, 1000), (2, 1000), (3, 1000)]


def test_iter_yields_each_task_once_while_tasks_are_created(
    make_shell: MakeShell, store: Store, big: tuple[Tenant, list[str]], kind: Kind
) -> None:
    tenant, newest_first = big
    app = create_app(Settings(log_requests=False), store=store, clock=lambda: NOW_MS)
    served = 0

    async def creating_after_page_one(scope: Any, receive: Any, send: Any) -> None:
        nonlocal served
        await app(scope, receive, send)
        served += 1
        if served == 1:  # five newer tasks push every older one five places later
            fresh = [
                make_task(tenant, task_id=task_uuid(20_000 + i), create_ts=T0 + 10_000)
                for i in range(5)
            ]
            store.insert_tasks(tenant.account_id, fresh)

    shell = make_shell(
        kind,
        app=creating_after_page_one,
        access_key=tenant.access_key,
        access_secret=tenant.secret,
        clock=lambda: NOW_MS,
    )
    walked = [t.task_id for t in shell.iter(page_size=1000)]
    assert len(walked) == 2500
    assert sorted(walked) == sorted(newest_first)
    assert _pages_asked(shell.requests) == [(1, 1000), (2, 1000), (3, 1000)]


def test_iter_exposes_total_and_pages(make_shell: MakeShell, world: World) -> None:
    shell = make_shell(
        "sync",
        app=world.apps["flat"],
        access_key=world.tenant.access_key,
        access_secret=world.tenant.secret,
        clock=lambda: NOW_MS,
    )
    from nxlink import Client

    assert isinstance(shell.client, Client)
    walk = shell.client.tasks.iter(task_status=2, page_size=2)
    assert (walk.total, walk.pages) == (None, 0)
    first = next(walk)
    assert first.task_id == task_uuid(8)
    assert (walk.total, walk.pages) == (4, 1)
    assert [t.task_id for t in walk] == [task_uuid(7), task_uuid(1), task_uuid(0)]
    assert (walk.total, walk.pages) == (4, 2)


def test_past_the_rate_limit_the_client_waits_and_succeeds(
    make_shell: MakeShell, store: Store, kind: Kind
) -> None:
    tenant = make_tenant(store)
    clock = [NOW_MS]
    app = create_app(
        Settings(log_requests=False, rate_limit_per_s=1.0, rate_limit_burst=1),
        store=store,
        clock=lambda: clock[0],
    )
    shell = make_shell(kind, app=app, access_key=tenant.access_key,
                       access_secret=tenant.secret, clock=lambda: clock[0])  # fmt: skip

    def slept(seconds: float) -> None:  # the server's clock moves with the client's waits
        shell.delays.append(seconds)
        clock[0] += int(seconds * 1000)

    async def slept_async(seconds: float) -> None:
        slept(seconds)

    shell.client._sleep = slept if kind == "sync" else slept_async  # type: ignore[method-assign,assignment]
    assert shell.list().total == 0
    assert shell.list().total == 0  # the bucket is empty: 429, Retry-After 1, then again
    assert shell.delays == [1.0]
    assert len(shell.requests) == 3
