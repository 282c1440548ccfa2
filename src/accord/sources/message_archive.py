"""Messages archived as Segment writes them (its S3 destination: gzip files of JSON lines, a message a line, in a
folder a day; RudderStack's dumps are alike), or the rows of an analytics tool's export (GA4's, Mixpanel's,
Amplitude's, PostHog's, Snowplow's) made into such messages: a site's or app's history, loaded as the collector
loads what it takes live. The same records, identities and consent come of each message, and an event is keyed by
its messageId, so an archive and the live collector keep one copy of each event however they overlap."""

from __future__ import annotations

import codecs
import gzip
import itertools
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from accord import fastjson
from accord.ingest.limits import json_problem
from accord.ingest.loader import IngestResult
from accord.ingest.mapping import MappingError, checked_time_zone
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.scratch import scratch
from accord.sources.amplitude import amplitude_message
from accord.sources.base import MalformedRow
from accord.sources.collector import (
    SOURCE_TYPE,
    message_refusal,
    refused_entity,
    shown_message,
    to_records,
    without_known_people,
)
from accord.sources.compressed import (
    CompressedFileError,
    extracted,
    member_fingerprint,
    zipped_files,
)
from accord.sources.export_rows import NotAnEvent
from accord.sources.files import fingerprint
from accord.sources.ga4 import ga4_message
from accord.sources.mixpanel import mixpanel_message
from accord.sources.posthog import posthog_message
from accord.sources.snowplow import enriched_fields, snowplow_message
from accord.sources.state import SourceState

SUFFIXES = (".gz", ".json", ".jsonl", ".ndjson", ".tsv", ".parquet")
ZIP = ".zip"
"""A zip of such files, as Amplitude's Export API answers: each file is read in turn, never all extracted at once."""
MESSAGES_PER_PART = 100_000
"""Messages loaded at once: a large file loads part by part, in bounded memory, each part a batch of its own."""
LONGEST_LINE = 1 << 20
"""Bytes a line may hold (Segment refuses a message over 32 KiB): a longer one is refused, not read whole."""
ENTITIES = ("account", "person", "account_person", "event")


class ArchiveError(ValueError):
    """An archive that cannot be read at all (no such path, no message file in a folder, a broken gzip file)."""


def as_sent(m: dict[str, Any]) -> dict[str, Any]:
    """A Segment archive's message as its sender sent it: an archived `timestamp` is already moved by the sender's
    clock skew, and the device's own time is `originalTimestamp`; the collector moves it again, as Segment did,
    from `sentAt` and `receivedAt`."""
    if isinstance(m.get("originalTimestamp"), str):
        m["timestamp"] = m["originalTimestamp"]
    return m


@dataclass(frozen=True)
class Shape:
    """How an export's lines become collector messages."""

    message: Callable[[dict[str, Any]], dict[str, Any]]
    """A line's (or a Parquet row's) fields → the collector message it stands for (what is no JSON object is left
    as it is, for the collector's checks to name)."""
    fields: Callable[[bytes], Any] = fastjson.loads
    """A line → its fields: JSON, unless the export writes other lines."""
    zoned: bool = False
    """Its times may be written in a local time zone, passed to `message` as `zone` (Mixpanel's older projects)."""


SHAPES: dict[str, Shape] = {"segment": Shape(as_sent), "ga4": Shape(ga4_message),
                            "mixpanel": Shape(mixpanel_message, zoned=True), "amplitude": Shape(amplitude_message),
                            "posthog": Shape(posthog_message), "snowplow": Shape(snowplow_message, enriched_fields)}
"""What a line holds → the collector message it is: a message Segment archived, or a row of GA4's BigQuery export,
Mixpanel's, Amplitude's or PostHog's event export, or Snowplow's enriched events (tab-separated)."""


@dataclass(frozen=True)
class ArchiveFile:
    """A file of messages: a file of its own, or one that a zip holds."""

    path: Path
    member: zipfile.ZipInfo | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.member.filename}" if self.member else str(self.path)


@dataclass
class Read:
    """A line read: its message, or why none (and the line as quarantine shows it)."""

    message: Any
    problem: str | None = None
    shown: str = ""


@dataclass
class ArchiveReport:
    """What loading an archive did: its files (those loaded whole before among them), messages, and each entity's
    batches' results."""

    files: int = 0
    loaded_before: int = 0
    messages: int = 0
    results: list[IngestResult] = field(default_factory=list)


def archive_files(paths: list[Path]) -> list[ArchiveFile]:
    """The message files named, a folder's (at any depth: those with one of SUFFIXES, and the files of a `.zip`), in
    the order of their paths, as Segment's folders and names sort by time."""
    found: list[ArchiveFile] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith((*SUFFIXES, ZIP)))
            if not inside:
                raise ArchiveError(f"{path}: no message files in it ({', '.join((*SUFFIXES, ZIP))})")
            found += [f for p in inside for f in _held(p)]
        elif path.is_file():
            found += _held(path)
        else:
            raise ArchiveError(f"no such file or folder: {path}")
    return found


def _held(path: Path) -> list[ArchiveFile]:
    """The file itself, or the message files a zip holds (in the order of their names)."""
    if path.suffix.lower() != ZIP:
        return [ArchiveFile(path)]
    try:
        members = sorted((m for m in zipped_files(path) if m.filename.lower().endswith(SUFFIXES)),
                         key=lambda m: m.filename)
    except CompressedFileError as err:
        raise ArchiveError(str(err)) from None
    if not members:
        raise ArchiveError(f"{path}: a zip with no message files in it ({', '.join(SUFFIXES)})")
    return [ArchiveFile(path, m) for m in members]


def load_archive(lake: Lake, paths: list[Path], instance: str, track_events: dict[str, str] | None = None,
                 on_file: Callable[[str, int], None] | None = None, shape: str = "segment",
                 time_zone: str | None = None) -> ArchiveReport:
    """Load every message file under `paths` as the collector named `instance` would (`on_file` told each file
    and the messages read so far), each line read as `shape` says (one of SHAPES), its times in `time_zone` when
    the shape writes them in a local one. What loaded before is not read again: a file loaded whole is passed over
    (zipped or not), and one cut off part-way resumes at its first part not loaded."""
    run = _Run(lake, shape, instance, track_events, _zone(shape, time_zone))
    with scratch("archive") as folder:
        for found in archive_files(paths):
            run.load(found, folder)
            if on_file:
                on_file(str(found), run.report.messages)
    return run.report


@dataclass
class _Run:
    """One `load_archive`: where its messages go, read as which shape, and what it has done so far."""

    lake: Lake
    shape: str
    instance: str
    track_events: dict[str, str] | None
    zone: ZoneInfo | None = None
    report: ArchiveReport = field(default_factory=ArchiveReport)

    def load(self, found: ArchiveFile, folder: Path) -> None:
        """One file's messages loaded part by part, its parts loaded before passed over; known by its bytes (a
        zipped one's read from the zip, and extracted into `folder` only when it has something to load)."""
        state = SourceState(self.lake, f"{self.shape}:{self.instance}")
        try:
            digest = member_fingerprint(found.path, found.member) if found.member else fingerprint(found.path)
            self.report.files += 1
            if (whole := state.get(digest, "messages")) is not None:
                self.report.messages += int(whole)
                self.report.loaded_before += 1
                return
            path = extracted(found.path, found.member, folder) if found.member else found.path
        except CompressedFileError as err:
            raise ArchiveError(str(err)) from None
        try:
            self._load_parts(path, str(found), state, digest)
        finally:
            if found.member:
                path.unlink(missing_ok=True)

    def _load_parts(self, path: Path, name: str, state: SourceState, digest: str) -> None:
        shaped = SHAPES[self.shape]
        if self.zone is not None:
            shaped = replace(shaped, message=partial(shaped.message, zone=self.zone))
        done, read = int(state.get(digest, "parts") or 0), 0
        for number, lines in enumerate(_parts(path)):
            read += len(lines)
            if number >= done:
                self.report.results += _load_part(self.lake, [(n, _read(line, n, shaped)) for n, line in lines],
                                                  self.instance, self.track_events, name,
                                                  f"{self.shape}:{digest}:{number}")
                state.put(digest, "parts", str(number + 1))
        state.put(digest, "messages", str(read))
        self.report.messages += read


def _zone(shape: str, name: str | None) -> ZoneInfo | None:
    """The time zone an export's times are written in, when it says one; ArchiveError for one no export of `shape`
    is written in, or no zone at all."""
    if name is None:
        return None
    if not SHAPES[shape].zoned:
        zoned = ", ".join(n for n, s in SHAPES.items() if s.zoned)
        raise ArchiveError(f"a time zone applies to exports that write times in one ({zoned}), not to {shape}")
    try:
        return ZoneInfo(checked_time_zone(name))
    except MappingError:
        raise ArchiveError(f"no time zone {name!r}: use an IANA name such as America/Los_Angeles") from None


def _load_part(lake: Lake, lines: list[tuple[int, Read]], instance: str, track_events: dict[str, str] | None,
               source_name: str, part: str) -> list[IngestResult]:
    """One part's messages loaded as the collector loads a stretch of its log, a batch per entity; its lines that
    are no message quarantined. A batch loaded before (the run that loaded it cut off) is recognised."""
    messages: list[dict[str, Any]] = []
    refused: dict[str, list[MalformedRow]] = {}
    for number, read in lines:
        if read.problem is None:
            messages.append(read.message)
            continue
        refused.setdefault(refused_entity(read.message), []).append(
            MalformedRow(number, read.shown, f"invalid_message: {read.problem}"))
    records = to_records([{"receivedAt": m.get("receivedAt"), "batch": [m]} for m in messages],
                         instance, track_events)
    if records.rows.get("person"):
        records.rows["person"] = without_known_people(lake, records.rows["person"], instance)
    return [ingest_records(lake, entity, records.rows.get(entity, []), source_type=SOURCE_TYPE,
                           source_instance_id=instance, source_name=source_name, fingerprint=part,
                           malformed=refused.get(entity))
            for entity in ENTITIES if records.rows.get(entity) or refused.get(entity)]


def _parts(path: Path) -> Iterator[list[tuple[int, bytes | dict[str, Any]]]]:
    """The file's lines that hold something (a Parquet file's rows), numbered, `MESSAGES_PER_PART` at a time."""
    lines = _rows(path) if path.suffix.lower() == ".parquet" else _lines(path)
    while part := list(itertools.islice(lines, MESSAGES_PER_PART)):
        yield part


def _read(line: bytes | dict[str, Any], number: int, shaped: Shape) -> Read:
    """A line's (or a Parquet row's) message, or why it has none."""
    where = f"line {number}"

    def refused(problem: str) -> Read:
        return Read(None, problem, line.decode("utf-8", "replace") if isinstance(line, bytes) else shown_message(line))

    if isinstance(line, bytes) and len(line) > LONGEST_LINE:
        return refused(f"{where} is longer than {LONGEST_LINE:,} bytes")
    try:
        fields = shaped.fields(line) if isinstance(line, bytes) else line
        message = shaped.message(fields) if isinstance(fields, dict) else fields
    except NotAnEvent as err:
        return refused(f"{where}: {err}")
    except ValueError:
        return refused(f"{where} is not JSON")
    problem = message_refusal(message, where) or json_problem(message, where)
    return Read(message, problem, shown_message(message) if problem else "")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """A Parquet file's rows (as a warehouse extracts a table), numbered from 1; its times as ISO 8601 text, as
    JSON holds them."""
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=10_000)
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield number, {k: v.isoformat() if isinstance(v, (datetime, date)) else v for k, v in row.items()}
    except (OSError, pa.ArrowException) as err:
        raise ArchiveError(f"{path}: not a readable Parquet file ({err})") from None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file's lines that hold something, numbered from 1; a line past `LONGEST_LINE` as its first bytes and
    one more, the rest passed over."""
    try:
        with _opened(path) as f:
            number = 0
            while line := f.readline(LONGEST_LINE + 1):
                number += 1
                if len(line) > LONGEST_LINE and not line.endswith(b"\n"):
                    while (rest := f.readline(LONGEST_LINE)) and not rest.endswith(b"\n"):
                        pass
                if number == 1:
                    line = line.removeprefix(codecs.BOM_UTF8)
                if line.strip():
                    yield number, line
    except (OSError, EOFError, zlib.error) as err:
        raise ArchiveError(f"{path}: not a readable {'gzip' if path.suffix == '.gz' else 'message'} file "
                           f"({err or type(err).__name__})") from None


def _opened(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")
