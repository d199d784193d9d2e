"""The simulated calls' recordings: a WAV file per answered call, as long as its ``callElapsed``.

A pure function of the call's facts (its id seeds the choices): the same call gives the same
bytes in every process. 8 kHz, mono, 16-bit PCM (what the stdlib ``wave`` module reads, and a
telephone line carries). What it holds:

- the last ring-back as the line connects (the first second at most, 440 + 480 Hz);
- the conversation: ``turnTime`` turns, the AI agent first, alternating with the callee, each a
  run of syllables (a vowel's harmonics shaped by two formants, at the speaker's pitch, with an
  onset burst) in words, with pauses between words and longer ones between turns;
- voicemail (21): the machine's greeting, the beep, then the agent's message;
- a transfer (17): ring-back at the end while the human agent's line rings.

Every sound is precomputed once per process (one pitch period of each vowel, one period of
the ring-back), so a call is bytes joined together: a 10-minute recording takes well under a
second.
"""

from __future__ import annotations

import functools
import math
import random
import wave
from array import array
from pathlib import Path
from typing import Final

from nxlink.contract.calldoc import CallFacts

RATE: Final = 8_000
#: Pitch periods (samples at 8 kHz) of each speaker: the AI agent about 200 Hz, the callee
#: about 125 Hz.
AGENT_PERIODS: Final = (36, 40, 44)
CALLEE_PERIODS: Final = (58, 64, 70)
#: Formants (F1, F2 in Hz) of five vowels: a, e, i, o, u.
VOWELS: Final = ((730, 1090), (530, 1840), (270, 2290), (570, 840), (300, 870))
#: Syllable lengths, seconds.
SYLLABLES: Final = (0.12, 0.18, 0.26)
#: Ring-back: 440 + 480 Hz share a 200-sample period at 8 kHz.
RING_PERIOD: Final = 200
SPEECH_PEAK: Final = 9_000


def _vowel_period(period: int, formants: tuple[int, int]) -> list[float]:
    """One pitch period of a voiced vowel: harmonics of the pitch up to 3.4 kHz, each weighted
    by its distance to the two formants (a resonance of 120 Hz bandwidth)."""
    f0 = RATE / period
    harmonics = [
        (h, sum(1 / (1 + ((h * f0 - f) / 120) ** 2) for f in formants) / h**0.5)
        for h in range(1, int(3_400 // f0) + 1)
    ]
    wave_ = [
        sum(gain * math.sin(2 * math.pi * h * n / period) for h, gain in harmonics)
        for n in range(period)
    ]
    peak = max(abs(v) for v in wave_) or 1.0
    return [v / peak for v in wave_]


@functools.cache
def _syllables(periods: tuple[int, ...]) -> tuple[bytes, ...]:
    """Every syllable of a speaker: each vowel at each pitch and length, with a rise and fall
    and a short noise burst for its consonant."""
    noise = random.Random("nxlink-recording-noise")
    out = []
    for period in periods:
        for formants in VOWELS:
            cycle = _vowel_period(period, formants)
            for seconds in SYLLABLES:
                n = int(seconds * RATE)
                samples = array("h", bytes(2 * n))
                burst = int(0.015 * RATE)
                for i in range(n):
                    envelope = math.sin(math.pi * i / n) ** 0.6
                    value = cycle[i % period] * envelope
                    if i < burst:
                        value += noise.uniform(-0.5, 0.5) * (1 - i / burst)
                    samples[i] = int(max(-1.0, min(1.0, value)) * SPEECH_PEAK)
                out.append(samples.tobytes())
    return tuple(out)


@functools.cache
def _ring_period() -> bytes:
    return array("h", (int(2_500 * (math.sin(2 * math.pi * 440 * n / RATE)
                                    + math.sin(2 * math.pi * 480 * n / RATE)))
                       for n in range(RING_PERIOD))).tobytes()  # fmt: skip


@functools.cache
def _beep() -> bytes:
    """The voicemail beep: 1 kHz (an 8-sample period) for 0.4 s."""
    period = [int(6_000 * math.sin(2 * math.pi * n / 8)) for n in range(8)]
    return array("h", period).tobytes() * int(0.4 * RATE / 8)


def _silence(samples: int) -> bytes:
    return bytes(2 * max(0, samples))


def _ring_back(samples: int) -> bytes:
    """Ring-back for ``samples``: 2 s on, 4 s off (the North American cadence)."""
    on = _ring_period() * (2 * RATE // RING_PERIOD)
    cycle = on + _silence(4 * RATE)
    reps = samples * 2 // len(cycle) + 1
    return (cycle * reps)[: 2 * samples]


class _Track:
    """Bytes of 16-bit samples, appended in pieces and joined once."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.samples = 0

    def add(self, piece: bytes) -> None:
        self.parts.append(piece)
        self.samples += len(piece) // 2

    def speak(self, rng: random.Random, speaker: tuple[bytes, ...], until: int) -> None:
        """Words of one to three syllables with short gaps, until ``until`` samples."""
        while self.samples < until:
            for _ in range(rng.randint(1, 3)):
                self.add(rng.choice(speaker))
            self.add(_silence(rng.randint(int(0.05 * RATE), int(0.15 * RATE))))


def pcm(call: CallFacts) -> bytes:
    """The recording's samples: exactly ``callElapsed`` seconds (none for a call not
    answered)."""
    total = call.talk_seconds * RATE if call.answered else 0
    if total == 0:
        return b""
    rng = random.Random(f"nxlink-recording:{call.call_id}")
    agent, callee = _syllables(AGENT_PERIODS), _syllables(CALLEE_PERIODS)
    track = _Track()
    connect = min(RATE, total // 4)
    track.add(_ring_back(connect * 4 // 5))
    track.add(_silence(connect - track.samples))
    end = total
    if call.result == 17:  # the human agent's line rings at the end
        end = total - min(8 * RATE, total // 3)
    if call.result == 21:  # the machine's greeting, then the beep, then the agent's message
        greeting = track.samples + (end - track.samples) * 2 // 5
        track.speak(rng, callee, greeting)
        track.add(_silence(int(0.3 * RATE)))
        track.add(_beep())
        track.add(_silence(int(0.3 * RATE)))
        track.speak(rng, agent, end)
    else:
        # The turns share what is left, each its part give or take a quarter; the last one
        # speaks to the end (the hang-up).
        turns = max(1, call.turns)
        for turn in range(turns):
            if track.samples >= end:
                break
            left = turns - turn
            share = (end - track.samples) // left
            length = share if left == 1 else int(share * rng.uniform(0.75, 1.0))
            track.speak(rng, agent if turn % 2 == 0 else callee, min(end, track.samples + length))
            if left > 1:
                track.add(_silence(rng.randint(int(0.3 * RATE), int(0.8 * RATE))))
    if track.samples < total:
        track.add(_ring_back(total - track.samples) if call.result == 17 else _silence(
            total - track.samples))  # fmt: skip
    return b"".join(track.parts)[: 2 * total]


def write_wav(path: Path, call: CallFacts) -> None:
    """Write the call's recording to ``path`` as a WAV file (8 kHz, mono, 16-bit PCM)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm(call))
