"""Options and helpers shared by the commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from nxlink.store import Store, StoreError, open_store

DEFAULT_DB = "sqlite:///./nxlink.db"
F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_url",
        envvar="NXLINK_DB",
        default=DEFAULT_DB,
        show_default=True,
        show_envvar=True,
        help="Database URL.",
    )(func)


@contextmanager
def opened(db_url: str, *, migrate: bool = True) -> Iterator[Store]:
    """Open the store (creating or upgrading the schema unless told not to); refusals become
    usage-style errors."""
    try:
        store = open_store(db_url, migrate=migrate)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
