"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright.

One sandbox server (``nxlink serve`` on SQLite, the pytest plugin's) serves the module; each
test makes its own tasks, named after the test, and reads what the API answers for them to
compare with what the page shows. Screenshots at 1280 and 375 px wide are kept under
``test-artifacts/dashboard/`` (``NXLINK_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from nxlink import Client
from nxlink.pytest_plugin import SandboxServer, sandbox_server

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = (
    Path(os.environ.get("NXLINK_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
    / "dashboard"
)
#: How long the page may take to show what the API answers (a refresh every 2 s).
LIVE_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with sandbox_server(tmp_path_factory.mktemp("dashboard")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (.ci/run does it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(LIVE_TIMEOUT_MS)
    yield opened
    context.close()


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[Client]:
    with sandbox.client() as made:
        yield made


def sign_in(page: Page, sandbox: SandboxServer, *, secret: str | None = None) -> None:
    page.goto(sandbox.base_url + "/ui/")
    page.get_by_label("Access key").fill(sandbox.access_key)
    page.get_by_label("Secret").fill(secret if secret is not None else sandbox.access_secret)
    page.get_by_role("button", name="Sign in").click()


def create_task(client: Client, sandbox: SandboxServer, name: str, *, contacts: int = 0,
                startup_type: int = 1, max_call: int = 5) -> str:  # fmt: skip
    created = client.request("task/create", {
        "taskName": name, "autoFlowId": sandbox.flow_id, "routeId": sandbox.route_id,
        "taskKeep": 0, "startupType": startup_type, "maxCall": max_call,
    })  # fmt: skip
    task_id: str = created["data"]["taskId"]
    if contacts:
        client.request("call/append", {"taskId": task_id, "list": [
            {"contactId": f"{name}-{i}", "phoneNumber": f"+8529{i:07d}", "name": f"Contact {i}"}
            for i in range(contacts)
        ]})  # fmt: skip
    return task_id


def api_task(client: Client, name: str) -> Any:
    listed = client.tasks.list(task_name=name)
    assert listed.total == 1, listed
    return listed.tasks[0]


def overflowing(page: Page, width: int) -> list[str]:
    """The elements that stick out past ``width`` (outside the tables' own scroll boxes)."""
    found: list[str] = page.evaluate(
        """(width) => [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > width + 0.5)
            .filter((el) => !(el.parentElement && el.parentElement.closest('.scroll')))
            .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)""",
        width,
    )
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    return found if found or scroll_width <= width else [f"documentElement {scroll_width}"]


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_keyboard_only_sign_in_lands_on_the_tasks(page: Page, sandbox: SandboxServer) -> None:
    page.goto(sandbox.base_url + "/ui/")
    assert (
        page.url == sandbox.base_url + "/ui/sign-in?next=%2Fui%2Ftasks" or "/ui/sign-in" in page.url
    )
    # The access key's input has the focus; Tab moves to the secret; Enter submits.
    expect(page.get_by_label("Access key")).to_be_focused()
    page.keyboard.type(sandbox.access_key)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Secret")).to_be_focused()
    page.keyboard.type(sandbox.access_secret)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    assert page.url.startswith(sandbox.base_url + "/ui/tasks")
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["nxlink_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/ui"
    assert session["expires"] > 0
    # No script on the page can read the session, and the secret is nowhere in the browser.
    assert "nxlink_session" not in page.evaluate("document.cookie")
    assert sandbox.access_secret not in page.content()
    storage = page.evaluate(
        "JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert sandbox.access_secret not in storage
    # Signing out ends the session: the tasks page sends the browser back to sign in.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    page.goto(sandbox.base_url + "/ui/tasks")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_wrong_secret_shows_the_api_message(page: Page, sandbox: SandboxServer) -> None:
    sign_in(page, sandbox, secret="not-the-secret")
    expect(page.get_by_role("alert")).to_have_text("Authentication failed (invalid signature)")
    expect(page.get_by_label("Access key")).to_have_value(sandbox.access_key)
    expect(page.get_by_label("Secret")).to_have_value("")
    assert "nxlink_session" not in {cookie["name"] for cookie in page.context.cookies()}


def test_filter_and_page_show_the_api_totals_and_keep_the_url(
    page: Page, sandbox: SandboxServer, client: Client
) -> None:
    for i in range(23):
        create_task(client, sandbox, f"paging-{i:02d}")
    create_task(client, sandbox, "elsewhere")
    expected = client.tasks.list(task_name="paging-", page_size=10)
    assert expected.total == 23

    sign_in(page, sandbox)
    page.get_by_text("Filters").click()
    page.get_by_label("Task name contains").fill("paging-")
    page.get_by_label("Per page").fill("10")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#task-total")).to_have_text(str(expected.total))
    assert "taskName=paging-" in page.url and "pageSize=10" in page.url
    names = page.locator("table.tasks tbody tr td:first-child a").all_inner_texts()
    assert names == [task.task_name for task in expected.tasks]
    expect(page.get_by_label("Task pages")).to_contain_text("Page 1 of 3")

    page.get_by_role("link", name="Next").click()
    expect(page.get_by_label("Task pages")).to_contain_text("Page 2 of 3")
    second = client.tasks.list(task_name="paging-", page_size=10, page=2)
    names = page.locator("table.tasks tbody tr td:first-child a").all_inner_texts()
    assert names == [task.task_name for task in second.tasks]
    assert "pageNumber=2" in page.url

    # Back and forward move between the pages the URL names.
    page.go_back()
    expect(page.get_by_label("Task pages")).to_contain_text("Page 1 of 3")
    page.go_forward()
    expect(page.get_by_label("Task pages")).to_contain_text("Page 2 of 3")
    # The URL is the whole state: opened afresh, it shows the same page.
    shared = page.url
    page.goto(shared)
    expect(page.locator("#task-total")).to_have_text("23")
    expect(page.get_by_label("Task name contains")).to_have_value("paging-")

    # A bad filter shows the API's own refusal.
    page.goto(sandbox.base_url + "/ui/tasks?maxTaskTotalQuantity=1&minTaskTotalQuantity=5")
    expect(page.get_by_role("alert")).to_contain_text("maxTaskTotalQuantity")


def test_numbers_move_under_the_simulator_and_a_recording_plays(
    page: Page, sandbox: SandboxServer, client: Client
) -> None:
    task_id = create_task(client, sandbox, "moving", contacts=12, startup_type=3, max_call=3)
    sign_in(page, sandbox)
    page.goto(f"{sandbox.base_url}/ui/tasks/{task_id}")
    expect(page.locator("#stat-contacts")).to_have_text("12")
    expect(page.locator("#stat-calls")).to_have_text("0")

    # The sandbox's clock moves; the open page follows without a reload.
    marker = page.evaluate("window.__marker = Math.random()")
    sandbox.advance("3m")
    stat = api_task(client, "moving").stat_info
    assert stat.total_call_count > 0
    expect(page.locator("#stat-calls")).to_have_text(str(stat.total_call_count))
    expect(page.locator("#stat-dialled")).to_have_text(str(stat.dialed_order_count))
    assert page.evaluate("window.__marker") == marker  # the same document: no reload
    sandbox.advance("1h")
    stat = api_task(client, "moving").stat_info
    expect(page.locator("#stat-calls")).to_have_text(str(stat.total_call_count))
    expect(page.locator("#stat-answer-rate")).to_have_text(stat.answer_rate or "–")
    # The chart draws the calls.
    expect(page.locator("[data-chart=activity] canvas")).to_have_count(1)

    page.reload()
    calls = client.request("call/list", {"taskId": task_id, "pageSize": 20})
    answered = [call for call in calls["list"] if call["callAudioUrl"]]
    assert answered, "the seed gives answered calls"
    audio = page.locator("audio").first
    expect(audio).to_be_attached()
    duration = audio.evaluate(
        """async (el) => {
            el.muted = true;
            await el.play();
            await new Promise((done) => setTimeout(done, 300));
            el.pause();
            return {duration: el.duration, played: el.currentTime, error: el.error && el.error.code};
        }"""
    )
    assert duration["error"] is None
    assert duration["duration"] > 1
    assert duration["played"] > 0
    shoot(page, "task-1280")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert overflowing(page, 375) == []
    shoot(page, "task-375")


def test_a_csv_with_one_bad_row_shows_its_error_and_imports_nothing(
    page: Page, sandbox: SandboxServer, client: Client, tmp_path: Path
) -> None:
    task_id = create_task(client, sandbox, "csv-import")
    sign_in(page, sandbox)
    page.goto(f"{sandbox.base_url}/ui/tasks/{task_id}")
    bad = tmp_path / "contacts.csv"
    bad.write_text("contactId,phoneNumber,name\ncsv-1,+85291000001,Ann\n"
                   "csv-2,12,Bob\ncsv-3,+85291000003,Cy\n")  # fmt: skip
    page.get_by_label("Append contacts from a CSV file").set_input_files(bad)
    page.get_by_role("button", name="Preview").click()
    row = page.locator("tr[data-line='3']")
    expect(row.locator(".row-error")).to_have_text(
        "list[1].phoneNumber: must have 3 to 20 digits, got 2"
    )
    expect(page.locator("tr[data-line='2'] .row-error")).to_have_text("")
    expect(page.get_by_role("button", name=re.compile("Import"))).to_have_count(0)
    assert api_task(client, "csv-import").stat_info.total_order_count == 0

    good = tmp_path / "good.csv"
    good.write_text("contactId,phoneNumber,name\ncsv-1,+85291000001,Ann\ncsv-3,+85291000003,Cy\n")
    page.get_by_label("Append contacts from a CSV file").set_input_files(good)
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Import 2 contacts").click()
    expect(page.get_by_role("status")).to_have_text("Contacts imported.")
    assert api_task(client, "csv-import").stat_info.total_order_count == 2
    expect(page.locator("table.contacts tbody tr")).to_have_count(2)

    # A pending contact can be deleted from its row.
    page.get_by_role("button", name="Delete contact csv-1").click()
    expect(page.get_by_role("status")).to_have_text("Contact deleted.")
    assert api_task(client, "csv-import").stat_info.total_order_count == 1


def test_create_start_and_pause_from_the_page(
    page: Page, sandbox: SandboxServer, client: Client
) -> None:
    sign_in(page, sandbox)
    page.get_by_role("link", name="New task").click()
    page.get_by_label("Task name").fill("made in the browser")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("status")).to_have_text("Task created.")
    assert api_task(client, "made in the browser").task_status == 1
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("status")).to_have_text("Task started.")
    assert api_task(client, "made in the browser").task_status == 2
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_have_text("Task paused.")
    assert api_task(client, "made in the browser").task_status == 5


def test_the_sandbox_panel_advances_the_clock(page: Page, sandbox: SandboxServer) -> None:
    before = sandbox.clock()["now"]
    sign_in(page, sandbox)
    page.get_by_role("link", name="Sandbox").click()
    page.get_by_label("Advance by").fill("2h")
    page.get_by_role("button", name="Advance").click()
    expect(page.get_by_role("status")).to_have_text("Clock advanced.")
    assert sandbox.clock()["now"] - before >= 7_200_000
    page.get_by_label("Advance by").fill("soon")
    page.get_by_role("button", name="Advance").click()
    expect(page.get_by_role("alert")).to_be_visible()


@pytest.mark.parametrize("width", [1280, 375])
def test_the_pages_are_accessible_and_fit(page: Page, sandbox: SandboxServer, client: Client,
                                          width: int) -> None:  # fmt: skip
    task_id = create_task(client, sandbox, f"a11y-{width}", contacts=3, startup_type=3)
    sandbox.advance("10m")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(sandbox.base_url + "/ui/sign-in")
    pages = {"sign-in": page.url}
    sign_in(page, sandbox)
    pages |= {"tasks": page.url, "task": f"{sandbox.base_url}/ui/tasks/{task_id}",
              "new-task": sandbox.base_url + "/ui/tasks/new",
              "sandbox": sandbox.base_url + "/ui/sandbox"}  # fmt: skip
    axe = Axe()
    for name, url in pages.items():
        page.goto(url)
        results = axe.run(page)
        assert results.violations_count == 0, f"{name}: {results.generate_report()}"
        assert overflowing(page, width) == [], name
        shoot(page, f"{name}-{width}")
