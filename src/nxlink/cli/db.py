"""The database's schema: which migration it is at, and upgrading it."""

from __future__ import annotations

import click

from nxlink.cli.common import db_option, opened


@click.group()
def db() -> None:
    """Show or upgrade the database schema (SQLite or PostgreSQL).

    Every other command upgrades the schema as needed; these two say what is applied.
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
    with opened(db_url, migrate=False) as store:
        names = dict(store.known_migrations())
        applied = store.migrate()
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
