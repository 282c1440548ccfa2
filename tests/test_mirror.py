"""The Parquet mirror of the lake's record tables that Spark jobs read: only new batches written, one file per sync
(few files in all), a killed sync or a store put back never leaving rows Spark would read wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from accord.engines.spark import mirror
from accord.engines.spark.mirror import mirror_folder, sync_table
from accord.lake.store import Lake
from tests.conftest import ingest, mapping, write_csv

PEOPLE = mapping("person", {"source_id": "Id", "email": "Email"})


def load(lake: Lake, folder: Path, name: str, rows: list[list[str]]) -> None:
    ingest(lake, write_csv(folder / f"{name}.csv", ["Id", "Email"], rows), PEOPLE)


def mirrored_rows(folder: Path) -> list[tuple[str, str, int]]:
    """What a reader of the folder sees, as Spark reads it: every file not starting with `_` or `.`."""
    files = [p for p in folder.iterdir() if not p.name.startswith(("_", "."))]
    rows = [r for p in files for r in pq.read_table(p, columns=["source_key", "email", "batch_id"]).to_pylist()]
    return sorted((r["source_key"], r["email"], r["batch_id"]) for r in rows)


def lake_rows(lake: Lake) -> list[tuple[str, str, int]]:
    return sorted(lake.execute("SELECT source_key, email, batch_id FROM person").fetchall())


def data_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("part-*.parquet"))


def test_a_sync_writes_only_the_batches_it_lacks(lake: Lake, tmp_path: Path) -> None:
    load(lake, tmp_path, "one", [["p1", "a@x.io"], ["p2", "b@x.io"]])
    load(lake, tmp_path, "two", [["p1", "a2@x.io"]])
    first = sync_table(lake, "person")
    assert (first.written, first.removed, first.batches) == (2, 0, 2) and len(data_files(first.folder)) == 1
    assert mirrored_rows(first.folder) == lake_rows(lake)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.folder.glob("part-*.parquet")}
    again = sync_table(lake, "person")
    assert (again.written, again.removed) == (0, 0)
    assert {p.name: p.stat().st_mtime_ns for p in first.folder.glob("part-*.parquet")} == stamps
    load(lake, tmp_path, "three", [["p3", "c@x.io"]])
    assert sync_table(lake, "person").written == 1 and len(data_files(first.folder)) == 2
    assert mirrored_rows(first.folder) == lake_rows(lake)


def test_a_sync_killed_half_way_is_finished_by_the_next(lake: Lake, tmp_path: Path) -> None:
    """Killed after a file was renamed into place, before the manifest named it (it is removed), or while one was
    written aside; and a file the manifest names gone (its batches are written again)."""
    load(lake, tmp_path, "one", [["p1", "a@x.io"]])
    load(lake, tmp_path, "two", [["p2", "b@x.io"]])
    folder = sync_table(lake, "person").folder
    [written] = data_files(folder)
    shutil.copy(folder / written, folder / "part-000777.parquet")
    (folder / ".part-000778.parquet.tmp").write_bytes(b"PAR1 half")
    healed = sync_table(lake, "person")
    assert (healed.written, healed.removed) == (0, 2) and mirrored_rows(folder) == lake_rows(lake)
    assert [p.name for p in folder.iterdir() if not p.name.startswith("_")] == [written]
    (folder / written).unlink()
    assert sync_table(lake, "person").written == 2 and mirrored_rows(folder) == lake_rows(lake)


def test_past_the_file_limit_a_table_is_written_again_as_one(lake: Lake, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mirror, "MAX_FILES", 3)
    for n in range(4):
        load(lake, tmp_path, f"b{n}", [[f"p{n}", f"{n}@x.io"]])
        synced = sync_table(lake, "person")
    assert (synced.written, synced.removed) == (4, 3) and len(data_files(synced.folder)) == 1
    assert mirrored_rows(synced.folder) == lake_rows(lake)


def test_a_new_column_writes_the_table_again(lake: Lake, tmp_path: Path) -> None:
    load(lake, tmp_path, "one", [["p1", "a@x.io"]])
    folder = sync_table(lake, "person").folder
    lake.execute("ALTER TABLE person ADD COLUMN tier VARCHAR")
    assert sync_table(lake, "person").written == 1
    assert "tier" in pq.read_table(next(folder.glob("part-*.parquet"))).column_names


@pytest.mark.spark
def test_spark_reads_the_mirror_as_the_lake_holds_the_table(lake: Lake, tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    from accord.engines.spark.session import spark_session

    load(lake, tmp_path, "one", [["p1", "a@x.io"], ["p2", "b@x.io"]])
    load(lake, tmp_path, "two", [["p1", "ü@x.io"]])
    sync_table(lake, "person")
    spark = spark_session()
    try:
        rows = spark.read.parquet(str(mirror_folder(lake, "person"))).select("source_key", "email", "batch_id").collect()
    finally:
        spark.stop()
    assert sorted((r.source_key, r.email, r.batch_id) for r in rows) == lake_rows(lake)


def test_a_store_put_back_from_elsewhere_is_mirrored_afresh(tmp_path: Path) -> None:
    """Another store in the same place reuses batch ids: its batches differ in when they began."""
    here, elsewhere = tmp_path / "here" / "accord.duckdb", tmp_path / "elsewhere" / "accord.duckdb"
    with Lake(here) as lake:
        load(lake, tmp_path, "mine", [["p1", "a@x.io"]])
        sync_table(lake, "person")
    with Lake(elsewhere) as other:
        load(other, tmp_path, "theirs", [["p1", "z@x.io"]])
    shutil.copy(elsewhere, here)
    with Lake(here) as lake:
        assert sync_table(lake, "person").written == 1
        assert mirrored_rows(mirror_folder(lake, "person")) == lake_rows(lake)
