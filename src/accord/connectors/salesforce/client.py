"""Salesforce REST and Bulk API 2.0 client: OAuth (client credentials, refresh token, JWT bearer), SOQL paging,
bulk query jobs with locators, and Salesforce's error codes with retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from accord.connectors.errors import ConnectorError

RETRY_CODES = {"REQUEST_LIMIT_EXCEEDED", "QUERY_TIMEOUT", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"}
Flow = Literal["client_credentials", "refresh_token", "jwt"]


class SalesforceError(ConnectorError):
    """An error answer (`[{"errorCode", "message"}]`) or a call that kept failing."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(f"Salesforce {code} on {path or 'call'}: {message}", unreachable=code == "unreachable")
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


class SalesforceClient:
    def __init__(self, instance_url: str, api_version: str, auth: SalesforceAuth, *, retries: int = 6,
                 backoff: float = 2.0, poll_seconds: float = 5.0, timeout: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self.auth, self.retries, self.backoff, self.poll_seconds, self.sleep = auth, retries, backoff, poll_seconds, sleep
        self._http = httpx.Client(timeout=timeout)
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

    def _access_token(self, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None:
                try:
                    resp = self._http.post(self.auth.token_url, data=self.auth.form())
                except httpx.TransportError as err:
                    raise SalesforceError("unreachable", f"{type(err).__name__}: {err}", self.auth.token_url) from None
                if resp.status_code >= 400:
                    detail = resp.json().get("error_description", resp.text) if resp.headers.get(
                        "content-type", "").startswith("application/json") else resp.text
                    raise SalesforceAuthError("auth", f"token refused: {detail}", self.auth.token_url)
                body = resp.json()
                self._token = str(body["access_token"])
                self.instance_url = str(body.get("instance_url") or self.instance_url).rstrip("/")
            return self._token

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """One call, its token renewed on INVALID_SESSION_ID, limits and timeouts retried with backoff."""
        last = "no answer"
        for attempt in range(self.retries + 1):
            token = self._access_token()
            try:
                self.stats.calls += 1
                resp = self._http.request(method, self.instance_url + path, params=params, json=json,
                                          headers={"Authorization": f"Bearer {token}", **(headers or {})})
            except httpx.TransportError as err:
                last = f"{type(err).__name__}: {err}"
                self._pause("transport", attempt)
                continue
            if resp.status_code < 400:
                return resp
            code, message = _error(resp)
            last = f"{code}: {message}"
            if code == "INVALID_SESSION_ID":
                self.stats.retries[code] = self.stats.retries.get(code, 0) + 1
                self._access_token(renew=True)
                continue
            if code in RETRY_CODES or resp.status_code >= 500 or resp.status_code == 429:
                self._pause(code, attempt)
                continue
            raise SalesforceError(code, message, path)
        raise SalesforceError("retries", f"gave up after {self.retries + 1} attempts; last: {last}", path)

    def _pause(self, reason: str, attempt: int) -> None:
        self.stats.retries[reason] = self.stats.retries.get(reason, 0) + 1
        self.sleep(min(self.backoff * 2**attempt, 120.0))

    # REST ---------------------------------------------------------------------------------------------------
    def describe(self, sobject: str) -> list[str]:
        """Field API names of an object, custom fields included."""
        return [f["name"] for f in self.request("GET", f"{self.base}/sobjects/{sobject}/describe").json()["fields"]]

    def query(self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """Pages of records (without `attributes`), following nextRecordsUrl until done."""
        path = f"{self.base}/{'queryAll' if include_deleted else 'query'}"
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        body = self.request("GET", path, params={"q": soql}, headers=headers).json()
        while True:
            yield [{k: v for k, v in r.items() if k != "attributes"} for r in body.get("records", [])]
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self.request("GET", body["nextRecordsUrl"], headers=headers).json()

    # Bulk API 2.0 ---------------------------------------------------------------------------------------------
    def bulk_query(self, soql: str, operation: str = "query") -> str:
        job = self.request("POST", f"{self.base}/jobs/query", json={
            "operation": operation, "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA",
            "lineEnding": "LF"}).json()
        return str(job["id"])

    def bulk_wait(self, job_id: str) -> dict[str, Any]:
        """Poll until the job is JobComplete; Failed or Aborted is an error."""
        while True:
            job = self.request("GET", f"{self.base}/jobs/query/{job_id}").json()
            if job["state"] == "JobComplete":
                return dict(job)
            if job["state"] in ("Failed", "Aborted"):
                raise SalesforceError("bulk", f"query job {job_id} {job['state']}: {job.get('errorMessage', '')}")
            self.sleep(self.poll_seconds)

    def bulk_page(self, job_id: str, locator: str | None, max_records: int) -> tuple[bytes, str | None]:
        """One set of results as CSV bytes and the next locator (None when Sforce-Locator says `null`)."""
        params: dict[str, Any] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        resp = self.request("GET", f"{self.base}/jobs/query/{job_id}/results", params=params,
                            headers={"Accept": "text/csv"})
        following = resp.headers.get("Sforce-Locator")
        return resp.content, None if following in (None, "", "null") else following


def _error(resp: httpx.Response) -> tuple[str, str]:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP_{resp.status_code}", resp.text[:200]
    item = body[0] if isinstance(body, list) and body else body if isinstance(body, dict) else {}
    return str(item.get("errorCode") or f"HTTP_{resp.status_code}"), str(item.get("message") or resp.text[:200])
