"""A local HubSpot portal over real HTTP on 127.0.0.1, answering as HubSpot's CRM API does: a private app's token
(`Authorization: Bearer`), the account's details, each object's properties, its records page by page (opaque
`after` cursors, `archived=true` for the archived ones), search (filters, one sort, 10,000 results at most, no
archived records), associations read in batches (v4, labels, Primary), contacts read by e-mail, and static contact
lists (found by name, made, members added, removed and listed); faults on request."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from accord.testing.http import Answer, Faults, LocalServer

MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}
PROPERTIES = {
    "contacts": ["email", "firstname", "lastname", "jobtitle", "phone", "company", "associatedcompanyid",
                 "hs_lead_status", "hs_analytics_source", "hs_email_optout", "country", "city", "salesforcecontactid",
                 "salesforceleadid", "createdate", "lastmodifieddate", "hs_object_id"],
    "companies": ["name", "domain", "website", "industry", "numberofemployees", "annualrevenue", "type", "country",
                  "state", "city", "phone", "hs_parent_company_id", "createdate", "hs_lastmodifieddate",
                  "hs_object_id"],
    "deals": ["dealname", "dealstage", "pipeline", "amount", "closedate", "hs_is_closed", "hs_is_closed_won",
              "dealtype", "deal_currency_code", "createdate", "hs_lastmodifieddate", "hs_object_id"],
}
OPTIONS = {
    ("companies", "industry"): {"COMPUTER_SOFTWARE": "Computer Software", "FINANCIAL_SERVICES": "Financial Services"},
    ("companies", "type"): {"PROSPECT": "Prospect", "PARTNER": "Partner", "VENDOR": "Vendor"},
    ("deals", "dealstage"): {"appointmentscheduled": "Appointment Scheduled", "closedwon": "Closed Won",
                             "closedlost": "Closed Lost", "87654321": "Security Review"},
    ("contacts", "hs_lead_status"): {"NEW": "New", "OPEN": "Open", "IN_PROGRESS": "In Progress"},
}
"""The choices of the portal's enumeration properties (value → label), a custom pipeline's stage among them."""
PRIMARY = {("contacts", "companies"): 1, ("companies", "contacts"): 2, ("deals", "companies"): 5,
           ("companies", "deals"): 6}
"""HubSpot's association type ids labelled Primary."""
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "EQ": lambda a, b: a == b, "GT": lambda a, b: a > b, "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b}
LISTED = {"0-1": "contacts", "0-2": "companies"}
"""The objects a list may hold, by HubSpot's object type id."""


def iso(moment: datetime) -> str:
    """An instant as HubSpot writes one: UTC, milliseconds, `Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubSpotServer(LocalServer, Faults):
    """One portal's contacts, companies and deals; `search_window` stands in for HubSpot's 10,000 results."""

    def __init__(self, portal_id: str = "2486711", token: str = "pat-na1-token", search_window: int = 10_000,
                 call_seconds: float = 0.0) -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.portal_id, self.token, self.search_window = portal_id, token, search_window
        self.call_seconds = call_seconds  # how long each answer takes, as a real portal's does
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in MODIFIED}
        self.properties = {t: list(names) for t, names in PROPERTIES.items()}
        self.links: dict[tuple[str, str], dict[str, dict[str, list[dict[str, Any]]]]] = {}
        self.lists: dict[str, dict[str, Any]] = {}  # list id → its name and members (contact ids)
        self.added: dict[tuple[str, str], int] = {}  # (list id, contact id) → times it was added
        self.deleted: set[str] = set()  # contacts deleted since a lookup: answered as missing
        self.calls: list[tuple[str, str]] = []  # (method, path) of each call
        self.searches: list[dict[str, Any]] = []  # each search's body
        self._held: dict[int, float] = {}
        self._lock = threading.Lock()

    def hold(self, call: int, seconds: float) -> None:
        """Hold the answer to the `call`-th call (counted from 1) for `seconds`: a run can be killed then."""
        with self._lock:
            self._held[call] = seconds

    def put(self, object_type: str, record_id: int | str, at: datetime, **properties: Any) -> None:
        """Create or change a record at `at` (its last-modified stamp), with these properties."""
        with self._lock:
            key = str(record_id)
            record = self.records[object_type].setdefault(key, {
                "id": key, "properties": {"createdate": iso(at), "hs_object_id": key}, "createdAt": iso(at),
                "archived": False})
            record["properties"].update({k: None if v is None else str(v) for k, v in properties.items()})
            record["properties"][MODIFIED[object_type]] = iso(at)
            record["updatedAt"], record["archived"] = iso(at), False
            record.pop("archivedAt", None)

    def archive(self, object_type: str, record_id: int | str, at: datetime) -> None:
        with self._lock:
            record = self.records[object_type][str(record_id)]
            record.update(archived=True, archivedAt=iso(at), updatedAt=iso(at))

    def associate(self, from_type: str, from_id: int | str, to_type: str, to_id: int | str,
                  label: str | None = None, primary: bool = False) -> None:
        """Associate two records (both ways), with a label of the portal's own and, or, the Primary type."""
        kinds = [{"category": "USER_DEFINED", "typeId": 37, "label": label}] if label else []
        ends = ((from_type, from_id), (to_type, to_id))
        for (a, a_id), (b, b_id) in (ends, ends[::-1]):
            types = kinds + [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}]
            if primary and (a, b) in PRIMARY:
                types.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": PRIMARY[(a, b)], "label": "Primary"})
            with self._lock:
                self.links.setdefault((a, b), {}).setdefault(str(a_id), {})[str(b_id)] = types

    def dissociate(self, from_type: str, from_id: int | str, to_type: str, to_id: int | str) -> None:
        with self._lock:
            self.links.get((from_type, to_type), {}).get(str(from_id), {}).pop(str(to_id), None)
            self.links.get((to_type, from_type), {}).get(str(to_id), {}).pop(str(from_id), None)

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        injected = self.take(body)
        if injected is not None:
            return _error(injected, "RATE_LIMIT" if injected == 429 else "INTERNAL_ERROR",
                          "You have reached your ten_secondly_rolling limit." if injected == 429 else "internal error",
                          {"Retry-After": "0"} if injected == 429 else {})
        if headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports "
                          "OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/")
        with self._lock:
            self.calls.append((method, path))
            late = self._held.pop(len(self.calls), 0.0)
        time.sleep(late + self.call_seconds)
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/account-info/v3/details":
            return _json({"portalId": int(self.portal_id), "accountType": "STANDARD", "timeZone": "US/Eastern",
                          "companyCurrency": "USD", "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1"})
        if method == "GET" and parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4 and parts[3] in MODIFIED:
            return _json({"results": [_property(parts[3], n) for n in self.properties[parts[3]]]})
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4 and parts[3] in MODIFIED:
            if method == "GET" and len(parts) == 4:
                return self._list(parts[3], query)
            if method == "POST" and parts[4:] == ["search"]:
                return self._search(parts[3], json.loads(body or b"{}"))
        if method == "POST" and parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"]:
            return self._associations(parts[3], parts[4], json.loads(body or b"{}"))
        if method == "GET" and parts[:3] == ["crm", "v4", "objects"] and len(parts) == 7 and parts[5] == "associations":
            return _json(self._associated(parts[3], parts[6], parts[4], int(query.get("after", ["0"])[0]),
                                          min(int(query.get("limit", ["500"])[0]), 500)))
        if method == "POST" and path == "/crm/v3/objects/contacts/batch/read":
            return self._by_email(json.loads(body or b"{}"))
        if parts[:3] == ["crm", "v3", "lists"]:
            return self._list_call(method, parts[3:], query, json.loads(body or b"null"))
        return _error(404, "OBJECT_NOT_FOUND", f"no route for {method} {path}")

    def _shown(self, object_type: str, record: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        """A record as HubSpot shows it: the properties asked for (those it has no value of as null) and defaults."""
        names = dict.fromkeys(["createdate", MODIFIED[object_type], "hs_object_id", *wanted])
        shown = {k: v for k, v in record.items() if k != "properties"}
        return shown | {"properties": {n: record["properties"].get(n) for n in names}}

    def _list(self, object_type: str, query: dict[str, list[str]]) -> Answer:
        limit = min(int(query.get("limit", ["10"])[0]), 100)
        archived = query.get("archived", ["false"])[0] == "true"
        wanted = [p for p in query.get("properties", [""])[0].split(",") if p]
        after = int(base64.b64decode(query["after"][0]).decode()) if "after" in query else -1
        with self._lock:
            held = sorted((r for r in self.records[object_type].values() if r["archived"] == archived
                           and int(r["id"]) > after), key=lambda r: int(r["id"]))
            page = [self._shown(object_type, r, wanted) for r in held[:limit]]
        body: dict[str, Any] = {"results": page}
        if len(held) > limit:
            cursor = base64.b64encode(page[-1]["id"].encode()).decode()
            body["paging"] = {"next": {"after": cursor, "link": f"?after={cursor}"}}
        return _json(body)

    def _search(self, object_type: str, request: dict[str, Any]) -> Answer:
        with self._lock:
            self.searches.append(request)
        after, limit = int(request.get("after") or 0), min(int(request.get("limit") or 10), 200)
        if after + limit > self.search_window:
            return _error(400, "VALIDATION_ERROR", f"There was a problem with the request. after + limit must be at "
                          f"most {self.search_window}")
        filters = [f for group in request.get("filterGroups") or [{}] for f in group.get("filters") or []]
        sort = (request.get("sorts") or [{"propertyName": "hs_object_id"}])[0]["propertyName"]
        with self._lock:
            held = [r for r in self.records[object_type].values()
                    if not r["archived"] and all(_holds(r, f) for f in filters)]
            held.sort(key=lambda r: (_value(r, sort), int(r["id"])))
            page = [self._shown(object_type, r, request.get("properties") or []) for r in held[after:after + limit]]
        body: dict[str, Any] = {"total": len(held), "results": page}
        if after + limit < len(held):
            body["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return _json(body)

    def _associations(self, from_type: str, to_type: str, request: dict[str, Any]) -> Answer:
        """A batch read: each record's first 500 associations, and the cursor of the rest."""
        results = []
        for item in request.get("inputs") or []:
            shown = self._associated(from_type, to_type, str(item.get("id")), 0, 500)
            if shown["results"]:
                results.append({"from": {"id": str(item["id"])}, "to": shown["results"]}
                               | ({"paging": shown["paging"]} if "paging" in shown else {}))
        return _json({"status": "COMPLETE", "results": results, "startedAt": iso(datetime.now(timezone.utc)),
                      "completedAt": iso(datetime.now(timezone.utc))})

    def _associated(self, from_type: str, to_type: str, record: str, start: int, limit: int) -> dict[str, Any]:
        """One page of a record's associations (`results`), with `paging` when more follow."""
        with self._lock:
            held = list(self.links.get((from_type, to_type), {}).get(record, {}).items())
        page: dict[str, Any] = {"results": [{"toObjectId": int(to_id), "associationTypes": types}
                                            for to_id, types in held[start:start + limit]]}
        if start + limit < len(held):
            page["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
        return page


    def _by_email(self, request: dict[str, Any]) -> Answer:
        if request.get("idProperty") != "email":
            return _error(400, "VALIDATION_ERROR", "this stand-in reads contacts by email only")
        with self._lock:
            by_email = {str(r["properties"].get("email") or "").lower(): r for r in self.records["contacts"].values()
                        if not r["archived"]}
            asked = [str(i.get("id") or "").lower() for i in request.get("inputs") or []]
            found = [self._shown("contacts", by_email[e], ["email"]) for e in asked if e in by_email]
        missing = [e for e in asked if e not in by_email]
        body: dict[str, Any] = {"status": "COMPLETE", "results": found}
        if missing:
            body |= {"numErrors": 1, "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                                                 "message": "Could not get some CONTACT objects, they may be deleted "
                                                            "or not exist.", "context": {"ids": missing}}]}
        return _json(body, 207 if missing else 200)

    def _list_call(self, method: str, parts: list[str], query: dict[str, list[str]], request: Any) -> Answer:
        """`GET object-type-id/{0-1|0-2}/name/{name}`, `POST` (a new list of contacts or companies), `PUT
        {id}/memberships/add|remove`, `GET {id}/memberships`."""
        with self._lock:
            if method == "GET" and parts[:1] == ["object-type-id"] and parts[2:3] == ["name"] and len(parts) == 4:
                name = unquote(parts[3])
                found = [i for i, held in self.lists.items() if held["name"] == name and held["type"] == parts[1]]
                if not found:
                    return _error(404, "OBJECT_NOT_FOUND", f"List with name {name} does not exist.")
                return _json({"list": self._shown_list(found[0])})
            if method == "POST" and not parts:
                if any(held["name"] == request.get("name") for held in self.lists.values()):
                    return _error(400, "VALIDATION_ERROR", "A list with this name already exists.")
                list_id = str(1 + len(self.lists))
                if request.get("objectTypeId") not in LISTED:
                    return _error(400, "VALIDATION_ERROR", f"objectTypeId {request.get('objectTypeId')!r} is unknown")
                self.lists[list_id] = {"name": request["name"], "processingType": request["processingType"],
                                       "type": request["objectTypeId"], "members": set()}
                return _json({"list": self._shown_list(list_id)})
            held = self.lists.get(parts[0]) if parts else None
            if held is None:
                return _error(404, "OBJECT_NOT_FOUND", "List does not exist.")
            if method == "PUT" and parts[1:] in (["memberships", "add"], ["memberships", "remove"]):
                ids = [str(i) for i in request or []]
                records = self.records[LISTED[held["type"]]]
                exists = {i for i in ids if i in records and i not in self.deleted and not records[i]["archived"]}
                missing = [i for i in ids if i not in exists]
                if parts[2] == "add":
                    new = sorted(exists - held["members"])
                    held["members"] |= exists
                    for i in exists:
                        self.added[(parts[0], i)] = self.added.get((parts[0], i), 0) + 1
                    return _json({"recordIdsMissing": missing, "recordIdsRemoved": [], "recordsIdsAdded": new})
                gone = sorted(exists & held["members"])
                held["members"] -= exists
                return _json({"recordIdsMissing": missing, "recordIdsRemoved": gone, "recordsIdsAdded": []})
            if method == "GET" and parts[1:] == ["memberships"]:
                members = sorted(held["members"], key=int)
                start = int(query.get("after", ["0"])[0])
                limit = min(int(query.get("limit", ["100"])[0]), 250)
                body: dict[str, Any] = {"results": [{"recordId": i, "membershipTimestamp": iso(datetime.now(
                    timezone.utc))} for i in members[start:start + limit]], "total": len(members)}
                if start + limit < len(members):
                    body["paging"] = {"next": {"after": str(start + limit)}}
                return _json(body)
        return _error(404, "OBJECT_NOT_FOUND", "no such list route")

    def _shown_list(self, list_id: str) -> dict[str, Any]:
        held = self.lists[list_id]
        return {"listId": list_id, "name": held["name"], "objectTypeId": held["type"],
                "processingType": held["processingType"], "size": len(held["members"])}


def _property(object_type: str, name: str) -> dict[str, Any]:
    """A property's definition as the properties API answers it."""
    options = OPTIONS.get((object_type, name))
    if options is None:
        return {"name": name, "label": name, "type": "string", "fieldType": "text", "options": []}
    return {"name": name, "label": name, "type": "enumeration", "fieldType": "select", "options": [
        {"label": label, "value": value, "displayOrder": n, "hidden": False}
        for n, (value, label) in enumerate(options.items())]}


def _holds(record: dict[str, Any], test: dict[str, Any]) -> bool:
    """Whether a record passes one search filter: a comparison of numbers or instants, or IN a list of text (which
    HubSpot compares in lower case)."""
    if test["operator"] == "IN":
        value = record["properties"].get(test["propertyName"])
        return value is not None and str(value).lower() in {str(v).lower() for v in test.get("values") or []}
    return COMPARE[test["operator"]](_value(record, test["propertyName"]), float(test["value"]))


def _value(record: dict[str, Any], name: str) -> float:
    """A property as search compares it: an instant in epoch milliseconds, else a number."""
    text = record["properties"].get(name)
    if text is None:
        return float("-inf")
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json;charset=utf-8", **(headers or {})}, json.dumps(body).encode()


def _error(status: int, category: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return _json({"status": "error", "message": message, "correlationId": "0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
                  "category": category}, status, headers)
