"""What a mapping would make of a file, before anything is loaded: each column's fate and a few mapped rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from accord.ingest.compile import ChunkCompiler
from accord.ingest.mapping import Mapping, MappingError
from accord.sources.base import RawChunk


@dataclass
class MappingPreview:
    columns: dict[str, list[str]]
    """Each input column (as the file names it) → the fields it fills (empty: not mapped)."""
    absent: list[str]
    """Columns the mapping reads that the file lacks: their fields stay empty."""
    missing: str | None
    """Why the file cannot load with this mapping (a column a record cannot do without), or None."""
    sample: list[dict[str, Any]] = field(default_factory=list)
    """The first rows as they would load (or, with `_reason`, be quarantined)."""


def preview(mapping: Mapping, chunk: RawChunk, rows: int = 5) -> MappingPreview:
    """The fate of each column of `chunk` under `mapping`, and its first `rows` rows mapped."""
    mapping = mapping.with_custom(chunk.columns)
    try:
        renames, refused = mapping.renames(chunk.columns), None
    except MappingError as err:  # the columns read by their own names are still shown
        renames, refused = {}, str(err)
    named = [renames.get(c, c) for c in chunk.columns]
    fills = {c: [f for f, spec in mapping.fields.items() if any(s == c or s.startswith(c + ".")
                                                                  for s in spec.source_columns)] for c in named}
    absent = mapping.absent(named)
    if refused is None:
        try:
            mapping.check_columns(named)
        except MappingError as err:
            refused = str(err)
    if refused is not None:
        return MappingPreview(dict(zip(chunk.columns, fills.values())), absent, refused)
    head = chunk.table.slice(0, rows)
    head = head.rename_columns([renames.get(c, c) for c in head.column_names])
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("chunk", head)
        sql = ChunkCompiler(mapping, named, mapping.source_instance_id, strict=False).select_sql()
        table: pa.Table = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    sample = [{k: v for k, v in r.items() if v is not None and k not in ("_raw", "source_row")}
              for r in table.to_pylist()]
    sample += [{"_row": bad.row, "_reason": bad.reason} for bad in chunk.malformed[:rows]]
    return MappingPreview(dict(zip(chunk.columns, fills.values())), absent, None, sample)


def fit(mapping: Mapping, columns: list[str]) -> tuple[float, float]:
    """How well a file's columns fit a mapping: the share of the columns it reads that the file has, and the share
    of the file's columns it reads (both 0 when a column the records need is missing)."""
    try:
        named = [mapping.renames(columns).get(c, c) for c in columns]
        mapping.check_columns(named)
    except MappingError:
        return 0.0, 0.0
    read = mapping.source_columns
    if not read or not named:
        return 0.0, 0.0
    used = set(read) | {c.split(".")[0] for c in read}
    return 1 - len(mapping.absent(named)) / len(read), sum(c in used for c in named) / len(named)
