"""``docs/fidelity.md`` against the server: every field it says nxlink answers is answered.

The page compares each vendor page with nxlink in tables of a fixed shape (its "How the tables
are read" section): a ``place: `...``` line, then rows ``| `field` | vendor type | nxlink |
match | how | source |``. This test parses those tables and runs them. Answer and callback
places are checked against real answers: the app in-process, the simulator dialling, and the
callback bodies as the outbox holds them (they are POSTed byte for byte). Each row whose nxlink
column is a JSON type must be at that place, in every object there, with that type; a row
marked ``—`` must be absent. Request places are checked against the endpoint declarations
(``contract/endpoints.py``), and ``request headers`` against the server's 1001.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW_MS, Api, Tenant, make_api, make_tenant, sign_md5
from nxlink.contract.endpoints import ENDPOINTS, Contacts, Endpoint, Params, TaskRef
from nxlink.dialer.simulator import Simulator
from nxlink.service import lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.store import Store

DOC = Path(__file__).resolve().parent.parent / "docs" / "fidelity.md"
HEADER = ("vendor field", "vendor type", "nxlink", "match", "how", "source")
MATCHES = frozenset({"same", "extension", "decision"})
SOURCE = re.compile(r"page|page example|spec (conventions|task-list|lifecycle|decisions)\.md"
                    r"|issue 13|nxlink")  # fmt: skip
PLACE = re.compile(r"place: `([^`]+)`")
NAME = re.compile(r"`([A-Za-z][A-Za-z0-9]*)`")
ABSENT = "—"
#: The JSON types the nxlink column may name, and what each admits (``bool`` is no integer).
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}  # fmt: skip
NOW = NOW_MS // 1000
SIM_MS = NOW_MS + 5_000
_P = "/openapi/aiagent/"
UNDELIVERED = "http://127.0.0.1:9"  # callbacks are read from the outbox, never sent
BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}


@dataclass(frozen=True)
class Row:
    """One field row of a placed table."""

    line: int
    section: str
    place: str
    field: str
    vendor_type: str
    nxlink: str
    match: str
    source: str


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def parse(text: str) -> list[Row]:
    """Every row of every table that follows a ``place:`` line, in the page's order."""
    rows: list[Row] = []
    section, place, in_table = "", "", False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            section, place, in_table = line[3:], "", False
        elif match := PLACE.fullmatch(line):
            place, in_table = match.group(1), False
        elif place and line.startswith("|"):
            cells = _cells(line)
            if not in_table:
                assert tuple(cells) == HEADER, f"line {number}: a placed table has {HEADER}"
                in_table = True
            elif not set("".join(cells)) <= {"-", " "}:
                assert len(cells) == len(HEADER), f"line {number}: {len(cells)} cells"
                name = NAME.fullmatch(cells[0])
                assert name, f"line {number}: the first cell is a name in backticks"
                rows.append(Row(number, section, place, name.group(1), *cells[1:4], cells[5]))
        elif in_table:
            place, in_table = "", False
    return rows


ROWS = parse(DOC.read_text(encoding="utf-8"))


def _rows(kinds: Iterable[str]) -> list[Row]:
    return [row for row in ROWS if row.place.split(" ", 1)[0] in kinds]


# -- the page's own shape -------------------------------------------------------------------


def test_the_page_has_a_checked_table_for_every_place() -> None:
    places = {row.place for row in ROWS}
    assert {"request headers", "error", "callback call", "callback task",
            "callback task statInfo", "answer task/list list[].statInfo",
            "answer call/list list[]", "answer flow/list data.list[]",
            "answer route/list data.list[]"} <= places  # fmt: skip
    for endpoint in ENDPOINTS:
        assert f"request {endpoint.name}" in places or endpoint.name in ("task/start", "task/pause")
        assert any(p.startswith(f"answer {endpoint.name}") for p in places), endpoint.name
    assert len(ROWS) > 250


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row.line}-{row.field}")
def test_every_row_says_how_it_matches_and_where_it_comes_from(row: Row) -> None:
    assert row.match in MATCHES
    assert SOURCE.fullmatch(row.source), row.source
    assert row.vendor_type, "the vendor type is `not given` or `—`, never empty"
    # A field the vendor does not have is nxlink's own: an extension, sourced to nxlink, or
    # a statement that nxlink does not send a wrapper the vendor has none of either.
    if row.vendor_type == ABSENT and row.nxlink != ABSENT:
        assert (row.match, row.source) in {("extension", "nxlink"), ("decision", "nxlink")}
    if row.source == "nxlink":
        assert row.vendor_type == ABSENT


def test_each_section_that_cites_its_page_names_the_page() -> None:
    text = DOC.read_text(encoding="utf-8")
    sections = {part.split("\n", 1)[0]: part for part in text.split("\n## ")[1:]}
    for row in ROWS:
        if row.source.startswith("page"):
            assert re.search(r"Vendor page: https?://\S+", sections[row.section]), row.section


# -- requests -------------------------------------------------------------------------------


def _declared(endpoint: Endpoint, path: str) -> set[str]:
    """The body keys ``endpoint`` declares at ``path`` ("", "list[]" or "list[].params[]")."""
    names: set[str] = set()
    for field in endpoint.fields:
        names.add(field.name)
        if isinstance(field, TaskRef):
            names.add(field.alternative)
    if path == "":
        return names
    [contacts] = [f for f in endpoint.fields if isinstance(f, Contacts)]
    if path == "list[]":
        return {item.name for item in contacts.items}
    assert path == "list[].params[]", path
    assert any(isinstance(item, Params) for item in contacts.items)
    return {"name", "value"}  # the two keys every Params element has


@pytest.mark.parametrize(
    "row",
    [row for row in _rows({"request"}) if row.place != "request headers"],
    ids=lambda row: f"{row.place}-{row.field}",
)
def test_every_request_field_listed_as_accepted_is_declared(row: Row) -> None:
    _, name, *path = row.place.split(" ")
    declared = _declared(BY_NAME[name], path[0] if path else "")
    if row.nxlink == ABSENT:
        assert row.field not in declared, f"{row.place}: {row.field} is declared"
    else:
        assert row.field in declared, f"{row.place}: {row.field} is not declared"


@pytest.fixture
def tenant(store: Store) -> Tenant:
    made = make_tenant(store, "fidelity")
    lifecycle.top_up(store, made.account_id, 1_000_000, clock=Clock(NOW, NOW_MS))
    return made


def test_every_required_header_is_refused_when_left_out(
    store: Store, api: Api, tenant: Tenant
) -> None:
    raw = b'{"pageSize":1}'
    ts = str(NOW_MS)
    full = {"Content-Type": "application/json", "accessKey": tenant.access_key, "ts": ts,
            "bizType": "100", "action": "nxai",
            "sign": sign_md5(tenant.access_key, tenant.secret, ts, raw)}  # fmt: skip
    rows = [row for row in ROWS if row.place == "request headers"]
    assert {row.field for row in rows} >= {"accessKey", "ts", "bizType", "action", "sign"}
    for row in rows:
        sent = {k: v for k, v in full.items() if k != row.field}
        payload = api.client.post(_P + "task/list", content=raw, headers=sent).json()
        if row.nxlink == "required":
            assert payload["code"] == 1001, (row.field, payload)
            assert row.field in payload["message"], (row.field, payload)
        else:
            assert row.nxlink == "optional", row
            assert payload["code"] == 0, (row.field, payload)


# -- answers and callbacks ------------------------------------------------------------------


def _contacts(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"contactId": f"{prefix}{i}", "phoneNumber": f"+8526{i:07d}", "name": f"N{i}",
             "other": f"{prefix}-other",
             "params": [{"name": "name", "value": {"first": f"N{i}", "n": i}}]}
            for i in range(n)]  # fmt: skip


def server_answers(store: Store, api: Api, tenant: Tenant) -> dict[str, list[Any]]:
    """Real answers of every endpoint and real callback bodies, by the place that names them
    (``answer <endpoint>``, ``callback call``, ``callback task``, ``error``)."""

    def post(path: str, body: dict[str, Any], code: int = 0) -> dict[str, Any]:
        response = api.post(tenant, json.dumps(body), path=_P + path)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        assert payload["code"] == code, payload
        return payload

    answers: dict[str, list[Any]] = {}
    base = {"autoFlowId": tenant.flow_id, "routeId": tenant.route_id, "taskKeep": 0}
    created = post("task/create", {**base, "taskName": "dialled", "startupType": 3,
                                   "userTaskId": "crm-1", "other": "batch-1",
                                   "strategyId": "s-1", "weekDay": "", "zoneSecond": 28800,
                                   "taskCallbackUrl": UNDELIVERED + "/tasks",
                                   "callCallbackUrl": UNDELIVERED + "/calls",
                                   "list": _contacts("a", 3)})  # fmt: skip
    task_id = created["data"]["taskId"]
    answers["answer task/create"] = [created]
    answers["answer call/append"] = [post("call/append", {
        "taskId": task_id, "autoFlowId": tenant.flow_id,
        "callCallbackUrl": UNDELIVERED + "/own", "list": _contacts("b", 2)})]  # fmt: skip
    manual = post("task/create", {**base, "taskName": "manual", "startupType": 1,
                                  "list": _contacts("m", 2)})["data"]["taskId"]  # fmt: skip
    answers["answer order/delete"] = [post("order/delete", {"taskId": manual,
                                                            "contactId": "m0"})]  # fmt: skip
    answers["answer task/start"] = [post("task/start", {"taskId": manual})]
    answers["answer task/pause"] = [post("task/pause", {"taskId": manual})]

    sim = Simulator(store, seed=5, clock_ms=lambda: SIM_MS)
    sim.advance(NOW)
    sim.advance(NOW + 3600)
    assert sim.in_flight == 0

    answers["answer task/list"] = [post("task/list", {"pageSize": 100})]
    answers["answer call/list"] = [post("call/list", {"taskId": task_id, "pageSize": 100})]
    answers["answer flow/list"] = [post("flow/list", {})]
    answers["answer route/list"] = [post("route/list", {})]
    answers["error"] = [post("task/list", {"pageSize": 5000}, code=20000)]
    bodies: dict[str, list[Any]] = {"call": [], "task": []}
    for item in store.list_callbacks(limit=1000):
        bodies[item.kind].append(json.loads(item.body))
    answers["callback call"], answers["callback task"] = bodies["call"], bodies["task"]
    assert len(answers["callback call"]) == 5  # every contact of the dialled task, once
    assert {b["taskStatus"] for b in answers["callback task"]} == {2, 3}
    return answers


def _at(roots: list[Any], path: str) -> list[Any]:
    """The objects at ``path`` (``a.b[].c``) under each root; ``x[]`` fans out over a list,
    which must not be empty (an empty list would prove nothing)."""
    found = list(roots)
    for segment in filter(None, path.split(".")):
        key, fan = segment.removesuffix("[]"), segment.endswith("[]")
        nxt: list[Any] = []
        for obj in found:
            assert isinstance(obj, dict) and key in obj, f"no {key!r} at {path!r}"
            value = obj[key]
            if fan:
                assert isinstance(value, list) and value, f"{key!r} is not a list with items"
                nxt.extend(value)
            else:
                nxt.append(value)
        found = nxt
    return found


def _kinds(nxlink: str) -> tuple[type, ...] | None:
    """The Python types the nxlink column admits; None for ``any``."""
    if nxlink == "any":
        return None
    kinds: tuple[type, ...] = ()
    for word in nxlink.split(" or "):
        assert word in JSON_TYPES, f"unknown JSON type {word!r} in {nxlink!r}"
        kinds += JSON_TYPES[word]
    return kinds


def problems(rows: Iterable[Row], answers: dict[str, list[Any]]) -> list[str]:
    """What the server's answers contradict in ``rows`` (empty: every row holds)."""
    found: list[str] = []
    for row in rows:
        words = row.place.split(" ")
        root, path = (" ".join(words[:2]), words[2]) if len(words) > 2 else (row.place, "")
        if row.place == "error":
            root, path = "error", ""
        where = f"line {row.line}: {row.place} {row.field}"
        assert answers.get(root), f"{where}: no answer was collected for {root!r}"
        objects = _at(answers[root], path)
        for obj in objects:
            assert isinstance(obj, dict), f"{where}: {obj!r} is not an object"
            if row.nxlink == ABSENT:
                if row.field in obj:
                    found.append(f"{where}: sent, but the page says it is not")
                continue
            if row.field not in obj:
                found.append(f"{where}: not sent")
                break
            kinds, value = _kinds(row.nxlink), obj[row.field]
            if kinds is not None and (
                not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
            ):
                found.append(f"{where}: {value!r} is not {row.nxlink}")
                break
    return found


def test_every_field_the_page_says_nxlink_answers_is_answered(
    store: Store, api: Api, tenant: Tenant
) -> None:
    answers = server_answers(store, api, tenant)
    checked = _rows({"answer", "callback", "error"})
    assert len(checked) > 200
    assert problems(checked, answers) == []

    # The check can fail: a field the server does not send, a wrong type, a key the page says
    # is not sent, each at a real place.
    def fake(place: str, field: str, nxlink: str) -> Row:
        return Row(0, "", place, field, "—", nxlink, "extension", "nxlink")

    assert len(problems([fake("answer task/list list[]", "noSuchField", "string"),
                         fake("callback call", "callId", "integer"),
                         fake("answer flow/list data", "list", ABSENT),
                         fake("answer task/list list[].statInfo", "answerRate", "integer")],
                        answers)) == 4  # fmt: skip


def test_an_envelope_setting_moves_what_the_page_says_it_moves(
    store: Store, tenant: Tenant
) -> None:
    """The page's rows for flow/list's top level (no ``list``, a ``data``) hold under the
    default setting only: with ``NXLINK_ENVELOPE=flat`` the same rows fail, so the rows are
    about the vendor's shape, not any shape."""
    flat = make_api(store, envelope="flat")
    response = flat.post(tenant, "{}", path=_P + "flow/list")
    rows = [row for row in ROWS if row.place == "answer flow/list"]
    found = problems(rows, {"answer flow/list": [response.json()]})
    assert any("data" in p for p in found) and any("list" in p for p in found), found
