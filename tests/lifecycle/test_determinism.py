"""Same seed and same API calls: the same answers, byte for byte.

Two fresh databases receive the same requests through the real app (fixed clock, seeded
taskIds) while a simulator with the same seed dials on each, minute by minute. Every answer, the
task list and every page of every task's call list, must be identical once the traceId is
blanked; a different seed must give different calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from starlette.testclient import TestClient

from conftest import NOW_MS, Api, make_tenant
from db import Observer
from lifecycle.helpers import seeded_task_ids
from nxlink.dialer.simulator import Simulator
from nxlink.server.app import API_PREFIX, TASK_LIST_PATH, create_app
from nxlink.server.settings import Settings
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import open_store

START = NOW_MS // 1000
MINUTES = 30
CALL_PAGE_SIZE = 7
TRACE = re.compile(rb'"traceId":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')


def _contacts(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {"contactId": f"{prefix}{i}", "phoneNumber": f"+8526{i:07d}", "name": f"N{i}",
         "params": [{"name": "name", "value": f"V{i}"}]}
        for i in range(n)
    ]  # fmt: skip


class Run:
    """One database, its app on a fixed clock, and a seeded simulator."""

    def __init__(self, url: str, *, seed: int) -> None:
        self.url = url
        self.store = open_store(url)
        self.tenant = make_tenant(self.store, "acme")
        # A route id of our own: make_tenant's is random, and the task list shows routeId.
        admin.create_route(self.store, "acme", name="det", country_code="852",
                           price_per_minute_cents=3, answer_probability=0.55,
                           talk_seconds_mean=80, route_id="DetRoute01")  # fmt: skip
        lifecycle.top_up(self.store, self.tenant.account_id, 5_000,
                         clock=Clock(now=START, now_ms=NOW_MS))  # fmt: skip
        self.clock = [NOW_MS]
        # One recording key for both databases (each would make its own): the call lists'
        # signed recording links compare byte for byte.
        app = create_app(Settings(log_requests=False, recording_key="determinism"), store=self.store,
                         clock=lambda: self.clock[0], new_task_id=seeded_task_ids(7))  # fmt: skip
        self.api = Api(TestClient(app, raise_server_exceptions=False), self.clock)
        self.sim = Simulator(self.store, seed=seed, dialer_id="sim",
                             clock_ms=lambda: self.clock[0])  # fmt: skip
        self.sim.advance(START)
        self.answers: list[bytes] = []
        self.task_ids: list[str] = []
        self.last_list: dict[str, Any] = {}

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST, keep the answer with its traceId blanked, and return it decoded."""
        response = self.api.post(self.tenant, orjson.dumps(body), path=path)
        assert response.status_code == 200, response.text
        blanked, found = TRACE.subn(b'"traceId":""', response.content)
        assert found == 1, response.content
        self.answers.append(blanked)
        answer: dict[str, Any] = orjson.loads(response.content)
        assert answer["code"] == 0, answer
        return answer

    def create(self, **fields: Any) -> str:
        body = {"autoFlowId": self.tenant.flow_id, "routeId": "DetRoute01", **fields}
        task_id: str = self.call(API_PREFIX + "task/create", body)["data"]["taskId"]
        self.task_ids.append(task_id)
        return task_id

    def observe(self) -> None:
        """The task list and every page of every task's calls."""
        self.last_list = self.call(TASK_LIST_PATH, {"pageSize": 10})
        for task_id in self.task_ids:
            page, total = 1, None
            while total is None or (page - 1) * CALL_PAGE_SIZE < total:
                answer = self.call(API_PREFIX + "call/list", {"taskId": task_id,
                                   "pageNumber": page, "pageSize": CALL_PAGE_SIZE})  # fmt: skip
                total = answer["total"]
                page += 1

    def minute(self, m: int) -> None:
        self.clock[0] = (START + 60 * m) * 1000
        self.sim.advance(START + 60 * m)

    def calls(self) -> list[tuple[Any, ...]]:
        """(taskId, callId, contactId, attempt, result) of every call, in the order made."""
        with Observer(self.url) as db:
            return db.rows(
                "SELECT t.task_id, c.call_id, o.contact_id, c.attempt, c.result FROM calls AS c "
                "JOIN tasks AS t ON t.id = c.task_row_id JOIN orders AS o ON o.id = c.order_id "
                "ORDER BY c.id"
            )

    def close(self) -> None:
        self.store.close()


def _play(run: Run) -> None:
    """The same requests at the same simulated minutes."""
    a = run.create(taskName="renewals", taskKeep=0, startupType=3, userTaskId="A",
                   orderMaxCall=3, replayInterval=120, maxCall=2, agentGroupId="g1",
                   taskCallbackUrl="http://127.0.0.1:9/t", list=_contacts("a", 40))  # fmt: skip
    run.create(taskName="scheduled", taskKeep=0, startupType=2, startupAt=START + 600,
               shutdownAt=START + 1500, orderMaxCall=2, replayInterval=0,
               list=_contacts("b", 8))  # fmt: skip
    c = run.create(taskName="manual", taskKeep=1, startupType=1, maxCall=1,
                   list=_contacts("c", 6))  # fmt: skip
    run.observe()
    for m in range(1, MINUTES + 1):
        run.minute(m)
        if m == 5:
            run.call(API_PREFIX + "task/start", {"taskId": c, "startupBy": "ops"})
        if m == 8:
            run.call(API_PREFIX + "task/pause", {"userTaskId": "A"})
        if m == 10:
            run.call(API_PREFIX + "call/append", {"taskId": c, "list": _contacts("d", 4)})
            run.call(API_PREFIX + "order/delete", {"taskId": c, "contactId": "d3"})
        if m == 14:
            run.call(API_PREFIX + "task/start", {"taskId": a, "startupBy": "ops"})
        run.observe()


def test_same_seed_same_answers_byte_for_byte(make_store_url: Callable[[str], str]) -> None:
    first, second = Run(make_store_url("a"), seed=1), Run(make_store_url("b"), seed=1)
    try:
        _play(first)
        _play(second)
        assert first.task_ids == second.task_ids
        assert len(first.answers) == len(second.answers)
        for i, (one, other) in enumerate(zip(first.answers, second.answers, strict=True)):
            assert one == other, i
        # The run did something worth comparing: every task dialled, some calls answered, and
        # each task where its requests left it: A restarted (40 contacts on 2 lines take
        # longer than the run), B completed or stopped by its shutdownAt, C (taskKeep 1) open.
        calls = first.calls()
        assert calls == second.calls()
        assert {row[0] for row in calls} == set(first.task_ids)
        assert {row[4] for row in calls} & {1, 3, 17, 21}
        a, b, c = first.task_ids
        statuses = {t["taskId"]: (t["taskStatus"], t["pauseReason"])
                    for t in first.last_list["list"]}  # fmt: skip
        assert (statuses[a], statuses[c]) == ((2, None), (2, None))
        assert statuses[b] in ((5, 2), (3, None))
        assert first.store.recompute_counters().differences == []
    finally:
        first.close()
        second.close()


def test_another_seed_other_calls(make_store_url: Callable[[str], str]) -> None:
    first, other = Run(make_store_url("a"), seed=1), Run(make_store_url("c"), seed=2)
    try:
        _play(first)
        _play(other)
        assert first.task_ids == other.task_ids  # the same tasks and contacts ...
        # ... but other calls: a callId is drawn from (seed, taskId, contactId, attempt).
        assert {c[1] for c in first.calls()}.isdisjoint(c[1] for c in other.calls())
        assert first.answers != other.answers
    finally:
        first.close()
        other.close()
