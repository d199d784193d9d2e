"""The ``nxlink`` command line.

Admin commands work on the database directly (no server needed); each takes ``--db URL``
(env ``NXLINK_DB``, default ``sqlite:///./nxlink.db``) and creates or upgrades the schema.
Client commands (``tasks``, ``sign``) call the API with the global ``--base-url``/``--region``,
``--access-key`` and ``--secret`` options (env ``NXLINK_BASE_URL``, ``NXLINK_REGION``,
``NXLINK_ACCESS_KEY``, ``NXLINK_ACCESS_SECRET``); ``sandbox`` commands call the admin API with
``--base-url`` and ``--admin-token`` (env ``NXLINK_ADMIN_TOKEN``).
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from nxlink.cli.admin import accounts, flows, keys, routes, seed
from nxlink.cli.api import api
from nxlink.cli.callbacks import callbacks
from nxlink.cli.db import db
from nxlink.cli.lifecycle import simulate, verify_counters
from nxlink.cli.options import client_options
from nxlink.cli.sandbox import sandbox
from nxlink.cli.serve import serve
from nxlink.cli.sign import sign
from nxlink.cli.tasks import tasks
from nxlink.cli.worker import worker
from nxlink.client import REGIONS


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="nxlink")
@click.option(
    "--base-url",
    envvar="NXLINK_BASE_URL",
    show_envvar=True,
    metavar="URL",
    help="API base URL, e.g. http://127.0.0.1:8000 (client commands).",
)
@click.option(
    "--region",
    type=click.Choice(list(REGIONS), case_sensitive=False),
    envvar="NXLINK_REGION",
    show_envvar=True,
    help="Vendor gateway instead of --base-url (default hk).",
)
@click.option(
    "--access-key",
    envvar="NXLINK_ACCESS_KEY",
    show_envvar=True,
    metavar="KEY",
    help="Access key (client commands).",
)
@click.option(
    "--secret",
    envvar="NXLINK_ACCESS_SECRET",
    show_envvar=True,
    metavar="SECRET",
    help="Access secret; prefer the environment variable, command lines are visible "
    "to other users.",
)
@click.option(
    "--admin-token",
    envvar="NXLINK_ADMIN_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="The sandbox's admin token (nxlink sandbox ...).",
)
@click.pass_context
def main(
    ctx: click.Context,
    base_url: str | None,
    region: str | None,
    access_key: str | None,
    secret: str | None,
    admin_token: str | None,
) -> None:
    """nxlink: an NXLink-compatible outbound AI-agent task service.

    \b
    Quick start:
      nxlink accounts create acme
      nxlink keys create --account acme
      nxlink seed --account acme --tasks 1000
      nxlink serve
    \b
    Then, from another terminal:
      export NXLINK_BASE_URL=http://127.0.0.1:8000
      export NXLINK_ACCESS_KEY=AK-... NXLINK_ACCESS_SECRET=...
      nxlink tasks list --status in-progress
    """
    client_options(ctx).resolve(
        base_url=base_url,
        base_url_from_command_line=ctx.get_parameter_source("base_url")
        == ParameterSource.COMMANDLINE,
        region=region.lower() if region else None,
        region_from_command_line=ctx.get_parameter_source("region") == ParameterSource.COMMANDLINE,
        access_key=access_key,
        secret=secret,
        admin_token=admin_token,
    )


main.add_command(serve)
main.add_command(worker)
main.add_command(accounts)
main.add_command(keys)
main.add_command(flows)
main.add_command(routes)
main.add_command(seed)
main.add_command(tasks)
main.add_command(sign)
main.add_command(api)
main.add_command(simulate)
main.add_command(verify_counters)
main.add_command(callbacks)
main.add_command(db)
main.add_command(sandbox)
