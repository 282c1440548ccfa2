"""A mapping maps alike on every engine: the same typed values, and the same reasons for every bad row, from the
one definition in `ingest/compile.py` (Spark's SQL transpiled from it by sqlglot)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from accord.ingest.compile import ChunkCompiler
from accord.ingest.mapping import Mapping
from accord.model.entities import ColumnType
from accord.sources.base import ROW_COLUMN
from accord.sources.mappings import builtin_mappings, resolve_mapping
from tests.conftest import mapping
from tests.test_mapping import CASES


@pytest.fixture(scope="module")
def spark_on_demand():
    """One Spark session for the module's Spark cases, started on first use."""
    sessions: list[Any] = []

    def start() -> Any:
        if not sessions:
            from accord.engines.spark.session import spark_session

            sessions.append(spark_session())
        return sessions[0]

    yield start
    for session in sessions:
        session.stop()


def mapped(engine: str, spark: Any, m: Mapping, table: pa.Table) -> list[dict[str, Any]]:
    """The rows of `table` (raw columns and row numbers) as `engine` maps them, by row number; instants in UTC,
    JSON parsed, lists as lists."""
    columns = [c for c in table.column_names if c != ROW_COLUMN]
    if engine == "duckdb":
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.register("chunk", table)
        cursor = con.execute(ChunkCompiler(m, columns, "t1").select_sql())
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values)) for values in cursor.fetchall()]
        con.close()
    else:
        from accord.engines.spark.mapping import mapping_sql

        spark.createDataFrame(table).createOrReplaceTempView("chunk")
        rows = [r.asDict() for r in spark.sql(mapping_sql(m, columns, "t1")).collect()]
    return sorted((_comparable(m, row) for row in rows), key=lambda r: r["source_row"])


def _comparable(m: Mapping, row: dict[str, Any]) -> dict[str, Any]:
    json_columns = {"_raw", *(c.name for c in m.target.mappable_columns if c.type is ColumnType.JSON)}
    out = {}
    for name, value in row.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)  # Spark's TIMESTAMP is an instant shown in UTC
        if value is not None and name in json_columns:
            value = json.loads(value)
        if isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def text_table(header: list[str], rows: list[list[str | None]]) -> pa.Table:
    columns = {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(header)}
    return pa.table({**columns, ROW_COLUMN: pa.array(range(1, len(rows) + 1), pa.int64())})


@pytest.mark.parametrize(("field", "spec", "raw", "expected"), CASES)
def test_each_transform_gives_the_same_value_on_every_engine(engine, spark_on_demand, field, spec, raw,
                                                             expected) -> None:
    spark = spark_on_demand() if engine == "spark" else None
    values = list(raw) if isinstance(raw, tuple) else [raw, ""]
    [row] = mapped(engine, spark, mapping("person", {"source_id": "Id", field: spec}),
                   text_table(["Id", "A", "B"], [["1", *values]]))
    assert row["_reason"] is None
    assert row[field] == expected


BAD = [  # a column's raw text, and the reason its row is quarantined for
    ("Email", "not-an-address", "bad_email: email 'not-an-address' is not an e-mail address"),
    ("Email", "a@b", "bad_email: email 'a@b' is not an e-mail address"),
    ("Score", "lots", "wrong_type: lead_score 'lots' is not a number"),
    ("Opt", "perhaps", "wrong_type: email_opt_out 'perhaps' is not true or false"),
    ("Born", "2024-99-01", "unparsable_date: converted_date '2024-99-01' is not a date"),
    ("Seen", "1850-01-01T00:00:00Z", "out_of_range: created_at '1850-01-01T00:00:00Z' is not between 1900 and "
                                     "2199 (UTC)"),
    ("Id", None, "missing_required: source_id is empty"),
]
PEOPLE = mapping("person", {"source_id": "Id", "email": "Email", "lead_score": "Score", "email_opt_out": "Opt",
                            "converted_date": "Born", "created_at": "Seen"})


@pytest.mark.parametrize(("column", "raw", "reason"), BAD, ids=[b[2].split(":")[0] + "-" + b[0] for b in BAD])
def test_a_bad_value_gets_the_same_reason_and_raw_record_on_every_engine(engine, spark_on_demand, column, raw,
                                                                         reason) -> None:
    spark = spark_on_demand() if engine == "spark" else None
    header = ["Id", "Email", "Score", "Opt", "Born", "Seen"]
    good = ["7", "kim@acme.com", "12", "no", "2024-02-29", "2026-11-20T10:00:00Z"]
    bad = [raw if name == column else value for name, value in zip(header, good)]
    rows = mapped(engine, spark, PEOPLE, text_table(header, [good, bad]))
    assert [r["_reason"] for r in rows] == [None, reason]
    assert rows[1]["_raw"] == dict(zip(header, bad)), "the raw record names every column, empty ones too"
    assert rows[0]["_raw"] is None


def real_rows(m: Mapping) -> pa.Table:
    """Two rows in each of the mapping's columns, shaped as exports hold them: ids, instants in Salesforce's and
    Marketo's forms, numbers with spaces, multi-select values, JSON attributes with report labels as keys."""
    samples = {
        "attributes": ['{"Webpage URL": "https://x.io/pricing", "Query Parameters": "utm=1", "Odd Key!": [1, 2.5]}',
                       "not json"],
        "activityDate": ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00.000+0000"],
        "activityTypeId": ["1", "11"],
    }
    columns = list(dict.fromkeys(m.source_columns))
    first = [samples.get(c, [f" v{i}@Acme.com ", ""])[0] for i, c in enumerate(columns)]
    second = [samples.get(c, [None, f"{i}; {i + 1} ;"])[1] for i, c in enumerate(columns)]
    return text_table(columns, [first, second])


@pytest.mark.spark
@pytest.mark.parametrize("name", builtin_mappings())
def test_every_shipped_mapping_maps_on_spark_as_on_duckdb(spark_on_demand, name: str) -> None:
    pytest.importorskip("pyspark")
    m = resolve_mapping(name)
    table = real_rows(m)
    assert mapped("spark", spark_on_demand(), m, table) == mapped("duckdb", None, m, table)
