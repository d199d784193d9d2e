"""Options and helpers shared by the commands.

The client commands need only the ``[cli]`` extra; the commands that work on the database import
the store when they run (:func:`opened`), so that without the ``[server]`` extra they say which
extra to install instead of failing to start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from nxlink.service.recordings import RecordingLinks
    from nxlink.store import Store

DEFAULT_DB = "sqlite:///./nxlink.db"
F = TypeVar("F", bound=Callable[..., Any])
#: The extra that brings each optional module the database commands import.
EXTRAS = {
    "orjson": "server",
    "starlette": "server",
    "uvicorn": "server",
    "pydantic_settings": "server",
    "cryptography": "server",
    "psycopg": "postgres",
    "psycopg_pool": "postgres",
}


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


def missing_extra(exc: ModuleNotFoundError) -> click.ClickException:
    """A missing optional dependency as one line naming the extra that brings it."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return click.ClickException(f"missing Python module {module or exc}")
    return click.ClickException(
        f"this command needs the {extra!r} extra (missing module {module}): "
        f"pip install 'nxlink[{extra}]'"
    )


def sqlite_file(db_url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL, None for other databases."""
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :]) if db_url.startswith(prefix) else None


@contextmanager
def opened(db_url: str, *, migrate: bool = True, create: bool = False) -> Iterator[Store]:
    """Open the store (creating or upgrading the schema unless told not to); refusals become
    usage-style errors.

    Only commands that make a database's first data (``create``) may create a SQLite file; the
    others refuse a file that does not exist, naming it and how to point at the right one.
    """
    try:
        from nxlink.store import StoreError, open_store
    except ModuleNotFoundError as exc:
        raise missing_extra(exc) from None
    path = sqlite_file(db_url)
    if not create and path is not None and path.name and not path.exists():
        raise click.ClickException(
            f"no database at {path} ({db_url}): point at yours with --db URL or "
            "NXLINK_DB=URL (nxlink accounts create NAME makes a new one)"
        )
    try:
        store = open_store(db_url, migrate=migrate)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    except ModuleNotFoundError as exc:
        raise missing_extra(exc) from None
    try:
        yield store
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def recording_links(store: Store) -> RecordingLinks:
    """The recordings' links a dialer puts in call callbacks, as the server's settings say
    (``NXLINK_PUBLIC_URL``, ``NXLINK_RECORDING_TTL_S``, ``NXLINK_RECORDING_KEY``; else
    ``http://NXLINK_HOST:NXLINK_PORT`` and the key derived from the master key)."""
    from nxlink.server.settings import Settings
    from nxlink.service.recordings import RecordingLinks

    try:
        settings = Settings()
    except ValueError as exc:
        raise click.ClickException(f"settings: {exc}") from None
    return RecordingLinks(store, base_url=settings.public_base_url(),
                          ttl_s=settings.recording_ttl_s, key=settings.recording_key)  # fmt: skip
