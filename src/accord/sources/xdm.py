"""The XDM source: JSON lines of XDM B2B objects (as `accord export xdm` writes them) back into the lake."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from accord.ingest.loader import IngestResult
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.model.xdm import DEFAULT_TENANT, XdmError, XdmReader, xdm_class
from accord.sources.base import MalformedRow
from accord.sources.files import BOM, FileFormatError, json_object, line_text


def load_xdm_file(lake: Lake, path: Path, entity: str, tenant: str = DEFAULT_TENANT) -> list[IngestResult]:
    """One batch per source system instance found in the file; invalid objects are quarantined."""
    xdm_class(entity)  # refuse an entity without an XDM class before reading anything
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder: name a file of XDM objects, one JSON object a line")
    groups: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    malformed: list[MalformedRow] = []
    reader = XdmReader(entity, lake.schema, tenant)
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            if not raw.strip():
                continue
            try:
                record = reader.read(json_object(raw.rstrip(b"\r\n")))
                groups[(record["source_type"], record["source_instance_id"])].append((number, record))
            except (ValueError, KeyError, XdmError) as err:
                malformed.append(MalformedRow(number, line_text(raw), f"invalid_xdm: {err}"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not groups and malformed:
        groups[("XDM", "import")] = []
    return [
        ingest_records(
            lake, entity, [r for _, r in rows], source_type=source_type, source_instance_id=instance,
            source_name=str(path), fingerprint=digest, row_numbers=[n for n, _ in rows], malformed=malformed if i == 0 else [],
        )
        for i, ((source_type, instance), rows) in enumerate(sorted(groups.items()))
    ]
