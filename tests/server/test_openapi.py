"""The OpenAPI document and its HTML page describe the contract of ``task-list.md``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from nxlink.server.openapi import docs_html, openapi_document
from nxlink.server.settings import Settings

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
