"""A local Meta Marketing API for customer-list custom audiences, over real HTTP on 127.0.0.1, answering as the Graph
API does: a Bearer token, an ad account's custom audiences (paged by cursor), audiences made by name, users added
(POST) and removed (DELETE) as SHA-256 e-mails, 10,000 a call; a busy account refused with HTTP 400 and code 17,
a brief outage with HTTP 500 and code 2, faults on request."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from accord.testing.http import Answer, Faults, LocalServer

VERSION = re.compile(r"^/v\d+\.\d+/")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
KEYS = {"EMAIL_SHA256": "EMAIL", "EMAIL": "EMAIL", "PHONE": "PHONE", "FN": "FN", "LN": "LN", "COUNTRY": "COUNTRY",
        "CT": "CT", "ST": "ST", "ZIP": "ZIP", "GEN": "GEN", "DOBY": "DOBY"}
"""The hashed keys a customer list's users may be sent by (the single-key `EMAIL_SHA256` is `EMAIL`)."""
PER_CALL = 10_000
MIN_USERS = 100
"""The fewest matched users a custom audience needs before Meta delivers ads to it."""


@dataclass
class CustomAudience:
    id: str
    name: str
    subtype: str = "CUSTOM"
    status: int = 200  # operation_status code: 200 normal, 471 restricted
    users: set[tuple[tuple[str, str], ...]] = field(default_factory=set)  # (key, SHA-256) of each user's given keys

    def hashes(self, key: str) -> set[str]:
        """The hashed values of one key (EMAIL, PHONE, ...) among the audience's users."""
        return {value for user in self.users for k, value in user if k == key}


class MetaAdsServer(LocalServer, Faults):
    """One ad account's custom audiences; `token` is the Bearer token it accepts."""

    def __init__(self, ad_account: str = "act_1234567890", call_seconds: float = 0.0) -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.ad_account, self.token = ad_account, secrets.token_hex(16)
        self.call_seconds = call_seconds  # how long each answer takes, as the real API's does
        self.audiences: dict[str, CustomAudience] = {}
        self.known: set[str] | None = None
        """The hashed e-mails of Meta's users, which a custom audience's users match (None: every one sent)."""
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        injected = self.take(body)
        if injected is not None:
            if injected == 429:  # Meta says a busy account with a 400 and a rate-limit code
                return _error(400, 17, "User request limit reached", "OAuthException")
            return _error(500, 2, "Service temporarily unavailable", "OAuthException", transient=True)
        if headers.get("authorization") != f"Bearer {self.token}":
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")
        if not VERSION.match(path):
            return _error(400, 2635, "You are calling a deprecated version of the Ads API.", "OAuthException")
        with self._lock:
            self.calls.append((method, path))
        time.sleep(self.call_seconds)
        parts = path.strip("/").split("/")[1:]
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()} if body else {}
        if parts == [self.ad_account, "customaudiences"]:
            return self._list(query) if method == "GET" else self._create(form) if method == "POST" else _unknown()
        if len(parts) == 1 and parts[0] in self.audiences and method == "GET":
            return self._figures(self.audiences[parts[0]], query)
        if len(parts) == 2 and parts[1] == "users" and method in ("POST", "DELETE"):
            return self._users(parts[0], form, remove=method == "DELETE")
        return _unknown()

    def _list(self, query: dict[str, list[str]]) -> Answer:
        limit, start = int(query.get("limit", ["25"])[0]), int(query.get("after", ["0"])[0])
        with self._lock:
            held = sorted(self.audiences.values(), key=lambda a: a.id)
        page = [{"id": a.id, "name": a.name, "subtype": a.subtype,
                 "operation_status": {"code": a.status, "description": "Normal" if a.status == 200 else "Restricted"}}
                for a in held[start:start + limit]]
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + limit < len(held):
            paging["next"] = f"/{self.ad_account}/customaudiences?after={start + len(page)}"
        return _json({"data": page, "paging": paging})

    def _figures(self, held: CustomAudience, query: dict[str, list[str]]) -> Answer:
        """The fields asked of a custom audience: its size as a range about its matched users, its statuses."""
        matched = sum(1 for user in held.users if self.known is None
                      or any(k == "EMAIL" and v in self.known for k, v in user))
        small = matched < MIN_USERS
        shown = {"id": held.id, "approximate_count_lower_bound": matched * 9 // 10 if matched else -1,
                 "approximate_count_upper_bound": matched * 11 // 10 if matched else -1,
                 "operation_status": {"code": held.status, "description": "Normal" if held.status == 200 else
                                      "This audience has been restricted."},
                 "delivery_status": {"code": 300 if small else 200, "description": (
                     "This audience is too small to deliver ads." if small else "This audience is ready for use.")}}
        asked = (query.get("fields") or ["id"])[0].split(",")
        return _json({k: v for k, v in shown.items() if k in asked or k == "id"})

    def _create(self, form: dict[str, str]) -> Answer:
        if form.get("subtype") != "CUSTOM" or not form.get("name"):
            return _error(400, 100, "Invalid parameter", "OAuthException")
        with self._lock:
            made = CustomAudience(str(23850000000000000 + len(self.audiences)), form["name"])
            self.audiences[made.id] = made
        return _json({"id": made.id})

    def _users(self, audience_id: str, form: dict[str, str], remove: bool) -> Answer:
        held = self.audiences.get(audience_id)
        if held is None:
            return _error(400, 100, f"Unsupported post request. Object with ID '{audience_id}' does not exist",
                          "GraphMethodException")
        if held.status == 471:
            return _error(400, 100, "Invalid parameter", "OAuthException")
        try:
            payload = json.loads(form["payload"])
            schema = [payload["schema"]] if isinstance(payload["schema"], str) else list(payload["schema"])
            rows = [tuple(row) for row in payload["data"]]
        except (KeyError, ValueError, TypeError):
            return _error(400, 100, "(#100) param payload must be a JSON object with schema and data",
                          "OAuthException")
        if not schema or any(k not in KEYS for k in schema) or len(rows) > PER_CALL \
                or any(len(row) != len(schema) for row in rows):
            return _error(400, 100, "Invalid parameter", "OAuthException")
        # Every key hashed (empty when unknown), and some key given.
        valid = [r for r in rows if all(isinstance(v, str) and (v == "" or SHA256.match(v)) for v in r) and any(r)]
        users = {tuple((KEYS[k], v) for k, v in zip(schema, row) if v) for row in valid}
        with self._lock:
            if remove:
                held.users -= users
            else:
                held.users |= users
        invalid = [r for r in rows if r not in valid]
        return _json({"audience_id": audience_id, "session_id": secrets.randbelow(10**18), "num_received": len(rows),
                      "num_invalid_entries": len(invalid),
                      "invalid_entry_samples": {str(r): "Invalid SHA256 value" for r in invalid[:10]}})


def _json(body: dict[str, Any], status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body).encode()


def _error(status: int, code: int, message: str, kind: str, transient: bool = False) -> Answer:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGh123"}
    return _json({"error": {**error, **({"is_transient": True} if transient else {})}}, status)


def _unknown() -> Answer:
    return _error(400, 100, "Unsupported request - method type or path", "GraphMethodException")
