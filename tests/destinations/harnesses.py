"""One harness per registered destination: the settings that point it at a local stand-in, what the stand-in holds
for an audience now, and the faults the system can answer with (in the system's own form)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from accord.connectors.dynamics.server import DynamicsServer
from accord.connectors.google_ads.server import GoogleAdsServer
from accord.connectors.hashing import hashed_email, normal_email
from accord.connectors.hashing import sha256 as google_sha256
from accord.connectors.hubspot.server import HubSpotServer
from accord.connectors.linkedin.server import Limits as LinkedInLimits
from accord.connectors.linkedin.server import LinkedInServer
from accord.connectors.marketo.data import MarketoData
from accord.connectors.marketo.server import Limits, MarketoServer
from accord.connectors.meta_ads.server import MetaAdsServer
from accord.connectors.salesforce.server import SalesforceData, SalesforceServer
from accord.connectors.webhook.destination import SIGNATURE_HEADER, sign
from accord.lake.store import Lake
from accord.testing.http import Answer, Faults, LocalServer

AUDIENCE = "Webinar attendees"
SECRET = "conformance-secret"
RETRY = {"backoff_seconds": 0.01, "max_attempts": 3}


class Harness:
    """What the suite asks of a destination's stand-in."""

    faults: frozenset[str] = frozenset()
    """Of "rate limited", "server error", "timeout": the ones this system answers with."""
    secrets: dict[str, str] = {}
    """Environment variables the settings' secret references read."""
    settles: bool = True
    """Whether a change a cut-off run sent is never sent again (the destination can say what it got, or commits
    nothing before the run ends); a webhook cannot say, so its receivers must take a change twice."""

    hashes: bool = False
    """Whether the destination must receive identifiers hashed, never in plain."""

    def resent(self) -> int:
        """How many members the destination was sent more than once."""
        return 0

    def refuse(self, lake: Lake, member: tuple[str, str]) -> set[str] | None:
        """Make the stand-in refuse this member alone (its identifiers, as `expected` names them); None when the
        system answers for a whole batch only."""
        return None

    def bodies(self) -> list[bytes]:
        """Every request body the stand-in received."""
        return []

    def settings(self, root: Path) -> dict[str, Any]:
        raise NotImplementedError

    def held(self, root: Path, workspace_name: str) -> set[str]:
        """What the destination holds for AUDIENCE now, by its own identifier (default: lower-cased e-mails)."""
        raise NotImplementedError

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        """What it should hold for these members (profile id, e-mail), by the same identifier."""
        return {email.lower() for _, email in members}

    def inject(self, fault: str) -> None:
        raise NotImplementedError

    def answered(self, fault: str) -> bool:
        """Whether the system did answer with the injected fault."""
        raise NotImplementedError

    def close(self) -> None:
        return None


class MarketoHarness(Harness):
    # Marketo answers these as error codes in a 200 envelope: 606 rate limit, 611 system error, 604 timed out.
    faults = frozenset({"rate limited", "server error", "timeout"})
    CODES = {"rate limited": "606", "server error": "611", "timeout": "604"}

    def __init__(self, tiny_world: Path) -> None:
        self.server = MarketoServer(MarketoData.from_folder(tiny_world / "marketo"),
                                    limits=Limits(calls_per_window=100, window_seconds=0.3))
        self.server.__enter__()
        self.secrets = {"CONFORMANCE_MKTO_SECRET": self.server.client_secret}

    def settings(self, root: Path) -> dict[str, Any]:
        return {"type": "marketo", "munchkin_id": self.server.munchkin_id, "endpoint": self.server.endpoint,
                "client_id": self.server.client_id, "client_secret": "env:CONFORMANCE_MKTO_SECRET", "folder_id": 12,
                **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        """Lead ids on the audience's list."""
        lists = [int(x["id"]) for x in self.server.data.lists if x["name"] == f"{workspace_name} · {AUDIENCE}"]
        return {str(i) for i in self.server.data.list_members.get(lists[0], [])} if lists else set()

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        """Each member's own leads in this instance, else the leads with its e-mail; never a lead created."""
        data, prefix = self.server.data, f"{self.server.munchkin_id}:"
        by_email: dict[str, list[str]] = {}
        for lead, email in zip(data.leads["id"].to_pylist(), data.leads["email"].to_pylist()):
            if email:
                by_email.setdefault(str(email).lower(), []).append(str(lead))
        own: dict[str, list[str]] = {}
        for profile, value in lake.execute("SELECT profile_id, value FROM identity_nodes WHERE kind = 'person' "
                                           "AND namespace = 'marketo_lead_id'").fetchall():
            if value.startswith(prefix):
                own.setdefault(profile, []).append(value[len(prefix):])
        return {lead for profile, email in members for lead in own.get(profile) or by_email.get(email.lower(), [])}

    def inject(self, fault: str) -> None:
        self.server.fail_next(self.CODES[fault], path_contains="/lists/")

    def answered(self, fault: str) -> bool:
        return self.server.errors_sent.get(self.CODES[fault], 0) > 0

    def resent(self) -> int:
        return sum(1 for n in self.server.list_adds.values() if n > 1)

    def refuse(self, lake: Lake, member: tuple[str, str]) -> set[str]:
        """Its leads are answered 1004 (deleted since Accord looked them up)."""
        leads = self.expected(lake, [member])
        self.server.unmatchable |= {int(i) for i in leads}
        return leads

    def close(self) -> None:
        self.server.stop()


class HttpFaults(Harness):
    """A stand-in on `testing.http.Faults`: a rate limit is a 429, a server error a 503, a timeout a late answer."""

    server: Any

    def inject(self, fault: str) -> None:
        if fault == "timeout":
            self.server.answer_late()
        else:
            self.server.fail_next(429 if fault == "rate limited" else 503)

    def answered(self, fault: str) -> bool:
        return bool(self.server.injected) if fault != "timeout" else self.server.held_late > 0

    def refuse(self, lake: Lake, member: tuple[str, str]) -> set[str]:
        """Its hashed identifiers are answered as invalid, alone."""
        keys = self.expected(lake, [member])
        self.server.unmatchable |= keys
        return keys

    def bodies(self) -> list[bytes]:
        return list(self.server.bodies)

    def close(self) -> None:
        self.server.stop()


class WebhookReceiver(LocalServer, Faults):
    """A receiver that checks each body's signature and keeps who it was told is in (e-mail by profile)."""

    def __init__(self) -> None:
        LocalServer.__init__(self)
        Faults.__init__(self)
        self.state: dict[str, str] = {}
        self.sent: dict[str, int] = {}  # profile → times the receiver was told it is in

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        status = self.take(body)
        if status is not None:
            return status, {"Retry-After": "0"} if status == 429 else {}, b""
        if headers.get(SIGNATURE_HEADER.lower()) != sign(SECRET, body):
            return 401, {}, b""
        for change in json.loads(body)["changes"]:
            if change["status"] == "realized":
                self.state[change["profile_id"]] = change["identities"]["email"].lower()
                self.sent[change["profile_id"]] = self.sent.get(change["profile_id"], 0) + 1
            elif change["status"] == "updated":
                self.state[change["profile_id"]] = change["identities"]["email"].lower()
            else:
                self.state.pop(change["profile_id"], None)
        return 200, {}, b""


class WebhookHarness(HttpFaults):
    faults = frozenset({"rate limited", "server error", "timeout"})
    secrets = {"CONFORMANCE_HOOK_SECRET": SECRET}
    settles = False

    def __init__(self) -> None:
        self.server = WebhookReceiver()
        self.server.start()

    def settings(self, root: Path) -> dict[str, Any]:
        return {"type": "webhook", "url": f"{self.server.endpoint}/hook", "secret": "env:CONFORMANCE_HOOK_SECRET",
                "batch_size": 50, "timeout_seconds": 0.3, **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        return set(self.server.state.values())

    def resent(self) -> int:
        return sum(1 for n in self.server.sent.values() if n > 1)

    def refuse(self, lake: Lake, member: tuple[str, str]) -> set[str] | None:
        return None  # a receiver answers for a whole message

    def bodies(self) -> list[bytes]:
        return []  # identifiers go as they are: not a hashing destination


class FileHarness(Harness):
    """A folder answers no rate limit, no server error and no timeout: only the behaviours without faults apply."""

    def settings(self, root: Path) -> dict[str, Any]:
        self.root = root
        return {"type": "file", "url": "exports", "format": "csv", "mode": "snapshot", **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        return set(self._latest())

    def resent(self) -> int:
        """Rows of the latest snapshot naming a member already named: a file holds each member once."""
        rows = self._latest()
        return len(rows) - len(set(rows))

    def _latest(self) -> list[str]:
        manifests = sorted((self.root / "exports").rglob("manifest.json"))
        if not manifests:
            return []
        run = manifests[-1].parent
        manifest = json.loads((run / "manifest.json").read_text())
        at = manifest["columns"].index("email")
        return [line.split(",")[at].strip('"').lower() for part in manifest["parts"]
                for line in (run / part["file"]).read_text().splitlines()[1:]]


class LinkedInHarness(HttpFaults):
    faults = frozenset({"rate limited", "server error", "timeout"})
    hashes = True
    settles = False  # LinkedIn does not say who is in a segment

    def __init__(self) -> None:
        self.server = LinkedInServer(LinkedInLimits(build_seconds=0.01))
        self.server.start()
        self.secrets = {"CONFORMANCE_LINKEDIN_TOKEN": self.server.token}

    def settings(self, root: Path) -> dict[str, Any]:
        return {"type": "linkedin", "endpoint": self.server.endpoint, "ad_account": "urn:li:sponsoredAccount:507",
                "access_token": "env:CONFORMANCE_LINKEDIN_TOKEN", "settle_seconds": 0.01, "timeout_seconds": 0.3,
                **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        """Hashed e-mails in the audience's user segment."""
        found = [s for s in self.server.segments.values() if s.name == f"{workspace_name} · {AUDIENCE}"]
        return set(found[0].users) if found else set()

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        return {hashed_email(email) for _, email in members}



class GoogleAdsHarness(HttpFaults):
    faults = frozenset({"rate limited", "server error", "timeout"})
    hashes = True
    settles = False  # Customer Match does not say who is on a list

    def __init__(self) -> None:
        self.server = GoogleAdsServer()
        self.server.start()
        self.secrets = {"CONFORMANCE_GOOGLE_TOKEN": self.server.token,
                        "CONFORMANCE_GOOGLE_DEVELOPER": self.server.developer_token}

    def settings(self, root: Path) -> dict[str, Any]:
        return {"type": "google_ads", "endpoint": self.server.endpoint, "customer_id": self.server.customer_id,
                "access_token": "env:CONFORMANCE_GOOGLE_TOKEN", "developer_token": "env:CONFORMANCE_GOOGLE_DEVELOPER",
                "poll_seconds": 0.01, "timeout_seconds": 0.3, **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        return self.server.members(f"{workspace_name} · {AUDIENCE}")

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        return {google_sha256(normal_email(email)) for _, email in members}



class SalesforceHarness(Harness):
    # Salesforce refuses a busy org with 403 REQUEST_LIMIT_EXCEEDED and an outage with 503 SERVER_UNAVAILABLE.
    faults = frozenset({"rate limited", "server error", "timeout"})
    CODES = {"rate limited": "REQUEST_LIMIT_EXCEEDED", "server error": "SERVER_UNAVAILABLE"}

    def __init__(self, tiny_world: Path) -> None:
        self.server = SalesforceServer(SalesforceData.from_folder(tiny_world / "salesforce"))
        self.server.start()
        self.secrets = {"CONFORMANCE_SF_SECRET": self.server.client_secret}

    def settings(self, root: Path) -> dict[str, Any]:
        return {"type": "salesforce", "org_id": "00D5e0000012345EAA", "instance_url": self.server.endpoint,
                "client_id": self.server.client_id, "client_secret": "env:CONFORMANCE_SF_SECRET",
                "timeout_seconds": 0.3, **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        """Contact and lead ids that are members of the audience's campaign."""
        data = self.server.data
        campaigns = {r["Id"] for r in data.records["Campaign"] if r["Name"] == f"{workspace_name} · {AUDIENCE}"}
        return {str(r["ContactId"] or r["LeadId"]) for r in data.records["CampaignMember"]
                if r["CampaignId"] in campaigns and r.get("IsDeleted") != "true"}

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        """Each member's own contacts in the org, else its leads, else the contacts (then unconverted leads) with
        its e-mail; never a record created."""
        data = self.server.data
        own: dict[str, list[str]] = {}
        for profile, value in lake.execute("SELECT profile_id, value FROM identity_nodes WHERE kind = 'person' "
                                           "AND namespace = 'crm_id'").fetchall():
            if value[:3] in ("003", "00Q"):
                own.setdefault(profile, []).append(value)
        by_email: dict[str, dict[str, list[str]]] = {"Contact": {}, "Lead": {}}
        for sobject, found in by_email.items():
            for r in data.records[sobject]:
                if r.get("Email") and r.get("IsDeleted") != "true" and r.get("IsConverted") != "true":
                    found.setdefault(r["Email"].lower(), []).append(r["Id"])
        held: set[str] = set()
        for profile, email in members:
            ids = own.get(profile, [])
            held |= set([i for i in ids if i.startswith("003")] or ids or by_email["Contact"].get(email.lower())
                        or by_email["Lead"].get(email.lower(), []))
        return held

    def inject(self, fault: str) -> None:
        if fault == "timeout":
            self.server.answer_late()
        else:
            self.server.fail_next(self.CODES[fault])

    def answered(self, fault: str) -> bool:
        return self.server.held_late > 0 if fault == "timeout" else self.server.errors_sent.get(self.CODES[fault], 0) > 0

    def refuse(self, lake: Lake, member: tuple[str, str]) -> set[str]:
        """A validation rule refuses writes naming its contacts or leads."""
        records = self.expected(lake, [member])
        for record in records:
            self.server.data.refuse(record)
        return records

    def resent(self) -> int:
        """Campaign members made twice for one contact or lead."""
        made = [r["ContactId"] or r["LeadId"] for r in self.server.data.records["CampaignMember"]
                if ("create", "CampaignMember", r["Id"]) in set(self.server.data.writes)]
        return len(made) - len(set(made))

    def close(self) -> None:
        self.server.stop()


class HubSpotHarness(HttpFaults):
    """A portal holding a contact per e-mail of the world's Marketo leads (HubSpot keeps one contact per e-mail)."""

    faults = frozenset({"rate limited", "server error", "timeout"})

    def __init__(self, tiny_world: Path) -> None:
        self.server = HubSpotServer()
        leads = MarketoData.from_folder(tiny_world / "marketo").leads
        for lead, email in zip(leads["id"].to_pylist(), leads["email"].to_pylist()):
            if email and not self._contact(str(email)):
                self.server.put("contacts", lead, datetime(2026, 1, 5, tzinfo=timezone.utc), email=str(email).lower())
        self.server.start()
        self.secrets = {"CONFORMANCE_HUBSPOT_TOKEN": self.server.token}

    def _contact(self, email: str) -> str | None:
        return next((i for i, r in self.server.records["contacts"].items()
                     if r["properties"].get("email") == email.lower()), None)

    def settings(self, root: Path) -> dict[str, Any]:
        return {"type": "hubspot", "portal_id": self.server.portal_id, "access_token": "env:CONFORMANCE_HUBSPOT_TOKEN",
                "url": self.server.endpoint, "timeout_seconds": 0.3, **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        """Contact ids on the audience's list."""
        return {i for held in self.server.lists.values() if held["name"] == f"{workspace_name} · {AUDIENCE}"
                for i in held["members"]}

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        """The contact with each member's e-mail; never a contact created."""
        by_email = {str(r["properties"].get("email")): i for i, r in self.server.records["contacts"].items()}
        return {by_email[email.lower()] for _, email in members if email.lower() in by_email}

    def refuse(self, lake: Lake, member: tuple[str, str]) -> set[str]:
        """Its contact is deleted after Accord looks it up: the list change answers it as missing."""
        contacts = self.expected(lake, [member])
        self.server.deleted |= contacts
        return contacts

    def resent(self) -> int:
        """Contacts added to a list more than once."""
        return sum(1 for times in self.server.added.values() if times > 1)


class DynamicsHarness(HttpFaults):
    """An environment holding an active contact per e-mail of the world's Marketo leads."""

    faults = frozenset({"rate limited", "server error", "timeout"})

    def __init__(self, tiny_world: Path) -> None:
        self.server = DynamicsServer()
        leads = MarketoData.from_folder(tiny_world / "marketo").leads
        for lead, email in zip(leads["id"].to_pylist(), leads["email"].to_pylist()):
            if email and str(email).lower() not in self._by_email():
                self.server.put("contact", str(uuid.uuid5(uuid.NAMESPACE_URL, f"lead:{lead}")),
                                datetime(2026, 1, 5, tzinfo=timezone.utc), emailaddress1=str(email).lower())
        self.server.start()
        self.secrets = {"CONFORMANCE_DYNAMICS_SECRET": self.server.secret}

    def _by_email(self) -> dict[str, str]:
        return {str(r.get("emailaddress1")): i for i, r in self.server.records["contact"].items()}

    def settings(self, root: Path) -> dict[str, Any]:
        server = self.server
        return {"type": "dynamics", "url": server.endpoint, "login_url": server.endpoint,
                "organization_id": server.organization_id, "tenant_id": server.tenant_id,
                "client_id": server.client_id, "client_secret": "env:CONFORMANCE_DYNAMICS_SECRET",
                "timeout_seconds": 0.3, **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        """Contact ids on the audience's marketing list."""
        return {i for held in self.server.lists.values() if held["name"] == f"{workspace_name} · {AUDIENCE}"
                for i in held["members"]}

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        """The contact with each member's e-mail; never a contact created."""
        by_email = self._by_email()
        return {by_email[email.lower()] for _, email in members if email.lower() in by_email}

    def refuse(self, lake: Lake, member: tuple[str, str]) -> set[str]:
        """Its contact is deleted after Accord finds it: adding it is answered `Does Not Exist`."""
        contacts = self.expected(lake, [member])
        self.server.vanished |= contacts
        return contacts

    def resent(self) -> int:
        """Contacts added to a list more than once."""
        return sum(1 for times in self.server.added.values() if times > 1)


class MetaAdsHarness(HttpFaults):
    # Meta refuses a busy account with HTTP 400 and code 17, and says a brief outage with HTTP 500 and code 2.
    faults = frozenset({"rate limited", "server error", "timeout"})
    hashes = True
    settles = False  # Meta does not say who is in a custom audience

    def __init__(self) -> None:
        self.server = MetaAdsServer()
        self.server.start()
        self.secrets = {"CONFORMANCE_META_TOKEN": self.server.token}

    def settings(self, root: Path) -> dict[str, Any]:
        return {"type": "meta_ads", "endpoint": self.server.endpoint, "ad_account": self.server.ad_account,
                "access_token": "env:CONFORMANCE_META_TOKEN", "timeout_seconds": 0.3, **RETRY}

    def held(self, root: Path, workspace_name: str) -> set[str]:
        """Hashed e-mails in the audience's custom audience."""
        found = [a for a in self.server.audiences.values() if a.name == f"{workspace_name} · {AUDIENCE}"]
        return found[0].hashes("EMAIL") if found else set()

    def expected(self, lake: Lake, members: list[tuple[str, str]]) -> set[str]:
        return {hashed_email(email) for _, email in members}

    def refuse(self, lake: Lake, member: tuple[str, str]) -> None:
        """Meta takes a batch whole: a valid hash is never refused alone."""
        return None


def harness_for(kind: str, tiny_world: Path) -> Harness:
    """The harness of a registered destination type; a type without one fails the suite, by design."""
    made = {"marketo": lambda: MarketoHarness(tiny_world), "webhook": WebhookHarness, "file": FileHarness,
            "linkedin": LinkedInHarness, "google_ads": GoogleAdsHarness,
            "salesforce": lambda: SalesforceHarness(tiny_world), "hubspot": lambda: HubSpotHarness(tiny_world), "meta_ads": MetaAdsHarness,
            "dynamics": lambda: DynamicsHarness(tiny_world)}
    if kind not in made:
        raise LookupError(f"destination type {kind!r} is registered but has no conformance harness in "
                          "tests/destinations/harnesses.py")
    return made[kind]()
