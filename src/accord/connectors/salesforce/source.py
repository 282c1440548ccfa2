"""Salesforce source: backfill with Bulk API 2.0 query jobs, incremental sync with SOQL on SystemModstamp."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from time import monotonic
from typing import Any

from accord.connectors.salesforce.client import SalesforceClient, SalesforceError
from accord.connectors.salesforce.config import (
    SALESFORCE_OBJECTS,
    SalesforceSourceConfig,
)
from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import Mapping, MappingError
from accord.lake.sql import ident
from accord.lake.store import Lake
from accord.model.schema import STANDARD, Schema
from accord.model.times import parse_instant, utc_seconds
from accord.scratch import scratch
from accord.sources.api import (
    Progress,
    SyncReport,
    custom_to_read,
    fields_present,
    records_chunk,
)
from accord.sources.files import FileReader
from accord.sources.mappings import resolve_mapping
from accord.sources.reconcile import Holder, ReconcileRefused, delete_missing
from accord.sources.state import SourceState

ALWAYS = ("Id", "SystemModstamp", "IsDeleted")
CLOCK_SKEW = timedelta(seconds=60)
"""How far the org's clock may run behind ours: the first sync after a backfill reads back from this much before
the bulk job started (re-read records are unchanged versions and load nothing)."""


def mapping_name(sobject: str) -> str:
    """`OpportunityContactRole` → `salesforce/opportunity_contact_role`."""
    return "salesforce/" + re.sub(r"(?<!^)(?=[A-Z])", "_", sobject).lower()


def mapping_for(sobject: str, schema: Schema) -> Mapping:
    """The mapping that reads an object: a declared custom object's own, a standard one's shipped mapping."""
    return resolve_mapping(sobject if schema.object(sobject) else mapping_name(sobject), schema=schema)


class SalesforceSource:
    """Reads one org into one sandbox's lake; checkpoints (job, locator, cursor per object) live in that lake."""

    def __init__(self, config: SalesforceSourceConfig, client: SalesforceClient, workspace_root: Path,
                 schema: Schema = STANDARD) -> None:
        self.config, self.client = config, client
        unknown = [o for o in config.objects if o not in SALESFORCE_OBJECTS and schema.object(o) is None]
        if unknown:
            raise MappingError(f"source {config.name!r} reads unknown object(s) {', '.join(unknown)}: use "
                               f"{', '.join(SALESFORCE_OBJECTS)}, or declare a custom object under custom_objects:")
        self.mappings: dict[str, Mapping] = {
            o: resolve_mapping(str(workspace_root / config.mappings[o]), schema=schema) if o in config.mappings
            else mapping_for(o, schema) for o in config.objects
        }
        self.schema = schema
        self._fields: dict[str, list[str]] = {}

    def close(self) -> None:
        self.client.close()

    def check(self) -> dict[str, int]:
        """Each object's fields read; the declared custom fields an object lacks, by name (a field may be on
        Contact and not on Lead)."""
        found: dict[str, int] = {}
        held, absent = self._held()
        for sobject in held:
            read = {f.lower() for f in self.fields(sobject)}
            found[f"{sobject} fields read"] = len(read)
            lacking = [f for f in self._custom(sobject) if f.lower() not in read]
            if lacking:
                found[f"declared fields {sobject} lacks ({', '.join(lacking)})"] = len(lacking)
        if absent:
            found[f"objects the org lacks, left out ({', '.join(absent)})"] = len(absent)
        return found

    def _held(self) -> tuple[list[str], list[str]]:
        """The objects to read, and those left out: read by default (not named under `objects:`) but lacking in the
        org, a feature it has not turned on (AccountContactRelation comes with Contacts to Multiple Accounts). One
        named under `objects:` that the org lacks is an error."""
        held, absent = [], []
        for sobject in self.config.objects:
            try:
                self.fields(sobject)
            except SalesforceError as err:
                if err.code != "NOT_FOUND" or "objects" in self.config.model_fields_set:
                    raise
                absent.append(sobject)
                continue
            held.append(sobject)
        return held, absent

    def fields(self, sobject: str) -> list[str]:
        """What the mapping reads that the org has, the declared custom fields the org has (those the source
        config chooses), plus the sync's own fields, as the org spells them."""
        if sobject not in self._fields:
            wanted = [*ALWAYS, *self.mappings[sobject].source_columns, *self._custom(sobject)]
            self._fields[sobject] = fields_present(wanted, self.client.describe(sobject))
        return self._fields[sobject]

    def _custom(self, sobject: str) -> list[str]:
        """The declared custom fields of the object's entity that this source reads."""
        return custom_to_read(self.schema, self.mappings[sobject].entity, self.config.custom_fields)

    # Backfill -----------------------------------------------------------------------------------------------
    def backfill(self, lake: Lake, progress: Progress | None = None, *, restart: bool = False) -> SyncReport:
        """Every object through a Bulk API 2.0 query job; an interrupted backfill resumes at its next locator."""
        state = SourceState(lake, self.config.state_key)
        if restart:
            state.clear()
        report = SyncReport(self.config.name, "backfill", _first_call=self.client.stats.calls)
        held, report.absent = self._held()
        for sobject in held:
            stream = f"backfill.{sobject}"
            if state.get(stream, "done"):
                continue
            job_id = state.get(stream, "job")
            if job_id is None:
                started = (datetime.now(timezone.utc) - CLOCK_SKEW).isoformat()
                job_id = self.client.bulk_query(f"SELECT {', '.join(self.fields(sobject))} FROM {sobject}")
                state.put(stream, "job", job_id)
                state.put(stream, "cursor", started)  # changes after the job's snapshot are the sync's
            self.client.bulk_wait(job_id, self.config.bulk_wait_minutes * 60)
            locator = state.get(stream, "locator")
            page = 0
            while True:
                data, following = self.client.bulk_page(job_id, locator, self.config.bulk_page_records)
                page += 1
                if progress:
                    progress(f"{sobject} page {page}", 0)
                if data.strip():  # an object without records may answer with an empty body, not a header row
                    report.results.append(self._load_csv(lake, sobject, data, f"{job_id}:{locator or 0}", progress))
                if following is None:
                    break
                locator = following
                state.put(stream, "locator", locator)
            state.put(f"sync.{sobject}", "since", str(state.get(stream, "cursor")))
            state.put(stream, "done", "1")
        state.put("backfill", "completed_at", datetime.now(timezone.utc).isoformat())
        return self._finish(report)

    def _load_csv(self, lake: Lake, sobject: str, data: bytes, page_key: str, progress: Progress | None) -> IngestResult:
        with scratch("salesforce") as tmp:
            path = tmp / f"{sobject}.csv"
            path.write_bytes(data)
            reader = FileReader(path)
            # A page read again after a crash has the same job and locator: recognised, not loaded twice.
            return ingest_chunks(
                lake, self.mappings[sobject], reader.chunks(), source_name=f"salesforce:{self.config.name}",
                fingerprint=f"bulk:{page_key}", source_instance_id=self.config.org_id,
                on_chunk=(lambda n: progress(sobject, n)) if progress else None,
            )

    # Incremental sync ---------------------------------------------------------------------------------------
    def sync(self, lake: Lake, progress: Progress | None = None) -> SyncReport:
        """Per object: rows with SystemModstamp past the checkpoint, then rows deleted since (queryAll)."""
        state = SourceState(lake, self.config.state_key)
        if state.get("backfill", "completed_at") is None:
            return self.backfill(lake, progress)
        report = SyncReport(self.config.name, "sync", _first_call=self.client.stats.calls)
        refused: list[str] = []
        held, report.absent = self._held()
        for sobject in held:
            since = state.get(f"sync.{sobject}", "since") or "1970-01-01T00:00:00+00:00"
            stamp = _soql_time(since)
            fields = ", ".join(self.fields(sobject))
            latest = since
            for deleted in (False, True):
                # `>=`: SOQL compares whole seconds, and a change stamped in the checkpoint's second after the last
                # read would be lost with `>`; what is read twice is an unchanged version, which loads nothing.
                where = f"SystemModstamp >= {stamp}" + (" AND IsDeleted = true" if deleted else "")
                soql = f"SELECT {fields} FROM {sobject} WHERE {where} ORDER BY SystemModstamp"
                for page in self.client.query(soql, include_deleted=deleted):
                    if not page:
                        continue
                    latest = max([latest, *(parse_instant(r["SystemModstamp"]).isoformat() for r in page)], key=parse_instant)
                    result = self._load_rows(lake, sobject, page)
                    report.results.append(result)
                    if deleted:
                        report.deleted += result.loaded
                    if progress:
                        progress(sobject, len(page))
            state.put(f"sync.{sobject}", "since", latest)
            if state.due(f"reconcile.{sobject}", "at", timedelta(days=self.config.reconcile_days)):
                try:
                    report.deleted += self._reconcile(lake, state, sobject)
                except ReconcileRefused as err:
                    refused.append(str(err))
        if refused:
            raise SalesforceError("reconcile", "; ".join(refused))
        return self._finish(report)

    def _reconcile(self, lake: Lake, state: SourceState, sobject: str) -> int:
        """Soft-delete the records of `sobject` Accord holds that the org no longer does; returns how many."""
        at = datetime.now(timezone.utc).isoformat()
        prefix = self.client.key_prefix(sobject)
        if prefix is None:  # an object whose ids share no prefix cannot be told apart from its entity's others
            return 0
        entity = self.mappings[sobject].entity
        present = self.client.bulk_ids(sobject, self.config.bulk_page_records, self.config.bulk_wait_minutes * 60)
        held = [r[0] for r in lake.execute(
            f"SELECT source_id FROM {ident(entity + '_current')} WHERE source_type = 'Salesforce' "
            "AND source_instance_id = ? AND starts_with(source_id, ?)", [self.config.org_id, prefix]).fetchall()]
        holder = Holder("Salesforce", self.config.org_id, f"salesforce:{self.config.name}")
        deleted = delete_missing(lake, entity, holder, held, present, self.config.reconcile_max_share, sobject)
        state.put(f"reconcile.{sobject}", "at", at)
        return deleted

    def _load_rows(self, lake: Lake, sobject: str, rows: list[dict[str, Any]]) -> IngestResult:
        chunk, digest = records_chunk(rows)
        return ingest_chunks(lake, self.mappings[sobject], [chunk], source_name=f"salesforce:{self.config.name}",
                             fingerprint=digest, source_instance_id=self.config.org_id, strict_columns=False)

    def _finish(self, report: SyncReport) -> SyncReport:
        report.calls = self.client.stats.calls - report._first_call
        report.seconds = monotonic() - report._started
        return report


def _soql_time(iso: str) -> str:
    """SOQL datetime literals are unquoted ISO 8601 in UTC."""
    return utc_seconds(parse_instant(iso))


def open_source(config: SalesforceSourceConfig, workspace_root: Path, schema: Schema = STANDARD) -> SalesforceSource:
    return SalesforceSource(config, config.client(workspace_root, config.bulk_poll_seconds), workspace_root, schema)
