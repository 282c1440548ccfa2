"""Google Ads Customer Match: a person audience as a CRM-based user list, changed through offline user data jobs;
e-mails, phones and names leave Accord only as SHA-256 of their normalised form, with the consent Google asks
for."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from accord.activation.destination import (
    Capabilities,
    Member,
    Outcome,
    Reach,
    update_by_adding,
)
from accord.connectors.google_ads.client import GoogleAdsClient
from accord.connectors.google_ads.config import GoogleAdsDestinationConfig
from accord.connectors.hashing import country_code, e164, normal_email, sha256
from accord.connectors.secrets import resolve_secret

PER_JOB = 10_000
"""Members per job: one identifier or two each, well under the 100,000 identifiers a request may carry."""


class GoogleAdsDestination:
    def __init__(self, config: GoogleAdsDestinationConfig, client: GoogleAdsClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        self.capabilities = Capabilities(needs=("email", "phone"), batch_size=PER_JOB, updates=True,
                                         reports_reach=True)
        self._lists: dict[str, str] = {}
        self._finding = threading.Lock()

    def list_name(self, audience: str) -> str:
        return self.config.user_lists.get(audience) or f"{self.workspace_name} · {audience}"

    def check(self) -> dict[str, int]:
        """The credentials search the customer's user lists; how many of the audiences' lists exist."""
        found = sum(self.client.user_list(self.list_name(a)) is not None for a in self.config.audiences)
        return {"user lists found": found, "to create": len(self.config.audiences) - found}

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        return self._job(audience, members, "create")

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        return self._job(audience, members, "remove")

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, ";")

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        return {}  # Customer Match does not say who is on a list: a cut-off run's changes are sent again

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def reach(self, audience: str) -> Reach | None:
        """The list's status, its size on the Display Network (on Search in the note) and its match rate."""
        resource = self._lists.get(audience) or self.client.user_list(self.list_name(audience))
        figures = self.client.user_list_figures(resource) if resource else None
        if figures is None:
            return None
        display, search = (_count(figures.get(k)) for k in ("sizeForDisplay", "sizeForSearch"))
        rate = figures.get("matchRatePercentage")
        state = str(figures.get("membershipStatus") or "UNKNOWN")
        note = f"{search:,} on Search" if search is not None else None
        if display is None and search is None:
            note = "not counted yet: Google sizes a list within a day or two of an upload"
        if state == "CLOSED":
            note = "closed: Google adds no one to it (closed for inactivity, or by hand); open it in Google Ads"
        return Reach(state, size_low=display, size_high=display, match_rate=float(rate) if rate is not None else None,
                     usable=state == "OPEN" if state in ("OPEN", "CLOSED") else None, note=note)

    def close(self) -> None:
        self.client.close()

    # Helpers --------------------------------------------------------------------------------------------------
    def _job(self, audience: str, members: list[Member], verb: str) -> list[Outcome]:
        keys = {m.profile_id: m.key or _key(m.fields, self.config.postal_code_field) for m in members}
        sendable = [m for m in members if keys[m.profile_id]]
        outcomes = [Outcome(m.profile_id, "skipped", "no_identifier") for m in members if not keys[m.profile_id]]
        groups: dict[tuple[str, str], list[Member]] = {}
        for member in sendable:  # consent is per job: one job per consent
            groups.setdefault(self._consent(member.fields), []).append(member)
        done = "added" if verb == "create" else "removed"
        user_list = self._user_list(audience)
        for (user_data, personalization), group in groups.items():
            job = self.client.create_job(user_list, {"adUserData": user_data, "adPersonalization": personalization})
            failed = set(self.client.add_operations(job, [
                {verb: {"userIdentifiers": _identifiers(keys[m.profile_id])}} for m in group]))
            self.client.run_and_wait(job, self.config.poll_seconds)
            outcomes += [Outcome(m.profile_id, "failed", "Google Ads refused the identifiers") if i in failed
                         else Outcome(m.profile_id, done, key=keys[m.profile_id]) for i, m in enumerate(group)]
        return outcomes

    def _consent(self, fields: dict[str, Any]) -> tuple[str, str]:
        """(ad_user_data, ad_personalization): a member's own statement, else the configured default (a refusal
        never gets here: the member was excluded)."""
        def granted(column: str, default: str) -> str:
            stated = str(fields.get(column) or fields.get("marketing_consent") or "").lower()
            return "GRANTED" if stated == "y" else default

        return granted("share_consent", self.config.ad_user_data), granted("ads_consent", self.config.ad_personalization)

    def _user_list(self, audience: str) -> str:
        with self._finding:
            if audience not in self._lists:
                name = self.list_name(audience)
                self._lists[audience] = self.client.user_list(name) or self.client.create_user_list(name)
            return self._lists[audience]


def _count(value: Any) -> int | None:
    """An int64 Google sends as a string; None when not determined yet."""
    return int(value) if value is not None and str(value).lstrip("-").isdigit() else None


def _key(fields: dict[str, Any], postal_code_field: str | None = None) -> str | None:
    """The member's identifiers (hashed where Google asks), kept as its key so a removal needs nothing else."""
    parts = []
    if fields.get("email"):
        parts.append(f"hashedEmail={sha256(normal_email(str(fields['email'])))}")
    phone = e164(str(fields["phone"])) if fields.get("phone") else None
    if phone:
        parts.append(f"hashedPhoneNumber={sha256(phone)}")
    address = _address(fields, postal_code_field) if postal_code_field else None
    if address:
        parts.append(f"addressInfo={'|'.join(address)}")
    return ";".join(parts) or None


def _address(fields: dict[str, Any], postal_code_field: str) -> tuple[str, str, str, str] | None:
    """Hashed first and last name, ISO country code, postal code: all four, or none (Google matches on all)."""
    first, last = (normal_name(str(fields.get(f) or "")) for f in ("first_name", "last_name"))
    postal = re.sub(r"\s+", " ", str(fields.get(postal_code_field) or "")).strip()
    country = country_code(str(fields.get("country") or ""))
    if not (first and last and postal and country):
        return None
    return sha256(first), sha256(last), country, postal


def normal_name(name: str) -> str:
    """Lower-cased, trimmed, without punctuation, as Google normalises names before hashing."""
    return re.sub(r"[^\w\s-]", "", name.strip().lower()).strip()


def _identifiers(key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, value in (part.split("=", 1) for part in key.split(";")):
        if name == "addressInfo":
            first, last, country, postal = value.split("|", 3)
            out.append({"addressInfo": {"hashedFirstName": first, "hashedLastName": last, "countryCode": country,
                                        "postalCode": postal}})
        else:
            out.append({name: value})
    return out


def open_destination(config: GoogleAdsDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> GoogleAdsDestination:
    client = GoogleAdsClient(config.endpoint, config.version, config.customer_id,
                             resolve_secret(config.access_token, root), resolve_secret(config.developer_token, root),
                             config.login_customer_id, config.timeout_seconds)
    return GoogleAdsDestination(config, client, workspace_name)
