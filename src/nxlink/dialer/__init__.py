"""Dialers: what places the calls of in-progress tasks.

A dialer uses two operations of the service (:mod:`nxlink.service.lifecycle`): ``claim`` due
orders (the service enforces ``maxCall``, ``orderMaxCall``, ``replayInterval``, the balance,
the schedule and the calling window) and ``report`` each call's outcome. :class:`DialerPort`
binds them to a store and a dialer identity. The shipped dialer is
:class:`~nxlink.dialer.simulator.Simulator`; a telephony layer would use the same port.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable

from nxlink.service import lifecycle
from nxlink.service.lifecycle import CallOutcome, Clock
from nxlink.service.recordings import RecordingLinks
from nxlink.store import Store
from nxlink.store.base import Claim

__all__ = ["CallOutcome", "Claim", "DialerPort", "dialled_number", "new_dialer_id"]


def new_dialer_id(kind: str = "dialer") -> str:
    """Unique per process and start: host, pid and a random suffix."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def dialled_number(phone: str, country_code: str) -> str:
    """The number as dialled (``realPhone``): its digits in international form, ``+`` first.

    A number given with ``+`` (or the ``00`` prefix) is already international; otherwise its
    trunk prefix (one leading ``0``) gives way to ``country_code`` (the contact's, else the
    route's). Without a country code the digits are taken as international.
    """
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.lstrip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    code = "".join(ch for ch in country_code if ch.isdigit())
    if code and digits.startswith("0"):
        digits = digits[1:]
    return "+" + code + digits


def _real_ms() -> int:
    return time.time_ns() // 1_000_000


class DialerPort:
    """The two operations a dialer needs, for one dialer identity."""

    def __init__(
        self,
        store: Store,
        *,
        dialer_id: str | None = None,
        lease_seconds: int = 7_800,
        clock_ms: Callable[[], int] | None = None,
        links: RecordingLinks | None = None,
    ) -> None:
        self.store = store
        #: Signs the recordings' links in call callbacks (default: the server's default
        #: address, the database's key).
        self.links = links or RecordingLinks(store)
        self.dialer_id = dialer_id or new_dialer_id()
        #: How long a claim stays this dialer's without a report (dialer clock): longer than
        #: any call, so that only a dialer that stopped loses its claims.
        self.lease_seconds = lease_seconds
        self.clock_ms = clock_ms or _real_ms

    def claim(self, now: int) -> list[Claim]:
        """Claim the orders due at ``now`` (dialer clock, epoch s)."""
        return lifecycle.claim(
            self.store,
            now,
            dialer_id=self.dialer_id,
            lease_seconds=self.lease_seconds,
            now_ms=self.clock_ms(),
        )

    def report(self, held: Claim, outcome: CallOutcome, *, now: int) -> bool:
        """Record the outcome of a call this dialer claimed; False if the claim was lost."""
        return lifecycle.report(self.store, held, outcome, dialer_id=self.dialer_id,
                                clock=Clock(now, self.clock_ms()), links=self.links)  # fmt: skip

    def release(self) -> int:
        """This dialer stops: give back every claim it holds (see ``lifecycle.release``)."""
        return lifecycle.release(self.store, dialer_id=self.dialer_id)

    def fire_schedules(self, now: int) -> int:
        return lifecycle.fire_schedules(self.store, now, clock=Clock(now, self.clock_ms()))

    def next_event(self, now: int) -> int | None:
        """When this dialer must look again (``lifecycle.next_dialer_event``)."""
        return lifecycle.next_dialer_event(self.store, now, dialer_id=self.dialer_id)
