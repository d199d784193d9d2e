"""A random life of tasks, checked after every step.

A hypothesis state machine drives the real service functions (create, append, delete, start,
pause, top up, disable a route) and the simulated dialer on a database of its own (on each
backend), with one or two
accounts whose balance can run out, and now and then "crashes": the store is closed and opened
again and the dialer is replaced by a new one, which takes its predecessor's claims over when
their lease passes. After every step the invariants of ``lifecycle.md`` must hold:

* every counter equals its recomputation from orders and calls;
* every status change is a move of the state table, and each is announced by a task.status
  callback (every task has a ``taskCallbackUrl``: the outbox is the log of its moves);
* ``pauseReason`` is set exactly for statuses 5 and 6;
* no contact has more calls than ``orderMaxCall``, no task more calls at once than ``maxCall``;
* the balance moves only by top-ups and call costs;
* a refused operation (20000) leaves every table as it was.
"""

from __future__ import annotations

import itertools
import math
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from backends import Backend
from conftest import NOW_MS, Tenant, make_tenant
from db import Observer
from lifecycle.helpers import seeded_task_ids
from nxlink.contract.taskdoc import TaskDocInputs, render
from nxlink.dialer.simulator import Simulator
from nxlink.service import admin, counters, lifecycle
from nxlink.service.errors import ApiError
from nxlink.service.lifecycle import STATUS_WORDS, TRANSITIONS, Clock
from nxlink.service.requests import (
    CallAppend,
    ContactIn,
    OrderDelete,
    TaskAction,
    TaskCreate,
    TaskRef,
)
from nxlink.store import STAT_COUNTERS, Store, open_store

START = NOW_MS // 1000
SEED = 5
#: Short leases, so that a crashed dialer's claims are taken over within a run.
LEASE_SECONDS = 600
STATUS_URL = "http://127.0.0.1:9/status"
CALL_URL = "http://127.0.0.1:9/calls"
READY, IN_PROGRESS, COMPLETED, FAILED, PAUSED, PAUSED_BALANCE = 1, 2, 3, 4, 5, 6

#: The paths of one user operation through two moves of the state table (any other change
#: by a user operation is a single move). Each is one operation that puts a task in progress
#: and then finds, in the same transaction, that it cannot stay there:
#: - task/create with startupType 3: inserted as 1, then moved (and announced) to 2, which
#:   goes 2 -> 6 at once without balance: 1 -> 2 -> 6;
#: - task/start of a ready or paused task whose balance is at or below zero: 1|5 -> 2 -> 6;
#: - task/start of a paused task (taskKeep 0) whose last contacts finished while it was
#:   paused (calls in flight when it was paused are still reported): 5 -> 2 -> 3, whatever
#:   the balance (nothing is left to pay for);
#: - a top-up of a task paused for balance whose route was disabled meanwhile: 6 -> 2 -> 4
#:   (a task in progress on a disabled route fails, as the state table says;
#:   test_top_up_fails_a_task_whose_route_..._disabled).
#: A task paused for balance whose last contacts finish completes then (6 -> 3), so a top-up
#: never finds one done: 6 -> 2 -> 3 cannot happen. A ready task has never been dialled, so
#: 1 -> 2 -> 3 cannot happen: no contact of it has finished. Nor can 3 -> 2 -> 6 (contacts
#: appended to a completed task with taskKeep 1, no balance left): only a task with taskKeep 0
#: completes, and it takes no more contacts. The dialer's steps (calls reported, schedules
#: fired, claims taken over) may move a task any number of times; each move must still be in
#: the table.
USER_CHAINS: dict[str, frozenset[tuple[int, ...]]] = {
    "create": frozenset({(1, 2, 6)}),
    "init": frozenset({(1, 2, 6)}),  # the world's first tasks, each created once
    "start": frozenset({(1, 2, 6), (5, 2, 6), (5, 2, 3)}),
    "top_up": frozenset({(6, 2, 4)}),
}


@dataclass
class AccountModel:
    tenant: Tenant
    #: The route of make_tenant (free) and a priced one.
    free_route: str
    priced_route: str
    price: int
    topped_up: int = 0
    contacts: list[str] = field(default_factory=list)


@dataclass
class TaskModel:
    account: int
    task_id: str
    user_task_id: str
    route_id: str
    status: int
    contacts: list[str] = field(default_factory=list)


def _contacts(ids: list[str]) -> tuple[ContactIn, ...]:
    return tuple(
        ContactIn(contact_id=cid, phone=f"+8529{i:07d}", params=(("name", f"n{cid}"),))
        for i, cid in enumerate(ids)
    )


def task_specs(*, runnable: bool) -> st.SearchStrategy[dict[str, Any]]:
    """The arguments of a task/create. ``runnable``: one sure to be accepted and started, at
    once or on its schedule (the first tasks of a run, so that most runs have calls)."""
    return st.fixed_dictionaries({
        "pick": st.integers(0, 1),
        "route": st.just("priced") if runnable
        else st.sampled_from(["priced", "priced", "priced", "free", "unknown"]),
        "keep": st.integers(0, 1),
        "startup_type": st.sampled_from([3, 2, 3]) if runnable else st.integers(0, 3),
        "startup_in": st.integers(0, 1800) if runnable else st.integers(0, 7200),
        "shutdown_after": st.one_of(st.none(), st.integers(60, 7200)),
        "order_max_call": st.one_of(st.none(), st.integers(1, 3)),
        "replay": st.one_of(st.none(), st.integers(0, 600)),
        "max_call": st.integers(0, 3),
        "agent": st.booleans(),
        "n_contacts": st.integers(4, 8) if runnable else st.integers(0, 8),
        "taken": st.just("none") if runnable
        else st.sampled_from(["none", "none", "none", "mine", "other account"]),
        "user_task_id": st.just("") if runnable else st.sampled_from(["", "", "", "u1", "u2"]),
        "call_url": st.booleans(),
    })  # fmt: skip


def _reason_fits(status: int, reason: int | None) -> bool:
    """pauseReason is 1 (user) or 2 (schedule) for status 5, 3 (balance) for 6, else null."""
    if status == PAUSED:
        return reason in (1, 2)
    if status == PAUSED_BALANCE:
        return reason == 3
    return reason is None


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.folder = Path(tempfile.mkdtemp(prefix="nxlink-stateful-"))
        self.url = backend.create(self.folder, "life")
        try:
            self.store: Store = open_store(self.url)
        except BaseException:
            backend.drop(self.url)  # no teardown for a machine that never started
            raise
        self.db = Observer(self.url)
        self.now = START
        self.accounts: list[AccountModel] = []
        self.tasks: list[TaskModel] = []
        self.next_contact = 0
        self.last_event = 0
        self.last_op = "init"
        self.toggles = 0
        self.crashes = 0
        # Outcomes are drawn from (seed, taskId, contactId, attempt): fixed taskIds make a
        # run replayable, which hypothesis needs to shrink a failure.
        self.new_task_id = seeded_task_ids(SEED)
        self.sim = self._new_simulator()

    def teardown(self) -> None:
        self.db.close()
        self.store.close()
        self.backend.drop(self.url)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------
    def _new_simulator(self) -> Simulator:
        sim = Simulator(self.store, seed=SEED, dialer_id=f"sim-{self.crashes}",
                        lease_seconds=LEASE_SECONDS, clock_ms=lambda: self.now * 1000)  # fmt: skip
        sim.advance(self.now)  # anchor its clock at the present, not at its first target
        return sim

    def clock(self) -> Clock:
        return Clock(now=self.now, now_ms=self.now * 1000)

    def one(self, sql: str, *params: Any) -> Any:
        return self.db.one(sql, *params)

    def snapshot(self) -> dict[str, list[Any]]:
        """Every row of every table (a refused operation must change none)."""
        return {t: sorted(self.db.rows(f"SELECT * FROM {t}"), key=repr) for t in self.db.tables()}

    def refused(self, expected: str, call: Any) -> None:
        """``call`` must raise exactly ``expected`` and change nothing."""
        before = self.snapshot()
        with pytest.raises(ApiError) as caught:
            call()
        assert (caught.value.code, caught.value.message) == (20000, expected)
        assert self.snapshot() == before
        self.last_op = "refused"

    def task_row(self, task: TaskModel) -> tuple[Any, ...]:
        row: tuple[Any, ...] = self.one(
            "SELECT id, task_status, pause_reason, task_keep, account_id FROM tasks "
            "WHERE task_id = ?", task.task_id)  # fmt: skip
        return row

    def balance(self, account: AccountModel) -> int:
        return int(self.one("SELECT balance_cents FROM accounts WHERE id = ?",
                            account.tenant.account_id)[0])  # fmt: skip

    def route_enabled(self, route_id: str) -> bool:
        return bool(self.one("SELECT enabled FROM routes WHERE route_id = ?", route_id)[0])

    def done(self, row_id: int) -> bool:
        """No open contact left and at least one finished (a taskKeep 0 task completes)."""
        open_, finished = self.one(
            "SELECT coalesce(sum(CASE WHEN state IN ('pending', 'dialling') THEN 1 ELSE 0 END), "
            "0), coalesce(sum(CASE WHEN state = 'finished' THEN 1 ELSE 0 END), 0) "
            "FROM orders WHERE task_row_id = ?",
            row_id,
        )
        return bool(open_ == 0 and finished > 0)

    def entered(self, row_id: int, keep: int, balance: int) -> int:
        """Where a task that just became in progress ends the operation."""
        if keep == 0 and self.done(row_id):
            return COMPLETED  # nothing is left to pay for
        return PAUSED_BALANCE if balance <= 0 else IN_PROGRESS

    def new_contacts(self, n: int) -> list[str]:
        ids = [f"c{self.next_contact + i}" for i in range(n)]
        self.next_contact += n
        return ids

    def ref(self, task: TaskModel, by_user_id: bool) -> TaskRef:
        if by_user_id and task.user_task_id:
            return TaskRef(task_id="not-this-one", user_task_id=task.user_task_id)
        return TaskRef(task_id=task.task_id)

    # -- the world -------------------------------------------------------------------------
    @initialize(
        n_accounts=st.integers(1, 2),
        # Lists rather than ranges: hypothesis favours small numbers, and a run with no
        # balance, no price or no answers shows little.
        prices=st.tuples(st.sampled_from([10, 0, 40, 1]), st.sampled_from([10, 0, 40, 1])),
        answer=st.sampled_from([0.6, 0.3, 1.0, 0.0]),
        talk_mean=st.sampled_from([90, 20, 300]),
        balances=st.tuples(st.sampled_from([2000, 300, 30]), st.sampled_from([2000, 300, 0, 30])),
        first=st.lists(task_specs(runnable=True), min_size=1, max_size=3),
    )
    def world(self, n_accounts: int, prices: tuple[int, int], answer: float, talk_mean: int,
              balances: tuple[int, int], first: list[dict[str, Any]]) -> None:  # fmt: skip
        for i in range(n_accounts):
            tenant = make_tenant(self.store, f"acct{i}")
            priced = admin.create_route(self.store, tenant.name, name=f"priced {i}",
                                        price_per_minute_cents=prices[i],
                                        answer_probability=answer,
                                        talk_seconds_mean=talk_mean)  # fmt: skip
            account = AccountModel(tenant, tenant.route_id, priced.route_id, prices[i])
            self.accounts.append(account)
            if balances[i]:
                lifecycle.top_up(self.store, tenant.account_id, balances[i], clock=self.clock())
                account.topped_up += balances[i]
        for spec in first:
            self._create(**spec)
        self.last_op = "init"

    # -- the user's operations -------------------------------------------------------------
    @rule(spec=task_specs(runnable=False))
    def create(self, spec: dict[str, Any]) -> None:
        self._create(**spec)

    def _create(self, *, pick: int, route: str, keep: int, startup_type: int, startup_in: int,
                shutdown_after: int | None, order_max_call: int | None, replay: int | None,
                max_call: int, agent: bool, n_contacts: int, taken: str, user_task_id: str,
                call_url: bool) -> None:  # fmt: skip
        account = self.accounts[pick % len(self.accounts)]
        others = [a for a in self.accounts if a is not account]
        route_id = {"priced": account.priced_route, "free": account.free_route,
                    "unknown": "NoSuchRoute"}[route]  # fmt: skip
        ids = self.new_contacts(n_contacts)
        if taken == "mine" and ids and account.contacts:
            ids[-1] = account.contacts[len(ids) % len(account.contacts)]
        elif taken == "other account" and ids and others and others[0].contacts:
            ids[0] = others[0].contacts[0]
        startup_at = self.now + startup_in if startup_type == 2 else None
        shutdown_at = None
        if shutdown_after is not None:
            shutdown_at = (startup_at or self.now) + shutdown_after
        req = TaskCreate(
            task_name=f"task {len(self.tasks)}", auto_flow_id=account.tenant.flow_id,
            route_id=route_id, task_keep=keep, startup_type=startup_type,
            user_task_id=user_task_id, startup_at=startup_at, shutdown_at=shutdown_at,
            max_call=max_call, order_max_call=order_max_call, replay_interval=replay,
            task_callback_url=STATUS_URL, call_callback_url=CALL_URL if call_url else "",
            agent_group_id="agents" if agent else "", contacts=_contacts(ids),
        )  # fmt: skip
        problems = []
        if route == "unknown" or not self.route_enabled(route_id):
            problems.append(f"routeId: no route {route_id!r} in this account")
        used = [t for t in self.tasks if user_task_id and t.user_task_id == user_task_id
                and self.accounts[t.account] is account]  # fmt: skip
        if used:
            problems.append(f"userTaskId: {user_task_id!r} is already used by task "
                            f"{used[0].task_id}")  # fmt: skip
        dup = [cid for cid in ids if cid in account.contacts]
        if problems or dup:
            expected = "; ".join(problems) or f"Duplicate contactIds are not allowed: {dup[0]}"
            self.refused(expected, lambda: lifecycle.create_task(
                self.store, account.tenant.account_id, req, clock=self.clock(),
                new_id=self.new_task_id))  # fmt: skip
            return
        task_id = lifecycle.create_task(self.store, account.tenant.account_id, req,
                                        clock=self.clock(), new_id=self.new_task_id)  # fmt: skip
        inserted = READY  # startupType 3 then moves it on, announced (USER_CHAINS)
        task = TaskModel(self.accounts.index(account), task_id, user_task_id, route_id,
                         inserted, list(ids))  # fmt: skip
        self.tasks.append(task)
        account.contacts.extend(ids)
        row_id, status, _reason, _keep, _acct = self.task_row(task)
        want = READY
        if startup_type == 3:
            want = PAUSED_BALANCE if self.balance(account) <= 0 else IN_PROGRESS
        assert status == want
        assert self.one("SELECT total_order_count FROM task_stats WHERE task_row_id = ?",
                        row_id)[0] == len(ids)  # fmt: skip
        self.last_op = "create"

    @precondition(lambda self: self.tasks)
    @rule(pick=st.integers(0, 10**6), n=st.integers(1, 5),
          taken=st.sampled_from(["none", "none", "none", "mine", "other account"]),
          by_user_id=st.booleans())  # fmt: skip
    def append(self, pick: int, n: int, taken: str, by_user_id: bool) -> None:
        task = self.tasks[pick % len(self.tasks)]
        account = self.accounts[task.account]
        others = [a for a in self.accounts if a is not account]
        ids = self.new_contacts(n)
        if taken == "mine" and account.contacts:
            ids[0] = account.contacts[pick % len(account.contacts)]
        elif taken == "other account" and others and others[0].contacts:
            ids[-1] = others[0].contacts[-1]
        req = CallAppend(ref=self.ref(task, by_user_id), contacts=_contacts(ids))
        row_id, status, _reason, keep, account_id = self.task_row(task)

        def call() -> tuple[str, int]:
            return lifecycle.append_contacts(self.store, account_id, req, clock=self.clock())

        dup = [cid for cid in ids if cid in account.contacts]
        if status == FAILED:
            self.refused(f"taskId: task {task.task_id} has failed and takes no more contacts",
                         call)  # fmt: skip
        elif status == COMPLETED and keep == 0:
            self.refused(f"taskId: task {task.task_id} is completed (taskKeep 0) and takes no "
                         "more contacts", call)  # fmt: skip
        elif dup:
            self.refused(f"Duplicate contactIds are not allowed: {dup[0]}", call)
        else:
            before = self.one("SELECT total_order_count FROM task_stats WHERE task_row_id = ?",
                              row_id)[0]  # fmt: skip
            assert call() == (task.task_id, n)
            task.contacts.extend(ids)
            account.contacts.extend(ids)
            assert self.task_row(task)[1] == status  # a completed task here has taskKeep 0
            assert self.one("SELECT total_order_count FROM task_stats WHERE task_row_id = ?",
                            row_id)[0] == before + n  # fmt: skip
            self.last_op = "append"

    @precondition(lambda self: self.tasks)
    @rule(pick=st.integers(0, 10**6), which=st.integers(0, 10**6), elsewhere=st.booleans(),
          by_user_id=st.booleans())  # fmt: skip
    def delete(self, pick: int, which: int, elsewhere: bool, by_user_id: bool) -> None:
        task = self.tasks[pick % len(self.tasks)]
        account = self.accounts[task.account]
        pool = account.contacts if elsewhere or not task.contacts else task.contacts
        contact = pool[which % len(pool)] if pool else "nobody"
        row_id, status, _reason, keep, account_id = self.task_row(task)
        order = self.one("SELECT state, attempts FROM orders WHERE task_row_id = ? "
                         "AND contact_id = ?", row_id, contact)  # fmt: skip
        req = OrderDelete(ref=self.ref(task, by_user_id), contact_id=contact)

        def call() -> str:
            return lifecycle.delete_contact(self.store, account_id, req, clock=self.clock())

        if order is None or order[0] == "deleted":
            self.refused(f"contactId: no contact {contact!r} in task {task.task_id}", call)
        elif order != ("pending", 0):
            self.refused(f"contactId: {contact!r} has been dialled and cannot be deleted", call)
        else:
            assert call() == task.task_id
            assert self.one("SELECT state FROM orders WHERE task_row_id = ? AND contact_id = ?",
                            row_id, contact) == ("deleted",)  # fmt: skip
            want = status
            if status in (IN_PROGRESS, PAUSED_BALANCE) and keep == 0 and self.done(row_id):
                want = COMPLETED
            assert self.task_row(task)[1] == want
            self.last_op = "delete"

    @precondition(lambda self: self.tasks)
    @rule(pick=st.integers(0, 10**6), by_user_id=st.booleans())
    def start(self, pick: int, by_user_id: bool) -> None:
        task = self.tasks[pick % len(self.tasks)]
        account = self.accounts[task.account]
        row_id, status, _reason, keep, account_id = self.task_row(task)
        req = TaskAction(ref=self.ref(task, by_user_id), startup_by="tester")

        def call() -> Any:
            return lifecycle.start_task(self.store, account_id, req, clock=self.clock())

        if status == PAUSED_BALANCE:
            self.refused(f"taskStatus: task {task.task_id} is paused for insufficient balance; "
                         "top up the account", call)  # fmt: skip
        elif status in (COMPLETED, FAILED):
            state = "is completed" if status == COMPLETED else "has failed"
            self.refused(f"taskStatus: task {task.task_id} {state}", call)
        elif status != IN_PROGRESS and not self.route_enabled(task.route_id):
            self.refused(f"routeId: route {task.route_id!r} of task {task.task_id} is disabled",
                         call)  # fmt: skip
        else:
            want = status
            if status in (READY, PAUSED):
                want = self.entered(row_id, keep, self.balance(account))
            answer = call()
            assert (answer.task_id, answer.task_status) == (task.task_id, want)
            assert self.task_row(task)[1] == want
            if status != IN_PROGRESS:
                assert self.one("SELECT startup_by FROM tasks WHERE id = ?", row_id) == ("tester",)
            self.last_op = "start"

    @precondition(lambda self: self.tasks)
    @rule(pick=st.integers(0, 10**6), by_user_id=st.booleans())
    def pause(self, pick: int, by_user_id: bool) -> None:
        task = self.tasks[pick % len(self.tasks)]
        _row_id, status, reason, _keep, account_id = self.task_row(task)
        req = TaskAction(ref=self.ref(task, by_user_id))

        def call() -> Any:
            return lifecycle.pause_task(self.store, account_id, req, clock=self.clock())

        if status not in (IN_PROGRESS, PAUSED):
            self.refused("taskStatus: only an in-progress task can be paused "
                         f"(task {task.task_id} is {STATUS_WORDS[status]})", call)  # fmt: skip
            return
        answer = call()
        want = (PAUSED, 1) if status == IN_PROGRESS else (PAUSED, reason)
        assert (answer.task_status, answer.pause_reason) == want
        assert self.task_row(task)[1:3] == want
        self.last_op = "pause"

    @rule(pick=st.integers(0, 1), cents=st.integers(1, 400))
    def top_up(self, pick: int, cents: int) -> None:
        account = self.accounts[pick % len(self.accounts)]
        before = self.balance(account)
        waiting = [t for t in self.tasks if self.accounts[t.account] is account
                   and self.task_row(t)[1] == PAUSED_BALANCE]  # fmt: skip
        wants = {}
        for t in waiting:
            row_id, _status, _reason, keep, _account = self.task_row(t)
            if before + cents <= 0:
                wants[t.task_id] = PAUSED_BALANCE
            elif not self.route_enabled(t.route_id):
                wants[t.task_id] = FAILED  # it may not be in progress on a disabled route
            else:
                wants[t.task_id] = self.entered(row_id, keep, before + cents)
        answer = lifecycle.top_up(self.store, account.tenant.account_id, cents,
                                  clock=self.clock())  # fmt: skip
        account.topped_up += cents
        assert answer == (before + cents, len(waiting) if before + cents > 0 else 0)
        assert {t.task_id: self.task_row(t)[1] for t in waiting} == wants
        self.last_op = "top_up"

    @precondition(lambda self: self.toggles < 3)
    @rule(pick=st.integers(0, 1))
    def toggle_route(self, pick: int) -> None:
        """Disable the priced route (its tasks in progress fail), or enable it again."""
        account = self.accounts[pick % len(self.accounts)]
        enabled = not self.route_enabled(account.priced_route)
        running = [t.task_id for t in self.tasks
                   if t.route_id == account.priced_route
                   and self.task_row(t)[1] == IN_PROGRESS]  # fmt: skip
        failed = lifecycle.set_enabled(self.store, route_id=account.priced_route,
                                       enabled=enabled, clock=self.clock())  # fmt: skip
        assert failed == ([] if enabled else running)
        self.toggles += 1
        self.last_op = "toggle"

    # -- time and failure ------------------------------------------------------------------
    @rule(seconds=st.integers(60, 900))
    def advance(self, seconds: int) -> None:
        self.now += seconds
        self.sim.advance(self.now)
        self.last_op = "advance"

    @rule(seconds=st.integers(0, 120))
    def advance_a_little(self, seconds: int) -> None:
        """Short steps too, so that user operations meet calls in flight."""
        self.advance(seconds)

    @precondition(lambda self: self.crashes < 3)
    @rule()
    def crash_and_reopen(self) -> None:
        """The process dies between steps: a new store on the file, a new dialer, which takes
        the dead one's claims over once their lease passes."""
        self.store.close()
        self.store = open_store(self.url)
        self.crashes += 1
        self.sim = self._new_simulator()
        self.last_op = "advance"  # the new dialer's first step may report adopted calls

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def counters_equal_their_recomputation(self) -> None:
        check = self.store.recompute_counters()
        assert check.differences == []
        assert (check.checked, check.synthetic) == (len(self.tasks), 0)

    @invariant()
    def every_move_is_in_the_table_and_announced(self) -> None:
        moves: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
        for event_id, body in self.db.rows(
            "SELECT id, body FROM outbox WHERE kind = 'task' AND id > ? ORDER BY id",
            self.last_event,
        ):
            event = orjson.loads(body)
            moves[event["taskId"]].append((event["taskStatus"], event["pauseReason"]))
            self.last_event = event_id
        assert set(moves) <= {t.task_id for t in self.tasks}
        for task in self.tasks:
            path = (task.status, *(status for status, _ in moves[task.task_id]))
            for status, reason in moves[task.task_id]:
                assert _reason_fits(status, reason), (task.task_id, status, reason)
            for move in itertools.pairwise(path):
                assert move in TRANSITIONS, (task.task_id, path)
            if self.last_op == "refused":
                assert len(path) == 1, path
            elif self.last_op != "advance":
                assert len(path) <= 2 or path in USER_CHAINS.get(self.last_op, ()), path
            current = self.task_row(task)[1]
            assert path[-1] == current, (task.task_id, path, current)
            task.status = current

    @invariant()
    def pause_reason_only_when_paused(self) -> None:
        for row in self.db.rows("SELECT task_id, task_status, pause_reason, task_keep FROM tasks"):
            assert _reason_fits(row[1], row[2]), row
            assert row[1] != COMPLETED or row[3] == 0, row  # taskKeep 1 keeps a task open

    @invariant()
    def contacts_and_calls_agree(self) -> None:
        calls: dict[int, list[tuple[int, int, int, int, int]]] = defaultdict(list)
        for row in self.db.rows("SELECT order_id, attempt, result, answered, order_head, "
                                "order_tail FROM calls ORDER BY order_id, attempt"):  # fmt: skip
            calls[row[0]].append(row[1:])
        for order_id, state, attempts, answered, limit in self.db.rows(
            "SELECT o.id, o.state, o.attempts, o.answered, t.order_max_call "
            "FROM orders AS o JOIN tasks AS t ON t.id = o.task_row_id"
        ):
            allowed = limit or 1  # orderMaxCall not set: one attempt
            made = calls[order_id]
            assert [c[0] for c in made] == list(range(1, attempts + 1))
            assert attempts <= allowed
            assert answered == any(c[2] for c in made)
            assert [c[3] for c in made] == [int(c[0] == 1) for c in made]
            last_final = bool(made) and made[-1][1] in counters.FINAL_RESULTS
            finished = state == "finished"
            assert finished == (bool(made) and (last_final or attempts == allowed)), order_id
            assert [c[4] for c in made] == [int(finished and c[0] == attempts) for c in made]
            if state == "deleted":
                assert attempts == 0

    @invariant()
    def never_more_calls_at_once_than_max_call(self) -> None:
        limits = dict(self.db.rows(
            "SELECT t.id, CASE WHEN t.max_call > 0 THEN t.max_call ELSE a.default_max_call END "
            "FROM tasks AS t JOIN accounts AS a ON a.id = t.account_id"))  # fmt: skip
        for row_id, dialling in self.db.rows(
            "SELECT task_row_id, count(*) FROM orders WHERE state = 'dialling' GROUP BY task_row_id"
        ):
            assert dialling <= limits[row_id]
        # Over the whole history: the calls of a task that overlapped in time.
        edges: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for row_id, start, end in self.db.rows(
            "SELECT task_row_id, call_start, call_end FROM calls"
        ):
            edges[row_id] += [(start, 1), (end, -1)]
        for row_id, points in edges.items():
            running = peak = 0
            for _, step in sorted(points):  # an end sorts before a start at the same second
                running += step
                peak = max(peak, running)
            assert peak <= limits[row_id], row_id

    @invariant()
    def balance_moves_only_by_top_ups_and_call_costs(self) -> None:
        prices = {a.priced_route: a.price for a in self.accounts}
        for row in self.db.rows(
            "SELECT c.cost_cents, c.answered, c.call_answer, c.call_end, t.route_id "
            "FROM calls AS c JOIN tasks AS t ON t.id = c.task_row_id"
        ):
            cost, answered, answer, end, route_id = row
            price = prices.get(route_id, 0)
            assert cost == (math.ceil((end - answer) / 60) * price if answered else 0)
        for account in self.accounts:
            spent = self.one("SELECT coalesce(sum(cost_cents), 0) FROM calls WHERE account_id = ?",
                             account.tenant.account_id)[0]  # fmt: skip
            balance = self.balance(account)
            assert balance == account.topped_up - spent
            statuses = {row[0] for row in self.db.rows(
                "SELECT task_status FROM tasks WHERE account_id = ?", account.tenant.account_id
            )}  # fmt: skip
            if balance <= 0:
                assert IN_PROGRESS not in statuses
            else:
                assert PAUSED_BALANCE not in statuses

    @invariant()
    def no_task_in_progress_on_a_disabled_route(self) -> None:
        rows = self.db.rows(
            "SELECT t.task_id FROM tasks AS t JOIN routes AS r ON r.account_id = t.account_id "
            "AND r.route_id = t.route_id WHERE t.task_status = 2 AND r.enabled = 0"
        )
        assert rows == []

    @invariant()
    def claims_are_held_by_a_live_dialer_or_within_their_lease(self) -> None:
        mine = self.one("SELECT count(*) FROM orders WHERE state = 'dialling' AND claimed_by = ?",
                        self.sim.port.dialer_id)[0]  # fmt: skip
        assert mine == self.sim.in_flight
        orphans = self.one("SELECT count(*) FROM orders WHERE state = 'dialling' "
                           "AND claimed_by <> ? AND lease_until <= ?",
                           self.sim.port.dialer_id, self.now)[0]  # fmt: skip
        assert orphans == 0

    @invariant()
    def task_pages_are_current(self) -> None:
        # Each stored task object is what its rows render to now: the unit of work re-rendered
        # every task whose columns or counters moved, in the same transaction.
        rows = self.db.rows(
            f"SELECT p.doc, {DOC_INPUT_COLUMNS} FROM task_pages AS p "
            "JOIN tasks AS t ON t.account_id = p.account_id AND t.id = p.task_row_id "
            "JOIN task_stats AS s ON s.account_id = t.account_id AND s.task_row_id = t.id "
            "LEFT JOIN flows AS f ON f.account_id = t.account_id AND f.id = t.auto_flow_id"
        )
        for doc, *inputs in rows:
            assert bytes(doc) == render(TaskDocInputs(*inputs))
        calls_announced = self.one("SELECT count(*) FROM outbox WHERE kind = 'call'")[0]
        calls_to_announce = self.one("SELECT count(*) FROM calls AS c JOIN tasks AS t "
                                     "ON t.id = c.task_row_id "
                                     "WHERE t.call_callback_url <> ''")[0]  # fmt: skip
        assert calls_announced == calls_to_announce


#: The columns a task object is rendered from, in ``TaskDocInputs`` order.
DOC_INPUT_COLUMNS = (
    "t.id, s.id, t.account_id, t.task_id, t.user_task_id, t.other, t.auto_flow_id, "
    "coalesce(f.name, ''), t.task_status, t.pause_reason, t.task_name, t.task_desc, "
    "t.task_keep, t.startup_type, t.startup_at, t.shutdown_at, t.startup_by, t.route_id, "
    "t.max_call, t.import_type, t.func_flag, t.max_ring_time, t.strategy_id, "
    "t.agent_group_id, t.task_callback_url, t.create_ts, t.order_max_call, t.replay_interval, "
    + ", ".join(f"s.{name}" for name in STAT_COUNTERS)
)

MACHINE_SETTINGS = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # No "explain" phase: it replays a failing run many times over and adds minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)


def test_lifecycle_machine(backend: Backend) -> None:
    """Every run of the machine on a fresh database of the backend, dropped after the run."""
    run_state_machine_as_test(lambda: LifecycleMachine(backend), settings=MACHINE_SETTINGS)


# -- what the machine found, as a plain test ------------------------------------------------


@pytest.mark.parametrize("disable", ["route", "flow"])
def test_top_up_fails_a_task_whose_route_or_flow_was_disabled(store: Store, disable: str) -> None:
    """A top-up resumes the tasks paused for balance (6 -> 2). One whose route (or flow) was
    disabled while it waited cannot be in progress, and is never dialled: the state table
    fails it (2 -> 4, pauseReason null), as disabling does to a task in progress."""
    tenant = make_tenant(store, "waiting")
    clock = Clock(now=START, now_ms=NOW_MS)
    req = TaskCreate(task_name="t", auto_flow_id=tenant.flow_id, route_id=tenant.route_id,
                     task_keep=0, startup_type=3, task_callback_url=STATUS_URL,
                     contacts=_contacts(["w1", "w2"]))  # fmt: skip
    task_id = lifecycle.create_task(store, tenant.account_id, req, clock=clock)
    if disable == "route":
        failed = lifecycle.set_enabled(store, route_id=tenant.route_id, enabled=False, clock=clock)
    else:
        failed = lifecycle.set_enabled(store, flow_id=tenant.flow_id, enabled=False, clock=clock)
    assert failed == []  # it was not in progress

    def state() -> tuple[int, int | None]:
        with store.lifecycle() as tx:
            task = tx.task(tenant.account_id, task_id=task_id)
        assert task is not None
        return task.task_status, task.pause_reason

    assert state() == (PAUSED_BALANCE, 3)  # no balance at creation
    assert lifecycle.top_up(store, tenant.account_id, 100, clock=clock) == (100, 1)
    assert state() == (FAILED, None)
