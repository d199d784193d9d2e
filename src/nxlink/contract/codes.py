"""The contract's result codes and the start of each message (``conventions.md``)."""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class Code(IntEnum):
    SUCCESS = 0
    MISSING_PARAMETERS = 1001
    PARAMETER_ERROR = 1002
    INVALID_SIGNATURE = 1003
    TIMESTAMP_EXPIRED = 1004
    INSUFFICIENT_AUTHORITY = 1005
    BUSINESS_ERROR = 20000


class TaskStatus(IntEnum):
    READY = 1
    IN_PROGRESS = 2
    COMPLETED = 3
    FAILED = 4
    PAUSED = 5
    PAUSED_BALANCE = 6


#: What each task status means, in words (the documents and the dashboard say it so).
TASK_STATUS_NAMES: Final[dict[int, str]] = {
    TaskStatus.READY: "ready",
    TaskStatus.IN_PROGRESS: "in progress",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.PAUSED: "paused",
    TaskStatus.PAUSED_BALANCE: "paused: insufficient balance",
}

MESSAGES: Final[dict[Code, str]] = {
    Code.SUCCESS: "success",
    Code.MISSING_PARAMETERS: "Authentication failed (missing public parameters)",
    Code.PARAMETER_ERROR: "Authentication failed (parameter error)",
    Code.INVALID_SIGNATURE: "Authentication failed (invalid signature)",
    Code.TIMESTAMP_EXPIRED: "Authentication failed (timestamp expired)",
    Code.INSUFFICIENT_AUTHORITY: "Authentication failed (insufficient authority)",
    Code.BUSINESS_ERROR: "Business Error",
}

#: The five auth headers, in the order a 1001 message names them.
AUTH_HEADERS: Final[tuple[str, ...]] = ("accessKey", "ts", "bizType", "action", "sign")
