"""The dashboard's routes: sign in and out, the task list, a task's page, its actions, and the
sandbox's panels.

Pages are drawn by Jinja2 templates (``templates/``, autoescaped) from the API's answers; the
browser's scripts are htmx (a live region re-fetched while a task is in progress, swapped
without a reload) and uPlot (the charts), both vendored under ``static/vendor`` with their
licences. Every form works without scripts; every state-changing request is a ``POST`` with
the session's CSRF token, answered by a redirect (so reloading repeats nothing).
"""

from __future__ import annotations

import csv
import io
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from nxlink.client.sandbox import parse_duration
from nxlink.contract.callrecord import ANSWERED_RESULTS, CALL_RESULT_NAMES
from nxlink.contract.codes import TASK_STATUS_NAMES, TaskStatus
from nxlink.contract.endpoints import (
    CALL_APPEND,
    CALL_LIST,
    DUPLICATE_CONTACT,
    ENDPOINTS,
    MAX_PAGE_SIZE,
    TASK_CREATE,
    TASK_LIST,
    Endpoint,
)
from nxlink.sandbox.clock import ClockRefusal
from nxlink.sandbox.faults import KINDS
from nxlink.sandbox.journal import Filter
from nxlink.server.admin import AdminRefusal, fault_spec
from nxlink.server.auth import Caller
from nxlink.server.ui import forms
from nxlink.server.ui.session import (
    COOKIE,
    COOKIE_PATH,
    CSRF_FIELD,
    CSRF_HEADER,
    FORM_COOKIE,
    FORM_TTL_S,
    CsrfRefused,
    SignInRefused,
    check_csrf,
    form_token,
    same_origin,
    sign_in,
)
from nxlink.service import lifecycle, requests
from nxlink.service.errors import ApiError
from nxlink.store import StoreUnavailable
from nxlink.store.base import UiSession, ui_token_hash

if TYPE_CHECKING:
    from nxlink.server.app import State

HERE: Final = Path(__file__).parent
#: Each declared endpoint by name (whether its work reads or writes).
BY_NAME: Final[dict[str, Endpoint]] = {endpoint.name: endpoint for endpoint in ENDPOINTS}
PREFIX: Final = "/ui"
#: Rows a page of contacts, calls and callbacks shows.
PAGE_ROWS: Final = 20
#: How often a live region is re-fetched while a shown task is in progress.
REFRESH_S: Final = 2
#: Buckets of the calls-over-time chart, in seconds, from the finest: the first that gives at
#: most :data:`MAX_BUCKETS` over the task's calls.
BUCKETS_S: Final = (60, 300, 900, 3600, 21_600, 86_400)
MAX_BUCKETS: Final = 120
#: The contacts' columns a CSV file may have (every other column is one of the contact's
#: ``params``, named by the column).
CSV_COLUMNS: Final = ("contactId", "phoneNumber", "name", "other")
#: Notices after a redirect, by the key in its query string.
NOTICES: Final = {
    "created": "Task created.",
    "started": "Task started.",
    "paused": "Task paused.",
    "imported": "Contacts imported.",
    "deleted": "Contact deleted.",
    "retried": "Callback queued for another delivery.",
    "advanced": "Clock advanced.",
    "clock": "Clock set.",
    "fault": "Fault added.",
    "unfault": "Fault removed.",
    "signed-out": "Signed out.",
}
#: The content security policy of every page: this server's scripts and styles only.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' {media}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

Page = Callable[[Request, UiSession], Awaitable[Response]]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # A name the page does not have is an error, never an empty cell.
        undefined=StrictUndefined,
    )
    env.globals.update(
        prefix=PREFIX,
        status_names=TASK_STATUS_NAMES,
        result_names=CALL_RESULT_NAMES,
        csrf_field=CSRF_FIELD,
    )
    env.filters["percent"] = percent
    env.filters["when"] = when
    return env


def percent(rate: str | None) -> float:
    """A rate of the API (``"66.67%"``, or ``None``) as a number for a bar (0 when ``None``)."""
    return float(rate.rstrip("%")) if rate else 0.0


def when(epoch_s: int | None) -> str:
    """Epoch seconds as ``2026-12-01 09:30:00 UTC``; ``""`` for none."""
    if not epoch_s:
        return ""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _query(request: Request, **changes: Any) -> str:
    """This page's query string with ``changes`` (``None`` removes a key)."""
    params = dict(request.query_params)
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = str(value)
    return "?" + urlencode(params) if params else ""


def _page_count(total: int, size: int) -> int:
    return max(1, math.ceil(total / size)) if size else 1


class Dashboard:
    """The routes' shared work: sessions, the API's answers for a session, rendering."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.settings = state.settings
        self.env = _environment()
        self.admin = state.sandbox_clock is not None
        media = state.settings.public_base_url()
        self.csp = CSP.format(media=media)

    # -- rendering -------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        *,
        session: UiSession | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        request.scope["state"]["nx_code"] = 0 if status < 400 else status
        notice = NOTICES.get(request.query_params.get("notice", ""))
        html = self.env.get_template(template).render(
            request=request,
            session=session,
            admin=self.admin,
            notice=notice,
            query=lambda **changes: _query(request, **changes),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=self.headers())

    def headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": self.csp,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }

    def redirect(self, path: str, **params: Any) -> RedirectResponse:
        query = "?" + urlencode(params) if params else ""
        return RedirectResponse(PREFIX + path + query, status_code=303, headers=self.headers())

    # -- the API's work for a session ------------------------------------------------------

    async def api(self, request: Request, session: UiSession, name: str, body: dict[str, Any]
                  ) -> dict[str, Any]:  # fmt: skip
        """The API's answer to ``body`` at endpoint ``name`` for the session's account, as the
        API would answer it (its fields; an :class:`ApiError` for a refusal)."""
        state = self.state
        answer = state.answers[name]
        caller = Caller(access_key=session.access_key, account_id=session.account_id)
        raw = orjson.dumps(body)
        trace_id = request.scope["state"]["nx_trace"]
        threads = state.reads if BY_NAME[name].read_only else state.writes
        payload = await threads.run(lambda: answer(caller, raw, trace_id))
        result: dict[str, Any] = orjson.loads(payload)
        return result

    def now_ms(self) -> int:
        return self.state.clock()

    # -- sessions --------------------------------------------------------------------------

    async def session_of(self, request: Request) -> UiSession | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        digest = ui_token_hash(token)
        now_ms = self.now_ms()
        return await self.state.reads.run(
            lambda: self.state.store.ui_session(digest, now_ms=now_ms)
        )

    def signed_in(
        self, page: Page, *, write: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """``page`` for a signed-in session: others go to the sign-in page (a ``GET``) or get
        403 (a ``POST``); a ``POST`` must carry the session's CSRF token from this origin."""

        async def endpoint(request: Request) -> Response:
            try:
                session = await self.session_of(request)
                if session is None:
                    if request.method == "GET":
                        next_path = request.url.path + (
                            "?" + request.url.query if request.url.query else ""
                        )
                        return self.redirect("/sign-in", next=next_path)
                    return self.refused(request, 403, "Your session has ended: sign in again.")
                if write:
                    limit = self.settings.max_import_body_bytes
                    declared = request.headers.get("content-length", "")
                    if not declared.isdigit():
                        return self.refused(request, 411, "The form has no length.")
                    if int(declared) > limit:
                        message = f"The form is larger than the limit of {limit} bytes."
                        return self.refused(request, 413, message)
                    form = await request.form(max_files=1, max_fields=50, max_part_size=limit)
                    request.state.form = form
                    try:
                        if not same_origin(request.headers, host=request.headers.get("host", "")):
                            raise CsrfRefused("this form came from another site")
                        sent = request.headers.get(CSRF_HEADER) or _text(form, CSRF_FIELD)
                        check_csrf(session.csrf_token, sent)
                        return await page(request, session)
                    finally:
                        await form.close()  # an uploaded file's spool is removed at once
                return await page(request, session)
            except CsrfRefused as exc:
                return self.refused(request, 403, str(exc))
            except StoreUnavailable:
                return self.refused(request, 503, "The database is busy: try again in a moment.")

        return endpoint

    def refused(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status=status, message=message)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _form(request: Request) -> FormData:
    form: FormData = request.state.form
    return form


def ui_routes(state: State) -> list[BaseRoute]:
    """Every route of the dashboard, for the app's router."""
    ui = Dashboard(state)
    store = state.store

    # -- signing in and out ----------------------------------------------------------------

    def sign_in_page(request: Request, *, error: str = "", status: int = 200,
                     access_key: str = "") -> Response:  # fmt: skip
        form_secret = secrets.token_urlsafe(24)
        response = ui.render(
            request, "sign_in.html", status=status, error=error, access_key=access_key,
            form_token=form_token(form_secret), next=_safe_next(request.query_params.get("next")),
        )  # fmt: skip
        response.set_cookie(FORM_COOKIE, form_secret, max_age=FORM_TTL_S, path=COOKIE_PATH,
                            httponly=True, samesite="strict", secure=_secure(request))  # fmt: skip
        return response

    async def sign_in_get(request: Request) -> Response:
        if await ui.session_of(request) is not None:
            return ui.redirect("/tasks")
        return sign_in_page(request)

    async def sign_in_post(request: Request) -> Response:
        form = await request.form()
        access_key, secret = _text(form, "accessKey"), _text(form, "secret")
        form_secret = request.cookies.get(FORM_COOKIE, "")
        if not same_origin(request.headers, host=request.headers.get("host", "")) or not (
            form_secret and secrets.compare_digest(form_token(form_secret), _text(form, CSRF_FIELD))
        ):
            return sign_in_page(request, status=403, access_key=access_key,
                                error="The sign-in form has expired: try again.")  # fmt: skip
        now_ms = ui.now_ms()
        ttl_s = ui.settings.ui_session_ttl_s
        try:
            made = await state.writes.run(
                lambda: sign_in(store, access_key, secret, now_ms=now_ms, ttl_s=ttl_s)
            )
        except SignInRefused as exc:
            return sign_in_page(request, status=401, error=str(exc), access_key=access_key)
        target = _safe_next(_text(form, "next")) or PREFIX + "/tasks"
        response = RedirectResponse(target, status_code=303, headers=ui.headers())
        response.set_cookie(COOKIE, made.token, max_age=ttl_s, path=COOKIE_PATH, httponly=True,
                            samesite="strict", secure=_secure(request))  # fmt: skip
        response.delete_cookie(FORM_COOKIE, path=COOKIE_PATH)
        return response

    async def sign_out(request: Request, session: UiSession) -> Response:
        await state.writes.run(lambda: store.end_ui_session(session.token_hash))
        response = ui.redirect("/sign-in", notice="signed-out")
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    async def home(request: Request) -> Response:
        return ui.redirect("/tasks")

    # -- the task list ---------------------------------------------------------------------

    async def task_list(request: Request, session: UiSession) -> Response:
        query = request.query_params
        body = forms.api_body(TASK_LIST, query)
        error = ""
        answer: dict[str, Any] = {"total": 0, "list": [], "pageNumber": 1, "pageSize": 10}
        try:
            answer = _listing(await ui.api(request, session, TASK_LIST.name, body))
        except ApiError as exc:
            error = exc.message
        tasks = answer["list"]
        live = any(task["taskStatus"] == TaskStatus.IN_PROGRESS for task in tasks)
        return ui.render(
            request, "tasks.html", session=session, tasks=tasks, total=answer["total"],
            page_number=answer["pageNumber"], page_size=answer["pageSize"],
            pages=_page_count(answer["total"], answer["pageSize"]),
            inputs=forms.filter_inputs(TASK_LIST, query), error=error, live=live,
            refresh_s=REFRESH_S, max_page_size=MAX_PAGE_SIZE,
        )  # fmt: skip

    # -- creating a task -------------------------------------------------------------------

    async def new_task_form(request: Request, session: UiSession, *, error: str = "",
                            values: Mapping[str, str] | None = None, status: int = 200
                            ) -> Response:  # fmt: skip
        flows = await ui.api(request, session, "flow/list", {"pageSize": MAX_PAGE_SIZE})
        routes = await ui.api(request, session, "route/list", {"pageSize": MAX_PAGE_SIZE})
        return ui.render(
            request, "task_new.html", session=session, error=error, values=values or {},
            flows=_listing(flows)["list"], routes=_listing(routes)["list"], status=status,
            fields={field.name: field for field in TASK_CREATE.fields},
        )  # fmt: skip

    async def new_task(request: Request, session: UiSession) -> Response:
        return await new_task_form(request, session)

    async def create_task(request: Request, session: UiSession) -> Response:
        form = _form(request)
        values = {name: _text(form, name) for name in form if name != CSRF_FIELD}
        body = forms.api_body(TASK_CREATE, values)
        try:
            answer = await ui.api(request, session, TASK_CREATE.name, body)
        except ApiError as exc:
            return await new_task_form(request, session, error=exc.message, values=values,
                                       status=400)  # fmt: skip
        return ui.redirect(f"/tasks/{answer['data']['taskId']}", notice="created")

    # -- a task's page ---------------------------------------------------------------------

    async def task_page(request: Request, session: UiSession, *, error: str = "",
                        preview: dict[str, Any] | None = None, status: int = 200
                        ) -> Response:  # fmt: skip
        task_id = request.path_params["task_id"]
        account = session.account_id
        doc = await state.reads.run(lambda: store.task_doc(account, task_id))
        if doc is None:
            return ui.refused(request, 404, f"No task {task_id!r} in this account.")
        task: dict[str, Any] = orjson.loads(doc)
        row_id = task["id"]
        query = request.query_params

        contacts_state = query.get("contactsState") or None
        contacts_page = _page_number(query.get("contactsPage"))
        contacts = await state.reads.run(lambda: store.order_page(
            account, row_id, state=contacts_state, page_number=contacts_page,
            page_size=PAGE_ROWS))  # fmt: skip

        calls_error = ""
        calls: dict[str, Any] = {"total": 0, "list": [], "pageNumber": 1, "pageSize": PAGE_ROWS}
        call_body = forms.api_body(CALL_LIST, query, taskId=task_id)
        call_body.setdefault("pageSize", PAGE_ROWS)
        try:
            calls = _listing(await ui.api(request, session, CALL_LIST.name, call_body))
        except ApiError as exc:
            calls_error = exc.message

        callbacks_state = query.get("callbacksState") or None
        callbacks, callback_counts = await state.reads.run(lambda: (
            store.list_task_callbacks(account, task_id, state=callbacks_state, limit=PAGE_ROWS),
            store.callback_counts(account, task_id)))  # fmt: skip
        activity, results = await state.reads.run(lambda: _activity(store, account, row_id))
        live = task["taskStatus"] == TaskStatus.IN_PROGRESS
        return ui.render(
            request, "task.html", session=session, task=task, stat=task["statInfo"],
            contacts=contacts, contacts_state=contacts_state,
            contacts_pages=_page_count(contacts.total, PAGE_ROWS), contacts_page=contacts_page,
            calls=calls, calls_pages=_page_count(calls["total"], calls["pageSize"]),
            calls_error=calls_error, call_inputs=forms.filter_inputs(CALL_LIST, query),
            callbacks=[_callback_view(item) for item in callbacks],
            callback_counts=callback_counts, callbacks_state=callbacks_state,
            activity=activity, results=results, live=live, refresh_s=REFRESH_S, error=error,
            preview=preview, answered_results=ANSWERED_RESULTS, status=status,
        )  # fmt: skip

    async def task_get(request: Request, session: UiSession) -> Response:
        return await task_page(request, session)

    def action(name: str, notice: str) -> Page:
        async def act(request: Request, session: UiSession) -> Response:
            task_id = request.path_params["task_id"]
            try:
                await ui.api(request, session, name, {"taskId": task_id})
            except ApiError as exc:
                return await task_page(request, session, error=exc.message, status=409)
            return ui.redirect(f"/tasks/{task_id}", notice=notice)

        return act

    async def delete_contact(request: Request, session: UiSession) -> Response:
        task_id = request.path_params["task_id"]
        contact_id = _text(_form(request), "contactId")
        try:
            await ui.api(request, session, "order/delete",
                         {"taskId": task_id, "contactId": contact_id})  # fmt: skip
        except ApiError as exc:
            return await task_page(request, session, error=exc.message, status=409)
        return ui.redirect(f"/tasks/{task_id}", notice="deleted")

    async def retry_callback(request: Request, session: UiSession) -> Response:
        task_id = request.path_params["task_id"]
        item_id = _page_number(request.path_params["item_id"])
        now_ms = ui.now_ms()
        account = session.account_id
        retried = await state.writes.run(
            lambda: store.retry_account_callback(account, item_id, now_ms=now_ms)
        )
        if not retried:
            message = f"Callback {item_id} is not a failed callback of this account."
            return await task_page(request, session, status=409, error=message)
        return ui.redirect(f"/tasks/{task_id}", notice="retried")

    # -- contacts from a CSV file ----------------------------------------------------------

    async def preview_contacts(request: Request, session: UiSession) -> Response:
        form = _form(request)
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            raw = await upload.read()
        else:
            raw = _text(form, "csv").encode()
        preview = await check_csv(request, session, raw, import_now=False)
        if preview.get("imported"):
            return ui.redirect(f"/tasks/{request.path_params['task_id']}", notice="imported")
        return await task_page(request, session, preview=preview,
                               status=200 if preview["ok"] else 400)  # fmt: skip

    async def import_contacts(request: Request, session: UiSession) -> Response:
        raw = _text(_form(request), "csv").encode()
        preview = await check_csv(request, session, raw, import_now=True)
        if preview.get("imported"):
            return ui.redirect(f"/tasks/{request.path_params['task_id']}", notice="imported")
        return await task_page(request, session, preview=preview, status=400)

    async def check_csv(request: Request, session: UiSession, raw: bytes, *,
                        import_now: bool) -> dict[str, Any]:  # fmt: skip
        """The preview of a CSV file: its rows, and the API's refusal of each bad one; with
        ``import_now``, the import itself when nothing is refused."""
        task_id = request.path_params["task_id"]
        parsed = parse_csv(raw)
        view: dict[str, Any] = {"rows": parsed.rows, "problems": list(parsed.problems),
                                "row_problems": {}, "csv": parsed.text, "ok": False}  # fmt: skip
        if parsed.problems:
            return view
        body = {"taskId": task_id, "list": parsed.contacts}
        try:
            if import_now:
                await ui.api(request, session, CALL_APPEND.name, body)
                view["imported"] = True
            else:
                account = session.account_id
                clock = state.record_clock()
                req = requests.parse_call_append(body)
                await state.writes.run(
                    lambda: lifecycle.check_append(store, account, req, clock=clock)
                )
        except ApiError as exc:
            by_row, general = per_row(exc.problems, parsed.contacts)
            view["row_problems"] = by_row
            view["problems"] = general
            return view
        view["ok"] = True
        return view

    # -- the sandbox -----------------------------------------------------------------------

    async def sandbox(request: Request, session: UiSession, *, error: str = "",
                      status: int = 200) -> Response:  # fmt: skip
        assert state.sandbox_clock is not None and state.faults is not None
        assert state.journal is not None
        clock = await state.reads.run(state.sandbox_clock.state)
        _count, entries = state.journal.select(Filter(access_key=session.access_key), limit=50)
        faults = [
            rule for rule in state.faults.list() if rule.get("accessKey") == session.access_key
        ]
        return ui.render(
            request, "sandbox.html", session=session, clock=clock.to_json(),
            entries=[entry.to_json() for entry in reversed(entries)], faults=faults,
            kinds=KINDS, endpoints=sorted(endpoint.name for endpoint in ENDPOINTS),
            error=error, status=status,
        )  # fmt: skip

    async def sandbox_get(request: Request, session: UiSession) -> Response:
        return await sandbox(request, session)

    async def advance(request: Request, session: UiSession) -> Response:
        assert state.sandbox_clock is not None
        clock = state.sandbox_clock
        try:
            seconds = _duration(_text(_form(request), "seconds"))
            await state.sandbox_threads.run(lambda: clock.advance(seconds))
        except (ValueError, ClockRefusal) as exc:
            return await sandbox(request, session, error=str(exc), status=400)
        return ui.redirect("/sandbox", notice="advanced")

    async def set_speed(request: Request, session: UiSession) -> Response:
        assert state.sandbox_clock is not None
        clock = state.sandbox_clock
        form = _form(request)
        try:
            speed = float(_text(form, "speed"))
            frozen = _text(form, "frozen") == "on"
            await state.sandbox_threads.run(lambda: clock.set(now_ms=None, speed=speed,
                                                              frozen=frozen))  # fmt: skip
        except ValueError:
            message = f"speed: must be a number, got {_text(form, 'speed')!r}"
            return await sandbox(request, session, status=400, error=message)
        except ClockRefusal as exc:
            return await sandbox(request, session, error=str(exc), status=400)
        return ui.redirect("/sandbox", notice="clock")

    async def add_fault(request: Request, session: UiSession) -> Response:
        assert state.faults is not None
        form = _form(request)
        body: dict[str, Any] = {"endpoint": _text(form, "endpoint"), "kind": _text(form, "kind"),
                                "accessKey": session.access_key}  # fmt: skip
        for name in ("ms", "code", "status", "times"):
            if _text(form, name):
                body[name] = (
                    int(_text(form, name)) if _text(form, name).isdigit() else _text(form, name)
                )
        if _text(form, "message"):
            body["message"] = _text(form, "message")
        try:
            spec = fault_spec(orjson.dumps(body))
        except AdminRefusal as exc:
            return await sandbox(request, session, error=exc.message, status=400)
        state.faults.add(spec, now_ms=ui.now_ms())
        return ui.redirect("/sandbox", notice="fault")

    async def remove_fault(request: Request, session: UiSession) -> Response:
        assert state.faults is not None
        fault_id = request.path_params["fault_id"]
        owned = any(rule.get("id") == fault_id and rule.get("accessKey") == session.access_key
                    for rule in state.faults.list())  # fmt: skip
        if not owned or state.faults.remove(fault_id) is None:
            return await sandbox(request, session, error=f"No fault {fault_id!r} of this key.",
                                 status=404)  # fmt: skip
        return ui.redirect("/sandbox", notice="unfault")

    def page(path: str, view: Page, *, write: bool = False) -> Route:
        return Route(PREFIX + path, ui.signed_in(view, write=write),
                     methods=["POST"] if write else ["GET"])  # fmt: skip

    routes: list[BaseRoute] = [
        Route(PREFIX, home, methods=["GET"]),
        Route(PREFIX + "/", home, methods=["GET"]),
        Route(PREFIX + "/sign-in", sign_in_get, methods=["GET"]),
        Route(PREFIX + "/sign-in", sign_in_post, methods=["POST"]),
        page("/sign-out", sign_out, write=True),
        page("/tasks", task_list),
        page("/tasks/new", new_task),
        page("/tasks/new", create_task, write=True),
        page("/tasks/{task_id}", task_get),
        page("/tasks/{task_id}/start", action("task/start", "started"), write=True),
        page("/tasks/{task_id}/pause", action("task/pause", "paused"), write=True),
        page("/tasks/{task_id}/contacts/preview", preview_contacts, write=True),
        page("/tasks/{task_id}/contacts/import", import_contacts, write=True),
        page("/tasks/{task_id}/contacts/delete", delete_contact, write=True),
        page("/tasks/{task_id}/callbacks/{item_id}/retry", retry_callback, write=True),
        Mount(PREFIX + "/static", app=StaticFiles(directory=HERE / "static"), name="ui-static"),
    ]
    if ui.admin:
        routes += [
            page("/sandbox", sandbox_get),
            page("/sandbox/advance", advance, write=True),
            page("/sandbox/clock", set_speed, write=True),
            page("/sandbox/faults", add_fault, write=True),
            page("/sandbox/faults/{fault_id}/delete", remove_fault, write=True),
        ]
    return routes


def _listing(answer: dict[str, Any]) -> dict[str, Any]:
    """A list answer's page (``total``, ``list``, …), at the top level or under ``data``."""
    data = answer.get("data")
    return data if isinstance(data, dict) and "list" in data else answer


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def _duration(raw: str) -> int:
    """Seconds from ``90``, ``15m``, ``2h`` or ``1d`` (the CLI's form)."""
    return parse_duration(raw.strip())


def _safe_next(raw: str | None) -> str:
    """A path of the dashboard to go to after signing in; anything else is dropped (no open
    redirect)."""
    if raw and raw.startswith(PREFIX + "/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return ""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _activity(
    store: Any, account_id: int, task_row_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The charts' data: calls and answered calls per bucket of time (the finest of
    :data:`BUCKETS_S` that gives at most :data:`MAX_BUCKETS` over the task's calls, summed from
    one read of the finest), and calls per result."""
    finest = store.call_activity(account_id, task_row_id, bucket_s=BUCKETS_S[0])
    span = finest[-1].start_ts - finest[0].start_ts if finest else 0
    size = next((s for s in BUCKETS_S if span // s < MAX_BUCKETS), BUCKETS_S[-1])
    merged: dict[int, list[int]] = {}
    for bucket in finest:
        sums = merged.setdefault(bucket.start_ts // size * size, [0, 0])
        sums[0] += bucket.calls
        sums[1] += bucket.answered
    activity = {
        "bucket_s": size,
        "ts": list(merged),
        "calls": [calls for calls, _ in merged.values()],
        "answered": [answered for _, answered in merged.values()],
    }
    counts = store.call_results(account_id, task_row_id)
    results = [{"result": code, "name": CALL_RESULT_NAMES[code], "count": counts[code]}
               for code in CALL_RESULT_NAMES if counts.get(code)]  # fmt: skip
    return activity, results


def _callback_view(item: Any) -> dict[str, Any]:
    return {
        "id": item.id, "kind": item.kind, "url": item.url, "state": item.state,
        "attempts": item.attempts, "last_status": item.last_status, "last_error": item.last_error,
        "created_s": item.created_ms // 1000,
        "delivered_s": item.delivered_ms // 1000 if item.delivered_ms else None,
        "event_id": item.event_id,
    }  # fmt: skip


class ParsedCsv:
    """A CSV file of contacts: its rows as the API's contacts, or what keeps it from being
    read at all."""

    def __init__(self, text: str, rows: list[dict[str, str]], contacts: list[dict[str, Any]],
                 problems: list[str]) -> None:  # fmt: skip
        self.text = text
        self.rows = rows
        self.contacts = contacts
        self.problems = problems


def parse_csv(raw: bytes) -> ParsedCsv:
    """Contacts from a CSV file with a header row: ``contactId``, ``phoneNumber`` (required),
    ``name``, ``other``; every other column is a param named by its header. Empty cells are
    left out, so the API's parser judges every value as a client would send it."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ParsedCsv("", [], [], [f"file: not UTF-8 text (byte {exc.start})"])
    reader = csv.DictReader(io.StringIO(text))
    try:
        rows = [dict(row) for row in reader]
    except csv.Error as exc:
        return ParsedCsv(text, [], [], [f"file: not CSV ({exc})"])
    header = reader.fieldnames or []
    missing = [name for name in ("contactId", "phoneNumber") if name not in header]
    if missing:
        shown = ", ".join(header) if header else "none"
        return ParsedCsv(text, [], [], [f"file: the header row must name {', '.join(missing)} "
                                        f"(columns found: {shown})"])  # fmt: skip
    if not rows:
        return ParsedCsv(text, [], [], ["file: no contacts under the header row"])
    contacts = []
    for row in rows:
        contact: dict[str, Any] = {}
        params = []
        for column, cell in row.items():
            value = (cell or "").strip() if isinstance(cell, str) else ""
            if column is None or not value:
                continue
            if column in CSV_COLUMNS:
                contact[column] = value
            else:
                params.append({"name": column, "value": value})
        if params:
            contact["params"] = params
        contacts.append(contact)
    return ParsedCsv(text, rows, contacts, [])


def per_row(
    problems: tuple[str, ...], contacts: list[dict[str, Any]]
) -> tuple[dict[int, list[str]], list[str]]:
    """The API's problems by row (0-based): those naming ``list[i]``, and a duplicate
    ``contactId`` on every row that carries it; the others apart."""
    by_row: dict[int, list[str]] = {}
    general: list[str] = []
    rows_of: dict[str, list[int]] = {}
    for index, contact in enumerate(contacts):
        rows_of.setdefault(str(contact.get("contactId", "")), []).append(index)
    for problem in problems:
        rows: list[int] = []
        if problem.startswith("list[") and "]" in problem:
            index_text = problem[5 : problem.index("]")]
            rows = [int(index_text)] if index_text.isdigit() else []
        elif problem.startswith(DUPLICATE_CONTACT):
            rows = rows_of.get(problem.removeprefix(DUPLICATE_CONTACT), [])
        if not rows:
            general.append(problem)
        for row in rows:
            by_row.setdefault(row, []).append(problem)
    return by_row, general
