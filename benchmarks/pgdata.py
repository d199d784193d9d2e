"""The PostgreSQL copy of the benchmark dataset, loaded once and cached.

The same 1,000,000 tasks as ``benchmarks/.data/bench.db`` (:mod:`benchmarks.dataset`), moved into
a dedicated database (default ``postgresql://postgres@127.0.0.1:5432/nxlink_bench``) with the
product's own copy code, :func:`nxlink.store.copy.copy_database` (what ``nxlink db copy`` runs),
then ``ANALYZE``d by the store (``Store.analyze()``). Nothing is generated here: the tasks, their
ids, JSON documents, counters and the ``big`` account's key are the SQLite build's, so both
backends answer the same requests with the same rows.

The load is skipped while ``.data/postgres.json`` records

* the current :data:`PG_DATASET_VERSION`,
* the SQLite dataset it was copied from (sha256 of that build's ``dataset.json``, which holds
  the build's own key, so a rebuilt SQLite dataset means a reload),
* the fingerprint of the schema the product creates now in an empty PostgreSQL database
  (:func:`product_fingerprint`: a throwaway database migrated with ``open_store``, its catalog
  hashed: tables, columns, indexes, constraints, triggers, functions, views, extensions and the
  applied migrations) and the server's major version,

and the database itself still has that schema, the 100 accounts and the key. Otherwise the
database is dropped, created again and loaded (a few minutes). ``--reload`` forces it.

Run alone: ``.venv/bin/python -m benchmarks.pgdata [--url URL] [--reload]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from benchmarks import dataset

#: Bump when anything below changes what the PostgreSQL database holds.
PG_DATASET_VERSION: Final = 1
DEFAULT_URL: Final = "postgresql://postgres@127.0.0.1:5432/nxlink_bench"
MANIFEST_PATH: Final = dataset.DATA_DIR / "postgres.json"
#: The settings of the PostgreSQL server recorded with the results (they shape every plan).
SETTINGS: Final = (
    "server_version", "shared_buffers", "work_mem", "effective_cache_size", "random_page_cost",
    "jit", "max_parallel_workers_per_gather", "max_connections",
)  # fmt: skip

# Every object of the current schema, one text line each, for the fingerprint.
_CATALOG_SQL: Final = """
SELECT 'rel:' || c.relname || ':' || c.relkind::text || ':'
       || coalesce(array_to_string(c.reloptions, ','), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL
SELECT 'col:' || c.relname || ':' || a.attnum::text || ':' || a.attname || ':'
       || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull::text
       || ':' || a.attstorage::text || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'idx:' || pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
UNION ALL
SELECT 'con:' || c.relname || ':' || k.conname || ':' || pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
UNION ALL
SELECT 'trg:' || pg_get_triggerdef(t.oid)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND NOT t.tgisinternal
UNION ALL
SELECT 'fn:' || pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.objid = p.oid AND dep.deptype = 'e')
UNION ALL
SELECT 'view:' || c.relname || ':' || pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'ext:' || extname || ':' || extversion FROM pg_extension
"""


@dataclass(frozen=True, slots=True)
class PgManifest:
    """What ``postgres.json`` records about a loaded database."""

    version: int
    url: str
    sqlite_dataset_sha256: str
    schema_sha256: str
    schema_version: int
    server_major: int
    rows: dict[str, int]
    load_seconds: float
    analyze_seconds: float
    db_bytes: int


def _conninfo(url: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    return dict(conninfo_to_dict(url))


def database_name(url: str) -> str:
    name = _conninfo(url).get("dbname")
    if not name:
        raise ValueError(f"{url}: the URL names no database")
    return str(name)


def _with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead (still a URL: ``open_store`` takes URLs)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


def _one(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of ``sql`` (None when there is no row)."""
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _maintenance(url: str) -> Any:
    """An autocommit connection to the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    import psycopg

    return psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=10)


def _check_target(url: str) -> None:
    info = _conninfo(url)
    host = str(info.get("host", ""))
    if host not in ("127.0.0.1", "localhost", "::1", "") or host.startswith("/"):
        raise ValueError(f"{url}: the benchmark only uses a PostgreSQL server on 127.0.0.1")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def drop_database(url: str) -> None:
    name = database_name(url)
    with _maintenance(url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")


def create_database(url: str) -> None:
    name = database_name(url)
    with _maintenance(url) as conn:
        conn.execute(f"CREATE DATABASE {_quoted(name)}")


def database_exists(url: str) -> bool:
    with _maintenance(url) as conn:
        found = _one(conn, "SELECT 1 FROM pg_database WHERE datname = %s", (database_name(url),))
    return found is not None


def catalog_digest(url: str) -> tuple[str, int, int]:
    """(sha256 of the schema's catalog, applied migration version, server major version)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        lines = sorted(str(row[0]) for row in conn.execute(_CATALOG_SQL))
        migrations = [
            f"mig:{v}:{n}"
            for v, n in conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1")
        ]
        version = max((int(m.split(":")[1]) for m in migrations), default=0)
        major = int(_one(conn, "SHOW server_version_num")) // 10_000
    digest = hashlib.sha256("\n".join([*lines, *migrations, f"major={major}"]).encode())
    return digest.hexdigest(), version, major


def product_fingerprint(url: str) -> tuple[str, int, int]:
    """:func:`catalog_digest` of an empty database as the product creates it now.

    A throwaway ``<name>_probe`` database migrated with ``open_store``, hashed, dropped (about
    a second).
    """
    from nxlink.store import open_store

    probe = _with_database(url, database_name(url) + "_probe")
    drop_database(probe)
    create_database(probe)
    try:
        open_store(probe).close()
        return catalog_digest(probe)
    finally:
        drop_database(probe)


def sqlite_dataset_sha256() -> str:
    """The SQLite build a PostgreSQL copy came from: the sha256 of its manifest file."""
    return hashlib.sha256(dataset.MANIFEST_PATH.read_bytes()).hexdigest()


def server_settings(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            (list(SETTINGS),),
        ).fetchall()
    return {str(name): str(value) for name, value in rows}


def _database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return int(_one(conn, "SELECT pg_database_size(current_database())"))


def _still_loaded(url: str, manifest: PgManifest, sqlite: dataset.Manifest) -> str:
    """Why the database no longer matches its manifest ("" when it does)."""
    import psycopg

    if not database_exists(url):
        return "the database is missing"
    try:
        schema, _, _ = catalog_digest(url)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            accounts = _one(conn, "SELECT count(*) FROM accounts")
            key = _one(
                conn, "SELECT 1 FROM access_keys WHERE access_key = %s", (sqlite.access_key,)
            )
    except psycopg.Error as exc:
        return f"the database cannot be read ({str(exc).splitlines()[0]})"
    if schema != manifest.schema_sha256:
        return "the database's schema is not the one it was loaded with"
    if accounts != manifest.rows.get("accounts") or key is None:
        return "the database's accounts or keys changed"
    return ""


def load_manifest(url: str, sqlite: dataset.Manifest) -> tuple[PgManifest | None, str]:
    """(the manifest of a usable database, or None; why not)."""
    if not MANIFEST_PATH.is_file():
        return None, "not loaded yet"
    try:
        raw: dict[str, Any] = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
        manifest = PgManifest(**raw)
    except (ValueError, TypeError):
        return None, "unreadable manifest"
    if manifest.version != PG_DATASET_VERSION or manifest.url != url:
        return None, "another dataset version or database"
    if manifest.sqlite_dataset_sha256 != sqlite_dataset_sha256():
        return None, "the SQLite dataset was rebuilt"
    schema, _, _ = product_fingerprint(url)
    if schema != manifest.schema_sha256:
        return None, "the product's PostgreSQL schema changed"
    why = _still_loaded(url, manifest, sqlite)
    return (None, why) if why else (manifest, "")


@contextlib.contextmanager
def _progress(say: Any) -> Iterator[Any]:
    started = time.perf_counter()
    seen: dict[str, int] = {}
    step = 100_000

    def progress(table: str, rows: int) -> None:
        before = seen.get(table, 0)
        seen[table] = before + rows
        if before // step != seen[table] // step:
            took = time.perf_counter() - started
            say(f"  {table}: {seen[table]:>9,} rows ({took:.0f} s)")

    yield progress


def load(url: str, sqlite: dataset.Manifest, *, quiet: bool = False) -> PgManifest:
    """Drop and create the database, copy the SQLite dataset into it, ANALYZE it."""
    from nxlink.store import open_store
    from nxlink.store.copy import copy_database

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    _check_target(url)
    with contextlib.suppress(FileNotFoundError):
        MANIFEST_PATH.unlink()
    schema, schema_version, major = product_fingerprint(url)
    say(f"postgres: loading {sqlite.total_tasks:,} tasks from {dataset.DB_PATH.name} into {url}")
    drop_database(url)
    create_database(url)
    started = time.perf_counter()
    source = open_store(sqlite.db_url)
    try:
        target = open_store(url)
        try:
            with _progress(say) as progress:
                rows = copy_database(source, target, progress=progress)
            loaded = time.perf_counter()
            # copy_database ends with target.analyze() today; called here too so that the
            # statistics (and the visibility map the index-only scans need) never depend on
            # it. Right after the first, the second costs seconds.
            target.analyze()
            analyzed = time.perf_counter()
        finally:
            target.close()
    finally:
        source.close()
    if rows.get("tasks") != sqlite.total_tasks:
        raise RuntimeError(f"copied {rows.get('tasks')} tasks, expected {sqlite.total_tasks}")
    loaded_schema, _, _ = catalog_digest(url)
    if loaded_schema != schema:
        raise RuntimeError("the loaded database's schema differs from an empty migrated one")
    manifest = PgManifest(
        version=PG_DATASET_VERSION,
        url=url,
        sqlite_dataset_sha256=sqlite_dataset_sha256(),
        schema_sha256=schema,
        schema_version=schema_version,
        server_major=major,
        rows=rows,
        load_seconds=round(loaded - started, 1),
        analyze_seconds=round(analyzed - loaded, 1),
        db_bytes=_database_bytes(url),
    )
    tmp = MANIFEST_PATH.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, MANIFEST_PATH)
    say(f"postgres: loaded in {manifest.load_seconds:.1f} s "
        f"({sum(rows.values()):,} rows, {manifest.db_bytes / 2**20:,.0f} MiB)")  # fmt: skip
    return manifest


def ensure(
    sqlite: dataset.Manifest, *, url: str = DEFAULT_URL, reload: bool = False, quiet: bool = False
) -> PgManifest:
    """The PostgreSQL dataset's manifest, (re)loading the database when it is stale."""
    _check_target(url)
    started = time.perf_counter()
    manifest, why = (None, "reload asked") if reload else load_manifest(url, sqlite)
    if manifest is not None:
        if not quiet:
            print(
                f"postgres: cached {url} (version {manifest.version}, "
                f"{manifest.rows.get('tasks', 0):,} tasks, loaded in {manifest.load_seconds:.1f} s;"
                f" checked in {time.perf_counter() - started:.1f} s)",
                flush=True,
            )
        return manifest
    if not quiet:
        print(f"postgres: (re)loading: {why}", flush=True)
    return load(url, sqlite, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL, help="the benchmark's own database")
    parser.add_argument("--reload", action="store_true", help="load even if cached")
    args = parser.parse_args(argv)
    ensure(dataset.ensure(), url=args.url, reload=args.reload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
