"""The task list on the wire (``task-list.md``): envelope, every key of the task object in the
order of the reference page, rate and average formatting, the ``data`` envelope setting,
account isolation, defaults, and the vendor's own request example."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_task, make_tenant, sign_md5
from nxlink.contract.taskdoc import average, rate
from nxlink.server.app import TASK_LIST_PATH
from nxlink.service import admin
from nxlink.store import NewTask, Store

TRACE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: Keys of the task object: the reference example's order, with ``autoFlowName`` after
#: ``autoFlowId``.
TASK_KEYS = [
    "id", "taskId", "saasUserId", "userTaskId", "other", "autoFlowId", "autoFlowName",
    "taskStatus", "pauseReason", "taskName", "taskDesc", "taskKeep", "startupType", "startupAt",
    "shutdownAt", "startupBy", "routeId", "maxCall", "importType", "funcFlag", "maxRingTime",
    "strategyId", "agentGroupId", "taskCallbackUrl", "createTs", "statInfo", "orderMaxCall",
    "replayInterval",
]  # fmt: skip
STAT_KEYS = [
    "id", "taskId", "autoFlowId", "answerOrderCount", "finishOrderCount", "totalOrderCount",
    "dialedOrderCount", "totalCallElapsed", "answerCallCount", "totalCallCount", "manualElapsed",
    "manualAnswerCount", "manualFailCount", "createTs", "answerRate", "dialProgress",
    "finishRate", "manualAnswerRate", "avgCallDuration", "avgManualDuration",
]  # fmt: skip
PAGE_KEYS = ["code", "message", "traceId", "total", "pageNumber", "pageSize", "list"]

#: The request example of the reference page, byte for byte.
VENDOR_EXAMPLE = """{
"createStartTs": 1746583929,
"createEndTs": 1746583929,
"minCallsAnsweredRate": "",
"maxCallsAnsweredRate": "",
"minTaskTotalQuantity": "",
"maxTaskTotalQuantity": "",
"pageNumber": 1,
"pageSize": 10
}"""


def answer_of(response: Any) -> dict[str, Any]:
    """The JSON answer, after checking HTTP 200, the media type and the trace id."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    payload: dict[str, Any] = json.loads(response.content)
    assert TRACE.fullmatch(payload["traceId"]), payload
    assert response.headers["X-Trace-Id"] == payload["traceId"]
    return payload


def success(response: Any) -> dict[str, Any]:
    payload = answer_of(response)
    assert payload["code"] == 0, payload
    assert payload["message"] == "success"
    assert list(payload) == PAGE_KEYS
    return payload


def refused(response: Any) -> str:
    payload = answer_of(response)
    assert list(payload) == ["code", "message", "traceId"], payload
    assert payload["code"] == 20000, payload
    message: str = payload["message"]
    return message


# -- one task, every key pinned ------------------------------------------------------------------


def test_one_known_task_answers_exactly(store: Store, api: Api) -> None:
    # Another account first, so that account, flow, task and statistics ids are not all 1.
    other = make_tenant(store, "other")
    assert store.insert_tasks(other.account_id, [make_task(other) for _ in range(4)]) == 4
    tenant = make_tenant(store, "pinned")
    admin.create_flow(store, "pinned", name="spare agent", variables=[])
    flow = admin.create_flow(store, "pinned", name="Sales bot ☎ Ä", variables=["name"])
    assert (tenant.account_id, flow.id) == (2, 4)
    task = NewTask(
        task_id="52145b00-abc9-4a87-94c2-ed1e1e42ec1c",
        auto_flow_id=flow.id,
        route_id="CJq6rtX2lg",
        task_name="update_task_name_xxx1",
        create_ts=1731663717,
        task_status=5,
        pause_reason=1,
        user_task_id="order-batch-74",
        other='task-batch-20260325 {"k": "ü"}',
        task_desc="update_task_desc_xxx2",
        task_keep=1,
        startup_type=2,
        startup_at=1731581880,
        shutdown_at=1731668280,
        startup_by="ops@example.com",
        max_call=7,
        import_type=1,
        func_flag=5,
        max_ring_time=45,
        strategy_id="strategy-9",
        agent_group_id="agents-3",
        task_callback_url="https://cb.example.com/task?x=1",
        call_callback_url="https://cb.example.com/call",
        country_code="852",
        order_max_call=3,
        replay_interval=600,
        stats={
            "total_order_count": 40,
            "dialed_order_count": 30,
            "finish_order_count": 20,
            "answer_order_count": 10,
            "total_call_count": 9,
            "answer_call_count": 6,
            "total_call_elapsed": 100,
            "manual_answer_count": 1,
            "manual_fail_count": 2,
            "manual_elapsed": 50,
        },
    )
    assert store.insert_tasks(tenant.account_id, [task]) == 1
    response = api.post(tenant, '{"pageNumber":1,"pageSize":10}')
    payload = success(response)
    expected = {
        "code": 0,
        "message": "success",
        "traceId": response.headers["X-Trace-Id"],
        "total": 1,
        "pageNumber": 1,
        "pageSize": 10,
        "list": [
            {
                "id": 5,
                "taskId": "52145b00-abc9-4a87-94c2-ed1e1e42ec1c",
                "saasUserId": 2,
                "userTaskId": "order-batch-74",
                "other": 'task-batch-20260325 {"k": "ü"}',
                "autoFlowId": 4,
                "autoFlowName": "Sales bot ☎ Ä",
                "taskStatus": 5,
                "pauseReason": 1,
                "taskName": "update_task_name_xxx1",
                "taskDesc": "update_task_desc_xxx2",
                "taskKeep": 1,
                "startupType": 2,
                "startupAt": 1731581880,
                "shutdownAt": 1731668280,
                "startupBy": "ops@example.com",
                "routeId": "CJq6rtX2lg",
                "maxCall": 7,
                "importType": 1,
                "funcFlag": 5,
                "maxRingTime": 45,
                "strategyId": "strategy-9",
                "agentGroupId": "agents-3",
                "taskCallbackUrl": "https://cb.example.com/task?x=1",
                "createTs": 1731663717,
                "statInfo": {
                    "id": 5,
                    "taskId": "52145b00-abc9-4a87-94c2-ed1e1e42ec1c",
                    "autoFlowId": 4,
                    "answerOrderCount": 10,
                    "finishOrderCount": 20,
                    "totalOrderCount": 40,
                    "dialedOrderCount": 30,
                    "totalCallElapsed": 100,
                    "answerCallCount": 6,
                    "totalCallCount": 9,
                    "manualElapsed": 50,
                    "manualAnswerCount": 1,
                    "manualFailCount": 2,
                    "createTs": 1731663717,
                    "answerRate": "66.67%",
                    "dialProgress": "75.00%",
                    "finishRate": "50.00%",
                    "manualAnswerRate": "33.33%",
                    "avgCallDuration": 16,
                    "avgManualDuration": 50,
                },
                "orderMaxCall": 3,
                "replayInterval": 600,
            }
        ],
    }
    assert payload == expected
    assert list(payload) == list(expected)
    assert list(payload["list"][0]) == TASK_KEYS
    assert list(payload["list"][0]["statInfo"]) == STAT_KEYS


def test_task_without_activity_has_null_rates_and_averages(store: Store, api: Api) -> None:
    tenant = make_tenant(store, "idle")
    task = NewTask(
        task_id="00000000-0000-4000-8000-00000000abcd",
        auto_flow_id=tenant.flow_id,
        route_id=tenant.route_id,
        task_name="idle",
        create_ts=1731663717,
    )
    store.insert_tasks(tenant.account_id, [task])
    payload = success(api.post(tenant, "{}"))
    assert payload["total"] == 1
    assert payload["list"] == [
        {
            "id": 1,
            "taskId": "00000000-0000-4000-8000-00000000abcd",
            "saasUserId": tenant.account_id,
            "userTaskId": "",
            "other": "",
            "autoFlowId": tenant.flow_id,
            "autoFlowName": "idle agent",
            "taskStatus": 1,
            "pauseReason": None,
            "taskName": "idle",
            "taskDesc": "",
            "taskKeep": 0,
            "startupType": 0,
            "startupAt": None,
            "shutdownAt": None,
            "startupBy": "",
            "routeId": tenant.route_id,
            "maxCall": 0,
            "importType": 0,
            "funcFlag": 0,
            "maxRingTime": 0,
            "strategyId": "",
            "agentGroupId": "",
            "taskCallbackUrl": "",
            "createTs": 1731663717,
            "statInfo": {
                "id": 1,
                "taskId": "00000000-0000-4000-8000-00000000abcd",
                "autoFlowId": tenant.flow_id,
                "answerOrderCount": 0,
                "finishOrderCount": 0,
                "totalOrderCount": 0,
                "dialedOrderCount": 0,
                "totalCallElapsed": 0,
                "answerCallCount": 0,
                "totalCallCount": 0,
                "manualElapsed": 0,
                "manualAnswerCount": 0,
                "manualFailCount": 0,
                "createTs": 1731663717,
                "answerRate": None,
                "dialProgress": None,
                "finishRate": None,
                "manualAnswerRate": None,
                "avgCallDuration": None,
                "avgManualDuration": None,
            },
            "orderMaxCall": None,
            "replayInterval": None,
        }
    ]
    assert list(payload["list"][0]) == TASK_KEYS
    assert list(payload["list"][0]["statInfo"]) == STAT_KEYS


def test_error_answer_is_the_bare_envelope(store: Store, api: Api) -> None:
    tenant = make_tenant(store)
    message = refused(api.post(tenant, '{"pageSize":1001}'))
    assert "pageSize: at most 1000" in message


# -- rates and averages ------------------------------------------------------------------------

RATE_CASES = [
    (0, 5, "0.00%"),
    (1, 3, "33.33%"),
    (2, 3, "66.67%"),
    (1, 1, "100.00%"),
    (1, 8, "12.50%"),
    (1, 200, "0.50%"),
    (1, 300, "0.33%"),
    (1, 2, "50.00%"),
    (1, 6, "16.67%"),
    (5, 6, "83.33%"),
    (3, 7, "42.86%"),
    (7, 8, "87.50%"),
    (1, 16, "6.25%"),
    (1, 160, "0.63%"),  # 0.625 rounds half up
    (1, 800, "0.13%"),  # 0.125
    (3, 40000, "0.01%"),  # 0.0075
    (1, 20000, "0.01%"),  # 0.005
    (1, 20001, "0.00%"),
    (199, 200, "99.50%"),
    (1999, 2000, "99.95%"),
    (19999, 20000, "100.00%"),  # 99.995
    (2147483646, 2147483647, "100.00%"),
    (1, 2147483647, "0.00%"),
    (2147483647, 2147483647, "100.00%"),
    (0, 0, None),
]

AVERAGE_CASES = [
    (10, 3, 3),
    (0, 0, None),
    (5, 0, None),
    (0, 5, 0),
    (2, 3, 0),
    (9, 3, 3),
    (11, 4, 2),
    (7, 7, 1),
    (2147483647, 1, 2147483647),
    (2147483647, 2, 1073741823),
]


@pytest.mark.parametrize(("numerator", "denominator", "expected"), RATE_CASES)
def test_rate_function(numerator: int, denominator: int, expected: str | None) -> None:
    assert rate(numerator, denominator) == expected


@pytest.mark.parametrize("numerator", [0, 1, 5, 2147483647])
def test_rate_with_zero_denominator_is_none(numerator: int) -> None:
    assert rate(numerator, 0) is None


@pytest.mark.parametrize(("total", "count", "expected"), AVERAGE_CASES)
def test_average_function(total: int, count: int, expected: int | None) -> None:
    assert average(total, count) == expected


@pytest.mark.parametrize(("numerator", "denominator", "expected"), RATE_CASES)
def test_rates_on_the_wire(
    store: Store, api: Api, numerator: int, denominator: int, expected: str | None
) -> None:
    tenant = make_tenant(store)
    stats = {
        "total_order_count": denominator,
        "dialed_order_count": numerator,
        "finish_order_count": numerator,
        "answer_order_count": numerator,
        "total_call_count": denominator,
        "answer_call_count": numerator,
        "manual_answer_count": numerator,
        "manual_fail_count": denominator - numerator,
    }
    store.insert_tasks(tenant.account_id, [make_task(tenant, stats=stats)])
    stat = success(api.post(tenant, b""))["list"][0]["statInfo"]
    assert stat["answerRate"] == expected
    assert stat["dialProgress"] == expected
    assert stat["finishRate"] == expected
    assert stat["manualAnswerRate"] == expected


def test_rates_with_zero_denominators_on_the_wire(store: Store, api: Api) -> None:
    """Counters above a zero denominator still give null, never a division error."""
    tenant = make_tenant(store)
    stats = {
        "dialed_order_count": 5,
        "finish_order_count": 3,
        "answer_order_count": 1,
        "total_call_elapsed": 50,
        "manual_elapsed": 30,
    }
    store.insert_tasks(tenant.account_id, [make_task(tenant, stats=stats)])
    stat = success(api.post(tenant, b""))["list"][0]["statInfo"]
    assert stat["dialedOrderCount"] == 5
    assert stat["totalCallElapsed"] == 50
    for key in (
        "answerRate",
        "dialProgress",
        "finishRate",
        "manualAnswerRate",
        "avgCallDuration",
        "avgManualDuration",
    ):
        assert stat[key] is None, key
    # a manual answer rate needs only one of answered / failed transfers
    store.insert_tasks(
        tenant.account_id,
        [make_task(tenant, create_ts=1_800_000_000, stats={"manual_fail_count": 4})],
    )
    stat = success(api.post(tenant, b""))["list"][0]["statInfo"]
    assert stat["manualAnswerRate"] == "0.00%"
    assert stat["avgManualDuration"] is None


@pytest.mark.parametrize(("total", "count", "expected"), AVERAGE_CASES)
def test_averages_on_the_wire(
    store: Store, api: Api, total: int, count: int, expected: int | None
) -> None:
    tenant = make_tenant(store)
    stats = {
        "total_call_count": count,
        "answer_call_count": count,
        "total_call_elapsed": total,
        "manual_answer_count": count,
        "manual_elapsed": total,
    }
    store.insert_tasks(tenant.account_id, [make_task(tenant, stats=stats)])
    stat = success(api.post(tenant, b""))["list"][0]["statInfo"]
    assert stat["avgCallDuration"] == expected
    assert stat["avgManualDuration"] == expected


# -- the "data" envelope setting ------------------------------------------------------------------


def test_data_envelope_nests_the_page(store: Store) -> None:
    tenant = make_tenant(store)
    store.insert_tasks(tenant.account_id, [make_task(tenant) for _ in range(3)])
    flat = success(make_api(store).post(tenant, '{"pageSize":2}'))
    response = make_api(store, envelope="data").post(tenant, '{"pageSize":2}')
    payload = answer_of(response)
    assert list(payload) == ["code", "message", "traceId", "data"]
    assert (payload["code"], payload["message"]) == (0, "success")
    assert payload["traceId"] == response.headers["X-Trace-Id"]
    assert list(payload["data"]) == ["total", "pageNumber", "pageSize", "list"]
    assert payload["data"] == {"total": 3, "pageNumber": 1, "pageSize": 2, "list": flat["list"]}
    assert [t["id"] for t in payload["data"]["list"]] == [3, 2]


def test_data_envelope_keeps_errors_flat(store: Store) -> None:
    tenant = make_tenant(store)
    message = refused(make_api(store, envelope="data").post(tenant, '{"pageNumber":0}'))
    assert message.startswith("pageNumber: ")


# -- two accounts -----------------------------------------------------------------------------


def _two_accounts(store: Store, api: Api) -> tuple[Tenant, Tenant, dict[int, set[int]]]:
    a = make_tenant(store, "alpha")
    b = make_tenant(store, "beta")
    # Same names, times and counters on both sides, so that any filter matching one side's
    # tasks would match the other's too.
    for tenant in (a, b, a, b):
        store.insert_tasks(
            tenant.account_id,
            [
                make_task(
                    tenant,
                    task_name=f"shared campaign {i}",
                    create_ts=1_750_000_000 + i,
                    task_status=2,
                    stats={"total_order_count": 10, "total_call_count": 4, "answer_call_count": 2},
                )
                for i in range(3)
            ],
        )
    store.insert_tasks(b.account_id, [make_task(b, task_name="beta only secret")])
    own = {
        t.account_id: {r["id"] for r in success(api.post(t, '{"pageSize":1000}'))["list"]}
        for t in (a, b)
    }
    assert len(own[a.account_id]) == 6
    assert len(own[b.account_id]) == 7
    return a, b, own


def _cross_bodies(other: Tenant) -> list[str]:
    oid = other.account_id
    return [
        json.dumps({"tenantId": oid}),
        json.dumps({"tenantId": str(oid)}),
        json.dumps({"saasUserId": oid}),
        json.dumps({"saasUserId": str(oid)}),
        json.dumps({"saasUserId": oid, "tenantId": oid, "accountId": oid, "pageSize": 1000}),
        json.dumps(
            {
                "saasUserId": str(oid),
                "taskName": "shared",
                "taskStatus": 2,
                "minCallsAnsweredRate": 50,
                "maxCallsAnsweredRate": "50",
                "minTaskTotalQuantity": 10,
                "maxTaskTotalQuantity": 10,
                "createStartTs": 1_750_000_000,
                "createEndTs": 1_750_000_002,
                "pageSize": 1000,
            }
        ),
        json.dumps({"taskName": "beta only secret", "saasUserId": oid}),
        json.dumps({"tenant": {"id": oid}, "saasUserIds": [oid], "pageSize": 1000}),
    ]


def test_accounts_never_see_each_other(store: Store, api: Api) -> None:
    a, b, own = _two_accounts(store, api)
    for me, other in ((a, b), (b, a)):
        for body in _cross_bodies(other):
            payload = success(api.post(me, body))
            ids = {t["id"] for t in payload["list"]}
            assert ids <= own[me.account_id], body
            assert all(t["saasUserId"] == me.account_id for t in payload["list"]), body
            assert payload["total"] <= len(own[me.account_id]), body
            if "beta only" in body:
                assert payload["total"] == (1 if me is b else 0), body
            elif "taskName" in body:
                assert payload["total"] == 6, body
            else:
                assert payload["total"] == len(own[me.account_id]), body


# -- defaults -----------------------------------------------------------------------------------


def _twelve(store: Store) -> Tenant:
    tenant = make_tenant(store)
    store.insert_tasks(
        tenant.account_id, [make_task(tenant, create_ts=1_750_000_000 + i) for i in range(12)]
    )
    return tenant


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b'{"pageNumber":null,"pageSize":""}',
        b'{"pageNumber":"","pageSize":null}',
        b'{\n  "taskName": "",\n  "taskStatus": null\n}',
    ],
)
def test_defaults_are_page_1_of_10(store: Store, api: Api, body: bytes) -> None:
    tenant = _twelve(store)
    payload = success(api.post(tenant, body))
    assert (payload["total"], payload["pageNumber"], payload["pageSize"]) == (12, 1, 10)
    assert [t["id"] for t in payload["list"]] == list(range(12, 2, -1))


def test_no_body_and_no_content_type_is_page_1_of_10(store: Store, api: Api) -> None:
    tenant = _twelve(store)
    ts = str(NOW_MS)
    headers = {
        "accessKey": tenant.access_key,
        "ts": ts,
        "bizType": "100",
        "action": "nxai",
        "sign": sign_md5(tenant.access_key, tenant.secret, ts, b""),
    }
    payload = success(api.client.post(TASK_LIST_PATH, headers=headers))
    assert (payload["total"], payload["pageNumber"], payload["pageSize"]) == (12, 1, 10)
    assert len(payload["list"]) == 10


def test_default_size_applies_to_a_given_page_number(store: Store, api: Api) -> None:
    tenant = _twelve(store)
    payload = success(api.post(tenant, '{"pageNumber":2}'))
    assert (payload["total"], payload["pageNumber"], payload["pageSize"]) == (12, 2, 10)
    assert [t["id"] for t in payload["list"]] == [2, 1]


# -- the vendor's request example ---------------------------------------------------------------


def test_vendor_request_example_works(store: Store, api: Api) -> None:
    tenant = make_tenant(store)
    stamps = [1746583928, 1746583929, 1746583930, 1746583929]
    store.insert_tasks(
        tenant.account_id,
        [
            make_task(
                tenant, create_ts=ts, stats={"total_call_count": 3 * i, "answer_call_count": i}
            )
            for i, ts in enumerate(stamps)
        ],
    )
    payload = success(api.post(tenant, VENDOR_EXAMPLE))
    assert (payload["total"], payload["pageNumber"], payload["pageSize"]) == (2, 1, 10)
    assert [t["id"] for t in payload["list"]] == [4, 2]
    assert [t["statInfo"]["answerRate"] for t in payload["list"]] == ["33.33%", "33.33%"]


# -- well-formed JSON that a careless parser turns into a 500 ---------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param('{"pageSize": 1E+1000000}', "pageSize", id="exponent-1e6"),
        pytest.param('{"pageNumber": -1e999999999}', "pageNumber", id="negative-exponent-1e9"),
        pytest.param(
            '{"minCallsAnsweredRate": 1e1000000}', "minCallsAnsweredRate", id="rate-exponent-1e6"
        ),
        pytest.param('{"taskStatus": ' + "9" * 5000 + "}", "taskStatus", id="5000-digits"),
        pytest.param(
            '{"minTaskTotalQuantity": -' + "1" * 5000 + "}",
            "minTaskTotalQuantity",
            id="negative-5000-digits",
        ),
    ],
)
def test_huge_numbers_are_20000_not_500(store: Store, api: Api, body: str, field: str) -> None:
    tenant = make_tenant(store)
    message = refused(api.post(tenant, body))
    assert f"{field}: " in message


def test_integer_string_with_many_leading_zeros_is_its_value(store: Store, api: Api) -> None:
    tenant = _twelve(store)
    payload = success(api.post(tenant, '{"pageSize": "' + "0" * 5000 + '3"}'))
    assert payload["pageSize"] == 3
    assert len(payload["list"]) == 3


def test_task_name_with_lone_surrogate_is_not_a_500(store: Store, api: Api) -> None:
    """``"\\ud800"`` is valid JSON text; the answer is either no match or a 20000 naming
    ``taskName``, never an internal error."""
    tenant = _twelve(store)
    payload = answer_of(api.post(tenant, '{"taskName": "a\\ud800"}'))
    if payload["code"] == 0:
        assert (payload["total"], payload["list"]) == (0, [])
    else:
        assert payload["code"] == 20000, payload
        assert payload["message"].startswith("taskName: "), payload
