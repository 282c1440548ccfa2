"""Run stages in order over one context, recording each (start, end, rows in and out, error) in `stage_runs`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from accord.lake.store import now
from accord.pipeline.runs import next_run_id, record
from accord.pipeline.stage import Context, Stage


def run_stages(ctx: Context, stages: Sequence[Stage], quiet_when_idle: bool = False) -> int:
    """Run `stages` in order; a failure is recorded and raised, and the stages after it do not run.

    `quiet_when_idle` leaves out the record of a stage that moved no rows (a serving cycle runs every few seconds).
    Returns the run's id.
    """
    run_id = next_run_id(ctx.lake)
    for stage in stages:
        if stage.when is not None and not stage.when(ctx):
            continue
        if ctx.on_stage:
            ctx.on_stage(stage.name)
        started = now()
        try:
            rows_in, rows_out = stage.run(ctx)
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
            ctx.records.append(_entry(run_id, stage, ctx, started, 0, 0, error))
            record(ctx.lake, run_id, stage.name, ctx.trigger, started, 0, 0, error)
            raise
        ctx.records.append(_entry(run_id, stage, ctx, started, rows_in, rows_out, None))
        if rows_in or rows_out or not quiet_when_idle:
            record(ctx.lake, run_id, stage.name, ctx.trigger, started, rows_in, rows_out, None)
    return run_id


def _entry(run_id: int, stage: Stage, ctx: Context, started: datetime, rows_in: int, rows_out: int,
           error: str | None) -> dict[str, Any]:
    return {"stage": stage.name, "run_id": run_id, "trigger": ctx.trigger, "started_at": started.isoformat(),
            "seconds": round((now() - started).total_seconds(), 3), "rows_in": rows_in, "rows_out": rows_out,
            "error": error}
