"""The XDM source: JSON lines of XDM B2B objects (as `accord export xdm` writes them) back into the lake."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from accord.ingest.loader import IngestResult
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.model.xdm import DEFAULT_TENANT, XdmError, from_xdm, xdm_class
from accord.sources.base import MalformedRow


def load_xdm_file(lake: Lake, path: Path, entity: str, tenant: str = DEFAULT_TENANT) -> list[IngestResult]:
    """One batch per source system instance found in the file; invalid objects are quarantined."""
    xdm_class(entity)  # refuse an entity without an XDM class before reading anything
    groups: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    malformed: list[MalformedRow] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = from_xdm(entity, json.loads(line), lake.schema, tenant)
                groups[(record["source_type"], record["source_instance_id"])].append((number, record))
            except (ValueError, KeyError, XdmError) as err:
                malformed.append(MalformedRow(number, line.rstrip("\n"), f"invalid_xdm: {err}"))
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
