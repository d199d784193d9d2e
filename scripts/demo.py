"""`make demo`: a demo database (created once), the server with the simulated dialer at 60x,
a few live tasks created through the API, and how to call it."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from nxlink import Client
from nxlink.service import admin
from nxlink.service.seeding import seed_account
from nxlink.store import open_store

ACCOUNT = "demo"
DEMO_TASKS = 5000
#: Simulated seconds per real second: a call of a minute or two lasts a second or two.
SPEED = 60
#: Live tasks created through the API on each start, and their contacts.
LIVE_TASKS = (("Renewal reminders", 5, ""), ("Payment follow-up", 3, "collections"),
              ("Survey", 8, ""))  # fmt: skip
CONTACTS = 1500
TOP_UP_CENTS = 5_000_000


def curl_command(*, base_url: str, access_key: str, secret: str) -> str:
    return f"""BODY='{{"pageNumber":1,"pageSize":2,"taskStatus":2}}'
TS=$(date +%s%3N)
PRE="accessKey={access_key}&action=nxai&bizType=100&ts=$TS&body=$BODY&accessSecret={secret}"
SIGN=$(printf '%s' "$PRE" | md5sum | cut -d' ' -f1)
curl -s {base_url}/openapi/aiagent/task/list \\
  -H 'Content-Type: application/json' -H 'accessKey: {access_key}' -H "ts: $TS" \\
  -H 'bizType: 100' -H 'action: nxai' -H "sign: $SIGN" -d "$BODY\""""


def prepare(db_path: Path, credentials_path: Path) -> dict[str, object]:
    store = open_store(f"sqlite:///{db_path}")
    try:
        if store.get_account(ACCOUNT) is None:
            print(f"creating the demo database {db_path} ...", file=sys.stderr)
            admin.create_account(store, ACCOUNT)
            admin.create_flow(store, ACCOUNT, name="Renewal agent", variables=["name", "due"])
            admin.create_route(store, ACCOUNT, name="HK mobile", country_code="852",
                               answer_probability=0.62, talk_seconds_mean=75,
                               price_per_minute_cents=2)  # fmt: skip
            seed_account(store, ACCOUNT, count=DEMO_TASKS, seed=2026)
            admin.top_up(store, ACCOUNT, TOP_UP_CENTS)
            credentials_path.unlink(missing_ok=True)
        if not credentials_path.exists():
            issued = admin.create_key(store, ACCOUNT)
            credentials = {
                "accessKey": issued.access_key,
                "accessSecret": issued.access_secret,
                "saasUserId": issued.saas_user_id,
            }
            credentials_path.write_text(json.dumps(credentials, indent=2) + "\n")
            credentials_path.chmod(0o600)
        data: dict[str, object] = json.loads(credentials_path.read_text())
        return data
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=".demo", help="Where the demo database lives.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    folder = Path(args.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "nxlink.db"
    creds = prepare(db_path, folder / "credentials.json")
    base_url = f"http://{args.host}:{args.port}"
    access_key, secret = str(creds["accessKey"]), str(creds["accessSecret"])
    admin_token = os.environ.get("NXLINK_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    server = subprocess.Popen([
        str(Path(sys.executable).with_name("nxlink")), "serve", "--db", f"sqlite:///{db_path}",
        "--host", args.host, "--port", str(args.port), "--simulate", "--speed", str(SPEED),
        "--seed", "2026", "--no-log",
    ], env={**os.environ, "NXLINK_ADMIN_TOKEN": admin_token})  # fmt: skip
    try:
        _wait_ready(base_url, server)
        with Client(base_url=base_url, access_key=access_key, access_secret=secret) as client:
            created = create_live_tasks(client)
        print(
            f"""
nxlink demo: {DEMO_TASKS:,} seeded tasks in account {ACCOUNT!r} (saasUserId \
{creds["saasUserId"]}), {db_path}; the simulated dialer runs at {SPEED}x (a simulated minute \
per second). Just created through the API, now dialling:
{created}

  accessKey:    {access_key}
  accessSecret: {secret}
  base URL:     {base_url}   (docs: {base_url}/docs)
  admin token:  {admin_token}   (the sandbox's controls under {base_url}/_nxlink/)

Open the dashboard and sign in with the access key and secret above:

  {base_url}/ui/

List the live tasks twice, a few seconds apart, and watch their numbers move:

  export NXLINK_BASE_URL={base_url} NXLINK_ACCESS_KEY={access_key} \\
         NXLINK_ACCESS_SECRET={secret}
  .venv/bin/nxlink tasks list --name "(live)"

Move the sandbox's clock: freeze it, then run a simulated hour at once and see what happened:

  export NXLINK_ADMIN_TOKEN={admin_token}
  .venv/bin/nxlink sandbox clock --freeze
  .venv/bin/nxlink sandbox advance 1h
  .venv/bin/nxlink sandbox journal --count      # the API requests made so far

Or call the task list with curl (paste as is; it signs with md5 over the exact body):

{curl_command(base_url=base_url, access_key=access_key, secret=secret)}

The admin commands work on this database once told where it is:

  export NXLINK_DB=sqlite:///{db_path}
  .venv/bin/nxlink verify-counters

Ctrl-C stops the server. The database and key are kept for the next `make demo`.
""",
            flush=True,
        )
        server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.terminate()


def _wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready within 60 s")


def create_live_tasks(client: Client) -> str:
    """Create LIVE_TASKS with CONTACTS contacts each, started at once; one line per task."""
    flow = client.request_page("flow/list").rows[0]
    route = client.request_page("route/list").rows[0]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lines = []
    for number, (name, max_call, agent_group) in enumerate(LIVE_TASKS, 1):
        contacts = [
            {"contactId": f"{stamp}-{number}-{i}", "name": f"Customer {i}",
             "phoneNumber": f"+8529{number}{i:06d}",
             "params": [{"name": "name", "value": f"Customer {i}"},
                        {"name": "due", "value": "2026-12-31"}]}
            for i in range(CONTACTS)
        ]  # fmt: skip
        answer = client.request("task/create", {
            "taskName": f"{name} (live)", "autoFlowId": flow["autoFlowId"],
            "routeId": route["routeId"], "taskKeep": 0, "startupType": 3,
            "userTaskId": f"demo-{stamp}-{number}", "maxCall": max_call, "orderMaxCall": 2,
            "replayInterval": 900, "agentGroupId": agent_group, "list": contacts,
        })  # fmt: skip
        lines.append(f"  {answer['data']['taskId']}  {name} (live): {CONTACTS:,} contacts, "
                     f"maxCall {max_call}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
