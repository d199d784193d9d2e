"""Every API endpoint, declared once.

An :class:`Endpoint` holds what the wire contract says of one operation: its paths (an alias such
as ``call/delete`` included), the ``action`` the older header generation sends for it, whether it
only reads, which body limit it has, its request fields (type, bounds, required, default,
description, example) with the rules between them, and the model of its answer. From here come
the request parsers (:mod:`nxlink.service.requests`), the server's route table and thread pools
(:mod:`nxlink.server.app`), the OpenAPI document and its ``/docs`` page
(:mod:`nxlink.server.openapi`), the reference in ``docs/reference/``
(:mod:`nxlink.contract.docs`), the client's table of read-only paths and ``nxlink api``'s list of
endpoints. A bound changed here changes all of them.

The declarations are plain data: the parser and the document each read them their own way.
Refusal wording is fixed per kind of field (``<field>: at most 200 characters, got 201``), so a
field's kind and bounds say what its refusals are; :attr:`Endpoint.refusals` lists the ones
that only the service can tell (a task not in the account, a contact already dialled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pydantic import BaseModel

from nxlink.contract.answers import ContactDeleted, ContactsAppended, Flow, Route, TaskCreated
from nxlink.contract.answers import TaskState as TaskStateAnswer
from nxlink.contract.callrecord import ANSWERED_RESULTS, CALL_RESULT_NAMES, CALL_RESULTS, CallRecord
from nxlink.contract.codes import TASK_STATUS_NAMES
from nxlink.contract.task import Task

#: Where every endpoint lives.
API_PREFIX: Final = "/openapi/aiagent/"
#: The action of the current header generation (with ``bizType`` :data:`BIZ_TYPE`), and of the
#: older generation (``bizType`` :data:`OLD_BIZ_TYPE`) for operations without a name of their own.
ACTION: Final = "nxai"
BIZ_TYPE: Final = "100"
OLD_BIZ_TYPE: Final = "8"
#: Most rows one page may hold (every paged endpoint).
MAX_PAGE_SIZE: Final = 1000
#: Most problems one refusal lists; the rest are counted (``... and N more``).
MAX_PROBLEMS: Final = 20

#: Where a list's page fields (``total``, ``pageNumber``, ``pageSize``, ``list``) sit: beside
#: ``code``, ``message`` and ``traceId`` (``flat``) or in a ``data`` object (``data``).
PageShape = Literal["flat", "data"]
#: The values of ``NXLINK_ENVELOPE``: each list in the shape the vendor documents for it
#: (``vendor``, :attr:`Endpoint.envelope`), or one shape for every list.
ENVELOPE_SETTINGS: Final[tuple[str, ...]] = ("vendor", "flat", "data")

TASK_STATUS_TEXT: Final = ", ".join(f"{code} {name}" for code, name in TASK_STATUS_NAMES.items())
CALL_RESULT_TEXT: Final = (
    "; ".join(f"{code} {name}" for code, name in CALL_RESULT_NAMES.items())
    + ". Answered: "
    + ", ".join(str(code) for code in sorted(ANSWERED_RESULTS))
)

#: How a contactId used twice (in one request, or before in the account) is refused; the id
#: follows.
DUPLICATE_CONTACT: Final = "Duplicate contactIds are not allowed: "

EXAMPLE_TASK_ID: Final = "52145b00-abc9-4a87-94c2-ed1e1e42ec1c"
EXAMPLE_USER_TASK_ID: Final = "renewals-2026-01"


# -- fields ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Field:
    """One field of a request body: its wire ``name`` and the attribute it fills (``attr``,
    ``None`` for one that is checked but not kept)."""

    name: str
    description: str
    attr: str | None = ""
    required: bool = False
    example: Any = None
    #: What the field selects (list endpoints), e.g. ``createTs >= createStartTs``.
    filter: str = ""

    def __post_init__(self) -> None:
        if self.attr == "":
            snake = "".join("_" + c.lower() if c.isupper() else c for c in self.name)
            object.__setattr__(self, "attr", snake)


@dataclass(frozen=True, kw_only=True)
class Text(Field):
    """A string of at most ``max_length`` characters (``None``: no limit), valid Unicode and
    without NUL (unless ``allow_nul``); ``""`` or ``null`` is not set."""

    max_length: int | None
    not_blank: bool = False
    allow_nul: bool = False
    #: Kept casefolded (a name filter), ``None`` when not set.
    fold: bool = False
    #: Kept as ``None`` when not set (a filter), else ``""``.
    unset_is_none: bool = False
    #: Documented (the parser checks it): a rule the service adds, e.g. "unique in the account".
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Url(Field):
    """An absolute ``http://`` or ``https://`` URL with a host."""

    max_length: int = 2048


@dataclass(frozen=True, kw_only=True)
class CountryCode(Field):
    """``min_digits`` to ``max_digits`` digits with an optional leading ``+``."""

    min_digits: int = 1
    max_digits: int = 4


@dataclass(frozen=True, kw_only=True)
class Integer(Field):
    """A signed integer of ``bits`` bits within ``low``..``high`` (``high`` ``None``: no upper
    bound but the width's). 32 bits is the vendor's ``int``; 64 its ``Long`` (ids, durations)."""

    low: int
    high: int | None = None
    bits: Literal[32, 64] = 32
    #: The value when not set (``None``: kept as ``None``).
    default: int | None = None
    #: Documented only: what the default means when it is not a number the parser fills in.
    default_text: str = ""


@dataclass(frozen=True, kw_only=True)
class OneOf(Field):
    """A 32-bit integer that is one of ``values``; another integer is refused, or (a filter,
    ``others_match_nothing``) kept, so that it selects nothing, as the vendor's filter does."""

    values: tuple[int, ...]
    others_match_nothing: bool = False


@dataclass(frozen=True, kw_only=True)
class Timestamp(Field):
    """Epoch seconds, ``>= 0``; a value of 10^11 or more is refused as looking like
    milliseconds."""


@dataclass(frozen=True, kw_only=True)
class Rate(Field):
    """A percentage from ``low`` to ``high``, compared exactly as the decimal value sent."""

    low: int = 0
    high: int = 100


@dataclass(frozen=True, kw_only=True)
class TaskRef(Field):
    """A task named by ``taskId`` or ``userTaskId`` (``userTaskId`` wins when both are set):
    two fields of at most ``max_length`` characters, one of them required."""

    name: str = "taskId"
    alternative: str = "userTaskId"
    attr: str | None = "ref"
    max_length: int = 64
    verb: str = "use"
    example: Any = EXAMPLE_TASK_ID


@dataclass(frozen=True, kw_only=True)
class ContactId(Field):
    """A string of 1 to ``max_length`` characters, or a JSON integer (its decimal string)."""

    max_length: int


@dataclass(frozen=True, kw_only=True)
class Phone(Field):
    """Digits with an optional leading ``+``, ``min_digits`` to ``max_digits`` of them."""

    min_digits: int
    max_digits: int


@dataclass(frozen=True, kw_only=True)
class Params(Field):
    """``[{name, value}]``: names of 1 to ``name_max_length`` characters, distinct; each value
    any JSON value (the vendor's ``Object``), kept and echoed as sent: a string of at most
    ``value_max_length`` characters, anything else at most that many characters of compact
    JSON, its integers 64-bit."""

    name_max_length: int
    value_max_length: int


@dataclass(frozen=True, kw_only=True)
class WeekDays(Field):
    """Days of the week as a string: ISO day digits (1 Monday .. 7 Sunday) joined by commas,
    no spaces, each day once, in any order (kept as a set); ``""`` or ``null`` is every day."""


@dataclass(frozen=True, kw_only=True)
class Contacts(Field):
    """``list``: at most ``max_items`` contacts, each an object of ``items``; ``unique`` is
    distinct within the list. A required list must not be empty."""

    name: str = "list"
    attr: str | None = "contacts"
    max_items: int
    items: tuple[Field, ...]
    unique: str = "contactId"


# -- rules between fields ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AtLeast:
    """``name`` must be at least ``other`` when both are set:
    ``<name>: must be at least <other> (<value> < <other value>)`` (values left out unless
    ``show_values``)."""

    name: str
    other: str
    show_values: bool = True


@dataclass(frozen=True, kw_only=True)
class After:
    """``name`` must be after ``other`` when both are set:
    ``<name>: must be after <other> (<value> <= <other value>)``."""

    name: str
    other: str


@dataclass(frozen=True, kw_only=True)
class RequiredWhen:
    """``name`` is required when ``other`` is ``value``:
    ``<name>: required when <other> is <value>``."""

    name: str
    other: str
    value: int


Rule = AtLeast | After | RequiredWhen
Item = Field | Rule


# -- endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One API operation."""

    #: The path under :data:`API_PREFIX`, e.g. ``task/list``.
    name: str
    operation_id: str
    tag: str
    summary: str
    description: str
    #: The fields and rules, in the order they are checked (a refusal lists problems so).
    items: tuple[Item, ...]
    #: The answer: the model of ``data`` (``paged`` False) or of each row of ``list``.
    answer: type[BaseModel]
    paged: bool = False
    #: Only reads: read threads on the server, and the client may send it again after a timeout.
    read_only: bool = False
    #: Which body limit applies: the ordinary one or the one of the endpoints that import.
    body_limit: Literal["ordinary", "import"] = "ordinary"
    #: The operation's own ``action`` in the older header generation (``bizType`` 8).
    action: str = ACTION
    #: Other paths of the same operation.
    aliases: tuple[str, ...] = ()
    #: Whether the document marks the request body required (a list takes an empty body).
    body_required: bool = True
    #: An example request body.
    example: dict[str, Any] = field(default_factory=dict)
    #: An example 20000 message.
    refused: str = ""
    #: (message, when) of the refusals only the service can tell, or that span fields.
    refusals: tuple[tuple[str, str], ...] = ()
    #: The product's own operation, not one of the vendor's.
    extension: bool = False
    #: Where the vendor's page puts this list's page fields (paged endpoints): its reference
    #: pages show task/list and call/list flat, flow/list and route/list under ``data``.
    envelope: PageShape = "flat"

    @property
    def path(self) -> str:
        return API_PREFIX + self.name

    @property
    def paths(self) -> tuple[str, ...]:
        """The endpoint's path, then its aliases' paths."""
        return (self.path, *(API_PREFIX + alias for alias in self.aliases))

    def page_shape(self, setting: str) -> PageShape:
        """Where this list's page fields sit under ``NXLINK_ENVELOPE`` ``setting``: the
        vendor's place (``vendor``), or the one shape the setting forces on every list."""
        if setting == "vendor":
            return self.envelope
        if setting == "flat":
            return "flat"
        if setting == "data":
            return "data"
        raise ValueError(
            f"envelope: must be one of {', '.join(ENVELOPE_SETTINGS)}, got {setting!r}"
        )

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(item for item in self.items if isinstance(item, Field))

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(item for item in self.items if not isinstance(item, Field))


def _page_fields(*, default_size: int) -> tuple[Field, ...]:
    return (
        Integer(name="pageNumber", low=1, default=1, description="1-based page number.",
                example=1, filter="1-based page"),
        Integer(name="pageSize", low=1, high=MAX_PAGE_SIZE, default=default_size,
                description="Rows per page; a larger value is refused, not clamped.",
                example=default_size, filter="rows per page"),
    )  # fmt: skip


def _task_ref(verb: str) -> TaskRef:
    return TaskRef(
        verb=verb,
        description=f"The task to {verb}, by its `taskId`, or by the caller's own `userTaskId` "
        "(which wins when both are set).",
    )


_TASK_REF_REFUSALS: Final = (
    ("taskId: no task '<id>' in this account", "no such task in the caller's account"),
    (
        "userTaskId: no task '<id>' in this account",
        "no task with that `userTaskId` in the caller's account",
    ),
)

MAX_CONTACTS: Final = 10_000
MAX_ID_LENGTH: Final = 64
MAX_NAME_LENGTH: Final = 200

CONTACTS_ITEMS: Final[tuple[Field, ...]] = (
    ContactId(name="contactId", max_length=MAX_ID_LENGTH, required=True, example="c-1001",
              description="The contact's id, unique within the account (a JSON integer is "
              "taken as its decimal string)."),
    Phone(name="phoneNumber", attr="phone", min_digits=3, max_digits=20, required=True,
          example="+85291234567", description="The number to call, kept as sent."),
    Text(name="name", max_length=MAX_NAME_LENGTH, example="Chan Tai Man",
         description="The contact's name."),
    Params(name="params", name_max_length=MAX_ID_LENGTH, value_max_length=1000,
           example=[{"name": "due", "value": "2026-02-01"}],
           description="Values of the flow's variables: each `name` must be a variable of the "
           "task's flow (see flow/list); each `value` any JSON value, echoed as sent in the "
           "call record's `attributes`."),
    Text(name="other", max_length=4096, example="crm-7781",
         description="Pass-through, returned unchanged in the call callback."),
)  # fmt: skip

_CONTACT_EXAMPLE: Final = {
    "contactId": "c-1001",
    "phoneNumber": "+85291234567",
    "name": "Chan Tai Man",
    "params": [{"name": "due", "value": "2026-02-01"}],
    "other": "crm-7781",
}

_CONTACT_REFUSALS: Final = (
    (
        DUPLICATE_CONTACT + "<id>",
        "a `contactId` used before in the account, or twice in `list`",
    ),
    (
        "list[<i>].params[<j>].name: '<name>' is not a variable of flow <n> (variables: <names>)",
        "a `params` name that is not a variable of the task's flow",
    ),
)


def _contacts(*, required: bool, description: str) -> Contacts:
    return Contacts(max_items=MAX_CONTACTS, items=CONTACTS_ITEMS, required=required,
                    description=description, example=[_CONTACT_EXAMPLE])  # fmt: skip


def _country_code() -> CountryCode:
    return CountryCode(
        name="countryCode",
        example="852",
        description="Country calling code of the contacts' phone numbers.",
    )


TASK_LIST: Final = Endpoint(
    name="task/list",
    operation_id="listTasks",
    tag="tasks",
    summary="Query the outbound task list",
    description="The outbound tasks of the account that owns the `accessKey`, newest first "
    "(`createTs` descending, then `id` descending). `total` counts every matching task; a page "
    "past the end answers `list: []` with the true `total`. `null`, `\"\"` and an absent key all "
    "mean \"not set\"; unknown fields (an incoming `tenantId` or `saasUserId` too) are ignored.",
    action="pageCallTaskInfo",
    read_only=True,
    paged=True,
    envelope="flat",
    answer=Task,
    body_required=False,
    items=(
        Text(name="taskName", attr="name_fold", max_length=MAX_NAME_LENGTH, allow_nul=True,
             fold=True, example="Marketing-Task-2023",
             description="Task name contains it, case-insensitive for every Unicode letter (`Ä` "
             "finds `ä`); `%` and `_` are literal.",
             filter="task name contains it, case-insensitive"),
        Integer(name="taskStatus", attr="status", low=1, high=6, example=1,
                description=f"Task status: {TASK_STATUS_TEXT}.", filter="equal"),
        Timestamp(name="createStartTs", attr="created_from", example=1746583929,
                  description="Creation time from, epoch seconds (inclusive).",
                  filter="createTs >= createStartTs"),
        Timestamp(name="createEndTs", attr="created_to", example=1746583929,
                  description="Creation time to, epoch seconds (inclusive).",
                  filter="createTs <= createEndTs"),
        AtLeast(name="createEndTs", other="createStartTs"),
        Rate(name="minCallsAnsweredRate", attr="min_answer_rate", example=50.0,
             description="Lowest answer rate in percent (answerCallCount / totalCallCount × 100, "
             "compared exactly). Tasks with no calls are left out when either rate bound is set.",
             filter="answer rate >= it"),
        Rate(name="maxCallsAnsweredRate", attr="max_answer_rate", example=100.0,
             description="Highest answer rate in percent.", filter="answer rate <= it"),
        AtLeast(name="maxCallsAnsweredRate", other="minCallsAnsweredRate", show_values=False),
        Integer(name="minTaskTotalQuantity", attr="min_contacts", low=0, example=100,
                description="Fewest contacts in the task (`statInfo.totalOrderCount`).",
                filter="totalOrderCount >= it"),
        Integer(name="maxTaskTotalQuantity", attr="max_contacts", low=0, example=1000,
                description="Most contacts in the task.", filter="totalOrderCount <= it"),
        AtLeast(name="maxTaskTotalQuantity", other="minTaskTotalQuantity"),
        *_page_fields(default_size=10),
    ),
    example={
        "createStartTs": 1746583929,
        "createEndTs": 1746583929,
        "minCallsAnsweredRate": "",
        "maxCallsAnsweredRate": "",
        "minTaskTotalQuantity": "",
        "maxTaskTotalQuantity": "",
        "pageNumber": 1,
        "pageSize": 10,
    },
    refused="pageSize: at most 1000, got 5000",
)  # fmt: skip

TASK_CREATE: Final = Endpoint(
    name="task/create",
    operation_id="createTask",
    tag="tasks",
    summary="Create an outbound task",
    description="Create a task of the caller's account, optionally with its first contacts "
    "(`list`, as in call/append). Startup types 0, 1 and 2 create it ready (1): type 1 waits "
    "for task/start, type 2 starts at `startupAt`; type 3 creates it in progress (2). "
    "Nothing is written when anything is refused.",
    body_limit="import",
    answer=TaskCreated,
    items=(
        Text(name="taskName", max_length=MAX_NAME_LENGTH, required=True, not_blank=True,
             example="renewals", description="The task's name."),
        Integer(name="autoFlowId", low=1, bits=64, required=True, example=1,
                description="The AI agent that talks: an enabled flow of this account (see "
                "flow/list)."),
        Text(name="routeId", max_length=MAX_ID_LENGTH, required=True, example="CJq6rtX2lg",
             description="The call route: an enabled route of this account (see route/list)."),
        Integer(name="taskKeep", low=0, high=1, required=True, example=0,
                description="0: the task completes when every contact is done; 1: it stays "
                "open for appended contacts."),
        Integer(name="startupType", low=0, high=3, required=True, example=1,
                description="0 none, 1 manual (task/start), 2 scheduled (at `startupAt`), 3 "
                "immediate. Types 0, 1 and 2 create the task ready (1); 3 creates it in "
                "progress (2)."),
        Text(name="userTaskId", max_length=MAX_ID_LENGTH, example=EXAMPLE_USER_TASK_ID,
             note="unique in the account",
             description="The caller's own id for the task, unique within the account."),
        Text(name="other", max_length=4096, example="batch-20260101",
             description="Pass-through, returned unchanged by the task list and the task "
             "callbacks."),
        Text(name="taskDesc", max_length=1000, example="January renewals",
             description="The task's description."),
        Timestamp(name="startupAt", example=1767229200,
                  description="Scheduled start, epoch seconds."),
        Timestamp(name="shutdownAt", example=1767261600,
                  description="Scheduled pause, epoch seconds (the task pauses with "
                  "pauseReason 2)."),
        RequiredWhen(name="startupAt", other="startupType", value=2),
        After(name="shutdownAt", other="startupAt"),
        Integer(name="maxCall", low=0, high=1000, default=0, example=0,
                description="Most concurrent calls of this task; 0 = the account's default."),
        Integer(name="maxRingTime", low=0, high=300, default=0, example=30,
                description="Seconds a call may ring before it counts as not answered (result "
                "2); 0 = the route's default, 30 s."),
        Integer(name="orderMaxCall", low=1, high=10, default_text="1", example=2,
                description="Call attempts per contact."),
        Integer(name="replayInterval", low=0, high=604_800, default_text="300", example=600,
                description="Seconds between two attempts on one contact."),
        WeekDays(name="weekDay", attr="week_days", example="1,2,3,4,5",
                 description="The days the task places calls on, in the zone of `zoneSecond`: "
                 "day digits 1 (Monday) to 7 (Sunday) joined by commas, e.g. `1,2,3,4,5`; "
                 "empty or absent: every day. On another day the task stays in progress and "
                 "waits: calls start from the local midnight that opens its next day (a call "
                 "under way at midnight ends as it would). Retries and contacts that fall due "
                 "outside the window wait for it; `startupAt` and `shutdownAt` fire whatever "
                 "the day. Not shown by task/list."),
        Integer(name="zoneSecond", low=-43_200, high=50_400, default=0, example=28_800,
                description="The task's time zone for `weekDay`, as its UTC offset in seconds "
                "(28800 = UTC+8; -43200 to 50400, UTC-12 to UTC+14); absent: 0, UTC. No "
                "effect without `weekDay`. Not shown by task/list."),
        Url(name="taskCallbackUrl", example="https://example.com/nxlink/task-events",
            description="Receives a `TaskStatusEvent` on every status change of the task (see "
            "the callbacks of this operation)."),
        Url(name="callCallbackUrl", example="https://example.com/nxlink/call-events",
            description="Receives a `CallCompletedEvent` for every completed call of the task."),
        _country_code(),
        Text(name="strategyId", max_length=MAX_ID_LENGTH, description="Strategy id."),
        Text(name="agentGroupId", max_length=MAX_ID_LENGTH,
             description="Human agent group the AI agent may transfer calls to (call result "
             "17)."),
        _contacts(required=False,
                  description="Contacts to import with the task, as in call/append. All or "
                  "nothing: one bad or duplicate contact imports none."),
    ),
    example={
        "taskName": "renewals",
        "autoFlowId": 1,
        "routeId": "CJq6rtX2lg",
        "taskKeep": 0,
        "startupType": 1,
        "userTaskId": EXAMPLE_USER_TASK_ID,
        "orderMaxCall": 2,
        "replayInterval": 600,
        "weekDay": "1,2,3,4,5",
        "zoneSecond": 28_800,
        "taskCallbackUrl": "https://example.com/nxlink/task-events",
        "callCallbackUrl": "https://example.com/nxlink/call-events",
        "list": [_CONTACT_EXAMPLE],
    },
    refused="startupAt: required when startupType is 2",
    refusals=(
        ("autoFlowId: no flow <n> in this account", "no enabled flow with that id"),
        ("routeId: no route '<id>' in this account", "no enabled route with that id"),
        (
            "userTaskId: '<id>' is already used by task <taskId>",
            "another task of the account has that `userTaskId`",
        ),
        *_CONTACT_REFUSALS,
    ),
)  # fmt: skip

CALL_APPEND: Final = Endpoint(
    name="call/append",
    operation_id="appendContacts",
    tag="contacts",
    summary="Import contacts into a task",
    description="Import contacts into a task, all or nothing: one bad or duplicate contact "
    "imports none of them. A completed task with `taskKeep` 1 reopens to in progress (2).",
    action="callAppend",
    body_limit="import",
    answer=ContactsAppended,
    items=(
        _task_ref("append to"),
        Integer(name="autoFlowId", low=1, bits=64, example=1,
                description="The task's flow, as the vendor's clients send it: checked, not "
                "changed (another flow is refused)."),
        _country_code(),
        Url(name="callCallbackUrl", example="https://example.com/nxlink/call-events",
            description="Receives a `CallCompletedEvent` for every completed call of the "
            "contacts of this request, instead of the task's `callCallbackUrl`."),
        _contacts(required=True,
                  description="The contacts to import. All or nothing: one bad or duplicate "
                  "contact imports none."),
    ),
    example={"taskId": EXAMPLE_TASK_ID, "list": [_CONTACT_EXAMPLE]},
    refused='list[3].phoneNumber: must be digits with an optional leading +, got "12a"',
    refusals=(
        *_TASK_REF_REFUSALS,
        (
            "taskId: task <taskId> is completed (taskKeep 0) and takes no more contacts",
            "the task is completed and `taskKeep` is 0",
        ),
        ("taskId: task <taskId> has failed and takes no more contacts", "the task has failed"),
        (
            "autoFlowId: <n> is not the flow of task <taskId> (its flow is <m>)",
            "`autoFlowId` is set and is not the task's flow",
        ),
        *_CONTACT_REFUSALS,
        (
            "autoFlowId: flow <n> of task <taskId> is disabled",
            "the task's flow was disabled or removed",
        ),
    ),
)  # fmt: skip

ORDER_DELETE: Final = Endpoint(
    name="order/delete",
    aliases=("call/delete",),
    operation_id="deleteContact",
    tag="contacts",
    summary="Delete a pending contact from a task",
    description="Delete one contact that is still pending and was never dialled; the task's "
    "`totalOrderCount` goes down by one. `call/delete` is the same operation (the path a "
    "third-party client uses).",
    action="operateCallRecords",
    answer=ContactDeleted,
    items=(
        _task_ref("delete from"),
        ContactId(name="contactId", max_length=MAX_ID_LENGTH, required=True, example="c-1001",
                  description="The contact to delete: a pending contact that was never "
                  "dialled."),
    ),
    example={"taskId": EXAMPLE_TASK_ID, "contactId": "c-1001"},
    refused="contactId: 'c-1001' has been dialled and cannot be deleted",
    refusals=(
        *_TASK_REF_REFUSALS,
        (
            "contactId: '<id>' has been dialled and cannot be deleted",
            "the contact has been dialled (or is being dialled)",
        ),
        ("contactId: no contact '<id>' in task <taskId>", "the task has no such contact"),
    ),
)  # fmt: skip

CALL_LIST: Final = Endpoint(
    name="call/list",
    operation_id="listCalls",
    tag="calls",
    summary="Query the completed calls of a task",
    description="The completed calls of one task, newest first (`createTs` descending, then "
    "`id` descending). `total` counts every matching call; a page past the end answers "
    "`list: []` with the true `total`.",
    action="pageCallRecords",
    read_only=True,
    paged=True,
    envelope="flat",
    answer=CallRecord,
    items=(
        Text(name="taskId", max_length=MAX_ID_LENGTH, required=True, example=EXAMPLE_TASK_ID,
             description="The task whose calls to list."),
        Timestamp(name="startTs", example=1767225600,
                  description="Calls created (started) from, epoch seconds, inclusive.",
                  filter="createTs >= startTs"),
        Timestamp(name="endTs", example=1767311999,
                  description="Calls created (started) to, epoch seconds, inclusive.",
                  filter="createTs <= endTs"),
        AtLeast(name="endTs", other="startTs"),
        Text(name="callId", max_length=MAX_ID_LENGTH, unset_is_none=True,
             description="One call, by its `callId`.", filter="equal"),
        Text(name="phone", max_length=MAX_ID_LENGTH, unset_is_none=True, example="+85291234567",
             description="The number dialled, as imported.", filter="calleePhone equal"),
        OneOf(name="callResult", values=CALL_RESULTS, others_match_nothing=True, example=1,
              description=f"Call result: {CALL_RESULT_TEXT}. Another integer matches no call.",
              filter="equal"),
        Text(name="userIntent", max_length=MAX_NAME_LENGTH, unset_is_none=True,
             example="interested", description="The conversation tag of answered calls.",
             filter="equal"),
        Integer(name="minElapsed", low=0, bits=64, example=10,
                description="Shortest talk time in seconds (`callElapsed`), inclusive.",
                filter="callElapsed >= it"),
        Integer(name="maxElapsed", low=0, bits=64, example=600,
                description="Longest talk time in seconds, inclusive.",
                filter="callElapsed <= it"),
        AtLeast(name="maxElapsed", other="minElapsed"),
        *_page_fields(default_size=10),
    ),
    example={"taskId": EXAMPLE_TASK_ID, "callResult": 1, "pageNumber": 1, "pageSize": 10},
    refused="pageSize: at most 1000, got 5000",
    refusals=(("taskId: no task '<id>' in this account", "no such task in the caller's account"),),
)  # fmt: skip


def _catalog_list(
    *,
    name: str,
    operation_id: str,
    summary: str,
    description: str,
    what: str,
    field: str,
    example: str,
    default_size: int,
    answer: type[BaseModel],
) -> Endpoint:
    """flow/list and route/list: a name filter (contains, case-insensitive) and the page, under
    ``data`` as the vendor's pages show them."""
    return Endpoint(
        name=name, operation_id=operation_id, tag="catalog", summary=summary,
        description=description, read_only=True, paged=True, answer=answer,
        body_required=False, envelope="data",
        items=(
            Text(name=field, attr="name_fold", max_length=MAX_NAME_LENGTH, fold=True,
                 example=example, description=f"{what} name contains it, case-insensitive for "
                 "every Unicode letter.", filter="name contains it, case-insensitive"),
            *_page_fields(default_size=default_size),
        ),
        example={field: example, "pageNumber": 1, "pageSize": default_size},
        refused="pageSize: at most 1000, got 5000",
    )  # fmt: skip


FLOW_LIST: Final = _catalog_list(
    name="flow/list",
    operation_id="listFlows",
    summary="Query the AI agents (flows) of the account",
    description="The enabled AI agents (flows) of the caller's account, by id ascending, with "
    "the variable names each accepts in a contact's `params`.",
    what="Flow",
    field="name",
    example="renewal",
    default_size=10,
    answer=Flow,
)

ROUTE_LIST: Final = _catalog_list(
    name="route/list",
    operation_id="listRoutes",
    summary="Query the call routes of the account",
    description="The enabled call routes of the caller's account, by id ascending.",
    what="Route",
    field="routeName",
    example="HK",
    default_size=100,
    answer=Route,
)

TASK_START: Final = Endpoint(
    name="task/start",
    operation_id="startTask",
    tag="tasks",
    summary="Start a task (an extension of this product)",
    description="Start a ready (1) or paused (5) task: it goes in progress (2) and `startupBy` "
    "is recorded. A task already in progress answers success and does not change.",
    extension=True,
    answer=TaskStateAnswer,
    items=(
        _task_ref("start"),
        Text(name="startupBy", max_length=MAX_ID_LENGTH, example="ops@example.com",
             note="default the caller's accessKey",
             description="Who started it, recorded as the task's `startupBy`."),
    ),
    example={"taskId": EXAMPLE_TASK_ID, "startupBy": "ops@example.com"},
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
)  # fmt: skip

TASK_PAUSE: Final = Endpoint(
    name="task/pause",
    operation_id="pauseTask",
    tag="tasks",
    summary="Pause a task (an extension of this product)",
    description="Pause an in-progress (2) task: it goes paused (5) with `pauseReason` 1. A "
    "task already paused (5) answers success and does not change.",
    extension=True,
    answer=TaskStateAnswer,
    items=(_task_ref("pause"),),
    example={"userTaskId": EXAMPLE_USER_TASK_ID},
    refused=f"taskStatus: only an in-progress task can be paused (task {EXAMPLE_TASK_ID} is "
    "ready)",
    refusals=(
        *_TASK_REF_REFUSALS,
        (
            "taskStatus: only an in-progress task can be paused (task <id> is <status word>)",
            "the task is not in progress (2) or paused (5)",
        ),
    ),
)  # fmt: skip

#: Every endpoint, in the order the document and the reference show them.
ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    TASK_LIST,
    TASK_CREATE,
    CALL_APPEND,
    ORDER_DELETE,
    CALL_LIST,
    FLOW_LIST,
    ROUTE_LIST,
    TASK_START,
    TASK_PAUSE,
)

#: Each path (aliases included) and its endpoint.
BY_PATH: Final[dict[str, Endpoint]] = {
    path: endpoint for endpoint in ENDPOINTS for path in endpoint.paths
}

#: The paths of the endpoints that only read (the client may send them again after a timeout).
READ_ONLY_PATHS: Final = frozenset(path for path, e in BY_PATH.items() if e.read_only)

#: Each operation's own action (older header generation) and the operation it names.
OWN_ACTIONS: Final[dict[str, Endpoint]] = {
    endpoint.action: endpoint for endpoint in ENDPOINTS if endpoint.action != ACTION
}


# -- refusal wording ---------------------------------------------------------------------------


def _integer_refusals(bits: int = 32) -> list[str]:
    return [
        "must be an integer, got <value>",
        "must be an integer, not a fraction (<value>)",
        "must be a finite integer, got <value>",
        f"out of range for a {bits}-bit integer, got <value>",
    ]


#: How ``weekDay`` is refused, one problem per value (the first that applies, in this order).
WEEK_DAY_REFUSALS: Final = (
    'must be a string of days such as "1,2,3,4,5", got <value>',
    "must not contain spaces, got <value>",
    "has an empty item (a comma at an end, or two together), got <value>",
    "<item> is not a day: days are 1 (Monday) to 7 (Sunday), got <value>",
    "day <day> is given twice, got <value>",
)


def _text_refusals(required: bool, max_length: int | None, allow_nul: bool) -> list[str]:
    said = ["required"] if required else []
    said += ["must be a string, got <value>",
             "not valid Unicode (contains a lone surrogate escape)"]  # fmt: skip
    if not allow_nul:
        said.append("must not contain the NUL character")
    if max_length is not None:
        said.append(f"at most {max_length} characters, got <n>")
    return said


def field_refusals(field: Field, label: str = "") -> list[str]:
    """The messages (``<placeholders>`` for what varies) with which a request is refused for
    ``field``, as the parser words them; ``label`` is where the field sits (``list[<i>].name``)."""
    label = label or field.name
    said: list[str]
    if isinstance(field, Text):
        said = _text_refusals(field.required, field.max_length, field.allow_nul)
        if field.not_blank:
            said.append("must not be blank")
    elif isinstance(field, Url):
        said = [*_text_refusals(False, field.max_length, False),
                "must be an http(s) URL, got <value>"]  # fmt: skip
    elif isinstance(field, CountryCode):
        said = [*_text_refusals(False, None, False),
                f"must be {field.min_digits} to {field.max_digits} digits with an optional "
                "leading +, got <value>"]  # fmt: skip
    elif isinstance(field, Integer):
        said = (["required"] if field.required else []) + _integer_refusals(field.bits)
        if field.name == "pageSize" and field.high is not None:
            said += [f"at most {field.high}, got <n>", f"must be from {field.low} to "
                     f"{field.high}, got <n>"]  # fmt: skip
        elif field.high is None:
            said.append(f"must be at least {field.low}, got <n>")
        else:
            said.append(f"must be from {field.low} to {field.high}, got <n>")
    elif isinstance(field, OneOf):
        listed = ", ".join(map(str, field.values))
        said = _integer_refusals()
        if not field.others_match_nothing:
            said.append(f"must be one of {listed}, got <n>")
    elif isinstance(field, Timestamp):
        said = ["<value> looks like epoch milliseconds; send epoch seconds",
                *_integer_refusals(), "must be at least 0, got <n>"]  # fmt: skip
    elif isinstance(field, Rate):
        said = ["must be a number, got <value>", "must be a finite number, got <value>",
                f"must be from {field.low:.1f} to {field.high:.1f}, got <value>",
                "at most 100 decimal places"]  # fmt: skip
    elif isinstance(field, TaskRef):
        return [
            f"{field.name}: required (or {field.alternative})",
            *(f"{name}: {text}" for name in (field.name, field.alternative)
              for text in _text_refusals(False, field.max_length, False)),
        ]  # fmt: skip
    elif isinstance(field, ContactId):
        said = ["must be a string or an integer, got <value>",
                *_text_refusals(True, field.max_length, False)]  # fmt: skip
    elif isinstance(field, Phone):
        said = [*_text_refusals(True, None, False),
                "must be digits with an optional leading +, got <value>",
                f"must have {field.min_digits} to {field.max_digits} digits, got <n>"]  # fmt: skip
    elif isinstance(field, Params):
        item = f"{label}[<j>]"
        return [
            f"{label}: must be an array, got <value>",
            f"{item}: must be an object, got <value>",
            *(f"{item}.name: {text}"
              for text in _text_refusals(True, field.name_max_length, False)),
            f"{item}.name: <name> is repeated; names must be distinct",
            *(f"{item}.value: {text}" for text in (
                "must be a finite number, got <value>",
                "out of range for a 64-bit integer, got <value>",
                "out of range for a number, got <value>",
                *_text_refusals(False, field.value_max_length, False)[1:],
                f"at most {field.value_max_length} characters of JSON, got <n>")),
        ]  # fmt: skip
    elif isinstance(field, WeekDays):
        said = list(WEEK_DAY_REFUSALS)
    elif isinstance(field, Contacts):
        said = (["required", "must not be empty"] if field.required else []) + [
            "must be an array", f"at most {field.max_items} contacts, got <n>"]  # fmt: skip
        item = f"{label}[<i>]"
        return [
            *(f"{label}: {text}" for text in said),
            f"{item}: must be an object, got <value>",
            *(text for entry in field.items
              for text in field_refusals(entry, f"{item}.{entry.name}")),
            DUPLICATE_CONTACT + "<id>",
        ]  # fmt: skip
    else:  # pragma: no cover - every kind is above
        raise TypeError(f"{field.name}: no wording for a {type(field).__name__}")
    return [f"{label}: {text}" for text in said]


def rule_refusal(rule: Rule) -> str:
    """The message with which a request is refused for breaking ``rule``."""
    if isinstance(rule, AtLeast):
        values = f" (<{rule.name}> < <{rule.other}>)" if rule.show_values else ""
        return f"{rule.name}: must be at least {rule.other}{values}"
    if isinstance(rule, After):
        return f"{rule.name}: must be after {rule.other} (<{rule.name}> <= <{rule.other}>)"
    return f"{rule.name}: required when {rule.other} is {rule.value}"


def refusals(endpoint: Endpoint) -> list[tuple[str, str]]:
    """Every refusal of ``endpoint`` (message, when): its fields', its rules', and those only
    the service can tell."""
    said: list[tuple[str, str]] = []
    for declared in endpoint.fields:
        said += [(text, f"`{declared.name}`") for text in field_refusals(declared)]
    said += [(rule_refusal(rule), "a rule between fields") for rule in endpoint.rules]
    said += list(endpoint.refusals)
    said.append(("... and <n> more", f"ends a message listing the first {MAX_PROBLEMS} problems "
                 "of more"))  # fmt: skip
    return list(dict.fromkeys(said))
