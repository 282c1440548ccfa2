"""The XDM source: JSON lines of XDM B2B objects (as `accord export xdm` writes them) back into the lake."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import parse_mapping
from accord.lake.store import Lake
from accord.model.entities import get_entity
from accord.model.xdm import XdmError, from_xdm
from accord.sources.base import ROW_COLUMN, MalformedRow, RawChunk


def load_xdm_file(lake: Lake, path: Path, entity: str) -> list[IngestResult]:
    """One batch per source system instance found in the file; invalid objects are quarantined."""
    ent = get_entity(entity)
    groups: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    malformed: list[MalformedRow] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = from_xdm(entity, json.loads(line))
                groups[(record["source_type"], record["source_instance_id"])].append((number, record))
            except (ValueError, KeyError, XdmError) as err:
                malformed.append(MalformedRow(number, line.rstrip("\n"), f"invalid_xdm: {err}"))
    columns = [c.name for c in ent.mappable_columns]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    results = []
    if not groups and malformed:
        groups[("XDM", "import")] = []
    for i, ((source_type, instance), rows) in enumerate(sorted(groups.items())):
        mapping = parse_mapping(
            {"entity": entity, "source_type": source_type, "source_instance_id": instance,
             "fields": {c: {"from": c, "optional": True} for c in columns}},
            f"XDM import of {entity}",
        )
        table = pa.table(
            {c: pa.array([_text(r.get(c)) for _, r in rows], pa.string()) for c in columns}
            | {ROW_COLUMN: pa.array([n for n, _ in rows], pa.int64())}
        )
        chunk = RawChunk(table, malformed if i == 0 else [])
        results.append(
            ingest_chunks(lake, mapping, [chunk], source_name=str(path), fingerprint=digest, source_instance_id=instance)
        )
    return results


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
