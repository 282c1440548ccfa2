"""Files read on Spark: split over many tasks, each row keeps its number in the file and lands as the lake's own
reader lands it; `accord ingest files --engine spark` loads a folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.engines.registry import open_engine
from accord.lake.store import Lake
from accord.sources.files import FileJob, load_file
from accord.workspace import Workspace
from tests.conftest import mapping

pytestmark = pytest.mark.spark
pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17", allow_module_level=True)

PEOPLE = mapping("person", {"source_id": "Id", "email": {"from": "Email", "optional": True},
                            "lead_score": {"from": "Score", "optional": True}})


@pytest.fixture
def small_splits():
    """Spark's reads cut into splits of 2 KB, so one file is read by many tasks."""
    from accord.engines.spark.session import spark_session

    session = spark_session()
    small = {"spark.sql.files.maxPartitionBytes": "2048", "spark.sql.files.openCostInBytes": "0"}
    before = {key: session.conf.get(key) for key in small}
    for key, value in small.items():
        session.conf.set(key, value)
    yield session
    for key, value in before.items():
        session.conf.set(key, value)


def landed(lake: Lake) -> tuple[list[tuple], list[tuple]]:
    people = lake.execute("SELECT source_row, source_id, email, lead_score FROM person ORDER BY source_row").fetchall()
    bad = lake.execute("SELECT source_row, reason, raw_record FROM quarantine ORDER BY source_row").fetchall()
    return people, bad


def both_engines(tmp_path: Path, path: Path) -> tuple[tuple, tuple]:
    with Lake(tmp_path / "duck" / "accord.duckdb") as lake:
        load_file(lake, FileJob(path, PEOPLE))
        expected = landed(lake)
    with Lake(tmp_path / "spark" / "accord.duckdb") as lake:
        result = open_engine("spark", lake).load_file(FileJob(path, PEOPLE))
        got = landed(lake)
    assert result.rows_read == len(got[0]) + len(got[1])
    return got, expected


def test_a_jsonl_file_read_by_many_tasks_keeps_every_line_number(small_splits, tmp_path: Path) -> None:
    lines = []
    for i in range(1, 601):
        if i % 97 == 0:
            lines.append('{"Id": "broken",')
        elif i % 89 == 0:
            lines.append("")
        else:
            lines.append(json.dumps({"Id": str(i), "Email": f"p{i}@x.io", "Score": i / 2, "Extra": {"n": i}}))
    path = tmp_path / "people.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert small_splits.read.text(str(path)).rdd.getNumPartitions() > 4, "the file is really split"
    got, expected = both_engines(tmp_path, path)
    assert got == expected
    assert [row[0] for row in got[1]] == [97, 194, 291, 388, 485, 582]


def test_a_parquet_file_of_many_row_groups_keeps_every_row_number(small_splits, tmp_path: Path) -> None:
    n = 3000
    table = pa.table({"Id": [str(i) for i in range(1, n + 1)],
                      "Email": [f"p{i}@x.io" if i % 101 else "not an address" for i in range(1, n + 1)],
                      "Score": [float(i) for i in range(1, n + 1)]})
    path = tmp_path / "people.parquet"
    pq.write_table(table, path, row_group_size=200)
    got, expected = both_engines(tmp_path, path)
    assert got == expected
    assert len(got[1]) == n // 101


def test_accord_ingest_files_on_spark_loads_a_folder_as_duckdb_does(tiny_world: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    counts = {}
    for engine in ("duckdb", "spark"):
        ws = Workspace.init(tmp_path / engine)
        done = runner.invoke(app, ["ingest", "files", str(tiny_world), "--engine", engine, "-w", str(ws.root)],
                             env={"COLUMNS": "200"})
        assert done.exit_code == 0, done.output
        with ws.lake() as lake:
            counts[engine] = (lake.counts(), lake.query("SELECT entity, reason_code, count(*) AS n FROM quarantine "
                                                        "GROUP BY ALL ORDER BY ALL"))
    assert counts["spark"] == counts["duckdb"]
    assert counts["duckdb"][0]["person"]["current"] > 0
