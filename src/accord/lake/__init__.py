"""The lake: canonical tables in DuckDB, append-only batches with lineage."""

from accord.lake.store import Lake

__all__ = ["Lake"]
