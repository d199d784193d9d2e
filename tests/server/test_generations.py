"""Both header generations on every endpoint (``decisions.md`` #11): ``bizType`` 100 with
``nxai``, and ``bizType`` 8 with the operation's own action; an action naming another operation
is 1002 naming it; ``NXLINK_STRICT_HEADERS`` accepts only 100/``nxai``; ``call/delete`` is
``order/delete``; and a client written as the third-party TypeScript client is works with the
default settings."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from nxlink.service import lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

P = "/openapi/aiagent/"
#: Every path and the action the older generation (bizType 8) sends for it.
OWN_ACTIONS = {
    P + "task/list": "pageCallTaskInfo",
    P + "call/list": "pageCallRecords",
    P + "call/append": "callAppend",
    P + "order/delete": "operateCallRecords",
    P + "call/delete": "operateCallRecords",
    P + "task/create": "nxai",
    P + "task/start": "nxai",
    P + "task/pause": "nxai",
    P + "flow/list": "nxai",
    P + "route/list": "nxai",
}
PARAMETER = "Authentication failed (parameter error): "


def signed(tenant: Tenant, body: bytes, *, biz_type: str, action: str) -> dict[str, str]:
    """The five headers with the signature over the values sent (built from the recipe)."""
    ts = str(NOW_MS)
    pre = f"accessKey={tenant.access_key}&action={action}&bizType={biz_type}&ts={ts}".encode()
    if body:
        pre += b"&body=" + body
    pre += f"&accessSecret={tenant.secret}".encode()
    return {
        "Content-Type": "application/json",
        "accessKey": tenant.access_key,
        "ts": ts,
        "bizType": biz_type,
        "action": action,
        "sign": hashlib.md5(pre).hexdigest(),
    }


def call(
    api: Api, tenant: Tenant, path: str, body: Any, *, biz_type: str, action: str
) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    response = api.client.post(
        path, content=raw, headers=signed(tenant, raw, biz_type=biz_type, action=action)
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    payload.pop("traceId")
    return payload


@pytest.fixture
def tenant(store: Store) -> Tenant:
    made = make_tenant(store, "gen")
    lifecycle.top_up(store, made.account_id, 1_000_000, clock=Clock(NOW_MS // 1000, NOW_MS))
    return made


@pytest.mark.parametrize("path", list(OWN_ACTIONS))
def test_both_generations_answer_alike_on_every_endpoint(
    api: Api, tenant: Tenant, path: str
) -> None:
    """An empty object is answered by the endpoint itself (a page, or its refusal of the body)
    under either generation, the same way."""
    current = call(api, tenant, path, {}, biz_type="100", action="nxai")
    older = call(api, tenant, path, {}, biz_type="8", action=OWN_ACTIONS[path])
    assert older == current
    assert current["code"] in (0, 20000), current


@pytest.mark.parametrize("path", list(OWN_ACTIONS))
def test_an_action_of_another_operation_is_1002_naming_it(
    api: Api, tenant: Tenant, path: str
) -> None:
    name = path.removeprefix(P)
    other, other_name = (
        ("pageCallRecords", "call/list") if name != "call/list" else ("callAppend", "call/append")
    )
    for biz_type in ("8", "100"):
        assert call(api, tenant, path, {}, biz_type=biz_type, action=other) == {
            "code": 1002,
            "message": f"{PARAMETER}action '{other}' is the action of {other_name}, not of {name}",
        }


def test_the_pairs_do_not_mix(api: Api, tenant: Tenant) -> None:
    """100 goes with nxai only, 8 with the operation's own action only."""
    path = P + "task/list"
    assert call(api, tenant, path, {}, biz_type="100", action="pageCallTaskInfo") == {
        "code": 1002,
        "message": f"{PARAMETER}action must be nxai with bizType 100, got 'pageCallTaskInfo' "
        "(which goes with bizType 8)",
    }
    assert call(api, tenant, path, {}, biz_type="8", action="nxai") == {
        "code": 1002,
        "message": f"{PARAMETER}action must be pageCallTaskInfo with bizType 8 (task/list), "
        "got 'nxai'",
    }
    assert call(api, tenant, P + "task/create", {}, biz_type="8", action="send") == {
        "code": 1002,
        "message": f"{PARAMETER}action must be nxai with bizType 8 (task/create), got 'send'",
    }


def test_an_unknown_biz_type_names_both_generations(api: Api, tenant: Tenant) -> None:
    assert call(api, tenant, P + "task/list", {}, biz_type="7", action="nxai") == {
        "code": 1002,
        "message": f"{PARAMETER}bizType must be 100 or 8, got '7'",
    }


@pytest.mark.parametrize("path", list(OWN_ACTIONS))
def test_strict_headers_refuse_generation_8(store: Store, tenant: Tenant, path: str) -> None:
    api = make_api(store, strict_headers=True)
    assert call(api, tenant, path, {}, biz_type="8", action=OWN_ACTIONS[path]) == {
        "code": 1002,
        "message": f"{PARAMETER}bizType must be 100, got '8'",
    }
    assert call(api, tenant, path, {}, biz_type="100", action="nxai")["code"] in (0, 20000)


def test_extra_values_are_accepted_besides_both_generations(store: Store, tenant: Tenant) -> None:
    api = make_api(store, extra_biz_types=["1"], extra_actions=["send"])
    path = P + "flow/list"
    for biz_type, action in (("1", "nxai"), ("100", "send"), ("8", "send"), ("8", "nxai")):
        answer = call(api, tenant, path, {}, biz_type=biz_type, action=action)
        assert answer["code"] == 0, (biz_type, action, answer)


def test_call_delete_is_order_delete(api: Api, tenant: Tenant, store: Store) -> None:
    created = call(api, tenant, P + "task/create", {
        "taskName": "gen", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
        "taskKeep": 1, "startupType": 1,
        "list": [{"contactId": "c1", "phoneNumber": "85291234567"},
                 {"contactId": "c2", "phoneNumber": "85291234568"}],
    }, biz_type="100", action="nxai")  # fmt: skip
    task_id = created["data"]["taskId"]
    for path, contact in ((P + "order/delete", "c1"), (P + "call/delete", "c2")):
        assert call(api, tenant, path, {"taskId": task_id, "contactId": contact},
                    biz_type="100", action="nxai") == {
            "code": 0, "message": "success", "data": {"taskId": task_id, "contactId": contact},
        }  # fmt: skip
    assert call(api, tenant, P + "call/delete", {"taskId": task_id}, biz_type="100",
                action="nxai") == {"code": 20000, "message": "contactId: required"}  # fmt: skip


def test_a_client_of_the_older_generation_works_with_the_default_settings(
    api: Api, tenant: Tenant
) -> None:
    """As the third-party TypeScript client does it: bizType 8 and each operation's own action;
    it lists tasks, appends contacts, deletes one through call/delete and lists calls."""

    def send(name: str, body: dict[str, Any]) -> dict[str, Any]:
        path = P + name
        answer = call(api, tenant, path, body, biz_type="8", action=OWN_ACTIONS[path])
        assert answer["code"] == 0, (name, answer)
        return answer

    task_id = send("task/create", {
        "taskName": "ts client", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
        "taskKeep": 1, "startupType": 1,
    })["data"]["taskId"]  # fmt: skip
    listed = send("task/list", {"pageNumber": 1, "pageSize": 20})
    assert [(t["taskId"], t["statInfo"]["totalOrderCount"]) for t in listed["list"]] == [
        (task_id, 0)
    ]
    appended = send("call/append", {"taskId": task_id, "list": [
        {"contactId": "ts-1", "phoneNumber": "85291230001", "name": "A",
         "params": [{"name": "name", "value": "A"}]},
        {"contactId": "ts-2", "phoneNumber": "85291230002", "name": "B"},
    ]})  # fmt: skip
    assert appended["data"] == {"taskId": task_id, "count": 2}
    deleted = send("call/delete", {"taskId": task_id, "contactId": "ts-2"})
    assert deleted["data"] == {"taskId": task_id, "contactId": "ts-2"}
    calls = send("call/list", {"taskId": task_id, "pageNumber": 1, "pageSize": 10})
    assert (calls["total"], calls["list"]) == (0, [])
    listed = send("task/list", {})
    assert listed["list"][0]["statInfo"]["totalOrderCount"] == 1
