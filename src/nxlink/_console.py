"""The ``nxlink`` console script: the command line, or one line naming the extra it needs.

Kept apart from :mod:`nxlink.cli`, which imports click: installed without the ``[cli]`` extra,
``nxlink`` says what to install instead of dying with a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from nxlink.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "click":
            raise
        sys.exit("nxlink: the command line needs the 'cli' extra: pip install 'nxlink[cli]' "
                 "(and 'nxlink[server]' to serve or administer a database)")  # fmt: skip
    cli_main()


if __name__ == "__main__":
    main()
