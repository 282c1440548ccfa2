"""What the sources of analytics exports share (Amplitude's, Mixpanel's): a project whose events are records of the
collector instance of its id, read from a checkpoint range by range, each range's file loaded as
`accord ingest messages --format <shape>` loads one, the checkpoint moved once it is loaded."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from time import monotonic
from typing import Any

from accord.lake.store import Lake
from accord.scratch import scratch
from accord.sources.api import Progress, SyncReport
from accord.sources.message_archive import load_archive
from accord.sources.state import SourceState

STREAM = "export"
"""The checkpoint's stream: `next` is where the next run starts reading."""


def now() -> datetime:
    return datetime.now(timezone.utc)


class ExportSource:
    """A source of one export shape; subclasses say where a backfill starts (`first`) and read the ranges
    (`read`), loading each with `load`."""

    shape = ""

    def __init__(self, config: Any, client: Any) -> None:
        self.config, self.client = config, client

    def backfill(self, lake: Lake, progress: Progress | None = None, *, restart: bool = False) -> SyncReport:
        """Read the history again from `backfill_days` ago (events loaded before are recognised, not loaded twice)."""
        state = SourceState(lake, self.config.state_key)
        if restart:
            state.put(STREAM, "next", self.first())
        return self._run(lake, state, "backfill", progress)

    def sync(self, lake: Lake, progress: Progress | None = None) -> SyncReport:
        return self._run(lake, SourceState(lake, self.config.state_key), "sync", progress)

    def close(self) -> None:
        self.client.close()

    def first(self) -> str:
        """The checkpoint of a backfill's start."""
        raise NotImplementedError

    def time_zone(self) -> str | None:
        """The time zone the export writes its times in, when not UTC."""
        return None

    def read(self, lake: Lake, state: SourceState, folder: Path, report: SyncReport,
             progress: Progress | None) -> None:
        raise NotImplementedError

    def load(self, lake: Lake, path: Path, report: SyncReport, progress: Progress | None, what: str) -> None:
        """A downloaded range's events loaded, then its file let go."""
        loaded = load_archive(lake, [path], self.config.project_id, self.config.track_events, shape=self.shape,
                              time_zone=self.time_zone())
        report.results += loaded.results
        path.unlink(missing_ok=True)
        if progress:
            progress(f"events {what}", sum(r.loaded for r in loaded.results))

    def _run(self, lake: Lake, state: SourceState, mode: str, progress: Progress | None) -> SyncReport:
        report = SyncReport(self.config.name, mode, _first_call=self.client.downloads.calls)
        with scratch(self.shape) as folder:
            self.read(lake, state, folder, report, progress)
        state.put("sync", "since", now().isoformat())
        if state.get("backfill", "completed_at") is None:  # the history read up to what the tool has made available
            state.put("backfill", "completed_at", now().isoformat())
        report.calls = self.client.downloads.calls - report._first_call
        report.seconds = monotonic() - report._started
        return report
