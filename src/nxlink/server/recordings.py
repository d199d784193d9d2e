"""``GET /recordings/{callId}.wav?exp=…&sig=…``: an answered call's recording.

The link is checked (:class:`~nxlink.service.recordings.RecordingLinks`: 403 when tampered with
or expired), the call read and its WAV file written (:mod:`nxlink.dialer.recording`, once per
call and process, into a directory of the app's) on a database thread, never on the event loop;
Starlette's :class:`FileResponse` sends it with ``Content-Length`` and answers ``Range``
requests (206), so that a browser's ``<audio>`` can seek.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from nxlink.contract.codes import Code
from nxlink.dialer.recording import write_wav
from nxlink.server.dbpool import DbThreads
from nxlink.service.recordings import PATH_PREFIX, RecordingLinks
from nxlink.store import Store

#: The route's path (Starlette's syntax).
ROUTE: Final = PATH_PREFIX + "{call_id}.wav"
#: Recordings kept on disk per process; the oldest go first.
CACHED_FILES: Final = 64


class RecordingFiles:
    """The WAV files of the calls asked for, in a temporary directory (made on first use,
    removed by :meth:`close`); at most :data:`CACHED_FILES` at once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._folder: Path | None = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="nxlink-recordings-"))
            return self._folder

    def path(self, call_id: str) -> Path | None:
        """The file of an answered call's recording, written on first use; None for a call
        that does not exist or was not answered."""
        target = self.folder / (hashlib.sha256(call_id.encode()).hexdigest()[:32] + ".wav")
        if target.exists():
            return target
        call = self.store.call_by_id(call_id)
        if call is None or not call.answered:
            return None
        partial = target.with_suffix(f".{threading.get_ident()}.part")
        write_wav(partial, call)
        os.replace(partial, target)
        self._trim()
        return target

    def _trim(self) -> None:
        folder = self.folder
        with self._lock:
            files = sorted(folder.glob("*.wav"), key=lambda f: f.stat().st_mtime_ns)
            for old in files[:-CACHED_FILES]:
                old.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None


def recording_endpoint(
    *,
    links: RecordingLinks,
    files: RecordingFiles,
    threads: DbThreads,
    now_s: Callable[[], int],
    envelope: Callable[[str, int, str], dict[str, Any]],
) -> Callable[[Request], Any]:
    """The route's handler."""

    def find(call_id: str, expires: str, sig: str) -> Path | int:
        if not links.valid(call_id, expires, sig, now=now_s()):
            return 403
        return files.path(call_id) or 404

    async def recording(request: Request) -> Response:
        call_id = request.path_params["call_id"]
        query = request.query_params
        found = await threads.run(lambda: find(call_id, query.get("exp", ""), query.get("sig", "")))
        state = request.scope["state"]
        if isinstance(found, Path):
            state["nx_code"] = 0
            return FileResponse(found, media_type="audio/wav")
        message = (
            f"recording link of call {call_id} is invalid or expired"
            if found == 403
            else f"no recording of call {call_id}"
        )
        state["nx_code"] = int(Code.BUSINESS_ERROR)
        body = envelope(state["nx_trace"], Code.BUSINESS_ERROR, message)
        return Response(orjson.dumps(body), status_code=found, media_type="application/json")

    return recording
