"""Salesforce CRM: a person audience as the members of a Campaign, or as a checkbox on the person's contacts and
leads; an account audience as a checkbox on its Accounts; written through sObject Collections. A person member is
its own contacts in the org, else its leads, else the contacts and then unconverted leads with its e-mail (a lead
is created only when `create_leads` says so); an account member is its own Accounts in the org."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from accord.activation.destination import (
    Capabilities,
    DeliveryError,
    Member,
    Outcome,
    update_by_adding,
)
from accord.connectors.salesforce.client import SalesforceClient, soql_text
from accord.connectors.salesforce.config import (
    CAMPAIGN_NAME,
    SalesforceDestinationConfig,
)
from accord.model.names import within

BATCH = 200  # records per sObject Collections call
PREFIX = {"003": "Contact", "00Q": "Lead", "001": "Account"}
GONE = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"}  # what Salesforce says of a record no longer there
TRANSIENT = {"UNABLE_TO_LOCK_ROW", "DUPLICATE_VALUE"}  # another writer got there first: the next try settles it
BUDGET_PAUSE_SECONDS = 3600.0


class SalesforceDestination:
    def __init__(self, config: SalesforceDestinationConfig, client: SalesforceClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        self.capabilities = Capabilities(needs=("crm_ids", "email", "b2b_account_crms"), batch_size=BATCH,
                                         can_check=True, identities=("crm_id", "b2b_account_crm"), org=config.org_id,
                                         concurrent_batches=config.max_concurrent, updates=True)
        self._campaigns: dict[str, str] = {}
        self._finding = threading.Lock()

    def campaign_name(self, audience: str) -> str:
        return self.config.campaigns.get(audience) or within(f"{self.workspace_name} · {audience}", CAMPAIGN_NAME)

    def check(self) -> dict[str, int]:
        """The org answers; each audience's campaign or checkbox exists (or its campaign will be made)."""
        counts = {"campaigns found": 0, "campaigns to create": 0, "checkbox fields": 0}
        described = {s: set(self.client.describe(s)) for s in ("Contact", "Lead", "Account")} \
            if self.config.checkbox_fields else {}  # each object asked once, however many checkboxes
        for audience in self.config.audiences:
            field = self.config.checkbox_fields.get(audience)
            if field:
                # Without the audience's kind here: the field on both Contact and Lead (people), or on Account.
                lacking = [s for s, fields in described.items() if field not in fields]
                if "Account" in lacking and lacking != ["Account"]:
                    raise DeliveryError(f"Salesforce has no field {field!r} on {' or '.join(lacking[:-1])} (audience "
                                        f"{audience!r}); add the checkbox to Contact and Lead (a person audience) "
                                        "or Account (an account audience)")
                counts["checkbox fields"] += 1
            elif self._find_campaign(audience):
                counts["campaigns found"] += 1
            elif self.config.create_campaigns:
                counts["campaigns to create"] += 1
            else:
                raise DeliveryError(f"Salesforce has no campaign {self.campaign_name(audience)!r}; create it, or "
                                    "set create_campaigns")
        used, allowed = self.client.api_usage()
        counts["API requests left today"] = allowed - used
        return counts

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        self._within_budget()
        records = self._records(members, create=self.config.create_leads)
        outcomes = [Outcome(m.profile_id, "skipped", "no_crm_record") for m in members if not records.get(m.profile_id)]
        field = self.config.checkbox_fields.get(audience)
        if members and members[0].kind == "account" and not field:
            raise DeliveryError(f"account audience {audience!r} needs a checkbox on Account (checkbox_fields)")
        if field:
            answers = self._update([_record(i, {field: True}) for ids in records.values() for i in ids])
        else:
            answers = self._join(self._campaign(audience), [i for ids in records.values() for i in ids])
        for member in members:
            if records.get(member.profile_id):
                outcomes.append(_outcome(member.profile_id, "added", [answers[i] for i in records[member.profile_id]]))
        return outcomes

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        self._within_budget()
        keys = _keys(members)
        ids = [k for v in keys.values() for k in v]
        field = self.config.checkbox_fields.get(audience)
        if field:
            answers = self._update([_record(i, {field: False}) for i in ids])
        elif self.config.on_removal == "delete":
            answers = {}
            for chunk in _chunks(ids):
                answers.update(_answers(chunk, self.client.delete_all(chunk)))
        else:
            answers = self._update([_record(i, {"Status": self.config.removed_status}, "CampaignMember")
                                           for i in ids])
        # A record already gone (deleted, merged) is as removed as it gets.
        answers = {i: (True, i) if not ok and str(why).split(":")[0] in GONE else (ok, why)
                   for i, (ok, why) in answers.items()}
        return [_outcome(m.profile_id, "removed", [answers[i] for i in keys[m.profile_id]]) if keys[m.profile_id]
                else Outcome(m.profile_id, "removed") for m in members]

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, ",")

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        field = self.config.checkbox_fields.get(audience)
        if change == "add":
            records = self._records(members, create=False)
            ids = [i for v in records.values() for i in v]
            if field:
                holding = self._flagged(field, ids)
                return {p: ",".join(v) for p, v in records.items() if set(v) <= holding}
            joined = self._memberships(self._campaign(audience), ids)
            return {p: ",".join(joined[i][0] for i in v) for p, v in records.items()
                    if all(i in joined and joined[i][1] == self.config.member_status for i in v)}
        keys = _keys(members)
        ids = [k for v in keys.values() for k in v]
        if field:
            still = self._flagged(field, ids)
        else:
            rows = self._select_ids("Id, Status", "CampaignMember", "Id", ids)
            still = {r["Id"] for r in rows if self.config.on_removal == "delete" or r["Status"] != self.config.removed_status}
        return {p: None for p, v in keys.items() if not still & set(v)}

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def close(self) -> None:
        self.client.close()

    # Who a member is in the org ---------------------------------------------------------------------------------
    def _records(self, members: list[Member], create: bool) -> dict[str, list[str]]:
        """Profile → its contact ids in the org, else lead ids, else those found by e-mail (or a lead created); an
        account's own Account ids."""
        if members and members[0].kind == "account":
            return {m.profile_id: ids for m in members
                    if (ids := [i for i in m.fields.get("b2b_account_crms") or [] if PREFIX.get(i[:3]) == "Account"])}
        found: dict[str, list[str]] = {}
        by_email: dict[str, list[str]] = {}
        for member in members:
            own = [i for i in member.fields.get("crm_ids") or [] if PREFIX.get(i[:3]) in ("Contact", "Lead")]
            contacts = [i for i in own if PREFIX[i[:3]] == "Contact"]
            if own:
                found[member.profile_id] = contacts or own
            elif member.fields.get("email"):
                by_email.setdefault(str(member.fields["email"]).strip().lower(), []).append(member.profile_id)
        for sobject, extra in (("Contact", ""), ("Lead", "IsConverted = false")):
            emails = [e for e in by_email if not any(p in found for p in by_email[e])]
            for row in self._select_ids("Id, Email", sobject, "Email", emails, extra):
                for profile in by_email.get(str(row.get("Email") or "").lower(), []):
                    found.setdefault(profile, []).append(str(row["Id"]))
        if create:
            found.update(self._create_leads([m for m in members if m.profile_id not in found
                                             and m.fields.get("email")]))
        return found

    def _create_leads(self, members: list[Member]) -> dict[str, list[str]]:
        wanted = [m for m in members if m.fields.get("last_name") and m.fields.get("company_name")]
        made: dict[str, list[str]] = {}
        for chunk in _chunks(wanted):
            answers = self.client.save_all("POST", [{
                "attributes": {"type": "Lead"}, "Email": m.fields["email"], "FirstName": m.fields.get("first_name"),
                "LastName": m.fields["last_name"], "Company": m.fields["company_name"], "LeadSource": "Accord"}
                for m in chunk])
            made.update({m.profile_id: [str(a["id"])] for m, a in zip(chunk, answers) if a.get("success")})
        return made

    # Campaigns -------------------------------------------------------------------------------------------------
    def _campaign(self, audience: str) -> str:
        with self._finding:
            if audience not in self._campaigns:
                found = self._find_campaign(audience)
                if found is None and not self.config.create_campaigns:
                    raise DeliveryError(f"Salesforce has no campaign {self.campaign_name(audience)!r}; create it, "
                                        "or set create_campaigns")
                campaign = found or self.client.create("Campaign", {
                    "Name": self.campaign_name(audience), "IsActive": True, "Type": "Other",
                    "Description": f"The members of Accord's audience {audience!r}, kept by Accord."})
                self._statuses(campaign)
                self._campaigns[audience] = campaign
            return self._campaigns[audience]

    def _find_campaign(self, audience: str) -> str | None:
        rows = self.client.select(f"SELECT Id FROM Campaign WHERE Name = {soql_text(self.campaign_name(audience))}")
        return str(rows[0]["Id"]) if rows else None

    def _statuses(self, campaign: str) -> None:
        """The campaign offers the statuses members get (Salesforce refuses a member with any other)."""
        held = {r["Label"] for r in self.client.select(
            f"SELECT Label FROM CampaignMemberStatus WHERE CampaignId = {soql_text(campaign)}")}
        for label in dict.fromkeys([self.config.member_status, self.config.removed_status]):
            if label and label not in held:
                self.client.create("CampaignMemberStatus", {"CampaignId": campaign, "Label": label,
                                                            "HasResponded": False})

    def _join(self, campaign: str, ids: list[str]) -> dict[str, tuple[bool, str]]:
        """Make each contact or lead a member with the configured status: new members created, existing ones
        with another status (e.g. Removed) updated; answers by record id, as (ok, member id or error)."""
        joined = self._memberships(campaign, ids)
        status = self.config.member_status
        answers = {i: (True, joined[i][0]) for i in ids if i in joined and joined[i][1] == status}
        update = [i for i in ids if i in joined and joined[i][1] != status]
        member_ids = self._update([_record(joined[i][0], {"Status": status}, "CampaignMember") for i in update])
        answers |= {i: member_ids[joined[i][0]] for i in update}
        create = [i for i in dict.fromkeys(ids) if i not in joined]
        for chunk in _chunks(create):
            made = self.client.save_all("POST", [{"attributes": {"type": "CampaignMember"}, "CampaignId": campaign,
                                                  f"{PREFIX[i[:3]]}Id": i, "Status": status} for i in chunk])
            answers |= _answers(chunk, made)
        return answers

    def _memberships(self, campaign: str, ids: list[str]) -> dict[str, tuple[str, str]]:
        """Contact or lead id → (its CampaignMember id, status) in the campaign."""
        found: dict[str, tuple[str, str]] = {}
        for sobject, group in _objects({"": ids}).items():
            for row in self._select_ids("Id, ContactId, LeadId, Status", "CampaignMember", f"{sobject}Id", group,
                                        f"CampaignId = {soql_text(campaign)}"):
                found[str(row[f"{sobject}Id"])] = (str(row["Id"]), str(row["Status"]))
        return found

    def _flagged(self, field: str, ids: list[str]) -> set[str]:
        """The contacts, leads or accounts among `ids` whose checkbox is set."""
        return {str(r["Id"]) for sobject, group in _objects({"": ids}).items()
                for r in self._select_ids("Id", sobject, "Id", group, f"{field} = true")}

    # Calls -----------------------------------------------------------------------------------------------------
    def _update(self, records: list[dict[str, Any]]) -> dict[str, tuple[bool, str]]:
        """Update records (each once, however many members share it), 200 a call; answers by record id."""
        answers: dict[str, tuple[bool, str]] = {}
        for chunk in _chunks(list({r["id"]: r for r in records}.values())):
            answers |= _answers([r["id"] for r in chunk], self.client.save_all("PATCH", chunk))  # type: ignore[arg-type]
        return answers

    def _select_ids(self, columns: str, sobject: str, field: str, values: Iterable[str], extra: str = "") -> list[dict[str, Any]]:
        """Records of `sobject` whose `field` is among `values` (and meeting `extra`), asked 200 values a query."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(values))):
            where = f"{field} IN ({', '.join(soql_text(v) for v in chunk)})" + (f" AND {extra}" if extra else "")
            rows += self.client.select(f"SELECT {columns} FROM {sobject} WHERE {where}")
        return rows

    def _within_budget(self) -> None:
        """Stop before the org's daily API allowance runs out for the other integrations that need it."""
        used, allowed = self.client.api_usage()
        if used >= self.config.api_budget * allowed:
            raise DeliveryError(f"Salesforce org has used {used:,} of its {allowed:,} API requests today "
                                    f"(api_budget {self.config.api_budget:.0%}); the rest waits for a later run",
                                    retryable=True, retry_after=BUDGET_PAUSE_SECONDS)


def _objects(records: dict[str, list[str]]) -> dict[str, list[str]]:
    """Record ids by object (Contact, Lead, Account), from their key prefix."""
    out: dict[str, list[str]] = {}
    for ids in records.values():
        for i in ids:
            out.setdefault(PREFIX[i[:3]], []).append(i)
    return out


def _keys(members: list[Member]) -> dict[str, list[str]]:
    """Profile → the record ids its add recorded (CampaignMember ids, or contact and lead ids for a checkbox)."""
    return {m.profile_id: [k for k in (m.key or "").split(",") if k] for m in members}


def _record(record_id: str, values: dict[str, Any], sobject: str | None = None) -> dict[str, Any]:
    return {"attributes": {"type": sobject or PREFIX[record_id[:3]]}, "id": record_id, **values}


def _answers(keys: list[str], answers: list[dict[str, Any]]) -> dict[str, tuple[bool, str]]:
    """Key → (ok, the record id it made or changed, or `CODE: message`), from a collection's answers in order."""
    out = {}
    for key, answer in zip(keys, answers):
        if answer.get("success"):
            out[key] = (True, str(answer.get("id") or key))
        else:
            error = (answer.get("errors") or [{}])[0]
            out[key] = (False, f"{error.get('statusCode')}: {error.get('message')}")
    return out


def _outcome(profile_id: str, done: str, answers: list[tuple[bool, str]]) -> Outcome:
    made = [what for ok, what in answers if ok]
    if made:
        return Outcome(profile_id, done, key=",".join(made))
    errors = [what for _, what in answers]
    transient = all(e.split(":")[0] in TRANSIENT for e in errors)
    return Outcome(profile_id, "failed", "; ".join(f"Salesforce {e}" for e in errors), retry=transient)


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i:i + BATCH] for i in range(0, len(items), BATCH)]


def open_destination(config: SalesforceDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> SalesforceDestination:
    # The delivery engine retries (with its own backoff and Retry-After), so the client tries each call once.
    client = config.client(root, retries=0, timeout=config.timeout_seconds)
    return SalesforceDestination(config, client, workspace_name)
