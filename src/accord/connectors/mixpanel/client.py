"""Mixpanel's raw event export: one call per range of days (`GET /api/2.0/export?from_date=...&to_date=...
&project_id=...`, HTTP Basic with a service account), its JSON lines streamed to disk (`Downloads`: 429, 5xx and
timeouts asked again); an empty answer as no events."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx

from accord.connectors.downloads import Downloads
from accord.connectors.errors import ConnectorError
from accord.connectors.http import gist, http_client


class MixpanelClient:
    def __init__(self, url: str, project_id: str, username: str, secret: str, *, retries: int = 5,
                 backoff: float = 2.0, timeout: float = 600.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._http = http_client(base_url=url.rstrip("/"), auth=(username, secret), timeout=timeout,
                                 headers={"Accept-Encoding": "gzip"})
        self.project_id = project_id
        self.downloads = Downloads(self._http, "Mixpanel", _refused, retries, backoff, sleep)

    def close(self) -> None:
        self._http.close()

    def export(self, first: date, last: date, into: Path) -> bool:
        """The events of days `first` to `last` (both included) as the JSON lines the export answers, written to
        `into`; False when the days hold none."""
        params = {"from_date": first.isoformat(), "to_date": last.isoformat(), "project_id": self.project_id}
        return self.downloads.fetch("/api/2.0/export", params, into, f"export {first}..{last}") \
            and into.stat().st_size > 0


def _refused(response: httpx.Response, what: str) -> bool:
    said = gist(response.text)
    if response.status_code in (401, 403):
        raise ConnectorError(f"Mixpanel refused {what} (HTTP {response.status_code}): check the source's username, "
                             f"secret and project_id ({said})")
    raise ConnectorError(f"Mixpanel refused {what}: HTTP {response.status_code} {said}")
