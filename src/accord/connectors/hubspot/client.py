"""HubSpot's CRM API with a private app's token (`Authorization: Bearer`): the account's details, an object's
properties, its records page by page (`after` cursors) or by search, associations read in batches, contacts found
by e-mail and companies by domain, and static lists of either (found by name, made, their members changed and
read). 429, 5xx and timeouts are asked again (after Retry-After, else with backoff); any other refusal is one
`ConnectorError` naming what to change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import checked, gist, http_client, json_object
from accord.connectors.pacing import Pacer

SEARCH_WINDOW = 10_000
"""The most results one search can page through: HubSpot refuses an `after` past it."""
SEARCHES_PER_SECOND = 5
"""HubSpot's limit on search calls, on every portal, beside the limit on all calls."""
BATCH_READ = 100
"""Records one batch call reads (associations, contacts by e-mail)."""
ASSOCIATIONS_PAGE = 500
"""Associations of one record a call answers (a batch read, or a page of that record's)."""
CONTACTS = "0-1"
"""HubSpot's object type id of contacts, which a contact list holds."""
COMPANIES = "0-2"
"""HubSpot's object type id of companies, which a company list holds."""
DOMAINS_PER_SEARCH = 50
"""Domains one search asks for (each as written and with `www.`: HubSpot takes 100 values in an IN filter)."""


class Absent(ConnectorError):
    """HubSpot has no such thing (404): a list not made yet."""


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
                 sleep: Callable[[float], None] = time.sleep, pacer: Pacer | None = None) -> None:
        self._http = http_client(base_url=url.rstrip("/"), timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.pacer = pacer or Pacer(100, 10.0, 1)
        self._searches = Pacer(SEARCHES_PER_SECOND, 1.0, 1)
        self.calls = 0
        self._counting = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def require_portal(self, portal_id: str, whose: str) -> None:
        """Refuse a token of another portal than `portal_id`: its records, or lists, would be taken for this one's."""
        portal = str(self._call("GET", "/account-info/v3/details", "the account's details").get("portalId", ""))
        if portal != portal_id:
            raise ConnectorError(f"the access token of {whose} is of HubSpot portal {portal or '?'}, not of "
                                 f"portal_id {portal_id}: use that portal's token, or correct portal_id")

    def properties(self, object_type: str) -> dict[str, dict[str, str]]:
        """The object's properties (the portal's own among them) by internal name, each with the label of each of
        its values when it is a choice among some (an enumeration: a dropdown, radio buttons, checkboxes)."""
        body = self._call("GET", f"/crm/v3/properties/{object_type}", f"the properties of {object_type}")
        return {str(p["name"]): {str(o.get("value")): str(o.get("label")) for o in p.get("options") or []
                                 if isinstance(o, dict) and o.get("label")} if p.get("type") == "enumeration" else {}
                for p in body.get("results") or [] if isinstance(p, dict) and p.get("name")}

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
        with self._searches.slot():
            return _page(self._call("POST", f"/crm/v3/objects/{object_type}/search", f"a search of {object_type}",
                                    json=body))

    def associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[Link]]:
        """Each record's associations to records of `to_type` (a record with none is left out). A batch read
        answers 500 of a record's associations; the rest are read page by page from that record."""
        out: dict[str, list[Link]] = {}
        for start in range(0, len(ids), BATCH_READ):
            inputs = [{"id": i} for i in ids[start:start + BATCH_READ]]
            body = self._call("POST", f"/crm/v4/associations/{from_type}/{to_type}/batch/read",
                              f"the associations of {from_type} to {to_type}", json={"inputs": inputs})
            for result in body.get("results") or []:
                record = str((result.get("from") or {}).get("id"))
                out[record] = _links(result.get("to"))
                after = _following(result)
                while after is not None:
                    page = self._call("GET", f"/crm/v4/objects/{from_type}/{record}/associations/{to_type}",
                                      f"the associations of {from_type} {record} to {to_type}",
                                      params={"limit": ASSOCIATIONS_PAGE, "after": after})
                    out[record] += _links(page.get("results"))
                    after = _following(page)
        return out

    def contacts_by_email(self, emails: list[str]) -> dict[str, list[str]]:
        """The ids of the contacts with each e-mail (lower-cased); an e-mail no contact has is left out."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(emails), BATCH_READ):
            inputs = [{"id": e} for e in emails[start:start + BATCH_READ]]
            body = self._call("POST", "/crm/v3/objects/contacts/batch/read", "contacts by e-mail",
                              json={"idProperty": "email", "properties": ["email"], "inputs": inputs})
            for contact in body.get("results") or []:
                email = str((contact.get("properties") or {}).get("email") or "").strip().lower()
                if email and contact.get("id") is not None:
                    out.setdefault(email, []).append(str(contact["id"]))
        return out

    def companies_by_domain(self, domains: list[str]) -> dict[str, list[str]]:
        """The ids of the companies with each web domain (lower-case, without `www.`); one no company has is left
        out. HubSpot keeps a domain as it was entered, so each is asked for with `www.` too."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(domains), DOMAINS_PER_SEARCH):
            chunk = domains[start:start + DOMAINS_PER_SEARCH]
            filters = [{"propertyName": "domain", "operator": "IN", "values": [*chunk, *(f"www.{d}" for d in chunk)]}]
            after = 0
            while True:
                page = self.search("companies", filters, "hs_object_id", ["domain"], after, 200)
                for company in page.results:
                    domain = str((company.get("properties") or {}).get("domain") or "").strip().lower()
                    if company.get("id") is not None:
                        out.setdefault(domain.removeprefix("www."), []).append(str(company["id"]))
                if page.after is None or int(page.after) + 200 > SEARCH_WINDOW:
                    break
                after = int(page.after)
        return out

    def list_id(self, name: str, object_type_id: str = CONTACTS) -> str | None:
        """The id of the list of contacts (or of companies, `COMPANIES`) called `name`, or None when there is none."""
        try:
            body = self._call("GET", f"/crm/v3/lists/object-type-id/{object_type_id}/name/{quote(name, safe='')}",
                              f"the list {name!r}")
        except Absent:
            return None
        return str((body.get("list") or {}).get("listId") or "") or None

    def create_list(self, name: str, object_type_id: str = CONTACTS) -> str:
        """A new manual list of contacts (or of companies) called `name`; its id."""
        body = self._call("POST", "/crm/v3/lists", f"a new list {name!r}",
                          json={"name": name, "objectTypeId": object_type_id, "processingType": "MANUAL"})
        return str((body.get("list") or {}).get("listId"))

    def list_change(self, list_id: str, ids: list[str], remove: bool) -> tuple[set[str], set[str]]:
        """Add (or remove) records: the ids added (or removed), and those HubSpot has no record of. Adding a
        member again, or removing one that is not, changes nothing and is neither."""
        verb = "remove" if remove else "add"
        body = self._call("PUT", f"/crm/v3/lists/{list_id}/memberships/{verb}", f"a change of list {list_id}",
                          json=ids)
        # The v3 API spells the added ids `recordsIdsAdded`; later versions `recordIdsAdded`.
        done = body.get("recordIdsRemoved" if remove else "recordsIdsAdded", body.get("recordIdsAdded")) or []
        return {str(i) for i in done}, {str(i) for i in body.get("recordIdsMissing") or []}

    def list_members(self, list_id: str) -> set[str]:
        """The ids of every record on the list."""
        members: set[str] = set()
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 250, **({"after": after} if after else {})}
            page = _page(self._call("GET", f"/crm/v3/lists/{list_id}/memberships", f"the members of list {list_id}",
                                    params=params))
            members |= {str(r.get("recordId")) for r in page.results}
            if page.after is None:
                return members
            after = page.after

    def _call(self, method: str, path: str, what: str, **options: Any) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            with self._counting:
                self.calls += 1
            try:
                with self.pacer.slot():
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
    """The response, unless HubSpot refused the token (401) or its scopes (403), said in words to act on, or has
    no such thing (404)."""
    if response.status_code == 401:
        raise ConnectorError(f"HubSpot refused {what} (HTTP 401): check the source's access_token")
    if response.status_code == 404:
        raise Absent(f"HubSpot has no {what} (HTTP 404)")
    if response.status_code == 403:
        raise ConnectorError(f"HubSpot refused {what} (HTTP 403: {gist(response.text)}): give the private app the "
                             "scopes the source or destination needs (see access_token in docs/hubspot.md)")
    return response


def _links(found: Any) -> list[Link]:
    """A record's associations as HubSpot lists them (`toObjectId`, `associationTypes`)."""
    links = []
    for to in found or []:
        kinds = [k for k in to.get("associationTypes") or [] if isinstance(k, dict)]
        labels = tuple(str(k["label"]) for k in kinds if k.get("label"))
        links.append(Link(str(to.get("toObjectId")), labels, "Primary" in labels))
    return links


def _following(body: dict[str, Any]) -> str | None:
    """The cursor of the next page an answer names, or None after the last."""
    following = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(following) if following not in (None, "") else None


def _page(body: dict[str, Any]) -> Page:
    results = [r for r in body.get("results") or [] if isinstance(r, dict)]
    following = _following(body)
    return Page(results, following)
