"""LinkedIn Matched Audiences: a person audience as a user segment, an account audience as a company segment,
kept in step by ADD and REMOVE elements; e-mails leave Accord only as SHA-256 of the normalised address."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from accord.activation.destination import (
    Capabilities,
    DeliveryError,
    Member,
    Outcome,
    Reach,
    update_by_adding,
)
from accord.connectors.hashing import hashed_email
from accord.connectors.linkedin.client import LinkedInClient
from accord.connectors.linkedin.config import LinkedInDestinationConfig
from accord.connectors.secrets import resolve_secret

KINDS = {"person": ("USER", "users"), "account": ("COMPANY", "companies")}
MIN_MATCHED = 300
"""The fewest matched members a segment needs before LinkedIn runs a campaign on it."""


class LinkedInDestination:
    def __init__(self, config: LinkedInDestinationConfig, client: LinkedInClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        self.capabilities = Capabilities(needs=("email", "last_name", "name", "domain"), batch_size=5000,
                                         updates=True, reports_reach=True)
        self._segments: dict[str, int] = {}
        self._finding = threading.Lock()

    def segment_name(self, audience: str) -> str:
        return self.config.segments.get(audience) or f"{self.workspace_name} · {audience}"

    def check(self) -> dict[str, int]:
        """The token reads the ad account's segments; how many of the audiences' segments exist already."""
        names = {s.get("name") for s in self.client.segments(self.config.ad_account)}
        found = sum(self.segment_name(a) in names for a in self.config.audiences)
        return {"segments found": found, "to create": len(self.config.audiences) - found}

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        return self._change(audience, members, "ADD")

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        return self._change(audience, members, "REMOVE")

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, None)

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        return {}  # LinkedIn does not say who is in a segment: a cut-off run's changes are sent again

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def reach(self, audience: str) -> Reach | None:
        """The segment's status, how many of those sent LinkedIn matched, and the audience it can serve ads to."""
        segment = self.client.segment(self._segments[audience]) if audience in self._segments else self._held(audience)
        if segment is None:
            return None
        matched, sent, size = (segment.get(k) for k in ("matchedCount", "inputCount", "audienceSize"))
        state = str(segment.get("status") or "UNKNOWN")
        small = matched is not None and matched < MIN_MATCHED
        note = f"LinkedIn serves ads to segments of {MIN_MATCHED} matched members or more" if small else None
        if state in ("FAILED", "EXPIRED"):
            note = f"the segment is {state}: archive it in Campaign Manager, and the next run makes a new one"
        usable = False if state in ("FAILED", "EXPIRED") or small else True if state == "READY" else None
        return Reach(state, matched=matched, uploaded=sent, size_low=size, size_high=size,
                     match_rate=100 * matched / sent if matched is not None and sent else None, usable=usable,
                     note=note)

    def close(self) -> None:
        self.client.close()

    # Helpers --------------------------------------------------------------------------------------------------
    def _change(self, audience: str, members: list[Member], action: str) -> list[Outcome]:
        kind = members[0].kind
        keys = {m.profile_id: m.key or _key(kind, m.fields, self.config.organization_field) for m in members}
        sendable = [m for m in members if keys[m.profile_id]]
        outcomes = [Outcome(m.profile_id, "skipped", "no_identifier") for m in members if not keys[m.profile_id]]
        if not sendable:
            return outcomes
        segment = self._segment_id(audience, kind)
        answers = self.client.change(segment, KINDS[kind][1], [
            {"action": action, **_element(keys[m.profile_id], m.fields)} for m in sendable])
        done = "added" if action == "ADD" else "removed"
        for member, answer in zip(sendable, answers):
            if int(answer.get("status", 0)) in (200, 201):
                outcomes.append(Outcome(member.profile_id, done, key=keys[member.profile_id]))
            else:
                outcomes.append(Outcome(member.profile_id, "failed", f"LinkedIn {answer.get('status')}: "
                                                                     f"{answer.get('message', '')}"))
        return outcomes

    def _held(self, audience: str) -> dict[str, Any] | None:
        """The ad account's segment of the audience's name, if there is one."""
        name = self.segment_name(audience)
        return next((s for s in self.client.segments(self.config.ad_account) if s.get("name") == name), None)

    def _segment_id(self, audience: str, kind: str) -> int:
        with self._finding:
            if audience not in self._segments:
                name = self.segment_name(audience)
                segment = self._held(audience)
                if segment is None:
                    created = self.client.create_segment(self.config.ad_account, name, KINDS[kind][0],
                                                         self.config.source_platform)
                    time.sleep(self.config.settle_seconds)  # LinkedIn: wait before adding to a new segment
                    segment = self.client.segment(created)
                if segment.get("type") != KINDS[kind][0]:
                    raise DeliveryError(f"LinkedIn segment {name!r} holds {segment.get('type')} entries, not "
                                        f"{KINDS[kind][0]}")
                if segment.get("status") in ("FAILED", "EXPIRED"):
                    raise DeliveryError(f"LinkedIn segment {name!r} is {segment['status']}: archive it, and Accord "
                                        "makes a new one")
                self._segments[audience] = int(segment["id"])
            return self._segments[audience]


def _key(kind: str, fields: dict[str, Any], organization_field: str | None = None) -> str | None:
    """What identifies a member to LinkedIn, kept as the member's key so a removal needs nothing else."""
    if kind == "person":
        if fields.get("email"):
            return f"SHA256_EMAIL:{hashed_email(str(fields['email']))}"
        if fields.get("first_name") and fields.get("last_name"):
            return f"NAME:{fields['first_name']}|{fields['last_name']}|{fields.get('company_name') or ''}"
        return None
    organization = str(fields.get(organization_field) or "").strip() if organization_field else ""
    if organization.isdigit() or organization.startswith("urn:li:organization:"):
        return f"ORGANIZATION:{organization if organization.startswith('urn:') else 'urn:li:organization:' + organization}"
    if fields.get("domain"):
        return f"DOMAIN:{fields['domain']}"
    return f"COMPANY:{fields['name']}" if fields.get("name") else None


def _element(key: str, fields: dict[str, Any]) -> dict[str, Any]:
    how, _, value = key.partition(":")
    if how == "SHA256_EMAIL":
        return {"userIds": [{"idType": "SHA256_EMAIL", "idValue": value}]}
    if how == "NAME":
        first, last, company = value.split("|", 2)
        return {"firstName": first, "lastName": last, **({"companyName": company} if company else {})}
    if how == "ORGANIZATION":
        return {"organizationUrn": value, **({"companyName": fields["name"]} if fields.get("name") else {})}
    if how == "DOMAIN":
        return {"companyWebsiteDomain": value, **({"companyName": fields["name"]} if fields.get("name") else {})}
    return {"companyName": value}


def open_destination(config: LinkedInDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> LinkedInDestination:
    client = LinkedInClient(config.endpoint, resolve_secret(config.access_token, root), config.version,
                            config.calls_per_minute, config.timeout_seconds)
    return LinkedInDestination(config, client, workspace_name)
