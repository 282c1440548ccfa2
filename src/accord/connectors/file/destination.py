"""Audience files: CSV or Parquet parts written under temporary names, renamed, then a manifest last."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accord.activation.destination import (
    Capabilities,
    DeliveryError,
    Member,
    Outcome,
)
from accord.cells import as_cell, from_cell
from accord.connectors.file.config import FileDestinationConfig
from accord.model.names import slug


class FileDestination:
    """Files under `url`/<sandbox>/<audience>/run-NNNNNN/ (run numbers are per sandbox, so each has its folder)."""

    def __init__(self, config: FileDestinationConfig, url: str) -> None:
        self.config = config
        self.fs, self.root = fsspec.core.url_to_fs(url, **config.storage_options)
        self.capabilities = Capabilities(needs=tuple(config.fields), batch_size=config.split_rows,
                                         commits_at_finish=True, wants_snapshot=config.mode == "snapshot",
                                         can_check=config.mode == "incremental", updates=True)
        self._changes: dict[str, list[dict[str, Any]]] = {}

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        self._changes.setdefault(audience, []).extend(self._row(m, "add") for m in members)
        return [Outcome(m.profile_id, "added") for m in members]

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        self._changes.setdefault(audience, []).extend(self._row(m, "remove") for m in members)
        return [Outcome(m.profile_id, "removed") for m in members]

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        """An incremental file lists the member again as `update`; a snapshot holds every member as they are."""
        if self.config.mode == "incremental":
            self._changes.setdefault(audience, []).extend(self._row(m, "update") for m in members)
        return [Outcome(m.profile_id, "updated") for m in members]

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        """The members whose change is in run `run_id`'s files, if its manifest was written (a run killed after
        writing it, before recording it): sending them again would list them twice."""
        if self.config.mode != "incremental":
            return {}  # a snapshot is whole in itself: writing a newer one is the right answer
        folder = self._folder(audience, run_id)
        try:
            manifest = json.loads(self.fs.cat_file(f"{folder}/manifest.json"))
            parts = [_decode(self.fs.cat_file(f"{folder}/{p['file']}"), manifest["format"]) for p in manifest["parts"]]
        except FileNotFoundError:
            return {}
        written = {(r["profile_id"], r["change"]) for table in parts for r in table.to_pylist()}
        return {m.profile_id: None for m in members if (m.profile_id, change) in written}

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        """Write this run's file(s) for the audience; readers trust a run only once its manifest exists."""
        if self.config.mode == "snapshot":
            rows = [self._row(m, None) for m in snapshot]
        else:
            rows = self._changes.pop(audience, [])
            if not rows:
                return
        folder = self._folder(audience, run_id)
        columns = ["profile_id", *map(self.config.sent_as, self.config.fields)]
        columns += ["change"] if self.config.mode == "incremental" else []
        parts = []
        try:
            self.fs.makedirs(folder, exist_ok=True)
            for number, start in enumerate(range(0, max(len(rows), 1), self.config.split_rows), 1):
                chunk = rows[start:start + self.config.split_rows]
                table = pa.table({c: pa.array([self._cell(r.get(c)) for r in chunk], pa.string()) for c in columns})
                name = f"part-{number:05d}.{self.config.format}"
                data = _encode(table, self.config.format)
                self._write_atomically(f"{folder}/{name}", data)
                parts.append({"file": name, "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()})
            manifest = {"audience": audience, "run_id": run_id, "mode": self.config.mode, "format": self.config.format,
                        "columns": columns, "hashed": self.config.hash_fields, "rows": len(rows), "parts": parts}
            self._write_atomically(f"{folder}/manifest.json", json.dumps(manifest, indent=2).encode())
        except OSError as err:
            raise DeliveryError(f"writing {folder}: {err}", retryable=True) from None

    def erase(self, profile_ids: set[str], values: frozenset[str]) -> int:
        """Rewrite every run's files without the rows of one person (one of their profile ids, or a cell holding
        one of `values`: e-mails, their hashes, ids); manifests follow. Rows taken out."""
        removed = 0
        for manifest_path in self.fs.glob(f"{self.root.rstrip('/')}/*/run-*/manifest.json"):
            folder = manifest_path.rsplit("/", 1)[0]
            manifest = json.loads(self.fs.cat_file(manifest_path))
            changed = False
            for part in manifest["parts"]:
                table = _decode(self.fs.cat_file(f"{folder}/{part['file']}"), manifest["format"])
                rows = table.to_pylist()
                kept = [r for r in rows if r.get("profile_id") not in profile_ids
                        and not any(from_cell(str(v)).lower() in values for v in r.values() if v is not None)]
                if len(kept) == len(rows):
                    continue
                data = _encode(pa.Table.from_pylist(kept, schema=table.schema), manifest["format"])
                self._write_atomically(f"{folder}/{part['file']}", data)
                part.update(rows=len(kept), sha256=hashlib.sha256(data).hexdigest())
                removed += len(rows) - len(kept)
                changed = True
            if changed:
                manifest["rows"] = sum(p["rows"] for p in manifest["parts"])
                self._write_atomically(manifest_path, json.dumps(manifest, indent=2).encode())
        return removed

    def check(self) -> dict[str, int]:
        """The folder takes a file: one is written and removed."""
        probe = f"{self.root.rstrip('/')}/.accord-check-{uuid.uuid4().hex[:8]}"
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            self._write_atomically(probe, b"")
            self.fs.rm(probe)
        except OSError as err:
            raise DeliveryError(f"cannot write to {self.config.url}: {err}", retryable=False) from None
        return {"writable folder": 1}

    def close(self) -> None:
        return None

    def _folder(self, audience: str, run_id: int) -> str:
        return f"{self.root.rstrip('/')}/{slug(audience)}/run-{run_id:06d}"

    def _row(self, member: Member, change: str | None) -> dict[str, Any]:
        row: dict[str, Any] = {"profile_id": member.profile_id}
        for name in self.config.fields:
            value = member.fields.get(name)
            text = None if value is None else str(value)
            if text is not None and name in self.config.hash_fields:
                text = hashlib.sha256(text.strip().lower().encode()).hexdigest()
            row[self.config.sent_as(name)] = text
        if change:
            row["change"] = change
        return row

    def _cell(self, text: str | None) -> str | None:
        """`text` as the file holds it: a would-be formula escaped (`accord/cells.py`) unless kept by choice."""
        if text is None or self.config.format != "csv" or self.config.formulas == "keep":
            return text
        return as_cell(text)

    def _write_atomically(self, path: str, data: bytes) -> None:
        temporary = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with self.fs.open(temporary, "wb") as out:
            out.write(data)
        self.fs.mv(temporary, path)


def _decode(data: bytes, fmt: str) -> pa.Table:
    if fmt == "csv":
        return pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
            column_types={"profile_id": pa.string()}))
    return pq.read_table(io.BytesIO(data))


def _encode(table: pa.Table, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, buffer)
    else:
        pq.write_table(table, buffer)
    return buffer.getvalue()


def open_destination(config: FileDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> FileDestination:
    url = config.url if "://" in config.url or Path(config.url).is_absolute() else str(root / config.url)
    return FileDestination(config, f"{url.rstrip('/')}/{sandbox}")
