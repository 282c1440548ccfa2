"""The lake's tables on Spark: the store's own from the Spark lake, a job's temporary tables as Parquet staged for
it; current views built there from the very SQL the lake uses, transpiled by sqlglot (the definitions are written
once); results come back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from accord.audiences.tables import table_sql
from accord.engines.spark.dialect import to_spark
from accord.engines.spark.lake import SparkLake, read_synced, register
from accord.lake.sql import ident, literal
from accord.lake.store import Lake, current_sql

CURRENT = "_current"


def base_tables(queries: Iterable[str], made: set[str]) -> list[str]:
    """The lake's tables and views `queries` read, bar their own CTEs and the tables in `made`."""
    found: set[str] = set()
    for sql in queries:
        tree = sqlglot.parse_one(sql, read="duckdb")
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        found |= {t.name for t in tree.find_all(exp.Table)} - ctes - made
    return sorted(found)


def send_tables(spark_lake: SparkLake, spark: Any, folder: Path, queries: Iterable[str], made: set[str]) -> None:
    """Temporary views on `spark` of the lake tables `queries` read: the store's own tables from the Spark lake
    (only what changed since the last job is written; each also registered in its database of the catalog), a
    job's temporary tables and views as Parquet staged for this job; every version of a record with its
    `<entity>_current` view built on Spark."""
    lake = spark_lake.store
    for name in base_tables(queries, made):
        stored = name.removesuffix(CURRENT)
        synced = spark_lake.sync(stored) if spark_lake.holds(stored) else None
        if synced is not None and synced.segments:
            register(spark, spark_lake.database, synced)
            read_synced(spark, synced).createOrReplaceTempView(stored)
        else:
            send_rows(lake, spark, folder, stored, f"SELECT * FROM {ident(stored)}")
        if stored != name:
            spark.sql(to_spark(current_sql(lake.schema.entity(stored)))).createOrReplaceTempView(name)


def send_rows(lake: Lake, spark: Any, folder: Path, name: str, query: str) -> Any:
    """The rows of a lake `query` as the temporary view `name` on `spark` (sent as Parquet)."""
    path = folder / f"rows-{name}.parquet"  # Spark skips files whose names start with `_`, as `_decided_people`'s would
    lake.execute(f"COPY ({query}) TO {literal(str(path))} (FORMAT parquet)")
    frame = spark.read.parquet(str(path))
    frame.createOrReplaceTempView(name)
    return frame


def bring_back(lake: Lake, frame: Any, folder: Path, name: str) -> None:
    """A Spark result as the lake's temporary table `name`."""
    frame.write.mode("overwrite").parquet(str(folder / name))
    lake.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS "
                 f"SELECT * FROM read_parquet({literal(str(folder / name / '*.parquet'))})")


def load_audience_tables(spark_lake: SparkLake, spark: Any, folder: Path) -> None:
    """Temporary views on `spark` of every aud_* table, built there from the lake's base tables."""
    built = table_sql(spark_lake.store.schema)
    send_tables(spark_lake, spark, folder, built.values(), set(built))
    for name, sql in built.items():
        spark.sql(to_spark(sql)).cache().createOrReplaceTempView(name)
