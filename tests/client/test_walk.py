"""``tasks.iter`` over a list that changes under the walk, served by a fake paging server."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from client.harness import Kind, MakeShell
from nxlink.client.models import TaskPage
from nxlink.client.resources import MAX_RESTARTS, PageWalk


def task(n: int) -> dict[str, object]:
    return {"id": n, "taskId": f"t-{n}", "taskName": f"task {n}", "taskStatus": 2, "createTs": n}


class FakeServer:
    """Serves ``rows`` (newest first) by page; ``after`` runs after page ``n`` was served."""

    def __init__(self, count: int, *, nest: bool = False) -> None:
        self.rows = [task(n) for n in range(count, 0, -1)]
        self.nest = nest
        self.asked: list[int] = []
        self.after: dict[int, Callable[[], None]] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        number, size = body["pageNumber"], body["pageSize"]
        self.asked.append(number)
        page = {
            "total": len(self.rows),
            "pageNumber": number,
            "pageSize": size,
            "list": self.rows[(number - 1) * size : number * size],
        }
        envelope = {"code": 0, "message": "success", "traceId": "f" * 32}
        envelope.update({"data": page} if self.nest else page)
        hook = self.after.pop(len(self.asked), None)
        if hook is not None:
            hook()
        return httpx.Response(200, json=envelope)

    def delete(self, *ids: int) -> Callable[[], None]:
        return lambda: self.rows.__setitem__(
            slice(None), [r for r in self.rows if r["id"] not in ids]
        )

    def create(self, *ids: int) -> Callable[[], None]:
        return lambda: self.rows.__setitem__(slice(None), [task(n) for n in ids] + self.rows)


def _walk(make_shell: MakeShell, kind: Kind, server: FakeServer, page_size: int) -> list[int]:
    shell = make_shell(kind, transport=httpx.MockTransport(server.handler))
    ids = [t.id for t in shell.iter(page_size=page_size)]
    assert len(ids) == len(set(ids)), ids
    return ids


@pytest.mark.parametrize("nest", [False, True])
def test_a_still_list_is_walked_once_in_order(
    make_shell: MakeShell, kind: Kind, nest: bool
) -> None:
    server = FakeServer(10, nest=nest)
    assert _walk(make_shell, kind, server, 3) == list(range(10, 0, -1))
    assert server.asked == [1, 2, 3, 4]


def test_an_exact_multiple_stops_without_an_empty_page(make_shell: MakeShell, kind: Kind) -> None:
    server = FakeServer(9)
    assert _walk(make_shell, kind, server, 3) == list(range(9, 0, -1))
    assert server.asked == [1, 2, 3]


def test_an_empty_list_takes_one_request(make_shell: MakeShell, kind: Kind) -> None:
    server = FakeServer(0)
    assert _walk(make_shell, kind, server, 3) == []
    assert server.asked == [1]


def test_tasks_created_during_the_walk_do_not_repeat_older_ones(
    make_shell: MakeShell, kind: Kind
) -> None:
    server = FakeServer(10)
    server.after[1] = server.create(11, 12)  # 9 and 8 come back on page 2
    assert _walk(make_shell, kind, server, 3) == list(range(10, 0, -1))
    assert server.asked == [1, 2, 3, 4]


def test_deletions_of_seen_tasks_restart_the_walk_and_skip_nothing(
    make_shell: MakeShell, kind: Kind
) -> None:
    server = FakeServer(10)
    # After page 2, two tasks of page 1 go: 4 and 3 would slide from page 3 onto page 2.
    server.after[2] = server.delete(10, 9)
    walked = _walk(make_shell, kind, server, 3)
    assert walked == [10, 9, 8, 7, 6, 5, 2, 1, 4, 3]
    assert sorted(walked) == list(range(1, 11))
    assert server.asked == [1, 2, 3, 1, 2, 3]


def test_a_deleted_task_not_yet_seen_is_not_yielded(make_shell: MakeShell, kind: Kind) -> None:
    server = FakeServer(10)
    server.after[1] = server.delete(5)
    assert _walk(make_shell, kind, server, 3) == [10, 9, 8, 7, 6, 4, 3, 2, 1]
    assert server.asked == [1, 2, 1, 2, 3]


def test_restarts_are_bounded(make_shell: MakeShell, kind: Kind) -> None:
    server = FakeServer(40)
    for request in range(2, 30):  # one task of the tail goes after every request
        server.after[request] = server.delete(request)
    walked = _walk(make_shell, kind, server, 3)
    assert server.asked.count(1) == 1 + MAX_RESTARTS
    assert set(walked) <= set(range(1, 41))


def test_page_walk_state() -> None:
    walk = PageWalk(2)
    assert (walk.next_page(), walk.total, walk.pages) == (1, None, 0)

    def page(number: int, total: int, ids: list[int]) -> TaskPage:
        return TaskPage.from_payload(
            {"total": total, "list": [task(n) for n in ids]}, page_number=number, page_size=2
        )

    assert [t.id for t in walk.take(page(1, 5, [5, 4]))] == [5, 4]
    assert (walk.next_page(), walk.total, walk.pages) == (2, 5, 1)
    assert [t.id for t in walk.take(page(2, 6, [4, 3]))] == [3]  # grew: 4 came back
    assert (walk.next_page(), walk.total) == (3, 6)
    assert [t.id for t in walk.take(page(3, 4, [1]))] == [1]  # shrank: start over
    assert (walk.next_page(), walk.restarts) == (1, 1)
    assert [t.id for t in walk.take(page(1, 4, [5, 3]))] == []
    assert [t.id for t in walk.take(page(2, 4, [2, 1]))] == [2]
    assert walk.next_page() is None
    assert walk.pages == 5


@pytest.mark.parametrize("size", [0, -1, True])
def test_page_walk_refuses_a_bad_page_size(size: int) -> None:
    with pytest.raises(ValueError, match="page_size must be >= 1"):
        PageWalk(size)
