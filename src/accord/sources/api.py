"""What API sources share: their settings' common part, the report of a backfill or sync, API records turned
into one raw chunk, pages gathered into batches, and which fields to ask a system for."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field, field_validator

from accord.ingest.loader import IngestResult
from accord.ingest.records import as_text, split_unreadable
from accord.model.names import name_problem
from accord.model.schema import Schema
from accord.sources.base import ROW_COLUMN, MalformedRow, RawChunk


class SourceBase(BaseModel):
    """What every API source's settings hold besides how to reach its system: its name, the sandboxes it feeds,
    how often `serve` syncs it; and which instance it is (`instance_id`), which keys its checkpoints."""

    type: str
    name: str = Field(description="Name of this connection, unique in the workspace (used by `accord sync`).")
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"], description="Sandboxes it feeds.")
    sync_every_seconds: int = Field(default=60, ge=5, description="Incremental sync interval under `accord serve`.")
    paused: bool = Field(default=False, description="Kept in accord.yaml but not synced by `accord serve` or a "
                                                    "sync of every source; naming it still syncs it.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if problem := name_problem(value, "source"):
            raise ValueError(problem)
        return value

    @property
    def instance_id(self) -> str:
        raise NotImplementedError

    @property
    def state_key(self) -> str:
        return f"{self.type}:{self.instance_id}"


class ExportSourceBase(SourceBase):
    """The settings every source of an analytics tool's event export has (Amplitude's, Mixpanel's)."""

    project_id: str = Field(description="The project's id: its events are the records of the collector instance of "
                                        "that name.")
    backfill_days: int = Field(default=30, ge=1, le=3650, description="How many days of history the first sync reads.")
    track_events: dict[str, str] = Field(default_factory=dict, description="The tool's event names → Accord event "
                                         "types, e.g. {\"Demo Requested\": web.formfill}; others become track.<name>.")
    sync_every_seconds: int = Field(default=3600, ge=60, description="Incremental sync interval under `accord serve`.")

    @property
    def instance_id(self) -> str:
        return self.project_id


Progress = Callable[[str, int], None]
"""Told what a source is doing (e.g. `leads 2026-01-01 (3/24)`) and how many rows it just loaded."""


@dataclass
class SyncReport:
    """What one backfill or sync did: every batch it loaded, the calls it made, the rate limit it used."""

    source: str
    mode: str
    results: list[IngestResult] = field(default_factory=list)
    deleted: int = 0
    merged: int = 0
    """Records the source merged into others (kept as records of the one they joined)."""
    absent: list[str] = field(default_factory=list)
    """Objects read by default that the system does not have (a feature not turned on there): left out."""
    calls: int = 0
    rate_used: float = 0.0
    seconds: float = 0.0
    _first_call: int = 0
    _started: float = field(default_factory=monotonic)

    def loaded(self, entity: str | None = None) -> int:
        return sum(r.loaded for r in self.results if entity is None or r.entity == entity)

    def quarantined(self) -> int:
        return sum(r.quarantined for r in self.results)


def records_digest(rows: Any) -> str:
    """A fingerprint of API records: the same records fetched again are recognised as already loaded."""
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


def records_chunk(rows: list[dict[str, Any]]) -> tuple[RawChunk, str]:
    """Records (dicts as an API returns them) as one chunk of text columns, with their fingerprint; a record that is
    not Unicode text is among the chunk's malformed rows, for quarantine, and the others load."""
    numbered = list(enumerate(rows, start=1))
    malformed: list[MalformedRow] = []
    try:
        table = _text_table(numbered)
    except UnicodeEncodeError:
        numbered, malformed = split_unreadable(numbered)
        table = _text_table(numbered)
    return RawChunk(table, malformed), records_digest(rows)


def _text_table(numbered: list[tuple[int, dict[str, Any]]]) -> pa.Table:
    columns = list(dict.fromkeys(c for _, r in numbered for c in r))
    return pa.table({c: pa.array([as_text(r.get(c)) for _, r in numbered], pa.string()) for c in columns}
                    | {ROW_COLUMN: pa.array([n for n, _ in numbered], pa.int64())})


def custom_to_read(schema: Schema, entity: str, chosen: list[str] | None) -> list[str]:
    """The declared custom fields of `entity` a source reads: those its `custom_fields` choose, or all."""
    return [f.name for f in schema.custom_of(entity) if chosen is None or f.name in chosen]


def fields_present(wanted: Iterable[str], available: Iterable[str]) -> list[str]:
    """The `wanted` fields `available` lists, in order, once each, spelled as it lists them: a field written in
    another case (`abm_tier__c` for `ABM_Tier__c`) is asked for as the system names it, and the mapping finds the
    column whatever its case, where an exact comparison would leave the field unread without a word."""
    spelled = {name.lower(): name for name in available}
    return list(dict.fromkeys(spelled[f.lower()] for f in wanted if f.lower() in spelled))


def page_batches(pages: Iterable[tuple[list[dict[str, Any]], str | None]],
                 size: int) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """Pages gathered into batches of at least `size` records (the last one smaller), each with the cursor that
    follows its last page: a batch costs the store the same whether it holds a hundred records or thousands."""
    held: list[dict[str, Any]] = []
    following: str | None = None
    for records, following in pages:
        held.extend(records)
        if len(held) >= size:
            yield held, following
            held = []
    if held:
        yield held, following
