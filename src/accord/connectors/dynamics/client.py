"""Dataverse's Web API (OData v4) signed in as an app registration (Microsoft Entra ID's client credentials): the
organisation signed in to, a table's columns, its records page by page with change tracking (`@odata.nextLink`,
then `@odata.deltaLink`), active records found by a column's values, and static marketing lists (found by name,
made, members added, removed and read). 429, 5xx and timeouts are asked again (after Retry-After, else with
backoff); an expired token is renewed once; any other refusal is one `ConnectorError` naming what to change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import checked, gist, http_client, json_object, json_of
from accord.connectors.pacing import Pacer

FORMATTED = "OData.Community.Display.V1.FormattedValue"
"""The annotation holding a value as Dynamics shows it (a choice's label)."""
TARGET = "Microsoft.Dynamics.CRM.lookuplogicalname"
"""The annotation naming the table a lookup's value is a record of."""
RENEW_BEFORE = 120.0
"""Seconds before a token expires that a new one is asked for."""
VALUES_PER_QUERY = 200
"""Values one query asks for (`Microsoft.Dynamics.CRM.In`): a request's address (about 10 kB of e-mails) stays well
below the 32 kB Dataverse takes."""
LIST_OF = {"account": 1, "contact": 2, "lead": 4}
"""A marketing list's member type (`createdfromcode`) by the table its members are of."""
MEMBERS_OF = {"account": "listaccount_association", "contact": "listcontact_association",
              "lead": "listlead_association"}
"""The relationship from a list to its members of each table."""
SETS = {"account": "accounts", "contact": "contacts", "lead": "leads"}
"""The entity set a table's records are read from, for the tables whose records go on lists."""


@dataclass
class Page:
    """Records (and deletions) as Dataverse answers them; the link to the next page, or after the last one the link
    that reads the changes since."""

    records: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None


@dataclass(frozen=True)
class Column:
    """One column of a table as the Web API names it (`_parentaccountid_value` for a lookup) and its type."""

    name: str
    type: str

    @property
    def is_choice(self) -> bool:
        return self.type in ("Picklist", "Status", "MultiSelectPicklist")


class DynamicsClient:
    def __init__(self, url: str, api_version: str, login_url: str, tenant_id: str, client_id: str, secret: str, *,
                 retries: int = 5, backoff: float = 2.0, timeout: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, pacer: Pacer | None = None) -> None:
        self.api = f"{url.rstrip('/')}/api/data/{api_version}/"
        self._http = http_client(timeout=timeout, headers={"OData-Version": "4.0", "OData-MaxVersion": "4.0",
                                                          "Accept": "application/json"})
        self._login = (f"{login_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token",
                       {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                        "scope": f"{url.rstrip('/')}/.default"})
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.pacer = pacer or Pacer(6000, 300.0, 1)
        self.calls = 0
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def require_organization(self, organization_id: str, whose: str) -> None:
        """Refuse an environment of another organisation than `organization_id`: its records would be taken for
        this one's."""
        found = str(self._get("WhoAmI", "who Accord signs in as").get("OrganizationId", "")).lower()
        if found != organization_id:
            raise ConnectorError(f"the environment {whose} signs in to is of organisation {found or '?'}, not of "
                                 f"organization_id {organization_id}: correct url or organization_id")

    def columns(self, table: str) -> dict[str, Column]:
        """The table's columns by the name the Web API reads them by (its logical name, `_<name>_value` for a
        lookup); `table` is its logical name (`account`)."""
        body = self._get(f"EntityDefinitions(LogicalName='{table}')/Attributes",
                         f"the columns of {table}", params={"$select": "LogicalName,AttributeType,AttributeTypeName"})
        out = {}
        for attribute in body.get("value") or []:
            if not isinstance(attribute, dict) or not attribute.get("LogicalName"):
                continue
            name, kind = str(attribute["LogicalName"]), str(attribute.get("AttributeType") or "")
            if (attribute.get("AttributeTypeName") or {}).get("Value") == "MultiSelectPicklistType":
                kind = "MultiSelectPicklist"
            if kind in ("Lookup", "Customer", "Owner"):
                name = f"_{name}_value"
            out[name] = Column(name, kind)
        return out

    def changes(self, entity_set: str, select: list[str], size: int) -> Page:
        """The first page of a table's records with change tracking: every record, and after the last page a
        link to the changes since."""
        return self._page(self.api + entity_set, f"the records of {entity_set}", size,
                          params={"$select": ",".join(select)}, tracked=True)

    def follow(self, link: str, what: str, size: int, tracked: bool = True) -> Page:
        """The page a next or delta link leads to (of a read with change tracking, unless not `tracked`); a link
        to anywhere but the environment's Web API is refused."""
        if not link.startswith(self.api):
            raise ConnectorError(f"Dynamics gave a link to {gist(link, 80)} for {what}, outside {self.api}: "
                                 "not followed")
        return self._page(link, what, size, tracked=tracked)

    def active(self, table: str, column: str, values: list[str]) -> dict[str, list[str]]:
        """The ids of the active records of `table` (`contact`) whose `column` holds each value (compared
        lower-cased); a value no such record holds is left out."""
        key, out = f"{table}id", {}
        for start in range(0, len(values), VALUES_PER_QUERY):
            chunk = ",".join(_quoted(v) for v in values[start:start + VALUES_PER_QUERY])
            params = {"$select": ",".join(dict.fromkeys([key, column])), "$filter":
                      f"Microsoft.Dynamics.CRM.In(PropertyName='{column}',PropertyValues=[{chunk}]) and statecode eq 0"}
            page = self._page(self.api + SETS[table], f"{table} records by {column}", 5000, params)
            while True:
                for record in page.records:
                    out.setdefault(str(record.get(column) or "").strip().lower(), []).append(str(record[key]))
                if page.next_link is None:
                    break
                page = self.follow(page.next_link, f"{table} records by {column}", 5000, tracked=False)
        return out

    def list_id(self, name: str, table: str) -> str | None:
        """The id of the static marketing list of `table`'s records called `name`, or None when there is none."""
        body = self._get("lists", f"the list {name!r}", params={
            "$select": "listid", "$filter": f"listname eq {_quoted(name)} and type eq false and createdfromcode eq "
                                            f"{LIST_OF[table]}"})
        found = [r for r in body.get("value") or [] if isinstance(r, dict) and r.get("listid")]
        return str(found[0]["listid"]) if found else None

    def create_list(self, name: str, table: str) -> str:
        """A new static marketing list of `table`'s records called `name`; its id."""
        response = self._send("POST", self.api + "lists", f"a new list {name!r}", json={
            "listname": name, "type": False, "createdfromcode": LIST_OF[table]})
        made = response.headers.get("OData-EntityId", "")
        if "(" not in made:
            raise ConnectorError(f"Dynamics made the list {name!r} but did not say its id (OData-EntityId)")
        return made.rpartition("(")[2].rstrip(")")

    def add_members(self, list_id: str, table: str, ids: list[str]) -> None:
        """Add records to a list (one already on it stays once)."""
        members = [{"@odata.type": f"Microsoft.Dynamics.CRM.{table}", f"{table}id": i} for i in ids]
        self._send("POST", self.api + "AddListMembersList", f"adding to list {list_id}", json={
            "List": {"@odata.type": "Microsoft.Dynamics.CRM.list", "listid": list_id}, "Members": members})

    def remove_member(self, list_id: str, record_id: str) -> None:
        self._send("POST", f"{self.api}lists({list_id})/Microsoft.Dynamics.CRM.RemoveMemberList",
                   f"removing from list {list_id}", json={"EntityId": record_id})

    def static_lists(self, codes: list[int]) -> dict[str, str]:
        """Every static marketing list whose members are of one of these types (`createdfromcode`): its id → the
        table of its members."""
        tables = {code: table for table, code in LIST_OF.items()}
        where = " or ".join(f"createdfromcode eq {c}" for c in codes)
        page = self._page(self.api + "lists", "the static lists", 5000,
                          {"$select": "listid,createdfromcode", "$filter": f"type eq false and ({where})"})
        found = {}
        while True:
            found |= {str(r["listid"]): tables[r["createdfromcode"]] for r in page.records
                      if r.get("listid") and r.get("createdfromcode") in tables}
            if page.next_link is None:
                return found
            page = self.follow(page.next_link, "the static lists", 5000, tracked=False)

    def list_members(self, list_id: str, table: str) -> set[str]:
        """The ids of every record on the list."""
        key, what = f"{table}id", f"the members of list {list_id}"
        page = self._page(f"{self.api}lists({list_id})/{MEMBERS_OF[table]}", what, 5000, {"$select": key})
        members = {str(r.get(key)) for r in page.records}
        while page.next_link is not None:
            page = self.follow(page.next_link, what, 5000, tracked=False)
            members |= {str(r.get(key)) for r in page.records}
        return members

    def _page(self, url: str, what: str, size: int, params: dict[str, str] | None = None,
              tracked: bool = False) -> Page:
        # Every page of a tracked read asks for tracking again: a page is then read alike whether it follows the
        # one before in this run or resumes a killed backfill.
        prefer = [*(["odata.track-changes"] if tracked else []), f"odata.maxpagesize={size}",
                  'odata.include-annotations="*"']
        body = self._call("GET", url, what, params=params, headers={"Prefer": ",".join(prefer)})
        records = [r for r in body.get("value") or [] if isinstance(r, dict)]
        return Page(records, _text(body.get("@odata.nextLink")), _text(body.get("@odata.deltaLink")))

    def _get(self, path: str, what: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._call("GET", self.api + path, what, params=params)

    def _call(self, method: str, url: str, what: str, **options: Any) -> dict[str, Any]:
        return json_object("Dynamics", what, self._send(method, url, what, **options))

    def _send(self, method: str, url: str, what: str, **options: Any) -> httpx.Response:
        renewed = False
        attempt = 0
        while True:
            with self._lock:
                self.calls += 1
            headers = {**options.pop("headers", {}), "Authorization": f"Bearer {self._bearer()}"}
            try:
                with self.pacer.slot():
                    response = checked("Dynamics", what, lambda: _accepted(
                        self._http.request(method, url, headers=headers, **options), what))
            except _Expired:
                if renewed:
                    raise ConnectorError(f"Dynamics refused {what} (HTTP 401) with a new token: check that the "
                                         "app registration has an application user in the environment") from None
                renewed, self._token = True, None
                options["headers"] = headers
                continue
            except ConnectorError as err:
                if not err.retryable or attempt == self.retries:
                    raise
                self.sleep(err.retry_after if err.retry_after is not None else self.backoff * 2 ** attempt)
                attempt += 1
                options["headers"] = headers
                continue
            except httpx.HTTPError as err:
                raise ConnectorError(f"Dynamics failed on {what}: {err}") from None
            return response

    def _bearer(self) -> str:
        """A token for the environment, asked of Microsoft Entra ID when there is none or it is about to expire."""
        with self._lock:
            if self._token is not None and self._token[1] - RENEW_BEFORE > time.monotonic():
                return self._token[0]
            url, form = self._login
            what = "a token for the app registration"
            response = checked("Microsoft Entra ID", what, lambda: _signed_in(self._http.post(url, data=form)))
            body = json_object("Microsoft Entra ID", what, response)
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise ConnectorError(f"Microsoft Entra ID answered no access_token for {what}: {gist(response.text)}")
            self._token = (token, time.monotonic() + float(body.get("expires_in") or 3600))
            return token


class Refused(ConnectorError):
    """Dynamics refused a call (400, 404): `said` is its message, which names a record that does not exist."""

    def __init__(self, message: str, said: str) -> None:
        super().__init__(message)
        self.said = said


class Absent(Refused):
    """Dynamics has no such thing (404): a table of an app the environment does not have."""


class _Expired(Exception):
    """Dynamics refused the token (401): renewed once."""


def _signed_in(response: httpx.Response) -> httpx.Response:
    """The token's answer, unless Microsoft Entra ID refused the app registration, said in words to act on."""
    if response.status_code in (400, 401):
        try:
            said = str(json_of(response).get("error_description") or response.text)
        except (ValueError, AttributeError):
            said = response.text
        raise ConnectorError(f"Microsoft Entra ID refused the app registration's sign-in (HTTP {response.status_code}: "
                             f"{gist(said)}): check tenant_id, client_id and client_secret")
    return response


def _accepted(response: httpx.Response, what: str) -> httpx.Response:
    """The response, unless Dynamics refused the token (401) or the security role (403), said in words to act on."""
    if response.status_code == 401:
        raise _Expired
    if response.status_code == 403:
        raise ConnectorError(f"Dynamics refused {what} (HTTP 403: {_message(response)}): give the application user "
                             "a security role that allows it (see docs/dynamics.md)")
    if response.status_code in (400, 404):
        kind = Absent if response.status_code == 404 else Refused
        raise kind(f"Dynamics refused {what} (HTTP {response.status_code}: {_message(response)})", _message(response))
    return response


def _message(response: httpx.Response) -> str:
    """Dataverse's error message (`{"error": {"code", "message"}}`), else the body as one line."""
    try:
        error = json_of(response).get("error") or {}
        return gist(str(error.get("message") or response.text))
    except (ValueError, AttributeError):
        return gist(response.text)


def _quoted(value: str) -> str:
    """A text as an OData literal."""
    return "'" + value.replace("'", "''") + "'"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
