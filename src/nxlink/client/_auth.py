"""Request signing as an :class:`httpx.Auth`, shared by the sync and async clients."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import httpx

from nxlink import signing

__all__ = ["NxlinkAuth", "system_clock_ms"]


def system_clock_ms() -> int:
    """The system clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class NxlinkAuth(httpx.Auth):
    """Adds the five NXLink auth headers, signing the exact bytes of the request body.

    Works with any httpx client, sync or async::

        auth = NxlinkAuth("AK-...", "secret")
        httpx.post(url, content=b'{"pageSize":5}', auth=auth,
                   headers={"Content-Type": "application/json"})

    ``clock`` returns the time to put in ``ts`` (epoch milliseconds; default the system clock).
    Each request, including each retry, is signed afresh with the clock's current time.
    """

    requires_request_body = True

    def __init__(
        self,
        access_key: str,
        access_secret: str,
        *,
        algorithm: signing.Algorithm = "md5",
        clock: Callable[[], int] = system_clock_ms,
    ) -> None:
        self.access_key = access_key
        self._secret = access_secret
        self.algorithm = algorithm
        self.clock = clock

    def __repr__(self) -> str:
        return f"NxlinkAuth(access_key={self.access_key!r}, algorithm={self.algorithm!r})"

    def sign(self, body: bytes) -> dict[str, str]:
        """The five auth headers for ``body``, signed with the clock's current time."""
        return signing.headers(
            access_key=self.access_key,
            access_secret=self._secret,
            ts=str(self.clock()),
            body=body,
            algorithm=self.algorithm,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` (its body is already read: ``requires_request_body``) and send it."""
        request.headers.update(self.sign(request.content))
        yield request
