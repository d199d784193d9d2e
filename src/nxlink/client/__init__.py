"""The NXLink client: :class:`Client`, :class:`AsyncClient`, their models and errors.

Needs only httpx and pydantic; it never imports the server or the store.
"""

from __future__ import annotations

from nxlink.client._async import AsyncClient
from nxlink.client._auth import NxlinkAuth
from nxlink.client._base import REGIONS
from nxlink.client._sync import Client
from nxlink.client.errors import (
    ApiError,
    AuthError,
    BusinessError,
    NxError,
    SignatureError,
    TimeoutError,
    TimestampError,
    TransportError,
)
from nxlink.client.models import Page, StatInfo, Task, TaskPage, page_fields
from nxlink.client.resources import AsyncTaskIterator, TaskIterator
from nxlink.client.sandbox import AsyncSandbox, Sandbox
from nxlink.contract.codes import TaskStatus

__all__ = [
    "REGIONS",
    "ApiError",
    "AsyncClient",
    "AsyncSandbox",
    "AsyncTaskIterator",
    "AuthError",
    "BusinessError",
    "Client",
    "NxError",
    "NxlinkAuth",
    "Page",
    "Sandbox",
    "SignatureError",
    "StatInfo",
    "Task",
    "TaskIterator",
    "TaskPage",
    "TaskStatus",
    "TimeoutError",
    "TimestampError",
    "TransportError",
    "page_fields",
]
