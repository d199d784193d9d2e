"""Connection limits: uvicorn's httptools protocol with the bounds it lacks.

``nxlink serve`` runs uvicorn with ``http="nxlink.server.protocol:LimitedHttpToolsProtocol"``.
uvicorn itself bounds neither the size nor the duration of a request's header section, and lets
every connection in until the process runs out of file descriptors. This subclass adds, in each
worker process (the settings are ``NXLINK_*``, see :class:`~nxlink.server.settings.Settings`):

* **Size.** The header section (the request target and every header line, ``name: value`` and
  its line end, as parsed) at most ``max_header_bytes``, and at most ``max_headers`` fields:
  else 431. While the section is still arriving, the bytes received so far are counted too, so
  that one endless header is refused once it passes the limit (plus :data:`FRAMING_SLACK` for
  the request line's framing and spacing) instead of being buffered to its end.
* **Time.** The header section complete within ``header_timeout_s`` of the connection, or of the
  first byte of a later request on a kept-alive connection: else 408 (or, when not one byte of a
  request came, the connection just closes: there is nothing to answer). (The body's deadline,
  ``body_timeout_s``, is kept by the app, which reads the body.) An idle kept-alive connection
  closes after ``keep_alive_s`` (uvicorn's own timer).
* **Count.** At most :func:`connection_cap` connections. A new connection beyond it closes the
  oldest idle kept-alive connection (a client expects those to close at any time), else gives
  up the oldest connection still sending its header section (408, as above), else is refused itself
  (503 with ``Retry-After``). The connections a slow client holds are thus the first given up,
  and cannot lock an ordinary client out.
* **Unread bodies.** A response completed before its request's body ended (``/healthz`` reads
  no body; a 413 stops reading) ends the connection, so an unread body never holds it.
* **Faults.** Each request's scope carries the extension ``nxlink.connection``
  (:data:`~nxlink.server.faults.CONNECTION_EXTENSION`): ``close()`` ends the connection with
  no answer (the sandbox's ``drop`` fault: the app returns without one, and no 500 replaces
  it), ``hold()`` marks a request held unanswered on purpose (``hang``), which a shutdown
  closes instead of waiting for.
* **Shutdown.** On SIGTERM a request still sending its header section or its body (nothing of
  it has been processed) is answered 503 with ``Retry-After`` at once, instead of holding the
  shutdown up until the graceful timeout and then getting uvicorn's plain-text 500.

Every refusal is the contract's envelope (:func:`nxlink.server.envelope.refusal`: code 20000, a
fresh ``traceId``), written straight to the transport, with ``connection: close``; so is a
request the parser cannot read (400). A client that may still be sending (431, 400, the 503 of a
full table) is half-closed and read for up to :data:`LINGER_S` more, so that it reads the answer
rather than a reset. Websocket upgrades are not served (``ws="none"``).

This subclass relies on uvicorn's httptools protocol internals (the parser callbacks, ``cycle``,
``connections``, the keep-alive timer); ``pyproject.toml`` pins uvicorn to one minor version.
"""

from __future__ import annotations

import asyncio
import functools
import resource
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from nxlink.server.envelope import refusal
from nxlink.server.faults import CONNECTION_EXTENSION
from nxlink.server.settings import Settings

#: Bytes a header section may take on the wire beyond what the limit counts (the method, the
#: protocol version, spaces around values, line ends) before it is refused while incomplete.
FRAMING_SLACK = 1024
#: File descriptors kept for everything but connections: the listening socket, standard
#: streams, the event loop's own, log files, the callback deliverer's and dialer's sockets.
FD_RESERVE = 64
#: File descriptors kept per database thread (a SQLite connection holds the database and its
#: ``-wal``; a PostgreSQL connection, one socket).
FDS_PER_DB_THREAD = 4
#: The connection cap when the open-file limit is unlimited.
UNLIMITED_CAP = 65_536
#: How long a refused connection still reads (and drops) what its client sends after the
#: refusal, so that closing with unread bytes does not reset the connection before the client
#: has read the answer; and how many connections may do so at once (out of :data:`FD_RESERVE`).
LINGER_S = 2.0
MAX_LINGERING = 16


class ConnectionLimitError(ValueError):
    """``NXLINK_MAX_CONNECTIONS`` does not fit the process's open-file limit."""


def fd_reserve(settings: Settings) -> int:
    """The file descriptors a worker keeps for other things than connections."""
    threads = settings.db_threads + settings.db_write_threads + 1  # + the readiness probe
    return FD_RESERVE + FDS_PER_DB_THREAD * threads


def connection_cap(settings: Settings, *, nofile: int | None = None) -> int:
    """The most connections a worker keeps open: ``max_connections``, or by default the
    open-file limit (``nofile``, default this process's soft ``RLIMIT_NOFILE``) less
    :func:`fd_reserve`.

    Raises :class:`ConnectionLimitError` (one line, for the operator) when the setting does not
    fit the limit: past it, ``accept()`` fails and the kernel's queue fills with connections
    that are never answered.
    """
    if nofile is None:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    reserve = fd_reserve(settings)
    unlimited = nofile == resource.RLIM_INFINITY
    room = UNLIMITED_CAP if unlimited else nofile - reserve
    wanted = settings.max_connections
    if wanted is None:
        if room < 1:
            raise ConnectionLimitError(
                f"the open-file limit of {nofile} (ulimit -n) leaves no connections beside the "
                f"{reserve} file descriptors kept for the database, logs and listener: raise it"
            )
        return room
    if not unlimited and wanted > room:
        raise ConnectionLimitError(
            f"NXLINK_MAX_CONNECTIONS={wanted} does not fit the open-file limit of {nofile} "
            f"(ulimit -n) less the {reserve} kept for the database, logs and listener: "
            f"set it to at most {room}, or raise the limit"
        )
    return wanted


@dataclass(frozen=True)
class Limits:
    """The bounds one worker enforces (from :class:`Settings`)."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    max_connections: int
    retry_after_s: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_s,
            max_connections=connection_cap(settings),
            retry_after_s=settings.retry_after_s,
        )


class Connections:
    """One server's connections as the limits see them: those counted against the cap, and
    the ones a new connection may take the place of, oldest first."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.admitted: set[LimitedHttpToolsProtocol] = set()
        self.sending_headers: OrderedDict[LimitedHttpToolsProtocol, None] = OrderedDict()
        self.idle: OrderedDict[LimitedHttpToolsProtocol, None] = OrderedDict()
        self.lingering = 0

    def make_room(self) -> bool:
        """Whether one more connection may be admitted, giving up another one if need be."""
        if len(self.admitted) < self.limits.max_connections:
            return True
        if self.idle:
            oldest, _ = self.idle.popitem(last=False)
            oldest.close_idle()
            return True
        if self.sending_headers:
            oldest, _ = self.sending_headers.popitem(last=False)
            oldest.give_up_headers(
                "header section: not complete while the server is at its limit of "
                f"{self.limits.max_connections} connections"
            )
            return True
        return False

    def forget(self, connection: LimitedHttpToolsProtocol) -> None:
        """``connection`` is closing: it no longer counts, and cannot be given up again."""
        self.admitted.discard(connection)
        self.sending_headers.pop(connection, None)
        self.idle.pop(connection, None)


_servers: weakref.WeakKeyDictionary[ServerState, Connections] = weakref.WeakKeyDictionary()


def _connections_of(server_state: ServerState) -> Connections:
    """The table of one uvicorn server (one per worker process), made with its first
    connection from the settings in the environment (the same the app reads)."""
    table = _servers.get(server_state)
    if table is None:
        table = _servers[server_state] = Connections(Limits.from_settings(Settings()))
    return table


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that passed a limit."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol, with the limits of this module."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.table = _connections_of(server_state)
        self.limits = self.table.limits
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0  # received while the header section is incomplete
        self._header_count = 0
        self._too_large: str | None = None  # why a parser callback stopped the request
        self._linger_timer: asyncio.TimerHandle | None = None
        self._held: RequestResponseCycle | None = None  # a request held unanswered (hang)

    # -- the connection ------------------------------------------------------------------------
    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        if not self.table.make_room():
            self.transport = transport  # never counted: connection_lost has nothing to undo
            message = f"too many connections (limit {self.limits.max_connections}), try again"
            self.refuse(503, message, retry_after_s=self.limits.retry_after_s, linger=True)
            return
        super().connection_made(transport)
        self.table.admitted.add(self)
        self._start_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_headers()
        self.table.forget(self)
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
            self.table.lingering -= 1
        super().connection_lost(exc)

    def refuse(
        self, status: int, message: str, *, retry_after_s: int | None = None, linger: bool = False
    ) -> None:
        """Answer ``status`` with the envelope and end the connection (the request is not
        processed). With ``linger``, for a client that may still be sending: half-close, drop
        what still comes, and close when the client does or after :data:`LINGER_S`."""
        self._end_headers()
        self.table.forget(self)
        if self.transport.is_closing() or self._linger_timer is not None:
            return
        self.transport.write(refusal(status, message, retry_after_s=retry_after_s))
        if linger and self.table.lingering < MAX_LINGERING and self.transport.can_write_eof():
            self.table.lingering += 1
            self.transport.write_eof()
            self._linger_timer = self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def close_idle(self) -> None:
        """Close a connection with no request under way (to make room, or in time)."""
        self._end_headers()
        self.table.forget(self)
        self._unset_keepalive_if_required()
        self.transport.close()

    def give_up_headers(self, message: str) -> None:
        """Stop waiting for a header section: 408 if part of one came, else just close (no
        request has begun, so there is nothing to answer)."""
        if self._header_bytes:
            self.refuse(408, message)
        else:
            self.close_idle()

    # -- the header section --------------------------------------------------------------------
    def _start_headers(self) -> None:
        self._header_bytes = 0
        self._header_count = 0
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout_s, self._headers_too_slow
        )
        self.table.sending_headers[self] = None

    def _end_headers(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
            self.table.sending_headers.pop(self, None)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self.give_up_headers(
            f"header section: not received within {self.limits.header_timeout_s:g} s"
        )

    def _too_many_bytes(self) -> str:
        return f"header section: larger than the limit of {self.limits.max_header_bytes} bytes"

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing() or self._linger_timer is not None:
            return  # refused or ending: what comes is dropped
        self._unset_keepalive_if_required()
        self.table.idle.pop(self, None)
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._start_headers()  # the first bytes of this connection's next request
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self._too_large is not None:
                self.refuse(431, self._too_large, linger=True)
            else:
                self.refuse(400, "invalid HTTP request", linger=True)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            self.refuse(400, f"invalid HTTP request: {str(exc)[:100]}", linger=True)
            return
        if self._header_timer is not None:  # the section is still incomplete
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes + FRAMING_SLACK:
                self.refuse(431, self._too_many_bytes(), linger=True)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._start_headers()  # a pipelined request, begun while another is answered

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._too_large = f"header section: more than {self.limits.max_headers} headers"
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._end_headers()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._too_large = self._too_many_bytes()
            raise _Refused
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # a request, not an upgrade
            extensions = self.scope.setdefault("extensions", {})
            extensions[CONNECTION_EXTENSION] = {
                "close": functools.partial(self._drop, cycle),
                "hold": functools.partial(self._hold, cycle),
            }

    # -- faults ----------------------------------------------------------------------------------
    def _drop(self, cycle: RequestResponseCycle) -> None:
        """End the connection now, sending nothing more: the app's ``close()``."""
        if self._held is cycle:
            self._held = None
        cycle.disconnected = True  # send() drops what comes; run_asgi sends no 500
        cycle.keep_alive = False
        cycle.message_event.set()
        self.transport.close()

    def _hold(self, cycle: RequestResponseCycle) -> None:
        """``cycle``'s app is not answering on purpose: a shutdown closes it."""
        self._held = cycle

    # -- after the answer ----------------------------------------------------------------------
    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and cycle.more_body:
            self.transport.close()  # answered before its body ended: the rest is not read
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # now idle until the next request
            self.table.idle[self] = None

    def shutdown(self) -> None:
        if self._held is not None:
            self._drop(self._held)
            return
        cycle = self.cycle
        sending_headers = self._header_timer is not None and self._header_bytes > 0
        sending_body = cycle is not None and not cycle.response_started and cycle.more_body
        if sending_headers or sending_body:
            if cycle is not None and sending_body:
                cycle.disconnected = True  # the app's receive() answers http.disconnect
                cycle.message_event.set()
            retry_after_s = self.limits.retry_after_s
            self.refuse(503, "server shutting down, try again", retry_after_s=retry_after_s)
            return
        super().shutdown()
