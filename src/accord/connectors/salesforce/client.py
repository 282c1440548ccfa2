"""Salesforce REST and Bulk API 2.0 client: OAuth (client credentials, refresh token, JWT bearer), SOQL paging,
bulk query jobs with locators, sObject Collections writes, the org's API usage (Sforce-Limit-Info), and
Salesforce's error codes with retries."""

from __future__ import annotations

import csv
import io
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import NotJson, gist, http_client, json_of, redirect

RETRY_CODES = {"REQUEST_LIMIT_EXCEEDED", "QUERY_TIMEOUT", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"}
Flow = Literal["client_credentials", "refresh_token", "jwt"]


class SalesforceError(ConnectorError):
    """An error answer (`[{"errorCode", "message"}]`) or a call that kept failing."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(f"Salesforce {code} on {path or 'call'}: {message}",
                         retryable=code in RETRY_CODES or code == "retries", unreachable=code == "unreachable")
        self.code, self.message, self.path = code, message, path


class SalesforceAuthError(SalesforceError):
    """The token endpoint refused the credentials."""


@dataclass
class SalesforceAuth:
    """How to get an access token; the token endpoint is configuration so tests can point at 127.0.0.1."""

    token_url: str
    client_id: str
    flow: Flow = "client_credentials"
    client_secret: str | None = None
    refresh_token: str | None = None
    private_key: str | None = None
    username: str | None = None
    audience: str = "https://login.salesforce.com"

    def __repr__(self) -> str:
        return f"SalesforceAuth({self.token_url!r}, flow={self.flow!r})"

    def form(self) -> dict[str, str]:
        if self.flow == "client_credentials":
            return {"grant_type": "client_credentials", "client_id": self.client_id,
                    "client_secret": self.client_secret or ""}
        if self.flow == "refresh_token":
            form = {"grant_type": "refresh_token", "client_id": self.client_id, "refresh_token": self.refresh_token or ""}
            if self.client_secret:
                form["client_secret"] = self.client_secret
            return form
        import jwt

        claims = {"iss": self.client_id, "sub": self.username, "aud": self.audience, "exp": int(time.time()) + 180}
        assertion = jwt.encode(claims, self.private_key or "", algorithm="RS256")
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


@dataclass
class CallStats:
    calls: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    api_usage: tuple[int, int] | None = None
    """Requests the org has used today and its daily allowance, as its last answer's Sforce-Limit-Info said."""


class SalesforceClient:
    def __init__(self, instance_url: str, api_version: str, auth: SalesforceAuth, *, retries: int = 6,
                 backoff: float = 2.0, poll_seconds: float = 5.0, timeout: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self.auth, self.retries, self.backoff, self.poll_seconds, self.sleep = auth, retries, backoff, poll_seconds, sleep
        self._http = http_client(timeout=timeout)
        self._token: str | None = None
        self._lock = threading.Lock()
        self.stats = CallStats()

    def __repr__(self) -> str:
        return f"SalesforceClient({self.instance_url!r})"

    def close(self) -> None:
        self._http.close()

    @property
    def base(self) -> str:
        return f"/services/data/v{self.api_version}"

    def _access_token(self) -> str:
        with self._lock:
            if self._token is None:
                try:
                    resp = self._http.post(self.auth.token_url, data=self.auth.form())
                except httpx.TransportError as err:
                    raise SalesforceError("unreachable", f"{type(err).__name__}: {err}", self.auth.token_url) from None
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _TokenUnavailable(f"HTTP_{resp.status_code}: {gist(resp.text)}")
                self._token, instance_url = _token_of(resp, self.auth.token_url)
                self.instance_url = (instance_url or self.instance_url).rstrip("/")
            return self._token

    def _forget_token(self, token: str) -> None:
        """The org called `token` invalid: the next call asks for a new one (unless a thread has)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """One call, its token renewed once on INVALID_SESSION_ID, limits, 5xx and timeouts retried `retries`
        times with backoff; then a SalesforceError (retryable when the failure was)."""
        last, renewed, attempt = "no answer", False, 0
        while True:
            try:
                token = self._access_token()
                self.stats.calls += 1
                resp = self._http.request(method, self.instance_url + path, params=params, json=json,
                                          headers={"Authorization": f"Bearer {token}", **(headers or {})})
            except httpx.TransportError as err:
                last, code = f"{type(err).__name__}: {err}", "transport"
            except _TokenUnavailable as err:
                last, code = f"the token endpoint answered {err}", "token"
            else:
                self._note_usage(resp)
                if moved := redirect(resp):
                    raise SalesforceError(f"HTTP_{resp.status_code}", moved, path)
                if resp.status_code < 400:
                    return resp
                code, message = _error(resp)
                last = f"{code}: {message}"
                if code == "INVALID_SESSION_ID" and not renewed:
                    self.stats.retries[code] = self.stats.retries.get(code, 0) + 1
                    self._forget_token(token)
                    renewed = True
                    continue
                if code not in RETRY_CODES and resp.status_code < 500 and resp.status_code != 429:
                    raise SalesforceError(code, message, path)
            if attempt >= self.retries:
                raise SalesforceError("retries", f"gave up after {attempt + 1} attempts; last: {last}", path)
            self._pause(code, attempt)
            attempt += 1

    def answer(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
               headers: dict[str, str] | None = None) -> Any:
        """The JSON answer to one call (`request`); a SalesforceError when something else came back."""
        try:
            return json_of(self.request(method, path, params=params, json=json, headers=headers))
        except NotJson as err:
            raise SalesforceError("not_json", str(err), path) from None

    def _note_usage(self, resp: httpx.Response) -> None:
        if match := re.search(r"api-usage=(\d+)/(\d+)", resp.headers.get("Sforce-Limit-Info", "")):
            self.stats.api_usage = (int(match.group(1)), int(match.group(2)))

    def _pause(self, reason: str, attempt: int) -> None:
        self.stats.retries[reason] = self.stats.retries.get(reason, 0) + 1
        self.sleep(min(self.backoff * 2**attempt, 120.0))

    # REST ---------------------------------------------------------------------------------------------------
    def describe(self, sobject: str) -> list[str]:
        """Field API names of an object, custom fields included."""
        path = f"{self.base}/sobjects/{sobject}/describe"
        return [f["name"] for f in _item(self.answer("GET", path), "fields", path)]

    def key_prefix(self, sobject: str) -> str | None:
        """The three characters every id of an object begins with (`003` for Contact), from its describe."""
        path = f"{self.base}/sobjects/{sobject}/describe"
        described = self.answer("GET", path)
        prefix = described.get("keyPrefix") if isinstance(described, dict) else None
        return str(prefix) if prefix else None

    def query(self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """Pages of records (without `attributes`), following nextRecordsUrl until done."""
        path = f"{self.base}/{'queryAll' if include_deleted else 'query'}"
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        body = self.answer("GET", path, params={"q": soql}, headers=headers)
        while True:
            yield [{k: v for k, v in r.items() if k != "attributes"} for r in _item(body, "records", path)]
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            if body["nextRecordsUrl"] == path:  # asked again, it would answer the same page, forever
                raise SalesforceError("paging", "the answer's nextRecordsUrl is the page just read; stopped rather "
                                                "than read it again", path)
            path = body["nextRecordsUrl"]
            body = self.answer("GET", path, headers=headers)

    # Bulk API 2.0 ---------------------------------------------------------------------------------------------
    def bulk_query(self, soql: str, operation: str = "query") -> str:
        path = f"{self.base}/jobs/query"
        job = self.answer("POST", path, json={
            "operation": operation, "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA",
            "lineEnding": "LF"})
        return str(_item(job, "id", path))

    def bulk_wait(self, job_id: str, most_seconds: float) -> dict[str, Any]:
        """Poll until the job is JobComplete; Failed or Aborted is an error, and so is waiting over `most_seconds`
        (a job Salesforce never runs would hold the sync, and serve's source worker, for good)."""
        waited = 0.0
        while True:
            path = f"{self.base}/jobs/query/{job_id}"
            job = self.answer("GET", path)
            state = _item(job, "state", path)
            if state == "JobComplete":
                return dict(job)
            if state in ("Failed", "Aborted"):
                raise SalesforceError("bulk", f"query job {job_id} {state}: {job.get('errorMessage', '')}")
            if waited >= most_seconds:
                raise SalesforceError("bulk", f"query job {job_id} is still {state} after {waited / 60:,.1f} minutes "
                                              "(bulk_wait_minutes)", path)
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds

    def bulk_page(self, job_id: str, locator: str | None, max_records: int) -> tuple[bytes, str | None]:
        """One set of results as CSV bytes and the next locator (None when Sforce-Locator says `null`)."""
        params: dict[str, Any] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        resp = self.request("GET", f"{self.base}/jobs/query/{job_id}/results", params=params,
                            headers={"Accept": "text/csv"})
        following = resp.headers.get("Sforce-Locator")
        if following and following == locator:  # asked again, it would answer the same results, forever
            raise SalesforceError("paging", f"Sforce-Locator names the results just read ({locator}); stopped rather "
                                            "than read them again", f"{self.base}/jobs/query/{job_id}/results")
        return resp.content, None if following in (None, "", "null") else following

    def bulk_ids(self, sobject: str, max_records: int, most_seconds: float) -> set[str]:
        """The id of every record of an object the org holds now (a Bulk API 2.0 query; the recycle bin's not)."""
        job_id = self.bulk_query(f"SELECT Id FROM {sobject}")
        self.bulk_wait(job_id, most_seconds)
        ids: set[str] = set()
        locator: str | None = None
        while True:
            data, locator = self.bulk_page(job_id, locator, max_records)
            rows = csv.reader(io.StringIO(data.decode("utf-8-sig")))
            ids.update(row[0] for row in itertools.islice(rows, 1, None) if row)
            if locator is None:
                return ids

    # sObject Collections ------------------------------------------------------------------------------------
    def create(self, sobject: str, values: dict[str, Any]) -> str:
        """One new record; its id."""
        path = f"{self.base}/sobjects/{sobject}"
        return str(_item(self.answer("POST", path, json=values), "id", path))

    def save_all(self, method: Literal["POST", "PATCH"], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create (POST) or update (PATCH, each with its `id`) up to 200 records of any types, each record
        succeeding or failing alone; one `{id, success, errors}` per record, in order."""
        body = {"allOrNone": False, "records": records}
        return _results(self.answer(method, f"{self.base}/composite/sobjects", json=body), len(records))

    def delete_all(self, ids: list[str]) -> list[dict[str, Any]]:
        """Delete up to 200 records, each alone; one `{id, success, errors}` per id."""
        params = {"ids": ",".join(ids), "allOrNone": "false"}
        return _results(self.answer("DELETE", f"{self.base}/composite/sobjects", params=params), len(ids))

    def api_usage(self) -> tuple[int, int]:
        """Requests the org has used today and its daily allowance (the last answer's, else asked of `/limits`)."""
        if self.stats.api_usage is None:
            path = f"{self.base}/limits"
            daily = _item(self.answer("GET", path), "DailyApiRequests", path)
            self.stats.api_usage = (int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        return self.stats.api_usage

    def select(self, soql: str) -> list[dict[str, Any]]:
        """Every record a SOQL query finds."""
        return [r for page in self.query(soql) for r in page]


def soql_text(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _token_of(resp: httpx.Response, token_url: str) -> tuple[str, str | None]:
    """The access token and instance URL from the token endpoint's answer, or why there is none."""
    if moved := redirect(resp):
        raise SalesforceAuthError("auth", f"token refused: {moved}", token_url)
    try:
        body = json_of(resp)
    except NotJson as err:
        raise SalesforceAuthError("auth", f"token refused: HTTP {resp.status_code}, {err}", token_url) from None
    if resp.status_code >= 400:
        detail = body.get("error_description") if isinstance(body, dict) else None
        raise SalesforceAuthError("auth", f"token refused: {detail or gist(resp.text)}", token_url)
    if not isinstance(body, dict) or not body.get("access_token"):
        raise SalesforceAuthError("auth", f"the token endpoint's answer holds no access_token: {gist(resp.text)}",
                                  token_url)
    return str(body["access_token"]), body.get("instance_url")


def _item(body: Any, key: str, path: str) -> Any:
    """`body[key]`, or a SalesforceError naming what the answer lacks."""
    if isinstance(body, dict) and key in body:
        return body[key]
    raise SalesforceError("unexpected_answer", f"the answer holds no {key}: {gist(str(body))}", path)


def _results(body: Any, count: int) -> list[dict[str, Any]]:
    """sObject Collections' answer: one result object per record sent."""
    if isinstance(body, list) and len(body) == count and all(isinstance(r, dict) for r in body):
        return body
    raise SalesforceError("unexpected_answer", f"expected {count} results, one per record: {gist(str(body))}",
                          "composite/sobjects")


class _TokenUnavailable(Exception):
    """The token endpoint answered 429 or 5xx: worth asking again after a pause."""


def _error(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP_{resp.status_code}", gist(resp.text)
    item = body[0] if isinstance(body, list) and body else body if isinstance(body, dict) else {}
    item = item if isinstance(item, dict) else {}
    return str(item.get("errorCode") or f"HTTP_{resp.status_code}"), str(item.get("message") or gist(resp.text))
