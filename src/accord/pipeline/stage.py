"""What a pipeline stage is, and what one run hands from stage to stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.activation.sync import DeliveryReport
from accord.audiences.ast import Audience
from accord.audiences.evaluate import EvaluationReport
from accord.engines.adapter import Engine
from accord.engines.registry import lake_engine, open_engine, workspace_engine
from accord.governance.retention import RetentionReport
from accord.identity.config import IdentityConfig
from accord.identity.run import IdentityReport
from accord.ingest.loader import IngestResult
from accord.lake.store import Lake


@dataclass
class Context:
    """One pipeline run over one sandbox's store: its settings, and what each stage leaves for the next."""

    lake: Lake
    identity_config: IdentityConfig
    workspace: Any = None
    """The workspace (audience files, destinations); None where only identity runs."""
    audiences: list[Audience] = field(default_factory=list)
    as_of: datetime | None = None
    full: bool = False
    """Restitch every record and decide every profile, not only what new batches touched."""
    trigger: str = "run"
    """What started the run: run, serve, schedule, demo, identity, audiences, split."""
    on_stage: Callable[[str], None] | None = None
    """Told each stage's name as it starts (progress bars)."""
    loaded: list[IngestResult] = field(default_factory=list)
    identity: IdentityReport | None = None
    retention: RetentionReport | None = None
    evaluation: EvaluationReport | None = None
    deliveries: list[DeliveryReport] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    """What the runner recorded of each stage that ran, in order."""
    engine: str | None = None
    """The engine of the batch stages (identity's components, audiences); default: the workspace's `engine:`,
    else the one holding the lake."""
    _opened: Engine | None = field(default=None, repr=False)

    def batch_engine(self) -> Engine:
        """The engine this run's batch stages use, opened on first use."""
        if self._opened is None:
            if self.workspace is not None:
                self._opened = workspace_engine(self.workspace, self.lake, self.engine)
            else:
                self._opened = open_engine(self.engine, self.lake) if self.engine else lake_engine(self.lake)
        return self._opened


@dataclass(frozen=True)
class Stage:
    """A named step with the tables it reads and writes; `run` returns (rows in, rows out). A stage whose `when`
    says no for a run is skipped in it."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    run: Callable[[Any], tuple[int, int]]
    when: Callable[[Any], bool] | None = None
