"""The client reads every list in every shape (issue 13, item 2): the vendor puts the page fields
of task/list and call/list beside ``code`` and ``message``, those of flow/list and route/list
under ``data``, and a server may force one shape on every list (``NXLINK_ENVELOPE``).
``request_page`` and ``tasks.list`` read the same page whichever shape arrives; each case runs
through both clients.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest

from client.harness import Kind, MakeShell, Shell
from conftest import NOW_MS, make_tenant
from nxlink import Client, Page, TaskPage
from nxlink.client.models import page_fields
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin
from nxlink.store import Store

ROWS = [{"autoFlowId": 1, "autoFlowName": "a", "variables": [], "createTs": 5}]


def request_page(shell: Shell, path: str, body: dict[str, Any] | None = None) -> Page:
    if isinstance(shell.client, Client):
        return shell.client.request_page(path, body)
    return shell.portal.call(functools.partial(shell.client.request_page, path, body))


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 0, "message": "success", "traceId": "t-1", "total": 1, "pageNumber": 2,
         "pageSize": 3, "list": ROWS},
        {"code": 0, "message": "success", "traceId": "t-1",
         "data": {"total": 1, "pageNumber": 2, "pageSize": 3, "list": ROWS}},
    ],
    ids=["flat", "data"],
)  # fmt: skip
def test_a_page_reads_the_same_in_either_shape(payload: dict[str, Any]) -> None:
    fields = page_fields(payload)
    assert {k: fields[k] for k in ("total", "pageNumber", "pageSize", "list")} == {
        "total": 1, "pageNumber": 2, "pageSize": 3, "list": ROWS
    }  # fmt: skip
    page = Page.from_payload(payload, page_number=9, page_size=9)
    assert (page.total, page.page_number, page.page_size, page.rows, page.trace_id) == (
        1, 2, 3, ROWS, "t-1"
    )  # fmt: skip
    assert (page.page_count, page.has_next) == (1, False)
    no_rows = json.loads(json.dumps(payload).replace('"list": [{', '"list": [], "x": [{'))
    tasks = TaskPage.from_payload(no_rows, page_number=9, page_size=9)
    assert (tasks.total, tasks.page_number, tasks.page_size, tasks.tasks) == (1, 2, 3, [])


def test_a_page_missing_its_fields_takes_those_asked_for() -> None:
    page = Page.from_payload({"code": 0, "message": "success", "data": {}}, page_number=4,
                             page_size=7)  # fmt: skip
    assert (page.total, page.page_number, page.page_size, page.rows) == (0, 4, 7, [])


@pytest.mark.parametrize("envelope", ["vendor", "flat", "data"])
def test_the_client_reads_every_list_in_every_setting(
    make_shell: MakeShell, kind: Kind, store: Store, envelope: str
) -> None:
    tenant = make_tenant(store)
    admin.create_flow(store, tenant.name, name="second agent", variables=["due"])
    app = create_app(Settings(envelope=envelope, log_requests=False), store=store,
                     clock=lambda: NOW_MS)  # fmt: skip
    shell = make_shell(kind, app=app, access_key=tenant.access_key,
                       access_secret=tenant.secret, clock=lambda: NOW_MS)  # fmt: skip

    flows = request_page(shell, "flow/list", {"pageSize": 1})
    assert (flows.total, flows.page_number, flows.page_size, flows.has_next) == (2, 1, 1, True)
    assert [f["autoFlowName"] for f in flows.rows] == [f"{tenant.name} agent"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        flows.trace_id)  # fmt: skip
    second = request_page(shell, "/openapi/aiagent/flow/list", {"pageNumber": 2, "pageSize": 1})
    assert [f["autoFlowName"] for f in second.rows] == ["second agent"]

    routes = request_page(shell, "route/list")
    assert (routes.total, routes.page_number, routes.page_size) == (1, 1, 100)
    assert [r["routeId"] for r in routes.rows] == [tenant.route_id]

    body = {"taskName": "renewals", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 1}  # fmt: skip
    if isinstance(shell.client, Client):
        created = shell.client.request("task/create", body)
    else:
        created = shell.portal.call(functools.partial(shell.client.request, "task/create", body))
    task_id = created["data"]["taskId"]

    calls = request_page(shell, "call/list", {"taskId": task_id})
    assert (calls.total, calls.page_number, calls.page_size, calls.rows) == (0, 1, 10, [])
    tasks = request_page(shell, "task/list")
    assert [t["taskId"] for t in tasks.rows] == [task_id]
    typed = shell.list()
    assert (typed.total, [t.task_id for t in typed.tasks]) == (1, [task_id])
