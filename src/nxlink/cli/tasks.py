"""``nxlink tasks list``: the task list over the API, as a table, JSON, JSON lines or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import IO, Any, Final, TextIO

import click

from nxlink.cli.options import client_options
from nxlink.cli.output import display_width, print_table, when
from nxlink.client import NxError, StatInfo, Task, TaskIterator, TaskStatus
from nxlink.client.models import STATUS_NAMES, parse_status

FORMATS: Final = ("table", "json", "jsonl", "csv")
#: The CSV columns: the task's fields, then its statInfo's as ``statInfo.<key>``.
TASK_COLUMNS: Final = tuple(
    info.alias or name for name, info in Task.model_fields.items() if name != "stat_info"
)
STAT_COLUMNS: Final = tuple(info.alias or name for name, info in StatInfo.model_fields.items())
CSV_COLUMNS: Final = TASK_COLUMNS + tuple(f"statInfo.{key}" for key in STAT_COLUMNS)
NAME_WIDTH: Final = 40
#: Exit status after the reader of our output went away (``| head``), as for SIGPIPE.
EXIT_BROKEN_PIPE: Final = 141


class StatusParam(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A task status: its number or its word."""

    name = "status"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, TaskStatus):
            return value
        try:
            return parse_status(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class WhenParam(click.ParamType):  # type: ignore[type-arg]
    """A date (``2026-01-31``), a datetime (``2026-01-31T08:00``, naive is UTC) or epoch seconds."""

    name = "when"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.date | int):
            return value
        text = str(value).strip()
        if text.isascii() and text.isdigit():
            seconds = int(text)
            if seconds >= 10**11:
                self.fail(f"{text} looks like epoch milliseconds; give seconds", param, ctx)
            return seconds
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            return dt.datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{text!r} is not a date (2026-01-31), a datetime (2026-01-31T08:00:00, "
                "optionally with Z or +08:00) or epoch seconds",
                param,
                ctx,
            )


def _name(text: str) -> str:
    text = " ".join(text.split())  # a newline or tab in a name would break the table
    if display_width(text) <= NAME_WIDTH:
        return text
    cut = ""
    for ch in text:
        if display_width(cut + ch) > NAME_WIDTH - 1:
            break
        cut += ch
    return cut + "…"


def _tasks(count: int) -> str:
    return f"{count:,} task" if count == 1 else f"{count:,} tasks"


def _status_word(task: Task) -> str:
    status = task.status
    return STATUS_NAMES[status] if status is not None else str(task.task_status)


def table_row(task: Task) -> tuple[str, ...]:
    """A task as the table shows it: name, status, contacts, dial progress, answer rate,
    created."""
    stat = task.stat_info
    return (
        _name(task.task_name),
        _status_word(task),
        f"{stat.total_order_count:,}",
        stat.dial_progress or "-",
        stat.answer_rate or "-",
        when(task.create_ts),
    )


TABLE_HEADERS: Final = ("name", "status", "contacts", "dial progress", "answer rate", "created")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def csv_row(task: Task) -> list[str]:
    """A task as a CSV row of :data:`CSV_COLUMNS`; ``null`` is an empty cell."""
    wire = task.to_wire()
    stat = wire.get("statInfo") or {}
    return [_cell(wire.get(key)) for key in TASK_COLUMNS] + [
        _cell(stat.get(key)) for key in STAT_COLUMNS
    ]


def _write_json(tasks: Iterable[Task]) -> None:
    first = True
    for task in tasks:
        text = json.dumps(task.to_wire(), ensure_ascii=False, indent=2).replace("\n", "\n  ")
        click.echo(("[\n  " if first else ",\n  ") + text, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def _write_jsonl(tasks: Iterable[Task]) -> None:
    for task in tasks:
        click.echo(json.dumps(task.to_wire(), ensure_ascii=False, separators=(",", ":")))


def _write_csv(tasks: Iterable[Task]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    click.echo(buffer.getvalue(), nl=False)
    for task in tasks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(csv_row(task))
        click.echo(buffer.getvalue(), nl=False)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def with_progress(tasks: TaskIterator, stream: TextIO) -> Iterator[Task]:
    """Pass ``tasks`` through while a progress bar on ``stream`` counts them against the
    latest ``total`` (click draws only the label when ``stream`` is not a terminal)."""
    with ExitStack() as stack:
        bar = None
        for task in tasks:
            total = tasks.total or 0
            if bar is None:
                bar = stack.enter_context(
                    click.progressbar(length=total, label="tasks", file=stream, show_pos=True)
                )
            bar.length = max(total, bar.pos + 1)
            bar.update(1)
            yield task


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


@click.group()
def tasks() -> None:
    """Query the task list of your account over the API.

    Uses the global --base-url/--region, --access-key and --secret options.

    Example: nxlink tasks list --status in-progress --min-answer-rate 50
    """


@tasks.command("list")
@click.option("--name", help="Task name contains TEXT (case-insensitive).")
@click.option(
    "--status",
    type=StatusParam(),
    help="1-6, or ready, in-progress, completed, failed, paused, paused-balance.",
)
@click.option(
    "--created-from",
    type=WhenParam(),
    help="Created at or after: a date (UTC day), a datetime (naive is UTC) or epoch seconds.",
)
@click.option(
    "--created-to",
    type=WhenParam(),
    help="Created at or before; a date means through the end of that day.",
)
@click.option(
    "--min-answer-rate",
    type=click.FloatRange(0, 100),
    help="Answer rate at least this percentage (tasks without calls are left out).",
)
@click.option(
    "--max-answer-rate", type=click.FloatRange(0, 100), help="Answer rate at most this percentage."
)
@click.option("--min-contacts", type=click.IntRange(min=0), help="At least N contacts.")
@click.option("--max-contacts", type=click.IntRange(min=0), help="At most N contacts.")
@click.option("--page", type=click.IntRange(min=1), help="Page number (default 1).")
@click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    help="Tasks per request (default 10; 1000 with --all).",
)
@click.option(
    "--all",
    "fetch_all",
    is_flag=True,
    help="Every matching task, page after page (progress bar on stderr).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    help="Output format [default: table on a terminal, jsonl when piped].",
)
@click.pass_context
def tasks_list(
    ctx: click.Context,
    name: str | None,
    status: TaskStatus | None,
    created_from: dt.date | int | None,
    created_to: dt.date | int | None,
    min_answer_rate: float | None,
    max_answer_rate: float | None,
    min_contacts: int | None,
    max_contacts: int | None,
    page: int | None,
    page_size: int | None,
    fetch_all: bool,
    output_format: str | None,
) -> None:
    """List tasks, newest first, with their statistics.

    Exit status: 0 success, 1 the API answered an error or did not answer (the message and
    traceId go to stderr), 2 bad usage.

    \b
    Examples:
      nxlink tasks list --status in-progress --created-from 2026-01-01
      nxlink tasks list --name renewal --min-answer-rate 50 --format json
      nxlink tasks list --all --format csv > tasks.csv
    """
    if fetch_all and page is not None:
        raise click.UsageError("--page and --all exclude each other")
    options = client_options(ctx)
    fmt = output_format or ("table" if _is_terminal(sys.stdout) else "jsonl")
    filters: dict[str, Any] = {
        "task_name": name, "task_status": status, "created_from": created_from,
        "created_to": created_to, "min_answer_rate": min_answer_rate,
        "max_answer_rate": max_answer_rate, "min_contacts": min_contacts,
        "max_contacts": max_contacts,
    }  # fmt: skip
    with options.client() as client:
        try:
            rows: Iterable[Task]
            footer: str
            if fetch_all:
                walk = client.tasks.iter(**filters, page_size=page_size or 1000)
                rows = walk
                # A bar on the terminal, unless the tasks themselves stream onto it.
                if _is_terminal(sys.stderr) and (fmt == "table" or not _is_terminal(sys.stdout)):
                    rows = with_progress(walk, sys.stderr)
                if fmt == "table":
                    rows = list(rows)
                    footer = _tasks(len(rows)) if rows else "no matching tasks"
            else:
                result = client.tasks.list(**filters, page=page or 1, page_size=page_size or 10)
                rows = result.tasks
                footer = (
                    f"page {result.page_number:,} of {result.page_count:,} ({_tasks(result.total)})"
                    if result.total
                    else "no matching tasks"
                )
            if fmt == "table":
                print_table(TABLE_HEADERS, [table_row(task) for task in rows])
                click.echo(footer)
            elif fmt == "json":
                _write_json(rows)
            elif fmt == "jsonl":
                _write_jsonl(rows)
            else:
                _write_csv(rows)
        except NxError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
