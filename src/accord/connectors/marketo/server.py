"""A local Marketo Engage REST server on 127.0.0.1: Marketo's endpoints, envelopes, paging, bulk extracts and limits.

It answers as the real API does (see ../shared/contracts/README.md §1): errors arrive with HTTP 200 and
`success: false`, tokens expire, 100 calls per 20 s and 10 concurrent calls are enforced, bulk jobs queue.
Tests, the demo and benchmarks point the Marketo client at it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from accord.connectors.marketo.data import (
    CustomObjectType,
    MarketoData,
    activity_json,
)
from accord.testing.http import Answer, LocalServer

DEFAULT_LEAD_FIELDS = ["id", "email", "firstName", "lastName", "createdAt", "updatedAt"]
TRANSIENT = {"604", "608", "611", "713"}
LEAD_WRITES = {
    ("POST", "/rest/v1/leads.json"), ("POST", "/rest/v1/leads/push.json"),
    ("POST", "/rest/v1/leads/submitForm.json"), ("POST", "/bulk/v1/leads.json"),
}


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Limits:
    """Marketo's published limits; tests shorten the bulk processing time, benchmarks keep the rest."""

    calls_per_window: int = 100
    window_seconds: float = 20.0
    max_concurrent: int = 10
    daily_quota: int = 50_000
    token_seconds: int = 3600
    bulk_processing: int = 2
    bulk_queued: int = 10
    bulk_seconds: float = 0.05
    export_daily_bytes: int = 500 * 1024 * 1024
    max_window_days: int = 31
    call_seconds: float = 0.0
    """How long each REST call takes to answer (a real instance: a few hundred milliseconds)."""
    deletions_kept_days: int = 14
    """How long `deletedleads.json` shows a deletion (Marketo may prune older ones)."""


@dataclass
class BulkJob:
    kind: str
    export_id: str
    body: dict[str, Any]
    status: str = "Created"
    created_at: str = ""
    queued_at: str | None = None
    started_at: float | None = None
    finished_at: str | None = None
    path: Path | None = None
    records: int = 0
    size: int = 0
    checksum: str | None = None
    error: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"exportId": self.export_id, "format": self.body.get("format", "CSV"),
                               "status": self.status, "createdAt": self.created_at}
        if self.queued_at:
            out["queuedAt"] = self.queued_at
        if self.started_at:
            out["startedAt"] = _iso_now(self.started_at)
        if self.status == "Completed":
            out |= {"finishedAt": self.finished_at, "numberOfRecords": self.records, "fileSize": self.size,
                    "fileChecksum": self.checksum}
        if self.error:
            out["errorMsg"] = self.error
        return out


def _iso_now(at: float | None = None) -> str:
    return datetime.fromtimestamp(at if at is not None else time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token(kind: str, position: int) -> str:
    return base64.b32encode(f"{kind}:{position}".encode()).decode()


def _position(token: str, kind: str) -> int:
    try:
        got_kind, pos = base64.b32decode(token.encode()).decode().split(":")
        if got_kind != kind:
            raise ValueError
        return int(pos)
    except ValueError:
        raise ApiError("1003", f"Invalid value for nextPageToken: {token}") from None


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        raise ApiError("1003", f"Invalid date-time: {text}") from None


class MarketoServer(LocalServer):
    """One Marketo instance on 127.0.0.1; start with `with MarketoServer(data) as server:` and use `server.endpoint`."""

    def __init__(self, data: MarketoData, *, munchkin_id: str = "123-ABC-456", client_id: str = "accord-client",
                 client_secret: str = "accord-secret", limits: Limits | None = None) -> None:
        super().__init__()
        self.data = data
        self.munchkin_id = munchkin_id
        self.client_id, self.client_secret = client_id, client_secret
        self.limits = limits or Limits()
        self.calls: list[tuple[str, str]] = []
        self.call_times: list[float] = []
        self.lead_writes: list[tuple[str, str]] = []
        self.errors_sent: dict[str, int] = {}
        self._tokens: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self._in_flight = 0
        self._daily = 0
        self._inject: list[tuple[str, Callable[[str], bool]]] = []
        self._jobs: dict[str, BulkJob] = {}
        self._exported_bytes = 0
        self._lock = threading.RLock()
        self._workdir = tempfile.TemporaryDirectory(prefix="marketo-server-")
        self.corrupt_lead_ids: set[int] = set()
        self.bare_empty_exports = False  # an export that matched nothing is 0 bytes, without a header row
        self.stuck_paging = False  # activity pages answer moreResult true with the token they were sent
        self.unmatchable: set[int] = set()  # leads a list add answers as not found (deleted since the lookup)
        self.list_adds: dict[tuple[int, int], int] = {}
        self.on_call: Callable[[str, str], None] | None = None

    def connection(self, client_secret: str) -> dict[str, str]:
        """The settings a source or destination in accord.yaml reaches this instance with, the secret given by
        reference (`env:…`, `file:…`)."""
        return {"munchkin_id": self.munchkin_id, "endpoint": self.endpoint, "client_id": self.client_id,
                "client_secret": client_secret}

    # Test controls ----------------------------------------------------------------------------------------
    def fail_next(self, code: str, times: int = 1, path_contains: str = "") -> None:
        """Answer the next `times` REST calls whose path contains `path_contains` with error `code`."""
        with self._lock:
            self._inject.extend((code, lambda p, s=path_contains: s in p) for _ in range(times))

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = {t: 0.0 for t in self._tokens}

    def count(self, path_part: str, method: str | None = None) -> int:
        return sum(1 for m, p in self.calls if path_part in p and (method is None or m == method))

    # Request handling -------------------------------------------------------------------------------------
    def stop(self) -> None:
        super().stop()
        self._workdir.cleanup()

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        if path.startswith("/identity/oauth/token"):
            return self._token_call(query, body)
        if method == "POST" and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode())
            if "GET" in form.get("_method", []) + query.get("_method", []):
                method = "GET"
            body = b""
            query = {k: v for k, v in {**query, **form}.items() if k != "_method"}
        with self._lock:
            self.calls.append((method, path))
            self.call_times.append(time.monotonic())
            if (method, path) in LEAD_WRITES:
                self.lead_writes.append((method, path))
        try:
            self._admit(headers, path)
            time.sleep(self.limits.call_seconds)  # in flight meanwhile: it counts against the concurrency limit
            if path.endswith("/file.json") and path.startswith("/bulk/"):
                return self._bulk_file(path, headers)
            result = self._route(method, path, query, json.loads(body) if body else {})
            if self.on_call:
                self.on_call(method, path)
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"requestId": secrets.token_hex(4), "success": True} | result).encode()
        except ApiError as err:
            return self._envelope_error(err)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _envelope_error(self, err: ApiError) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.errors_sent[err.code] = self.errors_sent.get(err.code, 0) + 1
        payload = {"requestId": secrets.token_hex(4), "success": False,
                   "errors": [{"code": err.code, "message": err.message}]}
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _token_call(self, query: dict[str, list[str]], body: bytes) -> tuple[int, dict[str, str], bytes]:
        params = {**query, **parse_qs(body.decode())}
        given = (params.get("client_id", [""])[0], params.get("client_secret", [""])[0])
        if params.get("grant_type") != ["client_credentials"] or given != (self.client_id, self.client_secret):
            payload = {"error": "unauthorized", "error_description": "Bad client credentials"}
            return 401, {"Content-Type": "application/json"}, json.dumps(payload).encode()
        with self._lock:
            now = time.time()
            live = [(t, exp) for t, exp in self._tokens.items() if exp > now]
            if live:
                token, expires = live[0]
            else:
                token, expires = secrets.token_hex(16) + ":ab", now + self.limits.token_seconds
                self._tokens[token] = expires
        payload = {"access_token": token, "token_type": "bearer", "expires_in": int(expires - now),
                   "scope": "accord-api@example.com"}
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _admit(self, headers: dict[str, str], path: str) -> None:
        """Auth, then the limits; a refused call does not count against the rate window (as Marketo counts it)."""
        with self._lock:
            self._in_flight += 1
            auth = headers.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            if token not in self._tokens:
                raise ApiError("601", "Access token invalid")
            if self._tokens[token] <= time.time():
                raise ApiError("602", "Access token expired")
            for i, (code, matches) in enumerate(self._inject):
                if matches(path):
                    del self._inject[i]
                    raise ApiError(code, {"606": "Max rate limit '100' exceeded with in '20' secs",
                                          "615": "Concurrent access limit reached",
                                          "1029": "Too many jobs in queue"}.get(code, "Temporary error"))
            if self._in_flight > self.limits.max_concurrent:
                raise ApiError("615", "Concurrent access limit reached")
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - self.limits.window_seconds:
                self._recent.popleft()
            if len(self._recent) >= self.limits.calls_per_window:
                raise ApiError("606", f"Max rate limit '{self.limits.calls_per_window}' exceeded with in "
                                      f"'{self.limits.window_seconds:g}' secs")
            if self._daily >= self.limits.daily_quota:
                raise ApiError("607", "Daily quota reached")
            self._recent.append(now)
            self._daily += 1

    def _route(self, method: str, path: str, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        for pattern, verb, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return handler(q, body, *match.groups())
        if (method, path) in LEAD_WRITES:
            raise ApiError("1003", "This test server refuses lead writes; Accord must never create leads")
        raise ApiError("404", f"No route for {method} {path}")

    def _routes(self) -> list[tuple[str, str, Callable[..., dict[str, Any]]]]:
        bulk = r"/bulk/v1/(leads|activities|program/members)/export"
        return [
            (r"/rest/v1/leads/describe\.json", "GET", self._describe),
            (r"/rest/v1/leads\.json", "GET", self._leads),
            (r"/rest/v1/activities/types\.json", "GET", self._activity_types),
            (r"/rest/v1/activities/pagingtoken\.json", "GET", self._paging_token),
            (r"/rest/v1/activities\.json", "GET", self._activities),
            (r"/rest/v1/activities/leadchanges\.json", "GET", self._lead_changes),
            (r"/rest/v1/activities/deletedleads\.json", "GET", self._deleted_leads),
            (r"/rest/asset/v1/programs\.json", "GET", self._programs),
            (r"/rest/v1/companies\.json", "GET", self._objects("companies", {"externalCompanyId", "id", "company"})),
            (r"/rest/v1/opportunities\.json", "GET",
             self._objects("opportunities", {"externalOpportunityId", "marketoGUID"})),
            (r"/rest/v1/opportunities/roles\.json", "GET",
             self._objects("opportunity_roles", {"marketoGUID", "leadId", "externalOpportunityId"})),
            (r"/rest/v1/namedaccounts\.json", "GET", self._objects("named_accounts", {"name", "marketoGUID"})),
            (r"/rest/v1/customobjects/(\w+)/describe\.json", "GET", self._custom_object_describe),
            (r"/rest/v1/customobjects/(\w+)\.json", "GET", self._custom_object_records),
            (r"/rest/v1/lists\.json", "GET", self._lists),
            (r"/rest/v1/lists?/(\d+)/leads\.json", "GET", self._list_leads),
            (r"/rest/v1/lists/(\d+)/leads\.json", "POST", self._list_add),
            (r"/rest/v1/lists/(\d+)/leads\.json", "DELETE", self._list_remove),
            (r"/rest/v1/lists/(\d+)/leads/ismember\.json", "GET", self._list_is_member),
            (r"/rest/asset/v1/staticList/byName\.json", "GET", self._static_list_by_name),
            (r"/rest/asset/v1/staticLists\.json", "POST", self._static_list_create),
            (bulk + r"/create\.json", "POST", self._bulk_create),
            (bulk + r"/(\w[\w-]*)/enqueue\.json", "POST", self._bulk_enqueue),
            (bulk + r"/(\w[\w-]*)/status\.json", "GET", self._bulk_status),
            (bulk + r"/(\w[\w-]*)/cancel\.json", "POST", self._bulk_cancel),
            (bulk + r"\.json", "GET", self._bulk_list),
        ]

    # Lead database --------------------------------------------------------------------------------------------
    def _describe(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        fields = [{"id": i + 1, "displayName": name, "dataType": "integer" if name == "id" else "string",
                   "rest": {"name": name, "readOnly": name in ("id", "createdAt", "updatedAt")}}
                  for i, name in enumerate(self.data.leads.column_names)]
        return {"result": fields}

    def _leads(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        filter_type = _one(q, "filterType")
        values = _many(q, "filterValues")
        if not filter_type or not values:
            raise ApiError("1003", "filterType and filterValues are required")
        if len(values) > 300:
            raise ApiError("1003", "At most 300 filterValues")
        fields = _many(q, "fields") or DEFAULT_LEAD_FIELDS
        data = self.data
        if filter_type == "id":
            positions = [data.lead_position[int(v)] for v in values if v.isdigit() and int(v) in data.lead_position]
        elif filter_type in data.leads.column_names:
            column = data.leads[filter_type]
            wanted = set(v.lower() for v in values) if filter_type == "email" else set(values)
            texts = column.to_pylist()
            positions = [i for i, v in enumerate(texts)
                         if v is not None and (v.lower() if filter_type == "email" else v) in wanted]
        else:
            raise ApiError("1003", f"Invalid filterType '{filter_type}'")
        return {"result": [data.lead_json(p, fields) for p in positions]}

    def _list_leads(self, q: dict[str, list[str]], body: dict[str, Any], list_id: str) -> dict[str, Any]:
        if int(list_id) not in {int(x["id"]) for x in self.data.lists}:
            raise ApiError("1013", f"Static list {list_id} not found")
        members = self.data.list_members.get(int(list_id), [])
        start = _position(q["nextPageToken"][0], f"list{list_id}") if "nextPageToken" in q else 0
        size = _batch(q)
        fields = _many(q, "fields") or DEFAULT_LEAD_FIELDS
        page = [m for m in members[start:start + size] if m in self.data.lead_position]
        out: dict[str, Any] = {"result": [self.data.lead_json(self.data.lead_position[m], fields) for m in page]}
        if start + size < len(members):
            out["nextPageToken"] = _token(f"list{list_id}", start + size)
        return out

    def _member_ids(self, q: dict[str, list[str]], body: dict[str, Any], list_id: str) -> tuple[list[int], list[int]]:
        if int(list_id) not in {int(x["id"]) for x in self.data.lists}:
            raise ApiError("1013", f"Static list {list_id} not found")
        ids = [int(v) for v in _many(q, "id")] or [int(x["id"]) for x in body.get("input", [])]
        if not ids:
            raise ApiError("1003", "id is required")
        if len(ids) > 300:
            raise ApiError("1003", "At most 300 lead ids a call")
        return ids, self.data.list_members.setdefault(int(list_id), [])

    def _list_add(self, q: dict[str, list[str]], body: dict[str, Any], list_id: str) -> dict[str, Any]:
        with self._lock:
            ids, members = self._member_ids(q, body, list_id)
            result = []
            for lead in ids:
                if lead not in self.data.lead_position or lead in self.unmatchable:
                    result.append({"id": lead, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]})
                    continue
                self.list_adds[(int(list_id), lead)] = self.list_adds.get((int(list_id), lead), 0) + 1
                if lead not in members:
                    members.append(lead)
                result.append({"id": lead, "status": "added"})
            return {"result": result}

    def _list_remove(self, q: dict[str, list[str]], body: dict[str, Any], list_id: str) -> dict[str, Any]:
        with self._lock:
            ids, members = self._member_ids(q, body, list_id)
            result = []
            for lead in ids:
                if lead in members:
                    members.remove(lead)
                    result.append({"id": lead, "status": "removed"})
                else:
                    result.append({"id": lead, "status": "skipped",
                                   "reasons": [{"code": "1015", "message": "Lead not in list"}]})
            return {"result": result}

    def _list_is_member(self, q: dict[str, list[str]], body: dict[str, Any], list_id: str) -> dict[str, Any]:
        ids, members = self._member_ids(q, body, list_id)
        return {"result": [{"id": lead, "status": "memberof" if lead in members else "notmemberof"} for lead in ids]}

    def _static_list_by_name(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        found = [x for x in self.data.lists if x["name"] == _one(q, "name")]
        if not found:
            return {"warnings": ["No assets found for the given search criteria."]}
        return {"result": [{**found[0], "id": int(found[0]["id"])}]}

    def _static_list_create(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        name = _one(q, "name") or body.get("name")
        if not name or not (_one(q, "folder") or body.get("folder")):
            raise ApiError("709", "name and folder are required")
        with self._lock:
            if any(x["name"] == name for x in self.data.lists):
                raise ApiError("709", f"Static list '{name}' already exists")
            new = {"id": str(max([int(x["id"]) for x in self.data.lists] + [1000]) + 1), "name": name,
                   "description": _one(q, "description"), "createdAt": _iso_now(), "updatedAt": _iso_now()}
            self.data.lists.append(new)
            return {"result": [{**new, "id": int(new["id"])}]}

    def _lists(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        start = _position(q["nextPageToken"][0], "lists") if "nextPageToken" in q else 0
        size = _batch(q)
        rows = [{**x, "id": int(x["id"])} for x in self.data.lists[start:start + size]]
        out: dict[str, Any] = {"result": rows}
        if start + size < len(self.data.lists):
            out["nextPageToken"] = _token("lists", start + size)
        return out

    def _objects(self, kind: str, searchable: set[str]) -> Callable[..., dict[str, Any]]:
        """A Lead Database object list searched by one of its searchable fields."""
        return lambda q, body: _search(q, getattr(self.data, kind), searchable, kind)

    def _custom_object_describe(self, q: dict[str, list[str]], body: dict[str, Any], name: str) -> dict[str, Any]:
        return {"result": [self._custom_object(name).describe()]}

    def _custom_object_records(self, q: dict[str, list[str]], body: dict[str, Any], name: str) -> dict[str, Any]:
        kind = self._custom_object(name)
        by_address = frozenset({kind.link} if kind.links_to.lower() == "email" else ())
        return _search(q, kind.records, {"marketoGUID", kind.link}, f"customobjects.{name}", by_address)

    def _custom_object(self, name: str) -> CustomObjectType:
        if name not in self.data.custom_objects:
            raise ApiError("1013", f"Object not found: custom object {name}")
        return self.data.custom_objects[name]

    # Activities -----------------------------------------------------------------------------------------------
    def _activity_types(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        return {"result": [
            {"id": i, "name": name, "apiName": name[0].lower() + name.title().replace(" ", "")[1:],
             "primaryAttribute": {"name": primary, "dataType": "string"}, "attributes": []}
            for i, (name, primary) in self.data.type_catalog.items()
        ]}

    def _paging_token(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        since = _one(q, "sinceDatetime")
        if not since:
            raise ApiError("1003", "sinceDatetime is required")
        position = int(np.searchsorted(self.data.activity_dates, _parse_time(since).strftime("%Y-%m-%dT%H:%M:%SZ")))
        return {"nextPageToken": _token("act", position)}

    def _scan(self, q: dict[str, list[str]], types: set[int]) -> tuple[list[int], int]:
        token = _one(q, "nextPageToken")
        if not token:
            raise ApiError("1003", "nextPageToken is required")
        start, size = _position(token, "act"), _batch(q)
        # Like Marketo, one call looks at a bounded slice: a page may be short while moreResult is true.
        window = slice(start, start + 20 * size)
        hits = np.flatnonzero(np.isin(self.data.activity_types[window], list(types)))[:size] + start
        end = int(hits[-1]) + 1 if len(hits) == size else min(start + 20 * size, len(self.data.activity_dates))
        lead_ids = {int(v) for v in _many(q, "leadIds")}
        rows = [int(h) for h in hits]
        if lead_ids:
            rows = [h for h in rows if int(self.data.activities["leadId"][h].as_py()) in lead_ids]
        return rows, end

    def _page(self, rows: list[int], end: int, with_fields: list[str] | None = None) -> dict[str, Any]:
        table = self.data.activities.take(rows).to_pylist() if rows else []
        result = [activity_json(r, with_fields) for r in table]
        if with_fields:
            result = [r for r in result if r["fields"][0]["name"] in with_fields]
        more = end < len(self.data.activity_dates)
        return {"result": result, "nextPageToken": _token("act", end), "moreResult": more}

    def _activities(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        types = {int(t) for t in _many(q, "activityTypeIds")}
        if not types:
            raise ApiError("1003", "activityTypeIds is required")
        if len(types) > 10:
            raise ApiError("1003", "At most 10 activityTypeIds")
        page = self._page(*self._scan(q, types))
        if self.stuck_paging:
            page |= {"nextPageToken": _one(q, "nextPageToken"), "moreResult": True}
        return page

    def _lead_changes(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        fields = _many(q, "fields")
        if not fields:
            raise ApiError("1003", "fields is required")
        rows, end = self._scan(q, {13})
        return self._page(rows, end, fields)

    def _deleted_leads(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        rows, end = self._scan(q, {37})
        # Marketo prunes deletions older than 14 days: the activity log no longer shows them.
        kept = _iso_now(time.time() - self.limits.deletions_kept_days * 86400)
        return self._page([r for r in rows if self.data.activity_dates[r] >= kept], end)

    # Asset API ------------------------------------------------------------------------------------------------
    def _programs(self, q: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        size = int(_one(q, "maxReturn") or 20)
        if size > 200:
            raise ApiError("1003", "maxReturn must be at most 200")
        offset = int(_one(q, "offset") or 0)
        earliest = _one(q, "earliestUpdatedAt")
        rows = self.data.programs
        if earliest:
            rows = [p for p in rows if _parse_time(p["updatedAt"]) >= _parse_time(earliest)]
        page = rows[offset:offset + size]
        if not page:
            return {"warnings": ["No assets found for the given search criteria."]}
        return {"result": [_asset_program(p) for p in page], "warnings": []}

    # Bulk extract ---------------------------------------------------------------------------------------------
    def _bulk_create(self, q: dict[str, list[str]], body: dict[str, Any], kind: str) -> dict[str, Any]:
        filters = body.get("filter") or {}
        if kind != "activities" and not body.get("fields"):
            raise ApiError("1003", "fields is required")
        for key in ("createdAt", "updatedAt"):
            if key in filters:
                start, end = _parse_time(filters[key]["startAt"]), _parse_time(filters[key]["endAt"])
                if end - start > timedelta(days=self.limits.max_window_days):
                    raise ApiError("1003", f"Date range for '{key}' exceeds {self.limits.max_window_days} days")
        if kind == "activities" and "createdAt" not in filters:
            raise ApiError("1003", "createdAt filter is required")
        if kind == "program/members" and not (filters.get("programId") or filters.get("programIds")):
            raise ApiError("1003", "programId or programIds filter is required")
        with self._lock:
            job = BulkJob(kind, f"{secrets.token_hex(4)}-{len(self._jobs):04d}", body, created_at=_iso_now())
            self._jobs[job.export_id] = job
        return {"result": [job.view()]}

    def _job(self, kind: str, export_id: str) -> BulkJob:
        job = self._jobs.get(export_id)
        if job is None or job.kind != kind:
            raise ApiError("1003", f"Export id {export_id} not found")
        return job

    def _bulk_enqueue(self, q: dict[str, list[str]], body: dict[str, Any], kind: str, export_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(kind, export_id)
            if job.status != "Created":
                raise ApiError("1029", f"Export Job {export_id} already queued")
            waiting = sum(1 for j in self._jobs.values() if j.status == "Queued")
            if waiting >= self.limits.bulk_queued:
                raise ApiError("1029", "Too many jobs in queue")
            if self._exported_bytes >= self.limits.export_daily_bytes:
                raise ApiError("1029", "Export daily quota exceeded")
            job.status, job.queued_at = "Queued", _iso_now()
            self._advance()
            return {"result": [job.view()]}

    def _bulk_status(self, q: dict[str, list[str]], body: dict[str, Any], kind: str, export_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return {"result": [self._job(kind, export_id).view()]}

    def _bulk_cancel(self, q: dict[str, list[str]], body: dict[str, Any], kind: str, export_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(kind, export_id)
            job.status = "Cancelled"
            self._advance()
            return {"result": [job.view()]}

    def _bulk_list(self, q: dict[str, list[str]], body: dict[str, Any], kind: str) -> dict[str, Any]:
        status = set(_many(q, "status"))
        return {"result": [j.view() for j in self._jobs.values() if j.kind == kind and (not status or j.status in status)]}

    def _advance(self) -> None:
        """Move the queue along: finish jobs whose processing time is up, start queued ones while slots are free."""
        now = time.time()
        for job in self._jobs.values():
            if job.status == "Processing" and job.started_at is not None and now - job.started_at >= self.limits.bulk_seconds:
                self._write_file(job)
                job.status, job.finished_at = "Completed", _iso_now()
        for job in self._jobs.values():
            busy = sum(1 for j in self._jobs.values() if j.status == "Processing")
            if job.status == "Queued" and busy < self.limits.bulk_processing:
                job.status, job.started_at = "Processing", now

    def _write_file(self, job: BulkJob) -> None:
        table = self._extract(job)
        columns = job.body.get("columnHeaderNames") or {}
        table = table.rename_columns([columns.get(c, c) for c in table.column_names])
        table = pa.table({c: pc.fill_null(pc.cast(table[c], pa.string()), "null") for c in table.column_names})
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(quoting_style="needed"))
        data = b"" if self.bare_empty_exports and not table.num_rows else buffer.getvalue()
        if job.kind == "leads" and self.corrupt_lead_ids:
            data = _corrupt(data, {str(i) for i in self.corrupt_lead_ids})
        job.path = Path(self._workdir.name) / f"{job.export_id}.csv"
        job.path.write_bytes(data)
        job.records, job.size = table.num_rows, len(data)
        job.checksum = "sha256:" + hashlib.sha256(data).hexdigest()
        self._exported_bytes += len(data)

    def _extract(self, job: BulkJob) -> pa.Table:
        filters = job.body.get("filter") or {}
        if job.kind == "activities":
            dates = self.data.activity_dates
            start = _parse_time(filters["createdAt"]["startAt"]).strftime("%Y-%m-%dT%H:%M:%SZ")
            end = _parse_time(filters["createdAt"]["endAt"]).strftime("%Y-%m-%dT%H:%M:%SZ")
            lo, hi = int(np.searchsorted(dates, start)), int(np.searchsorted(dates, end, side="right"))
            table = self.data.activities.slice(lo, hi - lo)
            if filters.get("activityTypeIds"):
                types = self.data.activity_types[lo:hi]
                table = table.filter(pa.array(np.isin(types, [int(t) for t in filters["activityTypeIds"]])))
            fields = job.body.get("fields")
            return table.select(fields) if fields else table
        if job.kind == "leads":
            table = self.data.leads
            for key in ("createdAt", "updatedAt"):
                if key in filters:
                    start, end = filters[key]["startAt"], filters[key]["endAt"]
                    lo = _parse_time(start).strftime("%Y-%m-%dT%H:%M:%SZ")
                    hi = _parse_time(end).strftime("%Y-%m-%dT%H:%M:%SZ")
                    table = table.filter(pc.and_(pc.greater_equal(table[key], lo), pc.less_equal(table[key], hi)))
            if "staticListId" in filters:
                members = pa.array([str(m) for m in self.data.list_members.get(int(filters["staticListId"]), [])])
                table = table.filter(pc.is_in(table["id"], members))
            return table.select([f for f in job.body["fields"] if f in table.column_names])
        members = self.data.program_members
        assert members is not None
        ids = filters.get("programIds") or [filters.get("programId")]
        table = members.filter(pc.is_in(members["programId"], pa.array([str(i) for i in ids])))
        return table.select([f for f in job.body["fields"] if f in table.column_names])

    def _bulk_file(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        match = re.fullmatch(r"/bulk/v1/(leads|activities|program/members)/export/([\w-]+)/file\.json", path)
        if not match:
            raise ApiError("404", f"No route for GET {path}")
        with self._lock:
            self._advance()
            job = self._job(*match.groups())
            if job.status != "Completed" or job.path is None:
                raise ApiError("1003", f"Export {job.export_id} is not completed (status {job.status})")
        data = job.path.read_bytes()
        status, extra = 200, {}
        if rng := re.fullmatch(r"bytes=(\d+)-(\d*)", headers.get("range", "")):
            lo = int(rng.group(1))
            hi = int(rng.group(2)) if rng.group(2) else len(data) - 1
            extra = {"Content-Range": f"bytes {lo}-{hi}/{len(data)}"}
            data, status = data[lo:hi + 1], 206
        return status, {"Content-Type": "text/csv"} | extra, data


def _corrupt(data: bytes, lead_ids: set[str]) -> bytes:
    """Truncate the chosen leads' lines to two fields: a malformed row as a broken export would hold."""
    lines = data.split(b"\n")
    out = [b",".join(line.split(b",")[:2]) if line.split(b",")[0].strip(b'"').decode() in lead_ids else line
           for line in lines]
    return b"\n".join(out)


def _search(q: dict[str, list[str]], records: list[dict[str, Any]], searchable: set[str], kind: str,
            addresses: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Records whose searchable field `filterType` holds one of `filterValues` (300 at most), paged; each with the
    fields asked for, its searchable fields and its position (`seq`). E-mail `addresses` match regardless of case,
    as Marketo's do."""
    filter_type, values = _one(q, "filterType"), _many(q, "filterValues")
    if filter_type not in searchable:
        raise ApiError("1003", f"Invalid filterType '{filter_type}' (searchable: {', '.join(sorted(searchable))})")
    if not values or len(values) > 300:
        raise ApiError("1003", "filterValues: between 1 and 300 values")
    fold = str.casefold if filter_type in addresses else str
    wanted = {fold(v) for v in values}
    rows = [r for r in records if fold(str(r.get(filter_type))) in wanted]
    start = _position(q["nextPageToken"][0], kind) if "nextPageToken" in q else 0
    size = _batch(q)
    fields = _many(q, "fields")
    page = [{k: v for k, v in r.items() if not fields or k in fields or k in searchable}
            | {"seq": start + i} for i, r in enumerate(rows[start:start + size])]
    out: dict[str, Any] = {"result": page}
    if start + size < len(rows):
        out["nextPageToken"] = _token(kind, start + size)
    return out


def _asset_program(p: dict[str, Any]) -> dict[str, Any]:
    """A program in the Asset API's shape, with its datetime style (`2017-09-25T21:51:20Z+0000`)."""
    return {"id": int(p["id"]), "name": p["name"], "description": p.get("description"), "type": p.get("type"),
            "channel": p.get("channel"), "status": p.get("status"), "workspace": "Default",
            "folder": {"type": "Folder", "value": 1, "folderName": "Marketing Activities"},
            "createdAt": f"{p['createdAt']}+0000", "updatedAt": f"{p['updatedAt']}+0000"}


def _one(q: dict[str, list[str]], name: str) -> str | None:
    values = q.get(name)
    return values[0] if values else None


def _many(q: dict[str, list[str]], name: str) -> list[str]:
    """Both `id=1&id=2` and `id=1,2`, as Marketo accepts both."""
    return [v for value in q.get(name, []) for v in value.split(",") if v]


def _batch(q: dict[str, list[str]]) -> int:
    size = int(_one(q, "batchSize") or 300)
    if not 1 <= size <= 300:
        raise ApiError("1003", "batchSize must be between 1 and 300")
    return size
