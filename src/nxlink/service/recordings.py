"""The recordings' links: ``callAudioUrl`` is an absolute URL on this server that carries its
expiry and an HMAC-SHA256 signature, so that a browser can fetch a recording without the
account's secret, and nobody can make a link the server did not.

The signature covers the call id and the expiry (epoch seconds) under a key derived from the
database's master key (``nxlink.store.secretbox``): the same in every process on the database,
so a link a worker put in a callback plays from any server, and stored nowhere. A setting
(``NXLINK_RECORDING_KEY``) may set it instead, e.g. to compare two databases' call lists byte
for byte. Rotating the master key ends the links handed out before.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Final
from urllib.parse import quote

from nxlink.store import Store

#: The links' base when none is set: the server's default address (``NXLINK_HOST``,
#: ``NXLINK_PORT``).
DEFAULT_BASE_URL: Final = "http://127.0.0.1:8000"
#: What the recordings' key is derived for.
KEY_PURPOSE: Final = "recordings"
#: How long a link stays valid, by default: a day (a callback's receiver, or a console that
#: lists calls, plays it within that; ``call/list`` hands out fresh links every time).
DEFAULT_TTL_S: Final = 86_400
#: Where recordings are served (outside ``/openapi/aiagent/``: a link needs no API signature).
PATH_PREFIX: Final = "/recordings/"


def recording_path(call_id: str) -> str:
    """The path of a call's recording on this server."""
    return f"{PATH_PREFIX}{quote(call_id, safe='')}.wav"


class RecordingLinks:
    """Makes and checks the signed links of one database's recordings."""

    def __init__(
        self,
        store: Store,
        *,
        base_url: str = DEFAULT_BASE_URL,
        ttl_s: int = DEFAULT_TTL_S,
        key: str | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"a link's lifetime must be above 0 seconds, got {ttl_s}")
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self._key = None if key is None else key.encode()
        self._lock = threading.Lock()

    def key(self) -> bytes:
        """The signing key: the setting's, else one derived from the database's master key
        (:meth:`~nxlink.store.secretbox.SecretBox.derive`), the same in every process that
        opens the database, and never stored."""
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self.store.secrets.derive(KEY_PURPOSE)
        return self._key

    def signature(self, call_id: str, expires: int) -> str:
        message = f"{call_id}\n{expires}".encode()
        return hmac.new(self.key(), message, hashlib.sha256).hexdigest()

    def url(self, call_id: str, *, now: int) -> str:
        """The absolute link to a call's recording, valid until ``now`` + the lifetime."""
        expires = now + self.ttl_s
        sig = self.signature(call_id, expires)
        return f"{self.base_url}{recording_path(call_id)}?exp={expires}&sig={sig}"

    def valid(self, call_id: str, expires: str, sig: str, *, now: int) -> bool:
        """Was this link made by the server, and is it still valid at ``now``?"""
        if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
            return False
        if int(expires) < now:
            return False
        return hmac.compare_digest(self.signature(call_id, int(expires)), sig)
