"""`make demo`: a demo database (created once), then the server, with how to call it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nxlink.service import admin
from nxlink.service.seeding import seed_account
from nxlink.store import open_store

ACCOUNT = "demo"
DEMO_TASKS = 5000


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
            admin.create_route(store, ACCOUNT, name="HK mobile", country_code="852")
            seed_account(store, ACCOUNT, count=DEMO_TASKS, seed=2026)
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
    print(
        f"""
nxlink demo: {DEMO_TASKS} tasks in account {ACCOUNT!r} (saasUserId {creds["saasUserId"]}), {db_path}

  accessKey:    {access_key}
  accessSecret: {secret}
  base URL:     {base_url}   (docs: {base_url}/docs)

Call the task list from another terminal (paste as is; it signs with md5 over the exact body):

{curl_command(base_url=base_url, access_key=access_key, secret=secret)}

Starting the server; Ctrl-C stops it. The database and key are kept for the next `make demo`.
""",
        flush=True,
    )
    nxlink = Path(sys.executable).with_name("nxlink")
    os.execv(
        str(nxlink),
        [str(nxlink), "serve", "--db", f"sqlite:///{db_path}", "--host", args.host,
         "--port", str(args.port)],
    )  # fmt: skip


if __name__ == "__main__":
    main()
