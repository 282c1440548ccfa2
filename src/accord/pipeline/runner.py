"""Run stages in order over one context, recording each (start, end, rows in and out, error) in `stage_runs`."""

from __future__ import annotations

from collections.abc import Sequence

from accord.lake.faults import store_failure
from accord.lake.store import now
from accord.lake.turns import writing
from accord.pipeline.runs import next_run_id, record
from accord.pipeline.stage import Context, Stage


def run_stages(ctx: Context, stages: Sequence[Stage], quiet_when_idle: bool = False) -> None:
    """Run `stages` in order; a failure is recorded and raised, and the stages after it do not run. The run's
    records go to `ctx.records` and, in one transaction at the end, to `stage_runs`.

    `quiet_when_idle` leaves out a stage that moved no rows (a serving cycle runs every few seconds).
    """
    done = len(ctx.records)
    # The run holds every table its stages write until its last stage ends: a stage handing work to the next (the
    # profiles identity touched) is not interleaved with another run's, nor with a privacy erasure.
    with writing(ctx.lake, [table for stage in stages for table in stage.writes]):
        try:
            for stage in stages:
                if stage.when is not None and not stage.when(ctx):
                    continue
                if ctx.on_stage:
                    ctx.on_stage(stage.name)
                started = now()
                entry = {"stage": stage.name, "trigger": ctx.trigger, "started_at": started, "rows_in": 0,
                         "rows_out": 0, "error": None}
                try:
                    entry["rows_in"], entry["rows_out"] = stage.run(ctx)
                except Exception as err:
                    entry["error"] = store_failure(err) or f"{type(err).__name__}: {err}"
                    raise
                finally:
                    entry["finished_at"] = now()
                    # A stage's working tables end with it: identity's held 331 MiB of `large` into the next stages.
                    ctx.lake.drop_temporary()
                    if entry["rows_in"] or entry["rows_out"] or entry["error"] or not quiet_when_idle:
                        ctx.records.append(entry)
        finally:
            if len(ctx.records) > done:
                run_id = next_run_id(ctx.lake)
                for entry in ctx.records[done:]:
                    entry["run_id"] = run_id
                record(ctx.lake, ctx.records[done:])
