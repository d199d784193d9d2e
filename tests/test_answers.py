"""The hook of ``tests/answers.py``: every answer of an API endpoint is validated against the
OpenAPI document, and one that does not follow it fails the test that received it."""

from __future__ import annotations

import answers
from conftest import Api, make_tenant
from nxlink.server.app import TASK_LIST_PATH
from nxlink.store import Store


def test_answers_are_validated(api: Api, store: Store) -> None:
    before = answers.VALIDATED[0]
    api.tasks(make_tenant(store))
    api.client.post(TASK_LIST_PATH, content=b"{}")  # 1001
    api.client.post("/openapi/aiagent/nope", content=b"{}")  # 404
    assert answers.VALIDATED[0] == before + 3
    assert answers.FAILURES == []


def test_an_answer_off_the_document_is_caught() -> None:
    path = "/openapi/aiagent/task/create"
    trace = b"3287f5aa-b8db-4dd7-97b0-03fabac2f4c7"
    ok = b'{"code":0,"message":"success","traceId":"' + trace + b'","data":{"taskId":"t"}}'
    assert answers.problems("flat", path, 200, ok) == []
    hex_trace = ok.replace(trace, b"a" * 32)  # the old form: not the vendor's
    assert answers.problems("flat", path, 200, hex_trace) != []
    extra = ok.replace(b'"taskId":"t"', b'"taskId":"t","more":1')
    assert answers.problems("flat", path, 200, extra) != []
    assert answers.problems("flat", path, 200, ok.replace(b'"code":0', b'"code":7')) != []
    assert answers.problems("flat", path, 429, ok) == [
        f"429 {path}: the document has no answer with status 429"
    ]
    assert answers.problems("flat", path, 200, b"nope") == [f"200 {path}: not JSON: b'nope'"]
