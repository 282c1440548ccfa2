"""The pipeline: its stages named once (`stages.py`), one runner (`runner.py`) and the runs every entry point
makes: `accord run`, `accord identity run`, the demo, `accord serve` (`runtime.py`) and tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from accord.audiences.ast import Audience
from accord.audiences.evaluate import EvaluationReport
from accord.identity.config import IdentityConfig
from accord.identity.run import IdentityReport
from accord.lake.store import Lake
from accord.pipeline.runner import run_stages
from accord.pipeline.stage import Context
from accord.pipeline.stages import (
    ACTIVATION,
    AUDIENCES,
    IDENTITY,
    PROFILES,
    PUBLISH,
    RETENTION,
)


def run_identity(lake: Lake, config: IdentityConfig, full: bool = False, trigger: str = "identity",
                 engine: str | None = None, workspace: object = None) -> IdentityReport:
    """Stitch and rebuild the profiles concerned: the identity and profiles stages (on `engine`, default the
    workspace's when one is given)."""
    ctx = Context(lake, config, workspace, full=full, trigger=trigger, engine=engine)
    run_stages(ctx, [IDENTITY, PROFILES, PUBLISH])
    assert ctx.identity is not None
    return ctx.identity


def evaluate_audiences(workspace: object, lake: Lake, audiences: list[Audience], as_of: datetime | None = None,
                       trigger: str = "audiences", full: bool = False, engine: str | None = None) -> EvaluationReport:
    """The audiences stage alone (after the events past their retention are removed): evaluate `audiences` over
    the profiles as they are (everyone's with `full`)."""
    ctx = Context(lake, workspace.config.identity, workspace, audiences, as_of, full=full,  # type: ignore[attr-defined]
                  trigger=trigger, engine=engine)
    run_stages(ctx, [RETENTION, AUDIENCES, PUBLISH])
    assert ctx.evaluation is not None
    return ctx.evaluation


def run_batch(workspace: object, lake: Lake, audiences: list[Audience], as_of: datetime | None = None,
              trigger: str = "run", activate: bool = False, on_stage: Callable[[str], None] | None = None,
              full: bool = False, engine: str | None = None) -> Context:
    """Identity, profiles and the evaluation of `audiences` (then, with `activate`, every destination); of
    everything with `full`, else of what changed since the last run. `engine`: the batch stages' engine (default:
    the workspace's)."""
    config = workspace.config.identity  # type: ignore[attr-defined]
    ctx = Context(lake, config, workspace, audiences, as_of, full=full, trigger=trigger, on_stage=on_stage,
                  engine=engine)
    run_stages(ctx, [IDENTITY, PROFILES, RETENTION, AUDIENCES, *([ACTIVATION] if activate else []), PUBLISH])
    return ctx


__all__ = ["Context", "evaluate_audiences", "run_batch", "run_identity", "run_stages"]
