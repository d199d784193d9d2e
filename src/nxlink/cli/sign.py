"""``nxlink sign``: the auth headers and a ``curl`` command for a body (a debugging aid)."""

from __future__ import annotations

import shlex
import sys

import click

from nxlink import signing
from nxlink.cli.options import client_options
from nxlink.client._auth import system_clock_ms

TASK_LIST_PATH = "/openapi/aiagent/task/list"


@click.command()
@click.argument("body", default="{}")
@click.option("--path", default=TASK_LIST_PATH, show_default=True, help="Endpoint path.")
@click.option(
    "--ts", type=click.IntRange(min=0), help="Epoch milliseconds to sign with [default: now]."
)
@click.option(
    "--algorithm",
    type=click.Choice(signing.ALGORITHMS, case_sensitive=False),
    default="md5",
    show_default=True,
    help="Digest of the signature.",
)
@click.pass_context
def sign(ctx: click.Context, body: str, path: str, ts: int | None, algorithm: str) -> None:
    """Print the auth headers for BODY (default {}; - reads stdin) and a curl command.

    The body is signed byte for byte as given, so paste it into your own client unchanged. The
    pre-image is printed with the secret hidden, to compare with your own.

    \b
    Examples:
      nxlink sign '{"pageNumber":1,"pageSize":10}'
      nxlink --base-url http://127.0.0.1:8000 sign '{"taskStatus":2}' --algorithm sha256
      echo -n '{"taskName":"renewal"}' | nxlink sign -
    """
    options = client_options(ctx)
    access_key, secret = options.credentials()
    base_url = options.where()
    raw = sys.stdin.buffer.read() if body == "-" else body.encode()
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise click.UsageError("the body must be UTF-8") from None
    algo = signing.normalize_algorithm(algorithm)
    assert algo is not None
    stamp = str(ts if ts is not None else system_clock_ms())
    headers = signing.headers(
        access_key=access_key, access_secret=secret, ts=stamp, body=raw, algorithm=algo
    )
    pre = signing.preimage(
        access_key=access_key, action=signing.ACTION, biz_type=signing.BIZ_TYPE, ts=stamp,
        body=raw, access_secret="<secret>",
    )  # fmt: skip
    for name, value in headers.items():
        click.echo(f"{name}: {value}")
    click.echo(f"pre-image: {pre.decode()}")
    click.echo("")
    lines = [f"curl -sS -X POST {shlex.quote(base_url + path)}"]
    lines.append(f"-H {shlex.quote('Content-Type: application/json')}")
    lines.extend(f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items())
    lines.append(f"--data-binary {shlex.quote(text)}")
    click.echo(" \\\n  ".join(lines))
