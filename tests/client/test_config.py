"""Where the client sends requests, with which credentials, and what it refuses up front."""

from __future__ import annotations

import httpx
import pytest

from nxlink import REGIONS, AsyncClient, Client, NxError
from nxlink.client._base import resolve_base_url

ENV = ("NXLINK_ACCESS_KEY", "NXLINK_ACCESS_SECRET", "NXLINK_BASE_URL", "NXLINK_REGION")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_the_three_documented_gateways() -> None:
    assert REGIONS == {
        "hk": "https://api-hk.nxlink.ai",
        "amer": "https://chl-api.nxlink.ai",
        "idn": "https://api-idn.nxlink.ai",
    }


@pytest.mark.parametrize(
    ("base_url", "region", "env", "expected"),
    [
        (None, None, {}, "https://api-hk.nxlink.ai"),
        (None, "amer", {}, "https://chl-api.nxlink.ai"),
        (None, "IDN", {}, "https://api-idn.nxlink.ai"),
        ("http://127.0.0.1:8000/", None, {}, "http://127.0.0.1:8000"),
        ("https://proxy.example/nx/", None, {}, "https://proxy.example/nx"),
        (None, None, {"NXLINK_BASE_URL": "http://env:9"}, "http://env:9"),
        (None, None, {"NXLINK_REGION": "amer"}, "https://chl-api.nxlink.ai"),
        (None, None, {"NXLINK_BASE_URL": "http://env:9", "NXLINK_REGION": "amer"}, "http://env:9"),
        (None, "idn", {"NXLINK_BASE_URL": "http://env:9"}, "https://api-idn.nxlink.ai"),
        ("http://arg:1", None, {"NXLINK_REGION": "amer"}, "http://arg:1"),
    ],
)
def test_resolve_base_url(
    base_url: str | None, region: str | None, env: dict[str, str], expected: str
) -> None:
    assert resolve_base_url(base_url=base_url, region=region, environ=env) == expected


@pytest.mark.parametrize(
    ("base_url", "region", "message"),
    [
        ("http://a", "hk", "give region or base_url, not both"),
        (None, "eu", "unknown region 'eu': expected one of hk, amer, idn"),
        ("ftp://host", None, "invalid base_url 'ftp://host': expected http(s)://host[:port]"),
        (
            "127.0.0.1:8000",
            None,
            "invalid base_url '127.0.0.1:8000': expected http(s)://host[:port]",
        ),
    ],
)
def test_resolve_base_url_refusals(base_url: str | None, region: str | None, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        resolve_base_url(base_url=base_url, region=region, environ={})
    assert str(caught.value) == message


def test_credentials_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NXLINK_ACCESS_KEY", "AK-env")
    monkeypatch.setenv("NXLINK_ACCESS_SECRET", "env-secret")
    monkeypatch.setenv("NXLINK_BASE_URL", "http://127.0.0.1:8123")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"code": 0, "message": "success", "traceId": "", "total": 0, "list": []}
        )

    with Client(http_client=httpx.Client(transport=httpx.MockTransport(handler))) as client:
        assert client.base_url == "http://127.0.0.1:8123"
        assert client.access_key == "AK-env"
        page = client.tasks.list()
    assert (page.total, page.page_number, page.page_size, page.tasks) == (0, 1, 10, [])
    assert seen[0].url == "http://127.0.0.1:8123/openapi/aiagent/task/list"
    assert seen[0].headers["accessKey"] == "AK-env"


def test_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NXLINK_ACCESS_KEY", "AK-env")
    monkeypatch.setenv("NXLINK_ACCESS_SECRET", "env-secret")
    client = Client(access_key="AK-arg", access_secret="arg", region="idn")
    assert (client.access_key, client.base_url) == ("AK-arg", "https://api-idn.nxlink.ai")
    client.close()


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_missing_credentials(cls: type[Client] | type[AsyncClient]) -> None:
    with pytest.raises(NxError) as caught:
        cls()
    assert str(caught.value) == "no access key: pass access_key= or set NXLINK_ACCESS_KEY"
    with pytest.raises(NxError) as no_secret:
        cls(access_key="AK-1")
    assert (
        str(no_secret.value) == "no access secret: pass access_secret= or set NXLINK_ACCESS_SECRET"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"algorithm": "sha1"}, "unknown algorithm 'sha1': expected md5 or sha256"),
        ({"max_retries": -1}, "max_retries must be a whole number >= 0, got -1"),
        ({"max_retries": True}, "max_retries must be a whole number >= 0, got True"),
        ({"region": "hk", "base_url": "http://x"}, "give region or base_url, not both"),
    ],
)
def test_bad_arguments(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Client(access_key="AK-1", access_secret="s", **arguments)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_settings_and_repr_never_show_the_secret() -> None:
    with Client(
        access_key="AK-1",
        access_secret="top-secret",
        base_url="http://h:1",
        algorithm="SHA256",
        timeout=5,
        max_retries=4,
    ) as client:
        assert client.algorithm == "sha256"
        assert client.timeout == httpx.Timeout(5)
        assert client.max_retries == 4
        assert repr(client) == "Client(base_url='http://h:1', access_key='AK-1')"
        assert repr(client._auth) == "NxlinkAuth(access_key='AK-1', algorithm='sha256')"
        assert "top-secret" not in repr(vars(client))
    defaults = AsyncClient(access_key="AK-1", access_secret="s")
    assert (defaults.algorithm, defaults.timeout, defaults.max_retries) == (
        "md5",
        httpx.Timeout(30.0),
        2,
    )


def test_a_client_closes_only_its_own_pool() -> None:
    mine = httpx.Client()
    with Client(access_key="AK-1", access_secret="s", http_client=mine):
        pass
    assert not mine.is_closed
    mine.close()
    owned = Client(access_key="AK-1", access_secret="s")
    owned.close()
    assert owned._http.is_closed
