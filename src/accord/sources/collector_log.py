"""The collector's durable log: JSON lines appended, group-committed and fsync'd before a batch is acknowledged,
in segment files named by the byte offset they start at, so loaded ones can be removed and the log stops growing.

Offsets are the log's own, across segments: the first segment is `collector.log.jsonl` (offset 0, the name a
log had before segments), each later one `collector.log.<its first offset, 16 digits>.jsonl`. A segment holds
whole lines only; a new one starts when the last reaches `SEGMENT_BYTES`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accord import fastjson
from accord.ingest.limits import escaped
from accord.lake.store import now

if TYPE_CHECKING:
    from accord.workspace import Workspace

LOG_NAME = "collector.log.jsonl"
"""The log's first segment, and its name as the lake's cursor knows it."""
SEGMENT_BYTES = 128 * 1024 * 1024
"""A new segment starts once the last holds this many bytes (every two or three minutes at 1,000 events/s)."""
SEGMENT_NAME = re.compile(r"^collector\.log\.(\d{16})\.jsonl$")


def log_folder(ws: Workspace, sandbox: str | None) -> Path:
    """Where the sandbox's collector log lives, beside its store."""
    return ws.lake_path(sandbox).parent / "collector"


@dataclass(frozen=True)
class Segment:
    """One file of the log and the log's offset of its first byte."""

    start: int
    path: Path

    def size(self) -> int:
        """Its bytes; none once removed (a loaded segment may go while the log is read)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


def segments(folder: Path) -> list[Segment]:
    """The log's segments in `folder`, in order."""
    if not folder.is_dir():
        return []
    found = [Segment(0, folder / LOG_NAME)] if (folder / LOG_NAME).exists() else []
    for path in folder.iterdir():
        if match := SEGMENT_NAME.match(path.name):
            found.append(Segment(int(match.group(1)), path))
    return sorted(found, key=lambda s: s.start)


def end_of(found: list[Segment]) -> int:
    """The log's offset after its last line (removed segments included), given its segments."""
    return found[-1].start + found[-1].size() if found else 0


def segment_at(folder: Path, start: int) -> Segment:
    return Segment(start, folder / (LOG_NAME if start == 0 else f"collector.log.{start:016d}.jsonl"))


class CollectorLog:
    """An append-only log; `append` returns only once the batch is on disk.

    Appends from concurrent requests are group-committed: one writer thread writes every line waiting and
    fsyncs once for all of them, then releases their callers.
    """

    def __init__(self, folder: Path, max_waiting: int = 256, segment_bytes: int = SEGMENT_BYTES) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / LOG_NAME
        self.max_waiting = max_waiting
        self.segment_bytes = segment_bytes
        self.loaded = 0
        """How far the store has loaded the log, as `ingest_log` last saw it."""
        # Called in log order with the entries of each synced write and the log's size after it.
        self.written: Callable[[list[dict[str, Any]], int], None] | None = None
        self._queue: list[tuple[str, dict[str, Any], threading.Event]] = []
        self._cond = threading.Condition()
        self._failed: Exception | None = None
        self._tail: Segment | None = None  # the segment written to, found at the first write
        self._tail_bytes = 0
        threading.Thread(target=self._writer, name="collector-log", daemon=True).start()

    @property
    def busy(self) -> bool:
        """Too many appends are waiting: the caller should answer 429 and have the client retry."""
        return len(self._queue) >= self.max_waiting

    def append(self, messages: list[dict[str, Any]], received_at: datetime | None = None) -> None:
        entry = {"receivedAt": (received_at or now()).isoformat(), "batch": messages}
        done = threading.Event()
        with self._cond:
            self._queue.append((fastjson.dumps(entry), entry, done))
            self._cond.notify()
        done.wait()
        if self._failed is not None:
            raise OSError(f"the collector log could not be written: {self._failed}")

    def _writer(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                waiting, self._queue = self._queue, []
            try:
                size = self._write("".join(line + "\n" for line, _, _ in waiting).encode())
                self._failed = None
            except Exception as err:  # noqa: BLE001 - its callers hear it, and the writer lives on for the next
                self._failed = err
                self._tail = None  # a write that failed may have left part of a line: mended before the next
            try:
                if self._failed is None and self.written is not None:
                    self.written([entry for _, entry, _ in waiting], size)
            finally:  # whatever the live path does, no caller waits for ever
                for _, _, done in waiting:
                    done.set()

    def _write(self, lines: bytes) -> int:
        """Append whole lines, on disk when this returns; the log's size after them."""
        if self._tail is None:
            self._tail = (segments(self.folder) or [segment_at(self.folder, 0)])[-1]
            self._tail_bytes = self._tail.size()
            lines = self._mended(self._tail) + lines
        if self._tail_bytes >= self.segment_bytes:
            self._tail, self._tail_bytes = segment_at(self.folder, self._tail.start + self._tail_bytes), 0
        created = not self._tail.path.exists()
        with self._tail.path.open("ab") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
            self._tail_bytes = f.tell()
        if created:  # a new file's name is in its folder, which must reach the disk too to survive a power cut
            folder = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        return self._tail.start + self._tail_bytes

    @staticmethod
    def _mended(tail: Segment) -> bytes:
        """A newline ending the torn line a crash mid-write left, if any: else the next batch, already acknowledged
        when read, would join it into one line that does not parse, and be lost with it."""
        size = tail.size()
        if not size:
            return b""
        with tail.path.open("rb") as f:
            f.seek(size - 1)
            return b"" if f.read(1) == b"\n" else b"\n"

    def size(self) -> int:
        """Bytes written so far (those of removed segments included)."""
        return end_of(segments(self.folder))

    def read_from(self, offset: int, until: int | None = None,
                  at_most: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """Whole lines after `offset` and before `until`, at most `at_most` bytes of them (more only to end a line
        longer than that), and the offset after them. A torn last line, from a crash mid-write or a write under
        way, is left for later."""
        found = segments(self.folder)
        if found and offset < found[0].start:  # removed segments are loaded ones: only an old cursor points there
            offset = found[0].start
        end_of_log = end_of(found)
        span = at_most
        while True:
            limit = until if span is None else offset + span if until is None else min(until, offset + span)
            entries, end = self._read(found, offset, limit)
            if end > offset or limit is None or limit == until or limit >= end_of_log:
                return entries, end
            span = 2 * span if span else None

    @staticmethod
    def _read(found: list[Segment], offset: int, until: int | None) -> tuple[list[dict[str, Any]], int]:
        chunks = []
        for segment in found:
            size = segment.size()
            if segment.start + size <= offset or (until is not None and segment.start >= until):
                continue
            with segment.path.open("rb") as f:
                f.seek(max(offset, segment.start) - segment.start)
                end = size if until is None else min(size, until - segment.start)
                chunks.append(f.read(max(0, end - f.tell())))
        data = b"".join(chunks)
        end = data.rfind(b"\n") + 1
        return [_entry(line) for line in data[:end].splitlines() if line.strip()], offset + end


@dataclass(frozen=True)
class LogState:
    """How much the log holds and how far behind it the store is."""

    segments: int
    on_disk: int
    """Bytes of the segments still kept."""
    written: int
    """The log's offset after its last line (removed segments included)."""
    loaded: int
    """How far the store has loaded it."""

    @property
    def behind(self) -> int:
        return max(0, self.written - self.loaded)

    def summary(self) -> str:
        """`3 segments, 301.4 MB; the store has loaded all of it`, as `accord status` and the web UI say it."""
        loaded = (f"{self.behind / 1e6:,.1f} MB not loaded into the store yet" if self.behind
                  else "the store has loaded all of it")
        return f"{self.segments:,} segment{'s' * (self.segments > 1)}, {self.on_disk / 1e6:,.1f} MB on disk; {loaded}"

    def as_dict(self) -> dict[str, int]:
        return {"segments": self.segments, "bytes_on_disk": self.on_disk, "written": self.written,
                "loaded": self.loaded, "behind": self.behind}


def log_state(folder: Path, loaded: int) -> LogState:
    found = segments(folder)
    return LogState(len(found), sum(s.size() for s in found), end_of(found), loaded)


def remove_loaded(folder: Path, loaded: int, older_than: datetime) -> int:
    """Remove the log's segments wholly before offset `loaded` (what the store has loaded) last written before
    `older_than`, never the last one; the bytes removed."""
    removed = 0
    for segment in segments(folder)[:-1]:
        info = segment.path.stat()
        if segment.start + info.st_size > loaded or info.st_mtime >= older_than.timestamp():
            break
        segment.path.unlink()
        removed += info.st_size
    return removed


def _entry(line: bytes) -> dict[str, Any]:
    """A logged line; one that no longer parses is kept as `unreadable`, to be quarantined rather than block the
    lines after it."""
    try:
        entry = fastjson.loads(line)
        if isinstance(entry, dict) and isinstance(entry.get("batch"), list):
            return entry
    except ValueError:
        pass
    return {"receivedAt": None, "batch": [], "unreadable": escaped(line.decode("utf-8", "backslashreplace"))}
