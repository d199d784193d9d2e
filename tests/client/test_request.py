"""``Client.request`` / ``AsyncClient.request``: any endpoint, signed, with the retry policy of
its kind (reads are signed afresh on each attempt; a write is resent as the same signed bytes
while they are fresh, which the server acts on once).

Every case runs through both clients (``kind``); sleeps are recorded, not slept.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from client.harness import Kind, MakeShell, Shell
from conftest import NOW_MS, make_task, make_tenant
from nxlink import (
    ApiError,
    BusinessError,
    Client,
    SignatureError,
    TimeoutError,
    TransportError,
    signing,
)
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin
from nxlink.store import Store

KEY, SECRET = "AK-test", "s3cr3t"
TRACE = "0123456789abcdef0123456789abcdef"
TASK_ID = "00000000-0000-4000-8000-000000000042"
WRITES = ["task/create", "call/append", "order/delete", "task/start", "task/pause"]
READS = ["task/list", "call/list", "flow/list", "route/list"]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Step = Callable[[httpx.Request], httpx.Response]


def call(shell: Shell, path: Any, body: Any = None) -> dict[str, Any]:
    """``request`` through either shell, driven synchronously."""
    if isinstance(shell.client, Client):
        return shell.client.request(path, body)
    return shell.portal.call(functools.partial(shell.client.request, path, body))


def answer(
    code: int = 0,
    message: str = "success",
    *,
    status: int = 200,
    retry_after: str | None = None,
    **extra: Any,
) -> Step:
    """An envelope answer; ``extra`` keys go into the body beside code, message and traceId."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}

    def step(request: httpx.Request) -> httpx.Response:
        body = {"code": code, "message": message, "traceId": TRACE, **extra}
        return httpx.Response(status, json=body, headers=headers)

    return step


def fail(exc: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc("injected", request=request)

    return step


def scripted(*steps: Step) -> httpx.MockTransport:
    """A transport answering each request with the next step (the last one repeats)."""
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0) if len(queue) > 1 else queue[0]
        return step(request)

    return httpx.MockTransport(handler)


def _shell(make_shell: MakeShell, kind: Kind, *steps: Step, **kwargs: Any) -> Shell:
    counter = itertools.count(NOW_MS, 1000)
    kwargs.setdefault("clock", lambda: next(counter))
    shell = make_shell(
        kind, transport=scripted(*steps), access_key=KEY, access_secret=SECRET, **kwargs
    )
    shell.client._random = lambda: 0.0
    return shell


def _signed(request: httpx.Request) -> bool:
    return signing.verify(
        request.headers["sign"],
        access_key=KEY,
        access_secret=SECRET,
        ts=request.headers["ts"],
        body=request.content,
        action="nxai",
        biz_type="100",
    )


# -- paths and bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "task/create",
        "/task/create",
        "/openapi/aiagent/task/create",
        "openapi/aiagent/task/create",
        " task/create ",
    ],
)
def test_every_spelling_of_a_path_reaches_the_endpoint(
    make_shell: MakeShell, kind: Kind, path: str
) -> None:
    shell = _shell(make_shell, kind, answer(data={"taskId": TASK_ID}))
    call(shell, path, {"taskName": "x"})
    assert [str(r.url) for r in shell.requests] == ["http://testserver/openapi/aiagent/task/create"]
    assert shell.requests[0].method == "POST"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("", ValueError),
        ("/", ValueError),
        ("/openapi/aiagent/", ValueError),
        ("task//create", ValueError),
        ("task/../list", ValueError),
        ("./task/list", ValueError),
        ("task/list?pageSize=5", ValueError),
        ("task list", ValueError),
        ("https://example.com/openapi/aiagent/task/list", ValueError),
        (None, TypeError),
        (b"task/list", TypeError),
    ],
)
def test_a_bad_path_is_refused_before_sending(
    make_shell: MakeShell, kind: Kind, path: Any, error: type[Exception]
) -> None:
    shell = _shell(make_shell, kind, answer())
    with pytest.raises(error, match="path"):
        call(shell, path, {})
    assert shell.requests == []


def test_the_body_is_serialised_once_compactly_and_signed(
    make_shell: MakeShell, kind: Kind
) -> None:
    shell = _shell(make_shell, kind, answer(data={"taskId": TASK_ID}))
    body = {"taskName": "牛小信 renewals", "autoFlowId": 1, "list": [{"a": None, "b": 2.5}]}
    call(shell, "task/create", body)
    (request,) = shell.requests
    assert request.content == (
        '{"taskName":"牛小信 renewals","autoFlowId":1,"list":[{"a":null,"b":2.5}]}'.encode()
    )
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accessKey"] == KEY
    assert request.headers["ts"] == str(NOW_MS)
    assert (request.headers["bizType"], request.headers["action"]) == ("100", "nxai")
    assert _signed(request)


@pytest.mark.parametrize("body", [None, {}])
def test_no_body_is_an_empty_object(make_shell: MakeShell, kind: Kind, body: Any) -> None:
    shell = _shell(make_shell, kind, answer(total=0, pageNumber=1, pageSize=10, list=[]))
    call(shell, "flow/list", body)
    assert shell.requests[0].content == b"{}"
    assert _signed(shell.requests[0])


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ([1, 2], TypeError, "body: expected a mapping"),
        ("{}", TypeError, "body: expected a mapping"),
        ({"x": float("nan")}, ValueError, "JSON compliant"),
        ({"x": object()}, TypeError, "not JSON serializable"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_before_sending(
    make_shell: MakeShell, kind: Kind, body: Any, error: type[Exception], match: str
) -> None:
    shell = _shell(make_shell, kind, answer())
    with pytest.raises(error, match=match):
        call(shell, "task/create", body)
    assert shell.requests == []


# -- answers -----------------------------------------------------------------------------------


def test_success_returns_the_whole_envelope(make_shell: MakeShell, kind: Kind) -> None:
    shell = _shell(make_shell, kind, answer(data={"taskId": TASK_ID, "count": 2}))
    assert call(shell, "call/append", {"taskId": TASK_ID, "list": []}) == {
        "code": 0,
        "message": "success",
        "traceId": TRACE,
        "data": {"taskId": TASK_ID, "count": 2},
    }
    page = {"total": 1, "pageNumber": 1, "pageSize": 100, "list": [{"routeId": "r1"}]}
    shell = _shell(make_shell, kind, answer(**page))
    assert call(shell, "route/list") == {"code": 0, "message": "success", "traceId": TRACE, **page}


@pytest.mark.parametrize(
    ("step", "error", "code", "status"),
    [
        (answer(20000, "list: must not be empty"), BusinessError, 20000, 200),
        (answer(1003, "Authentication failed (invalid signature)"), SignatureError, 1003, 200),
        (answer(20000, "no such endpoint", status=404), ApiError, 20000, 404),
    ],
)
def test_refusals_raise_with_the_answer(
    make_shell: MakeShell,
    kind: Kind,
    step: Step,
    error: type[ApiError],
    code: int,
    status: int,
) -> None:
    shell = _shell(make_shell, kind, step)
    with pytest.raises(error) as caught:
        call(shell, "call/append", {"taskId": TASK_ID, "list": []})
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.status_code) == (code, status)
    assert caught.value.trace_id == TRACE
    assert caught.value.envelope == {
        "code": code,
        "message": caught.value.message,
        "traceId": TRACE,
    }
    assert len(shell.requests) == 1


def test_an_answer_that_is_not_json_has_no_envelope(make_shell: MakeShell, kind: Kind) -> None:
    shell = _shell(make_shell, kind, lambda request: httpx.Response(200, text="<html>"))
    with pytest.raises(ApiError) as caught:
        call(shell, "task/start", {"taskId": TASK_ID})
    assert caught.value.code is None
    assert caught.value.envelope is None


# -- retries: reads as the task list, writes only when not sent --------------------------------

OK = answer(data={"taskId": TASK_ID})
AFTER_SENDING = [
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
]
BEFORE_SENDING = [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout]


def _same_signed_request(requests: list[httpx.Request]) -> bool:
    """Every request is the same signed bytes: one body, one ``ts``, one ``sign``."""
    return len({(r.content, r.headers["ts"], r.headers["sign"]) for r in requests}) == 1 and all(
        _signed(r) for r in requests
    )


def _clock_at(*offsets_ms: int) -> Callable[[], int]:
    """A clock reading ``NOW_MS`` plus each offset in turn (the last one repeats)."""
    readings = list(offsets_ms)

    def clock() -> int:
        return NOW_MS + (readings.pop(0) if len(readings) > 1 else readings[0])

    return clock


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("exc", AFTER_SENDING, ids=lambda e: e.__name__)
def test_a_write_that_may_have_arrived_is_resent_as_the_same_signed_bytes(
    make_shell: MakeShell, kind: Kind, path: str, exc: type[httpx.TransportError]
) -> None:
    # The server answers a signed write it has already accepted with its first answer and
    # changes nothing, so sending the very same request again is safe.
    shell = _shell(make_shell, kind, fail(exc), fail(exc), OK)
    assert call(shell, path, {"taskId": TASK_ID})["data"] == {"taskId": TASK_ID}
    assert len(shell.requests) == 3
    assert shell.delays == [0.5, 1.0]
    assert _same_signed_request(shell.requests)


@pytest.mark.parametrize("exc", AFTER_SENDING, ids=lambda e: e.__name__)
def test_a_write_that_may_have_arrived_is_not_resent_once_its_signature_is_50_s_old(
    make_shell: MakeShell, kind: Kind, exc: type[httpx.TransportError]
) -> None:
    # Signed at NOW; the failure is seen 49.6 s later: the 0.5 s wait would end at 50.1 s.
    shell = _shell(make_shell, kind, fail(exc), OK, clock=_clock_at(0, 49_600))
    expected = TimeoutError if issubclass(exc, httpx.TimeoutException) else TransportError
    with pytest.raises(expected) as caught:
        call(shell, "task/create", {"taskId": TASK_ID})
    assert type(caught.value) is expected
    assert str(caught.value).endswith(
        "calling http://testserver/openapi/aiagent/task/create: injected"
    )
    assert len(shell.requests) == 1
    assert shell.delays == []


def test_a_write_is_resent_until_just_before_its_signature_is_50_s_old(
    make_shell: MakeShell, kind: Kind
) -> None:
    shell = _shell(make_shell, kind, fail(httpx.ReadTimeout), OK, clock=_clock_at(0, 49_499))
    assert call(shell, "task/create", {"taskId": TASK_ID})["code"] == 0
    assert _same_signed_request(shell.requests) and len(shell.requests) == 2


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("exc", BEFORE_SENDING, ids=lambda e: e.__name__)
def test_a_write_that_was_not_sent_is_sent_again(
    make_shell: MakeShell, kind: Kind, path: str, exc: type[httpx.TransportError]
) -> None:
    shell = _shell(make_shell, kind, fail(exc), fail(exc), OK)
    assert call(shell, path, {"taskId": TASK_ID})["data"] == {"taskId": TASK_ID}
    assert len(shell.requests) == 3
    assert shell.delays == [0.5, 1.0]
    assert _same_signed_request(shell.requests)
    assert {r.content for r in shell.requests} == {b'{"taskId":"' + TASK_ID.encode() + b'"}'}


def test_a_write_that_was_not_sent_is_signed_afresh_once_its_signature_is_too_old(
    make_shell: MakeShell, kind: Kind
) -> None:
    # Nothing reached the server, so a new signature is as safe as the old one.
    shell = _shell(make_shell, kind, fail(httpx.ConnectError), OK, clock=_clock_at(0, 60_000))
    assert call(shell, "task/create", {"taskId": TASK_ID})["code"] == 0
    assert [r.headers["ts"] for r in shell.requests] == [str(NOW_MS), str(NOW_MS + 60_000)]
    assert all(_signed(r) for r in shell.requests)


@pytest.mark.parametrize("path", WRITES)
def test_a_write_that_was_not_sent_gives_up_after_max_retries(
    make_shell: MakeShell, kind: Kind, path: str
) -> None:
    shell = _shell(make_shell, kind, fail(httpx.ConnectError), max_retries=1)
    with pytest.raises(TransportError, match="ConnectError calling"):
        call(shell, path, {"taskId": TASK_ID})
    assert len(shell.requests) == 2
    assert shell.delays == [0.5]


@pytest.mark.parametrize("path", WRITES)
def test_a_write_turned_away_with_429_or_503_is_sent_again(
    make_shell: MakeShell, kind: Kind, path: str
) -> None:
    shell = _shell(
        make_shell,
        kind,
        answer(20000, "rate limited", status=429, retry_after="2"),
        answer(20000, "database not ready", status=503),
        OK,
    )
    assert call(shell, path, {"taskId": TASK_ID})["code"] == 0
    assert len(shell.requests) == 3
    assert shell.delays == [2.0, 1.0]
    assert _same_signed_request(shell.requests)


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_write_answered_with_a_server_error_is_resent_as_the_same_signed_bytes(
    make_shell: MakeShell, kind: Kind, path: str, status: int
) -> None:
    shell = _shell(make_shell, kind, answer(20000, "internal error", status=status), OK)
    assert call(shell, path, {"taskId": TASK_ID})["code"] == 0
    assert shell.delays == [0.5]
    assert _same_signed_request(shell.requests) and len(shell.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_write_answered_with_a_server_error_when_too_old_to_resend_raises_it(
    make_shell: MakeShell, kind: Kind, status: int
) -> None:
    server_error = answer(20000, "internal error", status=status)
    shell = _shell(make_shell, kind, server_error, OK, clock=_clock_at(0, 50_000))
    with pytest.raises(ApiError) as caught:
        call(shell, "task/create", {"taskId": TASK_ID})
    assert (caught.value.code, caught.value.status_code) == (20000, status)
    assert len(shell.requests) == 1
    assert shell.delays == []


def test_a_write_that_may_have_arrived_then_was_turned_away_raises_the_first_failure(
    make_shell: MakeShell, kind: Kind
) -> None:
    # The resend was refused without being acted on, which says nothing about the first try.
    busy = answer(20000, "database not ready", status=503)
    shell = _shell(make_shell, kind, fail(httpx.ReadTimeout), busy, max_retries=1)
    with pytest.raises(TimeoutError, match="timed out \\(ReadTimeout\\)") as caught:
        call(shell, "task/create", {"taskId": TASK_ID})
    assert isinstance(caught.value.__cause__, ApiError)
    assert caught.value.__cause__.status_code == 503
    assert len(shell.requests) == 2


def test_a_resent_write_refused_for_its_timestamp_is_not_signed_again(
    make_shell: MakeShell, kind: Kind
) -> None:
    # The server's clock is ahead: the same signed bytes are too old for it now. Signing
    # them again would make a new request, which the server would act on a second time.
    expired = answer(1004, f"Authentication failed (timestamp expired): server time {NOW_MS}")
    shell = _shell(make_shell, kind, fail(httpx.ReadTimeout), expired, OK)
    with pytest.raises(TimeoutError) as caught:
        call(shell, "task/create", {"taskId": TASK_ID})
    assert caught.value.__cause__ is not None
    assert getattr(caught.value.__cause__, "code", None) == 1004
    assert len(shell.requests) == 2
    assert shell.client.clock_offset_ms == 0


@pytest.mark.parametrize("path", WRITES)
def test_a_write_refused_for_its_timestamp_is_signed_again_with_the_server_clock(
    make_shell: MakeShell, kind: Kind, path: str
) -> None:
    server_ms = NOW_MS + 3_600_000
    expired = answer(1004, f"Authentication failed (timestamp expired): server time {server_ms}")
    shell = _shell(make_shell, kind, expired, OK, clock=lambda: NOW_MS)
    assert call(shell, path, {"taskId": TASK_ID})["code"] == 0
    assert [r.headers["ts"] for r in shell.requests] == [str(NOW_MS), str(server_ms)]
    assert shell.delays == [0.0]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("exc", AFTER_SENDING + BEFORE_SENDING, ids=lambda e: e.__name__)
def test_a_read_is_sent_again_after_any_transport_failure(
    make_shell: MakeShell, kind: Kind, path: str, exc: type[httpx.TransportError]
) -> None:
    shell = _shell(make_shell, kind, fail(exc), answer(total=0, pageNumber=1, pageSize=10, list=[]))
    assert call(shell, path, {"taskId": TASK_ID})["total"] == 0
    assert len(shell.requests) == 2
    assert shell.delays == [0.5]


@pytest.mark.parametrize("path", READS)
def test_a_read_is_sent_again_after_a_server_error(
    make_shell: MakeShell, kind: Kind, path: str
) -> None:
    shell = _shell(
        make_shell,
        kind,
        answer(20000, status=500),
        answer(20000, status=502),
        answer(total=0, pageNumber=1, pageSize=10, list=[]),
    )
    assert call(shell, path)["list"] == []
    assert shell.delays == [0.5, 1.0]


def test_an_endpoint_not_known_to_only_read_is_treated_as_a_write(
    make_shell: MakeShell, kind: Kind
) -> None:
    shell = _shell(make_shell, kind, fail(httpx.ReadTimeout), OK, clock=_clock_at(0, 50_000))
    with pytest.raises(TimeoutError):
        call(shell, "task/update", {"taskId": TASK_ID})
    assert len(shell.requests) == 1


@pytest.mark.parametrize("path", READS)
def test_a_read_is_signed_afresh_on_each_attempt(
    make_shell: MakeShell, kind: Kind, path: str
) -> None:
    listing = answer(total=0, pageNumber=1, pageSize=10, list=[])
    shell = _shell(make_shell, kind, fail(httpx.ReadTimeout), listing)
    assert call(shell, path)["total"] == 0
    assert len({r.headers["ts"] for r in shell.requests}) == 2
    assert all(_signed(r) for r in shell.requests)


def test_the_task_list_resource_keeps_its_retries(make_shell: MakeShell, kind: Kind) -> None:
    shell = _shell(
        make_shell,
        kind,
        fail(httpx.ReadTimeout),
        answer(total=0, pageNumber=1, pageSize=10, list=[]),
    )
    assert shell.list().total == 0
    assert len(shell.requests) == 2


# -- against the real app ----------------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["flat", "data"])
def test_the_task_list_through_request(
    make_shell: MakeShell, kind: Kind, store: Store, envelope: str
) -> None:
    tenant = make_tenant(store)
    store.insert_tasks(
        tenant.account_id,
        [make_task(tenant, task_id=TASK_ID, task_name="Renewal wave 1", create_ts=1_767_225_000)],
    )
    app = create_app(
        Settings(envelope=envelope, log_requests=False), store=store, clock=lambda: NOW_MS
    )
    shell = make_shell(
        kind,
        app=app,
        access_key=tenant.access_key,
        access_secret=tenant.secret,
        clock=lambda: NOW_MS,
    )
    answer_ = call(shell, "/openapi/aiagent/task/list", {"pageSize": 5})
    assert (answer_["code"], answer_["message"]) == (0, "success")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", answer_["traceId"]
    )
    page = answer_["data"] if envelope == "data" else answer_
    assert (page["total"], page["pageNumber"], page["pageSize"]) == (1, 1, 5)
    assert [(t["taskId"], t["taskName"]) for t in page["list"]] == [(TASK_ID, "Renewal wave 1")]
    assert page["list"] == [t.to_wire() for t in shell.list(page_size=5).tasks]
    with pytest.raises(BusinessError) as caught:
        call(shell, "task/list", {"pageSize": 5000})
    assert caught.value.envelope is not None
    assert caught.value.envelope["code"] == 20000
    assert "pageSize: at most 1000" in caught.value.message


@pytest.mark.parametrize("envelope", ["vendor", "flat", "data"])
def test_a_task_lives_through_request(
    make_shell: MakeShell, kind: Kind, store: Store, envelope: str
) -> None:
    """The lifecycle endpoints end to end: catalog, create, append, delete, start, pause."""
    tenant = make_tenant(store)
    app = create_app(
        Settings(envelope=envelope, log_requests=False), store=store, clock=lambda: NOW_MS
    )
    shell = make_shell(
        kind,
        app=app,
        access_key=tenant.access_key,
        access_secret=tenant.secret,
        clock=lambda: NOW_MS,
    )

    def page(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The page fields, where the setting puts this list's (the vendor nests flow/list and
        route/list under data, not task/list and call/list)."""
        answer_ = call(shell, path, body)
        assert answer_["code"] == 0
        nested = envelope == "data" or (
            envelope == "vendor" and path in ("flow/list", "route/list")
        )
        assert ("data" in answer_) is nested, answer_
        result: dict[str, Any] = answer_["data"] if nested else answer_
        return result

    flows = page("flow/list")
    assert (flows["total"], flows["pageNumber"], flows["pageSize"]) == (1, 1, 10)
    (flow,) = flows["list"]
    assert list(flow) == ["autoFlowId", "autoFlowName", "variables", "createTs"]
    assert (flow["autoFlowId"], flow["autoFlowName"], flow["variables"]) == (
        tenant.flow_id,
        tenant.flow_name,
        ["name"],
    )
    routes = page("route/list", {"routeName": "ROUTE"})
    assert (routes["total"], routes["pageNumber"], routes["pageSize"]) == (1, 1, 100)
    (route,) = routes["list"]
    assert list(route) == ["routeId", "routeName", "countryCode", "pricePerMinute", "createTs"]
    assert (route["routeId"], route["routeName"], route["countryCode"]) == (
        tenant.route_id,
        f"{tenant.name} route",
        "852",
    )

    created = call(
        shell,
        "task/create",
        {
            "taskName": "renewals",
            "autoFlowId": tenant.flow_id,
            "routeId": tenant.route_id,
            "taskKeep": 0,
            "startupType": 1,
            "userTaskId": "renewals-1",
        },
    )
    assert list(created) == ["code", "message", "traceId", "data"]
    task_id = created["data"]["taskId"]
    assert UUID.fullmatch(task_id)
    (task,) = shell.list().tasks
    assert (task.task_id, task.user_task_id, task.task_status) == (task_id, "renewals-1", 1)

    appended = call(
        shell,
        "call/append",
        {
            "userTaskId": "renewals-1",
            "list": [
                {
                    "contactId": "c-1",
                    "phoneNumber": "+85291234567",
                    "name": "Chan",
                    "params": [{"name": "name", "value": "Chan"}],
                },
                {"contactId": 2, "phoneNumber": "91234568"},
            ],
        },
    )
    assert appended["data"] == {"taskId": task_id, "count": 2}
    assert shell.list().tasks[0].stat_info.total_order_count == 2
    duplicate = {"contactId": "c-1", "phoneNumber": "123"}
    with pytest.raises(BusinessError) as caught:
        call(shell, "call/append", {"taskId": task_id, "list": [duplicate]})
    assert caught.value.message == "Duplicate contactIds are not allowed: c-1"

    deleted = call(shell, "order/delete", {"taskId": task_id, "contactId": 2})
    assert deleted["data"] == {"taskId": task_id, "contactId": "2"}
    assert shell.list().tasks[0].stat_info.total_order_count == 1

    admin.top_up(store, tenant.name, 10_000)  # an account at zero pauses its tasks (6)
    started = call(shell, "task/start", {"taskId": task_id})
    assert started["data"] == {"taskId": task_id, "taskStatus": 2, "pauseReason": None}
    assert shell.list().tasks[0].startup_by == tenant.access_key
    paused = call(shell, "task/pause", {"userTaskId": "renewals-1"})
    assert paused["data"] == {"taskId": task_id, "taskStatus": 5, "pauseReason": 1}

    calls = page("call/list", {"taskId": task_id})
    assert (calls["total"], calls["pageNumber"], calls["pageSize"], calls["list"]) == (
        0,
        1,
        10,
        [],
    )
    assert len(shell.requests) == 13
    assert [json.loads(r.content).get("taskId") for r in shell.requests[-2:]] == [None, task_id]


@pytest.mark.parametrize("lost", [1, 2])
def test_a_write_whose_answer_was_lost_is_resent_and_acted_on_once(
    make_shell: MakeShell, kind: Kind, store: Store, lost: int
) -> None:
    """The server created the task, the answer was lost; the client resends the same signed
    bytes and gets the first answer, and there is one task."""
    tenant = make_tenant(store)
    app = create_app(Settings(log_requests=False), store=store, clock=lambda: NOW_MS)
    shell = make_shell(
        kind,
        app=app,
        lose_answers=lost,
        access_key=tenant.access_key,
        access_secret=tenant.secret,
        clock=lambda: NOW_MS,
    )
    body = {
        "taskName": "renewals",
        "autoFlowId": tenant.flow_id,
        "routeId": tenant.route_id,
        "taskKeep": 0,
        "startupType": 1,
        "userTaskId": "once",
    }
    created = call(shell, "task/create", body)
    assert created["code"] == 0
    assert len(shell.requests) == lost + 1
    assert len({(r.content, r.headers["ts"], r.headers["sign"]) for r in shell.requests}) == 1
    listing = call(shell, "task/list", {"userTaskId": "once"})
    assert listing["total"] == 1
    assert [t["taskId"] for t in listing["list"]] == [created["data"]["taskId"]]
