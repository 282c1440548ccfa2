"""A local Mixpanel raw event export over real HTTP on 127.0.0.1, answering as `GET /api/2.0/export` does: HTTP
Basic with a service account, `project_id`, `from_date` and `to_date` (days, both included, never past today), the
events of those days as JSON lines (an empty answer when there are none), JSON errors, and faults on request."""

from __future__ import annotations

import base64
import json
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

from accord.testing.http import Answer, Faults, LocalServer


class MixpanelServer(LocalServer, Faults):
    """One project's events; `today` is the server's day (UTC)."""

    def __init__(self, project_id: str = "3141592", username: str = "accord.sa", secret: str = "sa-secret") -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.project_id, self.username, self.secret = project_id, username, secret
        self.today = datetime.now(timezone.utc).date()
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []  # (from_date, to_date) of each export asked for
        self._lock = threading.Lock()

    def add(self, at: datetime, event: str, **properties: Any) -> None:
        """An event as the raw export holds it: its name, and its properties with `time` in seconds."""
        with self._lock:
            self.events.append({"event": event, "properties": {"time": int(at.timestamp()), **properties}})

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        injected = self.take(body)
        if injected is not None:
            return self._error(injected, "injected")
        expected = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return self._error(401, "Unauthorized")
        if method != "GET" or path != "/api/2.0/export":
            return self._error(404, "Not found")
        if query.get("project_id") != [self.project_id]:
            return self._error(403, "project_id is not a project this service account can read")
        try:
            first, last = (date.fromisoformat(query[k][0]) for k in ("from_date", "to_date"))
        except (KeyError, IndexError, ValueError):
            return self._error(400, "from_date and to_date are required, formatted YYYY-MM-DD")
        if last < first:
            return self._error(400, "to_date cannot be earlier than from_date")
        if last > self.today:
            return self._error(400, "to_date cannot be later than today")
        start = datetime.combine(first, datetime.min.time(), timezone.utc).timestamp()
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), timezone.utc).timestamp()
        with self._lock:
            self.calls.append((query["from_date"][0], query["to_date"][0]))
            held = [e for e in self.events if start <= e["properties"]["time"] < end]
        return 200, {"Content-Type": "text/plain"}, b"".join(json.dumps(e).encode() + b"\n" for e in held)

    @staticmethod
    def _error(status: int, said: str) -> Answer:
        return status, {"Content-Type": "application/json"}, json.dumps({"error": said, "status": "error"}).encode()
