"""The OpenAPI 3.1 description of this server, and a self-contained HTML page rendered from it.

``openapi_document(settings)`` describes the wire contract of ``/work/shared/spec`` (the task
list, the auth headers and signature, the envelope, the result codes, the health probes) as the
running server answers it: where the page fields sit depends on ``settings.envelope``, and the
body limit, timestamp window and accepted ``bizType``/``action`` values come from the settings.
``docs_html(document)`` turns that document into one offline HTML page (no scripts, no external
fonts or stylesheets).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any, Final

from nxlink import __version__
from nxlink.contract.codes import Code
from nxlink.server.settings import Settings

Json = dict[str, Any]

TASK_LIST_PATH: Final = "/openapi/aiagent/task/list"
SCHEMA_REF: Final = "#/components/schemas/"
INT32_MAX: Final = 2_147_483_647
TRACE_ID_PATTERN: Final = "^[0-9a-f]{32}$"
RATE_PATTERN: Final = r"^[0-9]+\.[0-9]{2}%$"
INTEGER_STRING_PATTERN: Final = "^[+-]?[0-9]+$"
NUMBER_STRING_PATTERN: Final = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"

VENDOR_SERVERS: Final[tuple[tuple[str, str], ...]] = (
    ("https://api-hk.nxlink.ai", "NXLink APAC (Hong Kong)"),
    ("https://chl-api.nxlink.ai", "NXLink AMER (Americas)"),
    ("https://api-idn.nxlink.ai", "NXLink APAC (Indonesia)"),
)

EXAMPLE_ACCESS_KEY: Final = "AK-6230339248928541113-2133"
EXAMPLE_SECRET: Final = "s3cr3t-Example"
EXAMPLE_TS: Final = "1746583929000"
EXAMPLE_BODY: Final = '{"pageNumber":1,"pageSize":10}'
EXAMPLE_SIGN_MD5: Final = "7cfd76c3dff9eadb89caeee037d768ad"
EXAMPLE_SIGN_SHA256: Final = "5c6554918de76f9536274f17892326bcb2c40c1132ebe6e64596e24b941b286b"
EXAMPLE_TRACE_ID: Final = "3287f5aab8db4dd797b003fabac2f4c7"

SIGNATURE_RECIPE: Final = """\
pre  = "accessKey=" + accessKey + "&action=" + action + "&bizType=" + bizType + "&ts=" + ts
if raw body is not empty:  pre += "&body=" + raw body, byte for byte as sent
pre += "&accessSecret=" + accessSecret
sign = lowercase hex( md5( utf8(pre) ) )      # sha256 when algorithm: sha256"""

SIGNATURE_RULES: Final = """\
- The header values in `pre` are the values the request carries, not the expected ones.
- The body is never re-serialised before hashing: whitespace and key order matter.
- An empty body adds no `&body=` part. `{}` is a non-empty body and is signed as `&body={}`; for \
a body that is exactly `{}`, a signature made without the `&body=` part is accepted too.
- The server compares digests in constant time and never returns the expected pre-image."""

SIGNATURE_HEADING: Final = "Authentication: the signature"

TASK_STATUS_TEXT: Final = (
    "1 ready, 2 in progress, 3 completed, 4 failed, 5 paused, 6 paused: insufficient balance"
)


def _codes(settings: Settings) -> list[Json]:
    """The result codes in checking order (``conventions.md``): the first failure answers."""
    return [
        {
            "code": int(Code.MISSING_PARAMETERS),
            "httpStatus": 200,
            "when": "a required header is missing or empty",
            "message": "Authentication failed (missing public parameters): <header names>",
        },
        {
            "code": int(Code.PARAMETER_ERROR),
            "httpStatus": 200,
            "when": "`ts` is not decimal digits, `bizType` is not "
            + _accepted_text(["100", *settings.extra_biz_types])
            + ", `action` is not "
            + _accepted_text(["nxai", *settings.extra_actions])
            + ", `algorithm` is unknown",
            "message": "Authentication failed (parameter error): <what and why>",
        },
        {
            "code": int(Code.TIMESTAMP_EXPIRED),
            "httpStatus": 200,
            "when": f"`ts` outside the window (more than {settings.timestamp_window_ms} ms "
            "from the server clock, either direction)",
            "message": "Authentication failed (timestamp expired): server time <ms>",
        },
        {
            "code": int(Code.INSUFFICIENT_AUTHORITY),
            "httpStatus": 200,
            "when": "`accessKey` unknown, revoked, or its account disabled",
            "message": "Authentication failed (insufficient authority)",
        },
        {
            "code": int(Code.INVALID_SIGNATURE),
            "httpStatus": 200,
            "when": "`sign` does not match",
            "message": "Authentication failed (invalid signature)",
        },
        {
            "code": int(Code.BUSINESS_ERROR),
            "httpStatus": 200,
            "when": "the body is not a JSON object, or a field breaks the endpoint's rules "
            "(one message may list several fields)",
            "message": "<field>: <what is wrong>",
        },
        {
            "code": int(Code.SUCCESS),
            "httpStatus": 200,
            "when": "success",
            "message": "success",
        },
    ]


def _accepted_text(values: list[str]) -> str:
    quoted = [f"`{value}`" for value in dict.fromkeys(values)]
    if len(quoted) == 1:
        return quoted[0]
    return "one of " + ", ".join(quoted)


def _http_statuses(settings: Settings) -> list[tuple[int, str, str]]:
    """HTTP statuses outside the contract: (status, when, example message); code is 20000."""
    limit = settings.max_body_bytes
    return [
        (404, "unknown path", f"no such endpoint: POST {TASK_LIST_PATH}x"),
        (405, "wrong method", f"method GET not allowed for {TASK_LIST_PATH}; use POST"),
        (
            413,
            f"body over the limit of {limit} bytes",
            f"body: larger than the limit of {limit} bytes",
        ),
        (
            415,
            "a `Content-Type` whose media type is not `application/json` (a missing one is "
            "accepted)",
            "Content-Type: must be application/json, got 'text/plain'",
        ),
        (429, "rate limited; retry after `Retry-After` seconds", "rate limited"),
        (500, "internal error (no stack trace is returned)", "internal error"),
        (503, "not ready (the database cannot be reached)", "database not ready"),
    ]


def _ref(name: str) -> Json:
    return {"$ref": SCHEMA_REF + name}


def _int(description: str, *, fmt: str = "int32", minimum: int | None = 0, **extra: Any) -> Json:
    schema: Json = {"type": "integer", "format": fmt, "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    schema.update(extra)
    return schema


def _nullable_int(description: str, *, fmt: str = "int64", **extra: Any) -> Json:
    schema: Json = {"type": ["integer", "null"], "format": fmt, "description": description}
    schema.update(extra)
    return schema


def _str(description: str, **extra: Any) -> Json:
    schema: Json = {"type": "string", "description": description}
    schema.update(extra)
    return schema


def _rate(description: str) -> Json:
    return {
        "type": ["string", "null"],
        "pattern": RATE_PATTERN,
        "description": description
        + "; a percentage with two decimals and `%`, rounded half up; null when the "
        "denominator is 0",
        "examples": ["66.67%", None],
    }


def _coerced_int(
    description: str,
    *,
    rule: str,
    filter_text: str,
    minimum: int,
    maximum: int = INT32_MAX,
    default: int | None = None,
    example: int | None = None,
) -> Json:
    """An integer request field: also a numeric string, and ``""``/null for "not set"."""
    schema: Json = {
        "description": description,
        "x-rule": rule,
        "x-filter": filter_text,
        "oneOf": [
            {"type": "integer", "format": "int32", "minimum": minimum, "maximum": maximum},
            {
                "type": "string",
                "pattern": INTEGER_STRING_PATTERN,
                "description": "decimal digits (optional sign), no whitespace, no exponent; "
                "the same range applies",
            },
            {"type": "string", "const": "", "description": "not set"},
            {"type": "null", "description": "not set"},
        ],
    }
    if default is not None:
        schema["default"] = default
    if example is not None:
        schema["examples"] = [example]
    return schema


def _coerced_number(description: str, *, rule: str, filter_text: str, example: float) -> Json:
    """A rate filter: a number 0–100, also a decimal string, and ``""``/null for "not set"."""
    return {
        "description": description,
        "x-rule": rule,
        "x-filter": filter_text,
        "oneOf": [
            {"type": "number", "minimum": 0, "maximum": 100},
            {
                "type": "string",
                "pattern": NUMBER_STRING_PATTERN,
                "description": "a decimal number, no whitespace, no exponent; the same range "
                "applies",
            },
            {"type": "string", "const": "", "description": "not set"},
            {"type": "null", "description": "not set"},
        ],
        "examples": [example],
    }


def _task_list_request_schema() -> Json:
    return {
        "type": "object",
        "description": 'Every field is optional; `null`, `""` and an absent key all mean '
        '"not set". Unknown fields are ignored (an incoming `tenantId` or `saasUserId` '
        "cannot widen the result beyond the caller's account). Several bad fields are "
        "reported in one 20000 message. Integer fields are 32-bit signed and also take a JSON "
        'number with no fraction (`10.0`, `1e2`) or a string of digits (`"10"`); booleans, '
        "fractions, non-numeric strings, arrays, objects and NaN/Infinity are refused.",
        "additionalProperties": True,
        "properties": {
            "taskName": {
                "type": ["string", "null"],
                "maxLength": 200,
                "description": "Task name contains it, case-insensitive for every Unicode letter "
                "(`Ä` finds `ä`); `%` and `_` are literal.",
                "x-rule": "at most 200 characters",
                "x-filter": "task name contains it, case-insensitive",
                "examples": ["Marketing-Task-2023"],
            },
            "taskStatus": _coerced_int(
                f"Task status: {TASK_STATUS_TEXT}.",
                rule="1–6",
                filter_text="equal",
                minimum=1,
                maximum=6,
                example=1,
            ),
            "createStartTs": _coerced_int(
                "Creation time from, epoch seconds (inclusive). A value of 10^11 or more is "
                "refused as looking like milliseconds.",
                rule="≥ 0, epoch seconds",
                filter_text="createTs >= createStartTs",
                minimum=0,
                example=1746583929,
            ),
            "createEndTs": _coerced_int(
                "Creation time to, epoch seconds (inclusive); not below `createStartTs`.",
                rule="≥ 0, ≥ createStartTs, epoch seconds",
                filter_text="createTs <= createEndTs",
                minimum=0,
                example=1746583929,
            ),
            "minCallsAnsweredRate": _coerced_number(
                "Lowest answer rate in percent (answerCallCount / totalCallCount × 100, compared "
                "exactly). Tasks with no calls are left out when either rate bound is set.",
                rule="0.0–100.0",
                filter_text="answer rate >= it",
                example=50.0,
            ),
            "maxCallsAnsweredRate": _coerced_number(
                "Highest answer rate in percent; not below `minCallsAnsweredRate`.",
                rule="0.0–100.0, ≥ minCallsAnsweredRate",
                filter_text="answer rate <= it",
                example=100.0,
            ),
            "minTaskTotalQuantity": _coerced_int(
                "Fewest contacts in the task (`statInfo.totalOrderCount`).",
                rule="≥ 0",
                filter_text="totalOrderCount >= it",
                minimum=0,
                example=100,
            ),
            "maxTaskTotalQuantity": _coerced_int(
                "Most contacts in the task; not below `minTaskTotalQuantity`.",
                rule="≥ 0, ≥ minTaskTotalQuantity",
                filter_text="totalOrderCount <= it",
                minimum=0,
                example=1000,
            ),
            "pageNumber": _coerced_int(
                "1-based page number. Default is 1.",
                rule="≥ 1, default 1",
                filter_text="1-based page",
                minimum=1,
                default=1,
                example=1,
            ),
            "pageSize": _coerced_int(
                "Rows per page. Default is 10, maximum is 1000 (larger is refused with "
                "`pageSize: at most 1000`, not clamped).",
                rule="1–1000, default 10",
                filter_text="rows per page",
                minimum=1,
                maximum=1000,
                default=10,
                example=10,
            ),
        },
        "examples": [
            {
                "createStartTs": 1746583929,
                "createEndTs": 1746583929,
                "minCallsAnsweredRate": "",
                "maxCallsAnsweredRate": "",
                "minTaskTotalQuantity": "",
                "maxTaskTotalQuantity": "",
                "pageNumber": 1,
                "pageSize": 10,
            }
        ],
    }


def _stat_info_example() -> Json:
    return {
        "id": 72,
        "taskId": "52145b00-abc9-4a87-94c2-ed1e1e42ec1c",
        "autoFlowId": 158,
        "answerOrderCount": 1,
        "finishOrderCount": 2,
        "totalOrderCount": 3,
        "dialedOrderCount": 3,
        "totalCallElapsed": 95,
        "answerCallCount": 2,
        "totalCallCount": 3,
        "manualElapsed": 30,
        "manualAnswerCount": 1,
        "manualFailCount": 0,
        "createTs": 1731663717,
        "answerRate": "66.67%",
        "dialProgress": "100.00%",
        "finishRate": "66.67%",
        "manualAnswerRate": "100.00%",
        "avgCallDuration": 47,
        "avgManualDuration": 30,
    }


def _task_example() -> Json:
    return {
        "id": 74,
        "taskId": "52145b00-abc9-4a87-94c2-ed1e1e42ec1c",
        "saasUserId": 203,
        "userTaskId": "",
        "other": "task-batch-20260325",
        "autoFlowId": 158,
        "autoFlowName": "Renewal reminder",
        "taskStatus": 2,
        "pauseReason": None,
        "taskName": "update_task_name_xxx1",
        "taskDesc": "update_task_desc_xxx2",
        "taskKeep": 0,
        "startupType": 2,
        "startupAt": 1731581880,
        "shutdownAt": None,
        "startupBy": "",
        "routeId": "CJq6rtX2lg",
        "maxCall": 0,
        "importType": 0,
        "funcFlag": 0,
        "maxRingTime": 0,
        "strategyId": "",
        "agentGroupId": "",
        "taskCallbackUrl": "",
        "createTs": 1731663717,
        "statInfo": _stat_info_example(),
        "orderMaxCall": None,
        "replayInterval": None,
    }


def _task_schema() -> Json:
    properties: Json = {
        "id": _int("Internal row id.", fmt="int64", minimum=1),
        "taskId": _str("Task id: a UUID assigned at creation.", format="uuid"),
        "saasUserId": _int("The owning account.", fmt="int64", minimum=1),
        "userTaskId": _str('The caller\'s own id; `""` when not given.'),
        "other": _str("Pass-through from creation, returned unchanged."),
        "autoFlowId": _int("AI agent (bot) id.", fmt="int64"),
        "autoFlowName": _str("AI agent (bot) name."),
        "taskStatus": _int(
            f"Task status: {TASK_STATUS_TEXT}.", minimum=None, enum=[1, 2, 3, 4, 5, 6]
        ),
        "pauseReason": _nullable_int(
            "Set while the status is 5 or 6, else null: 1 user, 2 scheduled shutdown, "
            "3 insufficient balance.",
            fmt="int32",
            enum=[1, 2, 3, None],
        ),
        "taskName": _str("Task name."),
        "taskDesc": _str("Task description."),
        "taskKeep": _int(
            "0 ends when all contacts are done, 1 stays open for appended contacts.",
            minimum=None,
            enum=[0, 1],
        ),
        "startupType": _int(
            "Startup type: 0 none, 1 manual, 2 scheduled, 3 immediate.",
            minimum=None,
            enum=[0, 1, 2, 3],
        ),
        "startupAt": _nullable_int("Scheduled start, epoch seconds (startupType 2)."),
        "shutdownAt": _nullable_int("Scheduled pause, epoch seconds (startupType 2)."),
        "startupBy": _str("Who started it (startupType 1)."),
        "routeId": _str("Call route id."),
        "maxCall": _int("Maximum concurrent calls; 0 = account default."),
        "importType": _int(
            "How contacts were imported: 0 API, 1 file, 2 console.",
            minimum=None,
            enum=[0, 1, 2],
        ),
        "funcFlag": _int("Feature bit set; 0 when none."),
        "maxRingTime": _int("Ring time in seconds; 0 = route default."),
        "strategyId": _str("Strategy id."),
        "agentGroupId": _str('Human agent group for transfers; `""` when none.'),
        "taskCallbackUrl": _str("Task status callback URL."),
        "createTs": _int("Creation time, epoch seconds.", fmt="int64"),
        "statInfo": {**_ref("StatInfo"), "description": "The task's statistics; never null."},
        "orderMaxCall": _nullable_int("Call attempts per contact."),
        "replayInterval": _nullable_int("Seconds between attempts on one contact."),
    }
    return {
        "type": "object",
        "description": 'Every key is always present; a value never set is null or `""` as '
        "each key says.",
        "required": list(properties),
        "properties": properties,
        "examples": [_task_example()],
    }


def _stat_info_schema() -> Json:
    properties: Json = {
        "id": _int("Internal row id of the statistics row.", fmt="int64", minimum=1),
        "taskId": _str("Copy of the task's `taskId`.", format="uuid"),
        "autoFlowId": _int("Copy of the task's `autoFlowId`.", fmt="int64"),
        "answerOrderCount": _int("Finished contacts with at least one answered call."),
        "finishOrderCount": _int("Contacts that will not be called again."),
        "totalOrderCount": _int("Contacts imported (minus deleted ones)."),
        "dialedOrderCount": _int("Contacts whose first call attempt has completed."),
        "totalCallElapsed": _int("Seconds of talk, all answered calls."),
        "answerCallCount": _int("Completed calls that were answered."),
        "totalCallCount": _int("Completed calls."),
        "manualElapsed": _int("Seconds of human talk."),
        "manualAnswerCount": _int("Transfers to a human that were answered."),
        "manualFailCount": _int("Transfers to a human that failed."),
        "createTs": _int("Copy of the task's `createTs`, epoch seconds.", fmt="int64"),
        "answerRate": _rate("answerCallCount / totalCallCount"),
        "dialProgress": _rate("dialedOrderCount / totalOrderCount"),
        "finishRate": _rate("finishOrderCount / totalOrderCount"),
        "manualAnswerRate": _rate("manualAnswerCount / (manualAnswerCount + manualFailCount)"),
        "avgCallDuration": _nullable_int(
            "totalCallElapsed / answerCallCount in seconds, rounded down; null when "
            "answerCallCount is 0.",
            fmt="int32",
            minimum=0,
        ),
        "avgManualDuration": _nullable_int(
            "manualElapsed / manualAnswerCount in seconds, rounded down; null when "
            "manualAnswerCount is 0.",
            fmt="int32",
            minimum=0,
        ),
    }
    return {
        "type": "object",
        "description": "Statistics of one task. Every key is always present.",
        "required": list(properties),
        "properties": properties,
        "examples": [_stat_info_example()],
    }


def _envelope_properties(codes: list[int], *, message: Json | None = None) -> Json:
    code: Json = {"type": "integer", "description": "Result code."}
    if len(codes) == 1:
        code["const"] = codes[0]
    else:
        code["enum"] = codes
    return {
        "code": code,
        "message": message or {"type": "string", "description": "Result message."},
        "traceId": {
            "type": "string",
            "pattern": TRACE_ID_PATTERN,
            "description": "32 lowercase hex characters, random per request; also sent as the "
            "`X-Trace-Id` response header and written to the request log.",
            "examples": [EXAMPLE_TRACE_ID],
        },
    }


def _page_properties() -> Json:
    return {
        "total": _int("Every matching task, over all pages."),
        "pageNumber": _int("The page answered (1-based).", minimum=1),
        "pageSize": _int("Rows per page.", minimum=1, maximum=1000),
        "list": {
            "type": "array",
            "items": _ref("Task"),
            "description": "Rows (pageNumber-1)×pageSize+1 … of the order createTs descending, "
            "then id descending; `[]` past the end.",
        },
    }


def _task_list_response_schema(settings: Settings) -> Json:
    page = _page_properties()
    properties = _envelope_properties(
        [int(Code.SUCCESS)],
        message={"type": "string", "const": "success", "description": "Result message."},
    )
    example: Json = {"code": 0, "message": "success", "traceId": EXAMPLE_TRACE_ID}
    page_example: Json = {"total": 1, "pageNumber": 1, "pageSize": 10, "list": [_task_example()]}
    if settings.envelope == "data":
        properties["data"] = {
            "type": "object",
            "description": "The page (this server nests it under `data`).",
            "required": list(page),
            "properties": page,
        }
        example["data"] = page_example
        where = "nested under `data`"
    else:
        properties.update(page)
        example.update(page_example)
        where = "at the top level, beside `code`, `message` and `traceId`"
    return {
        "type": "object",
        "description": f"A page of tasks (code 0). This server puts the page fields {where}.",
        "required": list(properties),
        "properties": properties,
        "examples": [example],
    }


def _schemas(settings: Settings) -> Json:
    all_codes = [int(code) for code in sorted(Code)]
    error_codes = [code for code in all_codes if code != Code.SUCCESS]
    return {
        "Envelope": {
            "type": "object",
            "description": "Every answer, success or failure, carries these keys.",
            "required": ["code", "message", "traceId"],
            "properties": _envelope_properties(all_codes),
            "examples": [{"code": 0, "message": "success", "traceId": EXAMPLE_TRACE_ID}],
        },
        "Error": {
            "type": "object",
            "description": "A refusal: codes 1001–1005 and 20000 with HTTP 200, or code 20000 "
            "with an HTTP status outside the contract (404, 405, 413, 415, 429, 500, 503).",
            "required": ["code", "message", "traceId"],
            "properties": _envelope_properties(error_codes),
            "examples": [
                {
                    "code": 1003,
                    "message": "Authentication failed (invalid signature)",
                    "traceId": EXAMPLE_TRACE_ID,
                }
            ],
        },
        "TaskListRequest": _task_list_request_schema(),
        "TaskListResponse": _task_list_response_schema(settings),
        "Task": _task_schema(),
        "StatInfo": _stat_info_schema(),
    }


def _header_parameters(settings: Settings) -> list[Json]:
    window = settings.timestamp_window_ms
    biz_types = list(dict.fromkeys(["100", *settings.extra_biz_types]))
    actions = list(dict.fromkeys(["nxai", *settings.extra_actions]))
    return [
        {
            "name": "accessKey",
            "in": "header",
            "required": True,
            "description": "User identity identifier: the caller's key id.",
            "schema": {"type": "string", "minLength": 1},
            "example": EXAMPLE_ACCESS_KEY,
        },
        {
            "name": "ts",
            "in": "header",
            "required": True,
            "description": "Current request timestamp, epoch milliseconds, decimal digits. The "
            f"server accepts |server clock - ts| <= {window} ms, future timestamps included; "
            "anything else is code 1004.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
            "example": EXAMPLE_TS,
        },
        {
            "name": "bizType",
            "in": "header",
            "required": True,
            "description": 'Business type. Fixed value: "100".',
            "schema": {"type": "string", "enum": biz_types},
            "example": "100",
        },
        {
            "name": "action",
            "in": "header",
            "required": True,
            "description": 'Business operation. Fixed value: "nxai".',
            "schema": {"type": "string", "enum": actions},
            "example": "nxai",
        },
        {
            "name": "sign",
            "in": "header",
            "required": True,
            "description": "Request signature: the lowercase hex digest of the pre-image (see "
            "the signature recipe). The example is the md5 signature of the body "
            f"`{EXAMPLE_BODY}` with the example accessKey and ts and the secret "
            f"`{EXAMPLE_SECRET}`.",
            "schema": {"type": "string", "pattern": "^([0-9a-f]{32}|[0-9a-f]{64})$"},
            "example": EXAMPLE_SIGN_MD5,
        },
        {
            "name": "algorithm",
            "in": "header",
            "required": False,
            "description": "Digest for `sign`: `md5` (default, also when empty) or `sha256`, "
            "case-insensitive. Anything else is code 1002.",
            "schema": {
                "type": "string",
                "pattern": "^([mM][dD]5|[sS][hH][aA]256)?$",
                "default": "md5",
            },
            "example": "md5",
        },
    ]


def _trace_header() -> Json:
    return {
        "description": "The answer's `traceId`.",
        "schema": {"type": "string", "pattern": TRACE_ID_PATTERN},
    }


def _error_response(description: str, message: str, *, retry_after: bool = False) -> Json:
    headers: Json = {"X-Trace-Id": _trace_header()}
    if retry_after:
        headers["Retry-After"] = {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 0},
        }
    return {
        "description": description,
        "headers": headers,
        "content": {
            "application/json": {
                "schema": _ref("Error"),
                "example": {"code": 20000, "message": message, "traceId": EXAMPLE_TRACE_ID},
            }
        },
    }


def _task_list_operation(settings: Settings) -> Json:
    codes = _codes(settings)
    code_rows = "\n".join(
        f"| {item['code']} | {item['when']} | `{item['message']}` |" for item in codes
    )
    statuses = _http_statuses(settings)
    status_rows = "\n".join(f"| {status} | {when} |" for status, when, _ in statuses)
    description = f"""\
Query the outbound tasks of the account that owns the `accessKey`, newest first (`createTs` \
descending, then `id` descending). `total` counts every matching task; a page past the end \
answers `list: []` with the true `total`.

Checks that need no key come first (404, 405, 413, 415), then authentication, then the body. \
The first failure answers, in this order:

| code | when | message (start) |
| --- | --- | --- |
{code_rows}

Codes 0, 1001–1005 and 20000 use HTTP 200. Outside the contract the HTTP status tells, with \
the same envelope and code 20000:

| HTTP | when |
| --- | --- |
{status_rows}"""
    examples: Json = {
        "success": {
            "summary": "code 0: a page of tasks",
            "value": _task_list_response_schema(settings)["examples"][0],
        }
    }
    example_messages = {
        1001: "Authentication failed (missing public parameters): sign",
        1002: "Authentication failed (parameter error): bizType must be 100, got '8'",
        1004: "Authentication failed (timestamp expired): server time 1746583990001",
        1005: "Authentication failed (insufficient authority)",
        1003: "Authentication failed (invalid signature)",
        20000: "pageSize: at most 1000",
    }
    for code, message in example_messages.items():
        examples[f"code{code}"] = {
            "summary": f"code {code}",
            "value": {"code": code, "message": message, "traceId": EXAMPLE_TRACE_ID},
        }
    responses: Json = {
        "200": {
            "description": "The envelope: code 0 with a page of tasks, or a refusal with code "
            "1001–1005 or 20000.",
            "headers": {"X-Trace-Id": _trace_header()},
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_ref("TaskListResponse"), _ref("Error")]},
                    "examples": examples,
                }
            },
        }
    }
    for status, when, message in statuses:
        responses[str(status)] = _error_response(
            when[0].upper() + when[1:] + ".", message, retry_after=status == 429
        )
    return {
        "operationId": "listTasks",
        "tags": ["tasks"],
        "summary": "Query the outbound task list",
        "description": description,
        "security": [{"nxlinkSignature": []}],
        "parameters": [
            {"$ref": f"#/components/parameters/{p['name']}"} for p in _header_parameters(settings)
        ],
        "requestBody": {
            "required": False,
            "description": "A JSON object (UTF-8; a `charset` parameter is allowed). An empty "
            "body is read as `{}` but signed as empty. The raw bytes are signed as sent.",
            "content": {
                "application/json": {
                    "schema": _ref("TaskListRequest"),
                    "examples": {
                        "vendor": {
                            "summary": 'The vendor\'s example ("" for unset numbers)',
                            "value": _task_list_request_schema()["examples"][0],
                        },
                        "firstPage": {
                            "summary": "The first page of 10 (the signed example body)",
                            "value": json.loads(EXAMPLE_BODY),
                        },
                    },
                }
            },
        },
        "responses": responses,
        "x-codes": codes,
        "x-codeSamples": [
            {"lang": "Shell", "label": "curl (md5)", "source": _curl_example(settings)},
        ],
    }


def _local_base(settings: Settings) -> str:
    host = settings.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _curl_example(settings: Settings) -> str:
    return f"""\
BASE='{_local_base(settings)}'   # or https://api-hk.nxlink.ai, https://chl-api.nxlink.ai, ...
AK='{EXAMPLE_ACCESS_KEY}'
SECRET='{EXAMPLE_SECRET}'
BODY='{EXAMPLE_BODY}'
TS=$(date +%s%3N)   # epoch milliseconds (GNU date; on macOS use gdate)
SIGN=$(printf '%s' "accessKey=$AK&action=nxai&bizType=100&ts=$TS&body=$BODY&accessSecret=$SECRET" \\
  | md5sum | cut -d' ' -f1)
curl -sS -X POST "$BASE{TASK_LIST_PATH}" \\
  -H 'Content-Type: application/json' \\
  -H "accessKey: $AK" -H "ts: $TS" -H 'bizType: 100' -H 'action: nxai' -H "sign: $SIGN" \\
  --data-raw "$BODY"
# sha256 instead: pipe into sha256sum and add -H 'algorithm: sha256'"""


def _probe_operation(*, ready: bool) -> Json:
    if ready:
        summary = "Readiness: the process can serve and the database answers"
        description = "No authentication. Code 0 when the database answers; HTTP 503 with code "
        description += "20000 when it does not."
    else:
        summary = "Liveness: the process can serve"
        description = "No authentication. Answers the envelope with code 0 while the process "
        description += "can serve."
    responses: Json = {
        "200": {
            "description": "Ready." if ready else "Alive.",
            "headers": {"X-Trace-Id": _trace_header()},
            "content": {
                "application/json": {
                    "schema": _ref("Envelope"),
                    "example": {"code": 0, "message": "success", "traceId": EXAMPLE_TRACE_ID},
                }
            },
        },
    }
    if ready:
        responses["503"] = _error_response(
            "The database is not ready.", "database not ready: OperationalError"
        )
    responses["500"] = _error_response("Internal error.", "internal error")
    return {
        "operationId": "readyz" if ready else "healthz",
        "tags": ["health"],
        "summary": summary,
        "description": description,
        "security": [],
        "responses": responses,
    }


def _meta_operation(operation_id: str, summary: str, media: str, schema: Json) -> Json:
    return {
        "operationId": operation_id,
        "tags": ["meta"],
        "summary": summary,
        "security": [],
        "responses": {
            "200": {"description": summary + ".", "content": {media: {"schema": schema}}}
        },
    }


def _info_description(settings: Settings) -> str:
    where = "nested under `data`" if settings.envelope == "data" else "at the top level"
    return f"""\
A self-hostable service compatible with the NXLink "AI Agent" OpenAPI.

### Transport
Every API endpoint is `POST` with a JSON object body (`application/json`, UTF-8; a `charset` \
parameter is allowed) under `/openapi/aiagent/`. Header names are matched case-insensitively, \
values exactly. Bodies over {settings.max_body_bytes} bytes are refused (413).

### {SIGNATURE_HEADING}
Every API request carries five headers: `accessKey` (the key id), `ts` (epoch milliseconds), \
`bizType` (fixed `100`), `action` (fixed `nxai`) and `sign`; the optional `algorithm` header \
(`md5`, the default, or `sha256`, case-insensitive) picks the digest.

```
{SIGNATURE_RECIPE}
```

{SIGNATURE_RULES}

Example: accessKey `{EXAMPLE_ACCESS_KEY}`, ts `{EXAMPLE_TS}`, body `{EXAMPLE_BODY}`, secret \
`{EXAMPLE_SECRET}` give the pre-image \
`accessKey={EXAMPLE_ACCESS_KEY}&action=nxai&bizType=100&ts={EXAMPLE_TS}&body={EXAMPLE_BODY}\
&accessSecret={EXAMPLE_SECRET}`, md5 sign `{EXAMPLE_SIGN_MD5}` (sha256: \
`{EXAMPLE_SIGN_SHA256}`).

### Timestamp window
`|server_now_ms - ts| <= {settings.timestamp_window_ms}` passes, future timestamps included; \
anything else is code 1004.

### Envelope
Every answer is a JSON object with `code` (integer), `message` (string) and `traceId` (32 \
lowercase hex characters, also the `X-Trace-Id` response header). Paged results sit {where} \
on this server."""


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this server, as configured by ``settings``."""
    local_only = [{"url": "/", "description": "This server"}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NXLink-compatible AI Agent OpenAPI",
            "version": __version__,
            "summary": "The outbound AI-agent task list, its signature and its envelope.",
            "description": _info_description(settings),
            "license": {"name": "MIT", "identifier": "MIT"},
            "x-envelope": settings.envelope,
        },
        "servers": [
            *local_only,
            *({"url": url, "description": text} for url, text in VENDOR_SERVERS),
        ],
        "tags": [
            {"name": "tasks", "description": "Outbound AI-agent tasks."},
            {"name": "health", "description": "Probes; no authentication."},
            {"name": "meta", "description": "This document and its HTML rendering."},
        ],
        "paths": {
            TASK_LIST_PATH: {"post": _task_list_operation(settings)},
            "/healthz": {"servers": local_only, "get": _probe_operation(ready=False)},
            "/readyz": {"servers": local_only, "get": _probe_operation(ready=True)},
            "/openapi.json": {
                "servers": local_only,
                "get": _meta_operation(
                    "openapi", "This OpenAPI document", "application/json", {"type": "object"}
                ),
            },
            "/docs": {
                "servers": local_only,
                "get": _meta_operation(
                    "docs", "This document as an HTML page", "text/html", {"type": "string"}
                ),
            },
        },
        "components": {
            "schemas": _schemas(settings),
            "parameters": {p["name"]: p for p in _header_parameters(settings)},
            "securitySchemes": {
                "nxlinkSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "sign",
                    "description": "The request signature, with the `accessKey`, `ts`, "
                    "`bizType` and `action` headers it covers:\n\n```\n"
                    + SIGNATURE_RECIPE
                    + "\n```\n\n"
                    + SIGNATURE_RULES,
                }
            },
        },
    }


# --- HTML ---------------------------------------------------------------------------------

_STYLE: Final = """\
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#fff}
main{max-width:1100px;margin:0 auto;padding:1.5rem 1.25rem 4rem}
h1{font-size:1.7rem;margin:.2rem 0 .8rem}h1 small{font-size:.9rem;color:#59636e;font-weight:400}
h2{font-size:1.3rem;margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:2px solid #d1d9e0}
h3{font-size:1.05rem;margin:1.4rem 0 .4rem}h4{font-size:.95rem;margin:1.1rem 0 .3rem}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{background:#f0f3f6;padding:.05rem .3rem;border-radius:4px}
pre{background:#f6f8fa;border:1px solid #d1d9e0;border-radius:6px;padding:.7rem .9rem;
overflow-x:auto}
pre code{background:none;padding:0}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:14px}
th,td{border:1px solid #d1d9e0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr:nth-child(even) td{background:#fbfcfd}
.method{display:inline-block;min-width:3.2rem;text-align:center;border-radius:4px;color:#fff;
background:#0969da;font-size:.85rem;padding:.1rem .4rem;margin-right:.4rem}
.method.get{background:#1a7f37}
.req{color:#cf222e;font-weight:600}.muted{color:#59636e}
nav ul{columns:2;padding-left:1.2rem}a{color:#0969da}"""

_INLINE_CODE: Final = re.compile(r"`([^`]+)`")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape ``text`` and render its `code` spans."""
    return _INLINE_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", _e(text))


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _markdown(text: str) -> str:
    """The small Markdown subset these descriptions use: headings, code fences, lists, tables."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            i += 1
            out.append(f"<pre><code>{_e(chr(10).join(block))}</code></pre>")
        elif not line.strip():
            i += 1
        elif line.startswith("#"):
            level = min(max(len(line) - len(line.lstrip("#")), 3), 4)
            heading = line.lstrip("#").strip()
            out.append(f'<h{level} id="{_e(_anchor(heading))}">{_inline(heading)}</h{level}>')
            i += 1
        elif line.startswith("- "):
            items: list[str] = []
            while i < len(lines) and (lines[i].startswith("- ") or lines[i].startswith("  ")):
                if lines[i].startswith("- "):
                    items.append(lines[i][2:])
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
        elif line.startswith("|"):
            rows: list[list[str]] = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [cell.strip() for cell in lines[i].strip().strip("|").split("|")]
                if not all(set(cell) <= set("-: ") for cell in cells):
                    rows.append(cells)
                i += 1
            if rows:
                out.append(_table(rows[0], [[_inline(c) for c in row] for row in rows[1:]]))
        else:
            para: list[str] = []
            while (
                i < len(lines)
                and lines[i].strip()
                and not lines[i].startswith(("```", "#", "- ", "|"))
            ):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A table; ``head`` is plain text, ``rows`` are already HTML."""
    th = "".join(f"<th>{_e(cell)}</th>" for cell in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _resolve(document: Json, schema: Json) -> Json:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]
        resolved: Json = node
        return resolved
    return schema


def _type_html(schema: Json) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(_anchor(name))}">{_e(name)}</a>'
    if "oneOf" in schema:
        return " or ".join(_type_html(branch) for branch in schema["oneOf"])
    if "const" in schema:
        return f"<code>{_e(json.dumps(schema['const'], ensure_ascii=False))}</code>"
    kind = schema.get("type")
    kinds: list[str] = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    parts: list[str] = []
    for name in kinds:
        if name == "array":
            parts.append("array of " + _type_html(schema.get("items", {})))
        elif name == "null":
            parts.append("null")
        else:
            text = _e(name)
            if "format" in schema:
                text += f' <span class="muted">({_e(schema["format"])})</span>'
            if name == "string" and "pattern" in schema:
                text += f" matching <code>{_e(schema['pattern'])}</code>"
            parts.append(text)
    return " | ".join(parts) or "any"


def _rule_html(schema: Json) -> str:
    if "x-rule" in schema:
        return _inline(str(schema["x-rule"]))
    rules: list[str] = []
    if "enum" in schema:
        values = ", ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
        rules.append(f"one of {values}")
    if "minimum" in schema:
        rules.append(f"≥ {schema['minimum']}")
    if "maximum" in schema:
        rules.append(f"≤ {schema['maximum']}")
    if "maxLength" in schema:
        rules.append(f"at most {schema['maxLength']} characters")
    if "default" in schema:
        rules.append(f"default {json.dumps(schema['default'])}")
    return _e(", ".join(rules))


def _fields(schema: Json, prefix: str = "") -> Iterator[tuple[str, Json, bool]]:
    """(dotted name, schema, required) of an object's properties, inline objects expanded."""
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        yield prefix + name, prop, name in required
        if prop.get("type") == "object" and "properties" in prop:
            yield from _fields(prop, prefix + name + ".")


def _fields_table(schema: Json, *, rules: bool = False) -> str:
    head = ["field", "type", "required"] + (["rule", "filter"] if rules else []) + ["description"]
    rows: list[list[str]] = []
    for name, prop, required in _fields(schema):
        row = [f"<code>{_e(name)}</code>", _type_html(prop), "yes" if required else "no"]
        if rules:
            row += [_rule_html(prop), _inline(str(prop.get("x-filter", "")))]
        else:
            rule = _rule_html(prop)
            row[1] += f'<br><span class="muted">{rule}</span>' if rule else ""
        row.append(_inline(str(prop.get("description", ""))))
        rows.append(row)
    return _table(head, rows)


def _parameters_html(document: Json, operation: Json) -> str:
    rows: list[list[str]] = []
    for item in operation.get("parameters", []):
        param = _resolve(document, item)
        schema: Json = param.get("schema", {})
        rows.append(
            [
                f"<code>{_e(param['name'])}</code>",
                '<span class="req">yes</span>' if param.get("required") else "no",
                _type_html(schema) + (f"<br>{_rule_html(schema)}" if _rule_html(schema) else ""),
                f"<code>{_e(param.get('example', ''))}</code>",
                _inline(str(param.get("description", ""))),
            ]
        )
    return _table(["header", "required", "type", "example", "description"], rows)


def _responses_html(document: Json, operation: Json) -> str:
    rows: list[list[str]] = []
    for status, response in operation.get("responses", {}).items():
        schemas = [media.get("schema", {}) for media in response.get("content", {}).values()]
        headers = ", ".join(f"<code>{_e(h)}</code>" for h in response.get("headers", {}))
        rows.append(
            [
                f"<strong>{_e(status)}</strong>",
                _inline(str(response.get("description", ""))),
                " ".join(_type_html(schema) for schema in schemas),
                headers,
            ]
        )
    return _table(["HTTP", "when", "body", "headers"], rows)


def _success_schema(document: Json, operation: Json) -> Json | None:
    response = operation.get("responses", {}).get("200", {})
    for media in response.get("content", {}).values():
        schema: Json = media.get("schema", {})
        if "oneOf" in schema:
            schema = schema["oneOf"][0]
        resolved = _resolve(document, schema)
        if "properties" in resolved:
            return resolved
    return None


def _success_example(operation: Json) -> Any:
    response = operation.get("responses", {}).get("200", {})
    for media in response.get("content", {}).values():
        if "example" in media:
            return media["example"]
        for example in media.get("examples", {}).values():
            return example.get("value")
    return None


def _codes_html(codes: list[Json]) -> str:
    rows = [
        [
            f"<strong>{_e(item['code'])}</strong>",
            _e(item.get("httpStatus", "")),
            _inline(str(item.get("when", ""))),
            f"<code>{_e(item.get('message', ''))}</code>",
        ]
        for item in codes
    ]
    return _table(["code", "HTTP", "when (in checking order)", "message (start)"], rows)


def _operation_html(document: Json, path: str, method: str, operation: Json) -> str:
    anchor = _anchor(f"op {method} {path}")
    description = str(operation.get("description", ""))
    parts = [
        f'<section id="{_e(anchor)}">',
        f'<h2><span class="method {_e(method)}">{_e(method.upper())}</span>'
        f"<code>{_e(path)}</code></h2>",
        f"<p><strong>{_inline(str(operation.get('summary', '')))}</strong></p>",
        _markdown(description),
    ]
    if operation.get("security"):
        link = f"#{_anchor(SIGNATURE_HEADING)}"
        parts.append(f'<p>Signed: see <a href="{_e(link)}">the signature</a>.</p>')
    if operation.get("parameters"):
        parts += ["<h3>Headers</h3>", _parameters_html(document, operation)]
    body = operation.get("requestBody")
    if body:
        parts.append("<h3>Request body</h3>")
        parts.append(f"<p>{_inline(str(body.get('description', '')))}</p>")
        for media_type, media in body.get("content", {}).items():
            schema = _resolve(document, media.get("schema", {}))
            parts.append(f"<p>Content type <code>{_e(media_type)}</code>.</p>")
            parts.append(f"<p>{_inline(str(schema.get('description', '')))}</p>")
            parts.append(_fields_table(schema, rules=_has_rules(schema)))
            for name, example in media.get("examples", {}).items():
                parts.append(f"<h4>Example: {_e(example.get('summary', name))}</h4>")
                parts.append(f"<pre><code>{_e(_json(example.get('value')))}</code></pre>")
    parts += ["<h3>Responses</h3>", _responses_html(document, operation)]
    success = _success_schema(document, operation)
    if success is not None:
        parts.append("<h3>Response fields (HTTP 200)</h3>")
        parts.append(f"<p>{_inline(str(success.get('description', '')))}</p>")
        parts.append(_fields_table(success))
        example = _success_example(operation)
        if example is not None:
            parts += ["<h4>Example</h4>", f"<pre><code>{_e(_json(example))}</code></pre>"]
    if "x-codes" in operation and "\n|" not in description:
        parts += ["<h3>Result codes</h3>", _codes_html(operation["x-codes"])]
    for sample in operation.get("x-codeSamples", []):
        parts.append(f"<h3>Example: {_e(sample.get('label', sample.get('lang', '')))}</h3>")
        parts.append(f"<pre><code>{_e(sample.get('source', ''))}</code></pre>")
    parts.append("</section>")
    return "\n".join(parts)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _has_rules(schema: Json) -> bool:
    return any("x-rule" in prop for prop in schema.get("properties", {}).values())


def _schema_html(name: str, schema: Json) -> str:
    parts = [
        f'<section id="schema-{_e(_anchor(name))}">',
        f"<h3>{_e(name)}</h3>",
        f"<p>{_inline(str(schema.get('description', '')))}</p>",
        _fields_table(schema, rules=_has_rules(schema)),
    ]
    examples = schema.get("examples", [])
    if examples:
        parts += ["<h4>Example</h4>", f"<pre><code>{_e(_json(examples[0]))}</code></pre>"]
    parts.append("</section>")
    return "\n".join(parts)


def docs_html(document: dict[str, Any]) -> str:
    """A self-contained HTML page (no scripts, no external resources) rendered from ``document``."""
    info: Json = document.get("info", {})
    title = str(info.get("title", "API"))
    operations: list[tuple[str, str, Json]] = []
    for path, item in document.get("paths", {}).items():
        for method in ("get", "put", "post", "delete", "patch", "head", "options"):
            if method in item:
                operations.append((path, method, item[method]))
    schemas: Json = document.get("components", {}).get("schemas", {})
    toc = ['<li><a href="#overview">Overview</a></li>', '<li><a href="#servers">Servers</a></li>']
    for path, method, operation in operations:
        anchor = _anchor(f"op {method} {path}")
        label = f"{method.upper()} {path}: {operation.get('summary', '')}"
        toc.append(f'<li><a href="#{_e(anchor)}">{_e(label)}</a></li>')
    for name in schemas:
        toc.append(f'<li><a href="#schema-{_e(_anchor(name))}">Schema {_e(name)}</a></li>')
    servers = _table(
        ["URL", "description"],
        [
            [f"<code>{_e(s.get('url', ''))}</code>", _inline(str(s.get("description", "")))]
            for s in document.get("servers", [])
        ],
    )
    description = _markdown(str(info.get("description", "")))
    body = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{_STYLE}\n</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)} <small>version {_e(info.get('version', ''))}, OpenAPI "
        f"{_e(document.get('openapi', ''))}</small></h1>",
        f"<p>{_inline(str(info.get('summary', '')))} The machine-readable document is at "
        '<a href="openapi.json"><code>/openapi.json</code></a>.</p>',
        "<nav><ul>" + "".join(toc) + "</ul></nav>",
        f'<section id="overview"><h2>Overview</h2>\n{description}\n</section>',
        f'<section id="servers"><h2>Servers</h2>\n{servers}\n</section>',
        *(_operation_html(document, path, method, op) for path, method, op in operations),
        '<section id="schemas"><h2>Schemas</h2>',
        *(_schema_html(name, schema) for name, schema in schemas.items()),
        "</section>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(body) + "\n"
