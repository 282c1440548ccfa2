"""The records a local Marketo test server serves: leads, activities, programs, members, static lists and custom
objects."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# Marketo's standard activity type ids (custom types start at 100000), as `GET /rest/v1/activities/types.json` names them.
ACTIVITY_TYPES: dict[int, tuple[str, str]] = {
    1: ("Visit Webpage", "Webpage URL"),
    2: ("Fill Out Form", "Webform"),
    3: ("Click Link", "Link"),
    6: ("Send Email", "Email"),
    7: ("Email Delivered", "Email"),
    8: ("Email Bounced", "Email"),
    9: ("Unsubscribe Email", "Email"),
    10: ("Open Email", "Email"),
    11: ("Click Email", "Email"),
    12: ("New Lead", "Lead"),
    13: ("Change Data Value", "Attribute Name"),
    22: ("Change Score", "Score Name"),
    24: ("Add to List", "List"),
    25: ("Remove from List", "List"),
    32: ("Merge Leads", "Lead"),
    37: ("Delete Lead", "Lead"),
    104: ("Change Status in Progression", "Program"),
    100001: ("Click Ad", "Ad"),
    100002: ("Attend Webinar", "Webinar"),
}
ACTIVITY_COLUMNS = [
    "marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
    "primaryAttributeValueId", "primaryAttributeValue", "attributes",
]
LEAD_INT_FIELDS = {"id", "leadScore", "numberOfEmployees"}


def _read_csv(path: Path) -> pa.Table:
    with path.open(newline="") as f:
        header = next(csv.reader(f))
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in header}, null_values=["null", ""], strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CustomObjectType:
    """A custom object type of an instance, linked to `parent` records (leads, or companies) by `link` (holding the
    parent's field `links_to`), and its records (each with its `marketoGUID`)."""

    name: str
    fields: dict[str, str] = field(default_factory=dict)
    """Its own fields: API name → Marketo data type."""
    link: str = "leadId"
    links_to: str = "id"
    parent: str = "Lead"
    records: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The type as `GET /rest/v1/customobjects/{name}/describe.json` gives it."""
        standard = {"marketoGUID": "string", "createdAt": "datetime", "updatedAt": "datetime", self.link: "link"}
        return {"name": self.name, "displayName": self.name.removesuffix("_c").title(), "idField": "marketoGUID",
                "dedupeFields": ["marketoGUID"], "searchableFields": [["marketoGUID"], [self.link]],
                "relationships": [{"field": self.link, "type": "parent",
                                   "relatedTo": {"name": self.parent, "field": self.links_to}}],
                "fields": [{"name": n, "displayName": n, "dataType": t,
                            "updateable": n not in ("marketoGUID", "createdAt", "updatedAt")}
                           for n, t in (standard | self.fields).items()]}

    def upsert(self, values: dict[str, Any], at: datetime) -> None:
        """Create or change the record with `values["marketoGUID"]`."""
        for record in self.records:
            if record["marketoGUID"] == values["marketoGUID"]:
                record.update(values, updatedAt=iso(at))
                return
        self.records.append({"createdAt": iso(at)} | values | {"updatedAt": iso(at)})

    def delete(self, guid: str) -> None:
        self.records[:] = [r for r in self.records if r["marketoGUID"] != guid]


@dataclass
class MarketoData:
    """One Marketo instance's records; `activities` stay ordered by activityDate so paging tokens are positions."""

    leads: pa.Table
    activities: pa.Table
    programs: list[dict[str, Any]] = field(default_factory=list)
    program_members: pa.Table | None = None
    lists: list[dict[str, Any]] = field(default_factory=list)
    list_members: dict[int, list[int]] = field(default_factory=dict)
    companies: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    opportunity_roles: list[dict[str, Any]] = field(default_factory=list)
    named_accounts: list[dict[str, Any]] = field(default_factory=list)
    custom_objects: dict[str, CustomObjectType] = field(default_factory=dict)
    type_catalog: dict[int, tuple[str, str]] = field(default_factory=lambda: dict(ACTIVITY_TYPES))
    """What `activities/types.json` lists: id → (name, primary attribute), Marketo's standard types and the
    instance's own (ids from 100000)."""

    def __post_init__(self) -> None:
        self.activities = self.activities.select(ACTIVITY_COLUMNS)
        self._index()

    @classmethod
    def from_folder(cls, folder: Path) -> MarketoData:
        """The `marketo/` files `accord generate` writes (bulk-extract shapes) as an instance's data."""
        leads = _read_csv(folder / "leads.csv")
        activities = pa.concat_tables([_read_csv(p) for p in sorted(folder.glob("activities_*.csv"))])
        programs = _read_csv(folder / "programs.csv").to_pylist()
        lists = _read_csv(folder / "lists.csv").to_pylist()
        members: dict[int, list[int]] = {}
        for row in _read_csv(folder / "list_members.csv").to_pylist():
            members.setdefault(int(row["listId"]), []).append(int(row["leadId"]))
        data = cls(leads, activities, programs, _read_csv(folder / "program_members.csv"), lists, members)
        if (folder.parent / "salesforce" / "Account.csv").exists():
            data.add_crm_sync(folder.parent / "salesforce")
        return data

    def add_crm_sync(self, salesforce: Path) -> None:
        """What Marketo's Salesforce sync puts in the instance: companies, opportunities and their lead roles,
        and the customers as named accounts (from the CSV files `accord generate` writes for Salesforce)."""
        accounts = _read_csv(salesforce / "Account.csv").to_pylist()
        contact_lead = {r["sfdcContactId"]: int(r["id"]) for r in self.leads.select(["id", "sfdcContactId"]).to_pylist()
                        if r["sfdcContactId"]}
        self.companies = [{"id": i + 1, "externalCompanyId": a["Id"], "company": a["Name"], "website": a["Website"],
                           "industry": a["Industry"], "numberOfEmployees": a["NumberOfEmployees"],
                           "annualRevenue": a["AnnualRevenue"], "billingCountry": a["BillingCountry"],
                           "billingCity": a["BillingCity"], "createdAt": a["CreatedDate"], "updatedAt": a["SystemModstamp"]}
                          for i, a in enumerate(accounts)]
        self.named_accounts = [{"marketoGUID": f"na-{a['Id']}", "name": a["Name"], "domainName": a["Website"],
                                "industry": a["Industry"], "numberOfEmployees": a["NumberOfEmployees"],
                                "annualRevenue": a["AnnualRevenue"], "country": a["BillingCountry"]}
                               for a in accounts if a["Type"] == "Customer"]
        self.opportunities = [{"marketoGUID": f"op-{o['Id']}", "externalOpportunityId": o["Id"], "name": o["Name"],
                               "externalCompanyId": o["AccountId"], "stage": o["StageName"], "amount": o["Amount"],
                               "closeDate": o["CloseDate"], "isClosed": o["IsClosed"], "isWon": o["IsWon"],
                               "createdAt": o["CreatedDate"], "updatedAt": o["SystemModstamp"]}
                              for o in _read_csv(salesforce / "Opportunity.csv").to_pylist()]
        self.opportunity_roles = [{"marketoGUID": f"role-{r['Id']}", "externalOpportunityId": r["OpportunityId"],
                                   "leadId": contact_lead[r["ContactId"]], "role": r["Role"],
                                   "isPrimary": r["IsPrimary"] == "true", "updatedAt": r["SystemModstamp"]}
                                  for r in _read_csv(salesforce / "OpportunityContactRole.csv").to_pylist()
                                  if r["ContactId"] in contact_lead]

    def _index(self) -> None:
        order = pc.sort_indices(self.activities, [("activityDate", "ascending")])
        self.activities = self.activities.take(order)
        self.activity_dates = self.activities["activityDate"].to_numpy(zero_copy_only=False).astype(str)
        self.activity_types = np.asarray(
            pc.cast(self.activities["activityTypeId"], pa.int64()).to_numpy(zero_copy_only=False)
        )
        self.lead_position = {int(v): i for i, v in enumerate(self.leads["id"].to_pylist())}

    # Changes a test makes between syncs, recorded as Marketo records them: as activities.
    def add_activity(self, lead_id: int, type_id: int, at: datetime, primary: str | None = None,
                     attributes: dict[str, Any] | None = None, primary_id: int | None = None) -> None:
        guid = str(int(pc.max(pc.cast(self.activities["marketoGUID"], pa.int64())).as_py() or 0) + 1)
        row = {"marketoGUID": guid, "leadId": str(lead_id), "activityDate": iso(at), "activityTypeId": str(type_id),
               "campaignId": None, "primaryAttributeValueId": None if primary_id is None else str(primary_id),
               "primaryAttributeValue": primary, "attributes": json.dumps(attributes or {})}
        self.activities = pa.concat_tables([self.activities, pa.Table.from_pylist([row], self.activities.schema)])
        self._index()

    def upsert_lead(self, values: dict[str, Any], at: datetime) -> None:
        """Create or change a lead, logging New Lead or one Change Data Value activity per changed field."""
        lead_id = int(values["id"])
        rows = self.leads.to_pylist()
        text = {k: None if v is None else str(v) for k, v in values.items()}
        if lead_id in self.lead_position:
            old = rows[self.lead_position[lead_id]]
            for name, value in text.items():
                if name != "id" and old.get(name) != value:
                    self.add_activity(lead_id, 13, at, name,
                                      {"Attribute Name": name, "New Value": value, "Old Value": old.get(name)})
            old.update(text, updatedAt=iso(at))
        else:
            rows.append({c: None for c in self.leads.column_names} | text | {"createdAt": iso(at), "updatedAt": iso(at)})
            self.add_activity(lead_id, 12, at, None, {"Source Type": "API"}, lead_id)
        self.leads = pa.Table.from_pylist(rows, self.leads.schema)
        self._index()

    def delete_lead(self, lead_id: int, at: datetime) -> None:
        rows = [r for r in self.leads.to_pylist() if int(r["id"]) != lead_id]
        self.leads = pa.Table.from_pylist(rows, self.leads.schema)
        self.add_activity(lead_id, 37, at, None, {}, lead_id)

    def merge_leads(self, winner: int, losers: list[int], at: datetime) -> None:
        """Merge leads as Marketo does: the losers are gone (no Delete Lead), their activities and memberships move
        to the winner, and the winner gets a Merge Leads activity naming them."""
        gone = {str(i) for i in losers}
        self.leads = self.leads.filter(pc.invert(pc.is_in(pc.cast(self.leads["id"], pa.string()), pa.array(gone))))
        moved = pc.if_else(pc.is_in(self.activities["leadId"], pa.array(gone)), str(winner), self.activities["leadId"])
        self.activities = self.activities.set_column(self.activities.schema.get_field_index("leadId"), "leadId", moved)
        for members in self.list_members.values():
            kept = [m for m in members if m not in losers]
            members[:] = kept + ([winner] if len(kept) < len(members) and winner not in kept else [])
        if self.program_members is not None:
            lead = self.program_members["leadId"]
            self.program_members = self.program_members.set_column(
                self.program_members.schema.get_field_index("leadId"), "leadId",
                pc.if_else(pc.is_in(lead, pa.array(gone)), str(winner), lead))
        for kind in self.custom_objects.values():
            for record in kind.records:
                if (kind.parent, kind.links_to) == ("Lead", "id") and int(record[kind.link]) in losers:
                    record[kind.link] = winner
        self.add_activity(winner, 32, at, None, {"Merge ids": losers, "Merged in Sales": False,
                                                 "Merge Source": "Web", "Master Updated": True}, winner)

    def lead_json(self, position: int, fields: list[str]) -> dict[str, Any]:
        row = {f: self.leads[f][position].as_py() for f in fields if f in self.leads.column_names}
        return {k: int(v) if k in LEAD_INT_FIELDS and v is not None else v for k, v in row.items()}


def activity_json(row: dict[str, Any], with_fields: list[str] | None = None) -> dict[str, Any]:
    """An activity as the REST API returns it: numbers as numbers, attributes as a name/value list."""
    attributes = json.loads(row["attributes"] or "{}")
    out: dict[str, Any] = {
        "id": int(row["marketoGUID"]),
        "marketoGUID": row["marketoGUID"],
        "leadId": int(row["leadId"]),
        "activityDate": row["activityDate"],
        "activityTypeId": int(row["activityTypeId"]),
        "campaignId": None if row["campaignId"] is None else int(row["campaignId"]),
        "primaryAttributeValueId": None if row["primaryAttributeValueId"] is None else int(row["primaryAttributeValueId"]),
        "primaryAttributeValue": row["primaryAttributeValue"],
        "attributes": [{"name": k, "value": v} for k, v in attributes.items()],
    }
    if with_fields is not None:
        out["fields"] = [{"id": 0, "name": attributes.get("Attribute Name"), "newValue": attributes.get("New Value"),
                          "oldValue": attributes.get("Old Value")}]
        out["attributes"] = []
    return out
