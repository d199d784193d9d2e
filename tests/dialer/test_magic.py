"""Magic numbers: the last six digits of a number choose its call result, on every attempt
they name, whatever the route's profile (``dialer/magic.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import NOW_MS, make_tenant
from db import Observer
from nxlink.contract.callrecord import CALL_RESULTS
from nxlink.dialer.magic import Forced, magic_outcome, markdown_table
from nxlink.dialer.simulator import Simulator
from nxlink.service import lifecycle, requests
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

NOW = NOW_MS // 1000
ROOT = Path(__file__).resolve().parents[2]
#: Each magic suffix and the (callResult, manualCallStatus) of attempts 1, 2, ... until the
#: contact is done (orderMaxCall 9: a result that is retried is retried up to 9 attempts).
EXPECTED: dict[str, list[tuple[int, int | None]]] = {
    **{f"5550{r:02d}": [(r, None)] * (9 if r in (2, 4, 5, 6, 9) else 1)
       for r in CALL_RESULTS if r != 17},
    "555017": [(17, 1)],
    "555117": [(17, 2)],
    **{f"555{n}01": [(2, None)] * (n - 1) + [(1, None)] for n in range(2, 10)},
}  # fmt: skip


@pytest.mark.parametrize("phone", ["+852 91 555 001", "85291555001", "(852) 91-555-001"])
def test_the_last_six_digits_decide_whatever_the_punctuation(phone: str) -> None:
    assert magic_outcome(phone, 1) == Forced(1)


@pytest.mark.parametrize(
    "phone",
    ["+85291555010", "+85291555022", "+85291555101", "+85291555118", "+85291555000",
     "+85291556001", "+85212345678", "55501", ""],
)  # fmt: skip
def test_other_numbers_follow_the_route(phone: str) -> None:
    assert magic_outcome(phone, 1) is None


@pytest.mark.parametrize("answer_probability", [0.0, 1.0])
def test_every_magic_suffix_gives_its_outcome_on_every_attempt(
    store: Store, db: Observer, answer_probability: float
) -> None:
    tenant = make_tenant(store)
    clock = Clock.at(NOW_MS)
    lifecycle.top_up(store, tenant.account_id, 10**9, clock=clock)
    db.execute("UPDATE routes SET answer_probability = ?", answer_probability)
    body = {"taskName": "magic", "autoFlowId": tenant.flow_id, "routeId": tenant.route_id,
            "taskKeep": 0, "startupType": 3, "maxCall": 50, "orderMaxCall": 9,
            "replayInterval": 60,
            "list": [{"contactId": suffix, "phoneNumber": f"+85291{suffix}"}
                     for suffix in EXPECTED]}  # fmt: skip
    lifecycle.create_task(store, tenant.account_id, requests.parse_task_create(body), clock=clock)
    simulator = Simulator(store, seed=11, clock_ms=lambda: NOW_MS)
    simulator.advance(NOW)
    simulator.advance(NOW + 7 * 86_400)
    rows = db.rows("SELECT o.contact_id, c.attempt, c.result, c.manual_status FROM calls c "
                   "JOIN orders o ON o.id = c.order_id ORDER BY o.contact_id, c.attempt")  # fmt: skip
    seen: dict[str, list[tuple[int, int | None]]] = {}
    for contact, attempt, result, manual in rows:
        assert attempt == len(seen.setdefault(contact, [])) + 1
        seen[contact].append((result, manual))
    assert seen == EXPECTED


def test_the_docs_show_the_table() -> None:
    table = markdown_table()
    assert table in (ROOT / "README.md").read_text()
    assert table in (ROOT / "docs" / "sandbox.md").read_text()
