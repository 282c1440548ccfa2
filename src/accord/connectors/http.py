"""One HTTP call to a system, its failures as `ConnectorError`: what clients of plain JSON-over-HTTP APIs share."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.pacing import retry_after


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS context every client of the process shares: loading the CA bundle costs about 20 ms, and a
    streaming destination opens its client for each run."""
    return httpx.create_ssl_context()


def http_client(**options: Any) -> httpx.Client:
    """An HTTP client for one system, on the shared TLS context."""
    return httpx.Client(verify=tls(), **options)


def header_delay(response: httpx.Response) -> float | None:
    return retry_after(response.headers.get("Retry-After"))


def checked(system: str, what: str, send: Callable[[], httpx.Response],
            delay: Callable[[httpx.Response], float | None] = header_delay) -> httpx.Response:
    """The response to `send()`, or a ConnectorError: retryable for a timeout, no answer, 429 or 5xx (after
    `delay`, read from the answer), final for any other 4xx."""
    try:
        response = send()
    except httpx.TimeoutException as err:
        raise ConnectorError(f"{system} timed out on {what}: {err}", retryable=True) from None
    except httpx.TransportError as err:
        raise ConnectorError(f"{system} unreachable on {what}: {err}", unreachable=True) from None
    if response.status_code == 429 or response.status_code >= 500:
        said = " ".join(response.text.split())[:200]
        raise ConnectorError(f"{system} answered HTTP {response.status_code} on {what}" + (f": {said}" if said else ""),
                             retryable=True, retry_after=delay(response))
    if response.status_code >= 400:
        raise ConnectorError(f"{system} refused {what}: HTTP {response.status_code} {response.text[:300]}")
    return response
