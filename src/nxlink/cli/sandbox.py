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
