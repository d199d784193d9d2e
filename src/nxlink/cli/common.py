"""Options and helpers shared by the commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nxlink.store import Store, StoreError, open_store

if TYPE_CHECKING:
    from nxlink.service.recordings import RecordingLinks

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


def recording_links(store: Store) -> RecordingLinks:
    """The recordings' links a dialer puts in call callbacks, as the server's settings say
    (``NXLINK_PUBLIC_URL``, ``NXLINK_RECORDING_TTL_S``, ``NXLINK_RECORDING_KEY``; else
    ``http://NXLINK_HOST:NXLINK_PORT`` and the database's key)."""
    from nxlink.server.settings import Settings
    from nxlink.service.recordings import RecordingLinks

    try:
        settings = Settings()
    except ValueError as exc:
        raise click.ClickException(f"settings: {exc}") from None
    return RecordingLinks(store, base_url=settings.public_base_url(),
                          ttl_s=settings.recording_ttl_s, key=settings.recording_key)  # fmt: skip
