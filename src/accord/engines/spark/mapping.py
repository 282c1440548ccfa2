"""A mapping as Spark SQL: the chunk compiler's SQL, with the JSON edits Spark says differently marked for
`dialect.to_spark`, which writes them in Spark's functions."""

from __future__ import annotations

from accord.engines.spark.dialect import ADD_KEYS, SNAKE_KEYS, to_spark
from accord.ingest.compile import ChunkCompiler
from accord.ingest.mapping import Mapping


class SparkChunkCompiler(ChunkCompiler):
    def _snake_keys(self, text: str) -> str:
        return f"{SNAKE_KEYS}({text})"

    def _add_keys(self, text: str, pairs: str) -> str:
        return self._hoist(f"{ADD_KEYS}({text}, {pairs})")


def mapping_sql(mapping: Mapping, columns: list[str], instance: str, strict: bool = True) -> str:
    """Spark SQL mapping a view named `chunk` (the raw columns and their row numbers) as `ChunkCompiler` does."""
    return to_spark(SparkChunkCompiler(mapping, columns, instance, strict).select_sql())
