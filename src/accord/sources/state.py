"""Connector checkpoints kept in the sandbox's lake, so a sync resumes where the last one stopped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from accord.lake.store import Lake, now
from accord.model.times import parse_instant


class SourceState:
    """Key-value checkpoints of one source (e.g. `marketo:123-ABC-456`), grouped by stream."""

    def __init__(self, lake: Lake, source: str) -> None:
        self.lake, self.source = lake, source

    def get(self, stream: str, key: str) -> str | None:
        return self.lake.scalar(
            "SELECT value FROM source_state WHERE source = ? AND stream = ? AND key = ?", [self.source, stream, key]
        )

    def put(self, stream: str, key: str, value: str) -> None:
        self.lake.execute(
            "INSERT OR REPLACE INTO source_state VALUES (?, ?, ?, ?, ?)", [self.source, stream, key, value, now()]
        )

    def due(self, stream: str, key: str, every: timedelta) -> bool:
        """Has `every` passed since the instant stored under `key` (or, with none, since the backfill completed)?"""
        last = self.get(stream, key) or self.get("backfill", "completed_at")
        return last is None or datetime.now(timezone.utc) - parse_instant(last) >= every

    def drop(self, stream: str, key: str | None = None) -> None:
        if key is None:
            self.lake.execute("DELETE FROM source_state WHERE source = ? AND stream = ?", [self.source, stream])
        else:
            self.lake.execute(
                "DELETE FROM source_state WHERE source = ? AND stream = ? AND key = ?", [self.source, stream, key]
            )

    def clear(self) -> None:
        """Forget every checkpoint of the source: the next run starts from the beginning."""
        self.lake.execute("DELETE FROM source_state WHERE source = ?", [self.source])

    def synced_up_to(self) -> str | None:
        """The instant up to which the source's changes are read: the earliest of its checkpoints (one for the whole
        source, or one per object it reads)."""
        marks = []
        for (stream, key), value in self.all().items():
            if key == "since" and (stream == "sync" or stream.startswith("sync.")):
                try:
                    marks.append((parse_instant(value), value))
                except ValueError:
                    continue
        return min(marks)[1] if marks else None

    def all(self) -> dict[tuple[str, str], str]:
        rows = self.lake.execute(
            "SELECT stream, key, value FROM source_state WHERE source = ? ORDER BY 1, 2", [self.source]
        ).fetchall()
        return {(s, k): v for s, k, v in rows}
