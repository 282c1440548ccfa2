"""The LinkedIn Marketing API's DMP segments: versioned `/rest` calls with the protocol headers, paced under the
per-minute limit; refusals as `ConnectorError` (retryable for 429, 5xx and timeouts, with Retry-After)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from accord.connectors.http import checked, header_delay, http_client, json_object
from accord.connectors.pacing import Pacer


class LinkedInClient:
    def __init__(self, endpoint: str, token: str, version: str, calls_per_minute: int,
                 timeout: float = 30.0) -> None:
        self._http = http_client(base_url=endpoint.rstrip("/") + "/rest", timeout=timeout, headers={
            "Authorization": f"Bearer {token}", "LinkedIn-Version": version, "X-Restli-Protocol-Version": "2.0.0"})
        self.pacer = Pacer(calls_per_minute, 60.0, 1)

    def close(self) -> None:
        self._http.close()

    def segments(self, account: str) -> list[dict[str, Any]]:
        """The account's DMP segments."""
        found: list[dict[str, Any]] = []
        while True:
            page = self._answer("GET", "/dmpSegments", params={"q": "account", "account": account,
                                                                "start": len(found), "count": 100})
            found += page.get("elements") or []
            if len(found) >= (page.get("paging") or {}).get("total", 0) or not page.get("elements"):
                return found

    def create_segment(self, account: str, name: str, kind: str, platform: str) -> int:
        """A new, empty segment of USER or COMPANY entries; its id."""
        response = self._call("POST", "/dmpSegments", json={
            "name": name, "account": account, "type": kind, "sourcePlatform": platform,
            "accessPolicy": "PRIVATE", "destinations": [{"destination": "LINKEDIN"}]})
        return int(response.headers["x-restli-id"])

    def segment(self, segment_id: int) -> dict[str, Any]:
        return self._answer("GET", f"/dmpSegments/{segment_id}")

    def change(self, segment_id: int, kind: str, elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add or remove up to 5,000 users (or companies); one status per element."""
        answer = self._answer("POST", f"/dmpSegments/{segment_id}/{kind}", json={"elements": elements},
                              headers={"X-RestLi-Method": "BATCH_CREATE"})
        return list(answer.get("elements") or [])

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.pacer.slot():
            return checked("LinkedIn", f"{method} {path}", lambda: self._http.request(method, path, **kwargs),
                           delay=_delay)

    def _answer(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return json_object("LinkedIn", f"{method} {path}", self._call(method, path, **kwargs))


def _delay(response: httpx.Response) -> float | None:
    """Retry-After, or for a spent daily limit (said only in the message) the time to midnight UTC, when it resets."""
    if response.status_code == 429 and "DAY limit" in response.text:
        now = datetime.now(timezone.utc)
        return (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc) - now).total_seconds()
    return header_delay(response)
