"""Load plain records (dicts keyed by canonical column) as one batch: for sources that produce records themselves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import parse_mapping
from accord.lake.store import Lake
from accord.sources.base import ROW_COLUMN, MalformedRow, RawChunk


def as_text(value: Any) -> str | None:
    """A value as the text ingest parses: booleans as true/false, times in ISO 8601, objects as JSON, "" as none."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def text_column(values: list[Any]) -> pa.Array:
    """`as_text` over a column; strings and nulls (the usual case) go to Arrow whole, without a Python loop."""
    try:
        column = pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([as_text(v) for v in values], pa.string())
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def ingest_records(
    lake: Lake,
    entity: str,
    rows: Sequence[dict[str, Any]],
    *,
    source_type: str,
    source_instance_id: str,
    source_name: str,
    fingerprint: str,
    row_numbers: Sequence[int] | None = None,
    malformed: list[MalformedRow] | None = None,
) -> IngestResult:
    """Every record through the usual validation and quarantine, as one batch, columns named as in the model."""
    columns = [c.name for c in lake.entity(entity).mappable_columns]
    mapping = parse_mapping(
        {"entity": entity, "source_type": source_type, "source_instance_id": source_instance_id,
         "fields": {c: {"from": c, "optional": True} for c in columns}},
        f"{source_type} {entity} records",
        lake.schema,
    )
    numbers = list(row_numbers) if row_numbers is not None else list(range(1, len(rows) + 1))
    numbered = list(zip(numbers, rows))
    malformed = list(malformed or [])
    try:
        table = _canonical_table(numbered, columns)
    except UnicodeEncodeError:
        numbered, unreadable = split_unreadable(numbered)
        malformed += unreadable
        table = _canonical_table(numbered, columns)
    return ingest_chunks(lake, mapping, [RawChunk(table, malformed)], source_name=source_name, fingerprint=fingerprint)


def _canonical_table(numbered: list[tuple[int, dict[str, Any]]], columns: list[str]) -> pa.Table:
    present = set().union(*(r.keys() for _, r in numbered))
    return pa.table(
        {c: text_column([r.get(c) for _, r in numbered]) if c in present else pa.nulls(len(numbered), pa.string())
         for c in columns}
        | {ROW_COLUMN: pa.array([n for n, _ in numbered], pa.int64())}
    )


SHOWN_CHARS = 1 << 20
"""How much of a malformed record quarantine keeps."""


def split_unreadable(numbered: list[tuple[int, dict[str, Any]]]) -> tuple[list[tuple[int, dict[str, Any]]],
                                                                            list[MalformedRow]]:
    """The (row number, record) pairs that are text, and the others as malformed rows kept whole with why: JSON's
    `\\udXXX` escapes can carry half a character (a lone surrogate), which no text column holds."""
    readable, malformed = [], []
    for number, record in numbered:
        problem = _not_text(record)
        if problem is None:
            readable.append((number, record))
        else:
            malformed.append(MalformedRow(number, json.dumps(record, default=str)[:SHOWN_CHARS], problem))
    return readable, malformed


def _not_text(record: dict[str, Any]) -> str | None:
    """Why a record cannot be read as text (a field's name or value that is not Unicode), or None."""
    for name, value in record.items():
        for what, text in (("the name of a field", str(name)), (f"field {name!r}", as_text(value) or "")):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:
                odd = text[err.start].encode("unicode_escape").decode("ascii")
                return f"malformed_row: {what} holds {odd}, half of a character (a lone surrogate): not Unicode text"
    return None
