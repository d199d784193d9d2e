"""The reference in ``docs/reference/``: the generated files are what the generator writes from
the declarations today, the hand-written ones hold the signature's test vectors, and every
endpoint, field and refusal of the registry is in it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from nxlink.contract import endpoints as contract
from nxlink.contract.callrecord import CALL_RECORD_KEYS
from nxlink.server import reference

DOCS = Path(__file__).parent.parent / "docs" / "reference"


@pytest.mark.parametrize("name", sorted(reference.generated()))
def test_the_committed_file_is_the_generated_one(name: str) -> None:
    assert (DOCS / name).read_text(encoding="utf-8") == reference.generated()[name], (
        f"docs/reference/{name} is out of date: run python -m nxlink.server.reference"
    )


def test_the_check_mode_names_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main([str(tmp_path)]) == 0
    assert reference.main([str(tmp_path), "--check"]) == 0
    (tmp_path / "codes.md").write_text("old", encoding="utf-8")
    assert reference.main([str(tmp_path), "--check"]) == 1
    assert "codes.md" in capsys.readouterr().err


def test_every_endpoint_field_and_refusal_is_in_the_reference() -> None:
    endpoints = (DOCS / "endpoints.md").read_text(encoding="utf-8")
    for endpoint in contract.ENDPOINTS:
        for path in endpoint.paths:
            assert f"`{path}`" in endpoints
        for field in endpoint.fields:
            assert f"`{field.name}`" in endpoints
        for message, _ in contract.refusals(endpoint):
            assert f"`{message.replace('|', chr(92) + '|')}`" in endpoints, message
    objects = (DOCS / "objects.md").read_text(encoding="utf-8")
    for key in CALL_RECORD_KEYS:
        assert f"| `{key}` |" in objects, key


def test_the_conventions_hold_the_test_vectors() -> None:
    text = (DOCS / "conventions.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (\S+) \| (\S+) \| (\d+) \| (\d+) \| (.+?) \| (\S+) \| (md5|sha256) \| `([0-9a-f]+)` \|$",
        text,
        re.M,
    )
    assert len(rows) == 7
    for access_key, action, biz_type, ts, body, secret, algorithm, sign in rows:
        raw = b"" if body == "*(empty)*" else body.strip("`").encode()
        pre = f"accessKey={access_key}&action={action}&bizType={biz_type}&ts={ts}".encode()
        pre += (b"&body=" + raw if raw else b"") + f"&accessSecret={secret}".encode()
        assert hashlib.new(algorithm, pre).hexdigest() == sign, body
