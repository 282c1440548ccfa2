"""The lake's record tables kept as Parquet for Spark: a job writes only the batches committed since the last one,
not every record again.

Record tables are append-only by batch, so a batch's rows never change once committed; only an erasure deletes
some (it removes the whole mirror, see `Lake.derived_folder`), and a new custom field changes a table's columns
(the table is written again). A batch is known by its rows and when it began, so a store put back from elsewhere
(same batch ids, other rows) is not mistaken for this one.

Each sync adds at most one file, holding the batches it lacked; past `MAX_FILES` the table is written again as
one (a collector under `serve` commits a batch every few seconds, and Spark reads few large files best). A file
appears whole (written aside, then renamed) and the manifest naming the files and their batches is replaced last:
a sync killed half-way leaves a file the manifest does not name, which the next one removes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.lake.sql import ident, literal
from accord.lake.store import Lake

MANIFEST = "_manifest.json"
"""Beside the data files: Spark skips files whose names start with `_`."""
MAX_FILES = 32
"""Files a table's mirror may hold before it is written again as one."""


@dataclass(frozen=True)
class Synced:
    """What one sync of a table's mirror did."""

    folder: Path
    written: int
    """Batches written."""
    removed: int
    """Files removed: a changed batch's, a killed sync's, or those compacted into one."""
    batches: int


def mirror_folder(lake: Lake, table: str) -> Path:
    return lake.derived_folder / "parquet" / table


def sync_table(lake: Lake, table: str) -> Synced:
    """Bring the Parquet mirror of record table `table` in line with the lake."""
    folder = mirror_folder(lake, table)
    columns = [f"{name} {kind}" for name, kind in lake.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()]
    want = {str(b): f"{n}@{at}" for b, n, at in lake.execute(
        f"SELECT t.batch_id, count(*), any_value(b.started_at) FROM {ident(table)} t "
        "LEFT JOIN batches b USING (batch_id) GROUP BY t.batch_id").fetchall()}
    held = _manifest(folder)
    if held.get("columns") != columns:
        shutil.rmtree(folder, ignore_errors=True)
        held = {"columns": columns, "files": {}}
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {
        name: batches for name, batches in held["files"].items()
        if (folder / name).exists() and all(want.get(b) == key for b, key in batches.items())}
    covered = {b for batches in files.values() for b in batches}
    missing = [b for b in want if b not in covered]
    if missing and len(files) + 1 > MAX_FILES:
        files, missing = {}, list(want)
    if missing:
        name = _write(lake, table, folder, missing)
        files[name] = {b: want[b] for b in missing}
    _write_manifest(folder, {"columns": columns, "files": files})
    gone = [p for p in folder.glob("part-*.parquet") if p.name not in files] + list(folder.glob(".part-*.tmp"))
    for path in gone:
        path.unlink()
    return Synced(folder, len(missing), len(gone), len(want))


def _write(lake: Lake, table: str, folder: Path, batches: list[str]) -> str:
    """One new file holding `batches`; returns its name (numbered past every file in the folder)."""
    number = 1 + max((int(p.stem.removeprefix("part-")) for p in folder.glob("part-*.parquet")), default=0)
    name = f"part-{number:06d}.parquet"
    aside = folder / f".{name}.tmp"  # Spark skips files whose names start with a dot
    chosen = ", ".join(str(int(b)) for b in batches)
    lake.execute(f"COPY (SELECT * FROM {ident(table)} WHERE batch_id IN ({chosen})) TO {literal(str(aside))} "
                 "(FORMAT parquet)")
    os.replace(aside, folder / name)
    return name


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    aside = folder / f".{MANIFEST}.tmp"
    aside.write_text(json.dumps(manifest))
    os.replace(aside, folder / MANIFEST)
