"""The record of pipeline runs (`stage_runs`): this module owns the table."""

from __future__ import annotations

from typing import Any

from accord.lake.store import Lake

KEPT_PER_STAGE = 500
"""Runs kept per stage: a serving cycle runs every few seconds, and only the recent ones are looked at."""
SOURCE_STAGE = "source:"
"""Stage runs named `source:<name>` record each API source's syncs."""
COLUMNS = ("run_id", "stage", "trigger", "started_at", "finished_at", "rows_in", "rows_out", "error")


def next_run_id(lake: Lake) -> int:
    return int(lake.scalar("SELECT nextval('pipeline_run_seq')"))


def record(lake: Lake, entries: list[dict[str, Any]]) -> None:
    """One run's stages, and the oldest runs beyond `KEPT_PER_STAGE` of those stages forgotten."""
    with lake.transaction():
        lake.executemany("INSERT INTO stage_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [[e[c] for c in COLUMNS] for e in entries])
        lake.execute(
            "DELETE FROM stage_runs WHERE (stage, run_id) IN (SELECT (stage, run_id) FROM stage_runs "
            "WHERE list_contains(?, stage) QUALIFY row_number() OVER (PARTITION BY stage ORDER BY run_id DESC) > ?)",
            [sorted({e["stage"] for e in entries}), KEPT_PER_STAGE])


def latest(lake: Lake) -> list[dict[str, Any]]:
    """The last run of each stage, with its last failure if it failed since."""
    return lake.query(
        "SELECT stage, run_id, trigger, started_at, finished_at, rows_in, rows_out, error, "
        "epoch(finished_at - started_at) AS seconds FROM stage_runs "
        "QUALIFY row_number() OVER (PARTITION BY stage ORDER BY run_id DESC) = 1 ORDER BY started_at")
