"""The global options of the client commands (``tasks``, ``sign``) and the client they build.

``nxlink --base-url URL --access-key AK --secret S tasks list``: the main group stores the
options in the click context object, a :class:`ClientOptions`; the admin commands ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
import httpx

from nxlink.client import Client, Sandbox
from nxlink.client._base import ENV_ACCESS_KEY, ENV_ACCESS_SECRET, resolve_base_url
from nxlink.client.sandbox import ENV_ADMIN_TOKEN


@dataclass
class ClientOptions:
    """Where and as whom the client commands call the API.

    ``http_client`` lets a program that embeds the command line (or a test) supply the
    :class:`httpx.Client` requests go through.
    """

    base_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret: str | None = None
    admin_token: str | None = None
    http_client: httpx.Client | None = None

    def resolve(
        self,
        *,
        base_url: str | None,
        base_url_from_command_line: bool,
        region: str | None,
        region_from_command_line: bool,
        access_key: str | None,
        secret: str | None,
        admin_token: str | None = None,
    ) -> None:
        """Take the global options: a command-line option beats an environment variable, and
        ``--base-url`` beats ``--region`` when both come from the environment."""
        if base_url_from_command_line and region_from_command_line:
            raise click.UsageError("give --base-url or --region, not both")
        if region is not None and (region_from_command_line or base_url is None):
            base_url = None
        else:
            region = None
        self.base_url, self.region = base_url, region
        self.access_key, self.secret = access_key, secret
        self.admin_token = admin_token

    def where(self) -> str:
        """The base URL requests go to (usage error when it is not valid)."""
        try:
            return resolve_base_url(base_url=self.base_url, region=self.region)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None

    def credentials(self) -> tuple[str, str]:
        """The access key and secret (usage error when one is missing)."""
        if not self.access_key:
            raise click.UsageError(f"no access key: pass --access-key or set {ENV_ACCESS_KEY}")
        if not self.secret:
            raise click.UsageError(f"no secret: pass --secret or set {ENV_ACCESS_SECRET}")
        return self.access_key, self.secret

    def client(self) -> Client:
        """A :class:`~nxlink.Client` for these options."""
        access_key, secret = self.credentials()
        return Client(
            access_key=access_key,
            access_secret=secret,
            base_url=self.where(),
            http_client=self.http_client,
        )

    def sandbox(self) -> Sandbox:
        """A :class:`~nxlink.Sandbox` for these options (no access key needed)."""
        if not self.admin_token:
            raise click.UsageError(f"no admin token: pass --admin-token or set {ENV_ADMIN_TOKEN}")
        return Sandbox(base_url=self.where(), admin_token=self.admin_token,
                       http_client=self.http_client)  # fmt: skip


def client_options(ctx: click.Context) -> ClientOptions:
    """The context's :class:`ClientOptions` (empty when the group did not run, as in tests)."""
    return ctx.ensure_object(ClientOptions)
