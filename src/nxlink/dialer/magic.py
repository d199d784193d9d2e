"""Magic numbers: phone numbers whose call outcome the simulator does not draw but obeys.

Whatever the route's answer profile, the last six digits of the number dialled choose:

* ``5550RR``: call result ``RR`` on every attempt, for ``RR`` one of the call results (01-09, 17,
  21); 17 with the human leg answered.
* ``555117``: result 17 with the human leg failed, on every attempt.
* ``555N01`` (``N`` from 2 to 9): no answer (2) on attempts 1 to N-1, answered (1) on attempt N.

Any other number follows the route's profile. The rest of the call (ring and talk time, intent,
summary, agent) is drawn as for any call, from the same seed, so it is deterministic too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from nxlink.contract.callrecord import CALL_ENDINGS, CALL_RESULTS, MANUAL_ANSWERED, MANUAL_FAILED

_DIGITS = re.compile(r"\D")
#: The prefix of every magic suffix.
PREFIX: Final = "555"


@dataclass(frozen=True, slots=True)
class Forced:
    """The outcome a magic number imposes on one attempt: the call result and, for 17, how
    the human leg went (:data:`MANUAL_ANSWERED` or :data:`MANUAL_FAILED`)."""

    result: int
    manual_status: int | None = None


def magic_outcome(phone: str, attempt: int) -> Forced | None:
    """What the number ``phone`` (any punctuation) imposes on attempt ``attempt`` (1 first),
    or None when it is not a magic number."""
    digits = _DIGITS.sub("", phone)
    if len(digits) < 6 or not digits.startswith(PREFIX, len(digits) - 6):
        return None
    tail = digits[-3:]
    if tail == "117":
        return Forced(17, MANUAL_FAILED)
    if tail[0] == "0":
        result = int(tail[1:])
        if result not in CALL_RESULTS:
            return None
        return Forced(result, MANUAL_ANSWERED if result == 17 else None)
    if tail[1:] == "01" and "2" <= tail[0] <= "9":
        return Forced(1 if attempt >= int(tail[0]) else 2)
    return None


@dataclass(frozen=True, slots=True)
class MagicRow:
    """One row of the magic-number table, for the docs."""

    suffix: str
    outcome: str


def table() -> list[MagicRow]:
    """Every magic suffix and what it gives, in the order of the docs' table."""
    rows = []
    for result in CALL_RESULTS:
        meaning = CALL_ENDINGS[result].meaning
        if result == 17:
            meaning += ", the human leg answered (`manualCallStatus` 1)"
        rows.append(MagicRow(f"5550{result:02d}", f"{result}: {meaning}, on every attempt"))
    rows.append(MagicRow("555117", f"17: {CALL_ENDINGS[17].meaning}, the human leg failed "
                                   "(`manualCallStatus` 2), on every attempt"))  # fmt: skip
    for n in range(2, 10):
        before = "attempt 1" if n == 2 else f"attempts 1 to {n - 1}"
        outcome = f"2 (no answer) on {before}, 1 (answered) on attempt {n}"
        rows.append(MagicRow(f"555{n}01", outcome))
    return rows


def markdown_table() -> str:
    """The table as Markdown, as the README and ``docs/sandbox.md`` show it."""
    lines = ["| last six digits | call result |", "| --- | --- |"]
    lines += [f"| `{row.suffix}` | {row.outcome} |" for row in table()]
    return "\n".join(lines) + "\n"
