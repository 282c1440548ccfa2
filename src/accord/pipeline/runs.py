"""The record of pipeline runs (`stage_runs`): this module owns the table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accord.lake.store import Lake, now

KEPT_PER_STAGE = 500
"""Runs kept per stage: a serving cycle runs every few seconds, and only the recent ones are looked at."""


def next_run_id(lake: Lake) -> int:
    return int(lake.scalar("SELECT nextval('pipeline_run_seq')"))


def record(lake: Lake, run_id: int, stage: str, trigger: str, started: datetime, rows_in: int, rows_out: int,
           error: str | None) -> None:
    """One stage's run, and the oldest beyond `KEPT_PER_STAGE` forgotten."""
    with lake.transaction():
        lake.con.execute("INSERT INTO stage_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [run_id, stage, trigger, started, now(), rows_in, rows_out, error])
        lake.con.execute(
            "DELETE FROM stage_runs WHERE stage = ? AND run_id < (SELECT min(run_id) FROM (SELECT run_id FROM "
            "stage_runs WHERE stage = ? ORDER BY run_id DESC LIMIT ?))", [stage, stage, KEPT_PER_STAGE])


def latest(lake: Lake) -> list[dict[str, Any]]:
    """The last run of each stage, with its last failure if it failed since."""
    return lake.query(
        "SELECT stage, run_id, trigger, started_at, finished_at, rows_in, rows_out, error, "
        "epoch(finished_at - started_at) AS seconds FROM stage_runs "
        "QUALIFY row_number() OVER (PARTITION BY stage ORDER BY run_id DESC) = 1 ORDER BY started_at")
