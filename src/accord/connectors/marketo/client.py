"""Marketo Engage REST client: OAuth token, pacing under Marketo's limits, error codes, paging and bulk extracts."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import NotJson, gist, http_client, json_of, redirect
from accord.connectors.pacing import MAX_WAIT_SECONDS, Pacer, retry_after
from accord.scratch import scratch

TOKEN_CODES = {"601", "602"}
RETRY_CODES = {"604", "606", "608", "611", "615", "713"}
TOKEN_PATH = "/identity/oauth/token"
MAX_URL = 7000  # Marketo answers 414 above 8 KB; longer GETs go as POST with _method=GET
BULK_PATHS = {
    "leads": "/bulk/v1/leads/export",
    "activities": "/bulk/v1/activities/export",
    "program_members": "/bulk/v1/program/members/export",
}


class MarketoError(ConnectorError):
    """An error answer from Marketo, with its code, a call that kept failing (`retries`), or no answer at all
    (`unreachable`): worth trying again later when the code says so."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(f"Marketo error {code} on {path or 'call'}: {message}",
                         retryable=code in RETRY_CODES or code == "retries", unreachable=code == "unreachable")
        self.code, self.message, self.path = code, message, path


class MarketoAuthError(MarketoError):
    """The instance refused the client id and secret."""


class MarketoQuotaError(MarketoError):
    """The daily API quota (607) is used up: nothing more today."""


class MarketoBulkBusy(MarketoError):
    """1029: the bulk queue is full or the export quota is spent; try again later."""


@dataclass
class MarketoLimits:
    """Marketo's published limits; the client paces itself under them instead of being refused."""

    calls_per_window: int = 100
    window_seconds: float = 20.0
    max_concurrent: int = 10
    daily_quota: int = 50_000

    def rate_used(self, calls: int, seconds: float) -> float:
        """`calls` in `seconds` as a fraction of the most a sliding window allows (a full burst, then its pace)."""
        return calls / (self.calls_per_window * (1 + seconds / self.window_seconds))


@dataclass
class CallStats:
    calls: int = 0
    retries: dict[str, int] = field(default_factory=dict)


class MarketoClient:
    """One Marketo instance. `endpoint` is its REST base URL (`https://<munchkin>.mktorest.com`)."""

    def __init__(self, endpoint: str, client_id: str, client_secret: str, *, limits: MarketoLimits | None = None,
                 retries: int = 8, backoff: float = 1.0, poll_seconds: float = 10.0, timeout: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.limits = limits or MarketoLimits()
        self.retries, self.backoff, self.poll_seconds = retries, backoff, poll_seconds
        self._credentials = (client_id, client_secret)
        self._http = http_client(base_url=self.endpoint, timeout=timeout)
        self.sleep = sleep
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.pacer = Pacer(self.limits.calls_per_window, self.limits.window_seconds, self.limits.max_concurrent,
                           sleep=sleep)
        self.stats = CallStats()

    def __repr__(self) -> str:
        return f"MarketoClient({self.endpoint!r})"

    def __enter__(self) -> MarketoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Token ------------------------------------------------------------------------------------------------
    def _access_token(self) -> str:
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                client_id, secret = self._credentials
                # Credentials go in a form body, never the URL, so no request log can show the secret.
                try:
                    resp = self._http.post(TOKEN_PATH, data={
                        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
                except httpx.TransportError as err:
                    raise MarketoError("unreachable", f"{type(err).__name__}: {err}", TOKEN_PATH) from None
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _HttpStatus(resp.status_code, retry_after(resp.headers.get("Retry-After")))
                if resp.status_code == 401:
                    raise MarketoAuthError("401", "client id or secret refused", TOKEN_PATH)
                self._token, life = _token_of(resp)
                self._token_renew_at = time.monotonic() + life - min(60.0, life / 10)
            return self._token

    def _forget_token(self, token: str) -> None:
        """Marketo called `token` expired or invalid: the next call asks for a new one (unless a thread has)."""
        with self._token_lock:
            if self._token == token:
                self._token = None

    # Calls ------------------------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             json: dict[str, Any] | None = None, form: dict[str, Any] | None = None,
             save_to: Path | None = None) -> dict[str, Any]:
        """One API call with Marketo's envelope checked; retried on token, rate and transient errors."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        if method == "GET" and len(urlencode(params, doseq=True)) > MAX_URL:
            method, form, params = "POST", {**params, "_method": "GET"}, {}
        last = "no answer"
        for attempt in range(self.retries + 1):
            if self.stats.calls >= self.limits.daily_quota:
                raise MarketoQuotaError("607", f"daily quota of {self.limits.daily_quota} calls used", path)
            try:
                token = self._access_token()
                headers = {"Authorization": f"Bearer {token}"}
                with self.pacer.slot():
                    with self._stats_lock:
                        self.stats.calls += 1
                    body = self._send(method, path, params, json, form, headers, save_to)
            except httpx.TransportError as err:
                last = f"{type(err).__name__}: {err}"
                self._pause("transport", attempt)
                continue
            except _HttpStatus as err:
                last = f"HTTP {err.status}"
                self._pause(str(err.status), attempt, err.retry_after)
                continue
            if body.get("success", True):
                return body
            errors = body.get("errors")
            error = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            code, message = str(error.get("code", "")), str(error.get("message") or "no reason given")
            last = f"{code} {message}"
            if code in TOKEN_CODES:
                self._forget_token(token)
                self.stats.retries[code] = self.stats.retries.get(code, 0) + 1
                continue
            if code in RETRY_CODES:
                self._pause(code, attempt, self.limits.window_seconds / 4 if code == "606" else None)
                continue
            if code == "607":
                raise MarketoQuotaError(code, message, path)
            if code == "1029":
                if "quota" in message.lower():  # the day's export bytes are spent: waiting minutes will not help
                    raise MarketoQuotaError(code, message, path)
                raise MarketoBulkBusy(code, message, path)
            raise MarketoError(code, message, path)
        raise MarketoError("retries", f"gave up after {self.retries + 1} attempts; last: {last}", path)

    def _send(self, method: str, path: str, params: dict[str, Any], json: dict[str, Any] | None,
              form: dict[str, Any] | None, headers: dict[str, str], save_to: Path | None) -> dict[str, Any]:
        with self._http.stream(method, path, params=params, json=json, data=form, headers=headers) as resp:
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _HttpStatus(resp.status_code, retry_after(resp.headers.get("Retry-After")))
            if resp.status_code >= 300:
                resp.read()
                said = redirect(resp) or gist(resp.text) or "no reason given"
                raise MarketoError(f"HTTP {resp.status_code}", said, path)
            if save_to is not None and not resp.headers.get("content-type", "").startswith("application/json"):
                with save_to.open("wb") as out:
                    for block in resp.iter_bytes(1 << 20):
                        out.write(block)
                return {"success": True}
            resp.read()
            return _envelope(resp, path)

    def _pause(self, reason: str, attempt: int, at_least: float | None = None) -> None:
        self.stats.retries[reason] = self.stats.retries.get(reason, 0) + 1
        wait = max(min(self.backoff * 2**attempt, 60.0), at_least or 0.0)
        self.sleep(min(wait, MAX_WAIT_SECONDS))

    # Paging -----------------------------------------------------------------------------------------------
    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Position-token paging (Lead Database lists): follow nextPageToken until it is gone."""
        params = {"batchSize": 300, **(params or {})}
        while True:
            body = self.call("GET", path, params=params)
            yield body.get("result") or []
            token = body.get("nextPageToken")
            if not token or body.get("moreResult") is False:
                return
            _moved_on(token, params.get("nextPageToken"), path)
            params = {**params, "nextPageToken": token}

    def asset_pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Asset API paging: offset and maxReturn (200 at most) until a page comes back without result."""
        offset = 0
        while True:
            body = self.call("GET", path, params={**(params or {}), "maxReturn": 200, "offset": offset})
            result = body.get("result") or []
            if not result:
                return
            yield result
            offset += len(result)

    def paging_token(self, since: datetime) -> str:
        stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return str(self.call("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": stamp})[
            "nextPageToken"])

    def activity_pages(self, path: str, token: str, params: dict[str, Any] | None = None
                       ) -> Iterator[list[dict[str, Any]]]:
        """Date-token paging (activities, lead changes, deleted leads): until moreResult is false."""
        while True:
            body = self.call("GET", path, params={"batchSize": 300, **(params or {}), "nextPageToken": token})
            yield body.get("result") or []
            if not body.get("moreResult"):
                return
            token = _moved_on(body.get("nextPageToken"), token, path)

    def activity_types(self) -> list[dict[str, Any]]:
        return self.call("GET", "/rest/v1/activities/types.json").get("result") or []

    def lead_fields(self) -> list[str]:
        """The REST names of every lead field, from describe."""
        result = self.call("GET", "/rest/v1/leads/describe.json").get("result") or []
        return [f["rest"]["name"] for f in result if f.get("rest")]

    def custom_object(self, name: str) -> dict[str, Any]:
        """A custom object type's describe: its id field, fields and relationships (the field linking it to a lead)."""
        path = f"/rest/v1/customobjects/{name}/describe.json"
        result = self.call("GET", path).get("result") or []
        if not result:
            raise MarketoError("1013", f"no custom object {name!r} in this instance", path)
        return result[0]

    def leads_by(self, filter_type: str, values: list[str], fields: list[str]) -> Iterator[list[dict[str, Any]]]:
        """Leads whose `filter_type` field is one of `values`, asked 300 values a call."""
        return self.lookup("/rest/v1/leads.json", filter_type, values, fields)

    def lookup(self, path: str, filter_type: str, values: list[str], fields: list[str] | None = None
               ) -> Iterator[list[dict[str, Any]]]:
        """Records of a Lead Database object (leads, companies, opportunities, roles, named accounts) whose
        `filter_type` field is one of `values`: 300 values a call, each answer paged."""
        for i in range(0, len(values), 300):
            params = {"filterType": filter_type, "filterValues": ",".join(values[i:i + 300])}
            if fields:
                params["fields"] = ",".join(fields)
            yield from self.pages(path, params)

    # Static lists (the destination's calls; none of them can create a lead) ----------------------------------
    def static_list_id(self, name: str, folder_id: int | None = None) -> int | None:
        """The id of the static list called `name`; created in `folder_id` when missing and a folder is given."""
        found = self.call("GET", "/rest/asset/v1/staticList/byName.json", params={"name": name}).get("result")
        if found:
            return int(found[0]["id"])
        if folder_id is None:
            return None
        created = self.call("POST", "/rest/asset/v1/staticLists.json", form={
            "name": name, "folder": f'{{"id":{folder_id},"type":"Folder"}}',
            "description": "Kept in step with an Accord audience; edits by hand are overwritten."})
        return int(created["result"][0]["id"])

    def list_change(self, list_id: int, lead_ids: list[int], remove: bool = False) -> list[dict[str, Any]]:
        """Add (or remove) up to 300 leads by id; one result per lead: added/removed, or skipped with reasons."""
        if len(lead_ids) > 300:
            raise ValueError("Marketo takes at most 300 leads a list call")
        body = {"input": [{"id": i} for i in lead_ids]}
        return list(self.call("DELETE" if remove else "POST", f"/rest/v1/lists/{list_id}/leads.json",
                              json=body).get("result") or [])

    def list_members_among(self, list_id: int, lead_ids: list[int]) -> set[int]:
        """Which of these leads are on the list now (at most 300 asked a call)."""
        found: set[int] = set()
        for i in range(0, len(lead_ids), 300):
            params = {"id": ",".join(str(x) for x in lead_ids[i:i + 300])}
            result = self.call("GET", f"/rest/v1/lists/{list_id}/leads/ismember.json", params=params).get("result")
            found.update(int(r["id"]) for r in result or [] if r.get("status") == "memberof")
        return found

    # Bulk extract -----------------------------------------------------------------------------------------
    def bulk_create(self, kind: str, body: dict[str, Any]) -> str:
        result = self.call("POST", f"{BULK_PATHS[kind]}/create.json", json=body)["result"]
        return str(result[0]["exportId"])

    def bulk_enqueue(self, kind: str, export_id: str) -> None:
        self.call("POST", f"{BULK_PATHS[kind]}/{export_id}/enqueue.json")

    def bulk_status(self, kind: str, export_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"{BULK_PATHS[kind]}/{export_id}/status.json")["result"][0])

    def bulk_download(self, kind: str, export_id: str, dest: Path, checksum: str | None) -> None:
        """The finished file, checked against the job's sha256 so a truncated download is never loaded."""
        self.call("GET", f"{BULK_PATHS[kind]}/{export_id}/file.json", save_to=dest)
        if checksum and checksum.startswith("sha256:"):
            digest = hashlib.sha256()
            with dest.open("rb") as f:
                while block := f.read(8 << 20):
                    digest.update(block)
            if digest.hexdigest() != checksum[7:]:
                raise MarketoError("checksum", f"export {export_id} file does not match its checksum",
                                   f"{BULK_PATHS[kind]}/{export_id}/file.json")


@dataclass
class BulkJob:
    """One export a caller wants: its key (e.g. a window start), the create body, and an export id if known."""

    key: str
    body: dict[str, Any]
    export_id: str | None = None


class BulkQueue:
    """Runs export jobs of one kind, at most `depth` in Marketo's queue at once; yields each file in order. Waiting
    over `most_seconds` for the next file fails (an export Marketo never runs would hold the sync for good)."""

    def __init__(self, client: MarketoClient, kind: str, most_seconds: float, depth: int = 3) -> None:
        self.client, self.kind, self.most_seconds, self.depth = client, kind, most_seconds, depth
        self._waited = 0.0

    def run(self, jobs: list[BulkJob], on_submitted: Callable[[BulkJob], None]) -> Iterator[tuple[BulkJob, Path]]:
        pending: deque[BulkJob] = deque(jobs)
        running: deque[BulkJob] = deque()
        with scratch("marketo") as tmp:
            while pending or running:
                while pending and len(running) < self.depth:
                    if not self._submit(pending[0]):
                        break
                    job = pending.popleft()
                    on_submitted(job)
                    running.append(job)
                if not running:
                    self._wait(f"{len(pending)} exports wait for room in Marketo's bulk queue")
                    continue
                head = running[0]
                status = self.client.bulk_status(self.kind, str(head.export_id))
                if status["status"] == "Completed":
                    path = tmp / f"{head.export_id}.csv"
                    self.client.bulk_download(self.kind, str(head.export_id), path, status.get("fileChecksum"))
                    running.popleft()
                    self._waited = 0.0
                    yield head, path
                    path.unlink(missing_ok=True)
                elif status["status"] in ("Failed", "Cancelled", "Canceled"):
                    raise MarketoError("bulk", f"export {head.export_id} ended {status['status']}: "
                                               f"{status.get('errorMsg') or 'no reason given'}", self.kind)
                else:
                    self._wait(f"export {head.export_id} is still {status['status']}")

    def _wait(self, why: str) -> None:
        if self._waited >= self.most_seconds:
            raise MarketoError("bulk", f"{why} after {self._waited / 60:,.1f} minutes (bulk_wait_minutes); the next "
                                       "sync picks its exports up where this one stopped", BULK_PATHS[self.kind])
        self.client.sleep(self.client.poll_seconds)
        self._waited += self.client.poll_seconds

    def _submit(self, job: BulkJob) -> bool:
        """Create and enqueue (or pick up a job a previous run left); False when Marketo's queue is full."""
        if job.export_id:
            try:
                state = self.client.bulk_status(self.kind, job.export_id)["status"]
            except MarketoError:
                state = "Missing"
            if state in ("Queued", "Processing", "Completed"):
                return True
            if state != "Created":
                job.export_id = None
        if not job.export_id:
            job.export_id = self.client.bulk_create(self.kind, job.body)
        try:
            self.client.bulk_enqueue(self.kind, job.export_id)
        except MarketoBulkBusy:
            return False
        return True


def _token_of(resp: httpx.Response) -> tuple[str, float]:
    """The access token and its life in seconds from the identity endpoint's answer, or why there is none."""
    hint = "; is endpoint the instance's REST base URL (https://<munchkin-id>.mktorest.com, from Admin > Web Services)?"
    if resp.status_code >= 300:
        said = redirect(resp) or gist(resp.text) or "no reason given"
        raise MarketoAuthError(f"HTTP {resp.status_code}", said + hint, TOKEN_PATH)
    try:
        body = json_of(resp)
        return str(body["access_token"]), float(body["expires_in"])
    except NotJson as err:
        raise MarketoAuthError("token", f"{err}{hint}", TOKEN_PATH) from None
    except (KeyError, TypeError, ValueError):
        raise MarketoAuthError("token", f"the answer holds no access_token and expires_in{hint}", TOKEN_PATH) from None


def _envelope(resp: httpx.Response, path: str) -> dict[str, Any]:
    """Marketo's answer: a JSON object whose `result`, when it has one, is a list."""
    try:
        body = json_of(resp)
    except NotJson as err:
        raise MarketoError("not_json", str(err), path) from None
    if not isinstance(body, dict) or not isinstance(body.get("result", []), list):
        raise MarketoError("not_marketo", f"the answer is not Marketo's envelope: {gist(resp.text)}", path)
    return body


def _moved_on(token: str | None, sent: str | None, path: str) -> str:
    """The next page's token, which must differ from the one just sent: asked again, the same page would come back
    until the day's quota of calls is spent."""
    if not token or token == sent:
        said = "no nextPageToken" if not token else "the nextPageToken it was sent"
        raise MarketoError("paging", f"Marketo answered moreResult true with {said}; stopped rather than ask for "
                                     "the same page again", path)
    return token


class _HttpStatus(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(status)
        self.status, self.retry_after = status, retry_after
