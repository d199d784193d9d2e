"""The read-only neighbours of the task list: ``call/list``, ``flow/list``, ``route/list``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nxlink.contract import calldoc
from nxlink.service.errors import business_error
from nxlink.service.recordings import RecordingLinks
from nxlink.service.requests import CallListQuery, NameQuery
from nxlink.store import Store
from nxlink.store.base import CallFilter


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    page_number: int
    page_size: int
    items: list[dict[str, Any]]

    def fields(self) -> dict[str, Any]:
        return {"total": self.total, "pageNumber": self.page_number,
                "pageSize": self.page_size, "list": self.items}  # fmt: skip


def list_calls(
    store: Store, account_id: int, query: CallListQuery, *, links: RecordingLinks, now: int
) -> Page:
    """One page of a task's calls, newest first; a 20000 for a task not in the account.
    Answered calls' recordings are linked with ``links``, valid from ``now`` (epoch s)."""
    offset = (query.page_number - 1) * query.page_size
    found = store.call_page(
        account_id,
        query.task_id,
        CallFilter(
            start_ts=query.start_ts,
            end_ts=query.end_ts,
            call_id=query.call_id,
            phone=query.phone,
            call_result=query.call_result,
            user_intent=query.user_intent,
            min_elapsed=query.min_elapsed,
            max_elapsed=query.max_elapsed,
        ),
        offset=offset,
        limit=query.page_size,
    )
    if found is None:
        raise business_error([f"taskId: no task '{query.task_id}' in this account"])
    total, calls = found
    items = [
        calldoc.render(call, audio_url=links.url(call.call_id, now=now) if call.answered else "")
        for call in calls
    ]
    return Page(total, query.page_number, query.page_size, items)


def _page(items: list[dict[str, Any]], query: NameQuery) -> Page:
    offset = (query.page_number - 1) * query.page_size
    return Page(len(items), query.page_number, query.page_size,
                items[offset : offset + query.page_size])  # fmt: skip


def list_flows(store: Store, account_id: int, query: NameQuery) -> Page:
    """Enabled flows whose name contains the query (case-insensitive), by id."""
    items = [
        {"autoFlowId": f.id, "autoFlowName": f.name, "variables": list(f.variables),
         "createTs": f.created_ts}
        for f in store.list_flows(account_id)
        if f.enabled and (query.name_fold is None or query.name_fold in f.name.casefold())
    ]  # fmt: skip
    return _page(items, query)


def list_routes(store: Store, account_id: int, query: NameQuery) -> Page:
    """Enabled routes whose name contains the query (case-insensitive), by id."""
    items = [
        {"routeId": r.route_id, "routeName": r.name, "countryCode": r.country_code,
         "pricePerMinute": r.price_per_minute_cents, "createTs": r.created_ts}
        for r in store.list_routes(account_id)
        if r.enabled and (query.name_fold is None or query.name_fold in r.name.casefold())
    ]  # fmt: skip
    return _page(items, query)
