"""The store whole in Spark's catalog, for the cluster's other tools: each published table synced into the Spark
lake and registered, beside the records' `_latest` and `_current` views and the aud_* tables as views, all built
from the lake's own SQL, transpiled."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify_tables import qualify_tables

from accord.audiences.tables import table_sql
from accord.engines.spark.dialect import to_spark
from accord.engines.spark.lake import BY_DAY, DAY, SparkLake, define_view, register
from accord.engines.spark.tables import base_tables
from accord.lake.store import current_sql, latest_view_sql


@dataclass(frozen=True)
class Published:
    tables: tuple[str, ...]
    """The store's tables now in the catalog."""
    views: int
    """The views over them now in the catalog."""
    written: int
    """Batches, or tables kept whole, written to the Spark lake for this."""
    defined: int
    """Tables and views whose definition was made or replaced (the catalog held the others unchanged)."""


def publish(spark_lake: SparkLake, spark: Any, tables: Sequence[str]) -> Published:
    """Sync every record table and `tables` into the Spark lake, register each in the sandbox's database, then make
    the views whose tables are all there."""
    store, database = spark_lake.store, spark_lake.database
    shown: dict[str, list[list[str]]] = {}
    written = defined = 0
    for table in [*store.schema.entities, *tables]:
        if table in shown or not spark_lake.holds(table):
            continue
        synced = spark_lake.sync(table)
        written += synced.written
        shown[table] = [[name, kind] for name, kind in zip(synced.columns, synced.types)]
        defined += (register(spark, database, synced) if synced.segments
                    else define_view(spark, database, table, _empty_sql(table, shown[table])))
    views: dict[str, str] = {}
    for entity in store.schema.entities.values():
        views[f"{entity.name}_latest"] = latest_view_sql(entity)
        views[f"{entity.name}_current"] = current_sql(entity)
    views.update(table_sql(store.schema))  # in the order they build on each other
    # A view keeps the columns it saw when made: a new column under it makes it again.
    columns = json.dumps(shown, sort_keys=True)
    made_views: list[str] = []
    for name, sql in views.items():
        if set(base_tables([sql], set())) <= {*shown, *made_views}:
            defined += define_view(spark, database, name, to_spark(_qualified(sql, database)), columns)
            made_views.append(name)
    return Published(tuple(shown), len(made_views), written, defined)


def _empty_sql(table: str, columns: list[list[str]]) -> str:
    """A record table with no batches yet, as a view with its columns and no rows: queries over it, and the views
    built on it, work before its first batch."""
    typed = [f"CAST(NULL AS {_spark_type(kind)}) AS `{name}`" for name, kind in columns]
    if table in BY_DAY:
        typed.append(f"CAST(NULL AS DATE) AS `{DAY}`")
    return f"SELECT {', '.join(typed)} LIMIT 0"


def _spark_type(duckdb_type: str) -> str:
    # Parquet holds DuckDB's JSON as text.
    if duckdb_type.upper() == "JSON":
        return "STRING"
    return exp.DataType.build(duckdb_type, dialect="duckdb").sql("spark")


def _qualified(sql: str, database: str) -> str:
    """`sql` (DuckDB's dialect) reading its tables from `database`: a view kept in the catalog may not read a
    session's temporary views."""
    return qualify_tables(sqlglot.parse_one(sql, read="duckdb"), db=database).sql("duckdb")
