"""A Salesforce org's Data Export (Setup → Data Export, weekly or monthly): zip files of one CSV per object, each
named by the object's API name (`Account.csv`, `Lead.csv`, ...), or the folder they were extracted into. The
objects Accord reads load by their shipped mappings, as the org's records: a zip's name (`WE_<org id>_<n>.ZIP`)
gives the org's id, so they are the same records the org's API sync reads."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from accord.connectors.salesforce.config import SALESFORCE_OBJECTS
from accord.connectors.salesforce.source import mapping_name
from accord.ingest.compile import ID_CHECKSUM
from accord.model.schema import STANDARD, Schema
from accord.sources.compressed import ZIP, extracted, zipped_files
from accord.sources.files import FileJob
from accord.sources.mappings import resolve_mapping

ZIP_NAME = re.compile(r"WE_(00D[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)_\d+", re.IGNORECASE)
"""How Salesforce names an export's zip files: its org's id, then the file's number."""


@dataclass
class DataExport:
    """The files of an export that load (each with its mapping, in the order objects link), and those none reads."""

    jobs: list[FileJob] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)


def holds_data_export(path: Path) -> bool:
    """Is `path` a zip, or a folder without manifest.yaml, holding a CSV file named as an object Accord reads?"""
    return bool(_object_files(path)[0])


def data_export(path: Path, folder: Path, instance: str | None = None, schema: Schema = STANDARD) -> DataExport:
    """The export at `path` as file jobs; a zip's files that load are extracted into `folder` first. `instance`
    names the records' source instance; by default the org's id, when the zip's name says it."""
    objects, others = _object_files(path)
    org = ZIP_NAME.match(path.name)
    instance = instance or (long_id(org[1]) if org else None)
    export = DataExport(unread=sorted(others, key=str.lower))
    for sobject in SALESFORCE_OBJECTS:
        if sobject not in objects:
            continue
        name = objects[sobject]
        copy = extracted(path, _zipped(path, name), folder) if _is_zip(path) else path / name
        export.jobs.append(FileJob(copy, resolve_mapping(mapping_name(sobject), schema=schema), instance,
                                   named=f"{path}/{name}" if _is_zip(path) else None))
    return export


def long_id(text: str) -> str:
    """A 15-character Salesforce id as its 18-character form: each five characters add one, naming which of them
    are capitals; an 18-character one as it is."""
    if len(text) != 15:
        return text
    return text + "".join(ID_CHECKSUM[sum(1 << i for i, c in enumerate(text[s:s + 5]) if "A" <= c <= "Z")]
                          for s in (0, 5, 10))


def _object_files(path: Path) -> tuple[dict[str, str], list[str]]:
    """Object → the name of its CSV file in the export, and the names of its other files."""
    if _is_zip(path):
        names = [m.filename for m in zipped_files(path)]
    elif path.is_dir() and not (path / "manifest.yaml").exists():
        names = [p.name for p in path.iterdir() if p.is_file()]
    else:
        return {}, []
    by_stem = {o.lower(): o for o in SALESFORCE_OBJECTS}
    objects: dict[str, str] = {}
    others = []
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if "/" not in name and dot and suffix.lower() == "csv" and stem.lower() in by_stem:
            objects[by_stem[stem.lower()]] = name
        else:
            others.append(name)
    return objects, others


def _is_zip(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ZIP


def _zipped(path: Path, name: str) -> zipfile.ZipInfo:
    return next(m for m in zipped_files(path) if m.filename == name)
