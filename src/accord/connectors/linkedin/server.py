"""A local LinkedIn Marketing API for DMP segments, over real HTTP on 127.0.0.1, answering as the versioned `/rest`
endpoints do: Bearer tokens, the `LinkedIn-Version` (YYYYMM) and `X-Restli-Protocol-Version: 2.0.0` headers,
segments that build before they are ready, users and companies added and removed in `BATCH_CREATE` calls of at
most 5,000 elements (one status each), and a per-minute limit answered with 429 and Retry-After."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from accord.testing.http import Answer, Faults, LocalServer

VERSION = re.compile(r"^20\d{2}(0[1-9]|1[0-2])$")
STATUSES = ("BUILDING", "READY", "FAILED", "EXPIRED")
MAX_ELEMENTS = 5000


@dataclass
class Limits:
    """The streaming APIs' per-minute limit (per member) and how long a new segment builds."""

    calls_per_minute: int = 300
    window_seconds: float = 60.0
    calls_per_day: int = 100_000
    """The application's daily limit; LinkedIn resets it at midnight UTC and says so only in the message."""
    build_seconds: float = 0.05


@dataclass
class Segment:
    id: int
    name: str
    account: str
    type: str  # USER or COMPANY
    created: float
    status: str = "BUILDING"
    users: set[str] = field(default_factory=set)  # hashed e-mails, or first|last|company where no e-mail
    companies: set[str] = field(default_factory=set)  # domain, or name, or organization URN


class LinkedInServer(LocalServer, Faults):
    """One LinkedIn ad account's DMP segments; `token` is the Bearer token it accepts."""

    def __init__(self, limits: Limits | None = None) -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.limits = limits or Limits()
        self.token = secrets.token_hex(16)
        self.segments: dict[int, Segment] = {}
        self.calls: list[tuple[str, str]] = []
        self.unmatchable: set[str] = set()  # identifiers whose elements are answered 400 alone
        self.known: set[str] | None = None
        """The hashed e-mails of LinkedIn's members, which a user segment's entries match (None: every one sent)."""
        self.calls_today = 0
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        with self._lock:
            self.calls.append((method, path))
        injected = self.take(body)
        refused = self._admit(headers, injected)
        if refused:
            return refused
        try:
            payload = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return self._error(400, "the body is not JSON")
        if method == "POST" and path == "/rest/dmpSegments":
            return self._create(payload)
        found = re.fullmatch(r"/rest/dmpSegments/(\d+)(/users|/companies)?", path)
        if method == "GET" and path == "/rest/dmpSegments" and query.get("q") == ["account"]:
            return self._by_account(query)
        if not found or int(found.group(1)) not in self.segments:
            return self._error(404, f"no DMP segment at {path}")
        segment = self._refresh(self.segments[int(found.group(1))])
        if method == "GET" and not found.group(2):
            return self._json(200, self._shown(segment))
        if method == "POST" and found.group(2):
            if headers.get("x-restli-method", "").upper() != "BATCH_CREATE":
                return self._error(400, "X-RestLi-Method: BATCH_CREATE is required")
            return self._batch(segment, found.group(2)[1:], payload)
        return self._error(405, f"{method} {path} is not supported")

    # Requests -------------------------------------------------------------------------------------------------
    def _admit(self, headers: dict[str, str], injected: int | None) -> Answer | None:
        if headers.get("authorization", "") != f"Bearer {self.token}":
            return self._error(401, "Invalid access token")
        if not VERSION.match(headers.get("linkedin-version", "")):
            return self._error(400, "A valid LinkedIn-Version header (YYYYMM) is required")
        if headers.get("x-restli-protocol-version") != "2.0.0":
            return self._error(400, "X-Restli-Protocol-Version: 2.0.0 is required")
        with self._lock:
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - self.limits.window_seconds:
                self._recent.popleft()
            wait = (self._recent[0] + self.limits.window_seconds - now
                    if len(self._recent) >= self.limits.calls_per_minute else None)
            spent = self.calls_today >= self.limits.calls_per_day
            if injected is None and wait is None and not spent:
                self._recent.append(now)
                self.calls_today += 1
        if spent and injected is None:
            return self._error(429, "Resource level throttle APPLICATION DAY limit for calls to this resource is "
                                    "reached.")
        if injected is not None:
            return self._error(injected, "injected", {"Retry-After": "0"} if injected == 429 else {})
        if wait is not None:
            return self._error(429, "Resource level throttle limit reached", {"Retry-After": f"{wait:.0f}"})
        return None

    def _create(self, body: dict[str, Any]) -> Answer:
        if body.get("type") not in ("USER", "COMPANY") or not all(body.get(k) for k in ("name", "account",
                                                                                         "sourcePlatform")):
            return self._error(400, "name, account, sourcePlatform and type (USER or COMPANY) are required")
        if body.get("destinations") != [{"destination": "LINKEDIN"}]:
            return self._error(400, "destinations must be [{destination: LINKEDIN}]")
        with self._lock:
            segment_id = max(self.segments, default=100_000) + 1
            self.segments[segment_id] = Segment(segment_id, body["name"], body["account"], body["type"],
                                                time.monotonic())
        return 201, {"Content-Type": "application/json", "x-restli-id": str(segment_id)}, b""

    def _by_account(self, query: dict[str, list[str]]) -> Answer:
        account = (query.get("account") or [""])[0]
        found = [self._shown(self._refresh(s)) for s in self.segments.values() if s.account == account]
        return self._json(200, {"elements": found, "paging": {"start": 0, "count": len(found), "total": len(found)}})

    def _batch(self, segment: Segment, kind: str, body: dict[str, Any]) -> Answer:
        elements = body.get("elements")
        if not isinstance(elements, list) or not elements:
            return self._error(400, "elements is a non-empty list")
        if len(elements) > MAX_ELEMENTS:
            return self._error(400, f"at most {MAX_ELEMENTS} elements a call")
        if (kind == "users") != (segment.type == "USER"):
            return self._error(400, f"a {segment.type} segment takes no {kind}")
        if segment.status in ("FAILED", "EXPIRED"):
            return self._error(400, f"segment {segment.id} is {segment.status}")
        answers = []
        with self._lock:
            for element in elements:
                key = _user_key(element) if kind == "users" else _company_key(element)
                if element.get("action") not in ("ADD", "REMOVE") or key is None:
                    answers.append({"status": 400, "message": "an action (ADD or REMOVE) and an identifier"})
                    continue
                if key in self.unmatchable:
                    answers.append({"status": 400, "message": f"invalid identifier: {key}"})
                    continue
                held = segment.users if kind == "users" else segment.companies
                (held.add if element["action"] == "ADD" else held.discard)(key)
                answers.append({"status": 201})
        return self._json(200, {"elements": answers})

    def _refresh(self, segment: Segment) -> Segment:
        if segment.status == "BUILDING" and time.monotonic() - segment.created >= self.limits.build_seconds:
            segment.status = "READY"
        return segment

    def _shown(self, segment: Segment) -> dict[str, Any]:
        """A segment as LinkedIn shows it; once built, with how many entries it was sent and matched."""
        shown: dict[str, Any] = {
            "id": segment.id, "name": segment.name, "account": segment.account, "type": segment.type,
            "status": segment.status, "accessPolicy": "PRIVATE",
            "destinations": [{"destination": "LINKEDIN", "status": segment.status}]}
        if segment.status == "READY":
            entries = segment.users if segment.type == "USER" else segment.companies
            matched = len(entries) if self.known is None or segment.type != "USER" else len(entries & self.known)
            shown.update(inputCount=len(entries), matchedCount=matched, audienceSize=matched)
        return shown

    def _json(self, status: int, payload: dict[str, Any]) -> Answer:
        return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> Answer:
        payload = {"status": status, "message": message}
        return status, {"Content-Type": "application/json", **(extra or {})}, json.dumps(payload).encode()


def _user_key(element: dict[str, Any]) -> str | None:
    for user_id in element.get("userIds") or []:
        if user_id.get("idType") == "SHA256_EMAIL" and re.fullmatch(r"[0-9a-f]{64}", str(user_id.get("idValue"))):
            return str(user_id["idValue"])
    if element.get("firstName") and element.get("lastName"):
        return f"{element['firstName']}|{element['lastName']}|{element.get('companyName') or ''}"
    return None


def _company_key(element: dict[str, Any]) -> str | None:
    return element.get("organizationUrn") or element.get("companyWebsiteDomain") or element.get("companyName")
