"""The benchmark dataset: 1,000,000 tasks in ``benchmarks/.data/bench.db``, built once.

100 accounts: ``big`` holds 500,000 tasks, ``acct-01`` … ``acct-99`` share the other 500,000.
Everything is made with the product's own code (``open_store``, ``admin``, ``seed_account``)
with fixed seeds and a fixed clock, so two builds hold the same tasks (keys differ: they come
from :mod:`secrets`). The build is skipped while the database file and a manifest of the
current :data:`DATASET_VERSION` exist, and the product would still create the database the same
way: :func:`product_fingerprint` opens an empty store with the product's code and hashes its
schema and page size. A migration edited in place would otherwise leave the cached database
without the tables the server now queries, and a changed page size would go unmeasured.
``--rebuild`` forces a rebuild.

Run alone: ``.venv/bin/python -m benchmarks.dataset [--rebuild]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

#: Bump when anything below changes what the database holds.
DATASET_VERSION: Final = 2

DATA_DIR: Final = Path(__file__).resolve().parent / ".data"
DB_PATH: Final = DATA_DIR / "bench.db"
MANIFEST_PATH: Final = DATA_DIR / "dataset.json"

TOTAL_TASKS: Final = 1_000_000
ACCOUNTS: Final = 100
BIG_ACCOUNT: Final = "big"
BIG_TASKS: Final = 500_000
#: The clock the seeder sees: tasks are created in the year before it (2025-11-01T00:00:00Z).
FIXED_NOW: Final = 1_761_955_200
SEED: Final = 20_250_501


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``dataset.json`` records about a built database."""

    version: int
    db_path: str
    total_tasks: int
    accounts: int
    big_account: str
    big_tasks: int
    big_saas_user_id: int
    access_key: str
    access_secret: str
    fixed_now: int
    seed: int
    schema_sha256: str
    page_size: int
    build_seconds: float
    db_bytes: int

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"


def small_account_sizes() -> list[tuple[str, int]]:
    """Names and task counts of the 99 small accounts (5,050 or 5,051 tasks each)."""
    n = ACCOUNTS - 1
    rest = TOTAL_TASKS - BIG_TASKS
    base, extra = divmod(rest, n)
    return [(f"acct-{i + 1:02d}", base + (1 if i < extra else 0)) for i in range(n)]


def product_fingerprint() -> tuple[str, int]:
    """(sha256, page size) of an empty database as the product creates it now.

    The hash covers every schema object's SQL and the page size, so an edited migration or a
    new storage setting means a rebuild. Costs one throwaway ``open_store`` (milliseconds).
    """
    from nxlink.store import open_store

    with tempfile.TemporaryDirectory(prefix="nxbench-probe-") as tmp:
        path = Path(tmp) / "probe.db"
        open_store(f"sqlite:///{path}").close()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            objects = sorted(
                f"{kind}:{name}:{sql or ''}"
                for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")
            )
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    digest = hashlib.sha256("\n".join([*objects, f"page_size={page_size}"]).encode())
    return digest.hexdigest(), page_size


def load_manifest() -> Manifest | None:
    """The manifest of a usable database, or None when a (re)build is due."""
    if not DB_PATH.is_file() or not MANIFEST_PATH.is_file():
        return None
    try:
        raw: dict[str, Any] = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
        manifest = Manifest(**raw)
    except (ValueError, TypeError):
        return None
    if manifest.version != DATASET_VERSION or manifest.db_path != str(DB_PATH):
        return None
    if manifest.schema_sha256 != product_fingerprint()[0]:
        print("dataset: the product's schema or storage settings changed; rebuilding", flush=True)
        return None
    return manifest


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def build(*, quiet: bool = False) -> Manifest:
    """Build the database from scratch (into a temporary file, renamed when complete)."""
    from nxlink.service import admin
    from nxlink.service.seeding import seed_account
    from nxlink.store import open_store

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        MANIFEST_PATH.unlink()
    tmp = DATA_DIR / "bench.db.building"
    _remove_db_files(tmp)
    _remove_db_files(DB_PATH)

    say(f"dataset: building {TOTAL_TASKS:,} tasks in {ACCOUNTS} accounts -> {DB_PATH}")
    started = time.perf_counter()
    schema, page_size = product_fingerprint()  # as open_store creates it just below
    store = open_store(f"sqlite:///{tmp}")
    try:
        # The big account first: its rows get the low ids, as if it were the oldest customer.
        t0 = time.perf_counter()
        admin.create_account(store, BIG_ACCOUNT)
        issued = admin.create_key(store, BIG_ACCOUNT)

        def progress(done: int) -> None:
            if done % 100_000 == 0 or done == BIG_TASKS:
                rate = done / max(time.perf_counter() - t0, 1e-9)
                say(f"  {BIG_ACCOUNT}: {done:>7,} / {BIG_TASKS:,} tasks ({rate:,.0f} tasks/s)")

        added = seed_account(
            store, BIG_ACCOUNT, count=BIG_TASKS, seed=SEED, now=FIXED_NOW, progress=progress,
            analyze=False,
        )  # fmt: skip
        if added != BIG_TASKS:
            raise RuntimeError(f"seed_account added {added} tasks, not {BIG_TASKS}")
        say(f"  {BIG_ACCOUNT}: {added:,} tasks in {time.perf_counter() - t0:.1f} s")

        t1 = time.perf_counter()
        small = small_account_sizes()
        for index, (name, count) in enumerate(small, start=1):
            admin.create_account(store, name)
            admin.create_key(store, name)
            got = seed_account(
                store, name, count=count, seed=SEED + index, now=FIXED_NOW, analyze=False
            )
            if got != count:
                raise RuntimeError(f"seed_account added {got} tasks to {name}, not {count}")
            if index % 20 == 0 or index == len(small):
                took = time.perf_counter() - t1
                say(f"  small accounts: {index:>2} / {len(small)} ({took:.1f} s)")
        store.analyze()
    finally:
        store.close()

    # Every connection is closed, so the WAL is checkpointed into the main file; make sure.
    with contextlib.closing(sqlite3.connect(tmp)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        total = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        accounts = conn.execute("SELECT count(*) FROM accounts").fetchone()[0]
    if total != TOTAL_TASKS or accounts != ACCOUNTS:
        raise RuntimeError(f"built {total} tasks in {accounts} accounts; expected otherwise")
    _remove_db_files(DB_PATH)
    os.replace(tmp, DB_PATH)
    _remove_db_files(tmp)

    seconds = round(time.perf_counter() - started, 1)
    manifest = Manifest(
        version=DATASET_VERSION,
        db_path=str(DB_PATH),
        total_tasks=TOTAL_TASKS,
        accounts=ACCOUNTS,
        big_account=BIG_ACCOUNT,
        big_tasks=BIG_TASKS,
        big_saas_user_id=issued.saas_user_id,
        access_key=issued.access_key,
        access_secret=issued.access_secret,
        fixed_now=FIXED_NOW,
        seed=SEED,
        schema_sha256=schema,
        page_size=page_size,
        build_seconds=seconds,
        db_bytes=DB_PATH.stat().st_size,
    )
    tmp_manifest = MANIFEST_PATH.with_suffix(".json.tmp")
    tmp_manifest.write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_manifest, MANIFEST_PATH)
    say(
        f"dataset: built in {seconds:.1f} s "
        f"({TOTAL_TASKS / seconds:,.0f} tasks/s, {manifest.db_bytes / 2**20:,.0f} MiB)"
    )
    return manifest


def ensure(*, rebuild: bool = False, quiet: bool = False) -> Manifest:
    """The dataset's manifest, building the database first when it is missing or outdated."""
    started = time.perf_counter()
    manifest = None if rebuild else load_manifest()
    if manifest is not None:
        if not quiet:
            print(
                f"dataset: cached {DB_PATH} (version {manifest.version}, "
                f"{manifest.total_tasks:,} tasks, built in {manifest.build_seconds:.1f} s; "
                f"checked in {time.perf_counter() - started:.3f} s)",
                flush=True,
            )
        return manifest
    return build(quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    args = parser.parse_args(argv)
    ensure(rebuild=args.rebuild)
    return 0


if __name__ == "__main__":
    sys.exit(main())
