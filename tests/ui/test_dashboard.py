"""The dashboard's server side, in process on both backends: sessions, CSRF, the account's
isolation, the CSV preview, the settings. The browser tests (``test_dashboard_browser.py``)
drive the same pages in Chromium."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, Tenant, make_api, make_tenant
from nxlink.contract.endpoints import API_PREFIX
from nxlink.server.ui import pages
from nxlink.server.ui.session import COOKIE
from nxlink.service import admin as admin_service
from nxlink.store import Store
from nxlink.store.base import ui_token_hash

STATIC = Path(pages.__file__).parent / "static"
TTL_S = 3600


@pytest.fixture
def api(store: Store) -> Api:
    return make_api(store, admin_token="dash-token-0123", sim_seed=7, ui_session_ttl_s=TTL_S)


@pytest.fixture
def tenant(store: Store) -> Tenant:
    made = make_tenant(store, "acme")
    admin_service.top_up(store, "acme", 10**8)
    return made


def form_token(api: Api) -> str:
    """A fresh sign-in form's token (signed out first)."""
    api.client.cookies.clear()
    page = api.client.get("/ui/sign-in", follow_redirects=False)
    assert page.status_code == 200
    return csrf_of(page.text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(api: Api, tenant: Tenant, *, secret: str | None = None, **extra: str) -> Any:
    data = {"csrf": form_token(api), "accessKey": tenant.access_key,
            "secret": tenant.secret if secret is None else secret, **extra}  # fmt: skip
    return api.client.post("/ui/sign-in", data=data, follow_redirects=False)


def signed_in(api: Api, tenant: Tenant) -> str:
    """Sign in; the session's CSRF token."""
    answer = sign_in(api, tenant)
    assert answer.status_code == 303, answer.text
    return csrf_of(api.client.get("/ui/tasks").text)


def alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]+)<', html)
    assert found, html[-1500:]
    return found.group(1)


def create(api: Api, tenant: Tenant, name: str = "dash", **fields: Any) -> str:
    body = {"taskName": name, "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 1, **fields}  # fmt: skip
    answer = api.post(tenant, json.dumps(body), path=API_PREFIX + "task/create").json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["taskId"])


def task_status(api: Api, tenant: Tenant, name: str) -> int:
    listed = api.tasks(tenant, json.dumps({"taskName": name}))["list"]
    assert len(listed) == 1
    return int(listed[0]["taskStatus"])


# -- signing in ----------------------------------------------------------------------------


def test_signing_in_sets_a_strict_http_only_cookie_and_keeps_only_its_hash(
    api: Api, tenant: Tenant, store: Store
) -> None:
    answer = sign_in(api, tenant)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/tasks"
    cookie = next(value for value in answer.headers.get_list("set-cookie")
                  if value.startswith(COOKIE + "="))  # fmt: skip
    token = cookie.split(";", 1)[0].removeprefix(COOKIE + "=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/ui", "samesite=strict", f"max-age={TTL_S}"} <= attributes
    assert len(token) >= 43
    session = store.ui_session(ui_token_hash(token), now_ms=api.clock[0])
    assert session is not None
    assert session.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert session.account_id == tenant.account_id
    assert session.expires_ms == api.clock[0] + TTL_S * 1000
    assert tenant.secret not in api.client.get("/ui/tasks").text


@pytest.mark.parametrize(
    ("key", "secret", "message"),
    [
        (None, "wrong-secret", "Authentication failed (invalid signature)"),
        ("AK-nobody", "whatever", "Authentication failed (insufficient authority)"),
        (None, "", "Authentication failed (missing public parameters): Secret"),
    ],
)
def test_a_refused_sign_in_shows_the_api_message(
    api: Api, tenant: Tenant, key: str | None, secret: str, message: str
) -> None:
    data = {"csrf": form_token(api), "accessKey": key or tenant.access_key, "secret": secret}
    answer = api.client.post("/ui/sign-in", data=data, follow_redirects=False)
    assert answer.status_code == 401
    assert alert(answer.text) == message
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_the_sign_in_form_is_bound_to_its_own_cookie(api: Api, tenant: Tenant) -> None:
    """No other site can sign a visitor in: the form's token must match this browser's
    pre-session cookie, and the request must not come from another origin."""
    data = {"csrf": "forged", "accessKey": tenant.access_key, "secret": tenant.secret}
    answer = api.client.post("/ui/sign-in", data=data, follow_redirects=False)
    assert answer.status_code == 403
    assert alert(answer.text) == "The sign-in form has expired: try again."
    data = {"csrf": form_token(api), "accessKey": tenant.access_key, "secret": tenant.secret}
    answer = api.client.post("/ui/sign-in", data=data, follow_redirects=False,
                             headers={"Origin": "https://evil.example"})  # fmt: skip
    assert answer.status_code == 403


def test_next_goes_only_to_a_dashboard_page(api: Api, tenant: Tenant) -> None:
    assert sign_in(api, tenant, next="/ui/tasks?taskStatus=2").headers["location"] == (
        "/ui/tasks?taskStatus=2"
    )
    for elsewhere in ("https://evil.example/ui/", "//evil.example/ui/", "/_nxlink/reset"):
        assert sign_in(api, tenant, next=elsewhere).headers["location"] == "/ui/tasks"


def test_a_page_without_a_session_goes_to_sign_in(api: Api) -> None:
    answer = api.client.get("/ui/tasks?taskStatus=2", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in?next=%2Fui%2Ftasks%3FtaskStatus%3D2"
    answer = api.client.post("/ui/tasks/x/start", data={"csrf": "x"}, follow_redirects=False)
    assert answer.status_code == 403


def test_a_session_ends_when_it_expires_the_key_is_revoked_or_it_signs_out(
    api: Api, tenant: Tenant, store: Store
) -> None:
    signed_in(api, tenant)
    api.clock[0] += TTL_S * 1000 - 1
    assert api.client.get("/ui/tasks", follow_redirects=False).status_code == 200
    api.clock[0] += 1
    assert api.client.get("/ui/tasks", follow_redirects=False).status_code == 303

    csrf = signed_in(api, tenant)
    token = api.client.cookies[COOKIE]
    answer = api.client.post("/ui/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert store.ui_session(ui_token_hash(token), now_ms=api.clock[0]) is None
    api.client.cookies.set(COOKIE, token, path="/ui")  # a copy of the old cookie
    assert api.client.get("/ui/tasks", follow_redirects=False).status_code == 303

    signed_in(api, tenant)
    admin_service.revoke_key(store, tenant.access_key)
    assert api.client.get("/ui/tasks", follow_redirects=False).status_code == 303


# -- CSRF and the account's isolation ----------------------------------------------------


def test_a_change_needs_the_session_token_from_this_origin(api: Api, tenant: Tenant) -> None:
    task_id = create(api, tenant, "guarded")
    csrf = signed_in(api, tenant)
    path = f"/ui/tasks/{task_id}/start"
    for data, headers in (({}, {}), ({"csrf": "not-it"}, {}),
                          ({"csrf": csrf}, {"Origin": "https://evil.example"}),
                          ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"})):  # fmt: skip
        answer = api.client.post(path, data=data, headers=headers, follow_redirects=False)
        assert answer.status_code == 403, (data, headers)
        assert task_status(api, tenant, "guarded") == 1
    answer = api.client.post(path, data={"csrf": csrf}, follow_redirects=False,
                             headers={"Origin": "http://testserver"})  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ui/tasks/{task_id}?notice=started"
    assert task_status(api, tenant, "guarded") == 2


def test_another_accounts_task_is_not_there(api: Api, tenant: Tenant, store: Store) -> None:
    task_id = create(api, tenant, "theirs")
    other = make_tenant(store, "other")
    csrf = signed_in(api, other)
    answer = api.client.get(f"/ui/tasks/{task_id}")
    assert answer.status_code == 404
    assert alert(answer.text) == f"No task &#39;{task_id}&#39; in this account."
    answer = api.client.post(f"/ui/tasks/{task_id}/start", data={"csrf": csrf})
    assert answer.status_code == 404
    assert task_status(api, tenant, "theirs") == 1


def test_the_task_list_shows_the_api_page(api: Api, tenant: Tenant) -> None:
    for i in range(12):
        create(api, tenant, f"listed-{i:02d}")
    signed_in(api, tenant)
    expected = api.tasks(tenant, json.dumps({"taskName": "listed-", "pageSize": 5,
                                             "pageNumber": 2}))  # fmt: skip
    html = api.client.get("/ui/tasks?taskName=listed-&pageSize=5&pageNumber=2").text
    assert re.search(r'id="task-total">(\d+)<', html).group(1) == "12"  # type: ignore[union-attr]
    shown = re.findall(r'<tr data-task-id="([^"]+)">', html)
    assert shown == [task["taskId"] for task in expected["list"]]
    assert "Page 2 of 3" in html
    html = api.client.get("/ui/tasks?taskStatus=7").text
    assert alert(html) == "taskStatus: must be from 1 to 6, got 7"


def test_pages_carry_a_strict_content_security_policy(api: Api, tenant: Tenant) -> None:
    signed_in(api, tenant)
    answer = api.client.get("/ui/tasks")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text  # no inline script: the policy allows none


def test_the_dashboard_can_be_turned_off(store: Store) -> None:
    api = make_api(store, ui=False)
    assert api.client.get("/ui/sign-in").status_code == 404
    assert api.client.get("/ui/static/app.js").status_code == 404


def test_an_oversized_form_is_refused_before_it_is_read(store: Store, tenant: Tenant) -> None:
    api = make_api(store, max_import_body_bytes=2048)
    task_id = create(api, tenant, "big")
    csrf = signed_in(api, tenant)
    answer = api.client.post(f"/ui/tasks/{task_id}/contacts/preview",
                             data={"csrf": csrf, "csv": "x" * 4096})  # fmt: skip
    assert answer.status_code == 413
    assert alert(answer.text) == "The form is larger than the limit of 2048 bytes."


# -- contacts from a CSV file ----------------------------------------------------------------


def preview(api: Api, csrf: str, task_id: str, text: str) -> Any:
    return api.client.post(f"/ui/tasks/{task_id}/contacts/preview", data={"csrf": csrf},
                           files={"file": ("contacts.csv", text.encode(), "text/csv")})  # fmt: skip


def row_errors(html: str) -> list[str]:
    return re.findall(r'class="row-error">([^<]*)<', html)


def test_a_bad_row_shows_the_api_refusal_and_nothing_is_imported(api: Api, tenant: Tenant) -> None:
    task_id = create(api, tenant, "csv")
    csrf = signed_in(api, tenant)
    text = ("contactId,phoneNumber,name,colour\n"
            "a1,+85291000001,Ann,\n"
            "a2,+85291000002,Bob,red\n"
            "a1,+85291000003,Cy,\n")  # fmt: skip
    answer = preview(api, csrf, task_id, text)
    assert answer.status_code == 400
    assert row_errors(answer.text) == [
        "Duplicate contactIds are not allowed: a1",
        "",
        "Duplicate contactIds are not allowed: a1",
    ]
    assert ">Import " not in answer.text
    assert (
        api.tasks(tenant, json.dumps({"taskName": "csv"}))["list"][0]["statInfo"]["totalOrderCount"]
        == 0
    )
    # A column that is not a variable of the flow is refused by the import's own check.
    answer = preview(api, csrf, task_id, text.replace("a1,+85291000003", "a3,+85291000003"))
    assert row_errors(answer.text) == [
        "",
        f"list[1].params[0].name: &#39;colour&#39; is not a variable of flow {tenant.flow_id} "
        "(variables: name)",
        "",
    ]
    good = "contactId,phoneNumber,name\na1,+85291000001,Ann\na3,+85291000003,Cy\n"
    answer = preview(api, csrf, task_id, good)
    assert answer.status_code == 200
    assert row_errors(answer.text) == ["", ""]
    assert "Import 2 contacts" in answer.text
    # The preview changed nothing: the contacts can still be imported, once.
    answer = api.client.post(f"/ui/tasks/{task_id}/contacts/import",
                             data={"csrf": csrf, "csv": good}, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303
    stat = api.tasks(tenant, json.dumps({"taskName": "csv"}))["list"][0]["statInfo"]
    assert stat["totalOrderCount"] == 2
    answer = preview(api, csrf, task_id, good)
    # The API names the first contactId already used; the preview shows it on its row.
    assert row_errors(answer.text) == ["Duplicate contactIds are not allowed: a1", ""]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"phoneNumber,name\n+85291000001,Ann\n",
         "file: the header row must name contactId (columns found: phoneNumber, name)"),
        (b"contactId,phoneNumber\n", "file: no contacts under the header row"),
        (b"\xff\xfe", "file: not UTF-8 text (byte 0)"),
        (b"", "file: the header row must name contactId, phoneNumber (columns found: none)"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_says_why(raw: bytes, problem: str) -> None:
    assert pages.parse_csv(raw).problems == [problem]


def test_csv_columns_become_the_contacts_fields_and_params() -> None:
    parsed = pages.parse_csv("\ufeffcontactId,phoneNumber,name,other,due\n"
                             "c1, +85291000001 ,Ann,crm-1,2026-02-01\nc2,+85291000002,,,\n"
                             .encode())  # fmt: skip
    assert parsed.problems == []
    assert parsed.contacts == [
        {"contactId": "c1", "phoneNumber": "+85291000001", "name": "Ann", "other": "crm-1",
         "params": [{"name": "due", "value": "2026-02-01"}]},
        {"contactId": "c2", "phoneNumber": "+85291000002"},
    ]  # fmt: skip


def test_problems_go_to_their_rows() -> None:
    contacts = [{"contactId": "a"}, {"contactId": "b"}, {"contactId": "a"}]
    by_row, general = pages.per_row(
        ("list[1].phoneNumber: required", "Duplicate contactIds are not allowed: a",
         "taskId: no task 'x' in this account"),
        contacts,
    )  # fmt: skip
    assert by_row == {1: ["list[1].phoneNumber: required"],
                      0: ["Duplicate contactIds are not allowed: a"],
                      2: ["Duplicate contactIds are not allowed: a"]}  # fmt: skip
    assert general == ["taskId: no task 'x' in this account"]


# -- the assets ------------------------------------------------------------------------------


def test_the_vendored_libraries_ship_with_their_licences_and_are_the_recorded_files() -> None:
    listed = (STATIC / "vendor" / "VENDORED.md").read_text()
    rows = re.findall(r"\| `([^`]+)` \| ([^|]+) \| `([0-9a-f]{64})` \|", listed)
    assert {name for name, _, _ in rows} == {
        "htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css"
    }  # fmt: skip
    for name, _source, digest in rows:
        assert hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest() == digest
    assert "Zero-Clause BSD" in (STATIC / "vendor" / "htmx.LICENSE").read_text()
    assert "MIT License" in (STATIC / "vendor" / "uPlot.LICENSE").read_text()


def test_the_assets_are_served_from_the_package(api: Api) -> None:
    for path in ("/ui/static/app.js", "/ui/static/app.css", "/ui/static/vendor/htmx.min.js",
                 "/ui/static/vendor/uPlot.iife.min.js"):  # fmt: skip
        answer = api.client.get(path)
        assert answer.status_code == 200, path
        assert answer.content == (STATIC / path.removeprefix("/ui/static/")).read_bytes()


class _Calls:
    """The two reads the charts make, with fixed answers."""

    def __init__(self, buckets: list[tuple[int, int, int]], results: dict[int, int]) -> None:
        self.buckets = buckets
        self.results = results
        self.asked: list[int] = []

    def call_activity(self, account_id: int, task_row_id: int, *, bucket_s: int) -> list[Any]:
        from nxlink.store.base import ActivityBucket

        self.asked.append(bucket_s)
        return [ActivityBucket(*bucket) for bucket in self.buckets]

    def call_results(self, account_id: int, task_row_id: int) -> dict[int, int]:
        return self.results


def test_the_chart_buckets_are_summed_from_one_read_of_the_finest() -> None:
    calls = _Calls([(0, 3, 1), (60, 2, 2), (10_800, 4, 0)], {1: 3, 2: 6})
    activity, results = pages._activity(calls, 1, 1)
    assert calls.asked == [60]  # one read, whatever the span
    # 10,800 s is 180 one-minute buckets (over 120): five-minute buckets, 36 of them.
    assert activity == {"bucket_s": 300, "ts": [0, 10_800], "calls": [5, 4], "answered": [3, 0]}
    assert results == [
        {"result": 1, "name": "answered, conversation completed", "count": 3},
        {"result": 2, "name": "no answer before maxRingTime", "count": 6},
    ]
    short, _ = pages._activity(_Calls([(120, 1, 1)], {}), 1, 1)
    assert short == {"bucket_s": 60, "ts": [120], "calls": [1], "answered": [1]}
    empty, none = pages._activity(_Calls([], {}), 1, 1)
    assert empty == {"bucket_s": 60, "ts": [], "calls": [], "answered": []} and none == []
