"""Filling an account with generated tasks, in batches of one transaction each."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable

from nxlink.service import admin
from nxlink.service.seed import generate_tasks
from nxlink.store import Store

BATCH = 20_000


def seed_account(
    store: Store,
    account_name: str,
    *,
    count: int,
    seed: int = 0,
    now: int | None = None,
    progress: Callable[[int], None] | None = None,
    analyze: bool = True,
) -> int:
    """Add ``count`` generated tasks to the account; return how many were added.

    ``analyze=False`` leaves refreshing the planner's statistics to the caller (bulk loads).
    """
    account = admin.require_account(store, account_name)
    flows = store.list_flows(account.id)
    if not flows:
        flows = [admin.create_flow(store, account_name, name="Seed agent", variables=["name"])]
    routes = store.list_routes(account.id)
    if not routes:
        routes = [
            admin.create_route(
                store,
                account_name,
                name="Seed route",
                country_code="852",
                # Same seed and account, same route id: seeded databases compare equal.
                route_id=admin.new_route_id(random.Random(f"nxlink-route:{seed}:{account.id}")),
            )
        ]
    tasks = generate_tasks(
        seed=seed,
        account_id=account.id,
        count=count,
        now=int(time.time()) if now is None else now,
        flows=[f.id for f in flows],
        route_ids=[r.route_id for r in routes],
        start_index=store.count_tasks(account.id),
    )
    added = 0
    while batch := list(itertools.islice(tasks, BATCH)):
        added += store.insert_tasks(account.id, batch)
        if progress is not None:
            progress(added)
    if analyze:
        store.analyze()
    return added
