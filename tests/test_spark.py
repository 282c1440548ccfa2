"""Spark parity: the same compiled audiences on PySpark local mode select exactly the members DuckDB selects."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings

from tests.audience_strategies import audiences as random_audiences
from tests.test_audiences import EXAMPLES, WHEN, compiled_members

pytestmark = pytest.mark.spark
pyspark = pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17", allow_module_level=True)

from accord.audiences.compile import Compiler  # noqa: E402
from accord.engines.spark.engine import SparkEngine  # noqa: E402
from accord.engines.spark.session import spark_session  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    session = spark_session()
    yield session
    session.stop()


def spark_members(lake, spark, audiences) -> dict[str, set[str]]:
    table = SparkEngine(lake, spark).members(Compiler(WHEN, lake.schema).compile_all(audiences))
    out: dict[str, set[str]] = {a.name: set() for a in audiences}
    for name, pid in zip(table.column("audience").to_pylist(), table.column("profile_id").to_pylist()):
        out[name].add(pid)
    return out


def test_examples_agree_on_duckdb_and_spark(profiled_lake, spark) -> None:
    assert spark_members(profiled_lake, spark, EXAMPLES) == compiled_members(profiled_lake, EXAMPLES)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(random_audiences())
def test_random_audiences_agree_on_duckdb_and_spark(profiled_lake, spark, audience) -> None:
    assert spark_members(profiled_lake, spark, [audience]) == compiled_members(profiled_lake, [audience])
