"""Amplitude's Export API: one call per range of hours (`GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH`, HTTP
Basic with the project's API key and secret key), its zip streamed to disk; 404 (nothing in the range) as no file;
429, 5xx and timeouts retried with backoff and Retry-After; a range too large (400, over 4 GB) as `TooLarge`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import gist, header_delay, http_client, redirect
from accord.connectors.pacing import MAX_WAIT_SECONDS

HOUR = "%Y%m%dT%H"
"""How the Export API names an hour (UTC)."""


class TooLarge(ConnectorError):
    """A range whose events Amplitude will not export at once (over 4 GB): ask for a shorter one."""


@dataclass
class Calls:
    calls: int = 0
    retries: int = 0


class AmplitudeClient:
    def __init__(self, url: str, api_key: str, secret_key: str, *, retries: int = 5, backoff: float = 2.0,
                 timeout: float = 600.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._http = http_client(base_url=url.rstrip("/"), auth=(api_key, secret_key), timeout=timeout)
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.stats = Calls()

    def close(self) -> None:
        self._http.close()

    def export(self, first: datetime, last: datetime, into: Path) -> bool:
        """The events uploaded from hour `first` to hour `last` (both included, UTC) as the zip the API answers,
        written to `into`; False when the range holds none."""
        what = f"export {first:{HOUR}}-{last:{HOUR}}"
        for attempt in range(self.retries + 1):
            try:
                return self._export(first, last, into, what)
            except ConnectorError as err:
                if not err.retryable or isinstance(err, TooLarge) or attempt == self.retries:
                    raise
                if err.retry_after is not None and err.retry_after > MAX_WAIT_SECONDS:
                    raise
                self.stats.retries += 1
                self.sleep(err.retry_after if err.retry_after is not None else min(self.backoff * 2**attempt, 120.0))
        raise AssertionError("unreachable")

    def _export(self, first: datetime, last: datetime, into: Path, what: str) -> bool:
        self.stats.calls += 1
        params = {"start": f"{first:{HOUR}}", "end": f"{last:{HOUR}}"}
        try:
            with self._http.stream("GET", "/api/2/export", params=params) as response:
                if response.status_code == 200:
                    with into.open("wb") as out:
                        for block in response.iter_bytes(8 << 20):
                            out.write(block)
                    return True
                response.read()
                return self._refused(response, what, last - first + timedelta(hours=1))
        except httpx.TimeoutException as err:
            raise ConnectorError(f"Amplitude timed out on {what}: {err}", retryable=True) from None
        except httpx.TransportError as err:
            raise ConnectorError(f"Amplitude unreachable on {what}: {err}", unreachable=True) from None

    @staticmethod
    def _refused(response: httpx.Response, what: str, span: timedelta) -> bool:
        said = gist(response.text)
        if response.status_code == 404:
            return False
        if response.status_code == 429 or response.status_code >= 500:
            raise ConnectorError(f"Amplitude answered HTTP {response.status_code} on {what}: {said}",
                                 retryable=True, retry_after=header_delay(response))
        if moved := redirect(response):
            raise ConnectorError(f"Amplitude {moved} (on {what})")
        if response.status_code == 400 and "4GB" in said.replace(" ", ""):
            if span > timedelta(hours=1):
                raise TooLarge(f"Amplitude will not export {what} at once: {said}")
            raise ConnectorError(f"Amplitude will not export {what}, one hour over 4 GB: export the project to a "
                                 "bucket (Amplitude's S3 export) and load its files with `accord ingest messages "
                                 "--format amplitude`")
        if response.status_code in (401, 403):
            raise ConnectorError(f"Amplitude refused {what} (HTTP {response.status_code}): check the source's "
                                 "api_key and secret_key")
        raise ConnectorError(f"Amplitude refused {what}: HTTP {response.status_code} {said}")
