"""The embedded engine: compiled audiences run in the lake's own DuckDB connection; components with scipy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from accord.audiences.compile import MEMBERS, CompiledAudiences
from accord.engines.duckdb import ENGINE
from accord.lake.sql import ident, literal
from accord.lake.store import Lake

# Identity (scipy) and file loading (the spreadsheet readers) are imported where used: importing them took 0.4 s,
# which every audience run and preview paid for nothing.
if TYPE_CHECKING:
    from sqlglot import exp

    from accord.ingest.loader import IngestResult
    from accord.sources.files import FileJob


def open_engine(lake: Lake, settings: Any = None) -> DuckDBEngine:
    return DuckDBEngine(lake)


class DuckDBEngine:
    name = ENGINE.name
    dialect = "duckdb"
    capabilities = ENGINE.capabilities

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def build(self, steps: Sequence[tuple[str, str]], keep: Sequence[str]) -> None:
        for name, sql in steps:
            self.lake.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        for name, _ in steps:  # as on Spark, what is not kept is let go (`_ranked_person` holds every record)
            if name not in keep:
                self.lake.execute(f"DROP TABLE temp.{name}")

    def components(self, n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        from accord.identity.stitch import components

        return components(n_nodes, src, dst)

    def load_file(self, job: FileJob, on_rows: Callable[[int], None] | None = None) -> IngestResult:
        """The file read in chunks in this process and mapped in the lake's connection."""
        from accord.sources.files import load_file

        return load_file(self.lake, job, on_rows)

    def publish(self, tables: Sequence[str]) -> tuple[int, int]:
        """Other tools read the lake's own file."""
        return 0, 0

    def erase_copies(self) -> int:
        """The lake is the only copy."""
        return 0

    def members(self, compiled: CompiledAudiences) -> pa.Table:
        """Evaluate every audience (the aud_* tables exist); returns (audience, profile_id) rows."""
        lake = self.lake
        kept = compiled.kept_tables()
        for table, query in compiled.feature_tables(depth=0):
            if table in kept:
                self._keep(table, query.sql(self.dialect), compiled)
            else:
                lake.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {query.sql(self.dialect)}")
        lake.execute(f"CREATE OR REPLACE TEMP TABLE {MEMBERS} (audience VARCHAR, profile_id VARCHAR, recorded BOOLEAN)")
        undecided = compiled.undecided_members_sql()
        if undecided:
            lake.execute(f"INSERT INTO {MEMBERS} SELECT audience, profile_id, TRUE FROM ({undecided})")
        built = 0
        for level in compiled.levels:
            if level.depth > built:
                for table, query in compiled.feature_tables(depth=level.depth):
                    lake.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {query.sql(self.dialect)}")
                built = level.depth
            names = ", ".join(f"({literal(col)}, {literal(name)})" for name, col in level.columns.items())
            columns = ", ".join(ident(col) for col in level.columns.values())
            # One pass turns the wide result (a column per audience) into (audience, profile) rows, and leaves out
            # the NULLs of non-members; the result is never written out whole (on `large`, writing it cost 0.14 s
            # of 1.0).
            lake.execute(
                f"INSERT INTO {MEMBERS} SELECT n.audience, u.profile_id, FALSE "
                f"FROM (UNPIVOT ({level.query.sql(self.dialect)}) ON {columns} INTO NAME col VALUE hit) AS u "
                f"JOIN (VALUES {names}) AS n(col, audience) USING (col)"
            )
        return lake.arrow(f"SELECT audience, profile_id FROM {MEMBERS} WHERE NOT recorded")

    def explain(self, compiled: CompiledAudiences, query: exp.Select) -> tuple[pa.Table, tuple[Any, ...] | None]:
        members = self.members(compiled)
        return members, self.lake.execute(query.sql(self.dialect)).fetchone()

    def _keep(self, table: str, query: str, compiled: CompiledAudiences) -> None:
        """A people's feature table kept in the lake: rebuilt whole, or only the decided people's rows."""
        lake = self.lake
        lake.execute(f"DROP TABLE IF EXISTS temp.{table}")  # a temporary one (a preview's) would shadow it
        if "person" in compiled.within and not compiled.all_features:
            lake.execute(f"DELETE FROM main.{table} WHERE person_id IN "
                         f"(SELECT profile_id FROM {compiled.within['person']})")
            lake.execute(f"INSERT INTO main.{table} {query}")
        else:
            lake.execute(f"CREATE OR REPLACE TABLE main.{table} AS {query}")
