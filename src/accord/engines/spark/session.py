"""One Spark session for Accord: UTC, Arrow on, no UI, loopback only when local (DESIGN's portability rules)."""

from __future__ import annotations

import os
import sys
from typing import Any

from accord.engines.spark.config import SparkConfig

SQL_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # read back as instants, not INT96
}
"""Settings Accord's SQL relies on, set on every session, a submitted one included."""


def submitted() -> bool:
    """Is this process a driver that spark-submit started (its JVM already holds the master and settings)?"""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_session(master: str = "local[2]", conf: dict[str, str] | None = None) -> Any:
    """The process's Spark session, created on first use with Accord's settings (then `conf`); under spark-submit,
    the submitted master and settings win."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("accord")
    if not submitted():
        builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        # Local mode runs every task in the driver: its default 1 GB heap runs out over a long session.
        memory = {"spark.driver.memory": "2g"} if master.startswith("local") else {}
        settings = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", **memory,
                    "spark.ui.showConsoleProgress": "false", **(conf or {})}
        for key, value in settings.items():
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key, value in SQL_SETTINGS.items():
        session.conf.set(key, value)
    if master.startswith("local") and not submitted():
        # One JVM holds every task here: joins that spill beat broadcasts that run the heap out in a long session.
        session.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    if not master.startswith("sc://"):  # a Connect client has no SparkContext of its own
        session.sparkContext.setLogLevel("ERROR")
    return session


def configured_session(settings: SparkConfig | None) -> Any:
    settings = settings or SparkConfig()
    return spark_session(settings.master, settings.conf)
