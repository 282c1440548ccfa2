"""The records a local Salesforce org holds, and the rules its API writes meet: campaign members need a live
campaign, a live contact or unconverted lead, one of the campaign's statuses and no second membership; leads need a
last name and a company; a record a validation rule refuses fails alone."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "Campaign", "CampaignMember",
           "AccountContactRelation")
KEY_PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006", "OpportunityContactRole": "00K",
              "Campaign": "701", "CampaignMember": "00v", "AccountContactRelation": "07k", "CampaignMemberStatus": "01Y"}
STANDARD_FIELDS = {  # standard fields Accord writes, known even when the CSV files leave them out or hold no rows
    "Campaign": ["Name", "Type", "IsActive", "Description"],
    "CampaignMember": ["CampaignId", "ContactId", "LeadId", "Status"],
    "Lead": ["FirstName", "LastName", "Email", "Company", "LeadSource", "IsConverted"],
}
DEFAULT_STATUSES = ("Sent", "Responded")  # what Salesforce gives every new campaign
REQUIRED = {"Lead": ("LastName", "Company"), "Campaign": ("Name",), "CampaignMember": ("CampaignId",),
            "CampaignMemberStatus": ("CampaignId", "Label")}


CREATE_ONLY = {"CampaignMember": ("CampaignId", "ContactId", "LeadId")}
LENGTHS = {("Campaign", "Name"): 80, ("Lead", "FirstName"): 40, ("Lead", "LastName"): 80, ("Lead", "Email"): 80,
           ("Lead", "Company"): 255}
"""The most characters these text fields hold; a longer value is refused (STRING_TOO_LONG)."""


class RecordError(Exception):
    """One record's write refused: `{"statusCode", "message", "fields"}` in a collection's answer."""

    def __init__(self, code: str, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields


@dataclass
class SalesforceData:
    """Records per object, each a dict of field → text (None for null), with Id, SystemModstamp and IsDeleted."""

    records: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    checkboxes: set[tuple[str, str]] = field(default_factory=set)
    """(object, field) of custom checkbox fields added by `add_checkbox`."""
    refused: dict[str, str] = field(default_factory=dict)
    """Record id → a validation rule's message: writes naming that record fail alone (partial failures)."""
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    """(operation, object, record id) of every write through the API that took effect, in order."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(object, status code) of every record's write the org refused, in order."""
    _by_id: dict[str, tuple[str, dict[str, str | None]]] = field(default_factory=dict, repr=False)
    _memberships: dict[tuple[str, str], list[dict[str, str | None]]] = field(default_factory=dict, repr=False)
    _indexed: tuple[int, int] = (-1, -1)

    @classmethod
    def from_folder(cls, folder: Path) -> SalesforceData:
        out: dict[str, list[dict[str, str | None]]] = {}
        for name in OBJECTS:
            path = folder / f"{name}.csv"
            if path.exists():
                with path.open(newline="") as f:
                    out[name] = [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]
        data = cls(out)
        data.records["CampaignMemberStatus"] = []
        for campaign in out.get("Campaign", []):
            data.default_statuses(str(campaign["Id"]))
        return data

    def fields(self, name: str) -> list[str]:
        rows = self.records.get(name) or []
        if name == "CampaignMemberStatus":
            return ["Id", "CampaignId", "Label", "HasResponded", "IsDefault", "SystemModstamp", "IsDeleted"]
        held = list(rows[0]) if rows else ["Id", "SystemModstamp", "IsDeleted"]
        return held + [f for f in STANDARD_FIELDS.get(name, []) if f not in held]

    def add_checkbox(self, name: str, field_name: str) -> None:
        """A custom checkbox field on an object, false on every record (as an admin would add one)."""
        self.checkboxes.add((name, field_name))
        for row in self.records[name]:
            row.setdefault(field_name, "false")

    def default_statuses(self, campaign_id: str) -> None:
        for label in DEFAULT_STATUSES:
            self.upsert("CampaignMemberStatus", {"CampaignId": campaign_id, "Label": label, "IsDefault":
                                                 str(label == "Sent").lower(), "HasResponded": str(label == "Responded").lower()})

    def live(self, name: str, record_id: str) -> dict[str, str | None] | None:
        found = self.find(record_id)
        return found[1] if found and found[0] == name and found[1].get("IsDeleted") != "true" else None

    def find(self, record_id: str) -> tuple[str, dict[str, str | None]] | None:
        """(object, record) of an id, deleted or not."""
        self._index()
        return self._by_id.get(record_id)

    def members_of(self, campaign_id: str, person_id: str) -> list[dict[str, str | None]]:
        """The campaign's member records (deleted or not) for one contact or lead."""
        self._index()
        return self._memberships.get((campaign_id, person_id), [])

    def _index(self) -> None:
        """Ids and memberships looked up by key: rebuilt when records were added some other way (tests do)."""
        size = (sum(len(rows) for rows in self.records.values()), len(self.records.get("CampaignMember", [])))
        if size != self._indexed:
            self._by_id = {str(r["Id"]): (name, r) for name, rows in self.records.items() for r in rows}
            self._memberships = {}
            for r in self.records.get("CampaignMember", []):
                self._memberships.setdefault((str(r["CampaignId"]), str(r["ContactId"] or r["LeadId"])), []).append(r)
            self._indexed = size

    def upsert(self, name: str, values: dict[str, Any], at: datetime | None = None) -> str:
        """Create or change a record (as a user would in the org); SystemModstamp moves to `at` (default now)."""
        stamp = (at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        rows = self.records.setdefault(name, [])
        record_id = values.get("Id")
        found = self.find(record_id) if record_id else None
        existing = found[1] if found and found[0] == name else None
        text = {k: None if v is None else str(v) for k, v in values.items()}
        if existing is None:
            record_id = record_id or f"{KEY_PREFIX[name]}5e00000{len(rows) + 900000:08d}Z"
            existing = {f: None for f in self.fields(name)} | {"IsDeleted": "false"}
            rows.append(existing)
            self._by_id[str(record_id)] = (name, existing)
            if name == "CampaignMember":
                key = (str(text.get("CampaignId")), str(text.get("ContactId") or text.get("LeadId")))
                self._memberships.setdefault(key, []).append(existing)
            if self._indexed != (-1, -1):
                self._indexed = (self._indexed[0] + 1, self._indexed[1] + (name == "CampaignMember"))
        existing.update(text, Id=record_id, SystemModstamp=stamp)
        return str(record_id)

    def delete(self, name: str, record_id: str, at: datetime | None = None) -> None:
        self.upsert(name, {"Id": record_id, "IsDeleted": "true"}, at)

    def purge(self, name: str, record_id: str) -> None:
        """A record gone from the recycle bin too (emptied, a hard delete, or deleted over 15 days ago): not even
        queryAll finds it."""
        self.records[name] = [r for r in self.records[name] if r["Id"] != record_id]
        self._indexed = (-1, -1)

    def refuse(self, record_id: str, message: str = "Blocked by a validation rule") -> None:
        self.refused[record_id] = message

    # Writes through the API, with the org's rules ----------------------------------------------------------------
    def create(self, name: str, values: dict[str, Any]) -> str:
        self._known(name, values)
        missing = [f for f in REQUIRED.get(name, ()) if values.get(f) in (None, "")]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                              tuple(missing))
        if name == "CampaignMember":
            self._membership(values, None)
        record_id = self.upsert(name, {**values, "Id": None})
        if name == "Campaign":
            self.default_statuses(record_id)
        self.writes.append(("create", name, record_id))
        return record_id

    def update(self, name: str, record_id: Any, values: dict[str, Any]) -> str:
        record = self._live(name, str(record_id or ""))
        self._known(name, values)
        fixed = [f for f in CREATE_ONLY.get(name, ()) if f in values]
        if fixed:
            raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {', '.join(fixed)}",
                              tuple(fixed))
        if name == "CampaignMember":
            self._membership({**record, **values}, record["Id"])
        self.upsert(name, {**values, "Id": record["Id"]})
        self.writes.append(("update", name, str(record["Id"])))
        return str(record["Id"])

    def remove(self, record_id: str) -> str:
        found = self.find(record_id)
        if found is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {record_id}")
        name = found[0]
        self._live(name, record_id)
        self.delete(name, record_id)
        self.writes.append(("delete", name, record_id))
        return record_id

    def _live(self, name: str, record_id: str) -> dict[str, Any]:
        if record_id in self.refused:
            raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", self.refused[record_id])
        record = self.live(name, record_id)
        if record is None:
            deleted = (self.find(record_id) or ("", {}))[0] == name
            raise RecordError("ENTITY_IS_DELETED" if deleted else "INVALID_CROSS_REFERENCE_KEY",
                              "entity is deleted" if deleted else f"invalid cross reference id: {record_id}")
        return record

    def _known(self, name: str, values: dict[str, Any]) -> None:
        if name not in self.records:
            raise RecordError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        fields = set(self.fields(name))
        for column in values:
            if column not in fields or column in ("Id", "SystemModstamp", "IsDeleted"):
                raise RecordError("INVALID_FIELD", f"No such column '{column}' on sobject of type {name}", (column,))
            most = LENGTHS.get((name, column))
            if most is not None and len(str(values[column] or "")) > most:
                raise RecordError("STRING_TOO_LONG", f"{column}: data value too large: {values[column]} (max length="
                                                     f"{most})", (column,))

    def _membership(self, values: dict[str, Any], own_id: str | None) -> None:
        """A campaign member's campaign, person and status are valid, and it is the person's only membership."""
        campaign = self._live("Campaign", str(values.get("CampaignId") or ""))
        person_field = "ContactId" if values.get("ContactId") else "LeadId"
        person_id = str(values.get(person_field) or "")
        if not person_id:
            raise RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId or LeadId]")
        person = self._live("Contact" if person_field == "ContactId" else "Lead", person_id)
        if person.get("IsConverted") == "true":
            raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        statuses = {r["Label"] for r in self.records["CampaignMemberStatus"]
                    if r["CampaignId"] == campaign["Id"] and r.get("IsDeleted") != "true"}
        if values.get("Status") not in statuses:
            raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                              f"Status: bad value for restricted picklist field: {values.get('Status')}", ("Status",))
        if any(r["Id"] != own_id and r.get("IsDeleted") != "true"
               for r in self.members_of(str(campaign["Id"]), person_id)):
            raise RecordError("DUPLICATE_VALUE", "Already a campaign member.")

