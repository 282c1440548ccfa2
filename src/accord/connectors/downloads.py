"""A system's export streamed to a file, its failures as `ConnectorError`: what clients of export APIs share. 429,
5xx, timeouts and no answer are asked again (after Retry-After, else with backoff); any other refusal is the
system's own to name."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import gist, header_delay, redirect
from accord.connectors.pacing import MAX_WAIT_SECONDS

Refused = Callable[[httpx.Response, str], bool]
"""What an answer other than 200, 429 or 5xx means: False for "nothing to export", else a ConnectorError raised."""


@dataclass
class Downloads:
    http: httpx.Client
    system: str
    refused: Refused
    retries: int = 5
    backoff: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    calls: int = 0

    def fetch(self, path: str, params: dict[str, Any], into: Path, what: str) -> bool:
        """The export at `path` written to `into`; False when the system says there is nothing to export."""
        for attempt in range(self.retries + 1):
            try:
                return self._once(path, params, into, what)
            except ConnectorError as err:
                waits = err.retry_after if err.retry_after is not None else min(self.backoff * 2**attempt, 120.0)
                if not err.retryable or err.unreachable or attempt == self.retries or waits > MAX_WAIT_SECONDS:
                    raise
                self.sleep(waits)
        raise AssertionError("unreachable")

    def _once(self, path: str, params: dict[str, Any], into: Path, what: str) -> bool:
        self.calls += 1
        try:
            with self.http.stream("GET", path, params=params) as response:
                if response.status_code == 200:
                    with into.open("wb") as out:
                        for block in response.iter_bytes(8 << 20):
                            out.write(block)
                    return True
                response.read()
        except httpx.TimeoutException as err:
            raise ConnectorError(f"{self.system} timed out on {what}: {err}", retryable=True) from None
        except httpx.TransportError as err:
            raise ConnectorError(f"{self.system} unreachable on {what}: {err}", unreachable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise ConnectorError(f"{self.system} answered HTTP {response.status_code} on {what}: "
                                 f"{gist(response.text)}", retryable=True, retry_after=header_delay(response))
        if moved := redirect(response):
            raise ConnectorError(f"{self.system} {moved} (on {what})")
        return self.refused(response, what)
