"""The Google Ads REST API for Customer Match: user lists, and offline user data jobs (create, add operations,
run, poll the long-running operation); refusals as `ConnectorError` (retryable for 429 RESOURCE_EXHAUSTED, 5xx
and timeouts, with the retry delay Google gives)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.http import checked, http_client, json_object


class GoogleAdsClient:
    def __init__(self, endpoint: str, version: str, customer_id: str, access_token: str, developer_token: str,
                 login_customer_id: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {access_token}", "developer-token": developer_token}
        if login_customer_id:
            headers["login-customer-id"] = login_customer_id
        self.base, self.customer_id = f"/{version}/customers/{customer_id}", customer_id
        self._http = http_client(base_url=endpoint.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def user_list(self, name: str) -> str | None:
        """The resource name of the user list called `name`, if there is one."""
        quoted = name.replace("\\", "\\\\").replace("'", "\\'")
        found = self._call("googleAds:search", {"query": "SELECT user_list.resource_name, user_list.name FROM "
                                                         f"user_list WHERE user_list.name = '{quoted}'"})
        rows = found.get("results") or []
        return str(rows[0]["userList"]["resourceName"]) if rows else None

    def user_list_figures(self, resource: str) -> dict[str, Any] | None:
        """A user list's membership status, sizes (int64, so strings in JSON) and match rate, as Google counts
        them; None when there is no such list."""
        found = self._call("googleAds:search", {"query": (
            "SELECT user_list.resource_name, user_list.membership_status, user_list.size_for_display, "
            "user_list.size_for_search, user_list.match_rate_percentage FROM user_list "
            f"WHERE user_list.resource_name = '{resource}'")})
        rows = found.get("results") or []
        return dict(rows[0]["userList"]) if rows else None

    def create_user_list(self, name: str) -> str:
        made = self._call("userLists:mutate", {"operations": [{"create": {
            "name": name, "description": "Kept in step with an Accord audience.", "membershipLifeSpan": 10000,
            "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO"}}}]})
        return str(made["results"][0]["resourceName"])

    def create_job(self, user_list: str, consent: dict[str, str]) -> str:
        made = self._call("offlineUserDataJobs:create", {"job": {
            "type": "CUSTOMER_MATCH_USER_LIST",
            "customerMatchUserListMetadata": {"userList": user_list, "consent": consent}}})
        return str(made["resourceName"]).rsplit("/", 1)[1]

    def add_operations(self, job: str, operations: list[dict[str, Any]]) -> list[int]:
        """Add operations with partial failure on; the indexes of those that failed."""
        answer = self._call(f"offlineUserDataJobs/{job}:addOperations",
                            {"operations": operations, "enablePartialFailure": True})
        failed = (answer.get("partialFailureError") or {}).get("details") or []
        return sorted({int(e["location"]["fieldPathElements"][0]["index"]) for d in failed for e in d.get("errors", [])
                       if e.get("location")})

    def run_and_wait(self, job: str, poll_seconds: float, give_up_after: float = 3600.0) -> None:
        """Run the job and poll its operation until it is done (Google processes a job in minutes to hours)."""
        operation = self._call(f"offlineUserDataJobs/{job}:run", {})["name"]
        deadline = time.monotonic() + give_up_after
        while True:
            answer = self._call(operation.removeprefix(f"customers/{self.customer_id}/"), None)
            if answer.get("done"):
                if answer.get("error"):
                    raise ConnectorError(f"Customer Match job {job} failed: {answer['error']}")
                return
            if time.monotonic() > deadline:
                raise ConnectorError(f"Customer Match job {job} still running after {give_up_after:.0f} s",
                                     retryable=True)
            time.sleep(poll_seconds)

    def _call(self, route: str, body: dict[str, Any] | None) -> dict[str, Any]:
        path = f"{self.base}/{route}"
        send = (lambda: self._http.post(path, json=body)) if body is not None else (lambda: self._http.get(path))
        return json_object("Google Ads", route, checked("Google Ads", route, send, _retry_delay))


def _retry_delay(response: httpx.Response) -> float | None:
    """The `retryDelay` ("30s") Google puts in a RESOURCE_EXHAUSTED error's quota details."""
    found = re.search(r'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"', response.text)
    return float(found.group(1)) if found else None
