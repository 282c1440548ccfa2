"""The Marketing API's custom audiences: Graph API calls with a Bearer token, paced under a per-minute budget; Meta
refuses a busy account with HTTP 400 and a rate-limit code, which is retried like a 429."""

from __future__ import annotations

import json
from typing import Any

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import checked, gist, http_client, json_object
from accord.connectors.pacing import Pacer

RATE_LIMITED = {4, 17, 32, 613, 80003}
"""Graph API error codes that mean: too many calls now (application, user, page, custom audience limits)."""
TRANSIENT = {1, 2}
"""Codes Meta marks as worth asking again (an unknown error, a service briefly down)."""
PER_CALL = 10_000
"""The most users one call adds or removes."""
FIGURES = "approximate_count_lower_bound,approximate_count_upper_bound,operation_status,delivery_status"
"""What a custom audience is asked for its reach."""
SCHEMA = ["EMAIL", "PHONE", "FN", "LN", "COUNTRY"]
"""The keys each user is sent by, every one SHA-256 of its normalised value (empty when unknown)."""


class MetaAdsClient:
    def __init__(self, endpoint: str, version: str, token: str, calls_per_minute: int, timeout: float = 60.0) -> None:
        self._http = http_client(base_url=f"{endpoint.rstrip('/')}/{version}", timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})
        self.pacer = Pacer(calls_per_minute, 60.0, 1)
        self.calls = 0

    def close(self) -> None:
        self._http.close()

    def custom_audiences(self, ad_account: str) -> list[dict[str, Any]]:
        """The ad account's custom audiences: id, name, subtype and operation status."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"fields": "id,name,subtype,operation_status", "limit": 100}
        while True:
            page = self._answer("GET", f"/{ad_account}/customaudiences", params=params)
            found += page.get("data") or []
            after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            if not (page.get("paging") or {}).get("next") or not after:
                return found
            params = {**params, "after": after}

    def figures(self, audience_id: str) -> dict[str, Any]:
        """A custom audience's approximate size (bounds, -1 when unknown) and its operation and delivery status."""
        return self._answer("GET", f"/{audience_id}", params={"fields": FIGURES})

    def create(self, ad_account: str, name: str, description: str) -> str:
        """A new, empty customer-list custom audience; its id."""
        made = self._answer("POST", f"/{ad_account}/customaudiences", data={
            "name": name, "subtype": "CUSTOM", "description": description,
            "customer_file_source": "USER_PROVIDED_ONLY"})
        return str(made["id"])

    def change(self, audience_id: str, users: list[list[str]], remove: bool) -> dict[str, Any]:
        """Add (or remove) users, each a row of hashed keys in `SCHEMA`'s order, `PER_CALL` at most: Meta says how
        many it received and how many it found invalid."""
        payload = json.dumps({"schema": SCHEMA, "data": users})
        return self._answer("DELETE" if remove else "POST", f"/{audience_id}/users", data={"payload": payload})

    def _answer(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        what = f"{method} {path}"
        self.calls += 1
        with self.pacer.slot():
            return json_object("Meta", what, checked("Meta", what, lambda: _refusal(
                self._http.request(method, path, **kwargs), what)))


def _refusal(response: httpx.Response, what: str) -> httpx.Response:
    """The response, unless Meta's error says the account is busy or Meta briefly down (retried), or the token is
    refused (said in words to act on)."""
    if response.status_code < 400:
        return response
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return response
    code, said = error.get("code"), gist(str(error.get("message") or response.text))
    if code in RATE_LIMITED or code in TRANSIENT or error.get("is_transient"):
        raise ConnectorError(f"Meta answered code {code} on {what}: {said}", retryable=True)
    if code == 190:
        raise ConnectorError(f"Meta refused the access token on {what}: {said}; check the destination's "
                             "access_token (a system user's, with ads_management)")
    return response
