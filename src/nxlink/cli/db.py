"""``nxlink db``: the database itself: its schema version, upgrading it, copying it between
backends."""

from __future__ import annotations

import sys

import click

from nxlink.cli.common import db_option, opened


@click.group()
def db() -> None:
    """The database: show or upgrade its schema, copy it between SQLite and PostgreSQL.

    Every other command upgrades the schema as needed; upgrade and current say what is
    applied.
    """


@db.command("upgrade")
@db_option
def db_upgrade(db_url: str) -> None:
    """Apply the pending schema migrations and print each one applied.

    Safe beside running servers and other upgrades (each migration is one transaction; on
    PostgreSQL, concurrent upgrades of one schema wait for each other).

    \b
    Examples:
      nxlink db upgrade --db sqlite:///./nxlink.db
      nxlink db upgrade --db postgresql://app@db.internal:5432/nxlink
    """
    with opened(db_url, migrate=False, create=True) as store:
        names = dict(store.known_migrations())
        applied = store.migrate()
        store.unlock()
        version = store.schema_version()
    for number in applied:
        click.echo(f"applied {names.get(number, number)}")
    click.echo(f"now at {version}" if applied else f"up to date at {version}")


@db.command("current")
@db_option
def db_current(db_url: str) -> None:
    """Print the database's schema version and the latest this nxlink knows.

    \b
    Examples:
      nxlink db current
      NXLINK_DB=postgresql://app@db.internal/nxlink nxlink db current
    """
    with opened(db_url, migrate=False) as store:
        version = store.schema_version()
        known = store.known_migrations()
    latest = known[-1][0] if known else 0
    if version < latest:
        pending = sum(1 for number, _ in known if number > version)
        click.echo(f"{version} (latest known: {latest}; {pending} pending: "
                   "run nxlink db upgrade)")  # fmt: skip
    else:
        click.echo(f"{version} (latest known: {latest})")


@db.command("copy")
@click.option("--from", "source_url", required=True, metavar="URL",
              help="Database to copy (sqlite:///PATH or postgresql://...).")  # fmt: skip
@click.option("--to", "target_url", required=True, metavar="URL",
              help="Empty database to copy into (created or upgraded first).")  # fmt: skip
def db_copy(source_url: str, target_url: str) -> None:
    """Copy a whole database (accounts, keys, flows, routes, tasks, contacts, calls, callback
    outbox, counters and ids) into an empty one, from SQLite to PostgreSQL or back.

    The copy is one transaction on the target: all or nothing. Stop the servers and
    workers on the source first. Afterwards every endpoint answers the same bytes and
    nxlink verify-counters passes on the target.

    \b
    Examples:
      nxlink db copy --from sqlite:///./nxlink.db --to postgresql://nxlink@db/nxlink
      nxlink db copy --from postgresql://nxlink@db/nxlink --to sqlite:///./back.db
    """
    if source_url == target_url:
        raise click.UsageError("--from and --to name the same database")
    with opened(source_url) as source, opened(target_url, create=True) as target:
        from nxlink.store import StoreError, masked
        from nxlink.store.copy import copy_database, require_empty, total_rows

        try:
            require_empty(target)
            total = total_rows(source)

            with click.progressbar(length=total, label="copying", show_pos=True,
                                   file=sys.stderr) as bar:  # fmt: skip
                copied = copy_database(source, target, progress=lambda _t, n: bar.update(n))
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    tables = ", ".join(f"{name} {n}" for name, n in copied.items() if n)
    click.echo(f"copied {sum(copied.values())} row(s) from {masked(source_url)} to "
               f"{masked(target_url)} ({tables})")  # fmt: skip
