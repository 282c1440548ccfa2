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
    present = set().union(*(r.keys() for r in rows))
    table = pa.table(
        {c: text_column([r.get(c) for r in rows]) if c in present else pa.nulls(len(rows), pa.string())
         for c in columns}
        | {ROW_COLUMN: pa.array(numbers, pa.int64())}
    )
    return ingest_chunks(lake, mapping, [RawChunk(table, malformed or [])], source_name=source_name, fingerprint=fingerprint)
