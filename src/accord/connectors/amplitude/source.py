"""An Amplitude project's events, read from its Export API range by range of upload hours, each range's zip loaded
as `accord ingest messages --format amplitude` loads one; the hour reached is the checkpoint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from time import monotonic

from accord.connectors.amplitude.client import HOUR, AmplitudeClient, TooLarge
from accord.connectors.amplitude.config import AmplitudeSourceConfig
from accord.lake.store import Lake
from accord.model.schema import STANDARD, Schema
from accord.scratch import scratch
from accord.sources.api import Progress, SyncReport
from accord.sources.message_archive import load_archive
from accord.sources.state import SourceState

STREAM = "export"
"""The checkpoint's stream: `next` is the first hour not read yet (UTC, as the API names it)."""


def now() -> datetime:
    return datetime.now(timezone.utc)


class AmplitudeSource:
    def __init__(self, config: AmplitudeSourceConfig, client: AmplitudeClient) -> None:
        self.config, self.client = config, client
        self._hours = config.hours_per_export
        """Hours asked for at once: fewer once Amplitude found a range too large, for the rest of the run."""

    def check(self) -> dict[str, int]:
        """One export call for the last hour Amplitude has made available: the key, secret and URL work."""
        last = self._last_hour()
        with scratch("amplitude") as folder:
            found = self.client.export(last, last, folder / "check.zip")
        return {"calls": self.client.downloads.calls, "hours with events": int(found)}

    def backfill(self, lake: Lake, progress: Progress | None = None, *, restart: bool = False) -> SyncReport:
        """Read the history again from `backfill_days` ago (events loaded before are recognised, not loaded twice)."""
        state = SourceState(lake, self.config.state_key)
        if restart:
            state.put(STREAM, "next", f"{self._first_hour():{HOUR}}")
        return self._read(lake, state, "backfill", progress)

    def sync(self, lake: Lake, progress: Progress | None = None) -> SyncReport:
        return self._read(lake, SourceState(lake, self.config.state_key), "sync", progress)

    def close(self) -> None:
        self.client.close()

    def _read(self, lake: Lake, state: SourceState, mode: str, progress: Progress | None) -> SyncReport:
        """Every range of hours from the checkpoint to the last one available, each loaded before the checkpoint
        moves past it: a run cut short reads its range again, and loads what it had not."""
        report = SyncReport(self.config.name, mode, _first_call=self.client.downloads.calls)
        stored = state.get(STREAM, "next")
        first = (datetime.strptime(stored, HOUR).replace(tzinfo=timezone.utc) if stored else self._first_hour())
        last_available, self._hours = self._last_hour(), self.config.hours_per_export
        with scratch("amplitude") as folder:
            while first <= last_available:
                last = min(first + timedelta(hours=self._hours - 1), last_available)
                last = self._load(lake, first, last, folder, report, progress)
                first = last + timedelta(hours=1)
                state.put(STREAM, "next", f"{first:{HOUR}}")
        state.put("sync", "since", now().isoformat())
        if state.get("backfill", "completed_at") is None:  # the history read up to what Amplitude has made available
            state.put("backfill", "completed_at", now().isoformat())
        report.calls = self.client.downloads.calls - report._first_call
        report.seconds = monotonic() - report._started
        return report

    def _load(self, lake: Lake, first: datetime, last: datetime, folder: Path, report: SyncReport,
              progress: Progress | None) -> datetime:
        """The range's events loaded, or those of its first half when Amplitude finds it too large; the last hour
        loaded."""
        while True:
            try:
                found = self.client.export(first, last, folder / "export.zip")
                break
            except TooLarge:
                self._hours = max(1, ((last - first) // timedelta(hours=1) + 1) // 2)
                last = first + timedelta(hours=self._hours - 1)
        if found:
            loaded = load_archive(lake, [folder / "export.zip"], self.config.project_id, self.config.track_events,
                                  shape="amplitude")
            report.results += loaded.results
            (folder / "export.zip").unlink()
            if progress:
                progress(f"events {first:{HOUR}}-{last:{HOUR}}", sum(r.loaded for r in loaded.results))
        return last

    def _first_hour(self) -> datetime:
        return (now() - timedelta(days=self.config.backfill_days)).replace(minute=0, second=0, microsecond=0)

    def _last_hour(self) -> datetime:
        """The last hour whose events Amplitude has made available to export."""
        return (now() - timedelta(hours=self.config.delay_hours + 1)).replace(minute=0, second=0, microsecond=0)


def open_source(config: AmplitudeSourceConfig, workspace_root: Path, schema: Schema = STANDARD) -> AmplitudeSource:
    return AmplitudeSource(config, config.client(workspace_root))
