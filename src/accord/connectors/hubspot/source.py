"""HubSpot source: a backfill pages through each object's records, then each sync searches for those changed
since (by their last-modified property), and reads the archived ones; every page comes with its associations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from time import monotonic
from typing import Any

from accord.connectors.hubspot.client import SEARCH_WINDOW, HubSpotClient, Link
from accord.connectors.hubspot.config import HubSpotSourceConfig
from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import Mapping
from accord.lake.store import Lake
from accord.model.schema import STANDARD, Schema
from accord.model.times import EPOCH, parse_instant
from accord.sources.api import (
    Progress,
    SyncReport,
    custom_to_read,
    fields_present,
    page_batches,
    records_chunk,
)
from accord.sources.mappings import resolve_mapping
from accord.sources.reconcile import Holder, held_ids
from accord.sources.state import SourceState

SOURCE_TYPE = "HubSpot"
CLOCK_SKEW = timedelta(seconds=60)
"""How far the portal's clock may run behind ours: the first sync after a backfill reads back from this much before
the backfill began (what is read again is an unchanged version and loads nothing)."""


@dataclass(frozen=True)
class Associated:
    """Records of another object read with each record: as relation rows of their own, or as a column."""

    to_type: str
    mapping: str | None
    """The relation's mapping; None: the primary (else first) associated record's id goes in `column`."""
    column: str = ""
    own: str = ""
    """The relation rows' column holding the record's own id (`contact_id`, `deal_id`)."""


@dataclass(frozen=True)
class HubSpotObject:
    mapping: str
    modified: str
    """The property HubSpot stamps with the record's last change (a search sorts and filters by it)."""
    associated: tuple[Associated, ...] = ()


OBJECTS = {
    "contacts": HubSpotObject("hubspot/contact", "lastmodifieddate",
                              (Associated("companies", "hubspot/contact_company", own="contact_id"),)),
    "companies": HubSpotObject("hubspot/company", "hs_lastmodifieddate"),
    "deals": HubSpotObject("hubspot/deal", "hs_lastmodifieddate",
                           (Associated("companies", None, column="company_id"),
                            Associated("contacts", "hubspot/deal_contact", own="deal_id"))),
}
OTHER_ID = {"companies": "company_id", "contacts": "contact_id"}
"""A relation row's column holding the associated record's id."""


class HubSpotSource:
    """Reads one portal into one sandbox's lake; checkpoints (a cursor per object, the last change read) live there."""

    def __init__(self, config: HubSpotSourceConfig, client: HubSpotClient, workspace_root: Path,
                 schema: Schema = STANDARD) -> None:
        self.config, self.client, self.schema = config, client, schema
        self.mappings: dict[str, Mapping] = {
            o: resolve_mapping(str(workspace_root / config.mappings[o]) if o in config.mappings else OBJECTS[o].mapping,
                               schema=schema) for o in config.objects}
        self.relations = {a.mapping: resolve_mapping(a.mapping, schema=schema)
                          for o in config.objects for a in OBJECTS[o].associated if a.mapping}
        self._holder = Holder(SOURCE_TYPE, config.portal_id, f"hubspot:{config.name}")
        self._properties: dict[str, list[str]] = {}
        self._labels: dict[str, dict[str, dict[str, str]]] = {}

    def close(self) -> None:
        self.client.close()

    def check(self) -> dict[str, int]:
        """The portal the token belongs to, each object's properties read, the declared custom fields it lacks."""
        self.client.require_portal(self.config.portal_id, f"source {self.config.name!r}")
        found: dict[str, int] = {}
        for object_type in self.config.objects:
            read = self.properties(object_type)
            found[f"{object_type} properties read"] = len(read)
            lacking = [f for f in self._custom(object_type) if f.lower() not in {p.lower() for p in read}]
            if lacking:
                found[f"declared fields {object_type} lacks ({', '.join(lacking)})"] = len(lacking)
        return found

    def properties(self, object_type: str) -> list[str]:
        """What the mapping reads that the portal has, the declared custom fields it has, and the last change's
        stamp, as the portal spells them."""
        if object_type not in self._properties:
            wanted = [OBJECTS[object_type].modified, *self.mappings[object_type].source_columns,
                      *self._custom(object_type)]
            held = self.client.properties(object_type)
            self._properties[object_type] = read = fields_present(wanted, held)
            labelled = self.config.enumerations == "label"
            self._labels[object_type] = {name: held[name] for name in read if labelled and held[name]}
        return self._properties[object_type]

    def labels(self, object_type: str) -> dict[str, dict[str, str]]:
        """The choice properties read whose values are read as labels, each value's label (none with `enumerations:
        value`)."""
        self.properties(object_type)
        return self._labels[object_type]

    def _custom(self, object_type: str) -> list[str]:
        return custom_to_read(self.schema, self.mappings[object_type].entity, self.config.custom_fields)

    # Backfill -----------------------------------------------------------------------------------------------
    def backfill(self, lake: Lake, progress: Progress | None = None, *, restart: bool = False) -> SyncReport:
        """Every record of each object, page by page; an interrupted backfill resumes at its next page."""
        state = SourceState(lake, self.config.state_key)
        if restart:
            state.clear()
        report = SyncReport(self.config.name, "backfill", _first_call=self.client.calls)
        self.client.require_portal(self.config.portal_id, f"source {self.config.name!r}")
        for object_type in self.config.objects:
            stream = f"backfill.{object_type}"
            if state.get(stream, "done"):
                continue
            if state.get(stream, "started") is None:
                state.put(stream, "started", (datetime.now(timezone.utc) - CLOCK_SKEW).isoformat())
            pages = self._pages(object_type, state.get(stream, "after"))
            for records, following in page_batches(pages, self.config.records_per_batch):
                self._load(lake, object_type, records, report, progress)
                if following is not None:
                    state.put(stream, "after", following)
            state.put(f"sync.{object_type}", "since", str(state.get(stream, "started")))
            state.put(stream, "done", "1")
        state.put("backfill", "completed_at", datetime.now(timezone.utc).isoformat())
        return self._finish(report)

    # Incremental sync ---------------------------------------------------------------------------------------
    def sync(self, lake: Lake, progress: Progress | None = None) -> SyncReport:
        """Per object: the records changed since the checkpoint (by search), then those archived that Accord holds."""
        state = SourceState(lake, self.config.state_key)
        if state.get("backfill", "completed_at") is None:
            return self.backfill(lake, progress)
        report = SyncReport(self.config.name, "sync", _first_call=self.client.calls)
        self.client.require_portal(self.config.portal_id, f"source {self.config.name!r}")
        started = datetime.now(timezone.utc)
        for object_type in self.config.objects:
            since = parse_instant(state.get(f"sync.{object_type}", "since") or "1970-01-01T00:00:00+00:00")
            latest = since
            for records, _ in page_batches(((page, None) for page in self._changed(object_type, since)),
                                           self.config.records_per_batch):
                self._load(lake, object_type, records, report, progress)
                latest = max(latest, *(self._stamp(object_type, r) for r in records))
            # Search finds a change a little after it is made: the last while is read again next time.
            lagging = started - timedelta(seconds=self.config.search_lag_seconds)
            state.put(f"sync.{object_type}", "since", min(latest, max(since, lagging)).isoformat())
            report.deleted += self._archived(lake, object_type, report, progress)
        return self._finish(report)

    def _changed(self, object_type: str, since: datetime) -> Iterator[list[dict[str, Any]]]:
        """Pages of the records changed at or after `since`, oldest change first. A search pages through 10,000
        results at most, so past them it starts again from the last change read; when a whole window shares one
        millisecond (an import), that millisecond's changes are read in the order of their ids."""
        modified, properties, size = OBJECTS[object_type].modified, self.properties(object_type), self.config.page_size
        at, last_id = _millis(since), None  # last_id: reading the changes of millisecond `at` past that id
        while True:
            filters = [{"propertyName": modified, "operator": "GTE" if last_id is None else "EQ", "value": str(at)}]
            if last_id is not None:
                filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": last_id})
            sort = modified if last_id is None else "hs_object_id"
            offset, last, whole = 0, None, False
            while True:
                page = self.client.search(object_type, filters, sort, properties, offset, size)
                if page.results:
                    last = page.results[-1]
                    yield page.results
                if page.after is None:
                    whole = True
                    break
                offset = int(page.after)
                if offset + size > SEARCH_WINDOW:
                    break
            if whole and last_id is None:
                return
            if whole:  # that millisecond is read: on past it
                at, last_id = at + 1, None
            elif last_id is not None:
                last_id = str(last["id"]) if last else last_id
            elif last is not None and (newest := _millis(self._stamp(object_type, last))) > at:
                at = newest
            else:
                last_id = "0"

    def _stamp(self, object_type: str, record: dict[str, Any]) -> datetime:
        """When the record last changed; the epoch when HubSpot says no time (the next sync reads it again)."""
        text = (record.get("properties") or {}).get(OBJECTS[object_type].modified) or record.get("updatedAt")
        try:
            return parse_instant(str(text))
        except ValueError:
            return EPOCH

    def _archived(self, lake: Lake, object_type: str, report: SyncReport, progress: Progress | None) -> int:
        """The archived records of the object that Accord holds undeleted, loaded as deleted; returns how many."""
        entity = self.mappings[object_type].entity
        deleted = 0
        for records, _ in page_batches(self._pages(object_type, None, archived=True), self.config.records_per_batch):
            held = held_ids(lake, entity, [str(r.get("id")) for r in records], self._holder)
            deleted += self._load(lake, object_type, [r for r in records if str(r.get("id")) in held], report,
                                  progress, relations=False)
        return deleted

    def _pages(self, object_type: str, after: str | None,
               archived: bool = False) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """The object's records page by page from cursor `after`, each page with the cursor of the next."""
        while True:
            page = self.client.page(object_type, self.properties(object_type), after, self.config.page_size, archived)
            yield page.results, page.after
            if page.after is None:
                return
            after = page.after

    # Loading ------------------------------------------------------------------------------------------------
    def _load(self, lake: Lake, object_type: str, records: list[dict[str, Any]], report: SyncReport,
              progress: Progress | None, relations: bool = True) -> int:
        """A page of records as rows of the object's mapping, with what is associated to them; returns the records
        loaded."""
        if not records:
            return 0
        rows = [_row(r, self.labels(object_type)) for r in records]
        ids = [row["id"] for row in rows]
        related: list[tuple[str, list[dict[str, Any]]]] = []
        for associated in OBJECTS[object_type].associated if relations else ():
            links = self.client.associations(object_type, associated.to_type, ids)
            if associated.mapping is None:
                for row in rows:
                    row[associated.column] = _main(links.get(row["id"], []))
            else:
                related.append((associated.mapping, self._relation_rows(lake, associated, rows, links)))
        loaded = self._ingest(lake, self.mappings[object_type], rows)
        report.results.append(loaded)
        for mapping, relation_rows in related:
            if relation_rows:
                report.results.append(self._ingest(lake, self.relations[mapping], relation_rows))
        if progress:
            progress(object_type, len(rows))
        return loaded.loaded

    def _relation_rows(self, lake: Lake, associated: Associated, rows: list[dict[str, Any]],
                       links: dict[str, list[Link]]) -> list[dict[str, Any]]:
        """A row per record and associated record; and, archived, each link Accord holds that the record no longer
        has (an association removed in HubSpot)."""
        other = OTHER_ID[associated.to_type]
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            for link in links.get(row["id"], []):
                labels = [label for label in link.labels if label != "Primary"]
                out[f"{row['id']}-{link.to_id}"] = {
                    "id": f"{row['id']}-{link.to_id}", associated.own: row["id"], other: link.to_id,
                    "labels": ";".join(labels) or None, "is_primary": link.primary, "updatedAt": row["updatedAt"],
                    "archived": False}
        entity = self.relations[str(associated.mapping)].entity
        held = held_ids(lake, entity, [row["id"] for row in rows], self._holder, by="split_part(source_id, '-', 1)")
        updated = {row["id"]: row["updatedAt"] for row in rows}
        for source_id in sorted(held):
            if source_id not in out:
                own, _, to_id = str(source_id).partition("-")
                out[source_id] = {"id": source_id, associated.own: own, other: to_id, "labels": None,
                                  "is_primary": None, "updatedAt": updated.get(own), "archived": True}
        return list(out.values())

    def _ingest(self, lake: Lake, mapping: Mapping, rows: list[dict[str, Any]]) -> IngestResult:
        chunk, digest = records_chunk(rows)
        # A page read again (a resumed backfill, a sync's overlap) has the same records: recognised, not loaded twice.
        return ingest_chunks(lake, mapping, [chunk], source_name=f"hubspot:{self.config.name}", fingerprint=digest,
                             source_instance_id=self.config.portal_id, strict_columns=False)

    def _finish(self, report: SyncReport) -> SyncReport:
        report.calls = self.client.calls - report._first_call
        report.seconds = monotonic() - report._started
        return report


def _row(record: dict[str, Any], labels: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A record as one row: its properties beside its id, its times and whether (and when) it was archived; a
    choice's value as its label (`labels`), each of several chosen (`a;b`) alike, a value with none as it is."""
    properties = dict(record.get("properties")) if isinstance(record.get("properties"), dict) else {}
    for name, named in labels.items():
        if isinstance(properties.get(name), str):
            properties[name] = ";".join(named.get(v, v) for v in properties[name].split(";"))
    return {**properties, "id": str(record.get("id")), "createdAt": record.get("createdAt"),
            "updatedAt": record.get("updatedAt"), "archived": bool(record.get("archived", False)),
            "archivedAt": record.get("archivedAt")}


def _main(links: list[Link]) -> str | None:
    """The primary associated record's id, else the first one's."""
    return next((link.to_id for link in links if link.primary), links[0].to_id if links else None)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def open_source(config: HubSpotSourceConfig, workspace_root: Path, schema: Schema = STANDARD) -> HubSpotSource:
    return HubSpotSource(config, config.client(workspace_root), workspace_root, schema)
