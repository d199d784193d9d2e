"""nxlink: an NXLink-compatible outbound AI-agent task service, its client and command line.

The package's top level is the client (httpx and pydantic only)::

    import nxlink

    with nxlink.Client(base_url="http://127.0.0.1:8000") as client:
        for task in client.tasks.iter(task_status=nxlink.TaskStatus.IN_PROGRESS):
            print(task.task_name, task.stat_info.answer_rate)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nxlink")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

from nxlink.client import (
    REGIONS,
    ApiError,
    AsyncClient,
    AsyncSandbox,
    AsyncTaskIterator,
    AuthError,
    BusinessError,
    Client,
    NxError,
    NxlinkAuth,
    Page,
    Sandbox,
    SignatureError,
    StatInfo,
    Task,
    TaskIterator,
    TaskPage,
    TaskStatus,
    TimeoutError,
    TimestampError,
    TransportError,
)

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
    "__version__",
]
