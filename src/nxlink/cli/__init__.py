"""The ``nxlink`` command line.

Admin commands work on the database directly (no server needed); each takes ``--db URL``
(env ``NXLINK_DB``, default ``sqlite:///./nxlink.db``) and creates or upgrades the schema.
"""

from __future__ import annotations

import click

from nxlink.cli.admin import accounts, flows, keys, routes, seed
from nxlink.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="nxlink")
def main() -> None:
    """nxlink: an NXLink-compatible outbound AI-agent task service.

    \b
    Quick start:
      nxlink accounts create acme
      nxlink keys create --account acme
      nxlink seed --account acme --tasks 1000
      nxlink serve
    """


main.add_command(serve)
main.add_command(accounts)
main.add_command(keys)
main.add_command(flows)
main.add_command(routes)
main.add_command(seed)
