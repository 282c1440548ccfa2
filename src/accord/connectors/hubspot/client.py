"""HubSpot's CRM API with a private app's token (`Authorization: Bearer`): the account's details, an object's
properties, its records page by page (`after` cursors) or by search, and associations read in batches. 429, 5xx
and timeouts are asked again (after Retry-After, else with backoff); any other refusal is one `ConnectorError`
naming what to change."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import checked, gist, http_client, json_object

SEARCH_WINDOW = 10_000
"""The most results one search can page through: HubSpot refuses an `after` past it."""
BATCH_READ = 100
"""Records whose associations one batch call reads."""


@dataclass
class Page:
    """Records as HubSpot answers them, and the cursor of the next page (None after the last)."""

    results: list[dict[str, Any]]
    after: str | None


@dataclass(frozen=True)
class Link:
    """One association of a record: the other record's id and the association's labels (Primary among them)."""

    to_id: str
    labels: tuple[str, ...]
    primary: bool


class HubSpotClient:
    def __init__(self, url: str, token: str, *, retries: int = 5, backoff: float = 2.0, timeout: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._http = http_client(base_url=url.rstrip("/"), timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.calls = 0

    def close(self) -> None:
        self._http.close()

    def portal(self) -> str:
        """The id of the portal the token belongs to."""
        return str(self._call("GET", "/account-info/v3/details", "the account's details").get("portalId", ""))

    def properties(self, object_type: str) -> list[str]:
        """The internal names of the object's properties, the portal's own among them."""
        body = self._call("GET", f"/crm/v3/properties/{object_type}", f"the properties of {object_type}")
        return [str(p.get("name")) for p in body.get("results") or [] if isinstance(p, dict) and p.get("name")]

    def page(self, object_type: str, properties: list[str], after: str | None, size: int,
             archived: bool = False) -> Page:
        """One page of the object's records (the archived ones, with `archived`), in HubSpot's order."""
        params: dict[str, Any] = {"limit": size, "properties": ",".join(properties), "archived": str(archived).lower()}
        if after:
            params["after"] = after
        kind = "archived " if archived else ""
        return _page(self._call("GET", f"/crm/v3/objects/{object_type}", f"{kind}{object_type}", params=params))

    def search(self, object_type: str, filters: list[dict[str, str]], sort: str, properties: list[str],
               after: int, size: int) -> Page:
        """One page of the records matching every filter, sorted ascending by `sort`."""
        body = {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                "properties": properties, "limit": size, "after": str(after)}
        return _page(self._call("POST", f"/crm/v3/objects/{object_type}/search", f"a search of {object_type}",
                                json=body))

    def associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[Link]]:
        """Each record's associations to records of `to_type` (a record with none is left out)."""
        out: dict[str, list[Link]] = {}
        for start in range(0, len(ids), BATCH_READ):
            inputs = [{"id": i} for i in ids[start:start + BATCH_READ]]
            body = self._call("POST", f"/crm/v4/associations/{from_type}/{to_type}/batch/read",
                              f"the associations of {from_type} to {to_type}", json={"inputs": inputs})
            out.update(_links(body))
        return out

    def _call(self, method: str, path: str, what: str, **options: Any) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            self.calls += 1
            try:
                response = checked("HubSpot", what,
                                   lambda: _accepted(self._http.request(method, path, **options), what))
            except ConnectorError as err:
                if not err.retryable or attempt == self.retries:
                    raise
                self.sleep(err.retry_after if err.retry_after is not None else self.backoff * 2 ** attempt)
                continue
            except httpx.HTTPError as err:
                raise ConnectorError(f"HubSpot failed on {what}: {err}") from None
            return json_object("HubSpot", what, response)
        raise AssertionError("unreachable")  # the last attempt returns or raises


def _accepted(response: httpx.Response, what: str) -> httpx.Response:
    """The response, unless HubSpot refused the token (401) or its scopes (403): that is said in words to act on."""
    if response.status_code == 401:
        raise ConnectorError(f"HubSpot refused {what} (HTTP 401): check the source's access_token")
    if response.status_code == 403:
        raise ConnectorError(f"HubSpot refused {what} (HTTP 403: {gist(response.text)}): give the private app the "
                             "read scopes of contacts, companies and deals (crm.objects.*.read, crm.schemas.*.read)")
    return response


def _links(body: dict[str, Any]) -> dict[str, list[Link]]:
    out: dict[str, list[Link]] = {}
    for result in body.get("results") or []:
        links = []
        for to in result.get("to") or []:
            kinds = [k for k in to.get("associationTypes") or [] if isinstance(k, dict)]
            labels = tuple(str(k["label"]) for k in kinds if k.get("label"))
            links.append(Link(str(to.get("toObjectId")), labels, "Primary" in labels))
        out[str((result.get("from") or {}).get("id"))] = links
    return out


def _page(body: dict[str, Any]) -> Page:
    results = [r for r in body.get("results") or [] if isinstance(r, dict)]
    following = ((body.get("paging") or {}).get("next") or {}).get("after")
    return Page(results, str(following) if following not in (None, "") else None)
