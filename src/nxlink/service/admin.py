"""Accounts, access keys, flows and routes: the administration the CLI performs."""

from __future__ import annotations

import random
import re
import secrets
import string
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nxlink.service import lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.service.requests import url_problems
from nxlink.store import AccessKey, Account, Flow, Route, Store, StoreError
from nxlink.store.secretbox import MasterKeySource, SecretBox, write_key_file

_ROUTE_ALPHABET = string.ascii_letters + string.digits
_ROUTE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_E164 = re.compile(r"\+[0-9]{6,15}")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key with its secret: the only moment the secret is shown."""

    access_key: str
    access_secret: str
    saas_user_id: int
    account_name: str


def now_s() -> int:
    return int(time.time())


def new_access_key() -> str:
    """``AK-<19 digits>-<4 digits>``, the vendor's key shape."""
    return f"AK-{secrets.randbelow(9 * 10**18) + 10**18}-{secrets.randbelow(9000) + 1000}"


def new_secret() -> str:
    """32 lowercase hex characters from :mod:`secrets`."""
    return secrets.token_hex(16)


def new_route_id(rng: random.Random | None = None) -> str:
    """Ten letters and digits, e.g. ``CJq6rtX2lg``; random unless ``rng`` is given."""
    pick = secrets.choice if rng is None else rng.choice
    return "".join(pick(_ROUTE_ALPHABET) for _ in range(10))


def default_caller_phone(country_code: str, route_id: str) -> str:
    """A route's caller number when none is given: ``+``, its country code (1 without one),
    then eight digits made from its id (the same route id, the same number)."""
    code = "".join(ch for ch in country_code if ch.isdigit()) or "1"
    return f"+{code}3{zlib.crc32(route_id.encode()) % 10_000_000:07d}"


def require_account(store: Store, name: str) -> Account:
    account = store.get_account(name)
    if account is None:
        raise StoreError(
            f"no account named {name!r} (create it with: nxlink accounts create {name})"
        )
    return account


def create_account(store: Store, name: str) -> Account:
    name = name.strip()
    if not name:
        raise StoreError("account name must not be empty")
    return store.create_account(name, now=now_s())


def set_callbacks(
    store: Store,
    account_name: str,
    *,
    task_url: str | None = None,
    call_url: str | None = None,
    signed: bool | None = None,
) -> Account:
    """Set account ``account_name``'s default callback URLs (``""`` clears one; ``None``
    keeps it) and whether its callbacks are signed (``None`` keeps it).

    The default task URL receives the task callbacks of a task created without a
    ``taskCallbackUrl``; the default call URL the call callbacks of contacts whose append and
    task have no ``callCallbackUrl``. Both are taken when an event is written, so events
    already in the outbox keep their URL. The URLs are held to the rule of a request's URL
    fields (:func:`nxlink.service.requests.url_problems`); every problem is named at once.
    """
    account = require_account(store, account_name)
    problems = []
    for label, value, field in (("--task-url", task_url, "taskCallbackUrl"),
                                ("--call-url", call_url, "callCallbackUrl")):  # fmt: skip
        if value is not None:
            problems += url_problems(label, value, field=field)
    if problems:
        raise StoreError("; ".join(problems))
    return store.set_account_callbacks(account.id, task_url=task_url, call_url=call_url,
                                       signed=signed)  # fmt: skip


def create_key(store: Store, account_name: str) -> IssuedKey:
    account = require_account(store, account_name)
    secret = new_secret()
    key = store.create_key(account.id, access_key=new_access_key(), secret=secret, now=now_s())
    return IssuedKey(key.access_key, secret, account.id, account.name)


def revoke_key(store: Store, access_key: str) -> None:
    if not store.revoke_key(access_key, now=now_s()):
        raise StoreError(f"no active access key {access_key!r}")


def list_keys(store: Store) -> list[AccessKey]:
    return store.list_keys()


@dataclass(frozen=True, slots=True)
class Rotation:
    """A master key rotation: the new key's id, the secrets sealed again, where the key is."""

    key_id: str
    resealed: int
    key_file: Path


def rotate_master(
    store: Store, source: MasterKeySource, *, new_key_file: Path | None = None
) -> Rotation:
    """Seal every secret of ``store`` under a new master key.

    The new key is written first, so that no crash leaves the database sealed under a key
    that is nowhere: to ``new_key_file`` (created, 0600) when given, else first in the key
    file's ring, which keeps the older keys for the other databases that share it.
    """
    new = SecretBox.generate()
    if new_key_file is not None:
        if new_key_file.exists():
            raise StoreError(f"{new_key_file} exists: give a new file for the new key")
        write_key_file(new_key_file, [new])
        where = new_key_file
    elif source.path is None:
        raise StoreError("the master key comes from NXLINK_MASTER_KEY: give --new-key-file "
                         "for the new key")  # fmt: skip
    else:
        source.add_newest(new)
        where = source.path
    return Rotation(new.key_id, store.rotate_master(new), where)


def create_flow(store: Store, account_name: str, *, name: str, variables: Sequence[str]) -> Flow:
    account = require_account(store, account_name)
    if not name.strip():
        raise StoreError("flow name must not be empty")
    cleaned = [v.strip() for v in variables if v.strip()]
    if len(set(cleaned)) != len(cleaned):
        raise StoreError("flow variables must be distinct")
    return store.create_flow(account.id, name=name, variables=cleaned, now=now_s())


def create_route(
    store: Store,
    account_name: str,
    *,
    name: str,
    country_code: str = "",
    price_per_minute_cents: int = 0,
    answer_probability: float = 0.5,
    talk_seconds_mean: int = 60,
    route_id: str | None = None,
    caller_phone: str | None = None,
    line_ids: Sequence[str] | None = None,
) -> Route:
    """A route of the account. Without ``caller_phone`` its calls come from a number of its
    country made from its id; without ``line_ids`` it has two lines, ``<routeId>-L1`` and
    ``-L2``."""
    account = require_account(store, account_name)
    if not name.strip():
        raise StoreError("route name must not be empty")
    if not 0 <= answer_probability <= 1:
        raise StoreError("answer probability must be from 0 to 1")
    if route_id is not None and not _ROUTE_ID.fullmatch(route_id):
        raise StoreError(f"route id {route_id!r}: 1 to 64 letters, digits, '-' or '_'")
    route_id = route_id or new_route_id()
    if caller_phone is not None and not _E164.fullmatch(caller_phone):
        raise StoreError(f"caller number {caller_phone!r}: '+' and 6 to 15 digits")
    lines = list(line_ids) if line_ids else [f"{route_id}-L1", f"{route_id}-L2"]
    for line in lines:
        if not _ROUTE_ID.fullmatch(line):
            raise StoreError(f"line id {line!r}: 1 to 64 letters, digits, '-' or '_'")
    if len(set(lines)) != len(lines):
        raise StoreError("line ids must be distinct")
    return store.create_route(
        account.id,
        route_id=route_id,
        caller_phone=caller_phone or default_caller_phone(country_code, route_id),
        line_ids=lines,
        name=name,
        country_code=country_code,
        price_per_minute_cents=price_per_minute_cents,
        answer_probability=answer_probability,
        talk_seconds_mean=talk_seconds_mean,
        now=now_s(),
    )


def _clock() -> Clock:
    return Clock.at(time.time_ns() // 1_000_000)


def top_up(store: Store, account_name: str, cents: int) -> tuple[int, int]:
    """Add ``cents`` to the balance; returns ``(balance, tasks resumed)``."""
    account = require_account(store, account_name)
    return lifecycle.top_up(store, account.id, cents, clock=_clock())


def set_enabled(
    store: Store, *, flow_id: int | None = None, route_id: str | None = None, enabled: bool
) -> list[str]:
    """Enable or disable a flow or a route; returns the taskIds that failed."""
    return lifecycle.set_enabled(
        store, flow_id=flow_id, route_id=route_id, enabled=enabled, clock=_clock()
    )
