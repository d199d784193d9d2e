"""Administration on the database directly: accounts, keys, flows, routes, seeding."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from nxlink.cli.common import db_option, opened
from nxlink.cli.output import print_table, when


@click.group()
def accounts() -> None:
    """Create and list accounts (tenants; saasUserId)."""


@accounts.command("create")
@click.argument("name")
@db_option
def accounts_create(name: str, db_url: str) -> None:
    """Create an account NAME.

    Example: nxlink accounts create acme
    """
    with opened(db_url, create=True) as store:
        from nxlink.service import admin

        account = admin.create_account(store, name)
    click.echo(f"created account {account.name!r} (saasUserId {account.id})")


@accounts.command("list")
@db_option
def accounts_list(db_url: str) -> None:
    """List accounts with their task counts.

    Example: nxlink accounts list
    """
    with opened(db_url) as store:
        rows = [
            (a.id, a.name, "yes" if a.enabled else "no", a.balance_cents, store.count_tasks(a.id),
             when(a.created_ts))
            for a in store.list_accounts()
        ]  # fmt: skip
    print_table(("saasUserId", "name", "enabled", "balance", "tasks", "created"), rows)


@accounts.command("topup")
@click.argument("name")
@click.option("--amount", type=click.IntRange(min=1), required=True, metavar="CENTS",
              help="Cents to add to the balance.")  # fmt: skip
@db_option
def accounts_topup(name: str, amount: int, db_url: str) -> None:
    """Add AMOUNT cents to account NAME's balance; tasks paused for balance resume.

    Example: nxlink accounts topup acme --amount 50000
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        balance, resumed = admin.top_up(store, name, amount)
    click.echo(f"balance of {name!r}: {balance} cents"
               + (f"; {resumed} task(s) resumed" if resumed else ""))  # fmt: skip


@accounts.command("set-callbacks")
@click.argument("name")
@click.option(
    "--task-url",
    metavar="URL",
    default=None,
    help="Default taskCallbackUrl for tasks created without one ('' clears it).",
)
@click.option(
    "--call-url",
    metavar="URL",
    default=None,
    help="Default callCallbackUrl for calls whose contact and task have none ('' clears it).",
)
@click.option(
    "--signed/--unsigned",
    default=None,
    help="Sign callbacks with the five auth headers (the default), or send them "
    "without any (no sign).",
)
@db_option
def accounts_set_callbacks(
    name: str, task_url: str | None, call_url: str | None, signed: bool | None, db_url: str
) -> None:
    """Set account NAME's default callback URLs and whether its callbacks are signed; with no
    option, show them.

    A default URL applies to events written from now on; signed or unsigned applies to every
    try from now on, retries of pending callbacks included.

    \b
    Examples:
      nxlink accounts set-callbacks acme --task-url https://crm.example.com/nxlink/tasks
      nxlink accounts set-callbacks acme --call-url https://crm.example.com/nxlink/calls --unsigned
      nxlink accounts set-callbacks acme --call-url '' --signed
    """  # fmt: skip
    with opened(db_url) as store:
        from nxlink.service import admin

        if task_url is None and call_url is None and signed is None:
            account = admin.require_account(store, name)
        else:
            account = admin.set_callbacks(store, name, task_url=task_url, call_url=call_url,
                                          signed=signed)  # fmt: skip
    click.echo(f"callbacks of {account.name!r}: "
               f"task URL {account.task_callback_url or '(none)'}, "
               f"call URL {account.call_callback_url or '(none)'}, "
               f"{'signed' if account.callbacks_signed else 'unsigned'}")  # fmt: skip


@click.group()
def keys() -> None:
    """Create, list and revoke access keys."""


@keys.command("create")
@click.option("--account", "account_name", required=True, help="Account that owns the key.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print {accessKey, accessSecret, saasUserId}."
)
@click.option(
    "--export",
    "as_export",
    is_flag=True,
    help="Print export lines for NXLINK_ACCESS_KEY and NXLINK_ACCESS_SECRET.",
)
@db_option
def keys_create(account_name: str, as_json: bool, as_export: bool, db_url: str) -> None:
    """Create a key; its secret is printed this once only.

    \b
    Examples:
      nxlink keys create --account acme --json
      eval "$(nxlink keys create --account acme --export)"
    """
    if as_json and as_export:
        raise click.UsageError("--json and --export exclude each other")
    with opened(db_url) as store:
        from nxlink.service import admin

        issued = admin.create_key(store, account_name)
    if as_json:
        click.echo(json.dumps({
            "accessKey": issued.access_key,
            "accessSecret": issued.access_secret,
            "saasUserId": issued.saas_user_id,
        }))  # fmt: skip
        return
    if as_export:
        click.echo(f"export NXLINK_ACCESS_KEY={issued.access_key} "
                   f"NXLINK_ACCESS_SECRET={issued.access_secret}")  # fmt: skip
        return
    click.echo(f"accessKey:    {issued.access_key}")
    click.echo(f"accessSecret: {issued.access_secret}")
    click.echo(f"saasUserId:   {issued.saas_user_id}")
    click.echo("Keep the secret now: it is not shown again.", err=True)


@keys.command("list")
@db_option
def keys_list(db_url: str) -> None:
    """List keys (never their secrets).

    Example: nxlink keys list
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        rows = [
            (k.access_key, k.account_name, k.account_id, "active" if k.enabled else "revoked",
             when(k.created_ts), when(k.revoked_ts))
            for k in admin.list_keys(store)
        ]  # fmt: skip
    print_table(("accessKey", "account", "saasUserId", "state", "created", "revoked"), rows)


@keys.command("revoke")
@click.argument("key")
@db_option
def keys_revoke(key: str, db_url: str) -> None:
    """Revoke access key KEY; requests signed with it then answer 1005.

    Example: nxlink keys revoke AK-6230339248928541113-2133
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        admin.revoke_key(store, key)
    click.echo(f"revoked {key}")


@keys.command("rotate-master")
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the new master key to this new file (needed when NXLINK_MASTER_KEY is set).",
)
@db_option
def keys_rotate_master(new_key_file: Path | None, db_url: str) -> None:
    """Seal every access secret under a new master key, in one transaction.

    The new key goes first in the key file (NXLINK_MASTER_KEY_FILE, default
    ~/.config/nxlink/master.key), which keeps the older keys for other databases; or to
    --new-key-file. Stop the servers and workers on the database first, and start them with
    the new key. No key or secret is printed.

    \b
    Examples:
      nxlink keys rotate-master
      nxlink keys rotate-master --new-key-file /etc/nxlink/master.key.2
    """
    with opened(db_url) as store:
        from nxlink.service import admin
        from nxlink.store import MasterKeySource

        done = admin.rotate_master(store, MasterKeySource.from_env(), new_key_file=new_key_file)
    click.echo(f"sealed {done.resealed} secret(s) under master key {done.key_id}, "
               f"kept in {done.key_file}")  # fmt: skip
    if new_key_file is not None:
        click.echo(
            f"point NXLINK_MASTER_KEY_FILE at {new_key_file}, or set NXLINK_MASTER_KEY "
            "to its contents, before starting nxlink on this database",
            err=True,
        )


@click.group()
def flows() -> None:
    """Create AI agents (flows, autoFlowId)."""


@flows.command("create")
@click.option("--account", "account_name", required=True, help="Account that owns the flow.")
@click.option("--name", required=True, help="Flow (agent) name.")
@click.option("--variables", default="", help="Comma-separated variable names, e.g. name,amount.")
@click.option("--json", "as_json", is_flag=True, help="Print {autoFlowId, name, variables}.")
@db_option
def flows_create(account_name: str, name: str, variables: str, as_json: bool, db_url: str) -> None:
    """Create a flow and print its autoFlowId.

    Example: nxlink flows create --account acme --name "Renewal agent" --variables name,due
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        flow = admin.create_flow(store, account_name, name=name, variables=variables.split(","))
    if as_json:
        click.echo(json.dumps(
            {"autoFlowId": flow.id, "name": flow.name, "variables": list(flow.variables)}
        ))  # fmt: skip
    else:
        click.echo(f"autoFlowId: {flow.id}")


@flows.command("disable")
@click.argument("flow_id", type=int)
@db_option
def flows_disable(flow_id: int, db_url: str) -> None:
    """Disable flow FLOW_ID (autoFlowId): its tasks in progress fail (status 4).

    Example: nxlink flows disable 3
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        failed = admin.set_enabled(store, flow_id=flow_id, enabled=False)
    click.echo(f"disabled flow {flow_id}; {len(failed)} task(s) failed")


@flows.command("enable")
@click.argument("flow_id", type=int)
@db_option
def flows_enable(flow_id: int, db_url: str) -> None:
    """Enable flow FLOW_ID again (failed tasks stay failed).

    Example: nxlink flows enable 3
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        admin.set_enabled(store, flow_id=flow_id, enabled=True)
    click.echo(f"enabled flow {flow_id}")


@click.group()
def routes() -> None:
    """Create call routes (routeId) and their simulated outcome profile."""


@routes.command("create")
@click.option("--account", "account_name", required=True, help="Account that owns the route.")
@click.option("--name", required=True, help="Route name.")
@click.option("--country-code", default="", help="Country calling code, e.g. 852.")
@click.option("--route-id", default=None, help="Choose the routeId (default: 10 random letters "
              "and digits).")  # fmt: skip
@click.option("--answer-rate", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Simulator: probability that a call is answered.")  # fmt: skip
@click.option("--talk-seconds", type=click.IntRange(min=0), default=60, show_default=True,
              help="Simulator: mean seconds of conversation.")  # fmt: skip
@click.option(
    "--price-per-minute",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="CENTS",
    help="Cents charged per answered minute (started).",
)
@click.option("--caller-phone", default=None, metavar="+NUMBER",
              help="The number its calls come from (callerPhone; default: a number of its "
              "country made from the routeId).")  # fmt: skip
@click.option("--line", "line_ids", multiple=True, metavar="LINE_ID",
              help="A line (trunk) of the route, repeatable (lineId; default: ROUTE_ID-L1 and "
              "ROUTE_ID-L2).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print {routeId, name, countryCode}.")
@db_option
def routes_create(
    account_name: str, name: str, country_code: str, route_id: str | None, answer_rate: float,
    talk_seconds: int, price_per_minute: int, caller_phone: str | None,
    line_ids: tuple[str, ...], as_json: bool, db_url: str,
) -> None:  # fmt: skip
    """Create a route and print its routeId.

    \b
    Examples:
      nxlink routes create --account acme --name "HK mobile" --country-code 852
      nxlink routes create --account acme --name busy --answer-rate 0.2 --talk-seconds 90 \\
        --price-per-minute 4
      nxlink routes create --account acme --name "HK trunk" --country-code 852 \\
        --caller-phone +85230001000 --line hk-sip-1 --line hk-sip-2
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        route = admin.create_route(
            store, account_name, name=name, country_code=country_code,
            answer_probability=answer_rate, talk_seconds_mean=talk_seconds,
            price_per_minute_cents=price_per_minute, route_id=route_id,
            caller_phone=caller_phone, line_ids=line_ids,
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(
            {"routeId": route.route_id, "name": route.name, "countryCode": route.country_code}
        ))  # fmt: skip
    else:
        click.echo(f"routeId: {route.route_id}")


@routes.command("disable")
@click.argument("route_id")
@db_option
def routes_disable(route_id: str, db_url: str) -> None:
    """Disable route ROUTE_ID: its tasks in progress fail (status 4).

    Example: nxlink routes disable CJq6rtX2lg
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        failed = admin.set_enabled(store, route_id=route_id, enabled=False)
    click.echo(f"disabled route {route_id}; {len(failed)} task(s) failed")


@routes.command("enable")
@click.argument("route_id")
@db_option
def routes_enable(route_id: str, db_url: str) -> None:
    """Enable route ROUTE_ID again (failed tasks stay failed).

    Example: nxlink routes enable CJq6rtX2lg
    """
    with opened(db_url) as store:
        from nxlink.service import admin

        admin.set_enabled(store, route_id=route_id, enabled=True)
    click.echo(f"enabled route {route_id}")


@click.command()
@click.option("--account", "account_name", required=True, help="Account to fill.")
@click.option("--tasks", "count", type=click.IntRange(1, 10_000_000), required=True,
              help="How many tasks to add.")  # fmt: skip
@click.option("--seed", "seed_value", type=int, default=0, show_default=True,
              help="Random seed: the same seed and account give the same tasks.")  # fmt: skip
@click.option("--now", type=int, default=None,
              help="Epoch seconds the year of creation times ends at (default: now).")  # fmt: skip
@db_option
def seed(account_name: str, count: int, seed_value: int, now: int | None, db_url: str) -> None:
    """Add COUNT deterministic, realistic tasks with consistent counters to an account.

    Uses the account's flows and routes, creating one of each first if it has none.

    Example: nxlink seed --account acme --tasks 5000 --seed 7
    """
    from nxlink.service.seeding import seed_account

    started = time.perf_counter()
    with opened(db_url) as store:
        added = seed_account(
            store, account_name, count=count, seed=seed_value, now=now,
            progress=lambda done: click.echo(f"\r{done:,}/{count:,} tasks", nl=False, err=True),
        )  # fmt: skip
    click.echo("", err=True)
    click.echo(
        f"added {added:,} tasks to {account_name!r} in {time.perf_counter() - started:.1f} s"
    )
