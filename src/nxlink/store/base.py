"""The store interface: everything the service needs from a database, and nothing of SQL.

Backends (``sqlite.py`` now, ``postgres.py`` next) implement :class:`Store`; ``open_store(url)``
picks one by URL scheme. A page of the task list travels as the tasks' JSON texts, rendered by
the database in the transaction of every write (``task_docs``), so that a 1000-row page costs no
per-row object construction.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

#: The statistics counters, in the order of the ``task_stats`` columns.
STAT_COUNTERS: Final[tuple[str, ...]] = (
    "total_order_count",
    "dialed_order_count",
    "finish_order_count",
    "answer_order_count",
    "total_call_count",
    "answer_call_count",
    "total_call_elapsed",
    "manual_answer_count",
    "manual_fail_count",
    "manual_elapsed",
)


class StoreError(Exception):
    """A store operation was refused (unknown name, duplicate, ...); the message says why."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    enabled: bool
    balance_cents: int
    default_max_call: int
    created_ts: int


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key: str
    account_id: int
    account_name: str
    enabled: bool
    created_ts: int
    revoked_ts: int | None


@dataclass(frozen=True, slots=True)
class KeyAuth:
    """What authentication needs to know about an ``accessKey``."""

    account_id: int
    secret: str


@dataclass(frozen=True, slots=True)
class Flow:
    id: int
    account_id: int
    name: str
    variables: tuple[str, ...]
    created_ts: int


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    account_id: int
    route_id: str
    name: str
    country_code: str
    price_per_minute_cents: int
    answer_probability: float
    talk_seconds_mean: int
    created_ts: int


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """The filters of the task list, already validated and normalised by the service.

    ``name_fold`` is casefolded; rates are exact fractions on the 0–100 scale.
    """

    name_fold: str | None = None
    status: int | None = None
    created_from: int | None = None
    created_to: int | None = None
    min_answer_rate: Fraction | None = None
    max_answer_rate: Fraction | None = None
    min_contacts: int | None = None
    max_contacts: int | None = None

    def status_only(self) -> bool:
        """True when the filter needs no more than the per-status task counts."""
        return (
            self.name_fold is None
            and self.created_from is None
            and self.created_to is None
            and self.min_answer_rate is None
            and self.max_answer_rate is None
            and self.min_contacts is None
            and self.max_contacts is None
        )


@dataclass(slots=True)
class NewTask:
    """A task to insert, with its initial counters (``stats`` keyed by :data:`STAT_COUNTERS`)."""

    task_id: str
    auto_flow_id: int
    route_id: str
    task_name: str
    create_ts: int
    task_status: int = 1
    pause_reason: int | None = None
    user_task_id: str = ""
    other: str = ""
    task_desc: str = ""
    task_keep: int = 0
    startup_type: int = 0
    startup_at: int | None = None
    shutdown_at: int | None = None
    startup_by: str = ""
    max_call: int = 0
    import_type: int = 0
    func_flag: int = 0
    max_ring_time: int = 0
    strategy_id: str = ""
    agent_group_id: str = ""
    task_callback_url: str = ""
    call_callback_url: str = ""
    country_code: str = ""
    order_max_call: int | None = None
    replay_interval: int | None = None
    stats: dict[str, int] = field(default_factory=dict)


class Store(abc.ABC):
    """One database. Methods are synchronous; every write is one transaction."""

    url: str

    # -- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> list[int]:
        """Create or upgrade the schema; return the versions applied now."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The highest applied migration, 0 for an empty database."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release every connection."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""

    # -- accounts and keys -----------------------------------------------------------------
    @abc.abstractmethod
    def create_account(self, name: str, *, now: int) -> Account: ...

    @abc.abstractmethod
    def get_account(self, name: str) -> Account | None: ...

    @abc.abstractmethod
    def list_accounts(self) -> list[Account]: ...

    @abc.abstractmethod
    def create_key(
        self, account_id: int, *, access_key: str, secret: str, now: int
    ) -> AccessKey: ...

    @abc.abstractmethod
    def list_keys(self) -> list[AccessKey]: ...

    @abc.abstractmethod
    def revoke_key(self, access_key: str, *, now: int) -> bool:
        """Revoke a key; False when no such enabled key exists."""

    @abc.abstractmethod
    def key_auth(self, access_key: str) -> KeyAuth | None:
        """The account and secret of an enabled key of an enabled account, else None."""

    # -- flows and routes ------------------------------------------------------------------
    @abc.abstractmethod
    def create_flow(
        self, account_id: int, *, name: str, variables: Sequence[str], now: int
    ) -> Flow: ...

    @abc.abstractmethod
    def list_flows(self, account_id: int) -> list[Flow]: ...

    @abc.abstractmethod
    def create_route(
        self,
        account_id: int,
        *,
        route_id: str,
        name: str,
        country_code: str,
        price_per_minute_cents: int,
        answer_probability: float,
        talk_seconds_mean: int,
        now: int,
    ) -> Route: ...

    @abc.abstractmethod
    def list_routes(self, account_id: int) -> list[Route]: ...

    # -- tasks -----------------------------------------------------------------------------
    @abc.abstractmethod
    def insert_tasks(self, account_id: int, tasks: Iterable[NewTask]) -> int:
        """Insert tasks with their statistics rows in one transaction; return how many."""

    @abc.abstractmethod
    def count_tasks(self, account_id: int) -> int: ...

    @abc.abstractmethod
    def task_page(
        self, account_id: int, flt: TaskFilter, *, offset: int, limit: int
    ) -> tuple[int, list[bytes]]:
        """``(total, tasks)`` from one consistent read, ordered ``create_ts desc, id desc``.

        Each task is the UTF-8 JSON of the wire task object (``task-list.md``).
        """

    @abc.abstractmethod
    def analyze(self) -> None:
        """Refresh the planner's statistics (after a bulk load)."""
