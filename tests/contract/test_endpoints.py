"""The endpoint declarations: one per operation, each path once, the derived tables, and every
refusal the compiled parser words for a bad field or a broken rule documented by the
declaration (``contract.refusals``), so that the reference and the document say what the
server answers."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from nxlink.client._base import READ_ONLY_PATHS
from nxlink.contract import endpoints as contract
from nxlink.service.coerce import NonFinite
from nxlink.service.errors import ApiError
from nxlink.service.requests import PARSERS, Parser

#: Bad values of every JSON kind and every edge the parsers know.
BAD: list[Any] = [
    True, [], {}, "abc", "x" * 5000, "a\x00b", "\ud800", Decimal("1.5"), Decimal("1e40"), -5, 10**12, 10**10, 2**40,
    "12a", "+", "1e2", NonFinite("NaN"), 0, 101, 1000, 5000, "ftp://x", "http://", "12345",
    [{"contactId": True}], [1], [{"contactId": "c", "phoneNumber": "1"}] * 2,
    [{"contactId": "c", "phoneNumber": "123", "params": [{"name": ""}, 5, {"name": "a", "value": []}]}],
]  # fmt: skip


def _regex(message: str) -> str:
    """A documented message as a regex: each ``<placeholder>`` stands for some text."""
    parts = re.split(r"(<[^<>]+>)", message)
    return "".join(".+?" if i % 2 else re.escape(p) for i, p in enumerate(parts))


def _documented(endpoint: contract.Endpoint) -> re.Pattern[str]:
    """A refusal of ``endpoint``: documented messages joined with ``; ``."""
    one = "(?:" + "|".join(_regex(m) for m, _ in contract.refusals(endpoint)) + ")"
    return re.compile(f"{one}(?:; {one})*", re.S)


def test_each_operation_is_declared_once_with_its_paths() -> None:
    paths = [path for endpoint in contract.ENDPOINTS for path in endpoint.paths]
    assert len(paths) == len(set(paths)) == 10
    assert contract.BY_PATH[contract.API_PREFIX + "call/delete"] is contract.ORDER_DELETE
    assert {e.operation_id for e in contract.ENDPOINTS} == {
        "listTasks", "createTask", "appendContacts", "deleteContact", "listCalls", "listFlows",
        "listRoutes", "startTask", "pauseTask",
    }  # fmt: skip


def test_the_derived_tables() -> None:
    prefix = contract.API_PREFIX
    assert {prefix + n for n in ("task/list", "call/list", "flow/list",
                                                    "route/list")} == READ_ONLY_PATHS  # fmt: skip
    assert {a: e.name for a, e in contract.OWN_ACTIONS.items()} == {
        "pageCallTaskInfo": "task/list", "pageCallRecords": "call/list",
        "callAppend": "call/append", "operateCallRecords": "order/delete",
    }  # fmt: skip
    imports = {e.name for e in contract.ENDPOINTS if e.body_limit == "import"}
    assert imports == {"task/create", "call/append"}


@pytest.mark.parametrize("endpoint", contract.ENDPOINTS, ids=lambda e: e.name)
def test_every_refusal_of_a_field_is_documented(endpoint: contract.Endpoint) -> None:
    documented = _documented(endpoint)
    parse = PARSERS[endpoint.name]
    names = [n for f in endpoint.fields for n in
             ((f.name, f.alternative) if isinstance(f, contract.TaskRef) else (f.name,))]  # fmt: skip
    seen = 0
    for name in names:
        for value in BAD:
            try:
                parse({name: value})
            except ApiError as exc:
                assert documented.fullmatch(exc.message), (endpoint.name, name, exc.message)
                seen += 1
    assert seen > 5 * len(names)


@pytest.mark.parametrize("endpoint", contract.ENDPOINTS, ids=lambda e: e.name)
def test_every_refusal_of_a_rule_is_documented(endpoint: contract.Endpoint) -> None:
    documented = _documented(endpoint)
    for rule in endpoint.rules:
        if isinstance(rule, contract.RequiredWhen):
            body: dict[str, Any] = {rule.other: rule.value}
        else:
            body = {rule.other: 50, rule.name: 40 if isinstance(rule, contract.AtLeast) else 50}
        with pytest.raises(ApiError) as refused:
            Parser(endpoint)(body)
        expected = _regex(contract.rule_refusal(rule))
        message = refused.value.message
        assert re.fullmatch(f"(?:.+; )?{expected}(?:; .+)?", message, re.S), (expected, message)
        assert documented.fullmatch(message), message
