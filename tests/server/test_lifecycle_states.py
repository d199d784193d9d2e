"""Every row of the Task states table of ``lifecycle.md``, driven through the API, the simulator
and the administration (top-up, enabling flows and routes): the state and ``pauseReason`` the
task list shows, the refusals, exactly one task callback per change with the ``statInfo`` the
task list showed at that moment, one call callback per call with the record ``call/list``
answers, and counters equal to a recomputation from ``call/list``."""

from __future__ import annotations

import itertools
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from callrecords import check_record, outcome_kind
from conftest import NOW_MS, Api, Tenant, make_tenant
from db import Observer
from nxlink.dialer.simulator import Simulator
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import CallOutcome, Clock
from nxlink.service.recordings import RecordingLinks
from nxlink.store import Store

NOW = NOW_MS // 1000
MINUTE, HOUR = 60, 3600
#: The simulator's real-time clock (callbacks' eventTs), apart from the API's NOW_MS.
SIM_MS = NOW_MS + 123_456
#: The administration's clock (top-up, enable/disable).
ADMIN_MS = NOW_MS + 987_654
ADMIN = Clock(NOW + 987, ADMIN_MS)
TASK_URL = "https://receiver.example.com/task-events"
CALL_URL = "http://127.0.0.1:9/call-events"
HEX32 = re.compile(r"[0-9a-f]{32}")

_P = "/openapi/aiagent/"
CREATE, APPEND, DELETE = _P + "task/create", _P + "call/append", _P + "order/delete"
START, PAUSE, CALLS = _P + "task/start", _P + "task/pause", _P + "call/list"

#: The keys of an event, before the object it carries at the top level (the vendor's shape).
EVENT_KEYS = ["eventId", "eventType", "eventTs"]
ANSWERED = {1, 3, 17, 21}


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def tenant(store: Store) -> Tenant:
    made = make_tenant(store, "acme")
    lifecycle.top_up(store, made.account_id, 1_000_000, clock=ADMIN)
    return made


def post(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(tenant, json.dumps(body), path=path)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def ok(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    payload = post(api, tenant, path, body)
    assert (payload["code"], payload["message"]) == (0, "success"), payload
    return payload


def refused(api: Api, tenant: Tenant, path: str, body: dict[str, Any]) -> str:
    payload = post(api, tenant, path, body)
    assert list(payload) == ["code", "message", "traceId"], payload
    assert payload["code"] == 20000, payload
    message: str = payload["message"]
    return message


def contacts(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"contactId": f"{prefix}{i}", "phoneNumber": f"+8526{i:07d}"} for i in range(n)]


_user_task_ids = itertools.count(1)


def create(api: Api, tenant: Tenant, **fields: Any) -> str:
    body: dict[str, Any] = {
        "taskName": "states",
        "autoFlowId": tenant.flow_id,
        "routeId": tenant.route_id,
        "taskKeep": 0,
        "startupType": 3,
        "taskCallbackUrl": TASK_URL,
        "userTaskId": f"user-task-{next(_user_task_ids)}",
        "other": "pass-through ü",
    }
    body.update(fields)
    task_id: str = ok(api, tenant, CREATE, body)["data"]["taskId"]
    return task_id


def task_of(api: Api, tenant: Tenant, task_id: str) -> dict[str, Any]:
    page = api.tasks(tenant, '{"pageSize":1000}')
    found: dict[str, Any] = next(t for t in page["list"] if t["taskId"] == task_id)
    return found


def state(api: Api, tenant: Tenant, task_id: str) -> tuple[int, int | None]:
    task = task_of(api, tenant, task_id)
    return task["taskStatus"], task["pauseReason"]


def route(store: Store, tenant: Tenant, *, answer: float, talk: int = 30, price: int = 0) -> str:
    made = admin.create_route(store, tenant.name, name=f"p{answer}-t{talk}-c{price}",
                              answer_probability=answer, talk_seconds_mean=talk,
                              price_per_minute_cents=price)  # fmt: skip
    return made.route_id


def simulator(store: Store, seed: int = 3) -> Simulator:
    return Simulator(store, seed=seed, clock_ms=lambda: SIM_MS)


def all_calls(api: Api, tenant: Tenant, task_id: str) -> list[dict[str, Any]]:
    payload = ok(api, tenant, CALLS, {"taskId": task_id, "pageSize": 1000})
    assert payload["total"] == len(payload["list"])
    calls: list[dict[str, Any]] = payload["list"]
    return calls


def balance(store: Store, tenant: Tenant) -> int:
    return next(a.balance_cents for a in store.list_accounts() if a.id == tenant.account_id)


class Outbox:
    """The rows the outbox gained since the last look."""

    def __init__(self, db: Observer) -> None:
        self.db = db
        self.last = 0

    def new(self) -> list[tuple[str, str, dict[str, Any]]]:
        rows = self.db.rows(
            "SELECT id, kind, url, body, event_id FROM outbox WHERE id > ? ORDER BY id", self.last
        )
        if rows:
            self.last = rows[-1][0]
        found = []
        for _, kind, url, body, event_id in rows:
            parsed = json.loads(body)
            assert parsed["eventId"] == event_id
            found.append((kind, url, parsed))
        return found

    def nothing(self) -> None:
        assert self.new() == []

    def started(self, *task_ids: str) -> None:
        """The creation of each task with startupType 3 announced its move to 2, in order."""
        moves = [(kind, event["taskId"], event["taskStatus"], event["pauseReason"])
                 for kind, _url, event in self.new()]  # fmt: skip
        assert moves == [("task", task_id, 2, None) for task_id in task_ids]


@pytest.fixture
def outbox(db: Observer) -> Outbox:
    return Outbox(db)


def announced(
    outbox: Outbox,
    api: Api,
    tenant: Tenant,
    task_id: str,
    *,
    status: int,
    reason: int | None,
    event_ms: int,
) -> dict[str, Any]:
    """The one task event of the last change: what the task list shows now, as it shows it."""
    rows = outbox.new()
    assert [(kind, url) for kind, url, _ in rows] == [("task", TASK_URL)], rows
    event = rows[0][2]
    task = task_of(api, tenant, task_id)
    assert (task["taskStatus"], task["pauseReason"]) == (status, reason)
    # The task object exactly as the task list shows it, at the top level beside the event's keys.
    assert list(event) == [*EVENT_KEYS, *task]
    assert HEX32.fullmatch(event["eventId"])
    assert event == {
        "eventId": event["eventId"], "eventType": "task.status", "eventTs": event_ms, **task,
    }  # fmt: skip
    assert (event["taskId"], event["other"], event["autoFlowId"], event["autoFlowName"],
            event["taskName"], event["taskStatus"], event["pauseReason"]) == (
        task_id, "pass-through ü", tenant.flow_id, "acme agent", "states", status, reason,
    )  # fmt: skip
    return event


# -- creation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("startup_type", [0, 1, 2])
def test_created_ready(api: Api, tenant: Tenant, outbox: Outbox, startup_type: int) -> None:
    extra = {"startupAt": NOW + HOUR} if startup_type == 2 else {}
    task_id = create(api, tenant, startupType=startup_type, list=contacts("c", 2), **extra)
    assert state(api, tenant, task_id) == (1, None)
    outbox.nothing()  # a task is created ready: its creation is task/create's answer


def test_created_immediate_is_announced_in_progress(
    api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    task_id = create(api, tenant, startupType=3, list=contacts("c", 2))
    announced(outbox, api, tenant, task_id, status=2, reason=None, event_ms=NOW_MS)


def test_created_immediate_on_an_empty_account_pauses_for_balance(
    store: Store, api: Api, outbox: Outbox
) -> None:
    broke = make_tenant(store, "acme")
    task_id = create(api, broke, startupType=3, list=contacts("c", 1))
    rows = outbox.new()
    assert [(kind, url) for kind, url, _ in rows] == [("task", TASK_URL)] * 2, rows
    moves = [(event["taskStatus"], event["pauseReason"], event["eventTs"]) for *_, event in rows]
    assert moves == [(2, None, NOW_MS), (6, 3, NOW_MS)]
    assert state(api, broke, task_id) == (6, 3)


# -- started by a user, paused by a user ---------------------------------------------------------


def test_start_and_pause_by_a_user(api: Api, tenant: Tenant, outbox: Outbox) -> None:
    task_id = create(api, tenant, startupType=1, list=contacts("c", 2))
    started = ok(api, tenant, START, {"taskId": task_id})
    assert started["data"] == {"taskId": task_id, "taskStatus": 2, "pauseReason": None}
    announced(outbox, api, tenant, task_id, status=2, reason=None, event_ms=NOW_MS)
    assert task_of(api, tenant, task_id)["startupBy"] == tenant.access_key
    paused = ok(api, tenant, PAUSE, {"taskId": task_id})
    assert paused["data"] == {"taskId": task_id, "taskStatus": 5, "pauseReason": 1}
    announced(outbox, api, tenant, task_id, status=5, reason=1, event_ms=NOW_MS)
    started = ok(api, tenant, START, {"taskId": task_id, "startupBy": "ops@example.com"})
    assert started["data"] == {"taskId": task_id, "taskStatus": 2, "pauseReason": None}
    announced(outbox, api, tenant, task_id, status=2, reason=None, event_ms=NOW_MS)
    assert task_of(api, tenant, task_id)["startupBy"] == "ops@example.com"


def test_start_of_a_task_in_progress_changes_nothing(
    api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    task_id = create(api, tenant, startupType=1, list=contacts("c", 1))
    ok(api, tenant, START, {"taskId": task_id, "startupBy": "first"})
    outbox.new()
    before = task_of(api, tenant, task_id)
    again = ok(api, tenant, START, {"taskId": task_id, "startupBy": "second"})
    assert again["data"] == {"taskId": task_id, "taskStatus": 2, "pauseReason": None}
    outbox.nothing()
    assert task_of(api, tenant, task_id) == before
    assert before["startupBy"] == "first"


def test_pause_of_a_paused_task_changes_nothing(api: Api, tenant: Tenant, outbox: Outbox) -> None:
    task_id = create(api, tenant, list=contacts("c", 1))
    ok(api, tenant, PAUSE, {"taskId": task_id})
    outbox.new()
    before = task_of(api, tenant, task_id)
    again = ok(api, tenant, PAUSE, {"taskId": task_id})
    assert again["data"] == {"taskId": task_id, "taskStatus": 5, "pauseReason": 1}
    outbox.nothing()
    assert task_of(api, tenant, task_id) == before


def test_a_start_on_an_empty_account_passes_through_2_to_6(
    store: Store, api: Api, outbox: Outbox
) -> None:
    broke = make_tenant(store, "acme")
    task_id = create(api, broke, startupType=1, list=contacts("c", 1))
    started = ok(api, broke, START, {"taskId": task_id})
    assert started["data"] == {"taskId": task_id, "taskStatus": 6, "pauseReason": 3}
    events = [body for _, _, body in outbox.new()]
    assert [(e["taskStatus"], e["pauseReason"]) for e in events] == [(2, None), (6, 3)]


# -- schedules ----------------------------------------------------------------------------------


def test_startup_at_reached_starts_a_ready_task(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    at = NOW + 10 * MINUTE
    task_id = create(api, tenant, startupType=2, startupAt=at,
                     routeId=route(store, tenant, answer=1.0), list=contacts("c", 3))  # fmt: skip
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(at - 1)
    assert state(api, tenant, task_id) == (1, None)
    outbox.nothing()
    sim.advance(at)
    announced(outbox, api, tenant, task_id, status=2, reason=None, event_ms=SIM_MS)
    assert task_of(api, tenant, task_id)["startupBy"] == ""
    sim.advance(at + HOUR)
    announced(outbox, api, tenant, task_id, status=3, reason=None, event_ms=SIM_MS)
    assert min(c["createTs"] for c in all_calls(api, tenant, task_id)) == at


def test_startup_at_reached_starts_a_task_paused_by_a_user(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    at = NOW + 10 * MINUTE
    task_id = create(api, tenant, startupType=2, startupAt=at, list=contacts("c", 1))
    ok(api, tenant, START, {"taskId": task_id})
    ok(api, tenant, PAUSE, {"taskId": task_id})
    outbox.new()
    sim = simulator(store)
    sim.advance(NOW)
    assert sim.in_flight == 0  # paused: nothing is dialled
    sim.advance(at)
    announced(outbox, api, tenant, task_id, status=2, reason=None, event_ms=SIM_MS)


def test_shutdown_at_reached_pauses_a_task_in_progress(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    at = NOW + 5 * MINUTE
    task_id = create(api, tenant, shutdownAt=at, routeId=route(store, tenant, answer=0.0),
                     orderMaxCall=5, replayInterval=2 * MINUTE, list=contacts("c", 4))  # fmt: skip
    outbox.started(task_id)
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(at - 1)
    assert state(api, tenant, task_id) == (2, None)
    outbox.nothing()
    sim.advance(at)
    announced(outbox, api, tenant, task_id, status=5, reason=2, event_ms=SIM_MS)
    sim.advance(at + 2 * HOUR)
    assert state(api, tenant, task_id) == (5, 2)
    outbox.nothing()
    calls = all_calls(api, tenant, task_id)
    assert max(c["createTs"] for c in calls) < at
    # Paused by the schedule, pausing again changes nothing; a user starts it again.
    assert ok(api, tenant, PAUSE, {"taskId": task_id})["data"]["pauseReason"] == 2
    outbox.nothing()
    ok(api, tenant, START, {"taskId": task_id})
    announced(outbox, api, tenant, task_id, status=2, reason=None, event_ms=NOW_MS)
    sim.advance(at + 3 * HOUR)
    assert len(all_calls(api, tenant, task_id)) > len(calls)


# -- balance ------------------------------------------------------------------------------------


def test_balance_reaching_zero_pauses_and_a_top_up_resumes(
    store: Store, api: Api, outbox: Outbox
) -> None:
    payer = make_tenant(store, "acme")
    # Calls of at most a minute (no agent group, talk mean 0): each answered call costs 100.
    lifecycle.top_up(store, payer.account_id, 100, clock=ADMIN)
    paid = route(store, payer, answer=1.0, talk=0, price=100)
    task_id = create(api, payer, routeId=paid, maxCall=1, list=contacts("c", 3))
    idle = create(api, payer, startupType=3)  # in progress, with nothing to dial
    outbox.started(task_id, idle)
    outbox.nothing()
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    assert balance(store, payer) == 0
    assert len(all_calls(api, payer, task_id)) == 1
    events = outbox.new()
    assert [
        (kind, body["taskId"], body["taskStatus"], body["pauseReason"]) for kind, _, body in events
    ] == [("task", task_id, 6, 3), ("task", idle, 6, 3)]
    for _, _, body in events:
        assert body["eventTs"] == SIM_MS
        assert body["statInfo"] == task_of(api, payer, body["taskId"])["statInfo"]
    assert state(api, payer, task_id) == (6, 3)
    assert refused(api, payer, START, {"taskId": task_id}) == (
        f"taskStatus: task {task_id} is paused for insufficient balance; top up the account"
    )
    sim.advance(NOW + 2 * HOUR)
    assert len(all_calls(api, payer, task_id)) == 1  # nothing is dialled at zero
    assert lifecycle.top_up(store, payer.account_id, 250, clock=ADMIN) == (250, 2)
    events = outbox.new()
    assert [
        (body["taskId"], body["taskStatus"], body["pauseReason"], body["eventTs"])
        for _, _, body in events
    ] == [(task_id, 2, None, ADMIN_MS), (idle, 2, None, ADMIN_MS)]
    assert state(api, payer, task_id) == (2, None)
    assert state(api, payer, idle) == (2, None)
    sim.advance(NOW + 3 * HOUR)
    assert len(all_calls(api, payer, task_id)) == 3
    assert balance(store, payer) == 50
    announced(outbox, api, payer, task_id, status=3, reason=None, event_ms=SIM_MS)


def test_a_top_up_that_leaves_the_balance_at_or_below_zero_resumes_nothing(
    store: Store, api: Api, outbox: Outbox
) -> None:
    payer = make_tenant(store, "acme")
    lifecycle.top_up(store, payer.account_id, 50, clock=ADMIN)
    paid = route(store, payer, answer=1.0, talk=0, price=100)
    task_id = create(api, payer, routeId=paid, maxCall=1, list=contacts("c", 2))
    outbox.started(task_id)
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    assert balance(store, payer) == -50
    announced(outbox, api, payer, task_id, status=6, reason=3, event_ms=SIM_MS)
    assert lifecycle.top_up(store, payer.account_id, 30, clock=ADMIN) == (-20, 0)
    assert lifecycle.top_up(store, payer.account_id, 20, clock=ADMIN) == (0, 0)
    assert state(api, payer, task_id) == (6, 3)
    outbox.nothing()
    assert lifecycle.top_up(store, payer.account_id, 1, clock=ADMIN) == (1, 1)
    announced(outbox, api, payer, task_id, status=2, reason=None, event_ms=ADMIN_MS)


def test_a_top_up_does_not_leave_a_task_in_progress_on_a_disabled_route(
    store: Store, api: Api, outbox: Outbox
) -> None:
    # Disabling fails tasks in progress only, so a task paused for balance keeps its state;
    # the top-up that takes it back to 2 must then fail it (2 -> 4 on a disabled route),
    # not leave it in progress where nothing can ever dial or complete it.
    payer = make_tenant(store, "acme")
    lifecycle.top_up(store, payer.account_id, 50, clock=ADMIN)
    paid = route(store, payer, answer=1.0, talk=0, price=100)
    task_id = create(api, payer, routeId=paid, maxCall=1, list=contacts("c", 2))
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    assert state(api, payer, task_id) == (6, 3)
    assert lifecycle.set_enabled(store, route_id=paid, enabled=False, clock=ADMIN) == []
    assert state(api, payer, task_id) == (6, 3)
    lifecycle.top_up(store, payer.account_id, 1000, clock=ADMIN)
    assert state(api, payer, task_id) == (4, None)


# -- completion ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("keep", "after"), [(0, (3, None)), (1, (6, 3))])
def test_a_task_paused_for_balance_whose_last_call_ends_completes_with_task_keep_0(
    store: Store, api: Api, outbox: Outbox, keep: int, after: tuple[int, int | None]
) -> None:
    payer = make_tenant(store, "acme")
    lifecycle.top_up(store, payer.account_id, 100, clock=ADMIN)
    paid = route(store, payer, answer=1.0, price=100)  # 100 cents per started minute
    waiting = create(api, payer, routeId=paid, taskKeep=keep, list=contacts("w", 1))
    spender = create(api, payer, routeId=paid, taskKeep=0, list=contacts("s", 1))
    outbox.started(waiting, spender)
    held = {h.contact_id: h for h in lifecycle.claim(
        store, NOW, dialer_id="test-dialer", lease_seconds=HOUR, now_ms=NOW * 1000)}  # fmt: skip
    assert sorted(held) == ["s0", "w0"]

    def answered(contact: str, call_id: str, at: int) -> None:
        outcome = CallOutcome(call_id=call_id, result=1, ring_seconds=5, talk_seconds=40,
                              user_intent="A")  # fmt: skip
        assert lifecycle.report(store, held[contact], outcome, dialer_id="test-dialer",
                                clock=Clock(at, at * 1000), links=RecordingLinks(store))  # fmt: skip

    # The spender's call empties the balance: it completes (its last contact), the other
    # task pauses for balance with its call still in flight.
    answered("s0", "5b0c6f1e-0000-4000-8000-000000000001", NOW + 45)
    assert balance(store, payer) == 0
    assert [(e["taskId"], e["taskStatus"], e["pauseReason"]) for *_, e in outbox.new()] == [
        (spender, 3, None), (waiting, 6, 3),
    ]  # fmt: skip
    # The waiting task's call ends: nothing is left to dial. taskKeep 0 completes it (there
    # is nothing to pay for); taskKeep 1 keeps it open, paused until a top-up.
    answered("w0", "5b0c6f1e-0000-4000-8000-000000000002", NOW + 50)
    assert state(api, payer, waiting) == after
    if keep == 0:
        announced(outbox, api, payer, waiting, status=3, reason=None, event_ms=(NOW + 50) * 1000)
    else:
        outbox.nothing()


def test_every_order_finished_completes_a_task_keep_0_task(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    task_id = create(api, tenant, routeId=route(store, tenant, answer=1.0), taskKeep=0,
                     list=contacts("c", 4))  # fmt: skip
    outbox.started(task_id)
    sim = simulator(store)
    sim.advance(NOW)
    outbox.nothing()
    sim.advance(NOW + HOUR)
    event = announced(outbox, api, tenant, task_id, status=3, reason=None, event_ms=SIM_MS)
    assert event["statInfo"]["finishOrderCount"] == 4
    assert event["statInfo"]["totalOrderCount"] == 4
    assert (
        refused(api, tenant, START, {"taskId": task_id})
        == f"taskStatus: task {task_id} is completed"
    )


def test_a_task_keep_1_task_stays_in_progress(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    task_id = create(api, tenant, routeId=route(store, tenant, answer=1.0), taskKeep=1,
                     list=contacts("c", 4))  # fmt: skip
    outbox.started(task_id)
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    assert task_of(api, tenant, task_id)["statInfo"]["finishOrderCount"] == 4
    assert state(api, tenant, task_id) == (2, None)
    outbox.nothing()


def test_appending_to_a_completed_task_keep_1_task_reopens_it(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox, db: Observer
) -> None:
    # A taskKeep 1 task never completes by itself (the table completes taskKeep 0 only); the
    # state a completed taskKeep 1 task would be in is written directly.
    task_id = create(api, tenant, routeId=route(store, tenant, answer=1.0), taskKeep=1,
                     list=contacts("c", 2))  # fmt: skip
    outbox.started(task_id)
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    with store.lifecycle() as tx:
        held = tx.task(tenant.account_id, task_id=task_id)
        assert held is not None
        tx.update_task(tenant.account_id, held.row_id, task_status=3)
    assert state(api, tenant, task_id) == (3, None)
    outbox.nothing()
    appended = ok(api, tenant, APPEND, {"taskId": task_id, "list": contacts("late", 2)})
    assert appended["data"] == {"taskId": task_id, "count": 2}
    event = announced(outbox, api, tenant, task_id, status=2, reason=None, event_ms=NOW_MS)
    assert event["statInfo"]["totalOrderCount"] == 4
    sim.advance(NOW + 2 * HOUR)
    assert task_of(api, tenant, task_id)["statInfo"]["finishOrderCount"] == 4
    assert state(api, tenant, task_id) == (2, None)


def test_deleting_the_last_open_contact_completes_the_task(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    task_id = create(api, tenant, maxCall=1, list=contacts("c", 2))
    outbox.started(task_id)
    (held,) = lifecycle.claim(
        store, NOW, dialer_id="test-dialer", lease_seconds=HOUR, now_ms=NOW * 1000
    )
    assert held.contact_id == "c0"
    outcome = CallOutcome(call_id="8d7f4b6e-1c2a-4e5f-9a0b-1c2d3e4f5a6b", result=1,
                          ring_seconds=5, talk_seconds=40, user_intent="A")  # fmt: skip
    assert lifecycle.report(store, held, outcome, dialer_id="test-dialer",
                            clock=Clock(NOW + 45, SIM_MS), links=RecordingLinks(store))  # fmt: skip
    assert state(api, tenant, task_id) == (2, None)
    outbox.nothing()
    ok(api, tenant, DELETE, {"taskId": task_id, "contactId": "c1"})
    event = announced(outbox, api, tenant, task_id, status=3, reason=None, event_ms=NOW_MS)
    assert {k: event["statInfo"][k] for k in ("totalOrderCount", "finishOrderCount")} == {
        "totalOrderCount": 1, "finishOrderCount": 1
    }  # fmt: skip


# -- flows and routes disabled ------------------------------------------------------------------


def test_disabling_the_flow_fails_its_tasks_in_progress(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    other_flow = admin.create_flow(store, "acme", name="other agent", variables=["name"])
    running = create(api, tenant, list=contacts("r", 3))
    paused = create(api, tenant, list=contacts("p", 1))
    ok(api, tenant, PAUSE, {"taskId": paused})
    elsewhere = create(api, tenant, autoFlowId=other_flow.id, taskKeep=1)
    sim = simulator(store)
    sim.advance(NOW)
    assert sim.in_flight == 3
    outbox.new()
    failed = lifecycle.set_enabled(store, flow_id=tenant.flow_id, enabled=False, clock=ADMIN)
    assert failed == [running]
    announced(outbox, api, tenant, running, status=4, reason=None, event_ms=ADMIN_MS)
    assert state(api, tenant, paused) == (5, 1)  # the table fails tasks in progress only
    assert state(api, tenant, elsewhere) == (2, None)
    # The calls already placed still end and are counted; nothing more is dialled.
    sim.advance(NOW + HOUR)
    assert len(all_calls(api, tenant, running)) == 3
    assert state(api, tenant, running) == (4, None)
    outbox.nothing()
    lifecycle.set_enabled(store, flow_id=tenant.flow_id, enabled=True, clock=ADMIN)
    assert state(api, tenant, running) == (4, None)
    outbox.nothing()
    assert store.recompute_counters().differences == []


def test_disabling_the_route_fails_its_tasks_in_progress(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    other_route = route(store, tenant, answer=0.5)
    running = create(api, tenant, list=contacts("r", 2))
    ready = create(api, tenant, startupType=1, list=contacts("s", 1))
    elsewhere = create(api, tenant, routeId=other_route, list=contacts("e", 1))
    outbox.new()
    failed = lifecycle.set_enabled(store, route_id=tenant.route_id, enabled=False, clock=ADMIN)
    assert failed == [running]
    announced(outbox, api, tenant, running, status=4, reason=None, event_ms=ADMIN_MS)
    assert state(api, tenant, ready) == (1, None)
    assert state(api, tenant, elsewhere) == (2, None)
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    assert all_calls(api, tenant, running) == []
    assert len(all_calls(api, tenant, elsewhere)) == 1
    lifecycle.set_enabled(store, route_id=tenant.route_id, enabled=True, clock=ADMIN)
    assert state(api, tenant, running) == (4, None)


# -- refusals -----------------------------------------------------------------------------------


def _task_in(store: Store, api: Api, tenant: Tenant, status: int) -> tuple[str, Tenant]:
    """A task in ``status`` (reached along the table) and the account that owns it."""
    if status == 1:
        return create(api, tenant, startupType=1, list=contacts("c", 1)), tenant
    if status == 3:
        task_id = create(api, tenant, routeId=route(store, tenant, answer=1.0),
                         list=contacts("c", 1))  # fmt: skip
        sim = simulator(store)
        sim.advance(NOW)
        sim.advance(NOW + HOUR)
        return task_id, tenant
    if status == 4:
        task_id = create(api, tenant, routeId=route(store, tenant, answer=1.0),
                         list=contacts("c", 1))  # fmt: skip
        lifecycle.set_enabled(store, route_id=task_of(api, tenant, task_id)["routeId"],
                              enabled=False, clock=ADMIN)  # fmt: skip
        return task_id, tenant
    assert status == 6
    broke = make_tenant(store, tenant.name + "-broke")
    return create(api, broke, list=contacts("c", 1)), broke


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (3, "taskStatus: task {id} is completed"),
        (4, "taskStatus: task {id} has failed"),
        (6, "taskStatus: task {id} is paused for insufficient balance; top up the account"),
    ],
)
def test_start_refusals(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox, status: int, message: str
) -> None:
    task_id, owner = _task_in(store, api, tenant, status)
    before = task_of(api, owner, task_id)
    assert before["taskStatus"] == status
    outbox.new()
    assert refused(api, owner, START, {"taskId": task_id}) == message.format(id=task_id)
    outbox.nothing()
    assert task_of(api, owner, task_id) == before


@pytest.mark.parametrize(
    ("status", "word"),
    [(1, "ready"), (3, "completed"), (4, "failed"), (6, "paused for insufficient balance")],
)
def test_pause_refusals(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox, status: int, word: str
) -> None:
    task_id, owner = _task_in(store, api, tenant, status)
    before = task_of(api, owner, task_id)
    assert before["taskStatus"] == status
    outbox.new()
    assert refused(api, owner, PAUSE, {"taskId": task_id}) == (
        f"taskStatus: only an in-progress task can be paused (task {task_id} is {word})"
    )
    outbox.nothing()
    assert task_of(api, owner, task_id) == before


# -- callbacks and counters after the simulator --------------------------------------------------


def _rate(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    value = (Decimal(100) * part / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value}%"


def recomputed(calls: list[dict[str, Any]], imported: int) -> dict[str, Any]:
    """``statInfo`` counters, rates and averages worked out from the task's calls alone."""
    answered = [c for c in calls if c["callResult"] in ANSWERED]
    answered_contacts = {c["contactId"] for c in answered}
    finished = {c["contactId"] for c in calls if c["orderTail"] == 1}
    manual_answered = [c for c in calls if c["callResult"] == 17 and c["manualCallStatus"] == 1]
    manual_failed = [c for c in calls if c["callResult"] == 17 and c["manualCallStatus"] == 2]
    counters = {
        "totalOrderCount": imported,
        "dialedOrderCount": len({c["contactId"] for c in calls}),
        "finishOrderCount": len(finished),
        "answerOrderCount": len(finished & answered_contacts),
        "totalCallCount": len(calls),
        "answerCallCount": len(answered),
        "totalCallElapsed": sum(c["callElapsed"] for c in answered),
        "manualAnswerCount": len(manual_answered),
        "manualFailCount": len(manual_failed),
        "manualElapsed": sum(c["manualElapsed"] for c in manual_answered),
    }
    manual = counters["manualAnswerCount"] + counters["manualFailCount"]
    counters.update({
        "answerRate": _rate(counters["answerCallCount"], counters["totalCallCount"]),
        "dialProgress": _rate(counters["dialedOrderCount"], imported),
        "finishRate": _rate(counters["finishOrderCount"], imported),
        "manualAnswerRate": _rate(counters["manualAnswerCount"], manual),
        "avgCallDuration": (counters["totalCallElapsed"] // counters["answerCallCount"]
                            if counters["answerCallCount"] else None),
        "avgManualDuration": (counters["manualElapsed"] // counters["manualAnswerCount"]
                              if counters["manualAnswerCount"] else None),
    })  # fmt: skip
    return counters


def unsigned(call: dict[str, Any]) -> dict[str, Any]:
    """The record with its recording link's expiry and signature left out."""
    return {**call, "callAudioUrl": call["callAudioUrl"].split("?", 1)[0]}


def test_counters_and_callbacks_after_the_simulator(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    mixed = route(store, tenant, answer=0.6, talk=50)
    task_id = create(api, tenant, routeId=mixed, agentGroupId="humans", orderMaxCall=3,
                     replayInterval=90, maxCall=6, callCallbackUrl=CALL_URL,
                     list=contacts("c", 60))  # fmt: skip
    outbox.started(task_id)
    ok(api, tenant, DELETE, {"taskId": task_id, "contactId": "c59"})
    ok(api, tenant, APPEND, {"taskId": task_id, "list": contacts("late", 5)})
    outbox.nothing()
    sim = simulator(store, seed=11)
    sim.advance(NOW)
    call_events: dict[int, dict[str, Any]] = {}
    task_events: list[dict[str, Any]] = []
    for minutes in (1, 3, 7, 15, 30, 60, 120, 240, 480):
        sim.advance(NOW + minutes * MINUTE)
        for kind, url, body in outbox.new():
            if kind == "call":
                assert url == CALL_URL
                assert list(body)[:3] == EVENT_KEYS
                assert (body["eventType"], body["eventTs"]) == ("call.completed", SIM_MS)
                assert body["id"] not in call_events
                check_record(body, event=True)
                assert (body["callCallbackUrl"], body["orderCallbackUrl"]) == (CALL_URL, "")
                call_events[body["id"]] = body
            else:
                task_events.append(body)
        calls = all_calls(api, tenant, task_id)
        stat = task_of(api, tenant, task_id)["statInfo"]
        expected = recomputed(calls, 64)
        assert {k: stat[k] for k in expected} == expected, minutes
        assert store.recompute_counters().differences == []
        # One call event per call so far, carrying exactly the record call/list answers (and
        # the contact's other); the recording's link is signed when each is made.
        assert {c["id"]: unsigned(c) for c in calls} == {
            i: unsigned({k: v for k, v in e.items() if k not in (*EVENT_KEYS, "other")})
            for i, e in call_events.items()
        }
        assert {e["other"] for e in call_events.values()} == {""}
    # Every outcome kind was announced.
    assert {outcome_kind(e) for e in call_events.values()} == {
        "answered",
        "not answered",
        "voicemail",
        "transfer answered",
        "transfer failed",
    }
    assert sim.in_flight == 0
    assert [(e["taskStatus"], e["pauseReason"]) for e in task_events] == [(3, None)]
    assert task_events[0]["statInfo"] == task_of(api, tenant, task_id)["statInfo"]
    results = {c["callResult"] for c in calls}
    assert {1, 2, 17} <= results
    assert stat["manualAnswerCount"] > 0 and stat["manualFailCount"] > 0
    assert stat["finishOrderCount"] == stat["totalOrderCount"] == 64
    assert stat["totalCallCount"] > 64  # retries happened
    assert len({e["eventId"] for e in call_events.values()}) == len(call_events)
    assert all(HEX32.fullmatch(e["eventId"]) for e in call_events.values())


def test_no_callback_urls_no_outbox_rows(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    task_id = create(api, tenant, taskCallbackUrl="", routeId=route(store, tenant, answer=1.0),
                     list=contacts("c", 3))  # fmt: skip
    ok(api, tenant, PAUSE, {"taskId": task_id})
    ok(api, tenant, START, {"taskId": task_id})
    sim = simulator(store)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    assert state(api, tenant, task_id) == (3, None)
    outbox.nothing()


OWN_URL = "http://127.0.0.1:9/own-events"


def test_a_contacts_own_call_callback_url_wins(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    sure = route(store, tenant, answer=1.0)
    with_url = create(api, tenant, routeId=sure, callCallbackUrl=CALL_URL, list=contacts("t", 2))
    ok(
        api,
        tenant,
        APPEND,
        {
            "taskId": with_url,
            "callCallbackUrl": OWN_URL,
            "list": [{**c, "other": "mine"} for c in contacts("own", 2)],
        },
    )
    ok(api, tenant, APPEND, {"taskId": with_url, "list": contacts("plain", 1)})
    # A task without a URL of its own: only the contacts that brought one are announced.
    without = create(api, tenant, routeId=sure, list=contacts("none", 2))
    ok(
        api,
        tenant,
        APPEND,
        {"taskId": without, "callCallbackUrl": OWN_URL, "list": contacts("late", 1)},
    )
    outbox.started(with_url, without)
    sim = simulator(store, seed=3)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    sent = {body["contactId"]: (url, body)
            for kind_, url, body in outbox.new() if kind_ == "call"}  # fmt: skip
    assert {contact: url for contact, (url, _) in sent.items()} == {
        "t0": CALL_URL, "t1": CALL_URL, "plain0": CALL_URL,
        "own0": OWN_URL, "own1": OWN_URL, "late0": OWN_URL,
    }  # fmt: skip
    for contact, (url, call) in sent.items():
        check_record(call, event=True)
        own = contact.startswith(("own", "late"))
        assert (call["callCallbackUrl"], call["orderCallbackUrl"]) == (url, OWN_URL if own else "")
        assert call["other"] == ("mine" if contact.startswith("own") else "")
    # call/list says the same of each call.
    listed = {c["contactId"]: c for task in (with_url, without)
              for c in ok(api, tenant, CALLS, {"taskId": task, "pageSize": 100})["list"]}  # fmt: skip
    assert {c: (v["callCallbackUrl"], v["orderCallbackUrl"]) for c, v in listed.items()} == {
        "t0": (CALL_URL, ""), "t1": (CALL_URL, ""), "plain0": (CALL_URL, ""),
        "own0": (OWN_URL, OWN_URL), "own1": (OWN_URL, OWN_URL), "late0": (OWN_URL, OWN_URL),
        "none0": ("", ""), "none1": ("", ""),
    }  # fmt: skip


ACCOUNT_TASK_URL = "http://127.0.0.1:9/account-task-events"
ACCOUNT_CALL_URL = "http://127.0.0.1:9/account-call-events"


def test_the_accounts_default_urls_take_the_events_nobody_else_claims(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    """Task events: the task's own URL, else the account's. Call events: the contact's own
    (call/append), else the task's, else the account's; call/list says the same."""
    admin.set_callbacks(store, tenant.name, task_url=ACCOUNT_TASK_URL, call_url=ACCOUNT_CALL_URL)
    sure = route(store, tenant, answer=1.0)
    own = create(api, tenant, routeId=sure, callCallbackUrl=CALL_URL, list=contacts("own", 1))
    bare = create(api, tenant, routeId=sure, taskCallbackUrl="", list=contacts("bare", 1))
    ok(
        api,
        tenant,
        APPEND,
        {"taskId": bare, "callCallbackUrl": OWN_URL, "list": contacts("app", 1)},
    )
    ok(
        api,
        tenant,
        APPEND,
        {"taskId": own, "callCallbackUrl": OWN_URL, "list": contacts("o-app", 1)},
    )
    started = [(kind, url, event["taskId"]) for kind, url, event in outbox.new()]
    assert started == [("task", TASK_URL, own), ("task", ACCOUNT_TASK_URL, bare)]
    sim = simulator(store, seed=3)
    sim.advance(NOW)
    sim.advance(NOW + HOUR)
    rows = outbox.new()
    calls = {event["contactId"]: url for kind, url, event in rows if kind == "call"}
    assert calls == {
        "own0": CALL_URL, "o-app0": OWN_URL, "bare0": ACCOUNT_CALL_URL, "app0": OWN_URL,
    }  # fmt: skip
    done = sorted((url, event["taskId"], event["taskStatus"])
                  for kind, url, event in rows if kind == "task")  # fmt: skip
    assert done == sorted([(TASK_URL, own, 3), (ACCOUNT_TASK_URL, bare, 3)])
    # A task event carries the task as listed: its own taskCallbackUrl ("" here), not the
    # account's, which is a setting of the account.
    bare_done = next(e for k, _, e in rows if k == "task" and e["taskId"] == bare)
    assert bare_done["taskCallbackUrl"] == ""
    listed = {c["contactId"]: (c["callCallbackUrl"], c["orderCallbackUrl"])
              for task in (own, bare)
              for c in ok(api, tenant, CALLS, {"taskId": task, "pageSize": 100})["list"]}  # fmt: skip
    assert listed == {
        "own0": (CALL_URL, ""), "o-app0": (OWN_URL, OWN_URL),
        "bare0": (ACCOUNT_CALL_URL, ""), "app0": (OWN_URL, OWN_URL),
    }  # fmt: skip


def test_the_accounts_default_url_is_taken_when_the_event_is_written(
    store: Store, api: Api, tenant: Tenant, outbox: Outbox
) -> None:
    """An event already in the outbox keeps its URL; clearing the default stops new ones."""
    admin.set_callbacks(store, tenant.name, task_url=ACCOUNT_TASK_URL)
    task_id = create(api, tenant, taskCallbackUrl="", startupType=1, list=contacts("c", 1))
    ok(api, tenant, START, {"taskId": task_id})
    assert [(k, url) for k, url, _ in outbox.new()] == [("task", ACCOUNT_TASK_URL)]
    admin.set_callbacks(store, tenant.name, task_url="https://elsewhere.example.com/t")
    ok(api, tenant, PAUSE, {"taskId": task_id})
    admin.set_callbacks(store, tenant.name, task_url="")
    ok(api, tenant, START, {"taskId": task_id})
    assert [(k, url, e["taskStatus"]) for k, url, e in outbox.new()] == [
        ("task", "https://elsewhere.example.com/t", 5),
    ]
    first = [item for item in store.list_callbacks(limit=10) if item.kind == "task"]
    assert [item.url for item in first] == ["https://elsewhere.example.com/t", ACCOUNT_TASK_URL]
