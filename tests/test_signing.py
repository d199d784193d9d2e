"""Every signature vector of ``conventions.md``."""

from __future__ import annotations

import pytest

from nxlink import signing

VECTORS = [
    ("fme2na3kdi3ki", "send", "1", "1655710885431", '{"name":"牛小信","id":10001}',
     "abciiiko2k3", "md5", "87c3560d3331ae23f1021e2025722354"),
    ("fme2na3kdi3ki", "send", "1", "1655710885431", '{"id":10001,"name":"牛小信"}',
     "abciiiko2k3", "md5", "7750759da06333f20d0640be09355e34"),
    ("fme2na3kdi3ki", "send", "1", "1655710885431", '{"id": 10001, "name": "牛小信"}',
     "abciiiko2k3", "md5", "d0c24a9886c629330d7f3f2056c65bc2"),
    ("fme2na3kdi3ki", "send", "1", "1655710885431", "",
     "abciiiko2k3", "md5", "884afe159e39b6c88a0d6102ca97d704"),
    ("AK-6230339248928541113-2133", "nxai", "100", "1746583929000", '{"pageNumber":1,"pageSize":10}',
     "s3cr3t-Example", "md5", "7cfd76c3dff9eadb89caeee037d768ad"),
    ("AK-6230339248928541113-2133", "nxai", "100", "1746583929000", "",
     "s3cr3t-Example", "md5", "8e3192fa2fec50787e04f01f925fe3cf"),
    ("AK-6230339248928541113-2133", "nxai", "100", "1746583929000", '{"pageNumber":1,"pageSize":10}',
     "s3cr3t-Example", "sha256", "5c6554918de76f9536274f17892326bcb2c40c1132ebe6e64596e24b941b286b"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ak", "action", "biz", "ts", "body", "secret", "alg", "expected"), VECTORS
)
def test_vectors(
    ak: str, action: str, biz: str, ts: str, body: str, secret: str, alg: str, expected: str
) -> None:
    algorithm = signing.normalize_algorithm(alg)
    assert algorithm is not None
    raw = body.encode()
    got = signing.sign(
        access_key=ak, access_secret=secret, ts=ts, body=raw,
        action=action, biz_type=biz, algorithm=algorithm,
    )  # fmt: skip
    assert got == expected
    assert signing.verify(
        expected, access_key=ak, access_secret=secret, ts=ts, body=raw,
        action=action, biz_type=biz, algorithm=algorithm,
    )  # fmt: skip
    assert not signing.verify(
        expected, access_key=ak, access_secret=secret + "x", ts=ts, body=raw,
        action=action, biz_type=biz, algorithm=algorithm,
    )  # fmt: skip


def test_preimage_layout() -> None:
    pre = signing.preimage(
        access_key="K", action="nxai", biz_type="100", ts="5", body=b'{"a":1}', access_secret="S"
    )
    assert pre == b'accessKey=K&action=nxai&bizType=100&ts=5&body={"a":1}&accessSecret=S'
    empty = signing.preimage(
        access_key="K", action="nxai", biz_type="100", ts="5", body=b"", access_secret="S"
    )
    assert empty == b"accessKey=K&action=nxai&bizType=100&ts=5&accessSecret=S"


def test_empty_object_accepts_both_forms() -> None:
    common = {
        "access_key": "K",
        "access_secret": "S",
        "ts": "1",
        "action": "nxai",
        "biz_type": "100",
    }
    with_body = signing.sign(body=b"{}", **common)
    without = signing.sign(body=b"", **common)
    assert with_body != without
    assert signing.verify(with_body, body=b"{}", **common)
    assert signing.verify(without, body=b"{}", **common)
    # The bare form is only for exactly "{}".
    assert not signing.verify(signing.sign(body=b"", **common), body=b"{ }", **common)


def test_body_is_hashed_byte_for_byte() -> None:
    common = {
        "access_key": "K",
        "access_secret": "S",
        "ts": "1",
        "action": "nxai",
        "biz_type": "100",
    }
    sig = signing.sign(body=b'{"a":1}', **common)
    assert not signing.verify(sig, body=b'{"a": 1}', **common)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "md5"), ("", "md5"), ("MD5", "md5"), ("sha256", "sha256"), ("SHA256", "sha256"),
     ("sha1", None), ("hmac", None)],
)  # fmt: skip
def test_normalize_algorithm(value: str | None, expected: str | None) -> None:
    assert signing.normalize_algorithm(value) == expected


def test_headers_sign_the_body() -> None:
    h = signing.headers(access_key="AK-6230339248928541113-2133", access_secret="s3cr3t-Example",
                        ts="1746583929000", body=b'{"pageNumber":1,"pageSize":10}')  # fmt: skip
    assert h == {
        "accessKey": "AK-6230339248928541113-2133",
        "ts": "1746583929000",
        "bizType": "100",
        "action": "nxai",
        "sign": "7cfd76c3dff9eadb89caeee037d768ad",
    }
    h2 = signing.headers(access_key="AK-6230339248928541113-2133", access_secret="s3cr3t-Example",
                         ts="1746583929000", body=b'{"pageNumber":1,"pageSize":10}',
                         algorithm="sha256")  # fmt: skip
    assert h2["algorithm"] == "sha256"
    assert h2["sign"] == "5c6554918de76f9536274f17892326bcb2c40c1132ebe6e64596e24b941b286b"
