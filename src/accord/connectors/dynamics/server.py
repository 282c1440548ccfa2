"""A local Dynamics 365 environment over real HTTP on 127.0.0.1, answering as Dataverse's Web API and Microsoft
Entra ID do: client credentials for a bearer token (which expires on request), WhoAmI, a table's columns
(EntityDefinitions), its records with `$select`, `odata.maxpagesize`, annotations (a choice's label, a lookup's
table) and change tracking (`@odata.nextLink`, `@odata.deltaLink`, `$deletedEntity` entries), active records by a
column's values (`Microsoft.Dynamics.CRM.In`), static marketing lists (found by name, made, members added with
AddListMembersList, removed with RemoveMemberList, listed); a table without change tracking refuses it; faults on
request."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, quote

from accord.testing.http import Answer, Faults, LocalServer

SETS = {"accounts": "account", "contacts": "contact", "leads": "lead", "opportunities": "opportunity",
        "lists": "list"}
"""Entity set name → logical name."""
COMMON = {"createdon": "DateTime", "modifiedon": "DateTime", "statecode": "State", "statuscode": "Status"}
ATTRIBUTES: dict[str, dict[str, str]] = {
    "account": {"accountid": "Uniqueidentifier", "name": "String", "websiteurl": "String", "industrycode": "Picklist",
                "numberofemployees": "Integer", "revenue": "Money", "customertypecode": "Picklist",
                "address1_country": "String", "address1_stateorprovince": "String", "address1_city": "String",
                "telephone1": "String", "parentaccountid": "Lookup", **COMMON},
    "contact": {"contactid": "Uniqueidentifier", "emailaddress1": "String", "firstname": "String",
                "lastname": "String", "jobtitle": "String", "department": "String", "telephone1": "String",
                "mobilephone": "String", "parentcustomerid": "Customer", "leadsourcecode": "Picklist",
                "donotbulkemail": "Boolean", "donotphone": "Boolean", "address1_country": "String",
                "address1_city": "String", **COMMON},
    "lead": {"leadid": "Uniqueidentifier", "emailaddress1": "String", "firstname": "String", "lastname": "String",
             "jobtitle": "String", "companyname": "String", "websiteurl": "String", "telephone1": "String",
             "leadsourcecode": "Picklist", "parentaccountid": "Lookup", "parentcontactid": "Lookup",
             "address1_country": "String", **COMMON},
    "opportunity": {"opportunityid": "Uniqueidentifier", "name": "String", "parentaccountid": "Lookup",
                    "customerid": "Customer", "parentcontactid": "Lookup", "stepname": "String",
                    "salesstagecode": "Picklist", "estimatedvalue": "Money", "actualvalue": "Money",
                    "estimatedclosedate": "DateTime", "actualclosedate": "DateTime", "closeprobability": "Integer",
                    **COMMON},
    "list": {"listid": "Uniqueidentifier", "listname": "String", "description": "Memo", "createdfromcode": "Picklist",
             "type": "Boolean", "membercount": "Integer", **COMMON},
}
LOOKUP_TABLE = {"parentaccountid": "account", "parentcontactid": "contact"}
"""The table a lookup of one table points to (a customer lookup says per record)."""
LABELS: dict[tuple[str, str], dict[int, str]] = {
    ("account", "industrycode"): {1: "Accounting", 28: "Software", 30: "Financial Services"},
    ("account", "customertypecode"): {3: "Customer", 8: "Prospect", 5: "Partner"},
    ("contact", "leadsourcecode"): {1: "Advertisement", 8: "Web"},
    ("lead", "leadsourcecode"): {1: "Advertisement", 8: "Web"},
    ("lead", "statuscode"): {1: "New", 2: "Contacted", 3: "Qualified", 4: "Lost"},
    ("lead", "statecode"): {0: "Open", 1: "Qualified", 2: "Disqualified"},
    ("opportunity", "salesstagecode"): {0: "Qualify", 1: "Develop", 2: "Propose", 3: "Close"},
    ("opportunity", "statecode"): {0: "Open", 1: "Won", 2: "Lost"},
    ("list", "createdfromcode"): {1: "Account", 2: "Contact", 4: "Lead"},
}
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
LIST_TABLES = {1: "account", 2: "contact", 4: "lead"}
"""A marketing list's member type (`createdfromcode`) → the table of its members."""
IN_FILTER = re.compile(r"^Microsoft\.Dynamics\.CRM\.In\(PropertyName='(\w+)',PropertyValues=\[(.*)\]\)"
                       r" and statecode eq 0$")
LIST_FILTER = re.compile(r"^(?:listname eq '((?:[^']|'')*)' and )?type eq false and \(?((?:createdfromcode eq \d+"
                         r"(?: or )?)+)\)?$")


class DynamicsServer(LocalServer, Faults):
    """One environment's accounts, contacts, leads and opportunities, and the tenant that signs its app in."""

    def __init__(self, organization_id: str = "8f6f2a1c-3b4d-4e5f-9a0b-1c2d3e4f5a6b",
                 tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47",
                 client_id: str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", secret: str = "app-secret~1",
                 call_seconds: float = 0.0) -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.organization_id, self.tenant_id = organization_id, tenant_id
        self.client_id, self.secret = client_id, secret
        self.call_seconds = call_seconds  # how long each answer of the Web API takes, as a real environment's does
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SETS.values()}
        self.changed: dict[str, dict[str, int]] = {t: {} for t in SETS.values()}  # id → sequence of its last change
        self.removed: dict[str, dict[str, int]] = {t: {} for t in SETS.values()}  # id → sequence of its deletion
        self.untracked: set[str] = set()  # tables whose change tracking is off
        self.lacking: set[str] = set()  # tables of apps the environment does not have
        self.kept_since = 0  # the oldest delta token still answered: older ones are refused, as expired
        self.tokens: set[str] = set()
        self.members: dict[str, set[str]] = {}  # a list's id → its members' ids
        self.added: dict[tuple[str, str], int] = {}  # (list id, record id) → times it was added
        self.vanished: set[str] = set()  # records deleted since a lookup found them: refused when added
        self.calls: list[tuple[str, str]] = []
        self._sequence = 1000
        self._index: dict[tuple[str, str], tuple[int, dict[str, list[str]]]] = {}
        self._versions: dict[str, int] = {}  # a table's count of changes, which its indexes were built at
        self._held: dict[int, float] = {}
        self._lock = threading.Lock()

    def hold(self, call: int, seconds: float) -> None:
        """Hold the answer to the `call`-th call to the Web API (counted from 1) for `seconds`."""
        with self._lock:
            self._held[call] = seconds

    def forget_changes(self) -> None:
        """Stop answering the delta links given so far, as Dataverse does once it no longer keeps their changes."""
        with self._lock:
            self.kept_since = self._sequence + 1

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def put(self, table: str, record_id: str, at: datetime, **columns: Any) -> None:
        """Create or change a record at `at`; a lookup's value is a record id, or (table, id) for a customer."""
        with self._lock:
            self._sequence += 1
            record = self.records[table].setdefault(record_id, {
                f"{table}id": record_id, "createdon": _iso(at), "statecode": 0,
                **{n: False for n, t in ATTRIBUTES[table].items() if t == "Boolean"}})  # a yes/no is never empty
            record.update(columns, modifiedon=_iso(at))
            self.changed[table][record_id] = self._sequence
            self._versions[table] = self._versions.get(table, 0) + 1
            self.removed[table].pop(record_id, None)

    @property
    def lists(self) -> dict[str, dict[str, Any]]:
        """Each static list: its name, the table of its members, and its members (changing them changes the list)."""
        return {i: {"name": r["listname"], "table": LIST_TABLES[r["createdfromcode"]],
                    "members": self.members.setdefault(i, set())}
                for i, r in self.records["list"].items() if r.get("type") is False}

    def put_members(self, list_id: str, at: datetime, members: set[str]) -> None:
        """Set a list's members; Dynamics counts them on the list (`membercount`), so the list changes too."""
        self.members[list_id] = set(members)
        self.put("list", list_id, at, membercount=len(members))

    def delete(self, table: str, record_id: str) -> None:
        with self._lock:
            self._sequence += 1
            self.records[table].pop(record_id)
            self.changed[table].pop(record_id)
            self._versions[table] = self._versions.get(table, 0) + 1
            self.removed[table][record_id] = self._sequence

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        if method == "POST" and path == f"/{self.tenant_id}/oauth2/v2.0/token":
            return self._token(parse_qs(body.decode()))
        injected = self.take(body)
        if injected is not None:
            return _error(injected, "0x80072322", "Number of requests exceeded the limit of 6000 over time window of "
                          "300 seconds." if injected == 429 else "Internal server error",
                          {"Retry-After": "0"} if injected == 429 else {})
        token = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            known = token in self.tokens
        if not known:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b""
        with self._lock:
            self.calls.append((method, path))
            late = self._held.pop(len(self.calls), 0.0)
        time.sleep(late + self.call_seconds)
        route = path.removeprefix("/api/data/v9.2/")
        if method == "GET" and route == "WhoAmI":
            return _json({"@odata.context": f"{self.endpoint}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM."
                          "WhoAmIResponse", "BusinessUnitId": str(uuid.uuid4()),
                          "UserId": "3c2d1e0f-aaaa-4bbb-8ccc-ddddeeeeffff", "OrganizationId": self.organization_id})
        if method == "GET" and route.startswith("EntityDefinitions(LogicalName='") and route.endswith("')/Attributes"):
            table = route[len("EntityDefinitions(LogicalName='"):-len("')/Attributes")]
            if table not in ATTRIBUTES or table in self.lacking:
                return _error(404, "0x80040217", f"Could not find an entity with name '{table}'")
            return _json({"value": [{"LogicalName": n, "AttributeType": t, "AttributeTypeName": {"Value": f"{t}Type"},
                                     "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{table}.{n}"))}
                                    for n, t in ATTRIBUTES[table].items()]})
        if route.split("(")[0] in SETS and SETS[route.split("(")[0]] in self.lacking:
            return _error(404, "0x8006088a", f"Resource not found for the segment '{route.split('(')[0]}'.")
        tracking = "odata.track-changes" in headers.get("prefer", "")
        if method == "GET" and route in SETS and "$filter" in query and tracking:
            return _error(400, "0x80060888", "The query parameter $filter is not supported with change tracking.")
        if method == "GET" and route in SETS and route != "lists" and "$filter" in query:
            return self._active(SETS[route], query["$filter"][0], headers.get("prefer", ""))
        if method == "GET" and route in SETS and "$filter" not in query:
            return self._read(SETS[route], route, query, headers.get("prefer", ""))
        if route == "lists" or route.startswith("lists(") or route == "AddListMembersList":
            return self._list_call(method, route, query, json.loads(body or b"null"), headers.get("prefer", ""))
        return _error(404, "0x8006088a", f"Resource not found for the segment '{route}'.")

    def _token(self, form: dict[str, list[str]]) -> Answer:
        said = {k: v[0] for k, v in form.items()}
        if said.get("client_id") != self.client_id or said.get("client_secret") != self.secret:
            return 401, {"Content-Type": "application/json"}, json.dumps({
                "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. "
                "Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                "error_codes": [7000215]}).encode()
        if said.get("grant_type") != "client_credentials" or said.get("scope") != f"{self.endpoint}/.default":
            return 400, {"Content-Type": "application/json"}, json.dumps({
                "error": "invalid_scope", "error_description": "AADSTS1002012: The provided value for scope is not "
                "valid."}).encode()
        token = uuid.uuid4().hex
        with self._lock:
            self.tokens.add(token)
        return _json({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    def _read(self, table: str, entity_set: str, query: dict[str, list[str]], prefer: str) -> Answer:
        """A page of the table's records; with change tracking (or a delta token) every change past the token."""
        select = [c for c in query.get("$select", [""])[0].split(",") if c]
        known = {f"_{n}_value" if t in ("Lookup", "Customer") else n for n, t in ATTRIBUTES[table].items()}
        if bad := [c for c in select if c not in known]:
            return _error(400, "0x80060888", f"Could not find a property named '{bad[0]}' on type "
                          f"'Microsoft.Dynamics.CRM.{table}'.")
        tracking = "odata.track-changes" in prefer or "$deltatoken" in query
        if tracking and table in self.untracked:
            return _error(400, "0x80044152", f"Entity '{table}' is not enabled for change tracking.")
        size = min(5000, int(_preference(prefer, "odata.maxpagesize") or 5000))
        annotated = "odata.include-annotations" in prefer
        since = int(query.get("$deltatoken", ["0"])[0])
        if 0 < since < self.kept_since:
            return _error(400, "0x80044352", "The delta token is no longer valid: the changes it reads from are not "
                          "kept any more.")
        offset, until = (int(p) for p in query.get("$skiptoken", [f"0.{self._sequence}"])[0].split("."))
        with self._lock:
            until = until if "$skiptoken" in query else self._sequence
            entries: list[tuple[str, dict[str, Any] | None]] = sorted(
                [(i, r) for i, r in self.records[table].items() if self.changed[table][i] > since]
                + [(i, None) for i, s in self.removed[table].items() if s > since and since > 0], key=lambda e: e[0])
            page = entries[offset:offset + size]
            shown = [self._shown(table, i, r, select, annotated) for i, r in page]
        base = f"{self.endpoint}/api/data/v9.2/{entity_set}?$select={quote(','.join(select), safe=',')}"
        out: dict[str, Any] = {"@odata.context": f"{self.endpoint}/api/data/v9.2/$metadata#{entity_set}"
                                                 f"({','.join(select)})" + ("/$delta" if tracking else ""),
                               "value": shown}
        if offset + size < len(entries):
            token = f"&$deltatoken={since}" if since else ""
            out["@odata.nextLink"] = f"{base}{token}&$skiptoken={offset + size}.{until}"
        elif tracking:
            out["@odata.deltaLink"] = f"{base}&$deltatoken={until}"
        return _json(out, {"Preference-Applied": prefer})

    def _active(self, table: str, where: str, prefer: str) -> Answer:
        """Active records whose column holds one of the values (compared ignoring case, as SQL Server does)."""
        matched = IN_FILTER.match(where)
        if not matched:
            return _error(400, "0x80060888", f"The query's filter is not one this stand-in knows: {where[:80]}")
        column = matched.group(1)
        values = {v.replace("''", "'").lower() for v in re.findall(r"'((?:[^']|'')*)'", matched.group(2))}
        size = min(5000, int(_preference(prefer, "odata.maxpagesize") or 5000))
        with self._lock:
            index = self._indexed(table, column)
            records = self.records[table]
            found = [{f"{table}id": i, column: records[i].get(column)} for v in sorted(values)
                     for i in index.get(v, []) if records[i].get("statecode") == 0]
        return _json({"value": found[:size]})

    def _indexed(self, table: str, column: str) -> dict[str, list[str]]:
        """The table's record ids by a column's lower-cased value, as a database's index on it (kept until the
        records change)."""
        held = self._index.get((table, column))
        if held is None or held[0] != self._versions.get(table, 0):
            index: dict[str, list[str]] = {}
            for i, r in self.records[table].items():
                index.setdefault(str(r.get(column) or "").lower(), []).append(i)
            held = self._index[(table, column)] = (self._versions.get(table, 0), index)
        return held[1]

    def _list_call(self, method: str, route: str, query: dict[str, list[str]], body: Any, prefer: str) -> Answer:
        if method == "GET" and route == "lists":
            matched = LIST_FILTER.match(query.get("$filter", [""])[0])
            if not matched:
                return _error(400, "0x80060888", "The query's filter is not one this stand-in knows")
            codes = {int(c) for c in re.findall(r"\d+", matched.group(2))}
            name = matched.group(1).replace("''", "'") if matched.group(1) is not None else None
            with self._lock:
                return _json({"value": [{"listid": i, "createdfromcode": r["createdfromcode"]}
                                        for i, r in self.records["list"].items() if r.get("type") is False
                                        and r["createdfromcode"] in codes and name in (None, r["listname"])]})
        if method == "POST" and route == "lists":
            if not body.get("listname") or body.get("createdfromcode") not in LIST_TABLES or body.get("type"):
                return _error(400, "0x80040203", "A static list needs listname and createdfromcode")
            list_id = str(uuid.uuid4())
            self.put("list", list_id, datetime.now(timezone.utc), listname=body["listname"], type=False,
                     createdfromcode=body["createdfromcode"])
            return 204, {"OData-EntityId": f"{self.endpoint}/api/data/v9.2/lists({list_id})"}, b""
        if method == "POST" and route == "AddListMembersList":
            list_id = str((body.get("List") or {}).get("listid"))
            with self._lock:
                held = self.lists.get(list_id)
                if held is None:
                    return _error(404, "0x80040217", f"list With Id = {list_id} Does Not Exist")
                table = held["table"]
                ids = [str(m.get(f"{table}id")) for m in body.get("Members") or []]
                absent = [i for i in ids if i not in self.records[table] or i in self.vanished]
                if absent:
                    return _error(404, "0x80040217", f"{table} With Id = {absent[0]} Does Not Exist")
                for record in ids:
                    self.added[(list_id, record)] = self.added.get((list_id, record), 0) + 1
                members = held["members"] | set(ids)
            self.put_members(list_id, datetime.now(timezone.utc), members)
            return 204, {}, b""
        matched = re.fullmatch(r"lists\(([0-9a-f-]{36})\)/(.+)", route)
        held = self.lists.get(matched.group(1)) if matched else None
        if held is None or matched is None:
            return _error(404, "0x80040217", f"list With Id = {route[6:42]} Does Not Exist")
        if method == "POST" and matched.group(2) == "Microsoft.Dynamics.CRM.RemoveMemberList":
            left = held["members"] - {str(body.get("EntityId"))}
            self.put_members(matched.group(1), datetime.now(timezone.utc), left)
            return 204, {}, b""
        relation = {"account": "listaccount_association", "contact": "listcontact_association",
                    "lead": "listlead_association"}[held["table"]]
        if method == "GET" and matched.group(2) == relation:
            size = min(5000, int(_preference(prefer, "odata.maxpagesize") or 5000))
            offset = int(query.get("$skiptoken", ["0"])[0])
            with self._lock:
                members = sorted(held["members"])
            out: dict[str, Any] = {"value": [{f"{held['table']}id": i} for i in members[offset:offset + size]]}
            if offset + size < len(members):
                out["@odata.nextLink"] = (f"{self.endpoint}/api/data/v9.2/{route}?$select={held['table']}id"
                                          f"&$skiptoken={offset + size}")
            return _json(out)
        return _error(404, "0x8006088a", f"Resource not found for the segment '{route}'.")

    def _shown(self, table: str, record_id: str, record: dict[str, Any] | None, select: list[str],
               annotated: bool) -> dict[str, Any]:
        if record is None:
            return {"@odata.context": f"{self.endpoint}/api/data/v9.2/$metadata#{table}s/$deletedEntity",
                    "id": record_id, "reason": "deleted"}
        shown: dict[str, Any] = {"@odata.etag": f'W/"{self.changed[table][record_id]}"'}
        for column in select:
            lookup = column[1:-6] if column.startswith("_") and column.endswith("_value") else None
            value = record.get(lookup or column)
            target = None
            if lookup and isinstance(value, tuple):
                target, value = value
            elif lookup and value is not None:
                target = LOOKUP_TABLE[lookup]
            shown[column] = value
            if not annotated or value is None:
                continue
            if target:
                shown[f"{column}@Microsoft.Dynamics.CRM.lookuplogicalname"] = target
                shown[f"{column}{FORMATTED}"] = f"{target} {value[:8]}"
            elif (table, column) in LABELS:
                shown[f"{column}{FORMATTED}"] = LABELS[(table, column)].get(int(value), str(value))
            elif ATTRIBUTES[table].get(column) == "Money":
                shown[f"{column}{FORMATTED}"] = f"${float(value):,.2f}"
            elif ATTRIBUTES[table].get(column) == "Boolean":
                shown[f"{column}{FORMATTED}"] = "Do Not Allow" if value else "Allow"
        return shown


def _preference(prefer: str, name: str) -> str | None:
    for part in prefer.split(","):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(body: Any, headers: dict[str, str] | None = None) -> Answer:
    return 200, {"Content-Type": "application/json; odata.metadata=minimal", "OData-Version": "4.0",
                 **(headers or {})}, json.dumps(body).encode()


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(
        {"error": {"code": code, "message": message}}).encode()

