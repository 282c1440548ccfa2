"""Marketo Engage source: historic backfill through bulk extracts, incremental sync through activity paging tokens."""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from time import monotonic
from typing import Any

from accord.connectors.marketo.client import BulkJob, BulkQueue, MarketoClient
from accord.connectors.marketo.config import (
    CUSTOM_ACTIVITIES,
    MARKETO_CRM_ENTITIES,
    MarketoSourceConfig,
)
from accord.ingest.compile import snake
from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import MappingError, parse_mapping
from accord.ingest.records import as_text, ingest_records
from accord.lake.sql import ident
from accord.lake.store import Lake
from accord.model.schema import STANDARD, CustomObject, Schema
from accord.model.times import parse_instant, utc_seconds
from accord.sources.api import (
    Progress,
    SyncReport,
    fields_present,
    records_chunk,
    records_digest,
)
from accord.sources.base import MalformedRow
from accord.sources.files import FileReader, fingerprint
from accord.sources.mappings import (
    ObjectShape,
    object_mapping,
    resolve_mapping,
    shipped_raw,
)
from accord.sources.reconcile import missing
from accord.sources.state import SourceState

WINDOW = timedelta(days=31)  # the longest date range a bulk extract accepts
DELETIONS_KEPT = timedelta(days=13)
"""How far back `deletedleads.json` can be trusted: Marketo may prune deletions older than 14 days (a day kept
aside for clocks and a sync under way). A sync whose checkpoint, and last comparison, are older compares lead ids."""
MERGE_LEADS = 32
"""Marketo's activity type id of Merge Leads. Marketo deletes a merged-away lead without a Delete Lead activity and
moves its activities and memberships to the lead that won; this activity on the winner, its `Merge ids` attribute
listing the losers, is the only trace."""
FIRST_CUSTOM_TYPE = 100_000
"""Activity type ids from here on are an instance's own custom types, numbered by each instance."""
PROGRAM_BATCH = 10
OBJECT_ROWS_PER_BATCH = 50_000
"""Custom object records loaded per batch while their pages arrive (a backfill reads every lead's)."""
MARKETO_OBJECT_SHAPE = ObjectShape("Marketo", "marketoGUID", ("updatedAt",), None)
OWNER_COLUMN = "_leadId"
"""The column Accord adds to a custom object record linked by another lead field than the id: the id of the lead
holding that value, which the object's mapping reads as the record's lead."""
ACTIVITY_COLUMNS = ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
                    "primaryAttributeValueId", "primaryAttributeValue", "attributes"]


@dataclass(frozen=True)
class ObjectRead:
    """How a custom object of leads is read: its id field, the field linking a record to a lead, the column of
    the lake's people holding the lead field it links to (`source_id` for the lead's id), the fields asked for."""

    id_field: str
    link: str
    lead_column: str
    fields: list[str]

    @property
    def by_id(self) -> bool:
        """Does the link hold the lead's own id (the record's lead is then the link itself)?"""
        return self.lead_column == "source_id"


@dataclass(frozen=True)
class LeadValues:
    """The values of a lead field to ask custom object records by, and the lead whose records each value's are
    (told apart regardless of case, as Marketo's lookups are)."""

    asked: list[str]
    owners: dict[str, str]
    unaskable: list[dict[str, str]]
    """The leads whose value holds a comma (lead, value): Marketo's `filterValues` is a comma-separated list, so
    their records cannot be asked for."""

    def lead_of(self, value: Any) -> str | None:
        return None if value is None else self.owners.get(str(value).lower())


class MarketoSource:
    """Reads one Marketo instance into one sandbox's lake; checkpoints live in that lake."""

    def __init__(self, config: MarketoSourceConfig, client: MarketoClient, schema: Schema = STANDARD) -> None:
        self.config, self.client, self.schema = config, client, schema
        self.mappings = {name: resolve_mapping(f"marketo/{name}", schema=schema) for name in (
            "lead", "activity", "program", "program_member", "list", "list_member", "company", "named_account",
            "opportunity", "opportunity_role")}
        self.objects = [_lead_object(schema, config.name, name) for name in config.custom_objects]
        self._described: dict[str, ObjectRead] = {}

    def close(self) -> None:
        self.client.close()

    # Checking -----------------------------------------------------------------------------------------------
    def check(self) -> dict[str, int]:
        """Connect and count what can be read: proves the credentials and the endpoint; each custom object's fields
        read and the field linking its records to leads; the declared person fields no lead field is."""
        lists = sum(len(page) for page in self.client.pages("/rest/v1/lists.json"))
        programs = sum(len(page) for page in self.client.asset_pages("/rest/asset/v1/programs.json"))
        objects = {f"{obj.name} fields (linked to leads by {read.link})": len(read.fields)
                   for obj, read in ((obj, self._object_fields(obj)) for obj in self.objects)}
        described = {f.lower() for f in self.client.lead_fields()}
        lacking = [f.name for f in self.schema.custom_of("person") if f.name.lower() not in described]
        missing = {f"declared person fields the lead describe lacks ({', '.join(lacking)})": len(lacking)}
        return {"lead fields": len(described), "activity types": len(self.client.activity_types()),
                "static lists": lists, "programs": programs} | objects | (missing if lacking else {})

    # Backfill -----------------------------------------------------------------------------------------------
    def backfill(self, lake: Lake, progress: Progress | None = None, *, restart: bool = False) -> SyncReport:
        """Everything since `backfill_since`; an interrupted backfill resumes at the first window not yet loaded."""
        state = SourceState(lake, self.config.state_key)
        if restart:
            state.clear()
        report = SyncReport(self.config.name, "backfill", _first_call=self.client.stats.calls)
        until_text = state.get("backfill", "until")
        if until_text is None:
            until_text = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
            state.put("backfill", "until", until_text)
        until = datetime.fromisoformat(until_text)
        since = datetime.combine(self.config.backfill_since, time(), timezone.utc)
        wanted = self.config.entities
        if "programs" in wanted:
            self._load_rows(lake, report, "program", self._programs(None))
        lists = self._lists()
        if "lists" in wanted:
            self._load_rows(lake, report, "list", lists)
        # Paging list members is bound by the call rate, the bulk extracts by Marketo's export queue: fetch the
        # members meanwhile (calls only; the lake is written from this thread).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="marketo-lists") as pool:
            members = pool.submit(self._fetch_list_members, lists) if "list_members" in wanted else None
            self._bulk_streams(lake, state, report, since, until, progress)
            if members is not None:
                self._load_rows(lake, report, "list_member", members.result())
        self._crm_objects(lake, report, None)
        self._custom_objects(lake, report, None)
        state.put("sync", "since", until_text)
        state.put("backfill", "completed_at", datetime.now(timezone.utc).isoformat())
        state.put("objects", "read_at", datetime.now(timezone.utc).isoformat())
        return self._finish(report)

    def _bulk_streams(self, lake: Lake, state: SourceState, report: SyncReport, since: datetime, until: datetime,
                      progress: Progress | None) -> None:
        wanted = self.config.entities
        if "leads" in wanted:
            fields = self._lead_fields()
            self._bulk(lake, state, report, "leads", "lead", since, until, progress,
                       lambda s, e: _leads_created(fields, s, e))
        if "activities" in wanted:
            types = self._activity_type_ids()
            self._bulk(lake, state, report, "activities", "activity", since, until, progress,
                       lambda s, e: {"format": "CSV", "filter": {"createdAt": {"startAt": _stamp(s), "endAt": _stamp(e)},
                                                                 "activityTypeIds": types}})
        if "program_members" in wanted:
            self._program_members(lake, report, None, until, progress)

    def _bulk(self, lake: Lake, state: SourceState, report: SyncReport, kind: str, mapping: str, since: datetime,
              until: datetime, progress: Progress | None, body: Callable[[datetime, datetime], dict[str, Any]]) -> None:
        stream = f"backfill.{kind}"
        done = state.get(stream, "done_until")
        jobs = [BulkJob(s.isoformat(), body(s, e), state.get(stream, f"job:{s.isoformat()}"))
                for s, e in _windows(datetime.fromisoformat(done) if done else since, until)]

        def submitted(job: BulkJob) -> None:
            state.put(stream, f"job:{job.key}", str(job.export_id))

        for number, (job, path) in enumerate(self._exports(kind).run(jobs, submitted), 1):
            if progress:
                progress(f"{kind} {job.key[:10]} ({number}/{len(jobs)})", 0)
            self._load_export(lake, report, mapping, path, progress)
            end = min(datetime.fromisoformat(job.key) + WINDOW, until)
            state.put(stream, "done_until", end.isoformat())
            state.drop(stream, f"job:{job.key}")

    def _exports(self, kind: str) -> BulkQueue:
        return BulkQueue(self.client, kind, self.config.bulk_wait_minutes * 60)

    def _load_export(self, lake: Lake, report: SyncReport, mapping: str, path: Path, progress: Progress | None) -> None:
        if path.stat().st_size == 0:  # an export that matched nothing may come without even a header row
            return
        reader = FileReader(path)
        report.results.append(ingest_chunks(
            lake, self.mappings[mapping], reader.chunks(), source_name=f"marketo:{self.config.name}",
            fingerprint=fingerprint(path), source_instance_id=self.config.munchkin_id,
            on_chunk=(lambda n: progress(mapping, n)) if progress else None,
        ))

    def _program_members(self, lake: Lake, report: SyncReport, since: datetime | None, until: datetime,
                         progress: Progress | None) -> None:
        program_ids = [int(p["id"]) for p in self._programs(None)]
        fields = self.mappings["program_member"].source_columns
        jobs = []
        for i in range(0, len(program_ids), PROGRAM_BATCH):
            chunk = program_ids[i:i + PROGRAM_BATCH]
            windows = [(since, until)] if since is None else _windows(since, until)
            for start, end in windows:
                filters: dict[str, Any] = {"programIds": chunk}
                if start is not None:
                    filters["updatedAt"] = {"startAt": _stamp(start), "endAt": _stamp(end)}
                jobs.append(BulkJob(f"{i}:{start}", {"fields": fields, "format": "CSV", "filter": filters}))
        for _, path in self._exports("program_members").run(jobs, lambda job: None):
            self._load_export(lake, report, "program_member", path, progress)

    def _fetch_list_members(self, lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for item in lists:
            for page in self.client.pages(f"/rest/v1/lists/{item['id']}/leads.json", {"fields": "id"}):
                rows.extend({"listId": item["id"], "leadId": lead["id"]} for lead in page)
        return rows

    # Incremental sync ---------------------------------------------------------------------------------------
    def sync(self, lake: Lake, progress: Progress | None = None) -> SyncReport:
        """New activities, changed and new leads, deleted leads, changed programs, lists and memberships."""
        state = SourceState(lake, self.config.state_key)
        if state.get("backfill", "completed_at") is None:
            return self.backfill(lake, progress)
        report = SyncReport(self.config.name, "sync", _first_call=self.client.stats.calls)
        every_lead = self._objects_due(state)  # then the objects of every lead are read below, not only the re-read's
        since = datetime.fromisoformat(str(state.get("sync", "since")))
        token = self.client.paging_token(since)
        cursor = Cursor(since, datetime.now(timezone.utc))
        wanted = self.config.entities
        touched_leads: set[str] = set()
        status_changes = False
        if "activities" in wanted:
            types = self._activity_type_ids()
            rows: list[dict[str, Any]] = []
            for i in range(0, len(types), 10):
                for page in self.client.activity_pages("/rest/v1/activities.json", token,
                                                       {"activityTypeIds": ",".join(map(str, types[i:i + 10]))}):
                    rows.extend(_bulk_shape(a) for a in page)
            for row in rows:
                cursor.saw(row["activityDate"])
                if row["activityTypeId"] == "12":
                    touched_leads.add(row["leadId"])
                status_changes = status_changes or row["activityTypeId"] == "104"
            self._load_rows(lake, report, "activity", rows)
        if "leads" in wanted:
            fields = self._lead_fields()
            for page in self.client.activity_pages("/rest/v1/activities/leadchanges.json", token,
                                                   {"fields": ",".join(f for f in fields if f != "id")}):
                for change in page:
                    touched_leads.add(str(change["leadId"]))
                    cursor.saw(change["activityDate"])
            deleted: dict[str, str] = {}
            for page in self.client.activity_pages("/rest/v1/activities/deletedleads.json", token):
                for gone in page:
                    deleted[str(gone["leadId"])] = gone["activityDate"]
                    cursor.saw(gone["activityDate"])
            merges = [m for page in self.client.activity_pages("/rest/v1/activities.json", token,
                                                               {"activityTypeIds": str(MERGE_LEADS)}) for m in page]
            for merge in merges:
                cursor.saw(merge["activityDate"])
            merged = merged_into(merges)
            # A lead merged into one deleted since is gone with it.
            deleted |= {loser: at for loser, (winner, at) in merged.items()
                        if winner in deleted and loser not in deleted}
            merged = {loser: went for loser, went in merged.items() if loser not in deleted}
            touched_leads |= {winner for winner, _ in merged.values()}
            leads = [lead for page in self.client.leads_by("id", sorted(touched_leads - set(deleted) - set(merged)),
                                                           fields) for lead in page]
            self._load_rows(lake, report, "lead", leads)
            if leads and not every_lead:
                self._crm_objects(lake, report, [str(lead["id"]) for lead in leads])
                self._custom_objects(lake, report, [str(lead["id"]) for lead in leads])
            if merged:
                report.results.append(self._merged_away(lake, merged))
                report.merged = report.results[-1].loaded
            compared = state.get("reconcile", "at")
            seen_to = max(since, datetime.fromisoformat(compared)) if compared else since
            if datetime.now(timezone.utc) - seen_to > DELETIONS_KEPT:
                deleted |= self._deleted_unseen(lake, deleted, merged)
                state.put("reconcile", "at", datetime.now(timezone.utc).isoformat())
            if deleted:
                deleted |= self._merged_into_deleted(lake, deleted)
                report.results.append(ingest_records(
                    lake, "person", [{"source_id": k, "is_deleted": True, "source_updated_at": v}
                                     for k, v in deleted.items()],
                    source_type="Marketo", source_instance_id=self.config.munchkin_id,
                    source_name=f"marketo:{self.config.name}", fingerprint=records_digest(deleted)))
                report.deleted = len(deleted) + self._forget_objects_of(lake, report, list(deleted))
        if "programs" in wanted:
            self._load_rows(lake, report, "program", self._programs(since))
        lists = self._lists()
        if "lists" in wanted:
            self._load_rows(lake, report, "list", lists)
        if "program_members" in wanted and status_changes:
            self._program_members(lake, report, since, cursor.latest + timedelta(seconds=1), progress)
        if "list_members" in wanted:
            changed = [x for x in lists if parse_instant(x["updatedAt"]) >= since]
            members = self._fetch_list_members(changed)
            self._load_rows(lake, report, "list_member", members)
            report.deleted += self._forget_removed_members(lake, report, changed, members)
        if every_lead:
            self._crm_objects(lake, report, None)
            self._custom_objects(lake, report, None)
            state.put("objects", "read_at", datetime.now(timezone.utc).isoformat())
        state.put("sync", "since", cursor.latest.isoformat())
        return self._finish(report)

    def _objects_due(self, state: SourceState) -> bool:
        """Is it time to read the objects Marketo lists only by lead (changed without an activity) for every lead?"""
        return bool(self.objects or set(self.config.entities) & set(MARKETO_CRM_ENTITIES)) and state.due(
            "objects", "read_at", timedelta(days=self.config.reread_objects_days))

    def _crm_objects(self, lake: Lake, report: SyncReport, lead_ids: list[str] | None) -> None:
        """Companies and named accounts by the company names of the leads, opportunity roles by the leads' ids and
        their opportunities by id (Marketo lists these objects only by a searchable field)."""
        wanted = set(self.config.entities)
        if not wanted & {"companies", "named_accounts", "opportunities"}:
            return
        scope = "" if lead_ids is None else "AND list_contains($ids, source_id)"
        params = {"instance": self.config.munchkin_id} | ({} if lead_ids is None else {"ids": lead_ids})
        leads = lake.query(
            f"SELECT source_id, company_name FROM person_current WHERE source_type = 'Marketo' "
            f"AND source_instance_id = $instance {scope} ORDER BY source_id", params)
        names = sorted({r["company_name"] for r in leads if r["company_name"]})
        for entity, mapping, path, filter_type in (
            ("companies", "company", "/rest/v1/companies.json", "company"),
            ("named_accounts", "named_account", "/rest/v1/namedaccounts.json", "name"),
        ):
            if entity in wanted:
                fields = self.mappings[mapping].source_columns
                self._load_rows(lake, report, mapping, [r for page in self.client.lookup(path, filter_type, names, fields)
                                                        for r in page])
        if "opportunities" in wanted:
            roles = [r for page in self.client.lookup("/rest/v1/opportunities/roles.json", "leadId",
                                                      [r["source_id"] for r in leads],
                                                      self.mappings["opportunity_role"].source_columns) for r in page]
            self._load_rows(lake, report, "opportunity_role", roles)
            ids = sorted({str(r["externalOpportunityId"]) for r in roles if r.get("externalOpportunityId")})
            self._load_rows(lake, report, "opportunity", [o for page in self.client.lookup(
                "/rest/v1/opportunities.json", "externalOpportunityId", ids,
                self.mappings["opportunity"].source_columns) for o in page])

    def _custom_objects(self, lake: Lake, report: SyncReport, lead_ids: list[str] | None) -> None:
        """Each declared custom object's records of the leads (all of this instance's when None), by the field
        linking them to a lead; a lead's records Marketo no longer returns become soft deletes."""
        if not self.objects:
            return
        scope = lead_ids  # None: every lead of this instance
        if lead_ids is None:
            lead_ids = [r["source_id"] for r in lake.query(
                "SELECT source_id FROM person_current WHERE source_type = 'Marketo' AND source_instance_id = $instance "
                "ORDER BY source_id", {"instance": self.config.munchkin_id})]
        by_column: dict[str, LeadValues] = {}  # objects linked by the same lead field share their values
        for obj in self.objects:
            read = self._object_fields(obj)
            owners = None
            if not read.by_id:
                if read.lead_column not in by_column:
                    by_column[read.lead_column] = self._owners(lake, read.lead_column, scope)
                owners = by_column[read.lead_column]
                if owners.unaskable:
                    self._quarantine_unaskable(lake, report, obj, read.link, owners.unaskable)
            values = lead_ids if owners is None else owners.asked
            seen: set[str | None] = set()
            pages = self.client.lookup(f"/rest/v1/customobjects/{obj.name}.json", read.link, values, read.fields)
            for rows in _in_batches(pages, OBJECT_ROWS_PER_BATCH):
                seen |= {as_text(r.get(read.id_field)) for r in rows}
                if owners is not None:
                    rows = [r | {OWNER_COLUMN: owners.lead_of(r.get(read.link))} for r in rows]
                self._load_rows(lake, report, obj.name, rows)
            gone = [r for r in self._records_held(lake, obj, scope) if r["source_id"] not in seen]
            report.deleted += self._soft_delete(lake, report, obj.name, gone)

    def _forget_objects_of(self, lake: Lake, report: SyncReport, lead_ids: list[str]) -> int:
        """The custom object records of deleted leads become soft deletes (Marketo deletes them with the lead)."""
        return sum(self._soft_delete(lake, report, obj.name, self._records_held(lake, obj, lead_ids))
                   for obj in self.objects)

    def _records_held(self, lake: Lake, obj: CustomObject, lead_ids: list[str] | None) -> list[dict[str, Any]]:
        """The current records (key and lead) of a custom object Accord holds for the leads (every lead of this
        instance when None)."""
        scope = "" if lead_ids is None else "AND person_key IN (SELECT unnest($keys))"
        keys = {} if lead_ids is None else {"keys": [lead + self._key_suffix for lead in lead_ids]}
        return lake.query(f"SELECT source_id, person_key FROM {ident(obj.name + '_current')} "
                          f"WHERE source_instance_id = $instance {scope}", {"instance": self.config.munchkin_id} | keys)

    def _object_fields(self, obj: CustomObject) -> ObjectRead:
        """How to read a custom object, from Marketo's describe (asked once per source): its id field, the field
        linking its records to a lead and the lead's column it holds, the fields to ask for; its mapping is made
        from them."""
        if obj.name not in self._described:
            describe = self.client.custom_object(obj.name)
            link = lead_link(describe)
            if link is None:
                raise MappingError(f"custom object {obj.name} of Marketo source {self.config.name!r} is not linked to "
                                   f"leads (its links: {_links(describe) or 'none'}); Accord reads custom objects "
                                   "linked to leads")
            field, lead_field = link
            lead_column = self._lead_column(lead_field)
            if lead_column is None:
                raise MappingError(
                    f"custom object {obj.name} of Marketo source {self.config.name!r} is linked to leads by "
                    f"{lead_field}, which Accord does not keep: declare {lead_field} as a custom field of person "
                    "in accord.yaml (custom_fields:) so the leads' values are read")
            id_field = str(describe.get("idField") or "marketoGUID")
            available = {f.get("name") for f in describe.get("fields") or []} | {id_field, field}
            wanted = [id_field, field, "updatedAt", *(f.name for f in self.schema.custom_of(obj.name))]
            read = ObjectRead(id_field, field, lead_column, [f for f in dict.fromkeys(wanted) if f in available])
            self.mappings[obj.name] = object_mapping(obj, self.schema, MARKETO_OBJECT_SHAPE, id_field,
                                                     field if read.by_id else OWNER_COLUMN)
            self._described[obj.name] = read
        return self._described[obj.name]

    def _lead_column(self, lead_field: str) -> str | None:
        """The column of the lake's people holding a lead field Marketo links custom objects by: one the lead
        mapping copies (`id`, `email`, `sfdcContactId`, ...) or a declared custom field; None when Accord does not
        keep it."""
        copied = {spec.from_.lower(): column for column, spec in self.mappings["lead"].fields.items()
                  if spec.from_ is not None and spec.source_columns == [spec.from_]}
        declared = {f.name.lower(): f.name for f in self.schema.custom_of("person")}
        return (copied | declared).get(lead_field.lower())

    def _owners(self, lake: Lake, column: str, lead_ids: list[str] | None) -> LeadValues:
        """The values of `column` the leads hold (every lead's when None), each with the lead Accord gives its
        records: the one changed last among this instance's leads holding it (Marketo may hold duplicates, and a
        record counted twice would double a count in audiences)."""
        held = (f"SELECT source_id, CAST({ident(column)} AS VARCHAR) AS value, source_updated_at "
                "FROM person_current WHERE source_type = 'Marketo' AND source_instance_id = $instance "
                f"AND merged_into_key IS NULL AND {ident(column)} IS NOT NULL")
        of_leads = ("" if lead_ids is None else
                    "AND lower(value) IN (SELECT lower(value) FROM held WHERE source_id IN (SELECT unnest($ids)))")
        params = {"instance": self.config.munchkin_id} | ({} if lead_ids is None else {"ids": lead_ids})
        rows = lake.query(
            f"WITH held AS ({held}) SELECT lower(value) AS value, min(value) AS asked, "
            "arg_max(source_id, (source_updated_at, source_id)) AS lead, contains(min(value), ',') AS unaskable, "
            "list(source_id ORDER BY source_id) FILTER (WHERE contains(value, ',')) AS holders "
            f"FROM held WHERE TRUE {of_leads} GROUP BY lower(value) ORDER BY lower(value)", params)
        askable = [r for r in rows if not r["unaskable"]]
        unaskable = [{"lead": lead, "value": r["asked"]} for r in rows if r["unaskable"] for lead in r["holders"]]
        return LeadValues([r["asked"] for r in askable], {r["value"]: r["lead"] for r in askable}, unaskable)

    def _quarantine_unaskable(self, lake: Lake, report: SyncReport, obj: CustomObject, field: str,
                              unaskable: list[dict[str, str]]) -> None:
        """Each lead whose records of `obj` cannot be asked for, in quarantine with why: never skipped unseen.
        The same leads again (a later sync) are recognised and not quarantined twice."""
        why = (f"unaskable_link: Marketo's API takes {field} values as a comma-separated list, so the {obj.name} "
               f"records of a lead whose {field} holds a comma cannot be read")
        rows = [MalformedRow(i, json.dumps({"leadId": r["lead"], field: r["value"]}), why)
                for i, r in enumerate(unaskable, start=1)]
        report.results.append(ingest_records(
            lake, obj.name, [], source_type="Marketo", source_instance_id=self.config.munchkin_id,
            source_name=f"marketo:{self.config.name}", fingerprint=records_digest([obj.name, unaskable]),
            malformed=rows))

    def _forget_removed_members(self, lake: Lake, report: SyncReport, lists: list[dict[str, Any]],
                                members: list[dict[str, Any]]) -> int:
        """Members of a re-read list that it no longer holds become soft deletes of their memberships."""
        if not lists:
            return 0
        suffix = self._key_suffix
        still = {f"{m['listId']}:{m['leadId']}" for m in members}
        keys = [f"{x['id']}{suffix}" for x in lists]
        gone = [r for r in lake.query(
            "SELECT source_id, marketing_list_key, person_key FROM marketing_list_member_current "
            "WHERE list_contains($keys, marketing_list_key)", {"keys": keys}) if r["source_id"] not in still]
        return self._soft_delete(lake, report, "marketing_list_member", gone)

    def _soft_delete(self, lake: Lake, report: SyncReport, entity: str, gone: list[dict[str, Any]]) -> int:
        """The records `gone` (their keys and relation columns) as deleted now; how many."""
        if gone:
            stamp = datetime.now(timezone.utc).isoformat()
            report.results.append(ingest_records(
                lake, entity, [r | {"is_deleted": True, "source_updated_at": stamp} for r in gone],
                source_type="Marketo", source_instance_id=self.config.munchkin_id,
                source_name=f"marketo:{self.config.name}", fingerprint=records_digest([gone, stamp])))
        return len(gone)

    def _merged_away(self, lake: Lake, merged: dict[str, tuple[str, str]]) -> IngestResult:
        """Each merged-away lead as a record of the lead it joined, holding nothing of its own: the events and
        memberships that still name it then count for the person it became, as Marketo moved them there."""
        suffix = self._key_suffix
        rows = [{"source_id": loser, "merged_into_key": winner + suffix, "source_updated_at": at}
                for loser, (winner, at) in sorted(merged.items())]
        return ingest_records(lake, "person", rows, source_type="Marketo", source_instance_id=self.config.munchkin_id,
                              source_name=f"marketo:{self.config.name}", fingerprint=records_digest(rows))

    def _deleted_unseen(self, lake: Lake, deleted: dict[str, str], merged: dict[str, tuple[str, str]]
                        ) -> dict[str, str]:
        """The leads Accord holds that Marketo no longer does, found by exporting every lead id since
        `backfill_since` (after a pause longer than Marketo keeps deletions, `deletedleads.json` may miss some)."""
        since = datetime.combine(self.config.backfill_since, time(), timezone.utc)
        present: set[str] = set()
        jobs = [BulkJob(s.isoformat(), _leads_created(["id"], s, e)) for s, e in _windows(since, datetime.now(timezone.utc))]
        for _, path in self._exports("leads").run(jobs, lambda job: None):
            with path.open(newline="", encoding="utf-8-sig") as f:
                present.update(row[0] for row in itertools.islice(csv.reader(f), 1, None) if row)
        # Leads created before backfill_since were never exported: only a change brought them in.
        held = [r[0] for r in lake.execute(
            "SELECT source_id FROM person_current WHERE source_type = 'Marketo' AND source_instance_id = ? "
            "AND merged_into_key IS NULL AND created_at >= ?", [self.config.munchkin_id, since]).fetchall()]
        known = [lead for lead in held if lead not in deleted and lead not in merged]
        at = datetime.now(timezone.utc).isoformat()
        return {lead: at for lead in missing(known, present, self.config.reconcile_max_share, "leads")}

    def _merged_into_deleted(self, lake: Lake, deleted: dict[str, str]) -> dict[str, str]:
        """Leads merged (at any remove) into a deleted lead: Marketo deleted their history with it."""
        suffix = self._key_suffix
        found: dict[str, str] = {}
        gone = dict(deleted)
        while gone:
            rows = lake.query(
                "SELECT source_id, merged_into_key FROM person_current WHERE source_type = 'Marketo' "
                "AND source_instance_id = $instance AND list_contains($keys, merged_into_key)",
                {"instance": self.config.munchkin_id, "keys": [lead + suffix for lead in gone]})
            gone = {r["source_id"]: gone[r["merged_into_key"].removesuffix(suffix)] for r in rows
                    if r["source_id"] not in deleted and r["source_id"] not in found}
            found |= gone
        return found

    # Helpers --------------------------------------------------------------------------------------------------
    @property
    def _key_suffix(self) -> str:
        """What follows a Marketo id in the source keys of this instance's records."""
        return f"@{self.config.munchkin_id}.Marketo"

    def _finish(self, report: SyncReport) -> SyncReport:
        report.calls = self.client.stats.calls - report._first_call
        report.seconds = monotonic() - report._started
        report.rate_used = self.client.limits.rate_used(report.calls, report.seconds)
        return report

    def _lead_fields(self) -> list[str]:
        """What the lead mapping reads and the declared person custom fields, of those Marketo's describe lists."""
        custom = [f.name for f in self.schema.custom_of("person")]
        return fields_present([*self.mappings["lead"].source_columns, *custom], self.client.lead_fields())

    def _activity_type_ids(self) -> list[int]:
        """The activity types to read: the standard ones the activity mapping names and every custom one (each
        instance numbers its own, so they are told by name); the mapping is remade to give those their event types."""
        types = self.client.activity_types()
        custom = custom_event_types(types, CUSTOM_ACTIVITIES | self.config.custom_activities)
        raw = shipped_raw("marketo/activity")
        by_id = next(t for t in raw["fields"]["event_type"]["transforms"] if isinstance(t, dict) and "map" in t)
        by_id["map"] = {k: v for k, v in by_id["map"].items() if int(k) < FIRST_CUSTOM_TYPE}
        standard = {int(k) for k in by_id["map"]}
        by_id["map"] |= {str(i): event_type for i, event_type in custom.items()}
        self.mappings["activity"] = parse_mapping(
            raw, f"shipped mapping marketo/activity with the custom activity types of {self.config.name}", self.schema)
        return sorted({int(t["id"]) for t in types} & standard | set(custom))

    def _programs(self, since: datetime | None) -> list[dict[str, Any]]:
        params = {"earliestUpdatedAt": _stamp(since)} if since else {}
        return [_asset_times(p) for page in self.client.asset_pages("/rest/asset/v1/programs.json", params)
                for p in page]

    def _lists(self) -> list[dict[str, Any]]:
        return [item for page in self.client.pages("/rest/v1/lists.json") for item in page]

    def _load_rows(self, lake: Lake, report: SyncReport, mapping_name: str, rows: Iterable[dict[str, Any]]) -> None:
        """API records as one batch through the mapping; the same records again are recognised and skipped."""
        rows = list(rows)
        if not rows:
            return
        chunk, digest = records_chunk(rows)
        report.results.append(ingest_chunks(
            lake, self.mappings[mapping_name], [chunk], source_name=f"marketo:{self.config.name}", fingerprint=digest,
            source_instance_id=self.config.munchkin_id, strict_columns=False))


@dataclass
class Cursor:
    """Where the next sync starts reading: the latest activity seen, but never past when this sync began. An
    activity an integration dated in the future (custom activities take any date) or dated unreadably would
    otherwise carry the cursor past every change still to come."""

    latest: datetime
    began: datetime

    def saw(self, stamp: Any) -> None:
        try:
            moment = parse_instant(str(stamp))
        except ValueError:
            return  # the mapping quarantines the activity itself
        self.latest = max(self.latest, min(moment, self.began))


def custom_event_types(types: list[dict[str, Any]], named: dict[str, str]) -> dict[int, str]:
    """The event type of each custom activity type (ids from 100000) of `types` (as `activities/types.json` lists
    them): the one `named` gives its name or API name, else `marketo.<its name in snake case>`."""
    out = {}
    for kind in types:
        type_id = int(kind["id"])
        if type_id < FIRST_CUSTOM_TYPE:
            continue
        name, api_name = str(kind.get("name") or ""), str(kind.get("apiName") or "")
        out[type_id] = (named.get(name) or named.get(api_name)
                        or f"marketo.{snake(name) or snake(api_name) or f'type_{type_id}'}")
    return out


def lead_link(describe: dict[str, Any]) -> tuple[str, str] | None:
    """The field of a custom object (from its describe) linking a record to a lead, and the lead field it holds."""
    for relation in describe.get("relationships") or []:
        related = relation.get("relatedTo") or {}
        if str(related.get("name", "")).lower() == "lead" and related.get("field") and relation.get("field"):
            return str(relation["field"]), str(related["field"])
    return None


def _links(describe: dict[str, Any]) -> str:
    return "; ".join(f"{r.get('field')} → {(r.get('relatedTo') or {}).get('name')}."
                     f"{(r.get('relatedTo') or {}).get('field')}" for r in describe.get("relationships") or [])


def _lead_object(schema: Schema, source: str, name: str) -> CustomObject:
    obj = schema.object(name)
    if obj is None:
        raise MappingError(f"Marketo source {source!r} reads custom object {name!r}, which is not declared: declare "
                           "it under custom_objects: (related_to: person) with the fields to read")
    if obj.related_to != "person":
        raise MappingError(f"Marketo source {source!r} reads custom object {name!r}, declared related_to "
                           f"{obj.related_to}: Accord reads Marketo's custom objects of leads (related_to: person)")
    return obj


def merged_ids(activity: dict[str, Any]) -> list[str]:
    """The lead ids a Merge Leads activity names as merged into its lead (a list, or text such as `[12, 13]`)."""
    for attribute in activity.get("attributes") or []:
        if re.sub(r"[^a-z]", "", str(attribute.get("name", "")).lower()) in ("mergeids", "mergedids"):
            value = attribute.get("value")
            items = value if isinstance(value, list) else re.findall(r"\d+", str(value or ""))
            return [str(int(v)) for v in (str(item).strip() for item in items) if v.isdigit()]
    return []


def merged_into(activities: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Each merged-away lead id → (the lead it lives on in now, when it was merged), following merges of merges in
    the order they happened."""
    went: dict[str, tuple[str, str]] = {}
    for activity in sorted(activities, key=lambda a: str(a.get("activityDate"))):
        winner = str(activity.get("leadId"))
        for loser in merged_ids(activity):
            if loser != winner:
                went[loser] = (winner, str(activity.get("activityDate")))
    last = {loser: (_last(went, winner), at) for loser, (winner, at) in went.items()}
    return {loser: went_to for loser, went_to in last.items() if went_to[0] != loser}


def _last(went: dict[str, tuple[str, str]], lead: str) -> str:
    seen = {lead}
    while lead in went and went[lead][0] not in seen:
        lead = went[lead][0]
        seen.add(lead)
    return lead


def _bulk_shape(activity: dict[str, Any]) -> dict[str, Any]:
    """A REST activity in the bulk extract's columns, so one mapping reads both."""
    row = {c: as_text(activity.get(c)) for c in ACTIVITY_COLUMNS}
    row["marketoGUID"] = str(activity.get("marketoGUID") or activity.get("id"))
    row["attributes"] = json.dumps({a["name"]: a.get("value") for a in activity.get("attributes") or []})
    return row


def _asset_times(program: dict[str, Any]) -> dict[str, Any]:
    """The Asset API writes `2017-09-25T21:51:20Z+0000`; ingest reads ISO 8601."""
    out = dict(program)
    for key in ("createdAt", "updatedAt"):
        if isinstance(out.get(key), str) and out[key].endswith("Z+0000"):
            out[key] = out[key][:-5]
    return out


def _windows(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    while since < until:
        out.append((since, min(since + WINDOW, until)))
        since = out[-1][1]
    return out


def _in_batches(pages: Iterable[list[dict[str, Any]]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The records of `pages` in lists of at least `size` (the last one shorter), as the pages arrive."""
    rows: list[dict[str, Any]] = []
    for page in pages:
        rows.extend(page)
        if len(rows) >= size:
            yield rows
            rows = []
    if rows:
        yield rows


def _leads_created(fields: list[str], start: datetime, end: datetime) -> dict[str, Any]:
    """A bulk lead extract of `fields` for the leads created in [start, end)."""
    return {"fields": fields, "format": "CSV", "filter": {"createdAt": {"startAt": _stamp(start), "endAt": _stamp(end)}}}


def _stamp(at: datetime | None) -> str:
    assert at is not None
    return utc_seconds(at)


def open_source(config: MarketoSourceConfig, workspace_root: Path, schema: Schema = STANDARD) -> MarketoSource:
    return MarketoSource(config, config.client(workspace_root, poll_seconds=config.bulk_poll_seconds), schema)
