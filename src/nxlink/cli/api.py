"""``nxlink api PATH [BODY]``: call any endpoint, signed with the global credentials, and print
the answer as indented JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from nxlink.cli.options import client_options
from nxlink.client import ApiError, NxError
from nxlink.client._base import api_path
from nxlink.contract.endpoints import ENDPOINTS


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a JSON value")


def parse_body(text: str) -> dict[str, Any]:
    """BODY as a JSON object (blank is ``{}``); a usage error names what is wrong."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_not_json)
    except ValueError as exc:
        raise click.UsageError(f"BODY is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise click.UsageError(f"BODY must be a JSON object, got {_json_kind(value)}")
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "a string"


def _print(answer: dict[str, Any]) -> None:
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2))


def _names(*, read_only: bool) -> str:
    return ", ".join(
        name
        for endpoint in ENDPOINTS
        if endpoint.read_only == read_only
        for name in (endpoint.name, *endpoint.aliases)
    )


@click.command()
@click.argument("path")
@click.argument("body", default="{}")
@click.pass_context
def api(ctx: click.Context, path: str, body: str) -> None:
    """Call any endpoint: POST BODY to PATH and print the answer as indented JSON.

    PATH is the endpoint under /openapi/aiagent/ (task/create) or its full path. BODY is a JSON
    object (default {}; - reads stdin); it is sent as compact JSON, signed with the global
    --access-key and --secret. The answer is printed whatever its code.

    \b
    Endpoints that only read: {read}.
    Endpoints that may change state: {write}.

    Exit status: 0 when the answer's code is 0; 1 for any other answer, or when no answer came
    (the error goes to stderr); 2 bad usage (BODY not a JSON object, missing credentials).
    A call that may change state is resent after a timeout as the same signed bytes (the
    server acts on it once) for 50 s after signing; after that, check before repeating it.

    \b
    Examples:
      nxlink api flow/list
      nxlink api route/list '{"routeName":"HK"}'
      nxlink api task/create '{"taskName":"renewals","autoFlowId":1,"routeId":"CJq6rtX2lg","taskKeep":0,"startupType":1}'
      nxlink api task/start '{"userTaskId":"renewals-2026-01"}'
      echo '{"taskId":"52145b00-abc9-4a87-94c2-ed1e1e42ec1c"}' | nxlink api call/list -
    """  # noqa: E501 - the task/create example reads best on one line
    try:
        full_path = api_path(path)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    raw = sys.stdin.buffer.read() if body == "-" else body.encode()
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise click.UsageError("BODY must be UTF-8") from None
    payload = parse_body(text)
    with client_options(ctx).client() as client:
        try:
            answer = client.request(full_path, payload)
        except ApiError as exc:
            if exc.envelope is None:
                click.echo(f"Error: {exc}", err=True)
            else:
                _print(exc.envelope)
            ctx.exit(1)
        except NxError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
    _print(answer)


# The lists of endpoints come from their declarations.
api.help = (
    (api.help or "")
    .replace("{read}", _names(read_only=True))
    .replace("{write}", _names(read_only=False))
)
