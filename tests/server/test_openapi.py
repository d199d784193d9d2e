"""The OpenAPI document and its HTML page describe the contract of ``task-list.md``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import make_api, make_tenant, sign_md5
from nxlink.server.openapi import docs_html, openapi_document
from nxlink.server.settings import Settings
from nxlink.store import Store

TASK_LIST = "/openapi/aiagent/task/list"

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
REQUEST_FIELDS = {
    "taskName", "taskStatus", "createStartTs", "createEndTs", "minCallsAnsweredRate",
    "maxCallsAnsweredRate", "minTaskTotalQuantity", "maxTaskTotalQuantity", "pageNumber",
    "pageSize",
}  # fmt: skip
INTEGER_FIELDS = REQUEST_FIELDS - {"taskName", "minCallsAnsweredRate", "maxCallsAnsweredRate"}
AUTH_HEADERS = ["accessKey", "ts", "bizType", "action", "sign"]
CODES = {0, 1001, 1002, 1003, 1004, 1005, 20000}
HTTP_STATUSES = {"200", "404", "405", "413", "415", "429", "500", "503"}
VENDOR_SERVERS = {
    "https://api-hk.nxlink.ai",
    "https://chl-api.nxlink.ai",
    "https://api-idn.nxlink.ai",
}
PAGE_FIELDS = {"total", "pageNumber", "pageSize", "list"}


@pytest.fixture(params=["flat", "data"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return openapi_document(Settings(envelope=request.param))


@pytest.fixture
def flat() -> dict[str, Any]:
    return openapi_document(Settings(envelope="flat"))


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["components"]["schemas"]
    return result


def operation(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["paths"][TASK_LIST]["post"]
    return result


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    assert isinstance(ref, str)
    assert ref.startswith("#/")
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
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    return {kind} if isinstance(kind, str) else set()


# --- the document as a whole ----------------------------------------------------------------


def test_is_an_openapi_31_document_that_round_trips_through_json(
    document: dict[str, Any],
) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"]
    assert isinstance(document["info"]["version"], str)
    assert json.loads(json.dumps(document)) == document
    assert set(document["paths"]) >= {TASK_LIST, "/healthz", "/readyz"}
    assert set(schemas(document)) >= {
        "Envelope",
        "TaskListRequest",
        "TaskListResponse",
        "Task",
        "StatInfo",
        "Error",
    }


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = [node for node in walk(document) if isinstance(node, dict) and "$ref" in node]
    assert refs
    for node in refs:
        resolve(document, node)


def test_operations_have_ids_and_json_responses(document: dict[str, Any]) -> None:
    seen: set[str] = set()
    for item in document["paths"].values():
        for method, op in item.items():
            if method not in {"get", "post"}:
                continue
            assert op["operationId"] not in seen
            seen.add(op["operationId"])
            assert op["responses"]
            for status, response in op["responses"].items():
                assert re.fullmatch(r"[1-5][0-9][0-9]", status)
                assert response["description"]


def test_servers_are_the_vendor_regions_and_this_server(document: dict[str, Any]) -> None:
    urls = {server["url"] for server in document["servers"]}
    assert urls == VENDOR_SERVERS | {"/"}


def test_signature_recipe_is_in_info_description(document: dict[str, Any]) -> None:
    text = document["info"]["description"]
    for piece in (
        '"accessKey=" + accessKey + "&action=" + action + "&bizType=" + bizType + "&ts=" + ts',
        'pre += "&body=" + raw body',
        'pre += "&accessSecret=" + accessSecret',
        "md5",
        "sha256",
        "7cfd76c3dff9eadb89caeee037d768ad",
        "60000",
    ):
        assert piece in text
    scheme = document["components"]["securitySchemes"]["nxlinkSignature"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert "accessSecret" in scheme["description"]


def test_settings_flow_into_the_document() -> None:
    document = openapi_document(
        Settings(timestamp_window_ms=5000, max_body_bytes=4096, extra_biz_types=["8"])
    )
    assert "5000" in document["info"]["description"]
    assert "4096" in operation(document)["responses"]["413"]["description"]
    params = {p["name"]: p for p in document["components"]["parameters"].values()}
    assert params["bizType"]["schema"]["enum"] == ["100", "8"]
    assert params["action"]["schema"]["enum"] == ["nxai"]


# --- the task list operation ----------------------------------------------------------------


def header_parameters(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    params = [resolve(document, p) for p in operation(document)["parameters"]]
    assert all(p["in"] == "header" for p in params)
    return {p["name"]: p for p in params}


def test_the_five_auth_headers_are_required(document: dict[str, Any]) -> None:
    params = header_parameters(document)
    for name in AUTH_HEADERS:
        assert params[name]["required"] is True
        assert params[name]["description"]
        assert params[name]["example"]
        assert params[name]["schema"]["type"] == "string"
    assert params["bizType"]["schema"]["enum"] == ["100"]
    assert params["action"]["schema"]["enum"] == ["nxai"]
    assert params["accessKey"]["example"] == "AK-6230339248928541113-2133"
    assert re.fullmatch(params["ts"]["schema"]["pattern"], params["ts"]["example"])
    assert re.fullmatch(params["sign"]["schema"]["pattern"], params["sign"]["example"])


def test_algorithm_header_is_optional_md5_or_sha256(document: dict[str, Any]) -> None:
    algorithm = header_parameters(document)["algorithm"]
    assert algorithm["required"] is False
    pattern = algorithm["schema"]["pattern"]
    for ok in ("md5", "MD5", "sha256", "SHA256", ""):
        assert re.fullmatch(pattern, ok)
    for bad in ("sha1", "md4", "sha-256"):
        assert not re.fullmatch(pattern, bad)
    assert algorithm["schema"]["default"] == "md5"


def test_request_body_fields(document: dict[str, Any]) -> None:
    op = operation(document)
    assert op["requestBody"]["required"] is False
    body = resolve(document, op["requestBody"]["content"]["application/json"]["schema"])
    assert body is schemas(document)["TaskListRequest"]
    assert body["type"] == "object"
    assert "required" not in body
    props = body["properties"]
    assert set(props) == REQUEST_FIELDS
    for name in INTEGER_FIELDS:
        branches = props[name]["oneOf"]
        integer = [b for b in branches if b.get("type") == "integer"]
        assert len(integer) == 1
        assert integer[0]["maximum"] <= 2_147_483_647
        assert any(b.get("pattern") == "^[+-]?[0-9]+$" for b in branches)
        assert any(b.get("const") == "" for b in branches)
        assert any(b.get("type") == "null" for b in branches)
        assert props[name]["x-rule"]
    for name in ("minCallsAnsweredRate", "maxCallsAnsweredRate"):
        number = next(b for b in props[name]["oneOf"] if b.get("type") == "number")
        assert (number["minimum"], number["maximum"]) == (0, 100)
        pattern = next(b["pattern"] for b in props[name]["oneOf"] if "pattern" in b)
        for ok in ("50", "50.5", "50.", ".5"):
            assert re.fullmatch(pattern, ok)
        for bad in ("", " 5", "1e2", "abc", "."):
            assert not re.fullmatch(pattern, bad)
    assert props["taskName"]["maxLength"] == 200
    assert types_of(props["taskName"]) == {"string", "null"}


def integer_branch(schema: dict[str, Any]) -> dict[str, Any]:
    branch: dict[str, Any] = next(b for b in schema["oneOf"] if b.get("type") == "integer")
    return branch


def test_request_ranges_and_defaults(document: dict[str, Any]) -> None:
    props = schemas(document)["TaskListRequest"]["properties"]
    assert props["pageNumber"]["default"] == 1
    assert integer_branch(props["pageNumber"])["minimum"] == 1
    assert props["pageSize"]["default"] == 10
    assert integer_branch(props["pageSize"])["minimum"] == 1
    assert integer_branch(props["pageSize"])["maximum"] == 1000
    assert integer_branch(props["taskStatus"])["minimum"] == 1
    assert integer_branch(props["taskStatus"])["maximum"] == 6
    for name in ("createStartTs", "createEndTs", "minTaskTotalQuantity", "maxTaskTotalQuantity"):
        assert integer_branch(props[name])["minimum"] == 0


def test_every_code_is_documented(document: dict[str, Any]) -> None:
    op = operation(document)
    codes = {item["code"]: item for item in op["x-codes"]}
    assert set(codes) == CODES
    for code in CODES:
        assert str(code) in op["description"]
    assert codes[0]["message"] == "success"
    for code in (1001, 1002, 1003, 1004, 1005):
        assert codes[code]["message"].startswith("Authentication failed (")
        assert codes[code]["message"] in op["description"]
    assert codes[1001]["message"].startswith("Authentication failed (missing public parameters)")
    assert codes[1002]["message"].startswith("Authentication failed (parameter error)")
    assert codes[1003]["message"] == "Authentication failed (invalid signature)"
    assert codes[1004]["message"].startswith("Authentication failed (timestamp expired)")
    assert codes[1005]["message"] == "Authentication failed (insufficient authority)"
    assert codes[20000]["message"].startswith("<field>: ")
    assert all(item["httpStatus"] == 200 for item in op["x-codes"])
    # checking order of conventions.md
    assert [item["code"] for item in op["x-codes"]] == [1001, 1002, 1004, 1005, 1003, 20000, 0]


def test_http_statuses_carry_the_envelope(document: dict[str, Any]) -> None:
    responses = operation(document)["responses"]
    assert set(responses) == HTTP_STATUSES
    ok = responses["200"]["content"]["application/json"]["schema"]
    assert {branch["$ref"].rsplit("/", 1)[-1] for branch in ok["oneOf"]} == {
        "TaskListResponse",
        "Error",
    }
    for status in HTTP_STATUSES - {"200"}:
        media = responses[status]["content"]["application/json"]
        assert media["schema"] == {"$ref": "#/components/schemas/Error"}
        assert media["example"]["code"] == 20000
        assert "X-Trace-Id" in responses[status]["headers"]
    assert "Retry-After" in responses["429"]["headers"]


def test_envelope_and_error_schemas(document: dict[str, Any]) -> None:
    envelope = schemas(document)["Envelope"]
    assert set(envelope["required"]) == {"code", "message", "traceId"}
    assert set(envelope["properties"]["code"]["enum"]) == CODES
    trace = envelope["properties"]["traceId"]
    assert trace["pattern"] == "^[0-9a-f]{32}$"
    assert re.fullmatch(trace["pattern"], "0123456789abcdef" * 2)
    assert not re.fullmatch(trace["pattern"], "0123456789ABCDEF" * 2)
    error = schemas(document)["Error"]
    assert set(error["required"]) == {"code", "message", "traceId"}
    assert set(error["properties"]["code"]["enum"]) == CODES - {0}


# --- the response shape ----------------------------------------------------------------------


def test_flat_envelope_puts_the_page_at_the_top_level() -> None:
    response = schemas(openapi_document(Settings(envelope="flat")))["TaskListResponse"]
    props = response["properties"]
    assert set(props) == {"code", "message", "traceId"} | PAGE_FIELDS
    assert set(response["required"]) == set(props)
    assert "data" not in props
    assert props["list"]["items"] == {"$ref": "#/components/schemas/Task"}
    assert set(response["examples"][0]) >= PAGE_FIELDS


def test_data_envelope_nests_the_page_under_data() -> None:
    response = schemas(openapi_document(Settings(envelope="data")))["TaskListResponse"]
    props = response["properties"]
    assert set(props) == {"code", "message", "traceId", "data"}
    assert set(response["required"]) == set(props)
    data = props["data"]
    assert data["type"] == "object"
    assert set(data["properties"]) == PAGE_FIELDS
    assert set(data["required"]) == PAGE_FIELDS
    assert data["properties"]["list"]["items"] == {"$ref": "#/components/schemas/Task"}
    example = response["examples"][0]
    assert PAGE_FIELDS.isdisjoint(example)
    assert set(example["data"]) >= PAGE_FIELDS


def test_success_is_code_zero(document: dict[str, Any]) -> None:
    props = schemas(document)["TaskListResponse"]["properties"]
    assert props["code"]["const"] == 0
    assert props["message"]["const"] == "success"
    assert props["traceId"]["pattern"] == "^[0-9a-f]{32}$"


def test_task_schema_has_every_key_required(document: dict[str, Any]) -> None:
    task = schemas(document)["Task"]
    assert set(task["properties"]) == TASK_KEYS
    assert set(task["required"]) == TASK_KEYS
    assert len(task["required"]) == len(TASK_KEYS)
    props = task["properties"]
    for key in TASK_KEYS - {"statInfo"}:
        nullable = "null" in types_of(props[key])
        assert nullable == (key in NULLABLE_TASK_KEYS), key
        assert props[key]["description"], key
    assert props["statInfo"]["$ref"] == "#/components/schemas/StatInfo"
    assert props["taskStatus"]["enum"] == [1, 2, 3, 4, 5, 6]
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
        assert props[key]["pattern"] == r"^[0-9]+\.[0-9]{2}%$"
        for ok in ("66.67%", "100.00%", "0.00%"):
            assert re.fullmatch(props[key]["pattern"], ok)
        for bad in ("66.7%", "66.67", "0.5", "66,67%"):
            assert not re.fullmatch(props[key]["pattern"], bad)
    for key in AVERAGES:
        assert types_of(props[key]) == {"integer", "null"}
    for key in STAT_INFO_KEYS - RATES - AVERAGES - {"taskId"}:
        assert types_of(props[key]) == {"integer"}, key
    assert set(stat["examples"][0]) == STAT_INFO_KEYS


# --- health probes ----------------------------------------------------------------------------


def test_health_probes(document: dict[str, Any]) -> None:
    healthz = document["paths"]["/healthz"]["get"]
    readyz = document["paths"]["/readyz"]["get"]
    for op in (healthz, readyz):
        assert op["security"] == []
        ok = op["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": "#/components/schemas/Envelope"}
        assert ok["example"]["code"] == 0
    assert "503" in readyz["responses"]
    assert "database" in readyz["responses"]["503"]["description"].lower()
    assert "503" not in healthz["responses"]
    for path in ("/healthz", "/readyz"):
        assert document["paths"][path]["servers"] == [{"url": "/", "description": "This server"}]


# --- the HTML page ----------------------------------------------------------------------------


def test_docs_html_shows_the_contract(document: dict[str, Any]) -> None:
    page = docs_html(document)
    assert page.startswith("<!doctype html>")
    assert "<style>" in page
    assert document["info"]["title"] in page
    for key in TASK_KEYS | STAT_INFO_KEYS | REQUEST_FIELDS:
        assert f"<code>{key}</code>" in page, key
    for code in CODES:
        assert f"<td>{code}</td>" in page, code
    for header in [*AUTH_HEADERS, "algorithm"]:
        assert f"<code>{header}</code>" in page
    for status in HTTP_STATUSES:
        assert f"<strong>{status}</strong>" in page
    assert "Authentication failed (invalid signature)" in page
    assert "&amp;accessSecret=&quot; + accessSecret" in page  # the recipe, escaped
    assert "TS=$(date +%s%3N)" in page
    assert "| md5sum | cut -d&#x27; &#x27; -f1" in page
    assert "&amp;body=$BODY&amp;accessSecret=$SECRET" in page
    assert "/healthz" in page
    assert "/readyz" in page
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


# --- the lifecycle endpoints ------------------------------------------------------------------

API = "/openapi/aiagent/"
LIFECYCLE = {
    "task/create": ("createTask", "tasks", "TaskCreateRequest", "TaskCreateResponse"),
    "call/append": ("appendContacts", "contacts", "CallAppendRequest", "CallAppendResponse"),
    "order/delete": ("deleteContact", "contacts", "OrderDeleteRequest", "OrderDeleteResponse"),
    "call/list": ("listCalls", "calls", "CallListRequest", "CallListResponse"),
    "flow/list": ("listFlows", "catalog", "FlowListRequest", "FlowListResponse"),
    "route/list": ("listRoutes", "catalog", "RouteListRequest", "RouteListResponse"),
    "task/start": ("startTask", "tasks", "TaskStartRequest", "TaskStateResponse"),
    "task/pause": ("pauseTask", "tasks", "TaskPauseRequest", "TaskStateResponse"),
}
# The key lists of the wire decisions, in their order.
REQUEST_KEYS = {
    "TaskCreateRequest": [
        "taskName", "autoFlowId", "routeId", "taskKeep", "startupType", "userTaskId", "other",
        "taskDesc", "startupAt", "shutdownAt", "maxCall", "maxRingTime", "orderMaxCall",
        "replayInterval", "taskCallbackUrl", "callCallbackUrl", "countryCode", "strategyId",
        "agentGroupId", "list",
    ],
    "CallAppendRequest": ["taskId", "userTaskId", "countryCode", "list"],
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
    "ContactParam": ["name"],
}
TASK_REF = {"CallAppendRequest", "OrderDeleteRequest", "TaskStartRequest", "TaskPauseRequest"}
CONTACT_KEYS = ["contactId", "phoneNumber", "name", "params", "other"]
CALL_RECORD_KEYS = [
    "id", "callId", "taskId", "userTaskId", "contactId", "autoFlowId", "autoFlowName",
    "calleePhone", "createTs", "callResult", "callElapsed", "userIntent", "callRingTime",
    "callStart", "callAnswer", "callEnd", "orderHead", "orderTail", "manualCallStatus",
    "manualElapsed",
]  # fmt: skip
FLOW_KEYS = ["autoFlowId", "autoFlowName", "variables", "createTs"]
ROUTE_KEYS = ["routeId", "routeName", "countryCode", "pricePerMinute", "createTs"]
TASK_STATUS_EVENT_KEYS = [
    "eventId", "eventType", "eventTs", "taskId", "userTaskId", "other", "autoFlowId",
    "autoFlowName", "taskName", "taskStatus", "pauseReason", "statInfo",
]  # fmt: skip
CALL_EVENT_KEYS = ["eventId", "eventType", "eventTs", "call"]
DATA_KEYS = {
    "TaskCreateResponse": ["taskId"],
    "CallAppendResponse": ["taskId", "count"],
    "OrderDeleteResponse": ["taskId", "contactId"],
    "TaskStateResponse": ["taskId", "taskStatus", "pauseReason"],
}
PAGED = {
    "CallListResponse": ("CallRecord", 10),
    "FlowListResponse": ("Flow", 10),
    "RouteListResponse": ("Route", 100),
}
CALL_RESULTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 21]
# Every fixed message of the wire decisions, by endpoint.
REFUSALS = {
    "task/create": [
        "startupAt: required when startupType is 2",
        "shutdownAt: must be after startupAt (<shutdownAt> <= <startupAt>)",
        "taskCallbackUrl: must be an http(s) URL, got ...",
        "autoFlowId: no flow <n> in this account",
        "routeId: no route '<id>' in this account",
        "userTaskId: '<id>' is already used by task <taskId>",
        "Duplicate contactIds are not allowed: <id>",
        "list: at most 10000 contacts, got <n>",
    ],
    "call/append": [
        "taskId: required (or userTaskId)",
        "taskId: no task '<id>' in this account",
        "list: must not be empty",
        "list: must be an array",
        "list: at most 10000 contacts, got <n>",
        'list[<i>].phoneNumber: must be digits with an optional leading +, got "<value>"',
        "Duplicate contactIds are not allowed: <id>",
        "taskId: task <taskId> is completed (taskKeep 0) and takes no more contacts",
        "taskId: task <taskId> has failed and takes no more contacts",
        "... and <n> more",
    ],
    "order/delete": [
        "taskId: required (or userTaskId)",
        "contactId: '<id>' has been dialled and cannot be deleted",
        "contactId: no contact '<id>' in task <taskId>",
    ],
    "call/list": ["pageSize: at most 1000, got <n>"],
    "flow/list": ["pageSize: at most 1000, got <n>"],
    "route/list": ["pageSize: at most 1000, got <n>"],
    "task/start": [
        "taskId: required (or userTaskId)",
        "taskStatus: task <id> is paused for insufficient balance; top up the account",
        "taskStatus: task <id> is completed",
        "taskStatus: task <id> has failed",
    ],
    "task/pause": [
        "taskId: required (or userTaskId)",
        "taskStatus: only an in-progress task can be paused (task <id> is <status word>)",
    ],
}


def check(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> None:
    """A small JSON Schema check of the keywords the document uses, for its own examples."""
    schema = resolve(document, schema)
    if "oneOf" in schema:
        matches = 0
        for branch in schema["oneOf"]:
            try:
                check(document, branch, value, where)
            except AssertionError:
                continue
            matches += 1
        assert matches == 1, f"{where}: {value!r} matches {matches} branches of oneOf"
    if "anyOf" in schema:
        assert any(
            all(name in value for name in branch.get("required", [])) for branch in schema["anyOf"]
        ), f"{where}: none of anyOf"
    if "const" in schema:
        assert value == schema["const"] and type(value) is type(schema["const"]), where
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    kinds = types_of(schema)
    if kinds:
        actual = {
            bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null",
        }[type(value)]  # fmt: skip
        ok = actual in kinds or (actual == "integer" and "number" in kinds)
        assert ok, f"{where}: {value!r} is {actual}, not {sorted(kinds)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            assert value >= schema["minimum"], where
        if "maximum" in schema:
            assert value <= schema["maximum"], where
    if isinstance(value, str):
        if "minLength" in schema:
            assert len(value) >= schema["minLength"], where
        if "maxLength" in schema:
            assert len(value) <= schema["maxLength"], where
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), f"{where}: {value!r} !~ {schema['pattern']}"
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0), where
        assert len(value) <= schema.get("maxItems", len(value)), where
        for i, item in enumerate(value):
            check(document, schema.get("items", {}), item, f"{where}[{i}]")
    if isinstance(value, dict) and "properties" in schema:
        for name in schema.get("required", []):
            assert name in value, f"{where}: {name} missing"
        for name, item in value.items():
            if name in schema.get("properties", {}):
                check(document, schema["properties"][name], item, f"{where}.{name}")
            else:
                assert schema.get("additionalProperties", False), f"{where}: unexpected {name}"


def test_every_lifecycle_endpoint_is_a_signed_post(document: dict[str, Any]) -> None:
    task_list = operation(document)
    for name, (operation_id, tag, request, response) in LIFECYCLE.items():
        item = document["paths"][API + name]
        assert list(item) == ["post"], name
        op = item["post"]
        assert op["operationId"] == operation_id
        assert op["tags"] == [tag]
        assert op["summary"]
        assert op["security"] == [{"nxlinkSignature": []}]
        assert op["parameters"] == task_list["parameters"]
        assert op["x-codes"] == task_list["x-codes"]
        assert set(op["responses"]) == HTTP_STATUSES
        body = op["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": f"#/components/schemas/{request}"}
        ok = op["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {
            "oneOf": [
                {"$ref": f"#/components/schemas/{response}"},
                {"$ref": "#/components/schemas/Error"},
            ]
        }
        assert ok["examples"]["success"]["value"]["code"] == 0
        assert ok["examples"]["code20000"]["value"]["code"] == 20000
        for status in HTTP_STATUSES - {"200"}:
            media = op["responses"][status]["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Error"}
        assert (
            API + name
            in op["responses"]["404"]["content"]["application/json"]["example"]["message"]
        )
    assert {tag["name"] for tag in document["tags"]} >= {"tasks", "contacts", "calls", "catalog"}


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
    assert list(schemas(document)["ContactParam"]["properties"]) == ["name", "value"]
    assert schemas(document)["ContactParam"]["required"] == REQUIRED["ContactParam"]


def test_request_field_rules(document: dict[str, Any]) -> None:
    create = schemas(document)["TaskCreateRequest"]["properties"]
    assert (create["taskName"]["minLength"], create["taskName"]["maxLength"]) == (1, 200)
    assert integer_branch(create["autoFlowId"])["minimum"] == 1
    assert (create["routeId"]["minLength"], create["routeId"]["maxLength"]) == (1, 64)
    limits = {
        "taskKeep": (0, 1), "startupType": (0, 3), "maxCall": (0, 1000), "maxRingTime": (0, 300),
        "orderMaxCall": (1, 10), "replayInterval": (0, 604_800), "startupAt": (0, 2_147_483_647),
        "shutdownAt": (0, 2_147_483_647),
    }  # fmt: skip
    for key, (low, high) in limits.items():
        branch = integer_branch(create[key])
        assert (branch["minimum"], branch["maximum"]) == (low, high), key
    required_ints = {"autoFlowId", "taskKeep", "startupType"}
    for key in limits.keys() | required_ints:
        not_set = any(b.get("type") == "null" for b in create[key]["oneOf"])
        assert not_set == (key not in required_ints), key
    assert create["orderMaxCall"]["default"] == 1
    assert create["replayInterval"]["default"] == 300
    for key, length in {
        "userTaskId": 64, "other": 4096, "taskDesc": 1000, "strategyId": 64,
        "agentGroupId": 64, "taskCallbackUrl": 2048, "callCallbackUrl": 2048,
    }.items():  # fmt: skip
        assert create[key]["maxLength"] == length, key
        assert types_of(create[key]) == {"string", "null"}, key
    for key in ("taskCallbackUrl", "callCallbackUrl"):
        pattern = create[key]["pattern"]
        assert re.search(pattern, "https://example.com/x")
        assert re.search(pattern, "http://127.0.0.1:9000/")
        assert not re.search(pattern, "ftp://example.com/")
        assert f"{key}: must be an http(s) URL, got ..." in create[key]["description"]
    country = create["countryCode"]["pattern"]
    for ok in ("852", "+852", "1", "+1234"):
        assert re.fullmatch(country, ok)
    for bad in ("", "+", "12345", "85a"):
        assert not re.fullmatch(country, bad)
    assert create["list"]["maxItems"] == 10_000
    append = schemas(document)["CallAppendRequest"]["properties"]["list"]
    assert (append["minItems"], append["maxItems"]) == (1, 10_000)
    assert append["items"] == {"$ref": "#/components/schemas/Contact"}
    contact = schemas(document)["Contact"]["properties"]
    phone = contact["phoneNumber"]["pattern"]
    for ok in ("123", "+85291234567", "0" * 20):
        assert re.fullmatch(phone, ok)
    for bad in ("12", "12a", "+", "0" * 21, "++123", "852 9123"):
        assert not re.fullmatch(phone, bad)
    assert [b["type"] for b in contact["contactId"]["oneOf"]] == ["string", "integer"]
    assert (contact["name"]["maxLength"], contact["other"]["maxLength"]) == (200, 4096)
    assert contact["params"]["items"] == {"$ref": "#/components/schemas/ContactParam"}
    param = schemas(document)["ContactParam"]["properties"]
    assert (param["name"]["minLength"], param["name"]["maxLength"]) == (1, 64)
    assert [b["type"] for b in param["value"]["oneOf"]] == ["string", "number", "null"]
    calls = schemas(document)["CallListRequest"]["properties"]
    assert integer_branch(calls["callResult"])["enum"] == CALL_RESULTS
    assert integer_branch(calls["pageSize"])["maximum"] == 1000
    assert calls["pageSize"]["default"] == 10
    assert schemas(document)["FlowListRequest"]["properties"]["pageSize"]["default"] == 10
    assert schemas(document)["RouteListRequest"]["properties"]["pageSize"]["default"] == 100
    start = schemas(document)["TaskStartRequest"]["properties"]["startupBy"]
    assert start["maxLength"] == 64


def test_item_and_event_schemas_have_the_wire_keys_in_order(document: dict[str, Any]) -> None:
    expected = {
        "CallRecord": CALL_RECORD_KEYS,
        "Flow": FLOW_KEYS,
        "Route": ROUTE_KEYS,
        "TaskStatusEvent": TASK_STATUS_EVENT_KEYS,
        "CallEvent": CALL_EVENT_KEYS,
    }
    for name, keys in expected.items():
        schema = schemas(document)[name]
        assert list(schema["properties"]) == keys, name
        assert schema["required"] == keys, name
        assert list(schema["examples"][0]) == keys, name
    call = schemas(document)["CallRecord"]["properties"]
    nullable = {key for key in CALL_RECORD_KEYS if "null" in types_of(call[key])}
    assert nullable == {"callAnswer", "manualCallStatus", "manualElapsed"}
    assert call["callResult"]["enum"] == CALL_RESULTS
    assert call["manualCallStatus"]["enum"] == [1, 2, None]
    assert call["orderHead"]["enum"] == call["orderTail"]["enum"] == [0, 1]
    for key in ("callId", "taskId", "userTaskId", "contactId", "autoFlowName", "calleePhone",
                "userIntent"):  # fmt: skip
        assert types_of(call[key]) == {"string"}, key
    assert schemas(document)["Flow"]["properties"]["variables"]["items"] == {"type": "string"}
    assert types_of(schemas(document)["Route"]["properties"]["pricePerMinute"]) == {"integer"}
    status = schemas(document)["TaskStatusEvent"]["properties"]
    assert status["eventType"]["const"] == "task.status"
    assert status["statInfo"]["$ref"] == "#/components/schemas/StatInfo"
    event = schemas(document)["CallEvent"]["properties"]
    assert event["eventType"]["const"] == "call.completed"
    assert event["call"]["$ref"] == "#/components/schemas/CallRecord"
    for props in (status, event):
        assert re.fullmatch(props["eventId"]["pattern"], "0123456789abcdef" * 2)


def test_data_responses(document: dict[str, Any]) -> None:
    for name, keys in DATA_KEYS.items():
        schema = schemas(document)[name]
        props = schema["properties"]
        assert list(props) == ["code", "message", "traceId", "data"], name
        assert schema["required"] == list(props)
        assert props["code"]["const"] == 0
        assert list(props["data"]["properties"]) == keys, name
        assert props["data"]["required"] == keys, name
        assert list(schema["examples"][0]["data"]) == keys, name
    state = schemas(document)["TaskStateResponse"]["properties"]["data"]["properties"]
    assert state["pauseReason"]["enum"] == [1, 2, 3, None]


def test_paged_responses_follow_the_envelope_setting() -> None:
    for envelope in ("flat", "data"):
        document = openapi_document(Settings(envelope=envelope))
        for name, (item, size) in PAGED.items():
            schema = schemas(document)[name]
            props = schema["properties"]
            example = schema["examples"][0]
            if envelope == "flat":
                assert list(props) == ["code", "message", "traceId", "total", "pageNumber",
                                       "pageSize", "list"]  # fmt: skip
                page, page_example = props, example
            else:
                assert list(props) == ["code", "message", "traceId", "data"]
                page, page_example = props["data"]["properties"], example["data"]
                assert set(props["data"]["required"]) == PAGE_FIELDS
                assert PAGE_FIELDS.isdisjoint(example)
            assert page["list"]["items"] == {"$ref": f"#/components/schemas/{item}"}
            assert page_example["pageSize"] == size
            assert len(page_example["list"]) == page_example["total"] == 1


def test_task_create_declares_both_callbacks(document: dict[str, Any]) -> None:
    create = document["paths"][API + "task/create"]["post"]
    callbacks = create["callbacks"]
    assert set(callbacks) == {"taskStatus", "callCompleted"}
    for name, field, schema in (
        ("taskStatus", "taskCallbackUrl", "TaskStatusEvent"),
        ("callCompleted", "callCallbackUrl", "CallEvent"),
    ):
        (expression, item), *rest = callbacks[name].items()
        assert not rest
        assert expression == "{$request.body#/" + field + "}"
        post = item["post"]
        media = post["requestBody"]["content"]["application/json"]
        assert media["schema"] == {"$ref": f"#/components/schemas/{schema}"}
        check(document, media["schema"], media["example"])
        headers = {p["name"]: p for p in post["parameters"]}
        assert list(headers) == [*AUTH_HEADERS, "X-Nxlink-Event-Id"]
        assert all(p["required"] and p["in"] == "header" for p in headers.values())
        assert headers["X-Nxlink-Event-Id"]["example"] == media["example"]["eventId"]
        body = json.dumps(media["example"], ensure_ascii=False, separators=(",", ":")).encode()
        assert headers["sign"]["example"] == sign_md5(
            headers["accessKey"]["example"], "s3cr3t-Example", headers["ts"]["example"], body
        )
        assert set(post["responses"]) == {"2XX", "default"}
        for piece in ("+10 s", "+2430 s", "7 tries", "10 s", "X-Nxlink-Event-Id", "2xx"):
            assert piece in post["description"], piece
    for other in set(LIFECYCLE) - {"task/create"}:
        assert "callbacks" not in document["paths"][API + other]["post"]


def test_refusals_name_every_fixed_message(document: dict[str, Any]) -> None:
    for name, messages in REFUSALS.items():
        op = document["paths"][API + name]["post"]
        listed = [item["message"] for item in op["x-refusals"]]
        for message in messages:
            assert message in listed, (name, message)
        assert all(item["when"] for item in op["x-refusals"])
        example = op["responses"]["200"]["content"]["application/json"]["examples"]["code20000"]
        assert re.fullmatch(r"[A-Za-z]+(\[\d+\]\.[A-Za-z]+)?: .+", example["value"]["message"])


def test_every_example_agrees_with_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for name, schema in schemas(document).items():
        for example in schema.get("examples", []):
            check(document, schema, example, name)
            checked += 1
        for key, prop in schema.get("properties", {}).items():
            for example in prop.get("examples", []):
                check(document, prop, example, f"{name}.{key}")
                checked += 1
    for name in LIFECYCLE:
        op = document["paths"][API + name]["post"]
        body = op["requestBody"]["content"]["application/json"]
        for example in body["examples"].values():
            check(document, body["schema"], example["value"], name)
        ok = op["responses"]["200"]["content"]["application/json"]
        for example in ok["examples"].values():
            check(document, ok["schema"], example["value"], name)
    assert checked > 100


def test_the_checker_refuses_what_the_schemas_refuse(document: dict[str, Any]) -> None:
    contact = {"$ref": "#/components/schemas/Contact"}
    check(document, contact, {"contactId": 7, "phoneNumber": "+85291234567"})
    for bad in (
        {"contactId": "c-1"},
        {"contactId": "c-1", "phoneNumber": "12a"},
        {"contactId": "", "phoneNumber": "123"},
        {"contactId": True, "phoneNumber": "123"},
        {"contactId": "c-1", "phoneNumber": "123", "params": [{"value": "x"}]},
    ):
        with pytest.raises(AssertionError):
            check(document, contact, bad)
    with pytest.raises(AssertionError):
        check(document, {"$ref": "#/components/schemas/TaskPauseRequest"}, {})
    with pytest.raises(AssertionError):
        check(document, {"$ref": "#/components/schemas/CallRecord"}, {"id": 1})


def test_docs_html_shows_the_lifecycle_endpoints(document: dict[str, Any]) -> None:
    page = docs_html(document)
    for name, (_, _, request, response) in LIFECYCLE.items():
        assert f"<code>{API}{name}</code>" in page, name
        assert f'href="#schema-{request.lower()}"' in page, request
        assert f'href="#schema-{response.lower()}"' in page, response
    for keys in (*REQUEST_KEYS.values(), CONTACT_KEYS, CALL_RECORD_KEYS, FLOW_KEYS, ROUTE_KEYS,
                 TASK_STATUS_EVENT_KEYS, CALL_EVENT_KEYS):  # fmt: skip
        for key in keys:
            assert f"<code>{key}</code>" in page, key
    for name in ("TaskStatusEvent", "CallEvent", "CallRecord", "Flow", "Route", "Contact"):
        assert f'<section id="schema-{name.lower()}">' in page, name
    assert page.count("<h3>Callbacks</h3>") == 1
    assert "<code>{$request.body#/taskCallbackUrl}</code>" in page
    assert "<code>{$request.body#/callCallbackUrl}</code>" in page
    assert "<code>X-Nxlink-Event-Id</code>" in page
    assert page.count("<h3>Refusals of this endpoint (code 20000)</h3>") == len(LIFECYCLE)
    assert page.count("<h3>Result codes</h3>") == len(LIFECYCLE)
    assert "<td>one of taskId, userTaskId</td>" in page
    assert "<code>Duplicate contactIds are not allowed: &lt;id&gt;</code>" in page
    assert "nxlink api flow/list" in page


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
