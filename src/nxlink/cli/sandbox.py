"""``nxlink sandbox …``: the sandbox's admin API from the command line.

Every command calls the server at the global ``--base-url`` (``NXLINK_BASE_URL``) with the
global ``--admin-token`` (``NXLINK_ADMIN_TOKEN``) and prints a short text answer, or the
answer's ``data`` as JSON with ``--json``. Exit status: 0 success, 1 the server refused or did
not answer (the error on stderr), 2 bad usage.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from nxlink.cli.options import client_options
from nxlink.client import NxError, Sandbox
from nxlink.client.sandbox import parse_duration
from nxlink.contract.endpoints import API_PREFIX

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")


@contextmanager
def _admin(ctx: click.Context) -> Iterator[Sandbox]:
    """The :class:`Sandbox` of the global options; a refusal or no answer exits 1."""
    with client_options(ctx).sandbox() as sandbox:
        try:
            yield sandbox
        except NxError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


def _call(ctx: click.Context, work: Callable[[Sandbox], T]) -> T:
    with _admin(ctx) as sandbox:
        return work(sandbox)
    raise AssertionError("unreachable")  # ctx.exit raised


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _when(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@click.group()
def sandbox() -> None:
    """The sandbox's controls on a running server (its admin API under /_nxlink/).

    \b
    Examples:
      export NXLINK_BASE_URL=http://127.0.0.1:8000 NXLINK_ADMIN_TOKEN=...
      nxlink sandbox clock --freeze
      nxlink sandbox advance 1h
      nxlink sandbox journal --path call/append --code 0 --count
      nxlink sandbox faults add task/list --status 503 --times 1
    """


@sandbox.command()
@click.option("--path", help="Only this endpoint (task/list or its full path).")
@click.option("--key", "access_key", metavar="ACCESS_KEY", help="Only this access key.")
@click.option("--code", type=int, help="Only answers with this code.")
@click.option("--since", type=click.IntRange(min=0), metavar="MS",
              help="Only requests that ended at or after this time (epoch ms).")  # fmt: skip
@click.option("--until", type=click.IntRange(min=0), metavar="MS",
              help="Only requests that ended at or before this time (epoch ms).")  # fmt: skip
@click.option("--contains", metavar="TEXT", help="Only requests whose body contains TEXT.")
@click.option("--limit", type=click.IntRange(0, 1000), default=None,
              help="The newest N matches (default 100).")  # fmt: skip
@click.option("--count", is_flag=True, help="Print the number of matches alone.")
@click.option("--clear", is_flag=True, help="Empty the journal (filters do not apply).")
@json_option
@click.pass_context
def journal(
    ctx: click.Context, path: str | None, access_key: str | None, code: int | None,
    since: int | None, until: int | None, contains: str | None, limit: int | None,
    count: bool, clear: bool, as_json: bool,
) -> None:  # fmt: skip
    """The request journal: what each API request sent and was answered, oldest first.

    \b
    Examples:
      nxlink sandbox journal --path call/append --contains 52145b00 --count
      nxlink sandbox journal --code 1003 --json
      nxlink sandbox journal --clear
    """
    filters: dict[str, Any] = {"path": path, "access_key": access_key, "code": code,
                               "since": since, "until": until, "contains": contains}  # fmt: skip
    if clear:
        if count or any(value is not None for value in filters.values()):
            raise click.UsageError("--clear empties the whole journal: give it alone")
        cleared = _call(ctx, lambda s: s.clear_requests())
        if as_json:
            _print_json({"cleared": cleared})
        else:
            click.echo(f"cleared {cleared} request(s)")
        return
    if count:
        matches = _call(ctx, lambda s: s.count_requests(**filters))
        _print_json({"count": matches}) if as_json else click.echo(str(matches))
        return
    page = _call(ctx, lambda s: s.requests(limit=limit, **filters))
    if as_json:
        _print_json(page)
        return
    for entry in page["list"]:
        code_text = "-" if entry["code"] is None else str(entry["code"])
        click.echo(f"{entry['id']:>6}  {_when(entry['ts'])}  {entry['method']} {entry['path']}  "
                   f"HTTP {entry['status']} code {code_text}  {entry['ms']:.1f} ms  "
                   f"{entry['accessKey'] or '-'}  {entry['traceId']}")  # fmt: skip
    shown = len(page["list"])
    click.echo(f"{shown} of {page['total']} matching request(s)", err=True)


def _clock_line(clock: dict[str, Any]) -> str:
    state = "frozen" if clock["frozen"] else "running"
    return f"{_when(clock['now'])} UTC, speed {clock['speed']:g}x, {state}"


@sandbox.command()
@click.option("--speed", type=click.FloatRange(min=0, min_open=True, max=100_000),
              help="Simulated seconds per real second from now on.")  # fmt: skip
@click.option("--freeze", "frozen", flag_value=True, default=None,
              help="Stop the clock: time moves only with `nxlink sandbox advance`.")  # fmt: skip
@click.option("--unfreeze", "frozen", flag_value=False, help="Let the clock run again.")
@click.option("--now", "now_ms", type=click.IntRange(min=0), metavar="MS",
              help="Set the time (epoch ms); back only while no call is in flight.")  # fmt: skip
@json_option
@click.pass_context
def clock(
    ctx: click.Context, speed: float | None, frozen: bool | None, now_ms: int | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Show the sandbox's clock, or set its speed, freeze it, or set the time.

    \b
    Examples:
      nxlink sandbox clock
      nxlink sandbox clock --freeze
      nxlink sandbox clock --speed 60 --unfreeze
    """
    if speed is None and frozen is None and now_ms is None:
        state = _call(ctx, lambda s: s.clock())
    else:
        state = _call(ctx, lambda s: s.set_clock(now=now_ms, speed=speed, frozen=frozen))
    _print_json(state) if as_json else click.echo(_clock_line(state))


@sandbox.command()
@click.argument("duration")
@json_option
@click.pass_context
def advance(ctx: click.Context, duration: str, as_json: bool) -> None:
    """Move the clock DURATION ahead (90s, 15m, 1h, 2d, 1h30m), running every call, retry,
    schedule and completion due on the way first; print what happened.

    \b
    Examples:
      nxlink sandbox advance 1h
      nxlink sandbox advance 2d --json
    """
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from None
    moved = _call(ctx, lambda s: s.advance(seconds))
    if as_json:
        _print_json(moved)
        return
    click.echo(f"{_when(moved['from'])} -> {_when(moved['to'])} UTC: {moved['callsPlaced']} "
               f"call(s) placed, {moved['callsEnded']} ended, "
               f"{len(moved['statusChanges'])} status change(s), "
               f"{moved['callbacksEnqueued']} callback(s) enqueued")  # fmt: skip
    for change in moved["statusChanges"]:
        click.echo(f"  task {change['taskId']}: {change['from']} -> {change['to']} "
                   f"at {_when(change['at'] * 1000)}")  # fmt: skip


_DELETED = ("tasks", "orders", "calls", "callbacks", "replays", "keys", "flows", "routes",
            "journal")  # fmt: skip


@sandbox.command()
@click.option("--account", metavar="NAME", help="Reset this account.")
@click.option("--all", "all_accounts", is_flag=True, help="Reset every account.")
@click.option("--catalog", is_flag=True,
              help="Delete the access keys, flows and routes too (kept otherwise).")  # fmt: skip
@json_option
@click.pass_context
def reset(
    ctx: click.Context, account: str | None, all_accounts: bool, catalog: bool, as_json: bool
) -> None:
    """Delete one account's runtime data (or every account's): tasks, contacts, calls,
    callbacks, write replays and its journal entries. Accounts, balances and the simulator
    clock stay; keys, flows and routes stay unless --catalog.

    \b
    Examples:
      nxlink sandbox reset --account acme
      nxlink sandbox reset --all --catalog --json
    """
    if (account is None) == (not all_accounts):
        raise click.UsageError("give --account NAME or --all (one of them)")
    done = _call(ctx, lambda s: s.reset(account, all_accounts=all_accounts, catalog=catalog))
    if as_json:
        _print_json(done)
        return
    deleted = done["deleted"]
    counts = ", ".join(f"{deleted[name]} {name}" for name in _DELETED if name in deleted)
    click.echo(f"reset {', '.join(done['accounts']) or 'no account'}: deleted {counts}")


def _describe_snapshot(info: dict[str, Any]) -> str:
    return (f"{info['name']}  {_when(info['createdMs'])}  {info['tasks']} task(s)  "
            f"schema {info['schemaVersion']}")  # fmt: skip


@sandbox.command()
@click.argument("name")
@click.option("--delete", is_flag=True, help="Remove the snapshot instead of taking it.")
@json_option
@click.pass_context
def snapshot(ctx: click.Context, name: str, delete: bool, as_json: bool) -> None:
    """Copy the whole sandbox's data as snapshot NAME (letters, digits, _ and -; up to 64),
    replacing one of that name; restore it with `nxlink sandbox restore NAME`.

    \b
    Examples:
      nxlink sandbox snapshot before-demo
      nxlink sandbox snapshot before-demo --delete
    """
    if delete:
        _call(ctx, lambda s: s.delete_snapshot(name))
        _print_json({"deleted": name}) if as_json else click.echo(f"deleted snapshot {name}")
        return
    info = _call(ctx, lambda s: s.snapshot(name))
    _print_json(info) if as_json else click.echo(f"took snapshot {_describe_snapshot(info)}")


@sandbox.command()
@click.argument("name")
@json_option
@click.pass_context
def restore(ctx: click.Context, name: str, as_json: bool) -> None:
    """Put snapshot NAME back: tasks, contacts, calls, callbacks, keys, flows, routes and
    balances as they were when it was taken (the simulator clock and dialers stay).

    \b
    Example:
      nxlink sandbox restore before-demo
    """
    info = _call(ctx, lambda s: s.restore(name))
    _print_json(info) if as_json else click.echo(f"restored snapshot {_describe_snapshot(info)}")


@sandbox.command()
@json_option
@click.pass_context
def snapshots(ctx: click.Context, as_json: bool) -> None:
    """The server's snapshots, by name: when each was taken and how many tasks it holds.

    \b
    Example:
      nxlink sandbox snapshots --json
    """
    found = _call(ctx, lambda s: s.snapshots())
    if as_json:
        _print_json({"list": found})
        return
    for info in found:
        click.echo(_describe_snapshot(info))
    click.echo(f"{len(found)} snapshot(s)", err=True)


@sandbox.command()
@click.argument("name")
@click.option("--limit", type=click.IntRange(0, 1000), default=None,
              help="The newest N records (default 100).")  # fmt: skip
@click.option("--clear", is_flag=True, help="Empty this sink.")
@json_option
@click.pass_context
def sink(ctx: click.Context, name: str, limit: int | None, clear: bool, as_json: bool) -> None:
    """The callback sink NAME: what was POSTed to /_nxlink/sink/NAME, oldest first.

    Point taskCallbackUrl or callCallbackUrl at BASE_URL/_nxlink/sink/NAME; each record says
    whether its signature is valid for the account's key (or that it came unsigned), and shows
    its body: the task's or the call record's keys at the top level, beside eventId.

    \b
    Examples:
      nxlink sandbox sink hooks
      nxlink sandbox sink hooks --limit 1 --json
      nxlink sandbox sink hooks --clear
    """
    if clear:
        if limit is not None:
            raise click.UsageError("--clear empties the whole sink: give it alone")
        cleared = _call(ctx, lambda s: s.clear_sink(name))
        _print_json({"cleared": cleared}) if as_json else click.echo(
            f"cleared {cleared} callback(s)"
        )
        return
    page = _call(ctx, lambda s: s.sink(name, limit=limit))
    if as_json:
        _print_json(page)
        return
    for record in page["list"]:
        problem = record["signatureProblem"] or ""
        if record["signatureValid"]:
            verdict = "signed"
        elif problem.startswith("unsigned:"):
            verdict = "unsigned"  # the account sends its callbacks so
        else:
            verdict = f"NOT SIGNED ({problem})"
        body = json.dumps(record["body"], ensure_ascii=False)
        click.echo(f"{record['id']:>6}  {_when(record['receivedMs'])}  {record['eventId'] or '-'}  "
                   f"{verdict}  {body}")  # fmt: skip
    click.echo(f"{len(page['list'])} of {page['total']} callback(s) in sink {name}", err=True)


@sandbox.group("callback-faults")
def callback_faults() -> None:
    """Callback faults: make deliveries wait, or their first tries fail.

    \b
    Examples:
      nxlink sandbox callback-faults add --url /_nxlink/sink/slow --delay 2000
      nxlink sandbox callback-faults list
    """


def _fault_line(fault: dict[str, Any]) -> str:
    parts = []
    if fault["failFirst"]:
        parts.append(f"first {fault['failFirst']} tries fail as HTTP {fault['failStatus']}")
    if fault["delayMs"]:
        parts.append(f"wait {fault['delayMs']} ms before each POST")
    where = f"URLs containing {fault['url']!r}" if fault["url"] else "every callback"
    return f"{fault['id']:>4}  {where}: {'; '.join(parts)}"


@callback_faults.command("list")
@json_option
@click.pass_context
def callback_faults_list(ctx: click.Context, as_json: bool) -> None:
    """The callback fault rules, oldest first.

    Example: nxlink sandbox callback-faults list --json
    """
    faults = _call(ctx, lambda s: s.callback_faults())
    if as_json:
        _print_json(faults)
        return
    for fault in faults:
        click.echo(_fault_line(fault))
    click.echo(f"{len(faults)} callback fault(s)", err=True)


@callback_faults.command("add")
@click.option("--url", default="", metavar="TEXT",
              help="Only callbacks whose URL contains TEXT (default: every callback).")  # fmt: skip
@click.option("--delay", "delay_ms", type=click.IntRange(0, 10_000), default=None, metavar="MS",
              help="Wait MS milliseconds before each POST (at most 10000).")  # fmt: skip
@click.option("--fail-first", type=click.IntRange(0, 100), default=None, metavar="N",
              help="The first N tries of each callback fail without being sent.")  # fmt: skip
@click.option("--status", "fail_status", type=click.IntRange(100, 599), default=None,
              help="The HTTP status those tries fail with (default 500).")  # fmt: skip
@json_option
@click.pass_context
def callback_faults_add(
    ctx: click.Context, url: str, delay_ms: int | None, fail_first: int | None,
    fail_status: int | None, as_json: bool,
) -> None:  # fmt: skip
    """Add a callback fault rule (the newest rule matching a callback's URL applies).

    \b
    Examples:
      nxlink sandbox callback-faults add --url /_nxlink/sink/flaky --fail-first 2 --status 503
      nxlink sandbox callback-faults add --delay 1500
    """
    fault = _call(ctx, lambda s: s.add_callback_fault(url, delay_ms=delay_ms,
                                                      fail_first=fail_first,
                                                      fail_status=fail_status))  # fmt: skip
    _print_json(fault) if as_json else click.echo(_fault_line(fault))


@callback_faults.command("remove")
@click.argument("fault_id", metavar="ID", type=click.IntRange(min=1))
@click.pass_context
def callback_faults_remove(ctx: click.Context, fault_id: int) -> None:
    """Remove the callback fault rule ID.

    Example: nxlink sandbox callback-faults remove 3
    """
    _call(ctx, lambda s: s.remove_callback_fault(fault_id))
    click.echo(f"removed callback fault {fault_id}")


@callback_faults.command("clear")
@click.pass_context
def callback_faults_clear(ctx: click.Context) -> None:
    """Remove every callback fault rule.

    Example: nxlink sandbox callback-faults clear
    """
    cleared = _call(ctx, lambda s: s.clear_callback_faults())
    click.echo(f"cleared {cleared} callback fault(s)")


@sandbox.command()
@click.option("--event", "event_id", metavar="EVENT_ID", help="Only this callback event.")
@click.option("--url", metavar="TEXT", help="Only callbacks whose URL contains TEXT.")
@click.option("--status", type=click.IntRange(100, 599), help="Only tries answered this status.")
@click.option("--delivered/--failed", "delivered", default=None,
              help="Only tries that delivered / that failed.")  # fmt: skip
@click.option("--limit", type=click.IntRange(0, 1000), default=None,
              help="The newest N matches (default 100).")  # fmt: skip
@json_option
@click.pass_context
def deliveries(
    ctx: click.Context, event_id: str | None, url: str | None, status: int | None,
    delivered: bool | None, limit: int | None, as_json: bool,
) -> None:  # fmt: skip
    """Callback delivery tries: URL, HTTP status or error, latency, oldest first.

    \b
    Examples:
      nxlink sandbox deliveries --failed
      nxlink sandbox deliveries --url /_nxlink/sink/hooks --json
    """
    page = _call(ctx, lambda s: s.deliveries(event_id=event_id, url=url, status=status,
                                             delivered=delivered, limit=limit))  # fmt: skip
    if as_json:
        _print_json(page)
        return
    for t in page["list"]:
        outcome = "delivered" if t["delivered"] else "failed"
        answer = "-" if t["status"] is None else f"HTTP {t['status']}"
        fault = f"  fault {t['fault']}" if t["fault"] else ""
        error = f"  {t['error']}" if t["error"] and not t["delivered"] else ""
        click.echo(f"{t['id']:>6}  {_when(t['endedMs'])}  {t['eventId']}  try {t['attempt']}  "
                   f"{answer}  {t['latencyMs']:.1f} ms  {outcome}{fault}  "
                   f"{t['url']}{error}")  # fmt: skip
    click.echo(f"{len(page['list'])} of {page['total']} matching tries", err=True)


# -- faults ------------------------------------------------------------------------------------


def _latency(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> int | tuple[int, int] | None:
    """``--latency MS`` or ``MS-MS``."""
    if value is None:
        return None
    low, dash, high = value.strip().partition("-")
    if not low.isdigit() or (dash and not high.isdigit()):
        raise click.BadParameter(f"expected MS or MS-MS (milliseconds), got {value!r}")
    return (int(low), int(high)) if dash else int(low)


def _describe(rule: dict[str, Any]) -> str:
    """A rule on one line: id, endpoint, what it does, for how long, its chance, its key."""
    endpoint = str(rule["endpoint"]).removeprefix(API_PREFIX)
    kind = rule["kind"]
    if kind == "latency":
        span = f"{rule['ms']}-{rule['maxMs']}" if rule["maxMs"] is not None else str(rule["ms"])
        what = f"latency {span} ms"
    elif kind == "code":
        what = f"code {rule['code']}"
    elif kind == "status":
        what = f"HTTP {rule['status']}"
        if rule["retryAfter"] is not None:
            what += f" Retry-After {rule['retryAfter']} s"
    else:
        what = kind
    if rule["message"] is not None:
        what += f" {json.dumps(rule['message'], ensure_ascii=False)}"
    times = "until removed" if rule["times"] is None else f"{rule['times']} more time(s)"
    key = rule["accessKey"] or "any key"
    return (f"{rule['id']}  {endpoint}  {what}  {times}  probability {rule['probability']:g}  "
            f"applied {rule['applied']}  {key}")  # fmt: skip


@sandbox.group()
def faults() -> None:
    """Faults on demand for API requests: added latency, a code, an HTTP status, the connection
    dropped, or no answer at all.

    Rules live in the server process that took them (each process has its own) until
    removed or used up. A request gets at most one fault, from the oldest rule that matches
    it (its endpoint, its accessKey header) and whose draw passes.

    \b
    Examples:
      nxlink sandbox faults add task/list --status 503 --retry-after 1 --times 1
      nxlink sandbox faults add all --latency 200-800 --probability 0.3
      nxlink sandbox faults add task/create --drop --access-key AK-123
      nxlink sandbox faults list
      nxlink sandbox faults remove f2
    """


@faults.command("list")
@json_option
@click.pass_context
def faults_list(ctx: click.Context, as_json: bool) -> None:
    """The fault rules, oldest first: id, endpoint, what it does, for how long, its chance,
    how many requests it has faulted, its access key.

    \b
    Example:
      nxlink sandbox faults list --json
    """
    rules = _call(ctx, lambda s: s.faults())
    if as_json:
        _print_json(rules)
        return
    for rule in rules:
        click.echo(_describe(rule))
    click.echo(f"{len(rules)} fault(s)", err=True)


@faults.command("add")
@click.argument("endpoint")
@click.option("--code", type=int, help="Answer the envelope with this code (HTTP 200).")
@click.option("--message", metavar="TEXT",
              help="The answer's message (needed with --code but 1001-1005).")  # fmt: skip
@click.option("--status", type=int, help="Answer this HTTP status (400-599) with the envelope.")
@click.option("--retry-after", type=int, metavar="S", help="With --status: Retry-After seconds.")
@click.option("--latency", callback=_latency, metavar="MS[-MS]",
              help="Delay the normal answer this long (or a draw from the range).")  # fmt: skip
@click.option("--drop", is_flag=True, help="Close the connection without an answer.")
@click.option("--hang", is_flag=True, help="No answer until the client gives up.")
@click.option("--times", type=int, metavar="N", help="For the next N requests (default: until "
              "removed).")  # fmt: skip
@click.option("--probability", type=float, metavar="P",
              help="The chance it applies to each request, 0 to 1 (default 1).")  # fmt: skip
@click.option("--access-key", metavar="KEY", help="Only requests with this access key.")
@json_option
@click.pass_context
def faults_add(
    ctx: click.Context, endpoint: str, code: int | None, message: str | None,
    status: int | None, retry_after: int | None, latency: int | tuple[int, int] | None,
    drop: bool, hang: bool, times: int | None, probability: float | None,
    access_key: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Add a fault for ENDPOINT (the path after /openapi/aiagent/, e.g. task/list, or all).

    Give one of --code, --status, --latency, --drop, --hang. A faulted request is not
    run (a latency delays it, then it runs).

    \b
    Examples:
      nxlink sandbox faults add task/list --status 503 --retry-after 1 --times 1
      nxlink sandbox faults add task/list --code 1004
      nxlink sandbox faults add all --latency 200-800 --probability 0.3
      nxlink sandbox faults add task/create --drop --access-key AK-123
    """
    flags = {"--code": code is not None, "--status": status is not None,
             "--latency": latency is not None, "--drop": drop, "--hang": hang}  # fmt: skip
    kinds = [flag for flag, given in flags.items() if given]
    if len(kinds) != 1:
        got = f" (got {', '.join(kinds)})" if kinds else ""
        raise click.UsageError(f"give one of {', '.join(flags)}{got}")
    rule = _call(ctx, lambda s: s.add_fault(
        endpoint, latency_ms=latency, code=code, message=message, status=status,
        retry_after=retry_after, drop=drop, hang=hang, times=times, probability=probability,
        access_key=access_key,
    ))  # fmt: skip
    _print_json(rule) if as_json else click.echo(f"added {_describe(rule)}")


@faults.command("remove")
@click.argument("fault_id", metavar="ID")
@json_option
@click.pass_context
def faults_remove(ctx: click.Context, fault_id: str, as_json: bool) -> None:
    """Remove the fault ID (as listed: f1, f2, ...).

    \b
    Example:
      nxlink sandbox faults remove f2
    """
    rule = _call(ctx, lambda s: s.remove_fault(fault_id))
    _print_json(rule) if as_json else click.echo(f"removed {_describe(rule)}")


@faults.command("clear")
@json_option
@click.pass_context
def faults_clear(ctx: click.Context, as_json: bool) -> None:
    """Remove every fault.

    \b
    Example:
      nxlink sandbox faults clear
    """
    cleared = _call(ctx, lambda s: s.clear_faults())
    _print_json({"cleared": cleared}) if as_json else click.echo(f"cleared {cleared} fault(s)")
