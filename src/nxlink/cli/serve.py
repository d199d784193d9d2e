"""``nxlink serve``: the HTTP server on uvicorn."""

from __future__ import annotations

import os
import secrets

import click

from nxlink.cli.common import DEFAULT_DB, missing_extra, opened
from nxlink.contract.endpoints import ENVELOPE_SETTINGS


@click.command()
@click.option("--db", "db_url", envvar="NXLINK_DB", default=DEFAULT_DB, show_default=True,
              show_envvar=True, help="Database URL.")  # fmt: skip
@click.option("--host", envvar="NXLINK_HOST", default="127.0.0.1", show_default=True,
              help="Address to bind.")  # fmt: skip
@click.option("--port", envvar="NXLINK_PORT", type=click.IntRange(0, 65535), default=8000,
              show_default=True, help="Port to bind.")  # fmt: skip
@click.option("--workers", envvar="NXLINK_WORKERS", type=click.IntRange(1, 64), default=1,
              show_default=True, help="Server processes.")  # fmt: skip
@click.option("--envelope", envvar="NXLINK_ENVELOPE", type=click.Choice(ENVELOPE_SETTINGS),
              default="vendor", show_default=True,
              help="Where the lists' page fields go: as the vendor documents each list "
              "(vendor), beside code/message (flat) or under 'data' for every list.")  # fmt: skip
@click.option("--log-file", envvar="NXLINK_LOG_FILE", default=None,
              help="Request log file (JSON lines; default stderr).")  # fmt: skip
@click.option("--no-log", is_flag=True, help="Do not write the request log.")
@click.option("--no-deliver", is_flag=True,
              help="Leave the callback outbox to the workers (nxlink worker).")  # fmt: skip
@click.option("--simulate", is_flag=True, envvar="NXLINK_SIMULATE",
              help="Run the simulated dialer inside the server.")  # fmt: skip
@click.option("--speed", type=click.FloatRange(min=0, min_open=True, max=100_000), default=1.0,
              show_default=True, envvar="NXLINK_SIM_SPEED",
              help="Simulated seconds per real second (with --simulate).")  # fmt: skip
@click.option(
    "--seed",
    "sim_seed",
    type=int,
    default=0,
    show_default=True,
    envvar="NXLINK_SIM_SEED",
    help="Seed of simulated outcomes (with --simulate).",
)
def serve(
    db_url: str, host: str, port: int, workers: int, envelope: str, log_file: str | None,
    no_log: bool, no_deliver: bool, simulate: bool, speed: float, sim_seed: int,
) -> None:  # fmt: skip
    """Run the HTTP server (and, with --simulate, the simulated dialer in it).

    The server also delivers the callback outbox, unless --no-deliver. Any number of API
    processes and workers (nxlink worker) may share one database. Other settings come from
    NXLINK_* environment variables (see the README), among them the connection limits
    (NXLINK_MAX_CONNECTIONS per worker, by default the open-file limit less a reserve) and
    the sandbox's admin API (NXLINK_ADMIN=off removes it; NXLINK_ADMIN_TOKEN is its bearer
    token, else a random one printed at start).

    \b
    Examples:
      nxlink serve --db sqlite:///./nxlink.db --port 8000 --workers 2
      nxlink serve --simulate --speed 60 --seed 7
      nxlink serve --db postgresql://nxlink@db/nxlink --workers 4 --no-deliver
    """
    try:
        import uvicorn

        from nxlink.server.protocol import ConnectionLimitError, connection_cap
        from nxlink.server.settings import Settings
    except ModuleNotFoundError as exc:
        raise missing_extra(exc) from None

    # Workers read their settings from the environment; validate them here first.
    os.environ["NXLINK_DB"] = db_url
    os.environ["NXLINK_HOST"] = host
    os.environ["NXLINK_PORT"] = str(port)
    os.environ["NXLINK_WORKERS"] = str(workers)
    os.environ["NXLINK_ENVELOPE"] = envelope
    if log_file:
        os.environ["NXLINK_LOG_FILE"] = log_file
    if no_deliver:
        os.environ["NXLINK_DELIVER_CALLBACKS"] = "false"
    if no_log:
        os.environ["NXLINK_LOG_REQUESTS"] = "false"
    os.environ["NXLINK_SIMULATE"] = "true" if simulate else "false"
    os.environ["NXLINK_SIM_SPEED"] = repr(speed)
    os.environ["NXLINK_SIM_SEED"] = str(sim_seed)
    generated = False
    if not os.environ.get("NXLINK_ADMIN_TOKEN"):
        # One token for every worker process: made here, handed down by the environment.
        os.environ["NXLINK_ADMIN_TOKEN"] = secrets.token_urlsafe(24)
        generated = True
    try:
        settings = Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from None
    try:
        cap = connection_cap(settings)
    except ConnectionLimitError as exc:
        raise click.ClickException(str(exc)) from None
    with opened(settings.db, create=True):
        pass  # creates or upgrades the schema once, before any worker starts
    simulating = f", simulating at {speed:g}x with seed {sim_seed}" if simulate else ""
    click.echo(
        f"nxlink serving {settings.db} on http://{host}:{port} ({workers} worker(s) of up to "
        f"{cap} connections{simulating})",
        err=True,
    )
    if settings.admin:
        token = settings.admin_token if generated else "(NXLINK_ADMIN_TOKEN)"
        click.echo(f"admin API: http://{host}:{port}/_nxlink/ with "
                   f"'Authorization: Bearer {token}'", err=True)  # fmt: skip
    uvicorn.run(
        "nxlink.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        server_header=False,
        # The connection limits (nxlink.server.protocol); no websockets, which would bypass them.
        http="nxlink.server.protocol:LimitedHttpToolsProtocol",
        ws="none",
        timeout_keep_alive=settings.keep_alive_s,
        backlog=settings.backlog,
        # SIGTERM: stop accepting, let requests in flight finish (up to this), then stop.
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
    )
