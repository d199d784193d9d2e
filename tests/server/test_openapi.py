"""The OpenAPI document (built from the endpoint declarations) and the ``/docs`` page: a valid
OpenAPI 3.1 document (openapi-spec-validator), every example valid against its schema
(jsonschema), the wire contract's keys, bounds and statuses as the server answers them, and a
bound changed in a declaration changing both the parser and the document."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from openapi_spec_validator import validate

from conftest import make_api, make_tenant, sign_md5
from nxlink.contract import endpoints as contract
from nxlink.contract.callrecord import CALL_RECORD_KEYS
from nxlink.server.openapi import docs_html, openapi_document
from nxlink.server.settings import Settings
from nxlink.service.errors import ApiError
from nxlink.service.recordings import recording_path
from nxlink.service.requests import Parser
from nxlink.store import Store

API = "/openapi/aiagent/"
TASK_LIST = API + "task/list"

TASK_KEYS = {
    "id", "taskId", "saasUserId", "userTaskId", "other", "autoFlowId", "autoFlowName",
    "taskStatus", "pauseReason", "taskName", "taskDesc", "taskKeep", "startupType", "startupAt",
    "shutdownAt", "startupBy", "routeId", "maxCall", "importType", "funcFlag", "maxRingTime",
    "strategyId", "agentGroupId", "taskCallbackUrl", "createTs", "statInfo", "orderMaxCall",
    "replayInterval",
}  # fmt: skip
STAT_INFO_KEYS = {
    "id", "taskId", "autoFlowId", "answerOrderCount", "finishOrderCount", "totalOrderCount",
    "dialedOrderCount", "totalCallElapsed", "answerCallCount", "totalCallCount", "manualElapsed",
    "manualAnswerCount", "manualFailCount", "createTs", "answerRate", "dialProgress",
    "finishRate", "manualAnswerRate", "avgCallDuration", "avgManualDuration",
}  # fmt: skip
NULLABLE_TASK_KEYS = {"pauseReason", "startupAt", "shutdownAt", "orderMaxCall", "replayInterval"}
RATES = {"answerRate", "dialProgress", "finishRate", "manualAnswerRate"}
AVERAGES = {"avgCallDuration", "avgManualDuration"}
AUTH_HEADERS = ["accessKey", "ts", "bizType", "action", "sign"]
CODES = {0, 1001, 1002, 1003, 1004, 1005, 20000}
#: What an API operation answers besides 200 (an unknown path's 404 is a shared response).
API_STATUSES = {"200", "405", "413", "415", "500", "503"}
VENDOR_SERVERS = {"https://api-hk.nxlink.ai", "https://chl-api.nxlink.ai",
                  "https://api-idn.nxlink.ai"}  # fmt: skip
PAGE_FIELDS = ["total", "pageNumber", "pageSize", "list"]

#: Every path, its operationId, tag, request and response schemas, body limit class, own action.
OPERATIONS = {
    "task/list": ("listTasks", "tasks", "TaskListRequest", "TaskListResponse", 1, "pageCallTaskInfo"),
    "task/create": ("createTask", "tasks", "TaskCreateRequest", "TaskCreateResponse", 16, "nxai"),
    "call/append": ("appendContacts", "contacts", "CallAppendRequest", "CallAppendResponse", 16, "callAppend"),
    "order/delete": ("deleteContact", "contacts", "OrderDeleteRequest", "OrderDeleteResponse", 1, "operateCallRecords"),
    "call/delete": ("deleteContactAlias", "contacts", "OrderDeleteRequest", "OrderDeleteResponse", 1, "operateCallRecords"),
    "call/list": ("listCalls", "calls", "CallListRequest", "CallListResponse", 1, "pageCallRecords"),
    "flow/list": ("listFlows", "catalog", "FlowListRequest", "FlowListResponse", 1, "nxai"),
    "route/list": ("listRoutes", "catalog", "RouteListRequest", "RouteListResponse", 1, "nxai"),
    "task/start": ("startTask", "tasks", "TaskStartRequest", "TaskStartResponse", 1, "nxai"),
    "task/pause": ("pauseTask", "tasks", "TaskPauseRequest", "TaskPauseResponse", 1, "nxai"),
}  # fmt: skip
# The key lists of the wire decisions, in their order.
REQUEST_KEYS = {
    "TaskListRequest": [
        "taskName", "taskStatus", "createStartTs", "createEndTs", "minCallsAnsweredRate",
        "maxCallsAnsweredRate", "minTaskTotalQuantity", "maxTaskTotalQuantity", "pageNumber",
        "pageSize",
    ],
    "TaskCreateRequest": [
        "taskName", "autoFlowId", "routeId", "taskKeep", "startupType", "userTaskId", "other",
        "taskDesc", "startupAt", "shutdownAt", "maxCall", "maxRingTime", "orderMaxCall",
        "replayInterval", "weekDay", "zoneSecond", "taskCallbackUrl", "callCallbackUrl",
        "countryCode", "strategyId", "agentGroupId", "list",
    ],
    "CallAppendRequest": ["taskId", "userTaskId", "autoFlowId", "countryCode", "callCallbackUrl", "list"],
    "OrderDeleteRequest": ["taskId", "userTaskId", "contactId"],
    "TaskStartRequest": ["taskId", "userTaskId", "startupBy"],
    "TaskPauseRequest": ["taskId", "userTaskId"],
    "CallListRequest": [
        "taskId", "startTs", "endTs", "callId", "phone", "callResult", "userIntent",
        "minElapsed", "maxElapsed", "pageNumber", "pageSize",
    ],
    "FlowListRequest": ["name", "pageNumber", "pageSize"],
    "RouteListRequest": ["routeName", "pageNumber", "pageSize"],
}  # fmt: skip
REQUIRED = {
    "TaskCreateRequest": ["taskName", "autoFlowId", "routeId", "taskKeep", "startupType"],
    "CallAppendRequest": ["list"],
    "OrderDeleteRequest": ["contactId"],
    "CallListRequest": ["taskId"],
    "Contact": ["contactId", "phoneNumber"],
}
TASK_REF = {"CallAppendRequest", "OrderDeleteRequest", "TaskStartRequest", "TaskPauseRequest"}
CONTACT_KEYS = ["contactId", "phoneNumber", "name", "params", "other"]
FLOW_KEYS = ["autoFlowId", "autoFlowName", "variables", "createTs"]
ROUTE_KEYS = ["routeId", "routeName", "countryCode", "pricePerMinute", "createTs"]
#: A callback body: the event's keys, then the object it carries at the top level.
TASK_STATUS_EVENT_KEYS = [
    "eventId", "eventType", "eventTs", "id", "taskId", "saasUserId", "userTaskId", "other",
    "autoFlowId", "autoFlowName", "taskStatus", "pauseReason", "taskName", "taskDesc",
    "taskKeep", "startupType", "startupAt", "shutdownAt", "startupBy", "routeId", "maxCall",
    "importType", "funcFlag", "maxRingTime", "strategyId", "agentGroupId", "taskCallbackUrl",
    "createTs", "statInfo", "orderMaxCall", "replayInterval",
]  # fmt: skip
CALL_EVENT_KEYS = ["eventId", "eventType", "eventTs", *CALL_RECORD_KEYS, "other"]
DATA_KEYS = {
    "TaskCreateResponse": ("TaskCreated", ["taskId"]),
    "CallAppendResponse": ("ContactsAppended", ["taskId", "count"]),
    "OrderDeleteResponse": ("ContactDeleted", ["taskId", "contactId"]),
    "TaskStartResponse": ("TaskState", ["taskId", "taskStatus", "pauseReason"]),
    "TaskPauseResponse": ("TaskState", ["taskId", "taskStatus", "pauseReason"]),
}
PAGED = {
    "TaskListResponse": ("Task", 10),
    "CallListResponse": ("CallRecord", 10),
    "FlowListResponse": ("Flow", 10),
    "RouteListResponse": ("Route", 100),
}
CALL_RESULTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21]


@pytest.fixture(params=["vendor", "flat", "data"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return openapi_document(Settings(envelope=request.param))


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["components"]["schemas"]
    return result


def operation(document: dict[str, Any], name: str = "task/list") -> dict[str, Any]:
    result: dict[str, Any] = document["paths"][API + name]["post"]
    return result


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    assert isinstance(ref, str) and ref.startswith("#/")
    target: Any = document
    for part in ref[2:].split("/"):
        assert part in target, f"dangling $ref {ref}"
        target = target[part]
    assert isinstance(target, dict)
    return target


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def types_of(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema allows (``type``, or the branches of a pydantic ``anyOf``)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    if isinstance(kind, str):
        return {kind}
    return {t for branch in schema.get("anyOf", []) for t in types_of(branch)}


def check(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """``value`` against ``schema`` (its ``$ref``s resolved in ``document``), by jsonschema."""
    jsonschema.validate(
        value, {**schema, "components": document["components"]},
        cls=jsonschema.Draft202012Validator,
    )  # fmt: skip


def integer_branch(schema: dict[str, Any]) -> dict[str, Any]:
    branch: dict[str, Any] = next(b for b in schema["oneOf"] if b.get("type") == "integer")
    return branch


# --- the document as a whole ----------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(envelope="flat"),
        Settings(envelope="data"),
        Settings(strict_headers=True, extra_biz_types=["1"], extra_actions=["send"]),
    ],
    ids=["vendor", "flat", "data", "strict-extras"],
)
def test_the_document_is_valid_openapi_31(settings: Settings) -> None:
    document = openapi_document(settings)
    validate(document)  # raises on any fault
    assert document["openapi"] == "3.1.0"
    assert json.loads(json.dumps(document)) == document


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = [node for node in walk(document) if isinstance(node, dict) and "$ref" in node]
    assert len(refs) > 50
    for node in refs:
        resolve(document, node)


def test_every_declared_path_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    api = {path.removeprefix(API) for path in document["paths"] if path.startswith(API)}
    assert api == set(OPERATIONS)
    assert set(document["paths"]) - {API + name for name in OPERATIONS} == {
        "/healthz", "/readyz", "/openapi.json", "/docs"
    }  # fmt: skip


def test_operations_have_ids_and_described_responses(document: dict[str, Any]) -> None:
    seen: set[str] = set()
    for item in document["paths"].values():
        for method, op in item.items():
            if method not in {"get", "post"}:
                continue
            assert op["operationId"] not in seen
            seen.add(op["operationId"])
            for status, response in op["responses"].items():
                assert re.fullmatch(r"[1-5][0-9][0-9]", status)
                assert resolve(document, response)["description"]


def test_servers_are_the_vendor_regions_and_this_server(document: dict[str, Any]) -> None:
    assert {server["url"] for server in document["servers"]} == VENDOR_SERVERS | {"/"}


def test_signature_recipe_and_both_generations_are_in_info(document: dict[str, Any]) -> None:
    text = document["info"]["description"]
    for piece in (
        '"accessKey=" + accessKey + "&action=" + action + "&bizType=" + bizType + "&ts=" + ts',
        'pre += "&body=" + raw body',
        'pre += "&accessSecret=" + accessSecret',
        "7cfd76c3dff9eadb89caeee037d768ad",
        "5c6554918de76f9536274f17892326bcb2c40c1132ebe6e64596e24b941b286b",
        "60000",
        "`bizType` `8` with the operation's own `action`",
        "`operateCallRecords` order/delete and call/delete",
        "1048576 bytes (16777216 for task/create and call/append)",
    ):
        assert piece in text, piece
    scheme = document["components"]["securitySchemes"]["nxlinkSignature"]
    assert (scheme["type"], scheme["in"]) == ("apiKey", "header")


def test_settings_flow_into_the_document() -> None:
    document = openapi_document(Settings(
        timestamp_window_ms=5000, max_body_bytes=4096, max_import_body_bytes=8192,
        extra_biz_types=["1"], extra_actions=["send"],
    ))  # fmt: skip
    assert "5000" in document["info"]["description"]
    for name, (*_, mib, own) in OPERATIONS.items():
        op = operation(document, name)
        limit = 8192 if mib == 16 else 4096
        assert op["x-bodyLimit"] == limit
        assert op["responses"]["413"]["description"] == f"A body over the limit of {limit} bytes."
        action = next(p for p in op["parameters"] if p.get("name") == "action")
        assert action["schema"]["enum"] == list(dict.fromkeys(["nxai", own, "send"])), name
    params = document["components"]["parameters"]
    assert params["bizType"]["schema"]["enum"] == ["100", "8", "1"]
    strict = openapi_document(Settings(strict_headers=True))
    assert strict["components"]["parameters"]["bizType"]["schema"]["enum"] == ["100"]
    for name in OPERATIONS:
        action = next(p for p in operation(strict, name)["parameters"] if p.get("name") == "action")
        assert action["schema"]["enum"] == ["nxai"]
    assert "bizType` `8`" not in strict["info"]["description"]


def header_parameters(document: dict[str, Any], name: str = "task/list") -> dict[str, Any]:
    params = [resolve(document, p) for p in operation(document, name)["parameters"]]
    assert all(p["in"] == "header" for p in params)
    return {p["name"]: p for p in params}


def test_the_five_auth_headers_are_required_on_every_operation(document: dict[str, Any]) -> None:
    for name, (*_, own) in OPERATIONS.items():
        params = header_parameters(document, name)
        assert list(params) == ["accessKey", "ts", "bizType", "sign", "algorithm", "action"]
        for header in AUTH_HEADERS:
            assert params[header]["required"] is True
            assert params[header]["schema"]["type"] == "string"
        assert params["bizType"]["schema"]["enum"] == ["100", "8"]
        assert params["action"]["schema"]["enum"] == list(dict.fromkeys(["nxai", own]))
        assert re.fullmatch(params["ts"]["schema"]["pattern"], params["ts"]["example"])
        assert re.fullmatch(params["sign"]["schema"]["pattern"], params["sign"]["example"])
        algorithm = params["algorithm"]
        assert algorithm["required"] is False
        for ok in ("md5", "MD5", "sha256", "SHA256", ""):
            assert re.fullmatch(algorithm["schema"]["pattern"], ok)
        for bad in ("sha1", "md4", "sha-256"):
            assert not re.fullmatch(algorithm["schema"]["pattern"], bad)


def test_every_code_is_documented_in_checking_order(document: dict[str, Any]) -> None:
    for name in OPERATIONS:
        codes = operation(document, name)["x-codes"]
        assert [item["code"] for item in codes] == [1001, 1002, 1004, 1005, 1003, 20000, 0]
        assert all(item["httpStatus"] == 200 for item in codes)
        by_code = {item["code"]: item["message"] for item in codes}
        assert by_code[1003] == "Authentication failed (invalid signature)"
        assert by_code[1005] == "Authentication failed (insufficient authority)"
        assert by_code[0] == "success"


def test_the_statuses_are_those_the_server_sends(document: dict[str, Any]) -> None:
    for name in OPERATIONS:
        responses = operation(document, name)["responses"]
        assert set(responses) == API_STATUSES, name
        for status in API_STATUSES - {"200"}:
            response = resolve(document, responses[status])
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Error"}
            check(document, media["schema"], media["example"])
            assert "X-Trace-Id" in response["headers"]
            assert ("Retry-After" in response["headers"]) == (status == "503")
        assert responses["503"] == {"$ref": "#/components/responses/DatabaseBusy"}
    shared = document["components"]["responses"]
    assert set(shared) == {"NotFound", "MethodNotAllowed", "UnsupportedMediaType",
                           "InternalError", "DatabaseBusy"}  # fmt: skip
    # Nothing sends 429: no status, no word of it.
    assert all("429" not in item for item in document["paths"].values()
               for op in item.values() if isinstance(op, dict) for item in [op.get("responses", {})])  # fmt: skip
    assert "429" not in json.dumps(document)
    assert "rate limit" not in json.dumps(document).lower()


def test_envelope_and_error_schemas(document: dict[str, Any]) -> None:
    envelope = schemas(document)["Envelope"]
    assert set(envelope["properties"]["code"]["enum"]) == CODES
    trace = envelope["properties"]["traceId"]
    assert trace["pattern"] == "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    assert trace["examples"] == ["3287f5aa-b8db-4dd7-97b0-03fabac2f4c7"]  # the vendor's page
    error = schemas(document)["Error"]
    assert set(error["properties"]["code"]["enum"]) == CODES - {0}
    assert error["additionalProperties"] is False


#: Where the vendor's pages put each list's page fields.
VENDOR_SHAPES = {
    "TaskListResponse": "flat",
    "CallListResponse": "flat",
    "FlowListResponse": "data",
    "RouteListResponse": "data",
}


def test_paged_responses_follow_the_envelope_setting() -> None:
    for envelope in ("vendor", "flat", "data"):
        document = openapi_document(Settings(envelope=envelope))
        for name, (item, size) in PAGED.items():
            schema = schemas(document)[name]
            props = schema["properties"]
            example = schema["examples"][0]
            shape = VENDOR_SHAPES[name] if envelope == "vendor" else envelope
            if shape == "flat":
                assert list(props) == ["code", "message", "traceId", *PAGE_FIELDS]
                page, page_example = props, example
            else:
                assert list(props) == ["code", "message", "traceId", "data"]
                page, page_example = props["data"]["properties"], example["data"]
                assert props["data"]["required"] == PAGE_FIELDS
            assert schema["required"] == list(props)
            assert (props["code"]["const"], props["message"]["const"]) == (0, "success")
            assert page["list"]["items"] == {"$ref": f"#/components/schemas/{item}"}
            assert page["pageSize"]["maximum"] == 1000
            assert page_example["pageSize"] == size
            check(document, schema, example)


def test_data_responses(document: dict[str, Any]) -> None:
    for name, (model, keys) in DATA_KEYS.items():
        schema = schemas(document)[name]
        props = schema["properties"]
        assert list(props) == ["code", "message", "traceId", "data"], name
        assert props["data"]["$ref"] == f"#/components/schemas/{model}"
        assert list(schemas(document)[model]["properties"]) == keys
        assert schemas(document)[model]["required"] == keys
        check(document, schema, schema["examples"][0])
    state = schemas(document)["TaskState"]["properties"]
    assert types_of(state["pauseReason"]) == {"integer", "null"}
    assert types_of(state["taskStatus"]) == {"integer"}


def test_task_schema_has_every_key_required(document: dict[str, Any]) -> None:
    task = schemas(document)["Task"]
    assert set(task["properties"]) == TASK_KEYS
    assert set(task["required"]) == TASK_KEYS
    props = task["properties"]
    for key in NULLABLE_TASK_KEYS:
        assert "null" in types_of(props[key]), key
    for key in TASK_KEYS:
        assert props[key]["description"], key
    assert props["statInfo"]["$ref"] == "#/components/schemas/StatInfo"
    assert types_of(props["taskId"]) == {"string"}
    assert types_of(props["id"]) == {"integer"}
    assert set(task["examples"][0]) == TASK_KEYS


def test_stat_info_schema_has_every_key_required(document: dict[str, Any]) -> None:
    stat = schemas(document)["StatInfo"]
    assert set(stat["properties"]) == STAT_INFO_KEYS
    assert set(stat["required"]) == STAT_INFO_KEYS
    props = stat["properties"]
    for key in RATES:
        assert types_of(props[key]) == {"string", "null"}
    for key in AVERAGES:
        assert types_of(props[key]) == {"integer", "null"}
    assert set(stat["examples"][0]) == STAT_INFO_KEYS


def test_item_and_event_schemas_have_the_wire_keys_in_order(document: dict[str, Any]) -> None:
    expected = {
        "CallRecord": list(CALL_RECORD_KEYS),
        "Flow": FLOW_KEYS,
        "Route": ROUTE_KEYS,
        "TaskStatusEvent": TASK_STATUS_EVENT_KEYS,
        "CallCompletedEvent": CALL_EVENT_KEYS,
    }
    assert len(CALL_RECORD_KEYS) == 42
    for name, keys in expected.items():
        schema = schemas(document)[name]
        assert list(schema["properties"]) == keys, name
    assert schemas(document)["CallRecord"]["additionalProperties"] is False
    assert "CallEvent" not in schemas(document)
    for name in ("TaskStatusEvent", "CallCompletedEvent"):
        schema = schemas(document)[name]
        assert schema["required"] == expected[name], name
        assert schema["additionalProperties"] is False, name
    assert set(TASK_STATUS_EVENT_KEYS[3:]) == TASK_KEYS
    task_event = schemas(document)["TaskStatusEvent"]["properties"]
    assert task_event["statInfo"]["$ref"] == "#/components/schemas/StatInfo"
    assert schemas(document)["TaskStatusEvent"]["properties"]["statInfo"]["$ref"] == (
        "#/components/schemas/StatInfo"
    )


# --- requests -----------------------------------------------------------------------------------


def test_request_schemas_list_every_field_and_the_required_ones(document: dict[str, Any]) -> None:
    for name, keys in REQUEST_KEYS.items():
        schema = schemas(document)[name]
        assert list(schema["properties"]) == keys, name
        assert schema.get("required", []) == REQUIRED.get(name, []), name
        if name in TASK_REF:
            assert schema["anyOf"] == [{"required": ["taskId"]}, {"required": ["userTaskId"]}]
        else:
            assert "anyOf" not in schema
        for key, prop in schema["properties"].items():
            assert prop["description"], (name, key)
            assert prop["x-rule"], (name, key)
    assert list(schemas(document)["Contact"]["properties"]) == CONTACT_KEYS
    assert schemas(document)["Contact"]["required"] == REQUIRED["Contact"]


def test_request_field_bounds(document: dict[str, Any]) -> None:
    listing = schemas(document)["TaskListRequest"]["properties"]
    assert listing["taskName"]["maxLength"] == 200
    assert types_of(listing["taskName"]) == {"string", "null"}
    assert (listing["pageNumber"]["default"], listing["pageSize"]["default"]) == (1, 10)
    assert integer_branch(listing["pageSize"])["maximum"] == 1000
    assert (integer_branch(listing["taskStatus"])["minimum"],
            integer_branch(listing["taskStatus"])["maximum"]) == (1, 6)  # fmt: skip
    rate = next(b for b in listing["minCallsAnsweredRate"]["oneOf"] if b.get("type") == "number")
    assert (rate["minimum"], rate["maximum"]) == (0, 100)
    assert listing["createEndTs"]["x-rule"].endswith("≥ createStartTs")
    create = schemas(document)["TaskCreateRequest"]["properties"]
    assert (create["taskName"]["minLength"], create["taskName"]["maxLength"]) == (1, 200)
    limits = {
        "autoFlowId": (1, 2**63 - 1), "taskKeep": (0, 1), "startupType": (0, 3),
        "maxCall": (0, 1000), "maxRingTime": (0, 300), "orderMaxCall": (1, 10),
        "replayInterval": (0, 604_800), "startupAt": (0, 2_147_483_647),
    }  # fmt: skip
    for key, bounds in limits.items():
        branch = integer_branch(create[key])
        assert (branch["minimum"], branch["maximum"]) == bounds, key
        assert branch["format"] == ("int64" if key == "autoFlowId" else "int32"), key
    for key in ("autoFlowId", "taskKeep", "startupType"):
        assert not any(b.get("type") == "null" for b in create[key]["oneOf"]), key
    assert "required when startupType is 2" in create["startupAt"]["x-rule"]
    assert "> startupAt" in create["shutdownAt"]["x-rule"]
    assert create["list"]["maxItems"] == 10_000
    append = schemas(document)["CallAppendRequest"]["properties"]
    assert (append["list"]["minItems"], append["list"]["maxItems"]) == (1, 10_000)
    assert append["callCallbackUrl"]["maxLength"] == 2048
    flow = integer_branch(append["autoFlowId"])
    assert (flow["format"], flow["minimum"], flow["maximum"]) == ("int64", 1, 2**63 - 1)
    assert any(b.get("type") == "null" for b in append["autoFlowId"]["oneOf"])  # optional
    contact = schemas(document)["Contact"]["properties"]
    phone = contact["phoneNumber"]["pattern"]
    for ok in ("123", "+85291234567", "0" * 20):
        assert re.fullmatch(phone, ok)
    for bad in ("12", "12a", "+", "0" * 21, "++123"):
        assert not re.fullmatch(phone, bad)
    country = create["countryCode"]["oneOf"][0]["pattern"]
    for ok in ("852", "+852", "1", "+1234"):
        assert re.fullmatch(country, ok)
    for bad in ("+", "12345", "85a"):
        assert not re.fullmatch(country, bad)
    calls = schemas(document)["CallListRequest"]["properties"]
    # Any 32-bit integer: one outside the known results matches nothing (not refused).
    result = integer_branch(calls["callResult"])
    assert (result["format"], result["minimum"], result["maximum"]) == (
        "int32",
        -(2**31),
        2**31 - 1,
    )
    assert "another integer matches nothing" in calls["callResult"]["x-rule"]
    for key in ("minElapsed", "maxElapsed"):
        elapsed = integer_branch(calls[key])
        assert (elapsed["format"], elapsed["minimum"], elapsed["maximum"]) == (
            "int64",
            0,
            2**63 - 1,
        )
    assert schemas(document)["RouteListRequest"]["properties"]["pageSize"]["default"] == 100


def test_every_example_agrees_with_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for schema in schemas(document).values():
        for example in schema.get("examples", []):
            check(document, schema, example)
            checked += 1
        for prop in schema.get("properties", {}).values():
            for example in prop.get("examples", []):
                check(document, prop, example)
                checked += 1
    for name in OPERATIONS:
        op = operation(document, name)
        body = op["requestBody"]["content"]["application/json"]
        for example in body["examples"].values():
            check(document, body["schema"], example["value"])
        ok = op["responses"]["200"]["content"]["application/json"]
        for example in ok["examples"].values():
            check(document, ok["schema"], example["value"])
        for callback in op.get("callbacks", {}).values():
            for item in callback.values():
                media = item["post"]["requestBody"]["content"]["application/json"]
                check(document, media["schema"], media["example"])
                checked += 1
    assert checked > 100


def _call_examples(node: Any) -> Iterator[dict[str, Any]]:
    """Every call record among the document's examples (call/list's page, the callback's body)."""
    if isinstance(node, dict):
        if isinstance(node.get("callAudioUrl"), str) and "callId" in node:
            yield node
        for value in node.values():
            yield from _call_examples(value)
    elif isinstance(node, list):
        for value in node:
            yield from _call_examples(value)


def test_the_example_recording_link_is_shaped_as_the_server_makes_it(
    document: dict[str, Any],
) -> None:
    """The server hands out only signed links (an unsigned one answers 403): the examples show
    ``/recordings/<callId>.wav?exp=<epoch s>&sig=<hmac hex>``."""
    examples = list(_call_examples(document))
    assert len(examples) >= 3  # the schema's, call/list's page and the call callback's
    for call in examples:
        link = urlsplit(call["callAudioUrl"])
        assert (link.scheme, link.path) == ("http", recording_path(call["callId"]))
        query = parse_qs(link.query, keep_blank_values=True)
        assert sorted(query) == ["exp", "sig"], call["callAudioUrl"]
        assert int(query["exp"][0]) > call["callEnd"]
        assert re.fullmatch(r"[0-9a-f]{64}", query["sig"][0]), call["callAudioUrl"]


def test_the_schemas_refuse_what_the_parser_refuses(document: dict[str, Any]) -> None:
    contact = {"$ref": "#/components/schemas/Contact"}
    check(document, contact, {"contactId": 7, "phoneNumber": "+85291234567"})
    for bad in (
        {"contactId": "c-1"},
        {"contactId": "c-1", "phoneNumber": "12a"},
        {"contactId": "", "phoneNumber": "123"},
        {"contactId": True, "phoneNumber": "123"},
        {"contactId": "c-1", "phoneNumber": "123", "params": [{"value": "x"}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check(document, contact, bad)
    with pytest.raises(jsonschema.ValidationError):
        check(document, {"$ref": "#/components/schemas/TaskPauseRequest"}, {})
    with pytest.raises(jsonschema.ValidationError):
        check(document, {"$ref": "#/components/schemas/CallRecord"}, {"id": 1})


def test_task_create_declares_both_callbacks(document: dict[str, Any]) -> None:
    callbacks = operation(document, "task/create")["callbacks"]
    assert set(callbacks) == {"taskStatus", "callCompleted"}
    for name, field, schema in (
        ("taskStatus", "taskCallbackUrl", "TaskStatusEvent"),
        ("callCompleted", "callCallbackUrl", "CallCompletedEvent"),
    ):
        (expression, item), *rest = callbacks[name].items()
        assert not rest
        assert expression == "{$request.body#/" + field + "}"
        post = item["post"]
        media = post["requestBody"]["content"]["application/json"]
        assert media["schema"] == {"$ref": f"#/components/schemas/{schema}"}
        headers = {p["name"]: p for p in post["parameters"]}
        assert list(headers) == [*AUTH_HEADERS, "X-Nxlink-Event-Id"]
        body = json.dumps(media["example"], ensure_ascii=False, separators=(",", ":")).encode()
        assert headers["sign"]["example"] == sign_md5(
            headers["accessKey"]["example"], "s3cr3t-Example", headers["ts"]["example"], body
        )
        for piece in ("+10 s", "+2430 s", "7 tries", "X-Nxlink-Event-Id", "2xx"):
            assert piece in post["description"], piece
    for other in set(OPERATIONS) - {"task/create"}:
        assert "callbacks" not in operation(document, other)


# --- the declaration is the source ---------------------------------------------------------------


def test_a_bound_changed_in_the_declaration_changes_the_parser_and_the_document() -> None:
    name = next(f for f in contract.TASK_LIST.fields if f.name == "taskName")
    assert isinstance(name, contract.Text) and name.max_length == 200
    body = {"taskName": "x" * 250}
    with pytest.raises(ApiError, match=r"^taskName: at most 200 characters, got 250$"):
        Parser(contract.TASK_LIST)(body)
    assert (
        schemas(openapi_document(Settings()))["TaskListRequest"]["properties"]["taskName"][
            "maxLength"
        ]
        == 200
    )
    # The declarations are frozen; a test may still move one bound and see everything follow.
    object.__setattr__(name, "max_length", 300)
    try:
        assert Parser(contract.TASK_LIST)(body)["name_fold"] == "x" * 250
        with pytest.raises(ApiError, match=r"^taskName: at most 300 characters, got 301$"):
            Parser(contract.TASK_LIST)({"taskName": "x" * 301})
        document = openapi_document(Settings())
        prop = schemas(document)["TaskListRequest"]["properties"]["taskName"]
        assert prop["maxLength"] == 300
        assert prop["x-rule"] == "≤ 300 characters"
        refusals = [item["message"] for item in operation(document)["x-refusals"]]
        assert "taskName: at most 300 characters, got <n>" in refusals
        assert "≤ 300 characters" in docs_html(document)
    finally:
        object.__setattr__(name, "max_length", 200)


# --- health probes and the HTML page ------------------------------------------------------------


def test_health_probes(document: dict[str, Any]) -> None:
    healthz = document["paths"]["/healthz"]["get"]
    readyz = document["paths"]["/readyz"]["get"]
    for op in (healthz, readyz):
        assert op["security"] == []
        ok = op["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": "#/components/schemas/Envelope"}
    assert "Retry-After" in readyz["responses"]["503"]["headers"]
    assert "503" not in healthz["responses"]


def test_docs_html_shows_the_contract(document: dict[str, Any]) -> None:
    page = docs_html(document)
    assert page.startswith("<!doctype html>")
    assert document["info"]["title"] in page
    for keys in (TASK_KEYS, STAT_INFO_KEYS, *map(set, REQUEST_KEYS.values()), set(CONTACT_KEYS),
                 set(CALL_RECORD_KEYS), set(FLOW_KEYS), set(ROUTE_KEYS)):  # fmt: skip
        for key in keys:
            assert f"<code>{key}</code>" in page, key
    for code in CODES:
        assert f"<strong>{code}</strong>" in page, code
    for header in [*AUTH_HEADERS, "algorithm"]:
        assert f"<code>{header}</code>" in page
    for status in API_STATUSES:
        assert f"<strong>{status}</strong>" in page
    for name in OPERATIONS:
        assert f"<code>{API}{name}</code>" in page, name
    assert "&amp;accessSecret=&quot; + accessSecret" in page  # the recipe, escaped
    assert "TS=$(date +%s%3N)" in page
    assert "<code>Duplicate contactIds are not allowed: &lt;id&gt;</code>" in page
    assert "nxlink api call/delete" in page
    assert page.count("<h3>Callbacks</h3>") == 1
    for url in VENDOR_SERVERS:
        assert url in page


def test_docs_html_is_self_contained(document: dict[str, Any]) -> None:
    page = docs_html(document).lower()
    assert "<script" not in page
    assert "<link" not in page
    assert "@import" not in page
    assert "url(" not in page
    assert not re.search(r"""src\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"""href\s*=\s*["']?(https?:)?//""", page)


def test_docs_html_escapes_text() -> None:
    document = openapi_document(Settings())
    document["info"]["title"] = "<b>x</b> & <script>alert(1)</script>"
    operation(document)["summary"] = '<img src="https://example.invalid/x.png">'
    page = docs_html(document)
    assert "<b>x</b>" not in page
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;" in page


def test_docs_html_reflects_the_envelope_setting() -> None:
    flat_page = docs_html(openapi_document(Settings(envelope="flat")))
    data_page = docs_html(openapi_document(Settings(envelope="data")))
    assert "<code>data.list</code>" in data_page
    assert "<code>data.list</code>" not in flat_page
    assert "<code>list</code>" in flat_page


def test_the_description_says_where_each_list_puts_its_page() -> None:
    def said(envelope: str) -> str:
        text: str = openapi_document(Settings(envelope=envelope))["info"]["description"]
        return text.split("### Envelope\n", 1)[1].split("\n\n", 1)[0].replace("\\\n", "")

    page = "The page fields of a list (`total`, `pageNumber`, `pageSize`, `list`) sit: "
    top = "at the top level, beside `code`, `message` and `traceId`"
    assert page + (f"task/list and call/list {top}; flow/list and route/list nested under "
                   "`data` (as the vendor documents each list)") in said("vendor")  # fmt: skip
    assert page + (f"task/list and call/list and flow/list and route/list {top} (every list "
                   "one way, `NXLINK_ENVELOPE=flat`)") in said("flat")  # fmt: skip
    assert page + ("task/list and call/list and flow/list and route/list nested under `data` "
                   "(every list one way, `NXLINK_ENVELOPE=data`)") in said("data")  # fmt: skip


def _pattern(message: str) -> re.Pattern[str]:
    """A documented message as a regex: each ``<placeholder>`` and ``...`` stands for text."""
    parts = re.split(r"(<[^<>]+>|\.\.\.(?= |$))", message)
    return re.compile(
        "".join(".+" if i % 2 else re.escape(part) for i, part in enumerate(parts)), re.S
    )


def test_the_pattern_of_a_documented_message() -> None:
    pattern = _pattern("userTaskId: '<id>' is already used by task <taskId>")
    assert pattern.fullmatch("userTaskId: 'u1' is already used by task 5f1c-x")
    assert not pattern.fullmatch("userTaskId: u1 is already used by task 5f1c-x")
    assert _pattern("... and <n> more").fullmatch("... and 3 more")
    assert _pattern("taskCallbackUrl: must be an http(s) URL, got ...").fullmatch(
        'taskCallbackUrl: must be an http(s) URL, got "ftp://x"'
    )


def test_the_documented_refusals_are_what_the_server_answers(store: Store) -> None:
    """Bad requests against the real app: every part of every 20000 is a documented refusal."""
    api = make_api(store)
    tenant = make_tenant(store)
    document = openapi_document(Settings())
    create = {
        "taskName": "t",
        "autoFlowId": tenant.flow_id,
        "routeId": tenant.route_id,
        "taskKeep": 0,
        "startupType": 1,
    }

    def post(name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(tenant, json.dumps(body), path=API + name)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        return payload

    task_id = post("task/create", {**create, "userTaskId": "u1"})["data"]["taskId"]
    post("call/append", {"taskId": task_id, "list": [{"contactId": "c1", "phoneNumber": "123"}]})
    contact = {"contactId": "c2", "phoneNumber": "123"}
    bad: dict[str, list[dict[str, Any]]] = {
        "task/create": [
            {},
            {**create, "taskName": "  ", "startupType": 2},
            {**create, "startupAt": 200, "shutdownAt": 100, "taskCallbackUrl": "ftp://x"},
            {**create, "callCallbackUrl": "mailto:a@b"},
            {**create, "autoFlowId": 999_999, "routeId": "nope"},
            {**create, "userTaskId": "u1"},
            {**create, "list": [contact] * 10_001},
            {**create, "list": [contact, contact]},
            {**create, "list": [{**contact, "params": [{"name": "nope", "value": 1}]}]},
        ],
        "call/append": [
            {},
            {"taskId": task_id, "list": []},
            {"taskId": task_id, "list": {}},
            {"taskId": "nope", "list": [contact]},
            {"userTaskId": "nope", "list": [contact]},
            {"taskId": task_id, "list": [{"contactId": "c1", "phoneNumber": "123"}]},
            {"taskId": task_id, "list": [{**contact, "phoneNumber": "12a"}]},
            {"taskId": task_id, "list": [{"contactId": f"x{i}", "phoneNumber": "1"} for i in range(21)]},
            {"taskId": task_id, "list": [{**contact, "params": [{"name": "nope"}]}]},
        ],
        "order/delete": [
            {},
            {"taskId": task_id, "contactId": "zz"},
        ],
        "call/list": [
            {},
            {"taskId": "nope"},
            {"taskId": task_id, "startTs": 5, "endTs": 4, "minElapsed": 5, "maxElapsed": 4},
            {"taskId": task_id, "pageSize": 5000},
        ],
        "flow/list": [{"pageSize": 5000}],
        "route/list": [{"pageSize": 5000}],
        "task/start": [{}, {"taskId": "nope"}],
        "task/pause": [{}, {"taskId": task_id}],
    }  # fmt: skip
    seen = 0
    for name, bodies in bad.items():
        op = document["paths"][API + name]["post"]
        patterns = [_pattern(item["message"]) for item in op["x-refusals"]]
        for body in bodies:
            payload = post(name, body)
            assert payload["code"] == 20000, (name, body, payload)
            for part in payload["message"].split("; "):
                assert any(p.fullmatch(part) for p in patterns), (name, part)
                seen += 1
    assert seen >= 35


def test_the_429_answer_is_documented_only_with_a_rate_limit() -> None:
    plain = openapi_document(Settings())
    limited = openapi_document(Settings(rate_limit_per_s=2.0, rate_limit_burst=5))
    for path, item in plain["paths"].items():
        if "post" in item:
            assert "429" not in item["post"]["responses"], path
    assert "RateLimited" not in plain["components"]["responses"]
    posts = [item["post"] for item in limited["paths"].values() if "post" in item]
    assert posts
    assert all(op["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}
               for op in posts)  # fmt: skip
    answer = limited["components"]["responses"]["RateLimited"]
    assert "2 requests per second, bursts of 5" in answer["description"]
    assert "Retry-After" in answer["headers"]
