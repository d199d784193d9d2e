"""The OpenAPI 3.1 document of this server, built from the endpoint declarations.

``openapi_document(settings)`` walks :data:`nxlink.contract.endpoints.ENDPOINTS`: each endpoint's
path (aliases included), its header pairs, its request fields (types, bounds, defaults, rules,
descriptions, examples, all from the declaration), its body limit and its answer, whose schema
comes from the pydantic model it declares (:class:`~nxlink.contract.task.Task`,
:class:`~nxlink.contract.callrecord.CallRecord`, :mod:`nxlink.contract.answers`). The document
describes what the server sends: the envelope on HTTP 200, and outside the contract 405, 413,
415, 500 and 503 (the database busy, with ``Retry-After``); an unknown path answers 404. Where
the page fields sit, the body limits, the timestamp window and the accepted ``bizType`` /
``action`` values come from ``settings``. ``docs_html`` (:mod:`nxlink.server.docs_page`) renders
the document as the static ``/docs`` page.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from nxlink import __version__, signing
from nxlink.contract import endpoints as contract
from nxlink.contract.answers import (
    CallCompletedEvent,
    ContactDeleted,
    ContactsAppended,
    Flow,
    Route,
    TaskCreated,
    TaskState,
    TaskStatusEvent,
)
from nxlink.contract.callrecord import CallRecord
from nxlink.contract.codes import Code
from nxlink.contract.endpoints import (
    ACTION,
    API_PREFIX,
    BIZ_TYPE,
    ENDPOINTS,
    MAX_PAGE_SIZE,
    OLD_BIZ_TYPE,
    Endpoint,
)
from nxlink.contract.task import StatInfo, Task
from nxlink.server.docs_page import SIGNATURE_HEADING
from nxlink.server.docs_page import docs_html as docs_html
from nxlink.server.envelope import EXAMPLE_TRACE_ID, TRACE_ID_PATTERN
from nxlink.server.settings import Settings
from nxlink.service.coerce import INT32_MAX, INT32_MIN, INT_RANGES, MILLIS_THRESHOLD

Json = dict[str, Any]

SCHEMA_REF: Final = "#/components/schemas/"
INTEGER_STRING_PATTERN: Final = "^[+-]?[0-9]+$"
NUMBER_STRING_PATTERN: Final = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
URL_PATTERN: Final = "^[hH][tT][tT][pP][sS]?://"
#: ``weekDay``: day digits joined by commas (that each day comes once, the rule text says).
WEEK_DAYS_PATTERN: Final = "^[1-7](,[1-7]){0,6}$"
EVENT_ID_PATTERN: Final = "^[0-9a-f]{32}$"

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
EXAMPLE_EVENT_ID: Final = "9f86d081884c4d659a2feaa0c55ad015"
EXAMPLE_CALLBACK_TS: Final = "1767225660000"

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

CALLBACK_SCHEDULE: Final = (
    "tries at 0, +10 s, +30 s, +90 s, +270 s, +810 s and +2430 s (7 tries over about 61 "
    "minutes), then the delivery is marked failed; a manual retry (`nxlink callbacks retry ID`) "
    "starts a new round with the same schedule"
)
REQUEST_RULES: Final = (
    'A JSON object; `null`, `""` and an absent key all mean "not set". Integer fields are 32-bit '
    "signed (64-bit where a field's schema says `int64`) and also take a JSON number with no "
    "fraction (`10.0`, `1e2`) or a string of digits "
    '(`"10"`); booleans, fractions, non-numeric strings, arrays, objects and NaN/Infinity are '
    "refused. Unknown fields are ignored. Every bad field is named in one 20000 message as "
    '`<field>: <what is wrong>`, several joined with `"; "`.'
)
CHECKING_ORDER: Final = (
    "Checks that need no key come first (404, 405, 413, 415), then authentication (1001, 1002, "
    "1004, 1005, 1003), then the body (20000); the first failure answers. Codes 0, 1001–1005 and "
    "20000 use HTTP 200."
)
BUSY_MESSAGE: Final = "database busy, try again: database is locked (waited 10000 ms)"


def _ref(name: str) -> Json:
    return {"$ref": SCHEMA_REF + name}


def _schema_name(endpoint: Endpoint, suffix: str) -> str:
    """``task/list`` → ``TaskListRequest`` / ``TaskListResponse``."""
    return "".join(part.capitalize() for part in endpoint.name.split("/")) + suffix


# -- request schemas, from the field declarations ----------------------------------------------

_NOT_SET: Final[list[Json]] = [
    {"type": "string", "const": "", "description": "not set"},
    {"type": "null", "description": "not set"},
]


def _integer_branches(*, minimum: int, maximum: int, required: bool, bits: int = 32) -> list[Json]:
    branches: list[Json] = [
        {"type": "integer", "format": f"int{bits}", "minimum": minimum, "maximum": maximum},
        {
            "type": "string",
            "pattern": INTEGER_STRING_PATTERN,
            "description": "decimal digits (optional sign), no whitespace, no exponent; the "
            "same range applies",
        },
    ]
    return branches if required else branches + _NOT_SET


def _rules_of(endpoint: Endpoint) -> dict[str, list[str]]:
    """The rules between fields, as each field's rule text says them."""
    rules: dict[str, list[str]] = {}
    for rule in endpoint.rules:
        if isinstance(rule, contract.AtLeast):
            rules.setdefault(rule.name, []).append(f"≥ {rule.other}")
        elif isinstance(rule, contract.After):
            rules.setdefault(rule.name, []).append(f"> {rule.other}")
        else:
            rules.setdefault(rule.name, []).append(f"required when {rule.other} is {rule.value}")
    return rules


def _field_schema(field: contract.Field, extra_rules: list[str]) -> Json:
    """One request field: its JSON Schema, ``x-rule`` (what the parser checks, in words) and
    ``x-filter`` (what it selects)."""
    rule: list[str] = []
    schema: Json
    if isinstance(field, contract.Text):
        text: Json = {"type": "string"}
        if field.required:
            text["minLength"] = 1
        if field.max_length is not None:
            text["maxLength"] = field.max_length
            low = 1 if field.required else 0
            rule.append(f"{low}–{field.max_length} characters" if low else
                        f"≤ {field.max_length} characters")  # fmt: skip
        if field.not_blank:
            rule.append("not only whitespace")
        if field.note:
            rule.append(field.note)
        schema = text if field.required else {"type": ["string", "null"], **_drop_type(text)}
    elif isinstance(field, contract.Url):
        schema = {"type": ["string", "null"], "maxLength": field.max_length}
        schema["anyOf"] = [{"pattern": URL_PATTERN}, {"const": ""}, {"type": "null"}]
        rule.append(f"http(s) URL with a host, ≤ {field.max_length} characters")
    elif isinstance(field, contract.CountryCode):
        pattern = rf"^\+?[0-9]{{{field.min_digits},{field.max_digits}}}$"
        schema = {"oneOf": [{"type": "string", "pattern": pattern}, *_NOT_SET]}
        rule.append(f"{field.min_digits}–{field.max_digits} digits, optional leading +")
    elif isinstance(field, contract.Integer):
        high = INT_RANGES[field.bits][1] if field.high is None else field.high
        schema = {"oneOf": _integer_branches(minimum=field.low, maximum=high,
                                             required=field.required, bits=field.bits)}  # fmt: skip
        rule.append(f"{field.low}–{field.high}" if field.high is not None else f"≥ {field.low}")
        if field.default is not None:
            schema["default"] = field.default
            rule.append(f"default {field.default}")
        elif field.default_text:
            rule.append(f"default {field.default_text}")
    elif isinstance(field, contract.OneOf):
        listed = ", ".join(map(str, field.values))
        if field.others_match_nothing:
            schema = {"oneOf": _integer_branches(minimum=INT32_MIN, maximum=INT32_MAX,
                                                 required=False)}  # fmt: skip
            rule.append(f"one of {listed}; another integer matches nothing")
        else:
            schema = {"oneOf": [{"type": "integer", "enum": list(field.values)},
                                {"type": "string", "pattern": INTEGER_STRING_PATTERN,
                                 "description": "one of the values, as decimal digits"},
                                *_NOT_SET]}  # fmt: skip
            rule.append(f"one of {listed}")
    elif isinstance(field, contract.Timestamp):
        schema = {"oneOf": _integer_branches(minimum=0, maximum=INT32_MAX, required=False)}
        rule.append(f"≥ 0, epoch seconds (10^{len(str(MILLIS_THRESHOLD)) - 1} or more is refused "
                    "as looking like milliseconds)")  # fmt: skip
    elif isinstance(field, contract.Rate):
        schema = {"oneOf": [
            {"type": "number", "minimum": field.low, "maximum": field.high},
            {"type": "string", "pattern": NUMBER_STRING_PATTERN,
             "description": "a decimal number, no whitespace, no exponent; the same range "
             "applies"},
            *_NOT_SET,
        ]}  # fmt: skip
        rule.append(f"{field.low:.1f}–{field.high:.1f}")
    elif isinstance(field, contract.ContactId):
        schema = {"oneOf": [
            {"type": "string", "minLength": 1, "maxLength": field.max_length},
            {"type": "integer", "description": "taken as its decimal string"},
        ]}  # fmt: skip
        rule.append(f"1–{field.max_length} characters, or an integer (its decimal string)")
    elif isinstance(field, contract.Phone):
        pattern = rf"^\+?[0-9]{{{field.min_digits},{field.max_digits}}}$"
        schema = {"type": "string", "pattern": pattern}
        rule.append(f"{field.min_digits}–{field.max_digits} digits, optional leading +")
    elif isinstance(field, contract.Params):
        schema = {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1,
                             "maxLength": field.name_max_length},
                    "value": {"maxLength": field.value_max_length,
                              "description": "any JSON value, echoed as sent in the call "
                              f"record's `attributes`; a string ≤ {field.value_max_length} "
                              f"characters, anything else ≤ {field.value_max_length} "
                              "characters of compact JSON, integers 64-bit"},
                },
            },
        }  # fmt: skip
        rule.append(f"names 1–{field.name_max_length} characters and distinct; values any JSON "
                    f"value (a string ≤ {field.value_max_length} characters, anything else ≤ "
                    f"{field.value_max_length} characters of JSON)")  # fmt: skip
    elif isinstance(field, contract.WeekDays):
        schema = {"oneOf": [{"type": "string", "pattern": WEEK_DAYS_PATTERN}, *_NOT_SET]}
        rule.append("day digits 1–7 (Monday–Sunday) joined by commas, no spaces, each day "
                    "once, any order; empty: every day")  # fmt: skip
    elif isinstance(field, contract.Contacts):
        schema = {"type": "array", "maxItems": field.max_items, "items": _ref("Contact")}
        if field.required:
            schema["minItems"] = 1
            rule.append(f"1–{field.max_items} contacts")
        else:
            schema["type"] = ["array", "null"]
            rule.append(f"0–{field.max_items} contacts")
        rule.append(f"`{field.unique}` distinct")
    else:  # pragma: no cover - every kind is above
        raise TypeError(f"{field.name}: no schema for a {type(field).__name__}")
    if field.required and not isinstance(field, contract.Contacts):
        rule.insert(0, "required")
    schema["description"] = field.description
    schema["x-rule"] = ", ".join([*rule, *extra_rules])
    if field.filter:
        schema["x-filter"] = field.filter
    if field.example is not None:
        schema["examples"] = [field.example]
    return schema


def _drop_type(schema: Json) -> Json:
    return {key: value for key, value in schema.items() if key != "type"}


def _object_schema(fields: tuple[contract.Field, ...], rules: dict[str, list[str]]) -> Json:
    properties: Json = {}
    required: list[str] = []
    any_of: list[Json] = []
    for field in fields:
        if isinstance(field, contract.TaskRef):
            for name in (field.name, field.alternative):
                properties[name] = {
                    "type": ["string", "null"],
                    "maxLength": field.max_length,
                    "description": field.description,
                    "x-rule": f"≤ {field.max_length} characters; one of {field.name}, "
                    f"{field.alternative} (`{field.alternative}` wins)",
                    "examples": [field.example if name == field.name
                                 else contract.EXAMPLE_USER_TASK_ID],
                }  # fmt: skip
            any_of = [{"required": [field.name]}, {"required": [field.alternative]}]
            continue
        properties[field.name] = _field_schema(field, rules.get(field.name, []))
        if field.required:
            required.append(field.name)
    schema: Json = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if any_of:
        schema["anyOf"] = any_of
    return schema


def request_schema(endpoint: Endpoint) -> Json:
    """The request body of ``endpoint``, from its declared fields and rules."""
    schema = _object_schema(endpoint.fields, _rules_of(endpoint))
    return {"description": REQUEST_RULES, **schema, "examples": [endpoint.example]}


def _contact_schema() -> Json:
    """One contact of ``list`` (``task/create``, ``call/append``)."""
    contacts = next(f for f in contract.CALL_APPEND.fields if isinstance(f, contract.Contacts))
    schema = _object_schema(contacts.items, {})
    return {"description": "One contact to import.", **schema}


# -- answer schemas, from the models -----------------------------------------------------------


def _model_schemas(models: list[type[BaseModel]]) -> Json:
    """The JSON Schemas of ``models`` (and of the models they use), as components."""
    _, top = models_json_schema(
        [(model, "serialization") for model in models],
        ref_template=SCHEMA_REF + "{model}",
    )
    schemas: Json = top.get("$defs", {})
    # This server sends every key of the task object and of statInfo (the models are tolerant
    # readers of other servers' answers).
    for name in ("Task", "StatInfo"):
        schemas[name]["required"] = list(schemas[name]["properties"])
    for model in answer_examples():
        schemas[model.__name__]["examples"] = [answer_example(model)]
    return schemas


def _envelope_properties(codes: list[int], *, success: bool = False) -> Json:
    code: Json = {"type": "integer", "description": "Result code."}
    if len(codes) == 1:
        code["const"] = codes[0]
    else:
        code["enum"] = codes
    message: Json = {"type": "string", "description": "Result message."}
    if success:
        message["const"] = "success"
    return {
        "code": code,
        "message": message,
        "traceId": {
            "type": "string",
            "pattern": TRACE_ID_PATTERN,
            "description": "A random UUID per request, lowercase with dashes; also sent as the "
            "`X-Trace-Id` response header and written to the request log.",
            "examples": [EXAMPLE_TRACE_ID],
        },
    }


def _page_schema(item: str, *, default_size: int) -> Json:
    return {
        "total": {"type": "integer", "minimum": 0, "description": "Every matching row, over "
                  "all pages."},
        "pageNumber": {"type": "integer", "minimum": 1, "description": "The page answered "
                       "(1-based)."},
        "pageSize": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                     "description": f"Rows per page (default {default_size})."},
        "list": {"type": "array", "items": _ref(item),
                 "description": "Rows (pageNumber-1)×pageSize+1 … of the order; `[]` past the "
                 "end."},
    }  # fmt: skip


def answer_examples() -> dict[type[BaseModel], Json]:
    """An example object of each answer model and of each callback body."""
    return {
        Task: TASK_EXAMPLE,
        StatInfo: STAT_INFO_EXAMPLE,
        CallRecord: {k: v for k, v in CALL_EVENT_EXAMPLE.items() if k != "other"},
        Flow: {"autoFlowId": 158, "autoFlowName": "Renewal reminder",
               "variables": ["name", "due"], "createTs": 1767139200},
        Route: {"routeId": "CJq6rtX2lg", "routeName": "HK mobile", "countryCode": "852",
                "pricePerMinute": 12, "createTs": 1767139200},
        TaskCreated: {"taskId": contract.EXAMPLE_TASK_ID},
        ContactsAppended: {"taskId": contract.EXAMPLE_TASK_ID, "count": 1},
        ContactDeleted: {"taskId": contract.EXAMPLE_TASK_ID, "contactId": "c-1001"},
        TaskState: {"taskId": contract.EXAMPLE_TASK_ID, "taskStatus": 2, "pauseReason": None},
        **event_examples(),
    }  # fmt: skip


def answer_example(model: type[BaseModel]) -> Json:
    """The example of ``model``'s object, checked against the model."""
    example = answer_examples()[model]
    model.model_validate(example)
    return example


def response_schema(endpoint: Endpoint, settings: Settings) -> Json:
    """The success answer (code 0) of ``endpoint``: the envelope with its page or ``data``."""
    item = endpoint.answer.__name__
    row = answer_example(endpoint.answer)
    example: Json = {"code": 0, "message": "success", "traceId": EXAMPLE_TRACE_ID}
    properties = _envelope_properties([int(Code.SUCCESS)], success=True)
    if endpoint.paged:
        size = next(f for f in endpoint.fields if f.name == "pageSize")
        assert isinstance(size, contract.Integer) and size.default is not None
        page = _page_schema(item, default_size=size.default)
        page_example = {"total": 1, "pageNumber": 1, "pageSize": size.default, "list": [row]}
        if endpoint.page_shape(settings.envelope) == "data":
            properties["data"] = {"type": "object", "required": list(page), "properties": page,
                                  "description": "The page (this server nests it under "
                                  "`data`)."}  # fmt: skip
            example["data"] = page_example
            where = "nested under `data`"
        else:
            properties.update(page)
            example.update(page_example)
            where = "at the top level, beside `code`, `message` and `traceId`"
        description = f"A page of `{item}` rows (code 0). This server puts the page fields {where}."
    else:
        properties["data"] = {**_ref(item), "description": "The result."}
        example["data"] = row
        description = f"Success (code 0), the result under `data` (`{item}`)."
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "properties": properties,
        "examples": [example],
    }


def _schemas(settings: Settings) -> Json:
    all_codes = [int(code) for code in sorted(Code)]
    error_codes = [code for code in all_codes if code != Code.SUCCESS]
    schemas: Json = {
        "Envelope": {
            "type": "object",
            "description": "Every answer, success or failure, carries these keys.",
            "required": ["code", "message", "traceId"],
            "properties": _envelope_properties(all_codes),
        },
        "Error": {
            "type": "object",
            "description": "A refusal: codes 1001–1005 and 20000 with HTTP 200, or code 20000 "
            "with an HTTP status outside the contract (404, 405, 413, 415, 500, 503).",
            "required": ["code", "message", "traceId"],
            "properties": _envelope_properties(error_codes),
            "additionalProperties": False,
        },
        "Contact": _contact_schema(),
    }
    models: list[type[BaseModel]] = [Task, StatInfo, TaskStatusEvent, CallCompletedEvent]
    models += [endpoint.answer for endpoint in ENDPOINTS]
    schemas.update(_model_schemas(list(dict.fromkeys(models))))
    for endpoint in ENDPOINTS:
        schemas[_schema_name(endpoint, "Request")] = request_schema(endpoint)
        schemas[_schema_name(endpoint, "Response")] = response_schema(endpoint, settings)
    return schemas


# -- operations --------------------------------------------------------------------------------


def result_codes(settings: Settings) -> list[Json]:
    """The result codes in checking order (``conventions.md``): the first failure answers."""
    old = "" if settings.strict_headers else f", or `{OLD_BIZ_TYPE}` with the operation's own"
    return [
        {"code": int(Code.MISSING_PARAMETERS), "httpStatus": 200,
         "when": "a required header is missing or empty",
         "message": "Authentication failed (missing public parameters): <header names>"},
        {"code": int(Code.PARAMETER_ERROR), "httpStatus": 200,
         "when": "`ts` is not decimal digits, the `bizType`/`action` pair is not accepted "
         f"(`{BIZ_TYPE}` with `{ACTION}`{old + ' action' if old else ''}; an action naming "
         "another operation says which), `algorithm` is unknown",
         "message": "Authentication failed (parameter error): <what and why>"},
        {"code": int(Code.TIMESTAMP_EXPIRED), "httpStatus": 200,
         "when": f"`ts` outside the window (more than {settings.timestamp_window_ms} ms from "
         "the server clock, either direction)",
         "message": "Authentication failed (timestamp expired): server time <ms>"},
        {"code": int(Code.INSUFFICIENT_AUTHORITY), "httpStatus": 200,
         "when": "`accessKey` unknown, revoked, or its account disabled",
         "message": "Authentication failed (insufficient authority)"},
        {"code": int(Code.INVALID_SIGNATURE), "httpStatus": 200, "when": "`sign` does not match",
         "message": "Authentication failed (invalid signature)"},
        {"code": int(Code.BUSINESS_ERROR), "httpStatus": 200,
         "when": "the body is not a JSON object, or a field breaks the endpoint's rules (one "
         "message may list several fields)", "message": "<field>: <what is wrong>"},
        {"code": int(Code.SUCCESS), "httpStatus": 200, "when": "success", "message": "success"},
    ]  # fmt: skip


def _biz_types(settings: Settings) -> list[str]:
    old = [] if settings.strict_headers else [OLD_BIZ_TYPE]
    return list(dict.fromkeys([BIZ_TYPE, *old, *settings.extra_biz_types]))


def _header_parameters(settings: Settings) -> list[Json]:
    """The auth headers every API operation shares (``action`` is each operation's own)."""
    window = settings.timestamp_window_ms
    generations = (
        f'"{BIZ_TYPE}" (with action "{ACTION}")'
        if settings.strict_headers
        else f'"{BIZ_TYPE}" (with action "{ACTION}") or "{OLD_BIZ_TYPE}" (the older '
        "generation, with the operation's own action)"
    )
    extras = (
        " Also accepted here, like 100: " + ", ".join(f"`{b}`" for b in settings.extra_biz_types)
        if settings.extra_biz_types
        else ""
    )
    return [
        {"name": "accessKey", "in": "header", "required": True,
         "description": "User identity identifier: the caller's key id.",
         "schema": {"type": "string", "minLength": 1}, "example": EXAMPLE_ACCESS_KEY},
        {"name": "ts", "in": "header", "required": True,
         "description": "Current request timestamp, epoch milliseconds, decimal digits. The "
         f"server accepts |server clock - ts| <= {window} ms, future timestamps included; "
         "anything else is code 1004.",
         "schema": {"type": "string", "pattern": "^[0-9]+$"}, "example": EXAMPLE_TS},
        {"name": "bizType", "in": "header", "required": True,
         "description": f"Business type: {generations}.{extras}",
         "schema": {"type": "string", "enum": _biz_types(settings)}, "example": BIZ_TYPE},
        {"name": "sign", "in": "header", "required": True,
         "description": "Request signature: the lowercase hex digest of the pre-image (see the "
         "signature recipe). The example is the md5 signature of the body "
         f"`{EXAMPLE_BODY}` with the example accessKey and ts and the secret "
         f"`{EXAMPLE_SECRET}`.",
         "schema": {"type": "string", "pattern": "^([0-9a-f]{32}|[0-9a-f]{64})$"},
         "example": EXAMPLE_SIGN_MD5},
        {"name": "algorithm", "in": "header", "required": False,
         "description": "Digest for `sign`: `md5` (default, also when empty) or `sha256`, "
         "case-insensitive. Anything else is code 1002.",
         "schema": {"type": "string", "pattern": "^([mM][dD]5|[sS][hH][aA]256)?$",
                    "default": "md5"}, "example": "md5"},
    ]  # fmt: skip


def _action_parameter(endpoint: Endpoint, settings: Settings) -> Json:
    actions = [ACTION]
    if endpoint.action != ACTION and not settings.strict_headers:
        actions.append(endpoint.action)
    actions = list(dict.fromkeys([*actions, *settings.extra_actions]))
    if settings.strict_headers or endpoint.action == ACTION:
        text = f'Business operation: "{ACTION}".'
    else:
        text = (
            f'Business operation: "{ACTION}" with bizType {BIZ_TYPE}, "{endpoint.action}" '
            f"(this operation's own name) with bizType {OLD_BIZ_TYPE}."
        )
    if settings.extra_actions:
        text += " Also accepted here: " + ", ".join(f"`{a}`" for a in settings.extra_actions)
    return {"name": "action", "in": "header", "required": True, "description": text,
            "schema": {"type": "string", "enum": actions}, "example": ACTION}  # fmt: skip


def _trace_header() -> Json:
    return {"description": "The answer's `traceId`.",
            "schema": {"type": "string", "pattern": TRACE_ID_PATTERN}}  # fmt: skip


def _error_response(description: str, message: str, *, retry_after: bool = False) -> Json:
    headers: Json = {"X-Trace-Id": _trace_header()}
    if retry_after:
        headers["Retry-After"] = {
            "description": "Seconds to wait before retrying (`NXLINK_RETRY_AFTER_S`).",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
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


def _shared_responses(settings: Settings) -> Json:
    """The answers outside the contract that every API operation may give."""
    return {
        "NotFound": _error_response("No endpoint at that path (any method).",
                                    "no such endpoint: POST /openapi/aiagent/task/lists"),
        "MethodNotAllowed": _error_response(
            "Another method than POST on an endpoint's path; `Allow` names POST.",
            f"method GET not allowed for {contract.TASK_LIST.path}; use POST"),
        "UnsupportedMediaType": _error_response(
            "A `Content-Type` whose media type is not `application/json` (a missing one is "
            "accepted).", "Content-Type: must be application/json, got 'text/plain'"),
        "InternalError": _error_response(
            "An unexpected error; no stack trace is returned (the traceId finds it in the "
            "server's log).", f"internal error (traceId {EXAMPLE_TRACE_ID})"),
        "DatabaseBusy": _error_response(
            "The database could not answer in time (a lock, pool or statement timeout): nothing "
            "was changed; retry after `Retry-After` seconds.", BUSY_MESSAGE, retry_after=True),
        **({"RateLimited": _error_response(
            f"The access key is past its rate limit ({settings.rate_limit_per_s:g} requests "
            f"per second, bursts of {settings.rate_limit_burst}): nothing was done; retry after "
            "`Retry-After` seconds.",
            "rate limit: too many requests for access key AK-6230339248928541113-2133; try "
            "again in 1 s", retry_after=True)} if settings.rate_limit_per_s > 0 else {}),
    }  # fmt: skip


def _response_ref(name: str) -> Json:
    return {"$ref": f"#/components/responses/{name}"}


def _operation(endpoint: Endpoint, settings: Settings, path: str) -> Json:
    limit = (
        settings.max_import_body_bytes
        if endpoint.body_limit == "import"
        else settings.max_body_bytes
    )
    request_name = _schema_name(endpoint, "Request")
    sample = json.dumps(endpoint.example, ensure_ascii=False, separators=(",", ":"))
    alias = path != endpoint.path
    operation: Json = {
        "operationId": endpoint.operation_id + ("Alias" if alias else ""),
        "tags": [endpoint.tag],
        "summary": endpoint.summary + (f" (alias of {endpoint.name})" if alias else ""),
        "description": endpoint.description + "\n\n" + CHECKING_ORDER,
        "security": [{"nxlinkSignature": []}],
        "parameters": [
            *({"$ref": f"#/components/parameters/{p['name']}"}
              for p in _header_parameters(settings)),
            _action_parameter(endpoint, settings),
        ],
        "requestBody": {
            "required": endpoint.body_required,
            "description": f"A JSON object (UTF-8; a `charset` parameter is allowed) of at most "
            f"{limit} bytes. An empty body is read as `{{}}` but signed as empty. The raw bytes "
            "are signed as sent.",
            "content": {"application/json": {
                "schema": _ref(request_name),
                "examples": {"example": {"summary": "A request", "value": endpoint.example}},
            }},
        },
        "responses": {
            "200": {
                "description": "The envelope: code 0 with the result, or a refusal with code "
                "1001–1005 or 20000.",
                "headers": {"X-Trace-Id": _trace_header()},
                "content": {"application/json": {
                    "schema": {"oneOf": [_ref(_schema_name(endpoint, "Response")),
                                         _ref("Error")]},
                    "examples": {"code20000": {"summary": "code 20000", "value": {
                        "code": 20000, "message": endpoint.refused,
                        "traceId": EXAMPLE_TRACE_ID}}},
                }},
            },
            "405": _response_ref("MethodNotAllowed"),
            "413": _error_response(f"A body over the limit of {limit} bytes.",
                                   f"body: larger than the limit of {limit} bytes"),
            "415": _response_ref("UnsupportedMediaType"),
            "500": _response_ref("InternalError"),
            "503": _response_ref("DatabaseBusy"),
            **({"429": _response_ref("RateLimited")} if settings.rate_limit_per_s > 0 else {}),
        },
        "x-readOnly": endpoint.read_only,
        "x-bodyLimit": limit,
        "x-codes": result_codes(settings),
        "x-refusals": [{"message": m, "when": w} for m, w in contract.refusals(endpoint)],
        "x-codeSamples": [{"lang": "Shell", "label": "nxlink api",
                           "source": f"nxlink api {path.removeprefix(API_PREFIX)} "
                           f"{shlex.quote(sample)}"}],
    }  # fmt: skip
    if endpoint is contract.TASK_LIST:
        operation["x-codeSamples"].insert(
            0, {"lang": "Shell", "label": "curl (md5)", "source": _curl_example(settings)}
        )
    if endpoint is contract.TASK_CREATE:
        operation["callbacks"] = _callbacks()
    return operation


def _callback_operation(
    *, operation_id: str, summary: str, url_field: str, schema: str, carried: str, example: Json
) -> Json:
    description = f"""\
The service POSTs the event to `{url_field}` (when set) through a durable outbox: the event is \
written in the same transaction as the change it reports, and kept across restarts. The body is \
the vendor's: `eventId`, `eventType` and `eventTs`, then {carried} at the top level. It is \
UTF-8 JSON, sent byte for byte as stored, and signed with the five auth headers exactly like a \
request (same recipe, the account's newest enabled access key), plus `X-Nxlink-Event-Id`. Verify \
the signature over the raw body before parsing it. An account set to unsigned callbacks \
(`nxlink accounts set-callbacks NAME --unsigned`) gets them without any of the five headers \
(no `sign`); the choice is read at each try, so a pending callback follows the setting of the \
moment it is sent.

Delivery: any 2xx answer means delivered. Anything else, a transport error or no answer within \
10 s is retried with backoff: {CALLBACK_SCHEDULE}. Every try of one event carries the same \
`eventId`: drop duplicates by it."""
    header_text = {
        "accessKey": "The account's newest enabled access key.",
        "ts": "When this try was sent, epoch milliseconds.",
        "bizType": f"Fixed `{BIZ_TYPE}`.",
        "action": f"Fixed `{ACTION}`.",
        "sign": "md5 signature of the raw body with the key's secret (the request recipe). "
        "The example signs the example body in compact JSON with the example accessKey and ts "
        f"and the secret `{EXAMPLE_SECRET}`.",
    }
    header_examples = {
        "accessKey": EXAMPLE_ACCESS_KEY,
        "ts": EXAMPLE_CALLBACK_TS,
        "bizType": BIZ_TYPE,
        "action": ACTION,
        "sign": signing.sign(
            access_key=EXAMPLE_ACCESS_KEY,
            access_secret=EXAMPLE_SECRET,
            ts=EXAMPLE_CALLBACK_TS,
            body=json.dumps(example, ensure_ascii=False, separators=(",", ":")).encode(),
        ),
    }
    parameters: list[Json] = [
        {"name": name, "in": "header", "required": False,
         "description": text + " Absent when the account sends callbacks unsigned.",
         "schema": {"type": "string"}, "example": header_examples[name]}
        for name, text in header_text.items()
    ]  # fmt: skip
    parameters.append({"name": "X-Nxlink-Event-Id", "in": "header", "required": True,
                       "description": "The event's `eventId`, the same on every try.",
                       "schema": {"type": "string", "pattern": EVENT_ID_PATTERN},
                       "example": EXAMPLE_EVENT_ID})  # fmt: skip
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
            "default": {"description": "Not delivered (as are a transport error and no answer "
                        "in 10 s): tried again on the schedule above."},
        },
    }  # fmt: skip


TASK_EXAMPLE: Final[Json] = {
    "id": 74, "taskId": contract.EXAMPLE_TASK_ID, "saasUserId": 203, "userTaskId": "",
    "other": "task-batch-20260325", "autoFlowId": 158, "autoFlowName": "Renewal reminder",
    "taskStatus": 2, "pauseReason": None, "taskName": "update_task_name_xxx1",
    "taskDesc": "update_task_desc_xxx2", "taskKeep": 0, "startupType": 2,
    "startupAt": 1731581880, "shutdownAt": None, "startupBy": "", "routeId": "CJq6rtX2lg",
    "maxCall": 0, "importType": 0, "funcFlag": 0, "maxRingTime": 0, "strategyId": "",
    "agentGroupId": "", "taskCallbackUrl": "", "createTs": 1731663717,
    "statInfo": {
        "id": 72, "taskId": contract.EXAMPLE_TASK_ID, "autoFlowId": 158, "answerOrderCount": 1,
        "finishOrderCount": 2, "totalOrderCount": 3, "dialedOrderCount": 3,
        "totalCallElapsed": 95, "answerCallCount": 2, "totalCallCount": 3, "manualElapsed": 30,
        "manualAnswerCount": 1, "manualFailCount": 0, "createTs": 1731663717,
        "answerRate": "66.67%", "dialProgress": "100.00%", "finishRate": "66.67%",
        "manualAnswerRate": "100.00%", "avgCallDuration": 47, "avgManualDuration": 30,
    },
    "orderMaxCall": None, "replayInterval": None,
}  # fmt: skip

STAT_INFO_EXAMPLE: Final[Json] = TASK_EXAMPLE["statInfo"]


#: An answered call, as the call callback carries it (checked against the model when used).
#: Its recording link is signed as the server signs one (a day past the call's end; the
#: signature is an HMAC-SHA256 under the key ``example``): an unsigned link answers 403.
CALL_EVENT_EXAMPLE: Final[Json] = {
    "id": 9001, "callId": "0d6f3c2a9b8e4f71a5c4b3a29180f7e6", "taskId": contract.EXAMPLE_TASK_ID,
    "userTaskId": contract.EXAMPLE_USER_TASK_ID, "contactId": "c-1001", "autoFlowId": 158,
    "autoFlowName": "Renewal reminder", "calleePhone": "91234567", "callerPhone": "+85230001234",
    "realPhone": "+85291234567", "createTs": 1767225600, "opTs": 1767225653, "callStatus": 1,
    "callResult": 1, "callElapsed": 47, "callRingTime": 6, "callStart": 1767225600,
    "callAnswer": 1767225606, "callEnd": 1767225653, "userIntent": "interested",
    "callSummary": "Agreed to renew the family plan before 1 February.", "turnTime": 9,
    "hangupReason": "callee hung up", "sipCode": "200", "sipAddr": "sip:+85291234567@10.0.0.7",
    "lineId": "line-1", "routeId": "CJq6rtX2lg",
    "callAudioUrl": "http://127.0.0.1:8000/recordings/0d6f3c2a9b8e4f71a5c4b3a29180f7e6.wav"
    "?exp=1767312053&sig=be6482114e1f84d97a3ccdb5ba36f2dc2db3e10241f73edc252a7eea520f262f",
    "attributes": [{"name": "due", "value": "2026-02-01"}], "orderHead": 1, "orderTail": 1,
    "agentGroupId": "", "agentGroupName": "", "agentId": "", "agentName": "",
    "manualCallStatus": 0, "manualCallStart": 0, "manualCallAnswer": 0, "manualCallEnd": 0,
    "manualElapsed": 0, "callCallbackUrl": "https://example.com/nxlink/call-events",
    "orderCallbackUrl": "", "other": "crm-7781",
}  # fmt: skip


def event_examples() -> dict[type[BaseModel], Json]:
    """An example body of each callback (checked against its model): the event's keys, then
    the task (as the task list shows it) or the call record and ``other``."""
    task_event = TaskStatusEvent.model_validate({
        "eventId": EXAMPLE_EVENT_ID, "eventType": "task.status", "eventTs": 1767225660000,
        **TASK_EXAMPLE,
    }).model_dump(mode="json", by_alias=True)  # fmt: skip
    # The model reads statInfo as StatInfo (a tolerant reader); the example shows it as sent.
    task_event["statInfo"] = STAT_INFO_EXAMPLE
    call_event = CallCompletedEvent.model_validate({
        "eventId": EXAMPLE_EVENT_ID, "eventType": "call.completed", "eventTs": 1767225653000,
        **CALL_EVENT_EXAMPLE,
    }).model_dump(mode="json", by_alias=True)  # fmt: skip
    return {TaskStatusEvent: task_event, CallCompletedEvent: call_event}


def _callbacks() -> Json:
    examples = event_examples()
    return {
        "taskStatus": {"{$request.body#/taskCallbackUrl}": {"post": _callback_operation(
            operation_id="taskStatusCallback",
            summary="Task status changed (sent to taskCallbackUrl)",
            url_field="taskCallbackUrl (else the account's default task callback URL)",
            schema="TaskStatusEvent",
            carried="the task object as the task list shows it after the change (`statInfo` "
            "included)",
            example=examples[TaskStatusEvent])}},
        "callCompleted": {"{$request.body#/callCallbackUrl}": {"post": _callback_operation(
            operation_id="callCompletedCallback",
            summary="A call completed (sent to callCallbackUrl)",
            url_field="callCallbackUrl (the contact's from call/append, else the task's, else "
            "the account's default call callback URL)",
            schema="CallCompletedEvent",
            carried="the call record as call/list shows it (`taskId`, `userTaskId`, "
            "`contactId`, `callId`, `callStatus`, `callResult`, `opTs`, …) and the contact's "
            "`other`",
            example=examples[CallCompletedEvent],
        )}},
    }  # fmt: skip


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
curl -sS -X POST "$BASE{contract.TASK_LIST.path}" \\
  -H 'Content-Type: application/json' \\
  -H "accessKey: $AK" -H "ts: $TS" -H 'bizType: 100' -H 'action: nxai' -H "sign: $SIGN" \\
  --data-raw "$BODY"
# sha256 instead: pipe into sha256sum and add -H 'algorithm: sha256'"""


def _probe_operation(*, ready: bool) -> Json:
    if ready:
        summary = "Readiness: the process can serve and the database answers"
        description = (
            "No authentication. Code 0 when the database answers; HTTP 503 with code 20000 and "
            "`Retry-After` when it fails (the message names the failure's class) or does not "
            "answer within `NXLINK_READY_TIMEOUT_MS`, and the database-busy 503 when it is "
            "locked."
        )
    else:
        summary = "Liveness: the process can serve"
        description = (
            "No authentication. Answers the envelope with code 0 while the process can serve."
        )
    responses: Json = {
        "200": {
            "description": "Ready." if ready else "Alive.",
            "headers": {"X-Trace-Id": _trace_header()},
            "content": {"application/json": {
                "schema": _ref("Envelope"),
                "example": {"code": 0, "message": "success", "traceId": EXAMPLE_TRACE_ID},
            }},
        },
    }  # fmt: skip
    if ready:
        responses["503"] = _error_response(
            "The database is not ready (or busy).",
            "database not ready: OperationalError",
            retry_after=True,
        )
    responses["500"] = _response_ref("InternalError")
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


def page_places(settings: Settings) -> str:
    """Where each list's page fields sit under ``settings``, in words (the document's and the
    reference's)."""
    shapes: dict[str, list[str]] = {}
    for endpoint in ENDPOINTS:
        if endpoint.paged:
            shapes.setdefault(endpoint.page_shape(settings.envelope), []).append(endpoint.name)
    words = {"flat": "at the top level, beside `code`, `message` and `traceId`",
             "data": "nested under `data`"}  # fmt: skip
    told = [f"{' and '.join(names)} {words[shape]}" for shape, names in shapes.items()]
    setting = ("as the vendor documents each list" if settings.envelope == "vendor"
               else f"every list one way, `NXLINK_ENVELOPE={settings.envelope}`")  # fmt: skip
    return f"{'; '.join(told)} ({setting})"


def _info_description(settings: Settings) -> str:
    old = (
        ""
        if settings.strict_headers
        else f" The older generation is accepted too: `bizType` `{OLD_BIZ_TYPE}` with the "
        "operation's own `action` (`pageCallTaskInfo` task/list, `pageCallRecords` call/list, "
        "`callAppend` call/append, `operateCallRecords` order/delete and call/delete, `nxai` "
        "for the others). The pairs do not mix; an action naming another operation is code "
        "1002 naming it."
    )
    return f"""\
A self-hostable service compatible with the NXLink "AI Agent" OpenAPI.

### Transport
Every API endpoint is `POST` with a JSON object body (`application/json`, UTF-8; a `charset` \
parameter is allowed) under `{API_PREFIX}`. Header names are matched case-insensitively, values \
exactly. Bodies over {settings.max_body_bytes} bytes ({settings.max_import_body_bytes} for \
task/create and call/append) are refused (413). An unknown path answers 404.

### {SIGNATURE_HEADING}
Every API request carries five headers: `accessKey` (the key id), `ts` (epoch milliseconds), \
`bizType` (`{BIZ_TYPE}`), `action` (`{ACTION}`) and `sign`; the optional `algorithm` header \
(`md5`, the default, or `sha256`, case-insensitive) picks the digest.{old}

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
Every answer is a JSON object with `code` (integer), `message` (string) and `traceId` (a random \
UUID, lowercase with dashes, also the `X-Trace-Id` response header). The page fields of a list \
(`total`, `pageNumber`, `pageSize`, `list`) sit: {page_places(settings)}; the other \
successes carry a `data` object.

### Callbacks
A task created with `taskCallbackUrl` receives a `TaskStatusEvent` on every status change, and \
with `callCallbackUrl` (or contacts appended with one) a `CallCompletedEvent` per completed call; \
without them, the account's default URLs (`nxlink accounts set-callbacks`) receive them. The \
body is the vendor's: `eventId`, `eventType`, `eventTs`, then the task's or the call record's \
keys at the top level. POSTed with the five auth headers signed like a request (the account's \
newest enabled key; none of them when the account sends callbacks unsigned) and \
`X-Nxlink-Event-Id`; any 2xx is delivered, anything else is retried ({CALLBACK_SCHEDULE})."""


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this server, as configured by ``settings``."""
    local_only = [{"url": "/", "description": "This server"}]
    api_paths: Json = {
        path: {"post": _operation(endpoint, settings, path)}
        for endpoint in ENDPOINTS
        for path in endpoint.paths
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NXLink-compatible AI Agent OpenAPI",
            "version": __version__,
            "summary": "Outbound AI-agent tasks: create them, import contacts, start and pause "
            "them, list tasks, calls, flows and routes; the signature, the envelope and the "
            "callbacks.",
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
            **api_paths,
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
                    "docs", "This document as a static HTML page", "text/html", {"type": "string"}
                ),
            },
        },
        "components": {
            "schemas": _schemas(settings),
            "responses": _shared_responses(settings),
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
