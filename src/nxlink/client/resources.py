"""``client.tasks``: the task list, one page at a time or walked to the end.

The request body and the walk over pages are decided here without I/O (:func:`task_list_body`,
:class:`PageWalk`); :class:`Tasks` and :class:`AsyncTasks` only fetch.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from pydantic import ValidationError

from nxlink.client.errors import ApiError
from nxlink.client.models import Page, Task, TaskPage, parse_status
from nxlink.contract.codes import TaskStatus
from nxlink.contract.endpoints import API_PREFIX, BY_PATH, Integer

if TYPE_CHECKING:
    from nxlink.client._async import AsyncClient
    from nxlink.client._sync import Client

__all__ = [
    "AsyncTaskIterator",
    "AsyncTasks",
    "PageWalk",
    "Rate",
    "TaskIterator",
    "Tasks",
    "Timestamp",
    "task_list_body",
]

TASK_LIST_PATH: Final = "/openapi/aiagent/task/list"
DEFAULT_PAGE_SIZE: Final = 10
ITER_PAGE_SIZE: Final = 1000
#: How often a walk starts over because ``total`` dropped, before it carries on regardless.
MAX_RESTARTS: Final = 3

#: A point in time: an aware or naive (read as UTC) datetime, a date (a UTC day), or epoch
#: seconds.
Timestamp: TypeAlias = dt.datetime | dt.date | int | float
#: A rate on the 0–100 scale; a :class:`~decimal.Decimal` is sent exactly, as a string.
Rate: TypeAlias = float | int | Decimal


def _epoch_seconds(value: Timestamp, *, name: str, end: bool) -> int:
    """``value`` as whole epoch seconds for an inclusive bound (a start rounds up, an end down).

    A date as an end means the last second of that day.
    """
    if isinstance(value, bool) or not isinstance(value, dt.date | int | float):
        raise TypeError(f"{name}: expected a datetime, date or epoch seconds, got {value!r}")
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        seconds: float = aware.timestamp()
    elif isinstance(value, dt.date):
        midnight = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        return int(midnight.timestamp()) + (86_399 if end else 0)
    else:
        seconds = value
    if not math.isfinite(seconds):
        raise ValueError(f"{name}: not a finite number: {value!r}")
    return math.floor(seconds) if end else math.ceil(seconds)


def _rate(value: Rate, name: str) -> float | int | str:
    if isinstance(value, bool) or not isinstance(value, float | int | Decimal):
        raise TypeError(f"{name}: expected a number on the 0-100 scale, got {value!r}")
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _whole(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {value!r}")
    return value


def task_list_body(
    *,
    task_name: str | None = None,
    task_status: int | TaskStatus | str | None = None,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
    min_answer_rate: Rate | None = None,
    max_answer_rate: Rate | None = None,
    min_contacts: int | None = None,
    max_contacts: int | None = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> bytes:
    """The request body for these filters: compact JSON, unset filters left out.

    Values are checked for type only; the service checks ranges (and answers 20000).
    """
    body: dict[str, Any] = {}
    if task_name is not None:
        if not isinstance(task_name, str):
            raise TypeError(f"task_name: expected a str, got {task_name!r}")
        body["taskName"] = task_name
    if task_status is not None:
        try:
            body["taskStatus"] = int(parse_status(task_status))
        except ValueError:
            if isinstance(task_status, int) and not isinstance(task_status, bool):
                body["taskStatus"] = task_status  # out of range: the service explains
            else:
                raise
    if created_from is not None:
        body["createStartTs"] = _epoch_seconds(created_from, name="created_from", end=False)
    if created_to is not None:
        body["createEndTs"] = _epoch_seconds(created_to, name="created_to", end=True)
    if min_answer_rate is not None:
        body["minCallsAnsweredRate"] = _rate(min_answer_rate, "min_answer_rate")
    if max_answer_rate is not None:
        body["maxCallsAnsweredRate"] = _rate(max_answer_rate, "max_answer_rate")
    if min_contacts is not None:
        body["minTaskTotalQuantity"] = _whole(min_contacts, "min_contacts")
    if max_contacts is not None:
        body["maxTaskTotalQuantity"] = _whole(max_contacts, "max_contacts")
    body["pageNumber"] = _whole(page, "page")
    body["pageSize"] = _whole(page_size, "page_size")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def read_page(payload: dict[str, Any], *, page: int, page_size: int) -> TaskPage:
    """A success answer as a :class:`TaskPage`; an unreadable one raises :class:`ApiError`."""
    try:
        return TaskPage.from_payload(payload, page_number=page, page_size=page_size)
    except ValidationError as exc:
        raise _unreadable("task list", payload, exc) from None


def read_any_page(payload: dict[str, Any], path: str, body: Mapping[str, Any] | None) -> Page:
    """A list's success answer as a :class:`Page`, its fields at the top level or under
    ``data``; the page asked for in ``body`` (else the endpoint's defaults) fills in for
    missing fields. An unreadable one raises :class:`ApiError`."""
    endpoint = BY_PATH.get(path)
    defaults = {f.name: f.default for f in endpoint.fields if isinstance(f, Integer)} if (
        endpoint is not None) else {}  # fmt: skip
    asked = body or {}
    number, size = (asked.get(name, defaults.get(name)) for name in ("pageNumber", "pageSize"))
    try:
        return Page.from_payload(payload, page_number=_int_or(number, 1),
                                 page_size=_int_or(size, 0))  # fmt: skip
    except ValidationError as exc:
        raise _unreadable(path.removeprefix(API_PREFIX), payload, exc) from None


def _int_or(value: Any, fallback: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


def _unreadable(what: str, payload: Mapping[str, Any], exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return ApiError(
        0,
        f"unexpected {what} answer: {where}: {first['msg']} ({exc.error_count()} problems)",
        str(payload.get("traceId") or ""),
    )


class PageWalk:
    """Which page to fetch next while walking the whole list, and which tasks to yield.

    The list is ordered newest first and paged by offset, so it can move under a walk:

    * Tasks created during the walk push older ones onto later pages: a task may come back on
      the next page, and is yielded once (tasks are told apart by ``id``). Tasks created after
      the walk began may or may not be yielded.
    * Tasks leaving the result (deleted, or no longer matching a filter, such as a status) pull
      later ones onto earlier pages, which could skip a task. When ``total`` drops, the walk
      starts over from page 1, still yielding each task at most once (up to
      :data:`MAX_RESTARTS` times, then it carries on).
    * A deletion and a creation between two pages leave ``total`` unchanged and cannot be seen.
    """

    def __init__(self, page_size: int) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size!r}")
        self.page_size = page_size
        #: The ``total`` of the latest page; ``None`` before the first.
        self.total: int | None = None
        #: How many times the walk started over.
        self.restarts = 0
        #: Pages fetched.
        self.pages = 0
        self._next: int | None = 1
        self._seen: set[int] = set()

    def next_page(self) -> int | None:
        """The page number to fetch next, or ``None`` when the walk is over."""
        return self._next

    def take(self, page: TaskPage) -> list[Task]:
        """Record the fetched page; return its tasks not yielded before."""
        number = self._next
        assert number is not None, "the walk is over"
        self.pages += 1
        fresh = [task for task in page.tasks if task.id not in self._seen]
        self._seen.update(task.id for task in fresh)
        shrank = self.total is not None and page.total < self.total
        self.total = page.total
        if shrank and number > 1 and self.restarts < MAX_RESTARTS:
            self.restarts += 1
            self._next = 1
        elif not page.tasks or number * self.page_size >= page.total:
            self._next = None
        else:
            self._next = number + 1
        return fresh


class TaskIterator(Iterator[Task]):
    """Every task matching the filters, across pages (see :class:`PageWalk`).

    :attr:`total` is the latest page's ``total`` (``None`` until the first page arrives).
    """

    def __init__(self, fetch: Callable[[int], TaskPage], page_size: int) -> None:
        self._fetch = fetch
        self._walk = PageWalk(page_size)
        self._ready: deque[Task] = deque()

    @property
    def total(self) -> int | None:
        """How many tasks match, as of the latest page."""
        return self._walk.total

    @property
    def pages(self) -> int:
        """Pages fetched so far."""
        return self._walk.pages

    def __iter__(self) -> TaskIterator:
        return self

    def __next__(self) -> Task:
        while not self._ready:
            number = self._walk.next_page()
            if number is None:
                raise StopIteration
            self._ready.extend(self._walk.take(self._fetch(number)))
        return self._ready.popleft()


class AsyncTaskIterator(AsyncIterator[Task]):
    """The async :class:`TaskIterator`: ``async for task in client.tasks.iter(): ...``."""

    def __init__(self, fetch: Callable[[int], Awaitable[TaskPage]], page_size: int) -> None:
        self._fetch = fetch
        self._walk = PageWalk(page_size)
        self._ready: deque[Task] = deque()

    @property
    def total(self) -> int | None:
        """How many tasks match, as of the latest page."""
        return self._walk.total

    @property
    def pages(self) -> int:
        """Pages fetched so far."""
        return self._walk.pages

    def __aiter__(self) -> AsyncTaskIterator:
        return self

    async def __anext__(self) -> Task:
        while not self._ready:
            number = self._walk.next_page()
            if number is None:
                raise StopAsyncIteration
            self._ready.extend(self._walk.take(await self._fetch(number)))
        return self._ready.popleft()


class Tasks:
    """The task list of the key's account: ``client.tasks``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        *,
        task_name: str | None = None,
        task_status: int | TaskStatus | str | None = None,
        created_from: Timestamp | None = None,
        created_to: Timestamp | None = None,
        min_answer_rate: Rate | None = None,
        max_answer_rate: Rate | None = None,
        min_contacts: int | None = None,
        max_contacts: int | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> TaskPage:
        """One page of tasks, newest first.

        ``task_name``: name contains it, case-insensitive. ``task_status``: a
        :class:`~nxlink.TaskStatus`, its number or its word (``"in-progress"``).
        ``created_from``/``created_to``: inclusive bounds on the creation time, as datetimes
        (naive ones are UTC), dates (a whole UTC day) or epoch seconds.
        ``min_answer_rate``/``max_answer_rate``: inclusive, 0–100 (tasks without calls are left
        out). ``min_contacts``/``max_contacts``: inclusive bounds on ``totalOrderCount``.
        ``page`` from 1; ``page_size`` 1–1000.
        """
        body = task_list_body(
            task_name=task_name, task_status=task_status, created_from=created_from,
            created_to=created_to, min_answer_rate=min_answer_rate,
            max_answer_rate=max_answer_rate, min_contacts=min_contacts,
            max_contacts=max_contacts, page=page, page_size=page_size,
        )  # fmt: skip
        payload = self._client._post(TASK_LIST_PATH, body)
        return read_page(payload, page=page, page_size=page_size)

    def iter(
        self,
        *,
        task_name: str | None = None,
        task_status: int | TaskStatus | str | None = None,
        created_from: Timestamp | None = None,
        created_to: Timestamp | None = None,
        min_answer_rate: Rate | None = None,
        max_answer_rate: Rate | None = None,
        min_contacts: int | None = None,
        max_contacts: int | None = None,
        page_size: int = ITER_PAGE_SIZE,
    ) -> TaskIterator:
        """Every matching task, newest first, fetching ``page_size`` tasks per request.

        Filters as in :meth:`list`. Each task is yielded once even if the list changes during
        the walk; a drop in ``total`` (tasks deleted or no longer matching) starts the walk
        over from page 1 so that no task is skipped. See :class:`PageWalk` for what a walk over
        a changing list can and cannot promise.
        """
        filters: dict[str, Any] = {
            "task_name": task_name, "task_status": task_status, "created_from": created_from,
            "created_to": created_to, "min_answer_rate": min_answer_rate,
            "max_answer_rate": max_answer_rate, "min_contacts": min_contacts,
            "max_contacts": max_contacts,
        }  # fmt: skip
        task_list_body(**filters, page_size=page_size)  # refuse bad arguments now, not lazily

        def fetch(number: int) -> TaskPage:
            return self.list(**filters, page=number, page_size=page_size)

        return TaskIterator(fetch, page_size)


class AsyncTasks:
    """The task list of the key's account: ``client.tasks`` of an :class:`~nxlink.AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(
        self,
        *,
        task_name: str | None = None,
        task_status: int | TaskStatus | str | None = None,
        created_from: Timestamp | None = None,
        created_to: Timestamp | None = None,
        min_answer_rate: Rate | None = None,
        max_answer_rate: Rate | None = None,
        min_contacts: int | None = None,
        max_contacts: int | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> TaskPage:
        """One page of tasks, newest first; arguments as in :meth:`Tasks.list`."""
        body = task_list_body(
            task_name=task_name, task_status=task_status, created_from=created_from,
            created_to=created_to, min_answer_rate=min_answer_rate,
            max_answer_rate=max_answer_rate, min_contacts=min_contacts,
            max_contacts=max_contacts, page=page, page_size=page_size,
        )  # fmt: skip
        payload = await self._client._post(TASK_LIST_PATH, body)
        return read_page(payload, page=page, page_size=page_size)

    def iter(
        self,
        *,
        task_name: str | None = None,
        task_status: int | TaskStatus | str | None = None,
        created_from: Timestamp | None = None,
        created_to: Timestamp | None = None,
        min_answer_rate: Rate | None = None,
        max_answer_rate: Rate | None = None,
        min_contacts: int | None = None,
        max_contacts: int | None = None,
        page_size: int = ITER_PAGE_SIZE,
    ) -> AsyncTaskIterator:
        """Every matching task (``async for``); as :meth:`Tasks.iter`."""
        filters: dict[str, Any] = {
            "task_name": task_name, "task_status": task_status, "created_from": created_from,
            "created_to": created_to, "min_answer_rate": min_answer_rate,
            "max_answer_rate": max_answer_rate, "min_contacts": min_contacts,
            "max_contacts": max_contacts,
        }  # fmt: skip
        task_list_body(**filters, page_size=page_size)

        async def fetch(number: int) -> TaskPage:
            return await self.list(**filters, page=number, page_size=page_size)

        return AsyncTaskIterator(fetch, page_size)
