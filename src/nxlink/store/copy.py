"""``nxlink db copy``: a whole database from one store to another (SQLite <-> PostgreSQL).

:data:`TABLES` is the portable schema: every table that holds data of its own, the columns both
backends have, in load order (a row's references come first). Derived rows are not copied: the
per-status, per-day and per-hour task counts and SQLite's name index follow the loaded tasks in
the target, as they follow every insert. Ids are copied as they are, so every answer (task and
call ids, statistics ids) stays the same; the target's id allocation then continues after them.
What belongs to running processes is not copied either: the live dialers, the rate buckets, the
dashboard's sign-in sessions (ephemeral: users sign in again on the new database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from nxlink.store.base import Store, StoreError
from nxlink.store.urls import masked


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    #: The order rows are read in (a prefix of a unique key).
    order: tuple[str, ...]
    #: Tenant data, read account by account; False for the few global tables.
    tenant: bool = True
    #: Columns holding bytes (the rendered task JSON, a callback body).
    binary: tuple[str, ...] = ()


TABLES: Final[tuple[Table, ...]] = (
    Table("accounts", ("id", "name", "enabled", "balance_cents", "default_max_call",
                       "created_ts", "task_callback_url", "call_callback_url",
                       "callbacks_signed"), ("id",), tenant=False),
    Table("access_keys", ("account_id", "access_key", "secret", "enabled", "created_ts",
                          "revoked_ts", "last_used_ts"), ("access_key",), tenant=False),
    Table("flows", ("account_id", "id", "name", "variables", "enabled", "created_ts"),
          ("account_id", "id")),
    Table("routes", ("account_id", "id", "route_id", "name", "country_code",
                     "price_per_minute_cents", "answer_probability", "talk_seconds_mean",
                     "enabled", "created_ts", "caller_phone", "line_ids"), ("account_id", "id")),
    Table("tasks", ("account_id", "id", "task_id", "user_task_id", "other", "auto_flow_id",
                    "task_status", "pause_reason", "task_name", "name_fold", "task_desc",
                    "task_keep", "startup_type", "startup_at", "shutdown_at", "startup_by",
                    "route_id", "max_call", "import_type", "func_flag", "max_ring_time",
                    "strategy_id", "agent_group_id", "task_callback_url", "call_callback_url",
                    "country_code", "create_ts", "order_max_call", "replay_interval",
                    "startup_fired", "shutdown_fired", "synthetic", "week_days",
                    "zone_second"), ("account_id", "id")),
    Table("task_stats", ("account_id", "task_row_id", "id", "task_id", "auto_flow_id",
                         "create_ts", "task_status", "total_order_count", "dialed_order_count",
                         "finish_order_count", "answer_order_count", "total_call_count",
                         "answer_call_count", "total_call_elapsed", "manual_answer_count",
                         "manual_fail_count", "manual_elapsed"), ("account_id", "task_row_id")),
    Table("task_pages", ("account_id", "create_ts", "task_row_id", "doc"),
          ("account_id", "create_ts", "task_row_id"), binary=("doc",)),
    Table("orders", ("account_id", "id", "task_row_id", "contact_id", "name", "phone",
                     "country_code", "params", "other", "state", "attempts", "answered",
                     "next_attempt_ts", "claimed_by", "claimed_at", "lease_until",
                     "created_ts", "call_callback_url"), ("account_id", "id")),
    Table("calls", ("account_id", "id", "call_id", "task_row_id", "order_id", "attempt",
                    "callee_phone", "create_ts", "call_start", "call_answer", "call_end",
                    "ring_seconds", "talk_seconds", "result", "answered", "manual_status",
                    "manual_elapsed", "user_intent", "summary", "order_head", "order_tail",
                    "cost_cents", "caller_phone", "real_phone", "op_ts", "turns", "hangup_reason",
                    "sip_code", "sip_addr", "line_id", "route_id", "agent_group_id",
                    "agent_group_name", "agent_id", "agent_name", "manual_start",
                    "manual_answer", "manual_end"), ("account_id", "id")),
    Table("outbox", ("account_id", "id", "event_id", "kind", "url", "body", "created_ms",
                     "state", "attempts", "round_base", "next_attempt_ms", "lease_until_ms",
                     "last_status", "last_error", "delivered_ms", "task_id"),
          ("account_id", "id"),
          binary=("body",)),
    Table("sim_clock", ("id", "origin_real_ms", "origin_sim", "speed", "frozen"), ("id",),
          tenant=False),
    Table("write_replays", ("account_id", "access_key", "ts", "sign", "operation", "answer",
                            "created_ms"),
          ("account_id", "access_key", "ts", "sign", "operation"), binary=("answer",)),
)  # fmt: skip

#: Rows per read and per insert.
BATCH: Final = 5_000


def copy_database(
    source: Store, target: Store, *, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of :data:`TABLES` from ``source`` into the empty ``target``, in one
    target transaction (all or nothing); return the rows copied per table.

    ``progress(table, rows)`` is called after each batch. Writers of the source should be
    stopped first: each table is read in batches, not from one snapshot.
    """
    require_empty(target)
    copied: dict[str, int] = {}
    with target.loading() as load:
        for table in TABLES:
            copied[table.name] = 0
            for rows in source.dump_rows(table, batch=BATCH):
                load(table, rows)
                copied[table.name] += len(rows)
                if progress is not None:
                    progress(table.name, len(rows))
        # Still inside the target's transaction: a mismatch leaves the target empty.
        counts = {table.name: source.count_rows(table) for table in TABLES}
        if copied != counts:
            raise StoreError("rows changed during the copy; stop the servers and workers on "
                             "the source and copy again")  # fmt: skip
    target.analyze()
    return copied


def require_empty(target: Store) -> None:
    """Refuse a target that already holds data (a copy never merges)."""
    if target.list_accounts():
        raise StoreError(f"{masked(target.url)}: the target is not empty (it has accounts); "
                         "copy into a new database")  # fmt: skip


def total_rows(source: Store) -> int:
    """Every row :func:`copy_database` would copy (for a progress bar)."""
    return sum(source.count_rows(table) for table in TABLES)
