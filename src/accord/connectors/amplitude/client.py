"""Amplitude's Export API: one call per range of hours (`GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH`, HTTP
Basic with the project's API key and secret key), its zip streamed to disk (`Downloads`: 429, 5xx and timeouts
asked again); 404 (nothing in the range) as no file; a range too large (400, over 4 GB) as `TooLarge`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from accord.connectors.downloads import Downloads
from accord.connectors.errors import ConnectorError
from accord.connectors.http import gist, http_client

HOUR = "%Y%m%dT%H"
"""How the Export API names an hour (UTC)."""


class TooLarge(ConnectorError):
    """A range whose events Amplitude will not export at once (over 4 GB): ask for a shorter one."""


class AmplitudeClient:
    def __init__(self, url: str, api_key: str, secret_key: str, *, retries: int = 5, backoff: float = 2.0,
                 timeout: float = 600.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._http = http_client(base_url=url.rstrip("/"), auth=(api_key, secret_key), timeout=timeout)
        self.downloads = Downloads(self._http, "Amplitude", _refused, retries, backoff, sleep)

    def close(self) -> None:
        self._http.close()

    def export(self, first: datetime, last: datetime, into: Path) -> bool:
        """The events uploaded from hour `first` to hour `last` (both included, UTC) as the zip the API answers,
        written to `into`; False when the range holds none."""
        what = f"export {first:{HOUR}}-{last:{HOUR}}"
        try:
            return self.downloads.fetch("/api/2/export", {"start": f"{first:{HOUR}}", "end": f"{last:{HOUR}}"}, into,
                                        what)
        except TooLarge:
            if last > first:
                raise
            raise ConnectorError(f"Amplitude will not export {what}, one hour over 4 GB: export the project to a "
                                 "bucket (Amplitude's S3 export) and load its files with `accord ingest messages "
                                 "--format amplitude`") from None


def _refused(response: httpx.Response, what: str) -> bool:
    said = gist(response.text)
    if response.status_code == 404:  # no events in the range
        return False
    if response.status_code == 400 and "4GB" in said.replace(" ", ""):
        raise TooLarge(f"Amplitude will not export {what} at once: {said}")
    if response.status_code in (401, 403):
        raise ConnectorError(f"Amplitude refused {what} (HTTP {response.status_code}): check the source's "
                             "api_key and secret_key")
    raise ConnectorError(f"Amplitude refused {what}: HTTP {response.status_code} {said}")
