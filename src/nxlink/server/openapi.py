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
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from nxlink import __version__, signing
from nxlink.contract.callrecord import CALL_RESULTS
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


def _http_statuses(settings: Settings, path: str) -> list[tuple[int, str, str]]:
    """HTTP statuses outside the contract: (status, when, example message); code is 20000."""
    limit = settings.max_body_bytes
    return [
        (404, "unknown path", f"no such endpoint: POST {path}x"),
        (405, "wrong method", f"method GET not allowed for {path}; use POST"),
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
        (
            503,
            "the database could not answer in time (a lock, pool or statement timeout); nothing "
            "was changed: retry after `Retry-After` seconds",
            "database busy, try again: database is locked (waited 10000 ms)",
        ),
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
    filter_text: str | None = None,
    minimum: int,
    maximum: int = INT32_MAX,
    default: int | None = None,
    example: int | None = None,
    required: bool = False,
) -> Json:
    """An integer request field: also a numeric string, and (unless ``required``) ``""``/null
    for "not set"."""
    branches: list[Json] = [
        {"type": "integer", "format": "int32", "minimum": minimum, "maximum": maximum},
        {
            "type": "string",
            "pattern": INTEGER_STRING_PATTERN,
            "description": "decimal digits (optional sign), no whitespace, no exponent; "
            "the same range applies",
        },
    ]
    if not required:
        branches += [
            {"type": "string", "const": "", "description": "not set"},
            {"type": "null", "description": "not set"},
        ]
    schema: Json = {"description": description, "x-rule": rule}
    if filter_text is not None:
        schema["x-filter"] = filter_text
    schema["oneOf"] = branches
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


def _page_properties(*, item: str, one: str, order: str) -> Json:
    return {
        "total": _int(f"Every matching {one}, over all pages."),
        "pageNumber": _int("The page answered (1-based).", minimum=1),
        "pageSize": _int("Rows per page.", minimum=1, maximum=1000),
        "list": {
            "type": "array",
            "items": _ref(item),
            "description": f"Rows (pageNumber-1)×pageSize+1 … of the order {order}; `[]` past "
            "the end.",
        },
    }


def _paged_response_schema(
    settings: Settings,
    *,
    item: str,
    one: str,
    many: str,
    order: str,
    example_items: list[Json],
    page_size: int,
) -> Json:
    """A page of ``item`` rows (code 0), its fields placed as ``settings.envelope`` says."""
    page = _page_properties(item=item, one=one, order=order)
    properties = _envelope_properties(
        [int(Code.SUCCESS)],
        message={"type": "string", "const": "success", "description": "Result message."},
    )
    example: Json = {"code": 0, "message": "success", "traceId": EXAMPLE_TRACE_ID}
    page_example: Json = {
        "total": len(example_items),
        "pageNumber": 1,
        "pageSize": page_size,
        "list": example_items,
    }
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
        "description": f"A page of {many} (code 0). This server puts the page fields {where}.",
        "required": list(properties),
        "properties": properties,
        "examples": [example],
    }


def _task_list_response_schema(settings: Settings) -> Json:
    return _paged_response_schema(
        settings,
        item="Task",
        one="task",
        many="tasks",
        order="createTs descending, then id descending",
        example_items=[_task_example()],
        page_size=10,
    )


# --- the lifecycle endpoints ----------------------------------------------------------------

API_PREFIX: Final = "/openapi/aiagent/"
EXAMPLE_TASK_ID: Final = "52145b00-abc9-4a87-94c2-ed1e1e42ec1c"
EXAMPLE_USER_TASK_ID: Final = "renewals-2026-01"
EXAMPLE_EVENT_ID: Final = "9f86d081884c4d659a2feaa0c55ad015"
EXAMPLE_CALLBACK_TS: Final = "1767225660000"
PHONE_PATTERN: Final = r"^\+?[0-9]{3,20}$"
COUNTRY_CODE_PATTERN: Final = r"^\+?[0-9]{1,4}$"
URL_PATTERN: Final = "^[hH][tT][tT][pP][sS]?://"
EVENT_ID_PATTERN: Final = "^[0-9a-f]{32}$"
MAX_CONTACTS: Final = 10_000
CALL_RESULT_TEXT: Final = (
    "1 answered, conversation completed; 2 no answer before maxRingTime; 3 answered, callee hung "
    "up early; 4 busy; 5 rejected by the callee; 6 unreachable / powered off; 7 invalid number; "
    "8 blocked (do-not-call, carrier block); 9 route or network failure; 17 answered and "
    "transferred to a human; 21 answering machine / voicemail. Answered: 1, 3, 17, 21"
)
CALLBACK_SCHEDULE: Final = (
    "tries at 0, +10 s, +30 s, +90 s, +270 s, +810 s and +2430 s (7 tries over about 61 "
    "minutes), then the delivery is marked failed; a manual retry (`nxlink callbacks retry ID`) "
    "starts a new round with the same schedule"
)
REQUEST_RULES: Final = (
    'A JSON object; `null`, `""` and an absent key all mean "not set". Integer fields are 32-bit '
    "signed and also take a JSON number with no fraction (`10.0`, `1e2`) or a string of digits "
    '(`"10"`); booleans, fractions, non-numeric strings, arrays, objects and NaN/Infinity are '
    "refused. Unknown fields are ignored. Every bad field is named in one 20000 message as "
    '`<field>: <what is wrong>`, several joined with `"; "`.'
)
CHECKING_ORDER: Final = (
    "Checks that need no key come first (404, 405, 413, 415), then authentication (1001, 1002, "
    "1004, 1005, 1003), then the body (20000); the first failure answers. Codes 0, 1001–1005 and "
    "20000 use HTTP 200."
)
TASK_REF_ANY_OF: Final[tuple[str, str]] = ("taskId", "userTaskId")
#: The task keys a task status event carries, in order.
TASK_EVENT_KEYS: Final = (
    "taskId", "userTaskId", "other", "autoFlowId", "autoFlowName", "taskName", "taskStatus",
    "pauseReason", "statInfo",
)  # fmt: skip


def _text(
    description: str,
    *,
    rule: str,
    max_length: int | None = None,
    min_length: int | None = None,
    required: bool = False,
    example: str | None = None,
    **extra: Any,
) -> Json:
    """A string request field; unless ``required``, null (or ``""``) means "not set"."""
    schema: Json = {
        "type": "string" if required else ["string", "null"],
        "description": description,
        "x-rule": rule,
    }
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    schema.update(extra)
    if example is not None:
        schema["examples"] = [example]
    return schema


def _epoch(description: str, *, rule: str, example: int, filter_text: str | None = None) -> Json:
    return _coerced_int(
        description + " A value of 10^11 or more is refused as looking like epoch milliseconds.",
        rule=rule,
        filter_text=filter_text,
        minimum=0,
        example=example,
    )


def _url(name: str, description: str, example: str) -> Json:
    return _text(
        description + " An absolute `http://` or `https://` URL with a host, else "
        f"`{name}: must be an http(s) URL, got ...`.",
        rule="http(s) URL with a host, ≤ 2048 characters",
        max_length=2048,
        format="uri",
        pattern=URL_PATTERN,
        example=example,
    )


def _country_code() -> Json:
    return _text(
        "Country calling code of the contacts' phone numbers; else "
        '`countryCode: must be 1 to 4 digits with an optional leading +, got "<value>"`.',
        rule="1–4 digits, optional leading +",
        pattern=COUNTRY_CODE_PATTERN,
        example="852",
    )


def _task_ref(verb: str) -> Json:
    """``taskId`` and ``userTaskId``: one is required, ``userTaskId`` wins."""
    return {
        "taskId": _text(
            f"The task to {verb}, by its `taskId`. Required unless `userTaskId` is set "
            "(`taskId: required (or userTaskId)`); an unknown one answers "
            "`taskId: no task '<id>' in this account`.",
            rule="≤ 64 characters; required unless userTaskId is set",
            max_length=64,
            example=EXAMPLE_TASK_ID,
        ),
        "userTaskId": _text(
            f"The task to {verb}, by the caller's own id; wins over `taskId` when both are set. "
            "An unknown one answers `userTaskId: no task '<id>' in this account`.",
            rule="≤ 64 characters; wins over taskId",
            max_length=64,
            example=EXAMPLE_USER_TASK_ID,
        ),
    }


def _page_fields(*, default_size: int, filter_text: str) -> Json:
    return {
        "pageNumber": _coerced_int(
            "1-based page number. Default is 1.",
            rule="≥ 1, default 1",
            filter_text="1-based page",
            minimum=1,
            default=1,
            example=1,
        ),
        "pageSize": _coerced_int(
            f"Rows per page. Default is {default_size}, maximum is 1000 (larger is refused with "
            "`pageSize: at most 1000, got <n>`, not clamped).",
            rule=f"1–1000, default {default_size}",
            filter_text=filter_text,
            minimum=1,
            maximum=1000,
            default=default_size,
            example=default_size,
        ),
    }


def _request_object(
    description: str,
    properties: Json,
    *,
    required: list[str],
    example: Json,
    one_of_required: tuple[str, ...] = (),
) -> Json:
    schema: Json = {
        "type": "object",
        "description": description + " " + REQUEST_RULES,
        "additionalProperties": True,
    }
    if required:
        schema["required"] = required
    if one_of_required:
        schema["anyOf"] = [{"required": [name]} for name in one_of_required]
    schema["properties"] = properties
    schema["examples"] = [example]
    return schema


def _contact_example() -> Json:
    return {
        "contactId": "c-1001",
        "phoneNumber": "+85291234567",
        "name": "Chan Tai Man",
        "params": [{"name": "due", "value": "2026-02-01"}],
        "other": "crm-7781",
    }


def _contact_param_schema() -> Json:
    properties: Json = {
        "name": _text(
            "A variable of the task's flow (the flow's `variables` in flow/list).",
            rule="1–64 characters; a variable of the flow; distinct within a contact",
            min_length=1,
            max_length=64,
            required=True,
            example="due",
        ),
        "value": {
            "description": "Its value for this contact; a JSON number is taken as its text "
            "(an integer's digits, a fraction's shortest decimal form); null is `\"\"`.",
            "x-rule": "≤ 1000 characters, or a finite number",
            "oneOf": [
                {"type": "string", "maxLength": 1000},
                {"type": "number", "description": "taken as its text"},
                {"type": "null", "description": 'taken as `""`'},
            ],
            "examples": ["2026-02-01"],
        },
    }
    return {
        "type": "object",
        "description": "One variable of a contact, handed to the AI agent. Messages name it "
        "`list[<i>].params[<j>].name` / `.value`.",
        "required": ["name"],
        "properties": properties,
        "examples": [{"name": "due", "value": "2026-02-01"}],
    }


def _contact_schema() -> Json:
    properties: Json = {
        "contactId": {
            "description": "The caller's id of the contact, unique within the account. An id "
            "used before in the account, or twice in one request, refuses the whole request "
            "with `Duplicate contactIds are not allowed: <id>`.",
            "x-rule": "1–64 characters, or an integer (taken as its decimal string)",
            "oneOf": [
                {"type": "string", "minLength": 1, "maxLength": 64},
                {"type": "integer", "description": "taken as its decimal string"},
            ],
            "examples": ["c-1001"],
        },
        "phoneNumber": _text(
            "The number to dial, kept as sent: 3 to 20 digits with an optional leading `+`, "
            'else `list[<i>].phoneNumber: must be digits with an optional leading +, got "12a"` '
            "(or `must have 3 to 20 digits, got <n>`).",
            rule="3–20 digits, optional leading +",
            required=True,
            pattern=PHONE_PATTERN,
            example="+85291234567",
        ),
        "name": _text(
            "The contact's name.", rule="≤ 200 characters", max_length=200, example="Chan Tai Man"
        ),
        "params": {
            "type": ["array", "null"],
            "items": _ref("ContactParam"),
            "description": "Variables for the AI agent: each name a variable of the task's flow, "
            "at most once per contact.",
            "x-rule": "names distinct, variables of the flow",
        },
        "other": _text(
            "Pass-through, stored with the contact.",
            rule="≤ 4096 characters",
            max_length=4096,
            example="crm-7781",
        ),
    }
    return {
        "type": "object",
        "description": 'One contact (an "order") of `list` in call/append and task/create. '
        "Messages name its fields `list[<index>].<field>`; at most the first 20 problems are "
        "listed, then `... and <n> more`.",
        "required": ["contactId", "phoneNumber"],
        "properties": properties,
        "examples": [_contact_example()],
    }


def _contact_list(description: str, *, required: bool) -> Json:
    schema: Json = {
        "type": "array" if required else ["array", "null"],
        "items": _ref("Contact"),
        "maxItems": MAX_CONTACTS,
        "description": description + " All or nothing: one bad or duplicate contact imports "
        "none. More than 10000 answers `list: at most 10000 contacts, got <n>`.",
        "x-rule": "1–10000 contacts" if required else "0–10000 contacts",
    }
    if required:
        schema["minItems"] = 1
    return schema


def _task_create_request_schema() -> Json:
    properties: Json = {
        "taskName": _text(
            "Task name; not blank (`taskName: must not be blank`).",
            rule="1–200 characters, not only whitespace",
            min_length=1,
            max_length=200,
            required=True,
            example="renewals",
        ),
        "autoFlowId": _coerced_int(
            "The AI agent that talks: an enabled flow of this account (see flow/list), else "
            "`autoFlowId: no flow <n> in this account`.",
            rule="≥ 1; a flow of this account",
            minimum=1,
            required=True,
            example=1,
        ),
        "routeId": _text(
            "The call route: an enabled route of this account (see route/list), else "
            "`routeId: no route '<id>' in this account`.",
            rule="1–64 characters; a route of this account",
            min_length=1,
            max_length=64,
            required=True,
            example="CJq6rtX2lg",
        ),
        "taskKeep": _coerced_int(
            "0: the task completes when every contact is done; 1: it stays open for appended "
            "contacts.",
            rule="0 or 1",
            minimum=0,
            maximum=1,
            required=True,
            example=0,
        ),
        "startupType": _coerced_int(
            "0 none, 1 manual (task/start), 2 scheduled (at `startupAt`), 3 immediate. Types 0, 1 "
            "and 2 create the task ready (1); 3 creates it in progress (2).",
            rule="0–3",
            minimum=0,
            maximum=3,
            required=True,
            example=1,
        ),
        "userTaskId": _text(
            "The caller's own id, unique within the account; one already used answers "
            "`userTaskId: '<id>' is already used by task <taskId>`.",
            rule="≤ 64 characters, unique in the account",
            max_length=64,
            example=EXAMPLE_USER_TASK_ID,
        ),
        "other": _text(
            "Pass-through, returned unchanged by the task list and the task callbacks.",
            rule="≤ 4096 characters",
            max_length=4096,
            example="batch-20260101",
        ),
        "taskDesc": _text(
            "Task description.",
            rule="≤ 1000 characters",
            max_length=1000,
            example="January renewals",
        ),
        "startupAt": _epoch(
            "Scheduled start, epoch seconds; required when `startupType` is 2 "
            "(`startupAt: required when startupType is 2`).",
            rule="≥ 0, epoch seconds; required when startupType is 2",
            example=1767229200,
        ),
        "shutdownAt": _epoch(
            "Scheduled pause, epoch seconds (the task pauses with pauseReason 2). When both are "
            "set it must be after `startupAt`, else "
            "`shutdownAt: must be after startupAt (<shutdownAt> <= <startupAt>)`.",
            rule="≥ 0, epoch seconds, > startupAt",
            example=1767261600,
        ),
        "maxCall": _coerced_int(
            "Most concurrent calls of this task; 0 = the account's default.",
            rule="0–1000, default 0",
            minimum=0,
            maximum=1000,
            default=0,
            example=0,
        ),
        "maxRingTime": _coerced_int(
            "Seconds a call may ring before it counts as not answered (result 2); 0 = the "
            "route's default, 30 s.",
            rule="0–300, default 0",
            minimum=0,
            maximum=300,
            default=0,
            example=30,
        ),
        "orderMaxCall": _coerced_int(
            "Call attempts per contact.",
            rule="1–10, default 1",
            minimum=1,
            maximum=10,
            default=1,
            example=2,
        ),
        "replayInterval": _coerced_int(
            "Seconds between two attempts on one contact.",
            rule="0–604800, default 300",
            minimum=0,
            maximum=604_800,
            default=300,
            example=600,
        ),
        "taskCallbackUrl": _url(
            "taskCallbackUrl",
            "Receives a `TaskStatusEvent` on every status change of the task (see the "
            "callbacks of this operation).",
            "https://example.com/nxlink/task-events",
        ),
        "callCallbackUrl": _url(
            "callCallbackUrl",
            "Receives a `CallEvent` for every completed call of the task.",
            "https://example.com/nxlink/call-events",
        ),
        "countryCode": _country_code(),
        "strategyId": _text("Strategy id.", rule="≤ 64 characters", max_length=64),
        "agentGroupId": _text(
            "Human agent group the AI agent may transfer calls to (call result 17).",
            rule="≤ 64 characters",
            max_length=64,
        ),
        "list": _contact_list(
            "Contacts to import with the task, as in call/append.", required=False
        ),
    }
    return _request_object(
        "Create an outbound task, optionally with its first contacts.",
        properties,
        required=["taskName", "autoFlowId", "routeId", "taskKeep", "startupType"],
        example={
            "taskName": "renewals",
            "autoFlowId": 1,
            "routeId": "CJq6rtX2lg",
            "taskKeep": 0,
            "startupType": 1,
            "userTaskId": EXAMPLE_USER_TASK_ID,
            "orderMaxCall": 2,
            "replayInterval": 600,
            "taskCallbackUrl": "https://example.com/nxlink/task-events",
            "callCallbackUrl": "https://example.com/nxlink/call-events",
            "list": [_contact_example()],
        },
    )


def _call_append_request_schema() -> Json:
    properties: Json = {
        **_task_ref("append to"),
        "countryCode": _country_code(),
        "list": _contact_list("The contacts to import (required, not empty).", required=True),
    }
    return _request_object(
        "Import contacts into a task that is ready, in progress or paused (1, 2, 5, 6), or "
        "completed with `taskKeep` 1 (which reopens it to 2). A completed task with `taskKeep` 0 "
        "and a failed task take no more contacts.",
        properties,
        required=["list"],
        one_of_required=TASK_REF_ANY_OF,
        example={"taskId": EXAMPLE_TASK_ID, "list": [_contact_example()]},
    )


def _order_delete_request_schema() -> Json:
    properties: Json = {
        **_task_ref("delete from"),
        "contactId": {
            "description": "The contact to delete. Only a pending contact that was never dialled "
            "can be deleted: `contactId: '<id>' has been dialled and cannot be deleted`; "
            "`contactId: no contact '<id>' in task <taskId>` when the task has no such contact.",
            "x-rule": "1–64 characters, or an integer (taken as its decimal string)",
            "oneOf": [
                {"type": "string", "minLength": 1, "maxLength": 64},
                {"type": "integer", "description": "taken as its decimal string"},
            ],
            "examples": ["c-1001"],
        },
    }
    return _request_object(
        "Delete a pending, never-dialled contact from a task.",
        properties,
        required=["contactId"],
        one_of_required=TASK_REF_ANY_OF,
        example={"taskId": EXAMPLE_TASK_ID, "contactId": "c-1001"},
    )


def _task_start_request_schema() -> Json:
    properties: Json = {
        **_task_ref("start"),
        "startupBy": _text(
            "Who started it, recorded as the task's `startupBy`; default the caller's `accessKey`.",
            rule="≤ 64 characters, default the accessKey",
            max_length=64,
            example="ops@example.com",
        ),
    }
    return _request_object(
        "Start a ready or paused task.",
        properties,
        required=[],
        one_of_required=TASK_REF_ANY_OF,
        example={"taskId": EXAMPLE_TASK_ID, "startupBy": "ops@example.com"},
    )


def _task_pause_request_schema() -> Json:
    return _request_object(
        "Pause an in-progress task.",
        _task_ref("pause"),
        required=[],
        one_of_required=TASK_REF_ANY_OF,
        example={"userTaskId": EXAMPLE_USER_TASK_ID},
    )


def _call_list_request_schema() -> Json:
    call_result = _coerced_int(
        f"Call result: {CALL_RESULT_TEXT}.",
        rule="one of " + ", ".join(str(code) for code in CALL_RESULTS),
        filter_text="equal",
        minimum=min(CALL_RESULTS),
        maximum=max(CALL_RESULTS),
        example=1,
    )
    call_result["oneOf"][0]["enum"] = list(CALL_RESULTS)
    properties: Json = {
        "taskId": _text(
            "The task whose calls to list; an unknown one answers "
            "`taskId: no task '<id>' in this account`.",
            rule="required, ≤ 64 characters",
            min_length=1,
            max_length=64,
            required=True,
            example=EXAMPLE_TASK_ID,
        ),
        "startTs": _epoch(
            "Calls created (started) from, epoch seconds, inclusive.",
            rule="≥ 0, epoch seconds",
            filter_text="createTs >= startTs",
            example=1767225600,
        ),
        "endTs": _epoch(
            "Calls created (started) to, epoch seconds, inclusive; not below `startTs`.",
            rule="≥ 0, ≥ startTs, epoch seconds",
            filter_text="createTs <= endTs",
            example=1767311999,
        ),
        "callId": {
            **_text("One call, by its `callId`.", rule="≤ 64 characters", max_length=64),
            "x-filter": "equal",
        },
        "phone": {
            **_text(
                "The number dialled, as imported.",
                rule="≤ 64 characters",
                max_length=64,
                example="+85291234567",
            ),
            "x-filter": "calleePhone equal",
        },
        "callResult": call_result,
        "userIntent": {
            **_text(
                "The conversation tag of answered calls.",
                rule="≤ 200 characters",
                max_length=200,
                example="interested",
            ),
            "x-filter": "equal",
        },
        "minElapsed": _coerced_int(
            "Shortest talk time in seconds (`callElapsed`), inclusive.",
            rule="≥ 0",
            filter_text="callElapsed >= it",
            minimum=0,
            example=10,
        ),
        "maxElapsed": _coerced_int(
            "Longest talk time in seconds, inclusive; not below `minElapsed`.",
            rule="≥ 0, ≥ minElapsed",
            filter_text="callElapsed <= it",
            minimum=0,
            example=600,
        ),
        **_page_fields(default_size=10, filter_text="rows per page"),
    }
    return _request_object(
        "Filters on the calls of one task; every filter but `taskId` is optional.",
        properties,
        required=["taskId"],
        example={"taskId": EXAMPLE_TASK_ID, "callResult": 1, "pageNumber": 1, "pageSize": 10},
    )


def _name_list_request_schema(field: str, what: str, *, default_size: int) -> Json:
    properties: Json = {
        field: {
            **_text(
                f"{what.capitalize()} name contains it, case-insensitive for every Unicode letter.",
                rule="≤ 200 characters",
                max_length=200,
                example="renewal" if what == "flow" else "HK",
            ),
            "x-filter": "name contains it, case-insensitive",
        },
        **_page_fields(default_size=default_size, filter_text="rows per page"),
    }
    return _request_object(
        f"Every field is optional. Lists the enabled {what}s of the account, by id ascending.",
        properties,
        required=[],
        example={
            field: properties[field]["examples"][0],
            "pageNumber": 1,
            "pageSize": default_size,
        },
    )


def _success_properties() -> Json:
    return _envelope_properties(
        [int(Code.SUCCESS)],
        message={"type": "string", "const": "success", "description": "Result message."},
    )


def _data_response_schema(description: str, data: Json, example: Json) -> Json:
    properties = _success_properties()
    properties["data"] = {
        "type": "object",
        "description": "The result.",
        "required": list(data),
        "properties": data,
    }
    return {
        "type": "object",
        "description": description + " (code 0).",
        "required": list(properties),
        "properties": properties,
        "examples": [
            {"code": 0, "message": "success", "traceId": EXAMPLE_TRACE_ID, "data": example}
        ],
    }


def _task_id_field(description: str = "The task's `taskId`.") -> Json:
    return _str(description, format="uuid")


def _task_state_properties() -> Json:
    return {
        "taskId": _task_id_field(),
        "taskStatus": _int(
            f"Task status after the call: {TASK_STATUS_TEXT}.",
            minimum=None,
            enum=[1, 2, 3, 4, 5, 6],
        ),
        "pauseReason": _nullable_int(
            "Set while the status is 5 or 6, else null: 1 user, 2 scheduled shutdown, "
            "3 insufficient balance.",
            fmt="int32",
            enum=[1, 2, 3, None],
        ),
    }


def _call_record_example() -> Json:
    return {
        "id": 9001,
        "callId": "0d6f3c2a9b8e4f71a5c4b3a29180f7e6",
        "taskId": EXAMPLE_TASK_ID,
        "userTaskId": EXAMPLE_USER_TASK_ID,
        "contactId": "c-1001",
        "autoFlowId": 158,
        "autoFlowName": "Renewal reminder",
        "calleePhone": "+85291234567",
        "createTs": 1767225600,
        "callResult": 1,
        "callElapsed": 47,
        "userIntent": "interested",
        "callRingTime": 6,
        "callStart": 1767225600,
        "callAnswer": 1767225606,
        "callEnd": 1767225653,
        "orderHead": 1,
        "orderTail": 1,
        "manualCallStatus": None,
        "manualElapsed": None,
    }


def _call_record_schema() -> Json:
    properties: Json = {
        "id": _int("Internal row id.", fmt="int64", minimum=1),
        "callId": _str("Call id."),
        "taskId": _task_id_field(),
        "userTaskId": _str('The task\'s `userTaskId`; `""` when it has none.'),
        "contactId": _str("The contact called."),
        "autoFlowId": _int("AI agent (bot) id.", fmt="int64"),
        "autoFlowName": _str("AI agent (bot) name."),
        "calleePhone": _str("The number dialled."),
        "createTs": _int(
            "Creation time of the call, epoch seconds (equals `callStart`).", fmt="int64"
        ),
        "callResult": _int(
            f"Call result: {CALL_RESULT_TEXT}.", minimum=None, enum=list(CALL_RESULTS)
        ),
        "callElapsed": _int("Talk seconds; 0 when not answered."),
        "userIntent": _str('Conversation tag; `""` when not answered.'),
        "callRingTime": _int("Seconds the call rang."),
        "callStart": _int("Dialling started, epoch seconds.", fmt="int64"),
        "callAnswer": _nullable_int("Answered, epoch seconds; null when not answered.", minimum=0),
        "callEnd": _int("Call ended, epoch seconds.", fmt="int64"),
        "orderHead": _int(
            "1 for the first call of its contact, else 0.", minimum=None, enum=[0, 1]
        ),
        "orderTail": _int("1 for the last call of its contact, else 0.", minimum=None, enum=[0, 1]),
        "manualCallStatus": _nullable_int(
            "Transfer to a human (result 17 only): 1 answered, 2 failed; else null.",
            fmt="int32",
            enum=[1, 2, None],
        ),
        "manualElapsed": _nullable_int(
            "Seconds of human talk (result 17 only); else null.", fmt="int32", minimum=0
        ),
    }
    return {
        "type": "object",
        "description": "One completed call, as call/list answers it and the call callback sends "
        "it. Every key is always present.",
        "required": list(properties),
        "properties": properties,
        "examples": [_call_record_example()],
    }


def _flow_example() -> Json:
    return {
        "autoFlowId": 158,
        "autoFlowName": "Renewal reminder",
        "variables": ["name", "due"],
        "createTs": 1767139200,
    }


def _flow_schema() -> Json:
    properties: Json = {
        "autoFlowId": _int(
            "AI agent (flow) id, for `autoFlowId` in task/create.", fmt="int64", minimum=1
        ),
        "autoFlowName": _str("AI agent name."),
        "variables": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The variable names the flow accepts in a contact's `params`.",
        },
        "createTs": _int("Creation time, epoch seconds.", fmt="int64"),
    }
    return {
        "type": "object",
        "description": "An enabled AI agent (flow) of the account. Every key is always present.",
        "required": list(properties),
        "properties": properties,
        "examples": [_flow_example()],
    }


def _route_example() -> Json:
    return {
        "routeId": "CJq6rtX2lg",
        "routeName": "HK mobile",
        "countryCode": "852",
        "pricePerMinute": 12,
        "createTs": 1767139200,
    }


def _route_schema() -> Json:
    properties: Json = {
        "routeId": _str("Call route id, for `routeId` in task/create."),
        "routeName": _str("Route name."),
        "countryCode": _str("Country calling code of the route."),
        "pricePerMinute": _int("Price in cents per answered minute."),
        "createTs": _int("Creation time, epoch seconds.", fmt="int64"),
    }
    return {
        "type": "object",
        "description": "An enabled call route of the account. Every key is always present.",
        "required": list(properties),
        "properties": properties,
        "examples": [_route_example()],
    }


def _event_properties(event_type: str, what: str) -> Json:
    return {
        "eventId": _str(
            "32 lowercase hex characters, also the `X-Nxlink-Event-Id` header; every try of one "
            "delivery carries the same id, so a receiver can drop duplicates.",
            pattern=EVENT_ID_PATTERN,
        ),
        "eventType": {"type": "string", "const": event_type, "description": what},
        "eventTs": _int("When the event happened, epoch milliseconds.", fmt="int64"),
    }


def _task_status_event_example() -> Json:
    task = _task_example()
    return {
        "eventId": EXAMPLE_EVENT_ID,
        "eventType": "task.status",
        "eventTs": 1767225660000,
        **{key: task[key] for key in TASK_EVENT_KEYS},
    }


def _task_status_event_schema() -> Json:
    task = _task_schema()["properties"]
    properties = _event_properties("task.status", "A task status change.")
    properties.update({key: task[key] for key in TASK_EVENT_KEYS})
    properties["statInfo"] = {
        **_ref("StatInfo"),
        "description": "The task's statistics when the event was written.",
    }
    return {
        "type": "object",
        "description": "POSTed to the task's `taskCallbackUrl` on every status change of the "
        "task. Every key is always present.",
        "required": list(properties),
        "properties": properties,
        "examples": [_task_status_event_example()],
    }


def _call_event_schema() -> Json:
    properties = _event_properties("call.completed", "A call of the task completed.")
    properties["call"] = {**_ref("CallRecord"), "description": "The call, as call/list shows it."}
    return {
        "type": "object",
        "description": "POSTed to the task's `callCallbackUrl` for every completed call. Every "
        "key is always present.",
        "required": list(properties),
        "properties": properties,
        "examples": [
            {
                "eventId": EXAMPLE_EVENT_ID,
                "eventType": "call.completed",
                "eventTs": 1767225653000,
                "call": _call_record_example(),
            }
        ],
    }


def _lifecycle_schemas(settings: Settings) -> Json:
    state_example = {"taskId": EXAMPLE_TASK_ID, "taskStatus": 2, "pauseReason": None}
    return {
        "TaskCreateRequest": _task_create_request_schema(),
        "TaskCreateResponse": _data_response_schema(
            "The task was created",
            {"taskId": _task_id_field("The new task's id, a UUID.")},
            {"taskId": EXAMPLE_TASK_ID},
        ),
        "Contact": _contact_schema(),
        "ContactParam": _contact_param_schema(),
        "CallAppendRequest": _call_append_request_schema(),
        "CallAppendResponse": _data_response_schema(
            "The contacts were imported",
            {
                "taskId": _task_id_field(),
                "count": _int("Contacts imported by this request.", minimum=1),
            },
            {"taskId": EXAMPLE_TASK_ID, "count": 1},
        ),
        "OrderDeleteRequest": _order_delete_request_schema(),
        "OrderDeleteResponse": _data_response_schema(
            "The contact was deleted",
            {"taskId": _task_id_field(), "contactId": _str("The deleted contact's id.")},
            {"taskId": EXAMPLE_TASK_ID, "contactId": "c-1001"},
        ),
        "TaskStartRequest": _task_start_request_schema(),
        "TaskPauseRequest": _task_pause_request_schema(),
        "TaskStateResponse": _data_response_schema(
            "The task's state after task/start or task/pause",
            _task_state_properties(),
            state_example,
        ),
        "CallListRequest": _call_list_request_schema(),
        "CallListResponse": _paged_response_schema(
            settings,
            item="CallRecord",
            one="call",
            many="calls",
            order="createTs descending, then id descending",
            example_items=[_call_record_example()],
            page_size=10,
        ),
        "CallRecord": _call_record_schema(),
        "FlowListRequest": _name_list_request_schema("name", "flow", default_size=10),
        "FlowListResponse": _paged_response_schema(
            settings,
            item="Flow",
            one="flow",
            many="flows",
            order="id ascending",
            example_items=[_flow_example()],
            page_size=10,
        ),
        "Flow": _flow_schema(),
        "RouteListRequest": _name_list_request_schema("routeName", "route", default_size=100),
        "RouteListResponse": _paged_response_schema(
            settings,
            item="Route",
            one="route",
            many="routes",
            order="id ascending",
            example_items=[_route_example()],
            page_size=100,
        ),
        "Route": _route_schema(),
        "TaskStatusEvent": _task_status_event_schema(),
        "CallEvent": _call_event_schema(),
    }


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One lifecycle endpoint as the document describes it."""

    name: str
    operation_id: str
    tag: str
    summary: str
    description: str
    request: str
    response: str
    body_required: bool
    #: An example 20000 message.
    refused: str
    #: (message, when) of the refusals specific to the endpoint, beyond the coercion rules.
    refusals: tuple[tuple[str, str], ...]

    @property
    def path(self) -> str:
        """The endpoint's path."""
        return API_PREFIX + self.name


_TASK_REF_REFUSALS: Final = (
    ("taskId: required (or userTaskId)", "neither `taskId` nor `userTaskId` is set"),
    ("taskId: no task '<id>' in this account", "no such task in the caller's account"),
    (
        "userTaskId: no task '<id>' in this account",
        "no task with that `userTaskId` in the caller's account",
    ),
)

_CONTACT_REFUSALS: Final = (
    ("list: at most 10000 contacts, got <n>", "more than 10000 contacts"),
    (
        "Duplicate contactIds are not allowed: <id>",
        "a `contactId` used before in the account, or twice in `list`",
    ),
    (
        'list[<i>].phoneNumber: must be digits with an optional leading +, got "<value>"',
        "a phone number with anything but digits and one leading `+`",
    ),
    (
        "list[<i>].phoneNumber: must have 3 to 20 digits, got <n>",
        "a phone number with fewer than 3 or more than 20 digits",
    ),
    (
        "list[<i>].params[<j>].name: '<name>' is not a variable of flow <n> (variables: <names>)",
        "a `params` name that is not a variable of the task's flow",
    ),
    ("... and <n> more", "ends a message listing the first 20 problems of more"),
)

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        name="task/create",
        operation_id="createTask",
        tag="tasks",
        summary="Create an outbound task",
        description="Create a task of the caller's account, optionally with its first contacts "
        "(`list`, as in call/append). Startup types 0, 1 and 2 create it ready (1): type 1 waits "
        "for task/start, type 2 starts at `startupAt`; type 3 creates it in progress (2). "
        "Nothing is written when anything is refused.",
        request="TaskCreateRequest",
        response="TaskCreateResponse",
        body_required=True,
        refused="startupAt: required when startupType is 2",
        refusals=(
            ("<field>: required", 'a required field is not set (`null`, `""` or absent)'),
            ("taskName: must not be blank", "`taskName` is only whitespace"),
            ("startupAt: required when startupType is 2", "`startupType` 2 without `startupAt`"),
            (
                "shutdownAt: must be after startupAt (<shutdownAt> <= <startupAt>)",
                "`shutdownAt` not after `startupAt`",
            ),
            (
                "taskCallbackUrl: must be an http(s) URL, got ...",
                "`taskCallbackUrl` is not an absolute http(s) URL with a host",
            ),
            (
                "callCallbackUrl: must be an http(s) URL, got ...",
                "`callCallbackUrl` is not an absolute http(s) URL with a host",
            ),
            ("autoFlowId: no flow <n> in this account", "no enabled flow with that id"),
            ("routeId: no route '<id>' in this account", "no enabled route with that id"),
            (
                "userTaskId: '<id>' is already used by task <taskId>",
                "another task of the account has that `userTaskId`",
            ),
            *_CONTACT_REFUSALS,
        ),
    ),
    Endpoint(
        name="call/append",
        operation_id="appendContacts",
        tag="contacts",
        summary="Import contacts into a task",
        description="Import contacts into a task, all or nothing: one bad or duplicate contact "
        "imports none of them. A completed task with `taskKeep` 1 reopens to in progress (2).",
        request="CallAppendRequest",
        response="CallAppendResponse",
        body_required=True,
        refused='list[3].phoneNumber: must be digits with an optional leading +, got "12a"',
        refusals=(
            *_TASK_REF_REFUSALS,
            ("list: required", "`list` is not set"),
            ("list: must not be empty", "`list` is empty"),
            ("list: must be an array", "`list` is not an array"),
            (
                "taskId: task <taskId> is completed (taskKeep 0) and takes no more contacts",
                "the task is completed and `taskKeep` is 0",
            ),
            ("taskId: task <taskId> has failed and takes no more contacts", "the task has failed"),
            *_CONTACT_REFUSALS,
            (
                "autoFlowId: flow <n> of task <taskId> is disabled",
                "the task's flow was disabled or removed",
            ),
        ),
    ),
    Endpoint(
        name="order/delete",
        operation_id="deleteContact",
        tag="contacts",
        summary="Delete a pending contact from a task",
        description="Delete one contact that is still pending and was never dialled; the "
        "task's `totalOrderCount` goes down by one.",
        request="OrderDeleteRequest",
        response="OrderDeleteResponse",
        body_required=True,
        refused="contactId: 'c-1001' has been dialled and cannot be deleted",
        refusals=(
            *_TASK_REF_REFUSALS,
            ("contactId: required", "`contactId` is not set"),
            (
                "contactId: '<id>' has been dialled and cannot be deleted",
                "the contact has been dialled (or is being dialled)",
            ),
            ("contactId: no contact '<id>' in task <taskId>", "the task has no such contact"),
        ),
    ),
    Endpoint(
        name="call/list",
        operation_id="listCalls",
        tag="calls",
        summary="Query the completed calls of a task",
        description="The completed calls of one task, newest first (`createTs` descending, then "
        "`id` descending). `total` counts every matching call; a page past the end answers "
        "`list: []` with the true `total`.",
        request="CallListRequest",
        response="CallListResponse",
        body_required=True,
        refused="pageSize: at most 1000, got 5000",
        refusals=(
            ("taskId: no task '<id>' in this account", "no such task in the caller's account"),
            ("pageSize: at most 1000, got <n>", "`pageSize` above 1000"),
            ("taskId: required", "`taskId` is not set"),
            ("endTs: must be at least startTs (<endTs> < <startTs>)", "`endTs` below `startTs`"),
            (
                "maxElapsed: must be at least minElapsed (<maxElapsed> < <minElapsed>)",
                "`maxElapsed` below `minElapsed`",
            ),
        ),
    ),
    Endpoint(
        name="flow/list",
        operation_id="listFlows",
        tag="catalog",
        summary="Query the AI agents (flows) of the account",
        description="The enabled AI agents (flows) of the caller's account, by id ascending, "
        "with the variable names each accepts in a contact's `params`.",
        request="FlowListRequest",
        response="FlowListResponse",
        body_required=False,
        refused="pageSize: at most 1000, got 5000",
        refusals=(("pageSize: at most 1000, got <n>", "`pageSize` above 1000"),),
    ),
    Endpoint(
        name="route/list",
        operation_id="listRoutes",
        tag="catalog",
        summary="Query the call routes of the account",
        description="The enabled call routes of the caller's account, by id ascending (100 per "
        "page by default).",
        request="RouteListRequest",
        response="RouteListResponse",
        body_required=False,
        refused="pageSize: at most 1000, got 5000",
        refusals=(("pageSize: at most 1000, got <n>", "`pageSize` above 1000"),),
    ),
    Endpoint(
        name="task/start",
        operation_id="startTask",
        tag="tasks",
        summary="Start a task (an extension of this product)",
        description="Start a ready (1) or paused (5) task: it goes in progress (2) and "
        "`startupBy` is recorded. A task already in progress answers success and does not "
        "change.",
        request="TaskStartRequest",
        response="TaskStateResponse",
        body_required=True,
        refused=f"taskStatus: task {EXAMPLE_TASK_ID} is completed",
        refusals=(
            *_TASK_REF_REFUSALS,
            (
                "taskStatus: task <id> is paused for insufficient balance; top up the account",
                "the task is paused for insufficient balance (6)",
            ),
            ("taskStatus: task <id> is completed", "the task is completed (3)"),
            ("taskStatus: task <id> has failed", "the task has failed (4)"),
            (
                "autoFlowId: flow <n> of task <taskId> is disabled",
                "the task's flow was disabled or removed",
            ),
            (
                "routeId: route '<id>' of task <taskId> is disabled",
                "the task's route was disabled or removed",
            ),
        ),
    ),
    Endpoint(
        name="task/pause",
        operation_id="pauseTask",
        tag="tasks",
        summary="Pause a task (an extension of this product)",
        description="Pause an in-progress (2) task: it goes paused (5) with `pauseReason` 1. A "
        "task already paused (5) answers success and does not change.",
        request="TaskPauseRequest",
        response="TaskStateResponse",
        body_required=True,
        refused=f"taskStatus: only an in-progress task can be paused (task {EXAMPLE_TASK_ID} is "
        "ready)",
        refusals=(
            *_TASK_REF_REFUSALS,
            (
                "taskStatus: only an in-progress task can be paused (task <id> is <status word>)",
                "the task is not in progress (2) or paused (5)",
            ),
        ),
    ),
)


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
        **_lifecycle_schemas(settings),
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
    statuses = _http_statuses(settings, TASK_LIST_PATH)
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
    return {
        "operationId": "listTasks",
        "tags": ["tasks"],
        "summary": "Query the outbound task list",
        "description": description,
        "security": [{"nxlinkSignature": []}],
        "parameters": _header_refs(settings),
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
        "responses": _api_responses(
            settings,
            TASK_LIST_PATH,
            ok="TaskListResponse",
            ok_description="The envelope: code 0 with a page of tasks, or a refusal with code "
            "1001–1005 or 20000.",
            examples=examples,
        ),
        "x-codes": codes,
        "x-codeSamples": [
            {"lang": "Shell", "label": "curl (md5)", "source": _curl_example(settings)},
        ],
    }


def _callback_operation(
    *, operation_id: str, summary: str, url_field: str, schema: str, example: Json
) -> Json:
    description = f"""\
The service POSTs the event to the task's `{url_field}` (when set) through a durable outbox: \
the event is written in the same transaction as the change it reports, and kept across \
restarts. The body is UTF-8 JSON, sent byte for byte as stored, and signed with the five auth \
headers exactly like a request (same recipe, the account's newest enabled access key), plus \
`X-Nxlink-Event-Id`. Verify the signature over the raw body before parsing it.

Delivery: any 2xx answer means delivered. Anything else, a transport error or no answer within \
10 s is retried with backoff: {CALLBACK_SCHEDULE}. Every try of one event carries the same \
`eventId`: drop duplicates by it."""
    header_text = {
        "accessKey": "The account's newest enabled access key.",
        "ts": "When this try was sent, epoch milliseconds.",
        "bizType": "Fixed `100`.",
        "action": "Fixed `nxai`.",
        "sign": "md5 signature of the raw body with the key's secret (the request recipe). "
        "The example signs the example body in compact JSON with the example accessKey and ts "
        f"and the secret `{EXAMPLE_SECRET}`.",
    }
    header_examples = {
        "accessKey": EXAMPLE_ACCESS_KEY,
        "ts": EXAMPLE_CALLBACK_TS,
        "bizType": "100",
        "action": "nxai",
        "sign": signing.sign(
            access_key=EXAMPLE_ACCESS_KEY,
            access_secret=EXAMPLE_SECRET,
            ts=EXAMPLE_CALLBACK_TS,
            body=json.dumps(example, ensure_ascii=False, separators=(",", ":")).encode(),
        ),
    }
    parameters: list[Json] = [
        {
            "name": name,
            "in": "header",
            "required": True,
            "description": text,
            "schema": {"type": "string"},
            "example": header_examples[name],
        }
        for name, text in header_text.items()
    ]
    parameters.append(
        {
            "name": "X-Nxlink-Event-Id",
            "in": "header",
            "required": True,
            "description": "The event's `eventId`, the same on every try.",
            "schema": {"type": "string", "pattern": EVENT_ID_PATTERN},
            "example": EXAMPLE_EVENT_ID,
        }
    )
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "description": f"A `{schema}`.",
            "content": {"application/json": {"schema": _ref(schema), "example": example}},
        },
        "responses": {
            "2XX": {"description": "Delivered; no body is read."},
            "default": {
                "description": "Not delivered (as are a transport error and no answer in 10 s): "
                "tried again on the schedule above."
            },
        },
    }


def _callbacks() -> Json:
    return {
        "taskStatus": {
            "{$request.body#/taskCallbackUrl}": {
                "post": _callback_operation(
                    operation_id="taskStatusCallback",
                    summary="Task status changed (sent to taskCallbackUrl)",
                    url_field="taskCallbackUrl",
                    schema="TaskStatusEvent",
                    example=_task_status_event_example(),
                )
            }
        },
        "callCompleted": {
            "{$request.body#/callCallbackUrl}": {
                "post": _callback_operation(
                    operation_id="callCompletedCallback",
                    summary="A call completed (sent to callCallbackUrl)",
                    url_field="callCallbackUrl",
                    schema="CallEvent",
                    example=_call_event_schema()["examples"][0],
                )
            }
        },
    }


def _api_responses(
    settings: Settings, path: str, *, ok: str, ok_description: str, examples: Json
) -> Json:
    """The responses of an API endpoint: the envelope on HTTP 200, then the statuses outside
    the contract."""
    responses: Json = {
        "200": {
            "description": ok_description,
            "headers": {"X-Trace-Id": _trace_header()},
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_ref(ok), _ref("Error")]},
                    "examples": examples,
                }
            },
        }
    }
    for status, when, message in _http_statuses(settings, path):
        responses[str(status)] = _error_response(
            when[0].upper() + when[1:] + ".", message, retry_after=status in (429, 503)
        )
    return responses


def _header_refs(settings: Settings) -> list[Json]:
    return [{"$ref": f"#/components/parameters/{p['name']}"} for p in _header_parameters(settings)]


def _lifecycle_operation(settings: Settings, endpoint: Endpoint, schemas: Json) -> Json:
    request = schemas[endpoint.request]
    examples: Json = {
        "success": {
            "summary": "code 0",
            "value": schemas[endpoint.response]["examples"][0],
        },
        "code1003": {
            "summary": "code 1003",
            "value": {
                "code": 1003,
                "message": "Authentication failed (invalid signature)",
                "traceId": EXAMPLE_TRACE_ID,
            },
        },
        "code20000": {
            "summary": "code 20000",
            "value": {"code": 20000, "message": endpoint.refused, "traceId": EXAMPLE_TRACE_ID},
        },
    }
    sample = json.dumps(request["examples"][0], ensure_ascii=False, separators=(",", ":"))
    operation: Json = {
        "operationId": endpoint.operation_id,
        "tags": [endpoint.tag],
        "summary": endpoint.summary,
        "description": endpoint.description + "\n\n" + CHECKING_ORDER,
        "security": [{"nxlinkSignature": []}],
        "parameters": _header_refs(settings),
        "requestBody": {
            "required": endpoint.body_required,
            "description": "A JSON object (UTF-8; a `charset` parameter is allowed). An empty "
            "body is read as `{}` but signed as empty. The raw bytes are signed as sent.",
            "content": {
                "application/json": {
                    "schema": _ref(endpoint.request),
                    "examples": {
                        "example": {"summary": "A request", "value": request["examples"][0]}
                    },
                }
            },
        },
        "responses": _api_responses(
            settings,
            endpoint.path,
            ok=endpoint.response,
            ok_description="The envelope: code 0 with the result, or a refusal with code "
            "1001–1005 or 20000.",
            examples=examples,
        ),
        "x-codes": _codes(settings),
        "x-refusals": [{"message": message, "when": when} for message, when in endpoint.refusals],
        "x-codeSamples": [
            {
                "lang": "Shell",
                "label": "nxlink api",
                "source": f"nxlink api {endpoint.name} {shlex.quote(sample)}",
            }
        ],
    }
    if endpoint.name == "task/create":
        operation["callbacks"] = _callbacks()
    return operation


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
        description += "20000 and `Retry-After` when it fails (the message names the failure's "
        description += "class) or does not answer within `NXLINK_READY_TIMEOUT_MS`."
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
            "The database is not ready.", "database not ready: OperationalError", retry_after=True
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
lowercase hex characters, also the `X-Trace-Id` response header). Paged results (task/list, \
call/list, flow/list, route/list: `total`, `pageNumber`, `pageSize`, `list`) sit {where} on \
this server; the other successes carry a `data` object.

### Callbacks
A task created with `taskCallbackUrl` receives a `TaskStatusEvent` on every status change, and \
with `callCallbackUrl` a `CallEvent` per completed call: POSTed with the five auth headers \
signed like a request (the account's newest enabled key) and `X-Nxlink-Event-Id`; any 2xx is \
delivered, anything else is retried ({CALLBACK_SCHEDULE})."""


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this server, as configured by ``settings``."""
    local_only = [{"url": "/", "description": "This server"}]
    schemas = _schemas(settings)
    lifecycle: Json = {
        endpoint.path: {"post": _lifecycle_operation(settings, endpoint, schemas)}
        for endpoint in ENDPOINTS
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NXLink-compatible AI Agent OpenAPI",
            "version": __version__,
            "summary": "Outbound AI-agent tasks: create them, import contacts, start and "
            "pause them, list tasks, calls, flows and routes; the signature, the envelope and "
            "the callbacks.",
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
            {"name": "contacts", "description": "The contacts (orders) of a task."},
            {"name": "calls", "description": "The completed calls of a task."},
            {"name": "catalog", "description": "The AI agents (flows) and call routes."},
            {"name": "health", "description": "Probes; no authentication."},
            {"name": "meta", "description": "This document and its HTML rendering."},
        ],
        "paths": {
            TASK_LIST_PATH: {"post": _task_list_operation(settings)},
            **lifecycle,
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
            "schemas": schemas,
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


def _fields(schema: Json, prefix: str = "") -> Iterator[tuple[str, Json, str]]:
    """(dotted name, schema, required) of an object's properties, inline objects expanded.

    ``required`` is ``yes``, ``no``, or ``one of a, b`` for properties of which at least one
    must be given (an ``anyOf`` of ``required`` lists).
    """
    required = set(schema.get("required", []))
    alternatives = [
        name for branch in schema.get("anyOf", []) for name in branch.get("required", [])
    ]
    for name, prop in schema.get("properties", {}).items():
        if name in required:
            need = "yes"
        elif name in alternatives:
            need = "one of " + ", ".join(alternatives)
        else:
            need = "no"
        yield prefix + name, prop, need
        if prop.get("type") == "object" and "properties" in prop:
            yield from _fields(prop, prefix + name + ".")


def _fields_table(schema: Json, *, rules: bool = False) -> str:
    filters = rules and any("x-filter" in prop for prop in schema.get("properties", {}).values())
    head = ["field", "type", "required"]
    head += (["rule"] if rules else []) + (["filter"] if filters else []) + ["description"]
    rows: list[list[str]] = []
    for name, prop, required in _fields(schema):
        row = [f"<code>{_e(name)}</code>", _type_html(prop), _e(required)]
        if rules:
            row.append(_rule_html(prop))
            if filters:
                row.append(_inline(str(prop.get("x-filter", ""))))
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


def _refusals_html(refusals: list[Json]) -> str:
    rows = [
        [f"<code>{_e(item.get('message', ''))}</code>", _inline(str(item.get("when", "")))]
        for item in refusals
    ]
    return _table(["message", "when"], rows)


def _callbacks_html(document: Json, callbacks: Json) -> str:
    """The callbacks an operation declares: where each goes, its headers, body and answers."""
    parts = ["<h3>Callbacks</h3>"]
    for name, path_item in callbacks.items():
        for expression, item in path_item.items():
            for method, callback in item.items():
                parts.append(
                    f'<h4 id="{_e(_anchor("callback " + name))}">{_e(name)}: '
                    f'<span class="method {_e(method)}">{_e(method.upper())}</span>'
                    f"<code>{_e(expression)}</code></h4>"
                )
                parts.append(f"<p><strong>{_inline(str(callback.get('summary', '')))}</strong></p>")
                parts.append(_markdown(str(callback.get("description", ""))))
                if callback.get("parameters"):
                    parts.append(_parameters_html(document, callback))
                body = callback.get("requestBody", {})
                for media_type, media in body.get("content", {}).items():
                    schema = media.get("schema", {})
                    parts.append(
                        f"<p>Body: <code>{_e(media_type)}</code>, {_type_html(schema)}.</p>"
                    )
                    if "example" in media:
                        parts.append(f"<pre><code>{_e(_json(media['example']))}</code></pre>")
                parts.append(_responses_html(document, callback))
    return "\n".join(parts)


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
    if operation.get("x-refusals"):
        parts += [
            "<h3>Refusals of this endpoint (code 20000)</h3>",
            "<p>Besides the type and range rules of each field:</p>",
            _refusals_html(operation["x-refusals"]),
        ]
    if operation.get("callbacks"):
        parts.append(_callbacks_html(document, operation["callbacks"]))
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
