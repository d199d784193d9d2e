"""Bodies sized for the contract (16 MiB for the endpoints that import, 1 MiB for the others),
CORS (off by default; Starlette's middleware around every route), and list settings from the
environment as JSON or comma-separated values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.service import admin
from nxlink.store import Store

P = "/openapi/aiagent/"
MIB = 1 << 20
CONTACTS = 10_000
SURNAMES = ("Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung")
GIVEN = ("Tai Man", "Siu Ming", "Ka Yan", "Wing Sze", "Chi Keung", "Mei Ling")


def contacts(prefix: str) -> list[dict[str, Any]]:
    """10,000 contacts as a CRM exports them: names, numbers, a few params, ``other``."""
    made = []
    for i in range(CONTACTS):
        name = f"{SURNAMES[i % len(SURNAMES)]} {GIVEN[i % len(GIVEN)]}"
        made.append({
            "contactId": f"{prefix}-{i:06d}",
            "phoneNumber": f"+8529{i:07d}",
            "name": name,
            "params": [{"name": "due", "value": f"2026-02-{1 + i % 28:02d}"},
                       {"name": "plan", "value": ("basic", "family", "premium")[i % 3]}],
            "other": f"crm-{100000 + i}",
        })  # fmt: skip
    return made


def compact(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


@pytest.fixture
def tenant(store: Store) -> Tenant:
    made = make_tenant(store, "bulk")
    flow = admin.create_flow(store, "bulk", name="renewals", variables=["due", "plan"])
    made.flow_id = flow.id
    return made


def test_ten_thousand_contacts_in_one_request(api: Api, tenant: Tenant) -> None:
    create = {"taskName": "bulk", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
              "taskKeep": 1, "startupType": 1, "list": contacts("a")}  # fmt: skip
    raw = compact(create)
    assert 1.3 * MIB < len(raw) < 1.7 * MIB
    created = api.post(tenant, raw, path=P + "task/create").json()
    assert created["code"] == 0, created["message"][:300]
    task_id = created["data"]["taskId"]
    raw = compact({"taskId": task_id, "list": contacts("b")})
    assert len(raw) > MIB
    appended = api.post(tenant, raw, path=P + "call/append").json()
    assert appended["code"] == 0, appended["message"][:300]
    assert appended["data"] == {"taskId": task_id, "count": CONTACTS}
    page = api.tasks(tenant)
    assert page["list"][0]["statInfo"]["totalOrderCount"] == 2 * CONTACTS


@pytest.mark.parametrize("name", ["task/create", "call/append"])
def test_an_import_over_16_mib_is_413(api: Api, tenant: Tenant, name: str) -> None:
    response = api.post(tenant, b" " * (16 * MIB + 1), path=P + name)
    assert response.status_code == 413
    assert response.json()["message"] == "body: larger than the limit of 16777216 bytes"


@pytest.mark.parametrize("name", ["task/list", "call/list", "order/delete", "call/delete"])
def test_other_endpoints_keep_1_mib(api: Api, tenant: Tenant, name: str) -> None:
    response = api.post(tenant, b" " * (MIB + 1), path=P + name)
    assert response.status_code == 413
    assert response.json()["message"] == "body: larger than the limit of 1048576 bytes"


def test_both_limits_are_settings(store: Store, tenant: Tenant) -> None:
    api = make_api(store, max_body_bytes=100, max_import_body_bytes=200)
    for name, size, limit in (("task/list", 101, 100), ("call/append", 201, 200)):
        response = api.post(tenant, b" " * size, path=P + name)
        assert (response.status_code, response.json()["message"]) == (
            413, f"body: larger than the limit of {limit} bytes"
        )  # fmt: skip
    response = api.post(tenant, b" " * 150, path=P + "call/append")
    assert response.json()["code"] == 20000  # through the limit to the body's parser


# -- CORS ---------------------------------------------------------------------------------------
ORIGIN = "https://console.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "accesskey, ts, biztype, action, sign, algorithm, "
    "content-type",
}


def cors_client(store: Store, origins: list[str]) -> TestClient:
    app = create_app(Settings(log_requests=False, cors_origins=origins), store=store,
                     clock=lambda: NOW_MS)  # fmt: skip
    return TestClient(app, raise_server_exceptions=False)


def test_preflight_of_a_listed_origin_is_allowed(store: Store, tenant: Tenant) -> None:
    client = cors_client(store, [ORIGIN, "https://other.example.com"])
    response = client.options(P + "task/list", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"accesskey", "ts", "biztype", "action", "sign", "algorithm", "content-type"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "x-trace-id" in response.headers  # the preflight is traced like any request
    api = Api(client, [NOW_MS])
    answer = api.post(tenant, b"{}", headers={"Origin": ORIGIN})
    assert answer.json()["code"] == 0
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-expose-headers"].lower() == "x-trace-id"


def test_preflight_of_another_origin_is_refused(store: Store) -> None:
    client = cors_client(store, [ORIGIN])
    response = client.options(P + "task/list",
                              headers={**PREFLIGHT, "Origin": "https://evil.example.com"})  # fmt: skip
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_no_cors_headers_by_default(api: Api, tenant: Tenant) -> None:
    answer = api.post(tenant, b"{}", headers={"Origin": ORIGIN})
    assert answer.json()["code"] == 0
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
    response = api.client.options(P + "task/list", headers=PREFLIGHT)
    assert response.status_code == 405
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


# -- list settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a,b", ["a", "b"]),
        (" a , b ,", ["a", "b"]),
        ('["a","b"]', ["a", "b"]),
        ("send", ["send"]),
        ("", []),
        ("[]", []),
    ],
)
def test_list_settings_take_json_or_commas(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    for name in ("NXLINK_EXTRA_ACTIONS", "NXLINK_EXTRA_BIZ_TYPES", "NXLINK_CORS_ORIGINS"):
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.extra_actions == settings.extra_biz_types == settings.cors_origins == expected


def test_a_bad_json_list_setting_names_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NXLINK_EXTRA_ACTIONS", '["a",')
    with pytest.raises(ValueError, match="extra_actions"):
        Settings()
