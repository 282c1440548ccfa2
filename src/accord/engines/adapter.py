"""What every engine offers: the capabilities stages ask about, and the work they hand it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from sqlglot import exp

    from accord.audiences.compile import CompiledAudiences
    from accord.ingest.loader import IngestResult
    from accord.sources.files import FileJob


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do; stages read these flags instead of asking which engine runs."""

    decides_some: bool
    """Evaluates only some profiles (`CompiledAudiences.within`), reading the others' recorded membership."""
    keeps_features: bool
    """Keeps the people's feature tables in the lake between runs, rebuilding only the decided people's rows."""
    in_lake: bool
    """Runs inside the lake's own connection (its temporary tables and transactions): fit for reads that must
    answer now, such as `why`, previews and streaming decisions."""
    distributed: bool
    """Spreads work over executors; data handed to it crosses a process boundary, so small jobs cost more."""
    copies_lake: bool = False
    """Reads a copy of the lake's tables kept where its executors reach them, which `publish` brings up to date
    whole for other tools (and `erase_copies` removes)."""


class Engine(Protocol):
    """One engine opened over one store."""

    name: str
    dialect: str
    """The sqlglot dialect its SQL is generated in."""
    capabilities: Capabilities

    def members(self, compiled: CompiledAudiences) -> pa.Table:
        """Evaluate every compiled audience (the aud_* tables exist); returns (audience, profile_id) rows, each
        pair once (the membership diff relies on it)."""
        ...

    def explain(self, compiled: CompiledAudiences, query: exp.Select) -> tuple[pa.Table, tuple[Any, ...] | None]:
        """`members(compiled)`, and the first row of `query` over the same tables (the profile's conditions and
        values that `why` shows), or None when it selects nothing."""
        ...

    def build(self, steps: Sequence[tuple[str, str]], keep: Sequence[str]) -> None:
        """Run named SELECTs (DuckDB's dialect, over the lake's tables and the steps before them) in order; the
        steps named in `keep` are then temporary tables of the lake, the others are gone."""
        ...

    def components(self, n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Connected components of an undirected graph: per node, a dense label numbered in the order of each
        component's lowest node (so every engine labels a graph alike)."""
        ...

    def load_file(self, job: FileJob, on_rows: Callable[[int], None] | None = None) -> IngestResult:
        """Read and map one file, and commit it to the lake as one batch (bad rows quarantined)."""
        ...

    def publish(self, tables: Sequence[str]) -> tuple[int, int]:
        """Bring the copy of every record table and of `tables` up to date where other tools read it, with the
        lake's views over them; returns (tables shown, batches or whole tables written)."""
        ...

    def erase_copies(self) -> int:
        """Remove every copy of the lake's tables the engine keeps elsewhere (an erasure must reach them; they are
        made again from the lake); returns how many tables were removed."""
        ...


@dataclass(frozen=True)
class EngineKind:
    """An engine Accord can open: its name in accord.yaml and `--engine`, and where its code lives."""

    name: str
    title: str
    package: str
    """The package holding `engine.py` with `open_engine(lake, settings)`."""
    capabilities: Capabilities
    needs: str = ""
    """What to install for it, said when it cannot be opened."""
    settings_section: str | None = None
    """The section of accord.yaml holding its settings (`spark:`), if it has any."""

    def open(self, lake: Any, settings: Any = None) -> Engine:
        return importlib.import_module(f"{self.package}.engine").open_engine(lake, settings)
