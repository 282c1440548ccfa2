"""The store whole in Spark's catalog, for the cluster's other tools: each published table synced into the Spark
lake and registered, beside the records' `_latest` and `_current` views and the aud_* tables as views, all built
from the lake's own SQL, transpiled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot.optimizer.qualify_tables import qualify_tables

from accord.audiences.tables import table_sql
from accord.engines.spark.dialect import to_spark
from accord.engines.spark.lake import SparkLake, register
from accord.engines.spark.tables import base_tables
from accord.lake.store import current_sql, latest_view_sql


@dataclass(frozen=True)
class Published:
    tables: tuple[str, ...]
    """The store's tables now in the catalog (a table with no rows yet has none to show)."""
    views: tuple[str, ...]
    """The views made over them, in the order they were made."""
    written: int
    """Batches, or tables kept whole, written to the Spark lake for this."""


def publish(spark_lake: SparkLake, spark: Any, tables: Sequence[str]) -> Published:
    """Sync every record table and `tables` into the Spark lake, register each in the sandbox's database, then make
    the views whose tables are all there."""
    store, database = spark_lake.store, spark_lake.database
    shown: list[str] = []
    written = 0
    for table in [*store.schema.entities, *tables]:
        if table in shown or not spark_lake.holds(table):
            continue
        synced = spark_lake.sync(table)
        written += synced.written
        if synced.segments:
            register(spark, database, synced)
            shown.append(table)
    views: dict[str, str] = {}
    for entity in store.schema.entities.values():
        views[f"{entity.name}_latest"] = latest_view_sql(entity)
        views[f"{entity.name}_current"] = current_sql(entity)
    views.update(table_sql(store.schema))  # in the order they build on each other
    made: list[str] = []
    for name, sql in views.items():
        if set(base_tables([sql], set())) <= {*shown, *made}:
            spark.sql(f"CREATE OR REPLACE VIEW `{database}`.`{name}` AS {to_spark(_qualified(sql, database))}")
            made.append(name)
    return Published(tuple(shown), tuple(made), written)


def _qualified(sql: str, database: str) -> str:
    """`sql` (DuckDB's dialect) reading its tables from `database`: a view kept in the catalog may not read a
    session's temporary views."""
    return qualify_tables(sqlglot.parse_one(sql, read="duckdb"), db=database).sql("duckdb")
