"""An Amplitude project's events, read from its Export API range by range of upload hours, each range's zip loaded
as `accord ingest messages --format amplitude` loads one; the first hour not read is the checkpoint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from accord.connectors import export_source
from accord.connectors.amplitude.client import HOUR, AmplitudeClient, TooLarge
from accord.connectors.amplitude.config import AmplitudeSourceConfig
from accord.connectors.export_source import STREAM, ExportSource
from accord.lake.store import Lake
from accord.model.schema import STANDARD, Schema
from accord.scratch import scratch
from accord.sources.api import Progress, SyncReport
from accord.sources.state import SourceState


class AmplitudeSource(ExportSource):
    shape = "amplitude"

    def __init__(self, config: AmplitudeSourceConfig, client: AmplitudeClient) -> None:
        super().__init__(config, client)
        self._hours = config.hours_per_export
        """Hours asked for at once: fewer once Amplitude found a range too large, for the rest of the run."""

    def check(self) -> dict[str, int]:
        """One export call for the last hour Amplitude has made available: the key, secret and URL work."""
        last = self._last_hour()
        with scratch("amplitude") as folder:
            found = self.client.export(last, last, folder / "check.zip")
        return {"calls": self.client.downloads.calls, "hours with events": int(found)}

    def first(self) -> str:
        return f"{self._first_hour():{HOUR}}"

    def read(self, lake: Lake, state: SourceState, folder: Path, report: SyncReport,
             progress: Progress | None) -> None:
        """Every range of hours from the checkpoint to the last one available, each loaded before the checkpoint
        moves past it: a run cut short reads its range again, and loads what it had not."""
        stored = state.get(STREAM, "next")
        first = datetime.strptime(stored, HOUR).replace(tzinfo=timezone.utc) if stored else self._first_hour()
        last_available, self._hours = self._last_hour(), self.config.hours_per_export
        while first <= last_available:
            last = min(first + timedelta(hours=self._hours - 1), last_available)
            last, found = self._fetched(first, last, folder / "export.zip")
            if found:
                self.load(lake, folder / "export.zip", report, progress, f"{first:{HOUR}}-{last:{HOUR}}")
            first = last + timedelta(hours=1)
            state.put(STREAM, "next", f"{first:{HOUR}}")

    def _fetched(self, first: datetime, last: datetime, into: Path) -> tuple[datetime, bool]:
        """The range's zip at `into`, or its first half's while Amplitude finds it too large: the last hour fetched,
        and whether it holds events."""
        while True:
            try:
                return last, self.client.export(first, last, into)
            except TooLarge:
                self._hours = max(1, ((last - first) // timedelta(hours=1) + 1) // 2)
                last = first + timedelta(hours=self._hours - 1)

    def _first_hour(self) -> datetime:
        return (export_source.now() - timedelta(days=self.config.backfill_days)).replace(minute=0, second=0,
                                                                                         microsecond=0)

    def _last_hour(self) -> datetime:
        """The last hour whose events Amplitude has made available to export."""
        return (export_source.now() - timedelta(hours=self.config.delay_hours + 1)).replace(minute=0, second=0,
                                                                                            microsecond=0)


def open_source(config: AmplitudeSourceConfig, workspace_root: Path, schema: Schema = STANDARD) -> AmplitudeSource:
    return AmplitudeSource(config, config.client(workspace_root))
