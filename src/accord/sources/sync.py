"""Run the API sources a workspace configures: each into every sandbox it feeds, resuming from checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import httpx

from accord.connectors.errors import ConnectorError
from accord.connectors.registry import connector
from accord.lake.store import Lake, now
from accord.lake.turns import writing
from accord.pipeline.runs import SOURCE_STAGE, next_run_id, record
from accord.sources.api import Progress
from accord.sources.config import SourceConfig
from accord.workspace import Workspace, WorkspaceError

SOURCE_FAILURES = (ConnectorError, httpx.TransportError)
"""What a source's API answers when it refuses or keeps failing, or no answer at all: reported per source, not a
crash."""


class ApiSource(Protocol):
    """What every API source offers; `sync` runs the backfill first when none has completed."""

    def check(self) -> dict[str, int]: ...

    def backfill(self, lake: Lake, progress: Progress | None = None, *, restart: bool = False) -> Any: ...

    def sync(self, lake: Lake, progress: Progress | None = None) -> Any: ...

    def close(self) -> None: ...


def open_source(ws: Workspace, config: SourceConfig) -> ApiSource:
    return connector(config.type).open_source(config, ws.root, ws.schema)  # type: ignore[no-any-return]


def configured(ws: Workspace, source_type: str | None = None, name: str | None = None) -> list[SourceConfig]:
    """The sources of a type (or all), or the one named; an unknown name is an error that lists the known ones."""
    chosen = [s for s in ws.config.sources if (source_type is None or s.type == source_type)
              and (name is None or s.name == name)]
    if not chosen:
        known = ", ".join(f"{s.name} ({s.type})" for s in ws.config.sources) or "none"
        wanted = f"source {name!r}" if name else f"{source_type or 'API'} sources"
        raise WorkspaceError(f"no {wanted} configured in accord.yaml (configured: {known})")
    return chosen


def run_source(ws: Workspace, config: SourceConfig, sandbox: str | None = None, *, backfill: bool = False,
               progress: Progress | None = None, waiting: Callable[[str], None] | None = None) -> list[Any]:
    """Sync one source into each sandbox it feeds (or just `sandbox`); returns one report per sandbox. `waiting` is
    called before this sync waits for another of the same source to end."""
    if sandbox is not None and sandbox not in config.sandboxes:
        raise WorkspaceError(f"source {config.name!r} does not feed sandbox {sandbox!r} (it feeds {', '.join(config.sandboxes)})")
    reports = []
    source = open_source(ws, config)
    trigger = "backfill" if backfill else "sync"
    try:
        for name in [sandbox] if sandbox else config.sandboxes:
            # A relayed `accord sync` beside serve's own sync of the source takes its turn: both would read one
            # cursor, and the second failed on the state the first wrote.
            with ws.lake(name) as lake, writing(lake, [f"source {config.name}"], waiting):
                started = now()
                try:
                    report = source.backfill(lake, progress, restart=True) if backfill else source.sync(lake, progress)
                except BaseException as err:
                    _record(lake, config, trigger, started, None, f"{type(err).__name__}: {err}")
                    raise
                _record(lake, config, trigger, started, report, None)
                reports.append(report)
    finally:
        source.close()
    return reports


def _record(lake: Lake, config: SourceConfig, trigger: str, started: datetime, report: Any, error: str | None) -> None:
    """A sync as a stage run `source:<name>`, with its calls and rows or its error (what alerts and `accord
    status` read)."""
    record(lake, [{"run_id": next_run_id(lake), "stage": f"{SOURCE_STAGE}{config.name}", "trigger": trigger,
                   "started_at": started, "finished_at": now(), "rows_in": report.calls if report else 0,
                   "rows_out": report.loaded() if report else 0, "error": error}])
