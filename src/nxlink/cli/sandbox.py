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
