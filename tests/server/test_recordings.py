"""Recordings that play: an answered call's ``callAudioUrl`` fetched from the real server
process, parsed with the stdlib ``wave`` module (8 kHz mono, as long as ``callElapsed``), the
same bytes every time, seekable (``Range`` → 206); a tampered or expired link → 403, a call
without a recording → 404, both with the JSON envelope."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
import wave
from array import array
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from callrecords import check_record
from conftest import NOW_MS, make_api, make_tenant
from live import serving
from nxlink import Client
from nxlink.contract.calldoc import CallFacts
from nxlink.dialer import recording
from nxlink.dialer.simulator import Simulator
from nxlink.server.app import API_PREFIX
from nxlink.service import admin, lifecycle
from nxlink.service.lifecycle import Clock
from nxlink.service.recordings import DEFAULT_TTL_S, RecordingLinks
from nxlink.store import open_store

NOW = NOW_MS // 1000


def _dialled(store_url: str) -> tuple[str, str, str]:
    """A task (created through the API) whose calls are answered and not, dialled to the end:
    (access key, secret, taskId)."""
    store = open_store(store_url)
    try:
        tenant = make_tenant(store, "acme")
        lifecycle.top_up(store, tenant.account_id, 100_000, clock=Clock(NOW, NOW_MS))
        route = admin.create_route(store, "acme", name="half", country_code="852",
                                   answer_probability=0.5, talk_seconds_mean=40)  # fmt: skip
        body = {"taskName": "recorded", "autoFlowId": tenant.flow_id, "routeId": route.route_id,
                "taskKeep": 0, "startupType": 3,
                "list": [{"contactId": f"r{i}", "phoneNumber": f"+8526{i:07d}"}
                         for i in range(12)]}  # fmt: skip
        created = make_api(store).post(tenant, json.dumps(body), path=API_PREFIX + "task/create")
        task_id: str = created.json()["data"]["taskId"]
        sim = Simulator(store, seed=2, clock_ms=lambda: NOW_MS)
        sim.advance(NOW)
        sim.advance(NOW + 3600)
        assert sim.in_flight == 0
        return tenant.access_key, tenant.secret, task_id
    finally:
        store.close()


def test_an_answered_call_has_a_recording_that_plays(store_url: str, tmp_path: Path) -> None:
    access_key, secret, task_id = _dialled(store_url)
    with serving(tmp_path, store_url) as base:
        with Client(base_url=base, access_key=access_key, access_secret=secret) as client:
            calls = client.request("call/list", {"taskId": task_id, "pageSize": 100})["list"]
        answered = [c for c in calls if c["callResult"] in (1, 3, 21)]
        silent = [c for c in calls if c["callResult"] not in (1, 3, 17, 21)]
        assert answered and silent
        for call in calls:
            check_record(call, base_url=base)
        assert {c["callAudioUrl"] for c in silent} == {""}
        call = max(answered, key=lambda c: c["callElapsed"])
        link = call["callAudioUrl"]
        query = parse_qs(urlsplit(link).query)
        assert abs(int(query["exp"][0]) - (int(time.time()) + DEFAULT_TTL_S)) <= 60

        first = httpx.get(link, timeout=30)
        assert first.status_code == 200, first.text
        assert first.headers["content-type"] == "audio/wav"
        assert int(first.headers["content-length"]) == len(first.content)
        assert first.headers["accept-ranges"] == "bytes"
        with wave.open(io.BytesIO(first.content)) as played:
            assert (played.getframerate(), played.getnchannels(), played.getsampwidth()) == (
                8_000, 1, 2)  # fmt: skip
            seconds = played.getnframes() / played.getframerate()
            samples = array("h", played.readframes(played.getnframes()))
        assert abs(seconds - call["callElapsed"]) < 1
        assert max(samples) > 5_000  # sound, not silence
        assert len(first.content) == 44 + 2 * 8_000 * call["callElapsed"]
        again = httpx.get(link, timeout=30)
        assert again.content == first.content

        # Seeking: a byte range answers 206 with exactly those bytes.
        part = httpx.get(link, headers={"Range": "bytes=100-1099"}, timeout=30)
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-1099/{len(first.content)}"
        assert part.content == first.content[100:1100]

        # Tampered with: another signature, another call, another expiry -> 403.
        flipped = "0" if link[-1] != "0" else "1"
        tampered = [
            link[:-1] + flipped,  # another signature
            link.replace(call["callId"], silent[0]["callId"], 1),  # another call
            link.replace(f"exp={query['exp'][0]}", f"exp={int(query['exp'][0]) + 1}"),
            link.split("?")[0],  # none
        ]
        for bad in tampered:
            refused = httpx.get(bad, timeout=30)
            assert refused.status_code == 403, bad
            body = refused.json()
            assert list(body) == ["code", "message", "traceId"]
            assert body["code"] == 20000
            assert body["traceId"] == refused.headers["x-trace-id"]
            assert "invalid or expired" in body["message"]

        # Signed by the server's key (the database's) but expired -> 403.
        store = open_store(store_url)
        try:
            links = RecordingLinks(store, base_url=base)
            expired = links.url(call["callId"], now=int(time.time()) - DEFAULT_TTL_S - 5)
            assert httpx.get(expired, timeout=30).status_code == 403
            fresh = links.url(call["callId"], now=int(time.time()))
            assert httpx.get(fresh, timeout=30).content == first.content
            # A valid link to a call without a recording, or to no call: 404.
            for missing in (silent[0]["callId"], "no-such-call"):
                answer = httpx.get(links.url(missing, now=int(time.time())), timeout=30)
                assert answer.status_code == 404
                assert answer.json()["message"] == f"no recording of call {missing}"
        finally:
            store.close()


def test_the_link_is_an_hmac_of_the_call_and_its_expiry(store_url: str) -> None:
    store = open_store(store_url)
    try:
        links = RecordingLinks(store, base_url="https://nx.example/", ttl_s=600)
        url = links.url("c-1", now=1_000)
        key = links.key()
        assert key == RecordingLinks(store).key()  # one key per database, kept
        sig = hmac.new(key, b"c-1\n1600", hashlib.sha256).hexdigest()
        assert url == f"https://nx.example/recordings/c-1.wav?exp=1600&sig={sig}"
        assert links.valid("c-1", "1600", sig, now=1_600)
        assert not links.valid("c-1", "1600", sig, now=1_601)
        assert not links.valid("c-2", "1600", sig, now=1_000)
        assert not links.valid("c-1", "1601", sig, now=1_000)
        assert not links.valid("c-1", "16e2", sig, now=1_000)
        assert not links.valid("c-1", "1600", sig.upper(), now=1_000)
        fixed = RecordingLinks(store, key="k", ttl_s=60).url("c-1", now=0)
        assert fixed.endswith(hmac.new(b"k", b"c-1\n60", hashlib.sha256).hexdigest())
    finally:
        store.close()


def _facts(result: int, talk: int, *, turns: int = 6, call_id: str = "rec-1") -> CallFacts:
    return CallFacts(
        1, call_id, "t", "", "c", 1, "flow", "+85260000001", "+85230000000", "+85260000001",
        NOW, NOW + 60, result, talk, 5, NOW, NOW + 5, NOW + 5 + talk, "A", "", turns,
        "callee hung up", "200", "", "L1", "R", "[]", 1, 1, "", "", "", "",
        2 if result == 17 else None, None, None, None, None, "", "", "", "",
    )  # fmt: skip


@pytest.mark.parametrize(("result", "talk"), [(1, 600), (3, 1), (17, 45), (21, 20)])
def test_recordings_are_as_long_as_the_call_and_deterministic(result: int, talk: int) -> None:
    facts = _facts(result, talk)
    pcm = recording.pcm(facts)
    assert len(pcm) == 2 * 8_000 * talk
    assert recording.pcm(facts) == pcm
    assert recording.pcm(_facts(result, talk, call_id="rec-2")) != pcm
    samples = array("h", pcm)
    second = [max(abs(v) for v in samples[i : i + 8_000]) for i in range(0, len(samples), 8_000)]
    assert second[0] > 0  # the ring-back as the line connects
    if talk >= 20:
        assert min(second) < max(second)  # pauses and speech
    if result == 1:  # the turns fill the call: no silent stretch of a whole second
        assert min(second[:-1]) > 0
    if result == 17:  # the human agent's line rings at the end: ring-back, on and off
        tail = samples[-8 * 8_000 :]
        assert max(tail) > 0 and min(abs(v) for v in tail) == 0


def test_not_answered_calls_have_no_recording() -> None:
    assert recording.pcm(replace(_facts(2, 0), call_answer=None)) == b""
