"""A Mixpanel project's events, read from its raw event export range by range of days, each range's lines loaded as
`accord ingest messages --format mixpanel` loads a file; the first day not read for good is the checkpoint."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from accord.connectors import export_source
from accord.connectors.export_source import STREAM, ExportSource
from accord.connectors.mixpanel.client import MixpanelClient
from accord.connectors.mixpanel.config import MixpanelSourceConfig
from accord.lake.store import Lake
from accord.model.schema import STANDARD, Schema
from accord.scratch import scratch
from accord.sources.api import Progress, SyncReport
from accord.sources.state import SourceState


class MixpanelSource(ExportSource):
    shape = "mixpanel"
    config: MixpanelSourceConfig
    client: MixpanelClient

    def check(self) -> dict[str, int]:
        """One export call for today: the service account, its secret and the project work."""
        with scratch("mixpanel") as folder:
            found = self.client.export(self._today(), self._today(), folder / "check.json")
        return {"calls": self.client.downloads.calls, "days with events": int(found)}

    def first(self) -> str:
        return (self._today() - timedelta(days=self.config.backfill_days)).isoformat()

    def time_zone(self) -> str | None:
        return self.config.project_timezone

    def read(self, lake: Lake, state: SourceState, folder: Path, report: SyncReport,
             progress: Progress | None) -> None:
        """Every range of days from the checkpoint to today, each loaded before the checkpoint moves past it; the
        last `late_days` are read again next time."""
        first, today = date.fromisoformat(state.get(STREAM, "next") or self.first()), self._today()
        settled = today - timedelta(days=self.config.late_days - 1)
        while first <= today:
            last = min(first + timedelta(days=self.config.days_per_export - 1), today)
            path = folder / f"mixpanel-{first}-{last}.json"
            if self.client.export(first, last, path):
                self.load(lake, path, report, progress, f"{first}..{last}")
            path.unlink(missing_ok=True)
            first = last + timedelta(days=1)
            state.put(STREAM, "next", min(first, settled).isoformat())

    @staticmethod
    def _today() -> date:
        return export_source.now().date()


def open_source(config: MixpanelSourceConfig, workspace_root: Path, schema: Schema = STANDARD) -> MixpanelSource:
    return MixpanelSource(config, config.client(workspace_root))
