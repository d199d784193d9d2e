"""Resets and snapshots of the sandbox's data, without HTTP (``nxlink.server.admin`` serves
them as ``POST /_nxlink/reset`` and ``/_nxlink/snapshots``).

A reset deletes the runtime data of one account, or of every account, in one transaction of
the store (:meth:`~nxlink.store.Store.reset_account`): tasks, contacts, calls, callbacks and
write replays, and the journal entries of the account's access keys; its keys, flows and routes
only when asked (``catalog``). Accounts and their balances stay, and so does the shared
simulator clock. A snapshot is a copy of every table of the sandbox's data; restoring it puts
the data back as it was, so that every answer is the one given at the moment of the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nxlink.sandbox.journal import Journal
from nxlink.store import Store
from nxlink.store.base import Cleared


class UnknownAccount(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"account {name!r}: no such account")
        self.message = f"account {name!r}: no such account"


@dataclass(frozen=True, slots=True)
class ResetResult:
    #: The accounts reset, by name.
    accounts: tuple[str, ...]
    catalog: bool
    cleared: Cleared
    #: Journal entries dropped (of the accounts' access keys).
    journal: int

    def to_json(self) -> dict[str, Any]:
        return {"accounts": list(self.accounts), "catalog": self.catalog,
                "deleted": {**self.cleared.to_json(), "journal": self.journal}}  # fmt: skip


def reset(
    store: Store, journal: Journal | None, *, account: str | None, catalog: bool
) -> ResetResult:
    """Reset one account (by name) or, for None, every account."""
    if account is None:
        names = tuple(each.name for each in store.list_accounts())
        keys = [key.access_key for key in store.list_keys()]
        cleared = store.reset_account(None, catalog=catalog)
    else:
        found = store.get_account(account)
        if found is None:
            raise UnknownAccount(account)
        names = (found.name,)
        keys = [key.access_key for key in store.list_keys() if key.account_id == found.id]
        cleared = store.reset_account(found.id, catalog=catalog)
    dropped = journal.forget(keys) if journal is not None else 0
    return ResetResult(names, catalog, cleared, dropped)
