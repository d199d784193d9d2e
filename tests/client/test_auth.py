"""``NxlinkAuth`` signs the exact bytes sent; the spec's vectors through a real httpx request."""

from __future__ import annotations

import httpx
import pytest

from nxlink import NxlinkAuth

AK, SECRET, TS = "AK-6230339248928541113-2133", "s3cr3t-Example", 1746583929000


def _sent(auth: NxlinkAuth, body: bytes) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        http.post("http://x/openapi/aiagent/task/list", content=body, auth=auth)
    return seen[0]


@pytest.mark.parametrize(
    ("body", "algorithm", "sign"),
    [
        (b'{"pageNumber":1,"pageSize":10}', "md5", "7cfd76c3dff9eadb89caeee037d768ad"),
        (b"", "md5", "8e3192fa2fec50787e04f01f925fe3cf"),
        (
            b'{"pageNumber":1,"pageSize":10}',
            "sha256",
            "5c6554918de76f9536274f17892326bcb2c40c1132ebe6e64596e24b941b286b",
        ),
    ],
)
def test_spec_vectors(body: bytes, algorithm: str, sign: str) -> None:
    auth = NxlinkAuth(AK, SECRET, algorithm=algorithm, clock=lambda: TS)  # type: ignore[arg-type]
    request = _sent(auth, body)
    assert request.content == body
    assert request.headers["accessKey"] == AK
    assert request.headers["ts"] == str(TS)
    assert request.headers["bizType"] == "100"
    assert request.headers["action"] == "nxai"
    assert request.headers["sign"] == sign
    assert request.headers.get("algorithm") == (None if algorithm == "md5" else "sha256")


def test_whitespace_and_key_order_are_signed_as_sent() -> None:
    auth = NxlinkAuth(AK, SECRET, clock=lambda: TS)
    compact = _sent(auth, b'{"pageNumber":1,"pageSize":10}').headers["sign"]
    spaced = _sent(auth, b'{"pageNumber": 1, "pageSize": 10}').headers["sign"]
    reordered = _sent(auth, b'{"pageSize":10,"pageNumber":1}').headers["sign"]
    assert len({compact, spaced, reordered}) == 3


def test_async_clients_use_the_same_auth() -> None:
    import asyncio

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async def post() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            await http.post(
                "http://x/",
                content=b'{"pageNumber":1,"pageSize":10}',
                auth=NxlinkAuth(AK, SECRET, clock=lambda: TS),
            )

    asyncio.run(post())
    assert seen[0].headers["sign"] == "7cfd76c3dff9eadb89caeee037d768ad"


def test_each_request_reads_the_clock() -> None:
    ticks = iter([TS, TS + 1])
    auth = NxlinkAuth(AK, SECRET, clock=lambda: next(ticks))
    first, second = _sent(auth, b"{}"), _sent(auth, b"{}")
    assert (first.headers["ts"], second.headers["ts"]) == (str(TS), str(TS + 1))
    assert first.headers["sign"] != second.headers["sign"]
