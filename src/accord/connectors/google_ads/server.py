"""A local Google Ads API for Customer Match, over real HTTP on 127.0.0.1, answering as the REST API does: Bearer
token and `developer-token` headers, user lists found by a GAQL search and made by `userLists:mutate`, offline
user data jobs (create → addOperations → run → a long-running operation to poll), at most 100,000 user
identifiers a request, partial failures per operation, and 429 RESOURCE_EXHAUSTED with a retry delay."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from accord.testing.http import Answer, Faults, LocalServer

MAX_IDENTIFIERS = 100_000
HASHED = re.compile(r"^[0-9a-f]{64}$")
ADDRESS_PARTS = ("hashedFirstName", "hashedLastName", "countryCode", "postalCode")


@dataclass
class Job:
    id: int
    user_list: str
    consent: dict[str, str]
    operations: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)  # (create|remove, identifiers)
    status: str = "PENDING"  # PENDING → RUNNING → SUCCESS (or FAILED)
    started: float = 0.0


class GoogleAdsServer(LocalServer, Faults):
    """One Google Ads customer's Customer Match lists; `token` and `developer_token` are what it accepts."""

    def __init__(self, customer_id: str = "1234567890", version: str = "v17", run_seconds: float = 0.02) -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.customer_id, self.version, self.run_seconds = customer_id, version, run_seconds
        self.token, self.developer_token = secrets.token_hex(16), secrets.token_hex(8)
        self.user_lists: dict[str, dict[str, Any]] = {}  # resource name → {name, members, status (OPEN or CLOSED)}
        self.jobs: dict[int, Job] = {}
        self.unmatchable: set[str] = set()  # hashed identifiers whose operations fail alone
        self.known: set[str] | None = None
        """The hashed e-mails of Google's own users, which a list's members match (None: every one sent)."""
        self._lock = threading.Lock()

    def members(self, name: str) -> set[str]:
        """The hashed e-mails on the user list called `name`."""
        for user_list in self.user_lists.values():
            if user_list["name"] == name:
                return {k.split(":", 1)[1] for k in user_list["members"] if k.startswith("hashedEmail:")}
        return set()

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        injected = self.take(body)
        if headers.get("authorization") != f"Bearer {self.token}":
            return self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if headers.get("developer-token") != self.developer_token:
            return self._error(401, "UNAUTHENTICATED", "The developer token is not valid.")
        if injected == 429:
            return self._error(429, "RESOURCE_EXHAUSTED", "Too many requests.",
                               [{"@type": "type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure",
                                 "errors": [{"details": {"quotaErrorDetails": {"retryDelay": "0s"}}}]}])
        if injected:
            return self._error(injected, "UNAVAILABLE", "The service is currently unavailable.")
        prefix = f"/{self.version}/customers/{self.customer_id}"
        if not path.startswith(prefix):
            return self._error(404, "NOT_FOUND", f"unknown customer or version in {path}")
        route, payload = path[len(prefix):], json.loads(body) if body else {}
        if method == "POST" and route == "/googleAds:search":
            return self._search(payload)
        if method == "POST" and route == "/userLists:mutate":
            return self._make_lists(payload)
        if method == "POST" and route == "/offlineUserDataJobs:create":
            return self._create_job(payload)
        found = re.fullmatch(r"/offlineUserDataJobs/(\d+):(addOperations|run)", route)
        if method == "POST" and found and int(found.group(1)) in self.jobs:
            job = self.jobs[int(found.group(1))]
            return self._add(job, payload) if found.group(2) == "addOperations" else self._run(job)
        found = re.fullmatch(r"/operations/job-(\d+)", route)
        if method == "GET" and found and int(found.group(1)) in self.jobs:
            return self._operation(self.jobs[int(found.group(1))])
        return self._error(404, "NOT_FOUND", f"{method} {path}")

    def _search(self, body: dict[str, Any]) -> Answer:
        query = str(body.get("query", ""))
        by_resource = re.search(r"user_list\.resource_name = '([^']*)'", query)
        if by_resource:
            held = self.user_lists.get(by_resource.group(1))
            return self._json({"results": [{"userList": self._figures(by_resource.group(1), held)}]} if held else {})
        found = re.search(r"user_list\.name = '((?:[^'\\\\]|\\\\.)*)'", query)
        if not found:
            return self._error(400, "INVALID_ARGUMENT", "only user lists by name or resource name are searched here")
        name = found.group(1).replace("\\\\'", "'")
        rows = [{"userList": {"resourceName": r, "name": u["name"]}} for r, u in self.user_lists.items()
                if u["name"] == name]
        return self._json({"results": rows} if rows else {})

    def _figures(self, resource: str, held: dict[str, Any]) -> dict[str, Any]:
        """A list's status, and once a job has run on it, its sizes (int64: strings) and match rate."""
        shown: dict[str, Any] = {"resourceName": resource, "membershipStatus": held.get("status", "OPEN")}
        if not held.get("counted"):
            return shown  # Google leaves the sizes out until it has counted the list
        emails = {k.split(":", 1)[1] for k in held["members"] if k.startswith("hashedEmail:")}
        matched = len(emails if self.known is None else emails & self.known)
        shown.update(sizeForDisplay=str(matched), sizeForSearch=str(matched * 4 // 5))
        if emails:
            shown["matchRatePercentage"] = round(100 * matched / len(emails))
        return shown

    def _make_lists(self, body: dict[str, Any]) -> Answer:
        results = []
        for operation in body.get("operations") or []:
            made = operation.get("create") or {}
            if (made.get("crmBasedUserList") or {}).get("uploadKeyType") != "CONTACT_INFO" or not made.get("name"):
                return self._error(400, "INVALID_ARGUMENT", "a CRM-based user list with uploadKeyType CONTACT_INFO")
            with self._lock:
                resource = f"customers/{self.customer_id}/userLists/{len(self.user_lists) + 9001}"
                self.user_lists[resource] = {"name": made["name"], "members": set()}
            results.append({"resourceName": resource})
        return self._json({"results": results})

    def _create_job(self, body: dict[str, Any]) -> Answer:
        job = body.get("job") or {}
        metadata = job.get("customerMatchUserListMetadata") or {}
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or metadata.get("userList") not in self.user_lists:
            return self._error(400, "INVALID_ARGUMENT", "a CUSTOMER_MATCH_USER_LIST job for an existing user list")
        with self._lock:
            job_id = len(self.jobs) + 1
            self.jobs[job_id] = Job(job_id, metadata["userList"], metadata.get("consent") or {})
        return self._json({"resourceName": f"customers/{self.customer_id}/offlineUserDataJobs/{job_id}"})

    def _add(self, job: Job, body: dict[str, Any]) -> Answer:
        if job.status != "PENDING":
            return self._error(400, "INVALID_ARGUMENT", "operations can only be added to a job not yet run")
        operations = body.get("operations") or []
        if sum(len((next(iter(o.values())) or {}).get("userIdentifiers") or []) for o in operations) > MAX_IDENTIFIERS:
            return self._error(400, "INVALID_ARGUMENT", f"at most {MAX_IDENTIFIERS} user identifiers a request")
        failures = []
        for index, operation in enumerate(operations):
            (verb, data), = operation.items() if len(operation) == 1 else [("?", {})]
            identifiers = (data or {}).get("userIdentifiers") or []
            bad = verb not in ("create", "remove") or not identifiers or not all(
                _valid(i, self.unmatchable) for i in identifiers)
            if bad:
                failures.append({"errorCode": {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
                                 "location": {"fieldPathElements": [{"fieldName": "operations", "index": index}]}})
                continue
            job.operations.append((verb, identifiers))
        if failures and not body.get("enablePartialFailure"):
            return self._error(400, "INVALID_ARGUMENT", "an operation is invalid")
        answer: dict[str, Any] = {}
        if failures:
            answer["partialFailureError"] = {"code": 3, "message": "Some operations failed.",
                                             "details": [{"errors": failures}]}
        return self._json(answer)

    def _run(self, job: Job) -> Answer:
        with self._lock:
            job.status, job.started = "RUNNING", time.monotonic()
        return self._json({"name": f"customers/{self.customer_id}/operations/job-{job.id}"})

    def _operation(self, job: Job) -> Answer:
        with self._lock:
            if job.status == "RUNNING" and time.monotonic() - job.started >= self.run_seconds:
                members = self.user_lists[job.user_list]["members"]
                for verb, identifiers in job.operations:
                    for identifier in identifiers:
                        for key, value in identifier.items():
                            if isinstance(value, dict):  # addressInfo: one key of its four parts
                                value = "|".join(str(value.get(k)) for k in ADDRESS_PARTS)
                            (members.add if verb == "create" else members.discard)(f"{key}:{value}")
                job.status = "SUCCESS"
                self.user_lists[job.user_list]["counted"] = True
            done = job.status == "SUCCESS"
        name = f"customers/{self.customer_id}/operations/job-{job.id}"
        return self._json({"name": name, "done": done, **({"response": {}} if done else {})})

    def _json(self, payload: dict[str, Any]) -> Answer:
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _error(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Answer:
        payload = {"error": {"code": status, "message": message, "status": code, "details": details or []}}
        return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _valid(identifier: dict[str, Any], unmatchable: set[str]) -> bool:
    """One identifier as Google takes it: a hashed e-mail or phone, or address info with hashed names, a two-letter
    country code and a postal code; none of it marked unmatchable."""
    if set(identifier) == {"addressInfo"}:
        address = identifier["addressInfo"] or {}
        return (all(HASHED.match(str(address.get(k))) and address.get(k) not in unmatchable
                    for k in ("hashedFirstName", "hashedLastName"))
                and re.fullmatch(r"[A-Z]{2}", str(address.get("countryCode"))) is not None
                and bool(address.get("postalCode")))
    return any(HASHED.match(str(v)) and v not in unmatchable for k, v in identifier.items() if k.startswith("hashed"))
