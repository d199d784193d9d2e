"""The pytest plugin (``nxlink.pytest_plugin``, a ``pytest11`` entry point): the README's
example test of an imaginary integration runs as written, in a pytest of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nxlink.pytest_plugin import SandboxServer

pytestmark = pytest.mark.slow
pytest_plugins = ["pytester"]

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _example() -> str:
    section = README[README.index("### pytest plugin") :]
    match = re.search(r"```python\n(# test_renewals\.py.*?)```", section, re.DOTALL)
    assert match is not None, "the README's plugin example"
    return match.group(1)


def test_the_readme_example_passes_as_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_renewals=_example())
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_same_test_twice_makes_the_same_calls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_twice="""
import json

CALLS = []


def _run(sandbox, client):
    contacts = [{"contactId": f"c{i}", "phoneNumber": f"+8529200{i:04d}"} for i in range(20)]
    client.request("task/create", {"taskName": "twice", "autoFlowId": sandbox.flow_id,
                                   "routeId": sandbox.route_id, "taskKeep": 0, "startupType": 3,
                                   "list": contacts})
    moved = sandbox.advance("3h")
    return [(c["taskId"], c["contactId"], c["callResult"], c["callEnd"] - c["callStart"])
            for c in moved["calls"]]


def test_first(nxlink_sandbox, nxlink_client):
    CALLS.append(_run(nxlink_sandbox, nxlink_client))


def test_second(nxlink_sandbox, nxlink_client):
    CALLS.append(_run(nxlink_sandbox, nxlink_client))
    assert len(CALLS[0]) == 20 and CALLS[1] == CALLS[0]
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("kwargs", "number"),
    [({"result": 1}, "+85291555001"), ({"result": 17}, "+85291555017"),
     ({"result": 17, "human_answers": False}, "+85291555117"),
     ({"answered_on": 4}, "+85291555401"), ({"result": 21, "prefix": "+1202"}, "+1202555021")],
)  # fmt: skip
def test_magic_numbers(kwargs: dict[str, object], number: str) -> None:
    assert SandboxServer.magic_number(**kwargs) == number  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "give result or answered_on"), ({"result": 10}, "result: one of 1, 2, 3"),
     ({"answered_on": 1}, "answered_on: from 2 to 9, got 1")],
)  # fmt: skip
def test_bad_magic_numbers(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SandboxServer.magic_number(**kwargs)  # type: ignore[arg-type]
