"""Request authentication, in the order of ``conventions.md``: 1001, 1002, 1004, 1005, 1003.

Two header generations are accepted (``decisions.md`` #11): ``bizType`` 100 with ``action``
``nxai``, and the older ``bizType`` 8 with the operation's own action (``pageCallTaskInfo`` for
task/list, ``nxai`` for an operation without a name of its own). The pairs do not mix: 100 goes
with ``nxai`` only, 8 with the operation's own action only, and an action that names another
operation is refused naming that operation. :class:`Generations` holds what one endpoint
accepts; the signature covers the values as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from nxlink import signing
from nxlink.contract.codes import AUTH_HEADERS, MESSAGES, Code
from nxlink.contract.endpoints import ACTION, BIZ_TYPE, OLD_BIZ_TYPE, OWN_ACTIONS, Endpoint
from nxlink.service.errors import ApiError
from nxlink.store import Store


@dataclass(frozen=True, slots=True)
class Caller:
    access_key: str
    account_id: int
    #: The request's ``ts`` and ``sign`` as sent: with the key, what makes it the same request.
    ts: str = ""
    sign: str = ""


@dataclass(frozen=True, slots=True)
class Generations:
    """The ``bizType``/``action`` pairs one endpoint accepts."""

    #: The path under the prefix (``task/list``, ``call/delete``), for messages.
    operation: str
    #: ``bizType`` values of the current generation (100 and the extra ones): with ``nxai``.
    biz_types: frozenset[str]
    #: ``bizType`` values of the older generation (8; none when strict): with ``own_action``.
    old_biz_types: frozenset[str]
    #: The operation's own action in the older generation.
    own_action: str
    #: Actions accepted with any accepted ``bizType`` (the extra ones).
    extra_actions: frozenset[str]

    @classmethod
    def of(
        cls,
        endpoint: Endpoint,
        *,
        operation: str = "",
        strict: bool,
        extra_biz_types: Collection[str] = (),
        extra_actions: Collection[str] = (),
    ) -> Generations:
        return cls(
            operation=operation or endpoint.name,
            biz_types=frozenset([BIZ_TYPE, *extra_biz_types]),
            old_biz_types=frozenset() if strict else frozenset([OLD_BIZ_TYPE]),
            own_action=endpoint.action,
            extra_actions=frozenset(extra_actions),
        )

    def problems(self, biz_type: str, action: str) -> list[str]:
        """What is wrong with the pair, as the 1002 message says it (empty: accepted)."""
        problems: list[str] = []
        current = biz_type in self.biz_types
        old = biz_type in self.old_biz_types
        if not (current or old):
            accepted = " or ".join([BIZ_TYPE, *sorted(self.old_biz_types)])
            problems.append(f"bizType must be {accepted}, got {biz_type[:40]!r}")
        if action in self.extra_actions:
            return problems
        expected = self.own_action if old else ACTION
        if action == expected or (not (current or old) and action in (ACTION, self.own_action)):
            return problems
        named = OWN_ACTIONS.get(action)
        if named is not None and named.name != self.operation and self.old_biz_types:
            problems.append(
                f"action {action!r} is the action of {named.name}, not of {self.operation}"
            )
        elif old:
            problems.append(
                f"action must be {expected} with bizType {biz_type} ({self.operation}), "
                f"got {action[:40]!r}"
            )
        elif action == self.own_action and self.old_biz_types:
            problems.append(
                f"action must be {ACTION} with bizType {biz_type}, got {action!r} (which goes "
                f"with bizType {OLD_BIZ_TYPE})"
            )
        else:
            problems.append(f"action must be {ACTION}, got {action[:40]!r}")
        return problems


def _fail(code: Code, detail: str = "") -> ApiError:
    message = MESSAGES[code]
    return ApiError(code, f"{message}: {detail}" if detail else message)


def header_map(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as a dict of lowercase names; the first of repeated headers wins."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in reversed(raw)
    }


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    *,
    store: Store,
    now_ms: Callable[[], int],
    window_ms: int,
    generations: Generations,
) -> Caller:
    values = {name: headers.get(name.lower(), "") for name in AUTH_HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise _fail(Code.MISSING_PARAMETERS, ", ".join(missing))

    access_key, ts, biz_type, action, sign = (values[name] for name in AUTH_HEADERS)
    problems: list[str] = []
    if not (ts.isascii() and ts.isdigit()):
        problems.append(f"ts must be decimal digits (epoch milliseconds), got {ts[:40]!r}")
    problems += generations.problems(biz_type, action)
    raw_algorithm = headers.get("algorithm")
    algorithm = signing.normalize_algorithm(raw_algorithm)
    if algorithm is None:
        problems.append(f"algorithm must be md5 or sha256, got {str(raw_algorithm)[:40]!r}")
    if problems:
        raise _fail(Code.PARAMETER_ERROR, "; ".join(problems))
    assert algorithm is not None

    server_ms = now_ms()
    # More than 18 digits is centuries away from any clock (and too long for int()).
    if len(ts) > 18 or abs(server_ms - int(ts)) > window_ms:
        raise _fail(Code.TIMESTAMP_EXPIRED, f"server time {server_ms}")

    auth = store.key_auth(access_key)
    if auth is None:
        raise _fail(Code.INSUFFICIENT_AUTHORITY)

    if not signing.verify(
        sign,
        access_key=access_key,
        access_secret=auth.secret,
        ts=ts,
        body=body,
        action=action,
        biz_type=biz_type,
        algorithm=algorithm,
    ):
        raise _fail(Code.INVALID_SIGNATURE)
    return Caller(access_key=access_key, account_id=auth.account_id, ts=ts, sign=sign)
