"""A local Amplitude Export API over real HTTP on 127.0.0.1, answering as `GET /api/2/export` does: HTTP Basic with
the project's API key and secret key, `start` and `end` hours (`YYYYMMDDTHH`, both included, by upload time), a zip
of gzipped JSON files (an hour a file, in a folder named by the project), 404 for a range with no events, 400 for a
range over its size limit (Amplitude's 4 GB), and faults on request."""

from __future__ import annotations

import base64
import gzip
import io
import json
import threading
import time
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

from accord.testing.http import Answer, Faults, LocalServer

HOUR = "%Y%m%dT%H"


class AmplitudeServer(LocalServer, Faults):
    """One project's events; `largest_hours` is the longest range it exports at once (its stand-in for 4 GB)."""

    def __init__(self, project_id: str = "187520", api_key: str = "key-1", secret_key: str = "secret-1",
                 largest_hours: int = 24 * 365) -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.project_id, self.api_key, self.secret_key = project_id, api_key, secret_key
        self.largest_hours = largest_hours
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []  # (start, end) of each export asked for
        self._held: dict[int, float] = {}  # export call number (from 1) → seconds its answer is held
        self._lock = threading.Lock()

    def hold(self, call: int, seconds: float) -> None:
        """Hold the answer to the `call`-th export call (counted from 1) for `seconds`: a run can be killed then."""
        with self._lock:
            self._held[call] = seconds

    def add(self, uploaded: datetime, **event: Any) -> None:
        """An event Amplitude received at `uploaded` (its export hour), with the fields an export row has."""
        stamp = uploaded.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        with self._lock:
            self.events.append({"server_upload_time": stamp, "event_time": stamp, "client_event_time": stamp,
                                "amplitude_id": 987654321, "event_properties": {}, "user_properties": {},
                                "data": {}, "groups": {}, **event})

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        injected = self.take(body)
        if injected is not None:
            return injected, {"Retry-After": "0"} if injected == 429 else {}, b"injected"
        expected = base64.b64encode(f"{self.api_key}:{self.secret_key}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return 401, {"Content-Type": "text/plain"}, b"Invalid API key or secret key"
        if method != "GET" or path != "/api/2/export":
            return 404, {"Content-Type": "text/plain"}, b"Not found"
        try:
            start, end = (datetime.strptime(query[k][0], HOUR).replace(tzinfo=timezone.utc) for k in ("start", "end"))
        except (KeyError, IndexError, ValueError):
            return 400, {"Content-Type": "text/plain"}, b"start and end must be hours formatted YYYYMMDDTHH"
        with self._lock:
            self.calls.append((query["start"][0], query["end"][0]))
            held = [e for e in self.events if start <= _hour(e) <= end]
            late = self._held.pop(len(self.calls), 0.0)
        time.sleep(late)
        if end < start:
            return 400, {"Content-Type": "text/plain"}, b"end must not be before start"
        if (end - start) // timedelta(hours=1) + 1 > self.largest_hours:
            return 400, {"Content-Type": "text/plain"}, b"Requested data exceeds 4GB. Choose a smaller time range."
        if not held:
            return 404, {"Content-Type": "text/plain"}, b"Raw data files were not found."
        return 200, {"Content-Type": "application/zip"}, self._zip(held)

    def _zip(self, events: list[dict[str, Any]]) -> bytes:
        by_hour: dict[datetime, list[dict[str, Any]]] = {}
        for event in events:
            by_hour.setdefault(_hour(event), []).append(event)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for hour, held in sorted(by_hour.items()):
                lines = b"".join(json.dumps(e).encode() + b"\n" for e in held)
                name = f"{self.project_id}/{self.project_id}_{hour:%Y-%m-%d}_{hour.hour}#0.json.gz"
                archive.writestr(name, gzip.compress(lines))
        return out.getvalue()


def _hour(event: dict[str, Any]) -> datetime:
    return datetime.strptime(event["server_upload_time"][:13], "%Y-%m-%d %H").replace(tzinfo=timezone.utc)
