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


class NotJson(ValueError):
    """An answer that should have been JSON and was not: an HTML page from a proxy or a wrong URL, an empty body."""


def gist(text: str, limit: int = 200) -> str:
    """A response body as one short line, for an error message."""
    return " ".join(text.split())[:limit]


def json_of(response: httpx.Response) -> Any:
    """The response's JSON; NotJson saying what came instead."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise NotJson(f"answered {kind}, not JSON: {gist(response.text) or 'an empty body'}") from None


def redirect(response: httpx.Response) -> str | None:
    """What a 3xx answer says, for an error; None for any other. Accord follows no redirect, so that records and
    signed bodies go only to the address accord.yaml names."""
    if not 300 <= response.status_code < 400:
        return None
    return (f"redirected (HTTP {response.status_code}) to {response.headers.get('location') or 'no address'}; "
            "Accord follows no redirect: configure the address itself")


def header_delay(response: httpx.Response) -> float | None:
    return retry_after(response.headers.get("Retry-After"))


def checked(system: str, what: str, send: Callable[[], httpx.Response],
            delay: Callable[[httpx.Response], float | None] = header_delay) -> httpx.Response:
    """The response to `send()`, or a ConnectorError: retryable for a timeout, no answer, 429 or 5xx (after
    `delay`, read from the answer), final for a redirect and any other 4xx."""
    try:
        response = send()
    except httpx.TimeoutException as err:
        raise ConnectorError(f"{system} timed out on {what}: {err}", retryable=True) from None
    except httpx.TransportError as err:
        raise ConnectorError(f"{system} unreachable on {what}: {err}", unreachable=True) from None
    if response.status_code == 429 or response.status_code >= 500:
        said = gist(response.text)
        raise ConnectorError(f"{system} answered HTTP {response.status_code} on {what}" + (f": {said}" if said else ""),
                             retryable=True, retry_after=delay(response))
    if moved := redirect(response):
        raise ConnectorError(f"{system} {moved} (on {what})")
    if response.status_code >= 400:
        raise ConnectorError(f"{system} refused {what}: HTTP {response.status_code} {response.text[:300]}")
    return response


def json_object(system: str, what: str, response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; a ConnectorError naming what came instead."""
    try:
        body = json_of(response)
    except NotJson as err:
        raise ConnectorError(f"{system} {err} (on {what})") from None
    if not isinstance(body, dict):
        raise ConnectorError(f"{system} answered JSON that is not an object: {gist(response.text)} (on {what})")
    return body
