"""The admin commands through click's ``CliRunner``: accounts, keys, flows, routes, seed."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from backends import Backend, existing
from nxlink.cli import main
from nxlink.store import TaskFilter, open_store

NOW = "1767225600"
ID, TASK_ID, FLOW, ROUTE, CREATE_TS = "id", "taskId", "autoFlowId", "routeId", "createTs"


def _run(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    if ok:
        assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def _refused(*args: str, env: dict[str, str] | None = None) -> Result:
    result = _run(*args, env=env, ok=False)
    assert result.exit_code != 0, (args, result.output)
    # A usage-style refusal, not a crash with a stack trace.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def _account(db: str, name: str = "acme") -> None:
    _run("accounts", "create", name, "--db", db)


def _key(db: str, account: str = "acme") -> dict[str, Any]:
    result = _run("keys", "create", "--account", account, "--json", "--db", db)
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


# -- accounts -----------------------------------------------------------------------------------
def test_accounts_create_and_list(store_url: str) -> None:
    db = store_url
    created = _run("accounts", "create", "acme", "--db", db)
    assert "acme" in created.output
    _account(db, "globex")
    listed = _run("accounts", "list", "--db", db).stdout
    assert "acme" in listed
    assert "globex" in listed
    assert listed.index("acme") < listed.index("globex")
    store = open_store(db)
    try:
        assert [a.name for a in store.list_accounts()] == ["acme", "globex"]
    finally:
        store.close()


def test_accounts_create_duplicate_is_refused(store_url: str) -> None:
    db = store_url
    _account(db)
    result = _refused("accounts", "create", "acme", "--db", db)
    assert "acme" in result.output
    assert "already exists" in result.output


def test_accounts_create_empty_name_is_refused(store_url: str) -> None:
    _refused("accounts", "create", "  ", "--db", store_url)


def test_db_from_environment(backend: Backend, make_store_url: Callable[[str], str]) -> None:
    db = make_store_url("env")
    env = {"NXLINK_DB": db}
    _run("accounts", "create", "viaenv", env=env)
    assert "viaenv" in _run("accounts", "list", env=env).stdout
    assert "viaenv" in _run("accounts", "list", "--db", db).stdout
    key = json.loads(_run("keys", "create", "--account", "viaenv", "--json", env=env).stdout)
    assert key["accessKey"] in _run("keys", "list", env=env).stdout
    assert backend.exists(db)


def test_db_option_beats_environment(make_store_url: Callable[[str], str]) -> None:
    env = {"NXLINK_DB": make_store_url("env")}
    db = make_store_url("opt")
    _run("accounts", "create", "acme", "--db", db, env=env)
    _run("accounts", "create", "other", env=env)
    assert "acme" in _run("accounts", "list", "--db", db).stdout
    assert "other" not in _run("accounts", "list", "--db", db).stdout
    listed = _run("accounts", "list", env=env).stdout
    assert "other" in listed
    assert "acme" not in listed


def test_unsupported_database_url_is_refused(tmp_path: Path) -> None:
    result = _refused("accounts", "list", "--db", "mysql://localhost/x")
    assert "mysql" in result.output
    # SQLite only: the directory of a database file must exist.
    _refused("accounts", "list", "--db", f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db'}")


def _callbacks_of(db: str, name: str = "acme") -> tuple[str, str, bool]:
    store = open_store(db)
    try:
        account = store.get_account(name)
        assert account is not None
        return account.task_callback_url, account.call_callback_url, account.callbacks_signed
    finally:
        store.close()


def test_accounts_set_callbacks(store_url: str) -> None:
    db = store_url
    _account(db)
    _account(db, "globex")
    shown = _run("accounts", "set-callbacks", "acme", "--db", db).stdout
    assert shown == "callbacks of 'acme': task URL (none), call URL (none), signed\n"
    assert _callbacks_of(db) == ("", "", True)
    task_url, call_url = "https://crm.example.com/t?x=1", "http://127.0.0.1:9/calls"
    result = _run("accounts", "set-callbacks", "acme", "--task-url", task_url, "--call-url",
                  call_url, "--unsigned", "--db", db)  # fmt: skip
    assert result.stdout == (f"callbacks of 'acme': task URL {task_url}, call URL {call_url}, "
                             "unsigned\n")  # fmt: skip
    assert _callbacks_of(db) == (task_url, call_url, False)
    assert _callbacks_of(db, "globex") == ("", "", True)
    # Each option changes only its setting; '' clears a URL.
    _run("accounts", "set-callbacks", "acme", "--call-url", "", "--db", db)
    assert _callbacks_of(db) == (task_url, "", False)
    _run("accounts", "set-callbacks", "acme", "--signed", "--db", db)
    assert _callbacks_of(db) == (task_url, "", True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task-url", "ftp://x.example.com/"],
         'Error: --task-url: must be an http(s) URL, got "ftp://x.example.com/"\n'),
        (["--call-url", "http:///nohost", "--task-url", "https://ok.example.com/"],
         'Error: --call-url: must be an http(s) URL, got "http:///nohost"\n'),
        (["--task-url", "example.com/hook", "--call-url", "https://a b.example.com/"],
         'Error: --task-url: must be an http(s) URL, got "example.com/hook"; --call-url: must '
         'be an http(s) URL, got "https://a b.example.com/"\n'),
        (["--task-url", "https://x.example.com/" + "a" * 2030],
         "Error: --task-url: at most 2048 characters, got 2052\n"),
    ],
)  # fmt: skip
def test_accounts_set_callbacks_refuses_what_a_request_would(
    store_url: str, args: list[str], message: str
) -> None:
    _account(store_url)
    result = _refused("accounts", "set-callbacks", "acme", *args, "--db", store_url)
    assert result.output == message
    assert _callbacks_of(store_url) == ("", "", True)  # nothing half-written


def test_accounts_set_callbacks_names_a_missing_account(store_url: str) -> None:
    _account(store_url)
    for args in ([], ["--unsigned"]):
        result = _refused("accounts", "set-callbacks", "nosuch", *args, "--db", store_url)
        assert result.output == (
            "Error: no account named 'nosuch' (create it with: nxlink accounts create nosuch)\n"
        )


# -- keys ---------------------------------------------------------------------------------------
def test_keys_create_json(store_url: str) -> None:
    db = store_url
    _account(db)
    key = _key(db)
    assert set(key) == {"accessKey", "accessSecret", "saasUserId"}
    assert re.fullmatch("[0-9a-f]{32}", key["accessSecret"])
    assert re.fullmatch(r"AK-[0-9]{19}-[0-9]{4}", key["accessKey"])
    assert isinstance(key["saasUserId"], int)
    assert not isinstance(key["saasUserId"], bool)
    store = open_store(db)
    try:
        account = store.get_account("acme")
        assert account is not None
        assert key["saasUserId"] == account.id
        auth = store.key_auth(key["accessKey"])
        assert auth is not None
        assert auth.secret == key["accessSecret"]
        assert auth.account_id == account.id
    finally:
        store.close()


def test_keys_create_text_shows_the_secret_once(store_url: str) -> None:
    db = store_url
    _account(db)
    result = _run("keys", "create", "--account", "acme", "--db", db)
    match = re.search(r"accessSecret:\s+([0-9a-f]{32})", result.stdout)
    assert match is not None, result.stdout
    assert match.group(1) not in _run("keys", "list", "--db", db).output


def test_keys_are_unique(store_url: str) -> None:
    db = store_url
    _account(db)
    keys = [_key(db) for _ in range(5)]
    assert len({k["accessKey"] for k in keys}) == 5
    assert len({k["accessSecret"] for k in keys}) == 5


def test_keys_create_for_unknown_account_is_refused(store_url: str) -> None:
    result = _refused(
        "keys", "create", "--account", "nobody", "--json", "--db", existing(store_url)
    )
    assert "nobody" in result.output


def test_keys_list_never_shows_a_secret(store_url: str) -> None:
    db = store_url
    _account(db)
    _account(db, "globex")
    keys = [_key(db), _key(db), _key(db, "globex")]
    listed = _run("keys", "list", "--db", db).output
    for key in keys:
        assert key["accessKey"] in listed
        assert key["accessSecret"] not in listed
    assert not re.search(r"\b[0-9a-f]{32}\b", listed)


def test_keys_revoke(store_url: str) -> None:
    db = store_url
    _account(db)
    key, other = _key(db), _key(db)
    result = _run("keys", "revoke", key["accessKey"], "--db", db)
    assert key["accessKey"] in result.output
    store = open_store(db)
    try:
        assert store.key_auth(key["accessKey"]) is None
        assert store.key_auth(other["accessKey"]) is not None
    finally:
        store.close()
    lines = _run("keys", "list", "--db", db).stdout.splitlines()
    revoked_line = next(line for line in lines if key["accessKey"] in line)
    active_line = next(line for line in lines if other["accessKey"] in line)
    assert "revoked" in revoked_line
    assert "active" in active_line


def test_keys_revoke_unknown_key_is_refused(store_url: str) -> None:
    db = store_url
    _account(db)
    result = _refused("keys", "revoke", "AK-1000000000000000000-1000", "--db", db)
    assert "AK-1000000000000000000-1000" in result.output


def test_keys_revoke_twice_is_refused(store_url: str) -> None:
    db = store_url
    _account(db)
    key = _key(db)
    _run("keys", "revoke", key["accessKey"], "--db", db)
    _refused("keys", "revoke", key["accessKey"], "--db", db)


# -- flows and routes ---------------------------------------------------------------------------
def test_flows_create_json(store_url: str) -> None:
    db = store_url
    _account(db)
    result = _run(
        "flows", "create", "--account", "acme", "--name", "Renewal agent",
        "--variables", "a,b", "--json", "--db", db,
    )  # fmt: skip
    flow = json.loads(result.stdout)
    assert isinstance(flow["autoFlowId"], int)
    assert flow["name"] == "Renewal agent"
    assert flow["variables"] == ["a", "b"]
    second = json.loads(
        _run("flows", "create", "--account", "acme", "--name", "B", "--json", "--db", db).stdout
    )
    assert second["autoFlowId"] != flow["autoFlowId"]
    assert second["variables"] == []
    text = _run("flows", "create", "--account", "acme", "--name", "C", "--db", db).stdout
    assert re.search(r"autoFlowId:\s*\d+", text)


def test_flows_create_refusals(store_url: str) -> None:
    db = store_url
    _account(db)
    _refused("flows", "create", "--account", "nobody", "--name", "x", "--db", db)
    _refused("flows", "create", "--account", "acme", "--name", "x", "--variables", "a,a",
             "--db", db)  # fmt: skip
    _refused("flows", "create", "--account", "acme", "--name", " ", "--db", db)


def test_routes_create_json(store_url: str) -> None:
    db = store_url
    _account(db)
    result = _run(
        "routes", "create", "--account", "acme", "--name", "HK mobile",
        "--country-code", "852", "--json", "--db", db,
    )  # fmt: skip
    route = json.loads(result.stdout)
    assert isinstance(route["routeId"], str)
    assert route["routeId"]
    assert route["name"] == "HK mobile"
    assert route["countryCode"] == "852"
    store = open_store(db)
    try:
        account = store.get_account("acme")
        assert account is not None
        assert [r.route_id for r in store.list_routes(account.id)] == [route["routeId"]]
    finally:
        store.close()


def test_routes_create_with_a_caller_number_and_lines(store_url: str) -> None:
    db = store_url
    _account(db)
    _run("routes", "create", "--account", "acme", "--name", "HK trunk", "--country-code", "852",
         "--route-id", "HkTrunk", "--caller-phone", "+85230001000", "--line", "hk-sip-1",
         "--line", "hk-sip-2", "--db", db)  # fmt: skip
    _run("routes", "create", "--account", "acme", "--name", "plain", "--country-code", "852",
         "--route-id", "Plain01", "--db", db)  # fmt: skip
    store = open_store(db)
    try:
        account = store.get_account("acme")
        assert account is not None
        routes = {r.route_id: (r.caller_phone, r.line_ids) for r in store.list_routes(account.id)}
        # Without the options: a number of the route's country made from its id, two lines.
        assert routes == {
            "HkTrunk": ("+85230001000", ("hk-sip-1", "hk-sip-2")),
            "Plain01": (f"+8523{zlib.crc32(b'Plain01') % 10_000_000:07d}",
                        ("Plain01-L1", "Plain01-L2")),
        }  # fmt: skip
    finally:
        store.close()
    _refused("routes", "create", "--account", "acme", "--name", "x", "--caller-phone", "3000",
             "--db", db)  # fmt: skip
    _refused("routes", "create", "--account", "acme", "--name", "x", "--line", "a b",
             "--db", db)  # fmt: skip


def test_routes_create_for_unknown_account_is_refused(store_url: str) -> None:
    _refused("routes", "create", "--account", "nobody", "--name", "x", "--db", store_url)


# -- seed ---------------------------------------------------------------------------------------
def _rows(db: str, account: str = "acme") -> list[dict[str, Any]]:
    store = open_store(db)
    try:
        found = store.get_account(account)
        assert found is not None
        total, rows = store.task_page(found.id, TaskFilter(), offset=0, limit=1000)
        assert total == len(rows)
        return [json.loads(row) for row in rows]
    finally:
        store.close()


def _seed(db: str, *extra: str, tasks: int = 40) -> Result:
    return _run("seed", "--account", "acme", "--tasks", str(tasks), "--now", NOW, "--db", db,
                *extra)  # fmt: skip


def test_seed_adds_tasks(store_url: str) -> None:
    db = store_url
    _account(db)
    result = _seed(db, tasks=40)
    assert "40" in result.stdout
    rows = _rows(db)
    assert len(rows) == 40
    create_ts = [row[CREATE_TS] for row in rows]
    assert all(int(NOW) - 366 * 86400 <= ts <= int(NOW) for ts in create_ts)


def test_seed_is_deterministic(make_store_url: Callable[[str], str]) -> None:
    """The same seed, account and --now in two databases give the very same task list."""
    first, second = make_store_url("one"), make_store_url("two")
    for db in (first, second):
        _account(db)
        _seed(db, "--seed", "7", tasks=60)
    assert _rows(first) == _rows(second)


def test_seed_is_deterministic_in_every_generated_column(
    make_store_url: Callable[[str], str],
) -> None:
    """Everything but the routeId (which names the account's route) repeats exactly."""
    first, second = make_store_url("one"), make_store_url("two")
    for db in (first, second):
        _account(db)
        _seed(db, "--seed", "7", tasks=60)

    def strip(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [{k: v for k, v in row.items() if k != ROUTE} for row in rows]

    assert strip(_rows(first)) == strip(_rows(second))


def test_seed_differs_by_seed(make_store_url: Callable[[str], str]) -> None:
    first, second = make_store_url("one"), make_store_url("two")
    for db, seed in ((first, "1"), (second, "2")):
        _account(db)
        _seed(db, "--seed", seed, tasks=20)
    assert {r[TASK_ID] for r in _rows(first)}.isdisjoint({r[TASK_ID] for r in _rows(second)})


def test_seed_twice_adds_tasks_with_distinct_ids(store_url: str) -> None:
    db = store_url
    _account(db)
    _seed(db, tasks=25)
    _seed(db, tasks=25)
    rows = _rows(db)
    assert len(rows) == 50
    assert len({row[ID] for row in rows}) == 50
    assert len({row[TASK_ID] for row in rows}) == 50


def test_seed_uses_existing_flows_and_routes(store_url: str) -> None:
    db = store_url
    _account(db)
    flow = json.loads(
        _run("flows", "create", "--account", "acme", "--name", "F", "--json", "--db", db).stdout
    )
    route = json.loads(
        _run("routes", "create", "--account", "acme", "--name", "R", "--json", "--db", db).stdout
    )
    _seed(db, tasks=10)
    rows = _rows(db)
    assert {row[FLOW] for row in rows} == {flow["autoFlowId"]}
    assert {row[ROUTE] for row in rows} == {route["routeId"]}


def test_seed_unknown_account_is_refused(store_url: str) -> None:
    _refused("seed", "--account", "acme", "--tasks", "5", "--now", NOW, "--db", store_url)


def test_seed_zero_tasks_is_refused(store_url: str) -> None:
    db = store_url
    _account(db)
    result = _run("seed", "--account", "acme", "--tasks", "0", "--db", db, ok=False)
    assert result.exit_code == 2


# -- help ---------------------------------------------------------------------------------------
def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


ALL_COMMANDS = [(), *(path for path, _ in _commands(main))]


def test_command_tree_is_complete() -> None:
    paths = {" ".join(p) for p in ALL_COMMANDS}
    for expected in ("serve", "accounts create", "accounts list", "keys create", "keys list",
                     "keys revoke", "flows create", "routes create", "seed"):  # fmt: skip
        assert expected in paths


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "nxlink")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = _run(*path, "--help")
    assert result.output.startswith("Usage:")
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.callback is not None
    doc = (command.callback.__doc__ or "").strip()
    assert doc
    assert (command.help or "").strip()
    first_line = doc.splitlines()[0]
    assert " ".join(first_line.split()) in " ".join(result.output.split())
    if not isinstance(command, click.Group):
        assert "Example" in result.output


def test_serve_refuses_an_unknown_envelope_naming_the_three(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    result = CliRunner().invoke(main, ["serve", "--db", f"sqlite:///{path}"],
                                env={"NXLINK_ENVELOPE": "nested"})  # fmt: skip
    assert result.exit_code == 2
    assert result.output.endswith(
        "Error: Invalid value for '--envelope': 'nested' is not one of 'vendor', 'flat', 'data'.\n"
    )
    assert not path.exists()
