"""Dynamics 365 source: a backfill reads each table whole with change tracking, then each sync follows the table's
delta link to what changed and was deleted since; an opportunity's contact and a static list's members become
relations of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from time import monotonic
from typing import Any

from accord.connectors.dynamics.client import (
    FORMATTED,
    TARGET,
    Absent,
    Column,
    DynamicsClient,
    Page,
    Refused,
)
from accord.connectors.dynamics.config import DynamicsSourceConfig
from accord.connectors.errors import ConnectorError
from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import Mapping
from accord.ingest.records import ingest_records
from accord.lake.sql import ident
from accord.lake.store import Lake
from accord.model.schema import STANDARD, Schema
from accord.sources.api import (
    Progress,
    SyncReport,
    custom_to_read,
    fields_present,
    page_batches,
    records_chunk,
    records_digest,
)
from accord.sources.mappings import resolve_mapping
from accord.sources.reconcile import Holder, delete_missing, held_ids
from accord.sources.state import SourceState

SOURCE_TYPE = "Dynamics"
CONTACT_MAPPING = "dynamics/opportunity_contact"
"""The relation an opportunity's contact (`parentcontactid`) is loaded as."""
MEMBER_MAPPING = "dynamics/list_member"
"""The relation a static list's members are loaded as."""
PEOPLE_LISTS = {2: "contact", 4: "lead"}
"""A list's member type (`createdfromcode`) → the table of its members, for lists of people."""


@dataclass(frozen=True)
class Table:
    logical_name: str
    key: str
    """The column holding a record's id."""
    mapping: str
    among: str = "TRUE"
    """Which of its entity's records are this table's (contacts and leads are both people)."""


TABLES = {
    "accounts": Table("account", "accountid", "dynamics/account"),
    "contacts": Table("contact", "contactid", "dynamics/contact", "person_type = 'contact'"),
    "leads": Table("lead", "leadid", "dynamics/lead", "person_type = 'lead'"),
    "opportunities": Table("opportunity", "opportunityid", "dynamics/opportunity"),
    "lists": Table("list", "listid", "dynamics/list"),
}
ALWAYS = ("createdon", "modifiedon", "statecode")


class DynamicsSource:
    """Reads one environment into one sandbox's lake; checkpoints (a table's next page, then its delta link) live
    there."""

    def __init__(self, config: DynamicsSourceConfig, client: DynamicsClient, workspace_root: Path,
                 schema: Schema = STANDARD) -> None:
        self.config, self.client, self.schema = config, client, schema
        self.mappings: dict[str, Mapping] = {
            t: resolve_mapping(str(workspace_root / config.mappings[t]) if t in config.mappings else TABLES[t].mapping,
                               schema=schema) for t in config.tables}
        self.contacts = resolve_mapping(CONTACT_MAPPING, schema=schema)
        self.members = resolve_mapping(MEMBER_MAPPING, schema=schema)
        self._holder = Holder(SOURCE_TYPE, config.organization_id, f"dynamics:{config.name}")
        self._columns: dict[str, dict[str, Column]] = {}
        self._select: dict[str, list[str]] = {}

    def close(self) -> None:
        self.client.close()

    def check(self) -> dict[str, int]:
        """The organisation signed in to, each table's columns read, the declared custom fields it lacks; and a
        first page of each table with change tracking, which Dynamics refuses where it is off."""
        self._require_organization()
        held, absent = self._held()
        found: dict[str, int] = {f"tables left out, not in the environment ({', '.join(absent)})": len(absent)} \
            if absent else {}
        for table in held:
            read = self.select(table)
            found[f"{table} columns read"] = len(read)
            lacking = [f for f in self._custom(table) if f.lower() not in {c.lower() for c in read}]
            if lacking:
                found[f"declared fields {table} lacks ({', '.join(lacking)})"] = len(lacking)
            self._tracked(lambda: self.client.changes(table, [TABLES[table].key], 1), table)
        return found

    def select(self, table: str) -> list[str]:
        """The columns read of `table`: what the mapping reads that the table has (a lookup's `_<name>_value` for
        the `<name>_<table>` a mapping reads of it), the declared custom fields it has, its id and times."""
        if table not in self._select:
            columns = self._columns[table] = self.client.columns(TABLES[table].logical_name)
            wanted = [TABLES[table].key, *ALWAYS, *self._custom(table)]
            for name in self.mappings[table].source_columns:
                lookup = f"_{name.rpartition('_')[0]}_value"
                wanted.append(lookup if name.lower() not in columns and lookup in columns else name)
            wanted += {"opportunities": ["_parentcontactid_value"], "lists": ["createdfromcode", "type"]}.get(table, [])
            self._select[table] = fields_present(wanted, columns)
        return self._select[table]

    def _held(self) -> tuple[list[str], list[str]]:
        """The tables to read, and those left out: read by default (not named under `tables:`) but lacking in the
        environment, an app it does not have (leads, opportunities and lists come with Dynamics 365 Sales). One named
        under `tables:` that the environment lacks is an error."""
        held, absent = [], []
        for table in self.config.tables:
            try:
                self.select(table)
            except Absent:
                if "tables" in self.config.model_fields_set:
                    raise
                absent.append(table)
                continue
            held.append(table)
        return held, absent

    def _custom(self, table: str) -> list[str]:
        return custom_to_read(self.schema, self.mappings[table].entity, self.config.custom_fields)

    # Backfill -----------------------------------------------------------------------------------------------
    def backfill(self, lake: Lake, progress: Progress | None = None, *, restart: bool = False) -> SyncReport:
        """Every record of each table, page by page; an interrupted backfill resumes at its next page."""
        state = SourceState(lake, self.config.state_key)
        if restart:
            state.clear()
        report = SyncReport(self.config.name, "backfill", _first_call=self.client.calls)
        self._require_organization()
        held, report.absent = self._held()
        for table in held:
            self._backfill(lake, state, table, report, progress)
        state.put("backfill", "completed_at", datetime.now(timezone.utc).isoformat())
        return self._finish(report)

    def _backfill(self, lake: Lake, state: SourceState, table: str, report: SyncReport,
                  progress: Progress | None) -> None:
        stream = f"backfill.{table}"
        if state.get(stream, "done"):
            return
        delta: list[str] = []
        resume = state.get(stream, "next")
        if resume is None:
            state.put(stream, "started", datetime.now(timezone.utc).isoformat())
        first = (lambda: self.client.follow(str(resume), f"the records of {table}", self.config.page_size)) \
            if resume else (lambda: self.client.changes(table, self.select(table), self.config.page_size))
        pages = self._pages(table, self._tracked(first, table), delta)
        listed: set[str] = set()
        for records, following in page_batches(pages, self.config.records_per_batch):
            self._load(lake, table, records, report, progress)
            listed |= {str(r.get(TABLES[table].key)).lower() for r in records}
            if following is not None:
                state.put(stream, "next", following)
        if resume is None:
            # A whole read lists every record there is: what Accord holds beyond it was deleted where no delta link
            # could say so (before a backfill read again, or while the checkpoint's columns were others).
            entity = self.mappings[table].entity
            held = [r[0] for r in lake.execute(
                f"SELECT source_id FROM {ident(entity + '_current')} WHERE source_type = ? AND source_instance_id = ? "
                f"AND {TABLES[table].among}", [SOURCE_TYPE, self.config.organization_id]).fetchall()]
            report.deleted += delete_missing(lake, entity, self._holder, held, listed,
                                             self.config.reconcile_max_share, table)
        state.put(f"sync.{table}", "delta", delta[-1])
        state.put(f"sync.{table}", "since", str(state.get(stream, "started")))
        state.put(f"sync.{table}", "columns", ",".join(self.select(table)))
        state.put(stream, "done", "1")

    # Incremental sync ---------------------------------------------------------------------------------------
    def sync(self, lake: Lake, progress: Progress | None = None) -> SyncReport:
        """Per table: what changed since its delta link, the deleted records among it loaded as deleted."""
        state = SourceState(lake, self.config.state_key)
        if state.get("backfill", "completed_at") is None:
            return self.backfill(lake, progress)
        report = SyncReport(self.config.name, "sync", _first_call=self.client.calls)
        self._require_organization()
        held, report.absent = self._held()
        for table in held:
            link = state.get(f"sync.{table}", "delta")
            if link is None or state.get(f"sync.{table}", "columns") != ",".join(self.select(table)):
                # A table added since the backfill, or columns read now that its delta link does not ask for (a
                # custom field declared, a mapping changed): read whole again; what did not change loads nothing,
                # what is gone is deleted.
                state.drop(f"backfill.{table}")
                self._backfill(lake, state, table, report, progress)
                continue
            delta: list[str] = []
            began = datetime.now(timezone.utc).isoformat()
            try:
                first = self.client.follow(str(link), f"the changes of {table}", self.config.page_size)
            except Refused:
                # Dynamics keeps changes for a while only (a restored or copied environment forgets them), and a
                # link asking for a column since deleted is refused: the table is read whole again instead.
                state.drop(f"backfill.{table}")
                self._backfill(lake, state, table, report, progress)
                continue
            for records, _ in page_batches(self._pages(table, first, delta), self.config.records_per_batch):
                self._load(lake, table, records, report, progress)
            state.put(f"sync.{table}", "delta", delta[-1])
            state.put(f"sync.{table}", "since", began)
        if "lists" in held and state.due("lists", "members_read", timedelta(
                hours=self.config.members_every_hours)):
            # A list's members are read when the list changes; a change that left the list itself as it was is
            # read here.
            self._list_members(lake, self.client.static_lists(list(PEOPLE_LISTS)), [], report)
            state.put("lists", "members_read", datetime.now(timezone.utc).isoformat())
        return self._finish(report)

    def _pages(self, table: str, page: Page, delta: list[str]) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """The table's pages from `page` on, each with the link of the next; the last one's delta link goes in
        `delta`."""
        while True:
            yield page.records, page.next_link
            if page.next_link is None:
                if page.delta_link is None:
                    raise ConnectorError(f"Dynamics answered the last page of {table} without a delta link: turn on "
                                         "Track changes for the table")
                delta.append(page.delta_link)
                return
            page = self.client.follow(page.next_link, f"the records of {table}", self.config.page_size)

    def _tracked(self, read: Callable[[], Page], table: str) -> Page:
        """`read()`, a refusal of change tracking said with what to do."""
        try:
            return read()
        except Refused as err:
            raise ConnectorError(f"{err}; Accord reads {table} with change tracking: turn on Track changes for the "
                                 "table (Power Apps → Tables → the table → Properties → Advanced options)") from None

    # Loading ------------------------------------------------------------------------------------------------
    def _load(self, lake: Lake, table: str, records: list[dict[str, Any]], report: SyncReport,
              progress: Progress | None) -> None:
        """A page of records as rows of the table's mapping (an opportunity's contact as a relation row); the
        deleted ones Accord holds as deletions."""
        spec, _ = TABLES[table], self.select(table)
        gone = [str(r.get("id")) for r in records if _deleted(r)]
        rows = [self._row(table, r) for r in records if not _deleted(r) and r.get(spec.key)]
        if rows:
            report.results.append(self._ingest(lake, self.mappings[table], rows))
        if gone:
            held = sorted(held_ids(lake, self.mappings[table].entity, gone, self._holder))
            if held:
                at = datetime.now(timezone.utc).isoformat()
                deletions = [{"source_id": i, "is_deleted": True, "source_updated_at": at} for i in held]
                report.results.append(ingest_records(
                    lake, self.mappings[table].entity, deletions, source_type=SOURCE_TYPE,
                    source_instance_id=self.config.organization_id, source_name=self._holder.source_name,
                    fingerprint=records_digest(deletions)))
                report.deleted += len(held)
        if table == "opportunities":
            if relations := self._contact_rows(lake, rows, gone):
                report.results.append(self._ingest(lake, self.contacts, relations))
        if table == "lists":
            lists = {str(r["listid"]): PEOPLE_LISTS[r.get("createdfromcode")] for r in records
                     if not _deleted(r) and r.get("listid") and r.get("type") is False
                     and r.get("createdfromcode") in PEOPLE_LISTS}
            self._list_members(lake, lists, gone, report)
        if progress:
            progress(table, len(records))

    def _row(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """A record as one row: each column's value (a choice's label, unless `choices: value`), and for each
        lookup also `<name>_<table>`, its value when it is a record of that table."""
        columns, labelled = self._columns[table], self.config.choices == "label"
        row: dict[str, Any] = {"removed": False}
        for name, value in record.items():
            if "@" in name:
                continue
            column = columns.get(name)
            if labelled and column is not None and column.is_choice and f"{name}@{FORMATTED}" in record:
                value = str(record[f"{name}@{FORMATTED}"]).replace("; ", ";")
            row[name] = value
            target = record.get(f"{name}@{TARGET}")
            if name.startswith("_") and name.endswith("_value") and isinstance(target, str):
                row[f"{name[1:-6]}_{target}"] = value
        return row

    def _contact_rows(self, lake: Lake, rows: list[dict[str, Any]], gone: list[str]) -> list[dict[str, Any]]:
        """A relation row per opportunity with a contact; and, removed, each such relation Accord holds that its
        opportunity no longer has (its contact changed or cleared, or the opportunity deleted)."""
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            if contact := row.get("_parentcontactid_value"):
                key = f"{row['opportunityid']}/{contact}"
                out[key] = {"id": key, "opportunityid": row["opportunityid"], "contactid": contact, "role": "Contact",
                            "modifiedon": row.get("modifiedon"), "removed": False}
        stamps = {str(row["opportunityid"]): row.get("modifiedon") for row in rows}
        owners = [*stamps, *gone]
        for held in sorted(held_ids(lake, self.contacts.entity, owners, self._holder,
                                    by="split_part(source_id, '/', 1)")):
            if held not in out:
                opportunity, _, contact = held.partition("/")
                at = stamps.get(opportunity) or datetime.now(timezone.utc).isoformat()
                out[held] = {"id": held, "opportunityid": opportunity, "contactid": contact, "role": None,
                             "modifiedon": at, "removed": True}
        return list(out.values())

    def _list_members(self, lake: Lake, lists: dict[str, str], gone: list[str], report: SyncReport) -> None:
        """A relation row per list (id → its members' table) and member; and, removed, each member Accord holds
        that its list no longer has (or whose list was deleted)."""
        out: dict[str, dict[str, Any]] = {}
        for list_id, table in lists.items():
            for member in sorted(self.client.list_members(list_id, table)):
                key = f"{list_id}/{member}"
                out[key] = {"id": key, "listid": list_id, "memberid": member, "removed": False}
        for held in sorted(held_ids(lake, self.members.entity, [*lists, *gone], self._holder,
                                    by="split_part(source_id, '/', 1)")):
            if held not in out:
                list_id, _, member = held.partition("/")
                out[held] = {"id": held, "listid": list_id, "memberid": member, "removed": True}
        if out:
            report.results.append(self._ingest(lake, self.members, list(out.values())))

    def _ingest(self, lake: Lake, mapping: Mapping, rows: list[dict[str, Any]]) -> IngestResult:
        chunk, digest = records_chunk(rows)
        # A page read again (a resumed backfill, a delta link followed twice) is recognised, not loaded twice.
        return ingest_chunks(lake, mapping, [chunk], source_name=self._holder.source_name, fingerprint=digest,
                             source_instance_id=self.config.organization_id, strict_columns=False)

    def _require_organization(self) -> None:
        self.client.require_organization(self.config.organization_id, f"source {self.config.name!r}")

    def _finish(self, report: SyncReport) -> SyncReport:
        report.calls = self.client.calls - report._first_call
        report.seconds = monotonic() - report._started
        return report


def _deleted(record: dict[str, Any]) -> bool:
    """A delta link's entry for a record deleted (or no longer readable) since: `{"@odata.context": ...
    "$deletedEntity", "id": ..., "reason": ...}`."""
    return "$deletedEntity" in str(record.get("@odata.context") or "")


def open_source(config: DynamicsSourceConfig, workspace_root: Path, schema: Schema = STANDARD) -> DynamicsSource:
    return DynamicsSource(config, config.client(workspace_root), workspace_root, schema)
