"""A Salesforce org's Data Export (Setup → Data Export, weekly or monthly): zip files of one CSV per object, each
named by the object's API name (`Account.csv`, `Lead.csv`, ...), or the folder they were extracted into. The
objects Accord reads load by their shipped mappings, as the org's records: a zip's name (`WE_<org id>_<n>.ZIP`)
gives the org's id, so they are the same records the org's API sync reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from accord.connectors.salesforce.config import SALESFORCE_OBJECTS
from accord.connectors.salesforce.source import mapping_for
from accord.ingest.compile import ID_CHECKSUM
from accord.model.schema import STANDARD, Schema
from accord.sources.compressed import ZIP, extracted, zipped_files
from accord.sources.files import FileJob

ZIP_NAME = re.compile(r"WE_(00D[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)_(\d+)", re.IGNORECASE)
"""How Salesforce names an export's zip files: its org's id, then the file's number."""

EXPORT_ENCODING_HINT = ("a Data Export is written in the encoding chosen for it (Setup → Data Export → Export File "
                        "Encoding; ISO-8859-1 in many orgs): load it again with --encoding latin-1, or the one chosen")


@dataclass
class DataExport:
    """The files of an export that load, each with its object (zip by zip, in the order objects link), and those
    none reads."""

    files: list[tuple[str, FileJob]] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> list[FileJob]:
        return [job for _, job in self.files]


def data_export(path: Path, folder: Path, instance: str | None = None, schema: Schema = STANDARD) -> DataExport:
    """The export at `path` (a zip, a folder without manifest.yaml, or a folder of an export's zips) as file jobs;
    the files that load of each zip are extracted into a folder of its own in `folder` first. No files when `path`
    holds no CSV file named as an object Accord reads. `instance` names the records' source instance; by default
    the org's id, when the zip's name says it."""
    export = DataExport()
    parts = _zips_or_itself(path)
    for part in parts:
        members = {m.filename: m for m in zipped_files(part)} if _is_zip(part) else {}
        if _is_zip(part):
            names = list(members)
        elif part.is_dir() and not (part / "manifest.yaml").exists():
            names = [p.name for p in part.iterdir() if p.is_file()]
        else:
            continue
        objects, others = _object_files(names, schema)
        named = f"{part.name}/" if len(parts) > 1 or part != path else ""
        export.unread += sorted((named + other for other in others), key=str.lower)
        org = ZIP_NAME.match(part.name)
        source_instance = instance or (long_id(org[1]) if org else None)
        if not _is_zip(part):
            export.files += [(o, FileJob(part / name, mapping_for(o, schema), source_instance))
                             for o, name in objects.items()]
            continue
        inside = folder / part.stem
        inside.mkdir(parents=True, exist_ok=True)
        export.files += [(o, FileJob(extracted(part, members[name], inside), mapping_for(o, schema), source_instance,
                                     named=f"{part}/{name}")) for o, name in objects.items()]
    return export


def _zips_or_itself(path: Path) -> list[Path]:
    """The zips an export came in, when `path` is a folder holding them (in their numbers' order); else `path`."""
    if path.is_dir() and not (path / "manifest.yaml").exists():
        zips = [(int(m[2]), p) for p in path.iterdir() if _is_zip(p) and (m := ZIP_NAME.match(p.name))]
        if zips:
            return [p for _, p in sorted(zips)]
    return [path]


def long_id(text: str) -> str:
    """A 15-character Salesforce id as its 18-character form: each five characters add one, naming which of them
    are capitals; an 18-character one as it is."""
    if len(text) != 15:
        return text
    return text + "".join(ID_CHECKSUM[sum(1 << i for i, c in enumerate(text[s:s + 5]) if "A" <= c <= "Z")]
                          for s in (0, 5, 10))


def _object_files(names: list[str], schema: Schema) -> tuple[dict[str, str], list[str]]:
    """Of the names of an export's files: object → the name of its CSV file (standard objects first, as they link,
    then the declared custom ones), and the names of the other files."""
    read = [*SALESFORCE_OBJECTS, *(o.name for o in schema.objects)]
    by_stem = {o.lower(): o for o in read}
    found: dict[str, str] = {}
    others = []
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if "/" not in name and dot and suffix.lower() == "csv" and stem.lower() in by_stem:
            found[by_stem[stem.lower()]] = name
        else:
            others.append(name)
    return {o: found[o] for o in read if o in found}, others


def _is_zip(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ZIP
