"""``nxlink sign``: headers, pre-image and a curl command, checked on the spec's vectors and
replayed against the real app."""

from __future__ import annotations

import shlex

from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from conftest import make_task, make_tenant
from nxlink.cli import main
from nxlink.cli.options import ClientOptions
from nxlink.server.app import create_app
from nxlink.server.settings import Settings
from nxlink.store import Store

AK, SECRET, TS = "AK-6230339248928541113-2133", "s3cr3t-Example", "1746583929000"
BODY = '{"pageNumber":1,"pageSize":10}'


def _sign(*args: str, stdin: bytes | None = None, key: str = AK, secret: str = SECRET) -> Result:
    return CliRunner().invoke(
        main,
        [
            "--base-url",
            "http://127.0.0.1:8000",
            "--access-key",
            key,
            "--secret",
            secret,
            "sign",
            *args,
        ],
        input=stdin,
        obj=ClientOptions(),
    )


def test_md5_vector_exact_output() -> None:
    result = _sign(BODY, "--ts", TS)
    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == f"""\
accessKey: {AK}
ts: {TS}
bizType: 100
action: nxai
sign: 7cfd76c3dff9eadb89caeee037d768ad
pre-image: accessKey={AK}&action=nxai&bizType=100&ts={TS}&body={BODY}&accessSecret=<secret>

curl -sS -X POST http://127.0.0.1:8000/openapi/aiagent/task/list \\
  -H 'Content-Type: application/json' \\
  -H 'accessKey: {AK}' \\
  -H 'ts: {TS}' \\
  -H 'bizType: 100' \\
  -H 'action: nxai' \\
  -H 'sign: 7cfd76c3dff9eadb89caeee037d768ad' \\
  --data-binary '{BODY}'
"""
    )
    assert SECRET not in result.stdout


def test_sha256_vector() -> None:
    result = _sign(BODY, "--ts", TS, "--algorithm", "SHA256")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[4:6] == [
        "sign: 5c6554918de76f9536274f17892326bcb2c40c1132ebe6e64596e24b941b286b",
        "algorithm: sha256",
    ]
    assert "  -H 'algorithm: sha256' \\" in lines


def test_empty_body_and_stdin_bytes_as_given() -> None:
    empty = _sign("", "--ts", TS)
    assert empty.exit_code == 0, empty.output
    assert "sign: 8e3192fa2fec50787e04f01f925fe3cf\n" in empty.stdout
    assert (
        f"pre-image: accessKey={AK}&action=nxai&bizType=100&ts={TS}&accessSecret=<secret>\n"
        in empty.stdout
    )
    assert empty.stdout.endswith("--data-binary ''\n")
    piped = _sign("-", "--ts", TS, stdin=BODY.encode())
    assert "sign: 7cfd76c3dff9eadb89caeee037d768ad\n" in piped.stdout
    with_newline = _sign("-", "--ts", TS, stdin=BODY.encode() + b"\n")
    assert "sign: 7cfd76c3dff9eadb89caeee037d768ad\n" not in with_newline.stdout


def test_default_body_is_an_empty_object() -> None:
    result = _sign("--ts", TS)
    assert f"&ts={TS}&body={{}}&accessSecret=<secret>\n" in result.stdout


def test_quotes_in_the_body_survive_the_shell() -> None:
    body = """{"taskName":"it's \\"x\\""}"""
    result = _sign(body, "--ts", TS)
    assert result.exit_code == 0, result.output
    tokens = shlex.split(result.stdout.split("\n\n", 1)[1].replace("\\\n", " "))
    assert tokens[tokens.index("--data-binary") + 1] == body


def test_the_printed_curl_command_is_accepted_by_the_server(store: Store) -> None:
    tenant = make_tenant(store)
    store.insert_tasks(tenant.account_id, [make_task(tenant, task_name="only one")])
    result = _sign('{"taskName":"only"}', key=tenant.access_key, secret=tenant.secret)
    assert result.exit_code == 0, result.output
    tokens = shlex.split(result.stdout.split("\n\n", 1)[1].replace("\\\n", " "))
    assert tokens[:4] == ["curl", "-sS", "-X", "POST"]
    url = tokens[4]
    headers = dict(tokens[i + 1].split(": ", 1) for i, t in enumerate(tokens) if t == "-H")
    content = tokens[tokens.index("--data-binary") + 1].encode()
    app = create_app(Settings(log_requests=False), store=store)
    with TestClient(app, base_url="http://127.0.0.1:8000") as http:
        answer = http.post(url, headers=headers, content=content).json()
    assert (answer["code"], answer["total"]) == (0, 1)
    assert answer["list"][0]["taskName"] == "only one"


def test_usage_errors() -> None:
    no_key = CliRunner().invoke(
        main,
        ["sign", "{}"],
        obj=ClientOptions(),
        env={"NXLINK_ACCESS_KEY": "", "NXLINK_ACCESS_SECRET": ""},
    )
    assert no_key.exit_code == 2
    assert no_key.stderr.endswith(
        "Error: no access key: pass --access-key or set NXLINK_ACCESS_KEY\n"
    )
    not_utf8 = _sign("-", stdin=b"\xff\xfe")
    assert not_utf8.exit_code == 2
    assert not_utf8.stderr.endswith("Error: the body must be UTF-8\n")
    bad_algorithm = _sign("{}", "--algorithm", "sha1")
    assert bad_algorithm.exit_code == 2
