"""The scale-out engine: the same compiled audiences on Apache Spark, over the aud_* tables written as Parquet.

Install with `pip install accord-cdp[spark]` (needs Java 17+). The session runs in UTC with Arrow on, as the
portability rules in DESIGN.md §5 require.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from accord.audiences.compile import CompiledAudiences
from accord.audiences.tables import table_sql
from accord.lake.sql import literal
from accord.lake.store import Lake


def spark_session(master: str = "local[2]") -> Any:
    """A local Spark session set up for Accord: UTC, Arrow, no UI, loopback only."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(master)
        .appName("accord")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    name = "spark"
    dialect = "spark"
    decides_some = False

    def __init__(self, lake: Lake, spark: Any | None = None, workdir: Path | None = None) -> None:
        self.lake = lake
        self.spark = spark or spark_session()
        self.workdir = workdir

    def members(self, compiled: CompiledAudiences) -> pa.Table:
        """Write the aud_* tables as Parquet, evaluate on Spark, read the members back."""
        folder = Path(self.workdir or tempfile.mkdtemp(prefix="accord-spark-"))
        try:
            self._load_tables(folder)
            for table, query in compiled.feature_tables():
                self.spark.sql(query.sql(self.dialect)).cache().createOrReplaceTempView(table)
            results = []
            self.spark.sql("SELECT CAST(NULL AS STRING) AS audience, CAST(NULL AS STRING) AS profile_id LIMIT 0") \
                .createOrReplaceTempView("aud_members")
            for level in compiled.levels:
                self.spark.sql(level.query.sql(self.dialect)).cache().createOrReplaceTempView(level.table)
                for name, column in level.columns.items():
                    results.append(self.spark.sql(
                        f"SELECT {_spark_string(name)} AS audience, profile_id FROM {level.table} WHERE `{column}`"))
                union = results[0]
                for more in results[1:]:
                    union = union.unionByName(more)
                union.cache().createOrReplaceTempView("aud_members")
            out = folder / "members"
            self.spark.table("aud_members").write.mode("overwrite").parquet(str(out))
            return self.lake.arrow(f"SELECT audience, profile_id FROM read_parquet({literal(str(out / '*.parquet'))})")
        finally:
            if self.workdir is None:
                shutil.rmtree(folder, ignore_errors=True)

    def _load_tables(self, folder: Path) -> None:
        for name in table_sql(self.lake.schema):
            path = folder / f"{name}.parquet"
            self.lake.execute(f"COPY (SELECT * FROM {name}) TO {literal(str(path))} (FORMAT parquet)")
            self.spark.read.parquet(str(path)).createOrReplaceTempView(name)


def _spark_string(text: str) -> str:
    return exp.Literal.string(text).sql("spark")
