"""``nxlink callbacks``: the callback outbox on the database directly (list, retry), and a local
receiver to try callbacks out (listen)."""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import click

from nxlink import signing
from nxlink.cli.common import db_option, opened
from nxlink.cli.options import client_options
from nxlink.cli.output import print_table, when

if TYPE_CHECKING:
    from nxlink.store.base import OutboxItem

TABLE_HEADERS: Final = (
    "id", "eventId", "kind", "state", "attempts", "next try", "last status", "last error", "url",
)  # fmt: skip
#: Characters of the last error shown in the table (``--format json`` has all of it).
ERROR_WIDTH: Final = 60


def _error_cell(text: str) -> str:
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"


def table_row(item: OutboxItem) -> tuple[Any, ...]:
    """A callback as the table shows it; the next try only while one is due."""
    next_try = when(item.next_attempt_ms // 1000) if item.state == "pending" else ""
    return (item.id, item.event_id, item.kind, item.state, item.attempts, next_try,
            item.last_status, _error_cell(item.last_error), item.url)  # fmt: skip


def json_object(item: OutboxItem) -> dict[str, Any]:
    """A callback as ``--format json`` prints it (times in epoch milliseconds), with its body
    as it is POSTed: the vendor's flat event (``eventId``, ``eventType``, ``eventTs``, then the
    task's or the call record's keys)."""
    return {
        "id": item.id,
        "eventId": item.event_id,
        "kind": item.kind,
        "state": item.state,
        "attempts": item.attempts,
        "nextAttemptMs": item.next_attempt_ms if item.state == "pending" else None,
        "lastStatus": item.last_status,
        "lastError": item.last_error,
        "url": item.url,
        "createdMs": item.created_ms,
        "deliveredMs": item.delivered_ms,
        "body": event_of(item.body) or item.body.decode("utf-8", "replace"),
    }


@click.group()
def callbacks() -> None:
    """Inspect and retry the task and call callbacks waiting in the outbox.

    \b
    Examples:
      nxlink callbacks list --failed
      nxlink callbacks listen --port 9000
    """


@callbacks.command("list")
@click.option("--failed", "failed_only", is_flag=True, help="Only callbacks that gave up.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True,
              help="Show at most N callbacks.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="Output format.")  # fmt: skip
@db_option
def callbacks_list(failed_only: bool, limit: int, fmt: str, db_url: str) -> None:
    """List callbacks, newest first, with their delivery state (--format json adds each
    one's body, as it is POSTed).

    Example: nxlink callbacks list --failed --limit 20
    """
    with opened(db_url) as store:
        items = store.list_callbacks(failed_only=failed_only, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([json_object(item) for item in items], ensure_ascii=False, indent=2))
    else:
        print_table(TABLE_HEADERS, [table_row(item) for item in items])


@callbacks.command("retry")
@click.argument("item_id", metavar="ID", type=int)
@db_option
def callbacks_retry(item_id: int, db_url: str) -> None:
    """Make callback ID due now, with a fresh round of tries.

    Example: nxlink callbacks retry 42
    """
    with opened(db_url) as store:
        if not store.retry_callback(item_id, now_ms=time.time_ns() // 1_000_000):
            if store.get_callback(item_id) is None:
                raise click.ClickException(f"no callback {item_id}")
            raise click.ClickException(f"callback {item_id} was delivered")
    click.echo(f"retried callback {item_id}: due now")


#: The answer to a delivery that the listener fails on purpose (``--fail-first``).
FAIL_BODY: Final = b"failing on purpose\n"
#: The header naming the event of a delivery, lower-case as the listener reads header names.
EVENT_ID_HEADER: Final = "x-nxlink-event-id"


def check_signature(headers: Mapping[str, str], body: bytes, secret: str | None) -> str:
    """``ok``, ``BAD``, ``none (unsigned)`` or ``not checked (no secret)`` for the five auth
    headers of a delivery.

    ``headers`` has lower-case names. None of the five is an unsigned callback (its account
    sends them so); some missing, or an unknown ``algorithm``, is ``BAD``.
    """
    names = ("sign", "accesskey", "ts", "action", "biztype")
    if not any(name in headers for name in names):
        return "none (unsigned)"
    if not secret:
        return "not checked (no secret)"
    algorithm = signing.normalize_algorithm(headers.get("algorithm"))
    if algorithm is None or any(name not in headers for name in names):
        return "BAD"
    ok = signing.verify(
        headers["sign"],
        access_key=headers["accesskey"],
        access_secret=secret,
        ts=headers["ts"],
        body=body,
        action=headers["action"],
        biz_type=headers["biztype"],
        algorithm=algorithm,
    )
    return "ok" if ok else "BAD"


def _word(value: Any) -> str:
    """A field of the event as one word: ``?`` when missing, JSON when not a plain string."""
    if value is None:
        return "?"
    if isinstance(value, str) and value and not any(char.isspace() for char in value):
        return value
    return json.dumps(value, ensure_ascii=False)


def event_of(body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery body; empty when the body is not one."""
    try:
        event = json.loads(body)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def event_id_of(event: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """The delivery's ``eventId``, else its ``X-Nxlink-Event-Id`` header."""
    event_id = event.get("eventId")
    if isinstance(event_id, str) and event_id:
        return event_id
    return headers.get(EVENT_ID_HEADER) or None


def describe(event: Mapping[str, Any], event_id: str | None) -> str:
    """``<eventType> <eventId> taskId=<...> [taskStatus=<n>|contactId=<...> callResult=<n>]``
    for an event (the vendor's body: the task's or the call's keys at the top level)."""
    kind = event.get("eventType")
    words = [_word(kind), _word(event_id)]
    if kind == "call.completed":
        words.append(f"taskId={_word(event.get('taskId'))}")
        words.append(f"contactId={_word(event.get('contactId'))}")
        words.append(f"callResult={_word(event.get('callResult'))}")
    else:
        words.append(f"taskId={_word(event.get('taskId'))}")
        if kind == "task.status":
            words.append(f"taskStatus={_word(event.get('taskStatus'))}")
    return " ".join(words)


class Listener:
    """What ``nxlink callbacks listen`` decides for each delivery, shared by its threads.

    The first ``fail_first`` deliveries are answered 500, the rest 200; an eventId answered 200
    before is a duplicate. ``count`` (``None``: no limit) deliveries answered 200 finish it.
    """

    def __init__(self, *, secret: str | None, fail_first: int, count: int | None) -> None:
        self.secret = secret
        self.fail_left = fail_first
        self.count = count
        self.accepted = 0
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def receive(self, headers: Mapping[str, str], body: bytes) -> tuple[int, bool]:
        """Print the line of one delivery; return its status and whether it was the last one.

        ``headers`` has lower-case names.
        """
        event = event_of(body)
        event_id = event_id_of(event, headers)
        signature = check_signature(headers, body, self.secret)
        with self._lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                status, note = 500, f" (failing on purpose, {self.fail_left} left)"
            else:
                status = 200
                note = " (duplicate)" if event_id in self.seen else ""
                if event_id is not None:
                    self.seen.add(event_id)
                self.accepted += 1
            stamp = datetime.now().strftime("%H:%M:%S")
            click.echo(
                f"{stamp} {describe(event, event_id)} signature {signature} -> {status}{note}"
            )
            last = status == 200 and self.accepted == self.count
        return status, last


class _Server(http.server.ThreadingHTTPServer):
    # A client that keeps its connection open must not hold up the end of the command.
    block_on_close = False

    def __init__(self, address: tuple[str, int], listener: Listener) -> None:
        self.listener = listener
        super().__init__(address, _Receiver)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's name, which can stall on a missing DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_port = self.server_address[1]


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Receiver(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return
        body = self.rfile.read(max(0, length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, last = self.server.listener.receive(headers, body)
        payload = b"" if status == 200 else FAIL_BODY
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if last:
            self.server.shutdown()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the one line per delivery replaces the access log


@callbacks.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=9000, show_default=True,
              help="Port to listen on (0 picks a free one).")  # fmt: skip
@click.option("--fail-first", type=click.IntRange(0), default=0, show_default=True,
              metavar="N", help="Answer 500 to the first N deliveries.")  # fmt: skip
@click.option("--count", type=click.IntRange(1), default=None, metavar="N",
              help="Stop after N deliveries answered 200 [default: run until Ctrl-C].")  # fmt: skip
@click.pass_context
def callbacks_listen(
    ctx: click.Context, host: str, port: int, fail_first: int, count: int | None
) -> None:
    """Receive callbacks on a local HTTP port and print one line per delivery.

    Point a task's taskCallbackUrl or callCallbackUrl at http://HOST:PORT/ to see what the
    service sends. Each POST is answered 200 (a 500 to the first --fail-first ones, to watch
    the retries) and printed with its event, its signature check against the secret of
    --secret or NXLINK_ACCESS_SECRET, and the answer; an eventId answered 200 before is marked
    (duplicate).

    \b
    Examples:
      nxlink callbacks listen --port 9000
      nxlink callbacks listen --port 9000 --fail-first 3
      nxlink callbacks listen --port 0 --count 1
    """
    listener = Listener(secret=client_options(ctx).secret, fail_first=fail_first, count=count)
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), listener)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    shown = f"[{host}]" if ":" in host else host
    try:
        click.echo(f"listening on http://{shown}:{server.server_port}/", err=True)
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
