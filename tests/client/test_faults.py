"""Fault injection through a mock transport: retries, backoff, Retry-After, re-signing, mapping.

Every case runs through both clients (``kind``); sleeps are recorded, not slept.
"""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from client.harness import Kind, MakeShell
from nxlink import (
    ApiError,
    AuthError,
    BusinessError,
    NxError,
    SignatureError,
    TimeoutError,
    TimestampError,
    TransportError,
    signing,
)

KEY, SECRET = "AK-test", "s3cr3t"
TRACE = "0123456789abcdef0123456789abcdef"
SERVER_MS = 1_767_225_600_000
TASK = {
    "id": 7,
    "taskId": "t-7",
    "taskName": "seven",
    "taskStatus": 2,
    "createTs": 1_767_225_600,
    "statInfo": {"answerRate": "12.50%"},
}

Step = Callable[[httpx.Request], httpx.Response]


def ok(request: httpx.Request) -> httpx.Response:
    body = {
        "code": 0,
        "message": "success",
        "traceId": TRACE,
        "total": 1,
        "pageNumber": 1,
        "pageSize": 10,
        "list": [TASK],
    }
    return httpx.Response(200, json=body)


def answer(code: int, message: str = "nope", *, status: int = 200, **headers: str) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        body = {"code": code, "message": message, "traceId": TRACE}
        return httpx.Response(status, json=body, headers=headers)

    return step


def raw(status: int, text: str) -> Step:
    return lambda request: httpx.Response(status, text=text, headers={"X-Trace-Id": TRACE})


def fail(exc: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc("injected", request=request)

    return step


def scripted(*steps: Step) -> httpx.MockTransport:
    """A transport answering each request with the next step (the last one repeats)."""
    queue = iter(steps)
    last: list[Step] = []

    def handler(request: httpx.Request) -> httpx.Response:
        step = next(queue, None)
        if step is None:
            step = last[0]
        last[:] = [step]
        return step(request)

    return httpx.MockTransport(handler)


def ticking() -> Callable[[], int]:
    """A clock that moves 1 s each time it is read."""
    counter: Iterator[int] = itertools.count(SERVER_MS - 10_000, 1000)
    return lambda: next(counter)


def _shell(
    make_shell: MakeShell, kind: Kind, *steps: Step, jitter: float = 0.0, **kwargs: Any
) -> Any:
    kwargs.setdefault("clock", ticking())
    shell = make_shell(
        kind, transport=scripted(*steps), access_key=KEY, access_secret=SECRET, **kwargs
    )
    shell.client._random = lambda: jitter
    return shell


def _signed_fresh(requests: list[httpx.Request]) -> None:
    stamps = [r.headers["ts"] for r in requests]
    assert len(set(stamps)) == len(stamps), stamps
    for r in requests:
        assert signing.verify(
            r.headers["sign"],
            access_key=KEY,
            access_secret=SECRET,
            ts=r.headers["ts"],
            body=r.content,
            action="nxai",
            biz_type="100",
        )
    assert len({r.content for r in requests}) == 1


# -- the parity table: (id, steps, client arguments, expected) ------------------------------------
# expected: ("ok", delays) or (error class, code, HTTP status, delays)
TABLE: list[tuple[str, list[Step], dict[str, Any], tuple[Any, ...]]] = [
    ("first-try", [ok], {}, ("ok", [])),
    ("connect-error-then-ok", [fail(httpx.ConnectError), ok], {}, ("ok", [0.5])),
    (
        "reset-then-503-then-ok",
        [fail(httpx.ReadError), answer(20000, status=503), ok],
        {},
        ("ok", [0.5, 1.0]),
    ),
    (
        "500-502-504-exhaust",
        [answer(20000, "boom", status=500), raw(502, "<html>bad gateway</html>"), raw(504, "")],
        {},
        (ApiError, None, 504, [0.5, 1.0]),
    ),
    (
        "backoff-caps-at-8s",
        [answer(20000, status=503)],
        {"max_retries": 6},
        (ApiError, 20000, 503, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]),
    ),
    (
        "jitter-takes-a-quarter-at-most",
        [answer(20000, status=503)],
        {"_jitter": 1.0},
        (ApiError, 20000, 503, [0.375, 0.75]),
    ),
    (
        "retry-after-seconds",
        [answer(20000, "slow down", status=429, **{"Retry-After": "3"}), ok],
        {},
        ("ok", [3.0]),
    ),
    (
        "retry-after-fraction",
        [answer(20000, status=429, **{"Retry-After": "0.25"}), answer(20000, status=503), ok],
        {},
        ("ok", [0.25, 1.0]),
    ),
    (
        "retry-after-too-long",
        [answer(20000, "later", status=429, **{"Retry-After": "120"})],
        {},
        (ApiError, 20000, 429, []),
    ),
    (
        "no-retries-configured",
        [answer(20000, status=503), ok],
        {"max_retries": 0},
        (ApiError, 20000, 503, []),
    ),
    (
        "404-not-retried",
        [answer(20000, "no such endpoint", status=404)],
        {},
        (ApiError, 20000, 404, []),
    ),
    (
        "1001-not-retried",
        [answer(1001, "Authentication failed (missing public parameters): sign")],
        {},
        (AuthError, 1001, 200, []),
    ),
    ("1002-not-retried", [answer(1002)], {}, (AuthError, 1002, 200, [])),
    ("1003-not-retried", [answer(1003)], {}, (SignatureError, 1003, 200, [])),
    ("1005-not-retried", [answer(1005)], {}, (AuthError, 1005, 200, [])),
    (
        "20000-not-retried",
        [answer(20000, "pageSize: at most 1000, got 5000")],
        {},
        (BusinessError, 20000, 200, []),
    ),
    (
        "1004-without-server-time",
        [answer(1004, "Authentication failed (timestamp expired)")],
        {},
        (TimestampError, 1004, 200, []),
    ),
    (
        "1004-corrected-once",
        [answer(1004, f"Authentication failed (timestamp expired): server time {SERVER_MS}"), ok],
        {"max_retries": 0},
        ("ok", [0.0]),
    ),
    (
        "1004-twice-raises",
        [answer(1004, f"Authentication failed (timestamp expired): server time {SERVER_MS}")],
        {},
        (TimestampError, 1004, 200, [0.0]),
    ),
    ("unknown-code", [answer(30001, "something new")], {}, (ApiError, 30001, 200, [])),
    ("not-json", [raw(200, "<html>captive portal</html>")], {}, (ApiError, None, 200, [])),
]


@pytest.mark.parametrize(
    ("steps", "arguments", "outcome"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE]
)
def test_parity_table(
    make_shell: MakeShell,
    kind: Kind,
    steps: list[Step],
    arguments: dict[str, Any],
    outcome: tuple[Any, ...],
) -> None:
    arguments = dict(arguments)
    jitter = arguments.pop("_jitter", 0.0)
    shell = _shell(make_shell, kind, *steps, jitter=jitter, **arguments)
    if outcome[0] == "ok":
        page = shell.list()
        assert [t.task_id for t in page.tasks] == ["t-7"]
        assert shell.delays == outcome[1]
    else:
        cls, code, status, delays = outcome
        with pytest.raises(ApiError) as caught:
            shell.list()
        assert type(caught.value) is cls
        assert (caught.value.code, caught.value.status_code, caught.value.trace_id) == (
            code,
            status,
            TRACE,
        )
        assert shell.delays == delays
    assert len(shell.requests) == len(shell.delays) + 1
    _signed_fresh(shell.requests)


def test_each_retry_is_signed_afresh(make_shell: MakeShell, kind: Kind) -> None:
    shell = _shell(make_shell, kind, fail(httpx.ConnectError), answer(20000, status=502), ok)
    shell.list(task_name="x")
    stamps = [int(r.headers["ts"]) for r in shell.requests]
    assert stamps == [SERVER_MS - 10_000, SERVER_MS - 9_000, SERVER_MS - 8_000]
    assert len({r.headers["sign"] for r in shell.requests}) == 3
    _signed_fresh(shell.requests)


def test_the_1004_retry_signs_with_the_server_clock(make_shell: MakeShell, kind: Kind) -> None:
    expired = answer(1004, f"Authentication failed (timestamp expired): server time {SERVER_MS}")
    shell = _shell(make_shell, kind, expired, ok, clock=lambda: SERVER_MS - 90_000)
    shell.list()
    assert [r.headers["ts"] for r in shell.requests] == [str(SERVER_MS - 90_000), str(SERVER_MS)]
    assert shell.client.clock_offset_ms == 90_000


def test_retry_after_error_carries_the_wait(make_shell: MakeShell, kind: Kind) -> None:
    shell = _shell(
        make_shell, kind, answer(20000, "rate limited", status=429, **{"Retry-After": "120"})
    )
    with pytest.raises(ApiError) as caught:
        shell.list()
    assert caught.value.retry_after == 120.0
    assert str(caught.value) == f"rate limited (code 20000, HTTP 429, traceId {TRACE})"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retried_statuses(make_shell: MakeShell, kind: Kind, status: int) -> None:
    shell = _shell(make_shell, kind, answer(20000, status=status), ok)
    assert shell.list().total == 1
    assert shell.delays == [0.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 415, 501])
def test_other_statuses_are_not_retried(make_shell: MakeShell, kind: Kind, status: int) -> None:
    shell = _shell(make_shell, kind, answer(20000, f"status {status}", status=status), ok)
    with pytest.raises(ApiError) as caught:
        shell.list()
    assert type(caught.value) is ApiError
    assert (caught.value.status_code, caught.value.message) == (status, f"status {status}")
    assert len(shell.requests) == 1


# -- transport failures -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc", [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout]
)
def test_timeouts_are_retried_then_raised_as_timeout_error(
    make_shell: MakeShell, kind: Kind, exc: type[httpx.TransportError]
) -> None:
    shell = _shell(make_shell, kind, fail(exc))
    with pytest.raises(TimeoutError) as caught:
        shell.list()
    assert isinstance(caught.value, TransportError)
    assert isinstance(caught.value, NxError)
    assert isinstance(caught.value.__cause__, exc)
    assert str(caught.value) == (
        f"timed out ({exc.__name__}) calling http://testserver/openapi/aiagent/task/list: injected"
    )
    assert shell.delays == [0.5, 1.0]
    _signed_fresh(shell.requests)


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError]
)
def test_connection_errors_are_retried_then_raised_as_transport_error(
    make_shell: MakeShell, kind: Kind, exc: type[httpx.TransportError]
) -> None:
    shell = _shell(make_shell, kind, fail(exc))
    with pytest.raises(TransportError) as caught:
        shell.list()
    assert type(caught.value) is TransportError
    assert (
        str(caught.value)
        == f"{exc.__name__} calling http://testserver/openapi/aiagent/task/list: injected"
    )
    assert shell.delays == [0.5, 1.0]


def test_a_real_read_timeout_is_mapped(kind: Kind, portal: Any) -> None:
    """A listening socket that never answers: httpx's own timeout becomes ours."""
    from nxlink import AsyncClient, Client

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
        arguments: dict[str, Any] = {
            "access_key": KEY,
            "access_secret": SECRET,
            "base_url": base,
            "timeout": 0.2,
            "max_retries": 0,
        }
        with pytest.raises(TimeoutError) as caught:
            if kind == "sync":
                with Client(**arguments) as client:
                    client.tasks.list()
            else:

                async def call() -> None:
                    async with AsyncClient(**arguments) as client:
                        await client.tasks.list()

                portal.call(call)
        assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_nothing_listening_is_a_transport_error(kind: Kind, portal: Any) -> None:
    from nxlink import AsyncClient, Client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    arguments: dict[str, Any] = {
        "access_key": KEY,
        "access_secret": SECRET,
        "base_url": f"http://127.0.0.1:{port}",
        "max_retries": 0,
    }
    with pytest.raises(TransportError) as caught:
        if kind == "sync":
            with Client(**arguments) as client:
                client.tasks.list()
        else:

            async def call() -> None:
                async with AsyncClient(**arguments) as client:
                    await client.tasks.list()

            portal.call(call)
    assert type(caught.value) is TransportError
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


# -- answers that are not the contract's ------------------------------------------------------------
def test_an_unreadable_success_answer_is_an_api_error(make_shell: MakeShell, kind: Kind) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"code": 0, "message": "success", "traceId": TRACE, "total": "many", "list": []},
        )

    shell = _shell(make_shell, kind, broken)
    with pytest.raises(ApiError) as caught:
        shell.list()
    assert caught.value.code == 0
    assert caught.value.trace_id == TRACE
    assert caught.value.message.startswith(
        "unexpected task list answer: total: Input should be a valid integer"
    )


def test_code_as_a_string_is_understood(make_shell: MakeShell, kind: Kind) -> None:
    def stringly(request: httpx.Request) -> httpx.Response:
        body = json.loads(ok(request).content)
        body["code"] = "0"
        return httpx.Response(200, json=body)

    assert _shell(make_shell, kind, stringly).list().total == 1
