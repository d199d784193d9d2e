"""``client.sandbox`` and :class:`nxlink.Sandbox`: the admin API from Python, through both
clients against the real app."""

from __future__ import annotations

import datetime
import functools
from typing import Any

import httpx
import pytest

from client.harness import Kind, MakeShell, Shell, SyncASGITransport
from conftest import Tenant, make_task, make_tenant
from nxlink import ApiError, Client, NxError, Sandbox
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.store import Store

TOKEN = "client-sandbox-token"


def _sandbox(shell: Shell, method: str, **kwargs: Any) -> Any:
    bound = getattr(shell.client.sandbox, method)
    if isinstance(shell.client, Client):
        return bound(**kwargs)
    return shell.portal.call(functools.partial(bound, **kwargs))


def _shell(make_shell: MakeShell, kind: Kind, store: Store, **kwargs: Any) -> Shell:
    tenant = make_tenant(store)
    app = create_app(Settings(log_requests=False, admin_token=TOKEN), store=store)
    return make_shell(kind, app=app, access_key=tenant.access_key,
                      access_secret=tenant.secret, **kwargs)  # fmt: skip


def test_the_journal_through_the_client(make_shell: MakeShell, kind: Kind, store: Store) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    shell.list(page_size=5)
    shell.list(page_size=7)
    assert _sandbox(shell, "count_requests", path="task/list", code=0) == 2
    assert _sandbox(shell, "count_requests", contains='"pageSize":7') == 1
    page = _sandbox(shell, "requests", limit=1)
    assert page["total"] == 2 and page["list"][0]["body"] == {"pageNumber": 1, "pageSize": 7}
    assert _sandbox(shell, "clear_requests") == 2
    assert _sandbox(shell, "count_requests") == 0


def test_a_wrong_token_raises_the_servers_refusal(
    make_shell: MakeShell, kind: Kind, store: Store
) -> None:
    shell = _shell(make_shell, kind, store, admin_token="wrong-token-123")
    with pytest.raises(ApiError) as caught:
        _sandbox(shell, "count_requests")
    assert (caught.value.status_code, caught.value.code) == (401, 20000)
    assert caught.value.message == "Authorization: wrong admin token"


def test_a_bad_argument_raises_400(make_shell: MakeShell, kind: Kind, store: Store) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    with pytest.raises(ApiError, match="path: no such endpoint 'nope'") as caught:
        _sandbox(shell, "requests", path="nope")
    assert caught.value.status_code == 400


def test_no_token_is_an_error_before_sending(
    make_shell: MakeShell, kind: Kind, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NXLINK_ADMIN_TOKEN", raising=False)
    shell = _shell(make_shell, kind, store)
    with pytest.raises(
        NxError, match="no admin token: pass admin_token= or set NXLINK_ADMIN_TOKEN"
    ):
        _sandbox(shell, "count_requests")
    assert shell.requests == []


def test_a_sandbox_of_its_own_needs_no_access_key(store: Store, portal: Any) -> None:
    app = create_app(Settings(log_requests=False, admin_token=TOKEN), store=store)
    http = httpx.Client(transport=SyncASGITransport(app, portal))
    with Sandbox(base_url="http://testserver", admin_token=TOKEN, http_client=http) as sandbox:
        assert sandbox.requests() == {"total": 0, "list": []}
    http.close()


def test_the_clock_through_the_client(make_shell: MakeShell, kind: Kind, store: Store) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert _sandbox(shell, "set_clock", now=start, frozen=True) == {
        "now": 1767225600000, "speed": 1.0, "frozen": True}  # fmt: skip
    moved = _sandbox(shell, "advance", by="1h30m")
    assert (moved["from"], moved["to"]) == (1767225600000, 1767231000000)
    moved = _sandbox(shell, "advance", by=datetime.timedelta(minutes=1))
    assert moved["to"] == 1767231060000
    assert _sandbox(shell, "clock") == {"now": 1767231060000, "speed": 1.0, "frozen": True}
    with pytest.raises(ApiError, match="seconds: must be from 1 to 31622400, got -5"):
        _sandbox(shell, "advance", by=-5)
    with pytest.raises(ValueError, match=r"duration: expected e\.g\. 90s"):
        _sandbox(shell, "advance", by="later")
    with pytest.raises(ValueError, match="now: give an aware datetime"):
        _sandbox(shell, "set_clock", now=datetime.datetime(2026, 1, 1))


def test_reset_snapshot_and_restore_through_the_client(
    make_shell: MakeShell, kind: Kind, store: Store
) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    account = store.list_accounts()[0]
    flow, route = store.list_flows(account.id)[0], store.list_routes(account.id)[0]
    task = make_task(Tenant(account.id, account.name, "", "", flow.id, flow.name, route.route_id))
    store.insert_tasks(account.id, [task])
    taken = _sandbox(shell, "snapshot", name="one")
    assert (taken["name"], taken["tasks"]) == ("one", 1)
    assert [s["name"] for s in _sandbox(shell, "snapshots")] == ["one"]
    done = _sandbox(shell, "reset", account=account.name)
    assert done["accounts"] == [account.name] and done["deleted"]["tasks"] == 1
    assert shell.list(page_size=5).total == 0
    restored = _sandbox(shell, "restore", name="one")
    assert restored == taken
    assert [each.task_id for each in shell.list(page_size=5).tasks] == [task.task_id]
    assert _sandbox(shell, "reset", all_accounts=True, catalog=True)["deleted"]["keys"] == 1
    _sandbox(shell, "delete_snapshot", name="one")
    assert _sandbox(shell, "snapshots") == []


def test_an_unknown_snapshot_raises_404(make_shell: MakeShell, kind: Kind, store: Store) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    for method in ("restore", "delete_snapshot"):
        with pytest.raises(ApiError) as caught:
            _sandbox(shell, method, name="nope")
        assert (caught.value.status_code, caught.value.code) == (404, 20000)
        assert caught.value.message == "snapshot 'nope': no such snapshot"
    with pytest.raises(ApiError, match="snapshot name 'a b': expected 1 to 64") as bad:
        _sandbox(shell, "snapshot", name="a b")
    assert bad.value.status_code == 400
    with pytest.raises(ApiError, match="account: missing") as neither:
        _sandbox(shell, "reset")
    assert neither.value.status_code == 400


def test_the_sink_faults_and_deliveries_through_the_client(
    make_shell: MakeShell, kind: Kind, store: Store
) -> None:
    from nxlink import signing

    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    tenant = make_tenant(store)
    body = b'{"eventType":"task.status"}'
    headers = signing.headers(access_key=tenant.access_key, access_secret=tenant.secret,
                              ts="1", body=body)  # fmt: skip
    # Posting to a sink needs no token: the signature is checked instead.
    post = functools.partial(shell.http.post, "http://testserver/_nxlink/sink/hooks",
                             content=body, headers=headers)  # fmt: skip
    posted = post() if isinstance(shell.http, httpx.Client) else shell.portal.call(post)
    assert posted.json()["data"]["signatureValid"] is True
    page = _sandbox(shell, "sink", name="hooks")
    assert page["total"] == 1
    assert (page["list"][0]["accountId"], page["list"][0]["body"]) == (
        tenant.account_id, {"eventType": "task.status"}
    )  # fmt: skip
    assert _sandbox(shell, "clear_sink", name="hooks") == 1
    with pytest.raises(NxError, match="sink name: must be 1 to 64"):
        _sandbox(shell, "sink", name="a/b")

    fault = _sandbox(shell, "add_callback_fault", url="/sink/", fail_first=1)
    assert (fault["url"], fault["failFirst"], fault["failStatus"], fault["delayMs"]) == (
        "/sink/", 1, 500, 0
    )  # fmt: skip
    assert _sandbox(shell, "callback_faults") == [fault]
    assert _sandbox(shell, "remove_callback_fault", fault_id=fault["id"]) is None
    with pytest.raises(ApiError) as caught:
        _sandbox(shell, "remove_callback_fault", fault_id=fault["id"])
    assert (caught.value.status_code, caught.value.message) == (
        404, f"id: no callback fault {fault['id']}"
    )  # fmt: skip
    _sandbox(shell, "add_callback_fault", delay_ms=5)
    assert _sandbox(shell, "clear_callback_faults") == 1
    assert _sandbox(shell, "deliveries", delivered=False, url="/x", limit=5) == {
        "total": 0, "list": []
    }  # fmt: skip


def test_faults_through_the_client(make_shell: MakeShell, kind: Kind, store: Store) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN, max_retries=0)
    rule = _sandbox(shell, "add_fault", endpoint="task/list", code=1005, times=1)
    assert (rule["id"], rule["kind"], rule["code"], rule["times"]) == ("f1", "code", 1005, 1)
    latency = _sandbox(shell, "add_fault", endpoint="flow/list", latency_ms=(5, 9),
                       probability=0.5, access_key="AK-x")  # fmt: skip
    assert (latency["ms"], latency["maxMs"], latency["probability"], latency["accessKey"]) == (
        5, 9, 0.5, "AK-x"
    )  # fmt: skip
    status = _sandbox(shell, "add_fault", endpoint="all", status=503, retry_after=1,
                      message="down for a bit", times=3)  # fmt: skip
    assert (status["status"], status["retryAfter"], status["message"]) == (503, 1, "down for a bit")
    assert [r["id"] for r in _sandbox(shell, "faults")] == ["f1", "f2", "f3"]
    with pytest.raises(ApiError) as caught:
        shell.list()
    assert (caught.value.code, caught.value.message) == (
        1005, "Authentication failed (insufficient authority)"
    )  # fmt: skip
    assert [r["id"] for r in _sandbox(shell, "faults")] == ["f2", "f3"]  # f1's one time is used
    assert _sandbox(shell, "remove_fault", fault_id="f3") == status
    assert _sandbox(shell, "clear_faults") == 1
    assert _sandbox(shell, "faults") == []
    assert shell.list().total == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give one of latency_ms=, code=, status=, drop=True, hang=True"),
        ({"drop": True, "status": 500}, "give one of latency_ms=, code=, status=, drop=True, "
                                        "hang=True; got status, drop"),
    ],
)  # fmt: skip
def test_add_fault_needs_one_kind(
    make_shell: MakeShell, kind: Kind, store: Store, kwargs: dict[str, Any], message: str
) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    with pytest.raises(ValueError) as caught:
        _sandbox(shell, "add_fault", endpoint="all", **kwargs)
    assert str(caught.value) == message
    assert shell.requests == []


def test_fault_refusals_raise_the_servers_message(
    make_shell: MakeShell, kind: Kind, store: Store
) -> None:
    shell = _shell(make_shell, kind, store, admin_token=TOKEN)
    with pytest.raises(ApiError) as caught:
        _sandbox(shell, "add_fault", endpoint="all", drop=True, times=0)
    assert (caught.value.status_code, caught.value.message) == (
        400, "times: must be from 1 to 1000000000, got 0"
    )  # fmt: skip
    with pytest.raises(ApiError) as missing:
        _sandbox(shell, "remove_fault", fault_id="f1")
    assert (missing.value.status_code, missing.value.message) == (404, "id: no such fault 'f1'")
    assert _sandbox(shell, "faults") == []
