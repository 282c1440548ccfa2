"""A local Salesforce org on 127.0.0.1: OAuth token, describe, SOQL query/queryAll with nextRecordsUrl paging,
Bulk API 2.0 query jobs with Sforce-Locator paging, records created one at a time or through sObject
Collections (each meeting the rules of `data`), the org's daily API allowance (`/limits`, Sforce-Limit-Info), and
Salesforce's error bodies.

It understands the SOQL Accord sends: `SELECT fields FROM Object [WHERE condition AND ...] [ORDER BY field]`, a
condition being `Field > | >= | = value` or `Field IN ('a', 'b')`, values quoted text, true/false or date-times.
Records come from the CSV files `accord generate` writes under `salesforce/`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from accord.connectors.salesforce.data import KEY_PREFIX, RecordError, SalesforceData
from accord.model.times import parse_instant
from accord.testing.http import Answer, LocalServer

SOQL = re.compile(
    r"^SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+ASC)?)?$", re.IGNORECASE | re.DOTALL)
COLLECTION_LIMIT = 200  # records per sObject Collections call
TEXT = r"'(?:[^'\\]|\\.)*'"
CONDITION = re.compile(
    rf"\s*(?P<field>\w+)\s*(?P<op>>=|>|=|IN\b)\s*(?P<value>{TEXT}|\((?:\s*{TEXT}\s*,?)*\)|[^\s()']+)\s*(?:AND\b|$)",
    re.IGNORECASE)


class SalesforceError(Exception):
    """An answer of Salesforce's error form, `[{"message", "errorCode"}]`, with its HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class QueryJob:
    job_id: str
    soql: str
    operation: str
    created: float
    state: str = "UploadComplete"
    rows: list[dict[str, str | None]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


class SalesforceServer(LocalServer):
    """One org. `api_version` is the only version served; tokens live `token_seconds`; past `api_limit` data
    calls a day every call is refused with REQUEST_LIMIT_EXCEEDED."""

    def __init__(self, data: SalesforceData, *, client_id: str = "accord-connected-app",
                 client_secret: str = "accord-sf-secret", refresh_token: str = "accord-refresh",
                 api_version: str = "62.0", page_size: int = 2000, bulk_seconds: float = 0.02,
                 token_seconds: float = 7200, api_limit: int = 15000) -> None:
        super().__init__()
        self.api_limit, self.api_used = api_limit, 0
        self.held_late = 0
        self.bare_empty_results = False  # a result set without records is an empty body, without a header row
        self.stuck_paging = False  # a page after the first names itself as the next (nextRecordsUrl, Sforce-Locator)
        self._slow, self._late = 0, 0.0
        self.data = data
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.api_version, self.page_size, self.bulk_seconds, self.token_seconds = (
            api_version, page_size, bulk_seconds, token_seconds)
        self.calls: list[tuple[str, str]] = []
        self.errors_sent: dict[str, int] = {}
        self.jwt_assertions: list[str] = []
        self._tokens: dict[str, float] = {}
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._jobs: dict[str, QueryJob] = {}
        self._inject: list[tuple[int, str, str]] = []
        self._lock = threading.RLock()
        self.on_call: Callable[[str, str], None] | None = None

    # Test controls ----------------------------------------------------------------------------------------
    def fail_next(self, code: str, times: int = 1) -> None:
        """Answer the next data calls with REQUEST_LIMIT_EXCEEDED (403), QUERY_TIMEOUT (400) or a 503."""
        status = {"REQUEST_LIMIT_EXCEEDED": 403, "QUERY_TIMEOUT": 400, "SERVER_UNAVAILABLE": 503}[code]
        message = {"REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
                   "QUERY_TIMEOUT": "Your query request was running for too long.",
                   "SERVER_UNAVAILABLE": "Service unavailable"}[code]
        with self._lock:
            self._inject.extend([(status, code, message)] * times)

    def answer_late(self, times: int = 1, seconds: float = 0.6) -> None:
        """Hold the next `times` data answers for `seconds` (past a client's timeout)."""
        with self._lock:
            self._slow, self._late = times, seconds

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = {t: 0.0 for t in self._tokens}

    def count(self, part: str, method: str | None = None) -> int:
        return sum(1 for m, p in self.calls if part in p and (method is None or m == method))

    # Requests ---------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        with self._lock:
            self.calls.append((method, path + ("?" + "&".join(query) if query else "")))
        if path == "/services/oauth2/token":
            return self._token(body)
        try:
            self._check(headers)
            status, out, payload = self._route(method, path, query, body, headers)
            if self.on_call:
                self.on_call(method, path)
            return status, {**out, **self._usage()}, payload
        except SalesforceError as err:
            with self._lock:
                self.errors_sent[err.code] = self.errors_sent.get(err.code, 0) + 1
            return err.status, {"Content-Type": "application/json", **self._usage()}, json.dumps(
                [{"message": err.message, "errorCode": err.code}]).encode()

    def _usage(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_limit}"}

    def _token(self, body: bytes) -> Answer:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type")
        ok = False
        if grant == "client_credentials":
            ok = (form.get("client_id"), form.get("client_secret")) == (self.client_id, self.client_secret)
        elif grant == "refresh_token":
            ok = form.get("client_id") == self.client_id and form.get("refresh_token") == self.refresh_token
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            ok = _jwt_issuer(form.get("assertion", "")) == self.client_id
            self.jwt_assertions.append(form.get("assertion", ""))
        if not ok:
            payload = {"error": "invalid_grant", "error_description": "authentication failure"}
            return 400, {"Content-Type": "application/json"}, json.dumps(payload).encode()
        token = "00D5e0000012345!" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.time() + self.token_seconds
        payload = {"access_token": token, "instance_url": self.endpoint, "token_type": "Bearer",
                   "id": f"{self.endpoint}/id/00D5e0000012345EAA/0055e000001AbCdAAK", "issued_at": str(int(time.time() * 1000)),
                   "signature": secrets.token_urlsafe(32)}
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _check(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            if self._tokens.get(token, 0.0) <= time.time():
                raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self.api_used += 1
            late, self._slow = (self._late if self._slow else 0.0), max(self._slow - 1, 0)
            self.held_late += late > 0
            if self.api_used > self.api_limit:
                raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            if self._inject:
                raise SalesforceError(*self._inject.pop(0))
        time.sleep(late)

    def _route(self, method: str, path: str, q: dict[str, list[str]], body: bytes, headers: dict[str, str]) -> Answer:
        if path in ("/services/data", "/services/data/"):
            return _json([{"version": self.api_version, "label": "Winter '25",
                           "url": f"/services/data/v{self.api_version}"}])
        prefix = f"/services/data/v{self.api_version}"
        if not path.startswith(prefix):
            raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: {path}")
        rest = path[len(prefix):].rstrip("/")
        if match := re.fullmatch(r"/sobjects/(\w+)/describe", rest):
            return _json(self._describe(match.group(1)))
        if rest == "/limits":
            remaining = max(self.api_limit - self.api_used, 0)
            return _json({"DailyApiRequests": {"Max": self.api_limit, "Remaining": remaining}})
        if rest in ("/query", "/queryAll") and method == "GET":
            size = _batch_size(headers.get("sforce-query-options", ""), self.page_size)
            return _json(self._first_page(q.get("q", [""])[0], rest == "/queryAll", size))
        if match := re.fullmatch(r"/query/([\w-]+)", rest):
            return _json(self._next_page(match.group(1)))
        if rest == "/jobs/query" and method == "POST":
            return _json(self._create_job(json.loads(body or b"{}")))
        if match := re.fullmatch(r"/jobs/query/(\w+)", rest):
            return _json(self._job(match.group(1), method, body))
        if match := re.fullmatch(r"/jobs/query/(\w+)/results", rest):
            return self._results(match.group(1), q)
        if match := re.fullmatch(r"/sobjects/(\w+)", rest):
            if method == "POST":
                return self._create_one(match.group(1), json.loads(body or b"{}"))
        if rest == "/composite/sobjects":
            return self._collection(method, json.loads(body) if body else {}, q)
        raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: {path}")

    def _describe(self, name: str) -> dict[str, Any]:
        if name not in self.data.records:
            raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist: sobject {name}")
        types = {"Id": "id", "SystemModstamp": "datetime", "IsDeleted": "boolean", "CreatedDate": "datetime"}
        fields = [{"name": f, "type": "boolean" if (name, f) in self.data.checkboxes else
                   types.get(f, "reference" if f.endswith("Id") else "string"),
                   "custom": f.endswith("__c"), "nillable": f not in types} for f in self.data.fields(name)]
        return {"name": name, "keyPrefix": KEY_PREFIX.get(name), "queryable": True, "replicateable": True,
                "fields": fields, "urls": {"describe": f"/services/data/v{self.api_version}/sobjects/{name}/describe"}}

    def _select(self, soql: str, include_deleted: bool) -> tuple[str, list[str], list[dict[str, Any]]]:
        match = SOQL.match(soql.strip())
        if not match:
            raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token in: {soql[:80]}")
        name, fields = match.group("object"), [f.strip() for f in match.group("fields").split(",")]
        if name not in self.data.records:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
        known = set(self.data.fields(name))
        for f in fields:
            if f not in known:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{f}' on entity '{name}'.")
        rows = [r for r in self.data.records[name] if include_deleted or r.get("IsDeleted") != "true"]
        rows = _filter(rows, (match.group("where") or "").strip())
        if match.group("order"):
            rows = sorted(rows, key=lambda r: _when(r.get(match.group("order"))))
        return name, fields, rows

    def _first_page(self, soql: str, include_deleted: bool, size: int) -> dict[str, Any]:
        name, fields, rows = self._select(soql, include_deleted)
        records = [{"attributes": {"type": name, "url": f"/services/data/v{self.api_version}/sobjects/{name}/{r['Id']}"},
                    **{f: _typed(f, r.get(f)) for f in fields}} for r in rows]
        return self._page(secrets.token_hex(8), records, 0, size)

    def _page(self, cursor: str, records: list[dict[str, Any]], start: int, size: int) -> dict[str, Any]:
        page = records[start:start + size]
        out: dict[str, Any] = {"totalSize": len(records), "done": start + size >= len(records), "records": page}
        if not out["done"]:
            with self._lock:
                self._cursors[cursor] = (records, size)
            out["nextRecordsUrl"] = f"/services/data/v{self.api_version}/query/01g{cursor}-{start + size}"
        return out

    def _next_page(self, locator: str) -> dict[str, Any]:
        match = re.fullmatch(r"01g(\w+)-(\d+)", locator)
        if not match or match.group(1) not in self._cursors:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        records, size = self._cursors[match.group(1)]
        page = self._page(match.group(1), records, int(match.group(2)), size)
        if self.stuck_paging:
            page |= {"done": False, "nextRecordsUrl": f"/services/data/v{self.api_version}/query/{locator}"}
        return page

    def _create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("operation") not in ("query", "queryAll"):
            raise SalesforceError(400, "INVALIDJOB", "operation must be query or queryAll")
        name, fields, rows = self._select(body.get("query", ""), body["operation"] == "queryAll")
        job = QueryJob("750" + secrets.token_hex(6), body["query"], body["operation"], time.time(),
                       rows=[{f: r.get(f) for f in fields} for r in rows], columns=fields)
        with self._lock:
            self._jobs[job.job_id] = job
        return self._job_view(job, name)

    def _job_view(self, job: QueryJob, name: str | None = None) -> dict[str, Any]:
        age = time.time() - job.created
        if job.state in ("UploadComplete", "InProgress"):
            job.state = "JobComplete" if age >= self.bulk_seconds else "InProgress"
        return {"id": job.job_id, "operation": job.operation, "object": name or job.soql.split()[-1],
                "state": job.state, "contentType": "CSV", "apiVersion": float(self.api_version),
                "lineEnding": "LF", "columnDelimiter": "COMMA",
                "numberRecordsProcessed": len(job.rows) if job.state == "JobComplete" else 0}

    def _job(self, job_id: str, method: str, body: bytes) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            raise SalesforceError(404, "NOT_FOUND", f"Job {job_id} not found")
        if method == "PATCH" and json.loads(body or b"{}").get("state") == "Aborted":
            job.state = "Aborted"
        return self._job_view(job)

    def _results(self, job_id: str, q: dict[str, list[str]]) -> Answer:
        job = self._jobs.get(job_id)
        if job is None:
            raise SalesforceError(404, "NOT_FOUND", f"Job {job_id} not found")
        if self._job_view(job)["state"] != "JobComplete":
            raise SalesforceError(412, "JOB_NOT_COMPLETE", "Job is not complete yet")
        start = int(q.get("locator", ["0"])[0] or 0)
        size = int(q.get("maxRecords", ["50000"])[0])
        chunk = job.rows[start:start + size]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if chunk or not self.bare_empty_results:
            writer.writerow(job.columns)
        writer.writerows([["" if r[c] is None else r[c] for c in job.columns] for r in chunk])
        locator = str(start + size) if start + size < len(job.rows) else "null"
        locator = q["locator"][0] if self.stuck_paging and q.get("locator") else locator
        return 200, {"Content-Type": "text/csv", "Sforce-Locator": locator,
                     "Sforce-NumberOfRecords": str(len(chunk))}, buffer.getvalue().encode()

    # Writes -------------------------------------------------------------------------------------------------
    def _create_one(self, name: str, values: dict[str, Any]) -> Answer:
        try:
            with self._lock:
                record_id = self.data.create(name, _values(values))
        except RecordError as err:
            raise SalesforceError(400, err.code, err.message) from None
        return 201, {"Content-Type": "application/json"}, json.dumps(
            {"id": record_id, "success": True, "errors": []}).encode()

    def _collection(self, method: str, body: dict[str, Any], query: dict[str, list[str]]) -> Answer:
        """sObject Collections: up to 200 records created, updated or deleted, each alone (allOrNone false)."""
        if method == "DELETE":
            items: list[Any] = [i for i in query.get("ids", [""])[0].split(",") if i]
        elif method in ("POST", "PATCH"):
            items = list(body.get("records") or [])
        else:
            raise SalesforceError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
        if len(items) > COLLECTION_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                                                             f"{COLLECTION_LIMIT} records into this call")
        answers = []
        with self._lock:
            for item in items:
                try:
                    done = (self.data.remove(item) if method == "DELETE" else
                            self.data.create(_type(item), _values(item)) if method == "POST" else
                            self.data.update(_type(item), item.get("id"), _values(item)))
                    answers.append({"id": done, "success": True, "errors": []})
                except RecordError as err:
                    self.data.errors.append((_type(item) if method != "DELETE" else "", err.code))
                    answers.append({"id": item if method == "DELETE" else item.get("id"), "success": False, "errors": [
                        {"statusCode": err.code, "message": err.message, "fields": list(err.fields)}]})
        return 200, {"Content-Type": "application/json"}, json.dumps(answers).encode()


def _type(item: dict[str, Any]) -> str:
    return str((item.get("attributes") or {}).get("type") or "")


def _values(item: dict[str, Any]) -> dict[str, Any]:
    """A record's fields as the org stores them (booleans as text), without `attributes` and `id`."""
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in item.items() if k not in ("attributes", "id")}


def _filter(rows: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """The rows meeting every `AND`-joined condition of a WHERE clause."""
    at = 0
    while at < len(where):
        match = CONDITION.match(where, at)
        if not match or match.end() == at:
            raise SalesforceError(400, "MALFORMED_QUERY", f"unsupported condition: {where[at:at + 80]}")
        name, meets = match.group("field"), _condition(match.group("op").upper(), match.group("value"))
        rows = [r for r in rows if meets(r.get(name))]
        at = match.end()
    return rows


def _condition(op: str, value: str) -> Callable[[str | None], bool]:
    """Whether a field's text meets `op value`; the value parsed once, not per row."""
    if op == "IN":
        among = {_unquote(v) for v in re.findall(TEXT, value)}
        return lambda held: held in among
    if value.startswith("'"):
        text = _unquote(value)
        return lambda held: op == "=" and held == text
    if value.lower() in ("true", "false"):
        return lambda held: (held or "false").lower() == value.lower()
    bound = _when(value)
    compare = {">": lambda w: w > bound, ">=": lambda w: w >= bound, "=": lambda w: w == bound}[op]
    return lambda held: bool(held) and compare(_when(held))


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.min.replace(tzinfo=timezone.utc)
    return parse_instant(text)


def _typed(name: str, value: str | None) -> Any:
    """REST returns booleans and numbers as JSON values; the CSV files hold text."""
    if value is None:
        return None
    if value in ("true", "false") and (name.startswith(("Is", "Has")) or name.endswith("__c")):
        return value == "true"
    return value


def _batch_size(options: str, cap: int) -> int:
    """Salesforce honours batchSize between 200 and 2000 as a hint; `cap` lets tests force small pages."""
    match = re.search(r"batchSize=(\d+)", options)
    return min(max(200, min(int(match.group(1)), 2000)) if match else 2000, cap)


def _jwt_issuer(assertion: str) -> str | None:
    """The `iss` of a JWT bearer assertion (the signature is the real org's business; here the issuer is checked)."""
    import base64

    try:
        payload = assertion.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("iss")
    except (IndexError, ValueError):
        return None


def _json(payload: Any) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()
