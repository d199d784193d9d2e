"""Replayed writes are harmless: a write request accepted once is answered with its first
answer when the same signed request comes again, and changes nothing (``decisions.md`` #19).

"The same request" is the same ``(accessKey, ts, sign)``: a signature covers the key, the
timestamp, the header values and the exact body, so a copy of a captured request, or a client
resending the same signed bytes after a read timeout, is the same request. The key is reserved
in the transaction of the write itself (:meth:`~nxlink.store.base.LifecycleTx.claim_replay`)
and holds the write's answer, so two copies arriving at once, through two server processes,
still make one change: the second waits for the first's transaction and then reads its answer.

Only accepted writes are kept: a refused one changed nothing, and its copy is checked again.
Reads may repeat. A key is forgotten once no request with its ``ts`` can pass the timestamp
window any more (plus :data:`MARGIN_MS` for clocks that disagree a little).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from nxlink.store import ReplayKey, Store

#: How long past the timestamp window a key is kept.
MARGIN_MS: Final = 60_000


def replay_key(access_key: str, ts: str, sign: str, operation: str) -> ReplayKey:
    """The key of an authenticated request to ``operation`` (``sign`` lowercased: the digest,
    however cased). The signature does not cover the path, so the same signed bytes sent to
    another operation are that operation's request."""
    return ReplayKey(access_key=access_key, ts=int(ts), sign=sign.lower(), operation=operation)


def once(
    store: Store,
    account_id: int,
    key: ReplayKey,
    *,
    now_ms: int,
    window_ms: int,
    run: Callable[[], bytes],
) -> tuple[bytes, bool]:
    """``run()``'s answer, made and kept in one transaction with ``key``'s reservation; or,
    for a key seen before, the answer kept then. Returns ``(answer, replayed)``.

    ``run`` does the write through ``store.lifecycle()`` (which joins this transaction) and
    returns the answer to keep; when it raises, nothing is written and nothing is kept.
    """
    with store.lifecycle() as tx:
        first = tx.claim_replay(
            account_id, key, now_ms=now_ms, forget_before_ts=now_ms - window_ms - MARGIN_MS
        )
        if first is not None:
            return first, True
        answer = run()
        tx.record_replay(account_id, key, answer)
        return answer, False
