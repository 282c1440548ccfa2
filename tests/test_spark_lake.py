"""The record tables as Spark reads them: only new batches written, a segment per sync (few in all), events split
by day, each commit all or nothing; a killed sync or a store put back never leaves rows a reader would read wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from accord.engines.spark import lake as spark_lake
from accord.engines.spark.config import SparkConfig
from accord.engines.spark.lake import MANIFESTS, SparkLake, lake_root, open_spark_lake
from accord.lake.store import Lake
from tests.conftest import ingest, mapping, write_csv

PEOPLE = mapping("person", {"source_id": "Id", "email": "Email"})
EVENTS = mapping("event", {"source_id": "Id", "event_type": "Type", "timestamp": "At"})


def load(lake: Lake, folder: Path, name: str, rows: list[list[str]]) -> None:
    ingest(lake, write_csv(folder / f"{name}.csv", ["Id", "Email"], rows), PEOPLE)


def copies(lake: Lake) -> SparkLake:
    return open_spark_lake(lake, SparkConfig(), spark=None)  # a folder: no Spark needed


def committed_rows(lake: Lake, table: str = "person", columns: tuple[str, ...] = ("source_key", "email", "batch_id")):
    """What a reader following the manifest in force sees, as Spark would: every data file of its segments."""
    found = copies(lake)
    _, manifest = found.committed(table)
    files = [p for name in manifest["segments"] for p in Path(found.folder(table), name).rglob("*.parquet")
             if not any(part.startswith((".", "_")) for part in p.parts)]
    rows = ds.dataset(files, format="parquet").to_table(columns=list(columns)).to_pylist() if files else []
    return sorted(tuple(r[c] for c in columns) for r in rows)


def lake_rows(lake: Lake) -> list[tuple]:
    return sorted(lake.execute("SELECT source_key, email, batch_id FROM person").fetchall())


def segments(lake: Lake, table: str = "person") -> list[str]:
    return sorted(p.name for p in Path(copies(lake).folder(table)).glob("segment=*"))


def test_a_sync_writes_only_the_batches_it_lacks(lake: Lake, tmp_path: Path) -> None:
    load(lake, tmp_path, "one", [["p1", "a@x.io"], ["p2", "b@x.io"]])
    load(lake, tmp_path, "two", [["p1", "a2@x.io"]])
    first = copies(lake).sync("person")
    assert (first.written, first.removed, first.batches, first.version) == (2, 0, 2, 1)
    assert segments(lake) == ["segment=1"] and committed_rows(lake) == lake_rows(lake)
    again = copies(lake).sync("person")
    assert (again.written, again.removed, again.version) == (0, 0, 1), "nothing new: nothing written or committed"
    load(lake, tmp_path, "three", [["p3", "c@x.io"]])
    third = copies(lake).sync("person")
    assert (third.written, third.version) == (1, 2) and segments(lake) == ["segment=1", "segment=2"]
    assert committed_rows(lake) == lake_rows(lake)
    assert sorted(p.name for p in Path(copies(lake).folder("person"), MANIFESTS).iterdir()) == ["00000002.json"]


def test_events_are_split_by_day_within_a_segment(lake: Lake, tmp_path: Path) -> None:
    rows = [["e1", "web.pageview", "2026-11-29T23:59:59Z"], ["e2", "web.pageview", "2026-11-30T00:00:00+01:00"],
            ["e3", "email.click", "2026-11-30T08:00:00Z"]]
    ingest(lake, write_csv(tmp_path / "events.csv", ["Id", "Type", "At"], rows), EVENTS)
    synced = copies(lake).sync("event")
    [segment] = synced.segments
    assert sorted(p.name for p in Path(segment).iterdir()) == ["event_day=2026-11-29", "event_day=2026-11-30"]
    # In UTC: the second event, at midnight in Paris, is still the 29th.
    days = {p.parent.name: p for p in Path(segment).rglob("*.parquet")}
    assert ds.dataset(days["event_day=2026-11-29"]).count_rows() == 2
    keys = ("source_id", "event_type", "batch_id")
    assert committed_rows(lake, "event", keys) == sorted(lake.execute("SELECT source_id, event_type, batch_id "
                                                                        "FROM event").fetchall())


def test_a_sync_killed_half_way_is_finished_by_the_next(lake: Lake, tmp_path: Path) -> None:
    """Killed after a segment was put in place, before a manifest named it (it is removed); killed while the
    manifest was written (unreadable: the one before it stands); a segment the manifest names gone (its batches
    are written again)."""
    load(lake, tmp_path, "one", [["p1", "a@x.io"]])
    load(lake, tmp_path, "two", [["p2", "b@x.io"]])
    folder = Path(copies(lake).sync("person").segments[0]).parent
    shutil.copytree(folder / "segment=1", folder / "segment=7")
    (folder / MANIFESTS / "00000002.json").write_text('{"columns": ["source_id VARC')
    assert committed_rows(lake) == lake_rows(lake), "a reader follows the last manifest that reads whole"
    healed = copies(lake).sync("person")
    assert (healed.written, healed.removed, healed.version) == (0, 1, 1) and segments(lake) == ["segment=1"]
    assert sorted(p.name for p in (folder / MANIFESTS).iterdir()) == ["00000001.json"]
    shutil.rmtree(folder / "segment=1")
    again = copies(lake).sync("person")
    assert (again.written, again.version) == (2, 2) and committed_rows(lake) == lake_rows(lake)
    load(lake, tmp_path, "three", [["p3", "c@x.io"]])
    (folder / MANIFESTS / "00000003.json").write_text("")
    assert copies(lake).sync("person").version == 4, "a name a killed sync took is not taken again"
    assert committed_rows(lake) == lake_rows(lake)


def test_another_writer_committing_meanwhile_is_refused(lake: Lake, tmp_path: Path, monkeypatch) -> None:
    load(lake, tmp_path, "one", [["p1", "a@x.io"]])
    found = copies(lake)
    monkeypatch.setattr(found.storage, "create", lambda location, data: False)
    with pytest.raises(RuntimeError, match="committed by another writer"):
        found.sync("person")


def test_past_the_segment_limit_a_table_is_written_again_as_one(lake: Lake, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spark_lake, "MAX_SEGMENTS", 3)
    for n in range(4):
        load(lake, tmp_path, f"b{n}", [[f"p{n}", f"{n}@x.io"]])
        synced = copies(lake).sync("person")
    assert (synced.written, synced.removed) == (4, 0) and synced.segments[0].endswith("segment=4")
    assert committed_rows(lake) == lake_rows(lake)
    assert segments(lake) == ["segment=1", "segment=2", "segment=3", "segment=4"], "kept for readers until the next"
    assert copies(lake).sync("person").removed == 3 and segments(lake) == ["segment=4"]


def test_a_new_column_or_a_changed_batch_writes_them_again(lake: Lake, tmp_path: Path) -> None:
    load(lake, tmp_path, "one", [["p1", "a@x.io"], ["p2", "b@x.io"]])
    copies(lake).sync("person")
    load(lake, tmp_path, "two", [["p3", "c@x.io"]])
    copies(lake).sync("person")
    lake.execute("DELETE FROM person WHERE source_id = 'p2'")  # as an erasure does
    changed = copies(lake).sync("person")
    assert (changed.written, changed.removed) == (1, 0) and [Path(s).name for s in changed.segments] \
        == ["segment=2", "segment=3"]
    assert committed_rows(lake) == lake_rows(lake)
    lake.execute("ALTER TABLE person ADD COLUMN tier VARCHAR")
    widened = copies(lake).sync("person")
    assert (widened.written, widened.removed) == (2, 1) and "tier" in widened.columns, "segment=1 goes now"
    [segment] = widened.segments
    assert "tier" in ds.dataset(segment, format="parquet").schema.names


def test_a_store_put_back_from_elsewhere_is_written_afresh(tmp_path: Path) -> None:
    """Another store in the same place reuses batch ids: its batches differ in when they began."""
    here, elsewhere = tmp_path / "here" / "accord.duckdb", tmp_path / "elsewhere" / "accord.duckdb"
    with Lake(here) as lake:
        load(lake, tmp_path, "mine", [["p1", "a@x.io"]])
        copies(lake).sync("person")
    with Lake(elsewhere) as other:
        load(other, tmp_path, "theirs", [["p1", "z@x.io"]])
    shutil.copy(elsewhere, here)
    with Lake(here) as lake:
        assert copies(lake).sync("person").written == 1
        assert committed_rows(lake) == lake_rows(lake)


def test_other_tables_are_kept_whole_and_written_again_only_when_they_change(lake: Lake) -> None:
    lake.execute("INSERT INTO identity_unlinks VALUES ('person', 'email', 'a@x.io', 'p-1', now(), NULL)")
    first = copies(lake).sync("identity_unlinks")
    assert (first.written, first.version) == (1, 1) and segments(lake, "identity_unlinks") == ["segment=1"]
    assert copies(lake).sync("identity_unlinks").written == 0, "unchanged: nothing written"
    lake.execute("UPDATE identity_unlinks SET value = 'b@x.io'")
    changed = copies(lake).sync("identity_unlinks")
    assert (changed.written, changed.removed, changed.version) == (1, 0, 2)
    assert committed_rows(lake, "identity_unlinks", ("namespace", "value")) == [("email", "b@x.io")]
    lake.execute("DELETE FROM identity_unlinks")
    emptied = copies(lake).sync("identity_unlinks")
    assert (emptied.written, emptied.removed) == (1, 1) and committed_rows(lake, "identity_unlinks", ("value",)) == []


def test_a_table_that_grows_by_runs_is_written_a_run_at_a_time(lake: Lake) -> None:
    def run(run_id: int, *profiles: str) -> None:
        lake.executemany("INSERT INTO audience_membership_history VALUES (?, 'a', ?, 'realized', now())",
                         [[run_id, p] for p in profiles])

    def committed() -> list[tuple]:
        return committed_rows(lake, "audience_membership_history", ("run_id", "profile_id"))

    def held() -> list[tuple]:
        return sorted(lake.execute("SELECT run_id, profile_id FROM audience_membership_history").fetchall())

    run(1, "p-1", "p-2")
    assert copies(lake).sync("audience_membership_history").written == 1
    run(2, "p-3")
    second = copies(lake).sync("audience_membership_history")
    assert (second.written, second.batches) == (1, 2)
    newest = ds.dataset(Path(second.segments[-1]), format="parquet").to_table(columns=["run_id"])
    assert newest.column("run_id").to_pylist() == [2], "the new run alone, not the history again"
    assert committed() == held() == [(1, "p-1"), (1, "p-2"), (2, "p-3")]
    assert copies(lake).sync("audience_membership_history").written == 0
    lake.execute("DELETE FROM audience_membership_history WHERE profile_id = 'p-2'")  # an erasure
    erased = copies(lake).sync("audience_membership_history")
    assert erased.written == 1 and committed() == held() == [(1, "p-1"), (2, "p-3")]


def test_views_and_a_jobs_temporary_tables_are_not_kept(lake: Lake) -> None:
    assert copies(lake).holds("person") and copies(lake).holds("identity_nodes")
    assert not copies(lake).holds("person_current"), "a view: Spark builds it from the same SQL"
    lake.execute("CREATE TEMP TABLE _scope AS SELECT 'k' AS source_key")
    lake.execute("CREATE TEMP TABLE identity_nodes AS SELECT 1 AS shadow")
    assert not copies(lake).holds("_scope") and not copies(lake).holds("identity_nodes"), \
        "what the job's SQL would read is its own temporary table"


def test_each_sandbox_has_its_own_folder_under_a_configured_lake(tmp_path: Path) -> None:
    with Lake(tmp_path / "s" / "accord.duckdb", sandbox="staging") as lake:
        assert lake_root(lake, SparkConfig(lake="s3a://bucket/accord/")) == "s3a://bucket/accord/staging"
        assert lake_root(lake, SparkConfig()) == str(tmp_path / "s" / "derived" / "spark-lake")


@pytest.mark.spark
def test_spark_reads_the_committed_segments_through_a_hadoop_uri(lake: Lake, tmp_path: Path) -> None:
    """The lake at a `file://` URI goes through Spark's Hadoop file systems, as `hdfs://` or `s3a://` would; jobs
    read the store's rows, and the catalog's view shows exactly what was committed."""
    pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    from accord.engines.spark.engine import SparkEngine
    from accord.engines.spark.lake import read_synced
    from accord.engines.spark.session import spark_session

    load(lake, tmp_path, "one", [["p1", "a@x.io"], ["p2", "b@x.io"]])
    load(lake, tmp_path, "two", [["p1", "ü@x.io"]])
    rows = [["e1", "web.pageview", "2026-11-29T10:00:00Z"], ["e2", "email.click", "2026-11-30T10:00:00Z"]]
    ingest(lake, write_csv(tmp_path / "events.csv", ["Id", "Type", "At"], rows), EVENTS)
    uri = (tmp_path / "cluster").as_uri()
    engine = SparkEngine(lake, spark_session(), SparkConfig(lake=uri, database="t"))
    found = engine.spark_lake
    assert type(found.storage).__name__ == "HadoopStorage"
    synced = found.sync("person")
    folder = tmp_path / "cluster" / "default" / "person"
    shutil.copytree(folder / "segment=1", folder / "segment=9")  # a killed sync's segment
    assert sorted((r.source_key, r.email, r.batch_id) for r in read_synced(engine.spark, synced).collect()) \
        == lake_rows(lake)
    load(lake, tmp_path, "three", [["p3", "c@x.io"]])
    engine.build([("seen", "SELECT source_key, email FROM person_current")], keep=["seen"])
    assert sorted(p.name for p in folder.glob("segment=*")) == ["segment=1", "segment=10"]
    assert json.loads((folder / MANIFESTS / "00000002.json").read_text())["segments"].keys() \
        == {"segment=1", "segment=10"}
    assert sorted(lake.execute("SELECT * FROM seen").fetchall()) == sorted(
        lake.execute("SELECT source_key, email FROM person_current").fetchall())
    assert engine.spark.table("t_default.person").count() == 4
    engine.build([("kinds", "SELECT event_type FROM event")], keep=[])
    by_day = engine.spark.sql("SELECT event_day, event_type FROM t_default.event WHERE event_day = '2026-11-30'")
    assert [(str(r.event_day), r.event_type) for r in by_day.collect()] == [("2026-11-30", "email.click")]
    assert engine.erase_copies() == 2 and not (tmp_path / "cluster" / "default").exists()


@pytest.mark.spark
def test_publishing_shows_the_whole_store_in_the_catalog_with_its_views(evaluated_lake: Path, tmp_path: Path) -> None:
    """Records, identities, profiles, memberships with history and deliveries as tables of the sandbox's database,
    the records' current views and the aud_* tables as views over them: what DuckDB holds, row for row. Keys stay
    in the store, and publishing again with nothing changed writes nothing."""
    pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    from accord.engines.spark.catalog import publish
    from accord.engines.spark.engine import SparkEngine
    from accord.engines.spark.session import spark_session
    from accord.pipeline.stages import PUBLISHED

    shutil.copy(evaluated_lake, tmp_path / "accord.duckdb")
    with Lake(tmp_path / "accord.duckdb") as lake:
        engine = SparkEngine(lake, spark_session(), SparkConfig(lake=str(tmp_path / "cluster"), database="pub"))
        shown, written = engine.publish(PUBLISHED)
        assert written >= shown >= 20
        catalog = {t.name for t in engine.spark.catalog.listTables("pub_default")}
        assert {"person", "event", "identity_nodes", "person_profile", "audience_membership_history",
                "person_current", "event_latest", "aud_people", "aud_person_events"} <= catalog
        assert "api_keys" not in catalog and "audit_log" not in catalog

        def same(sql: str) -> None:
            spark_rows = sorted(tuple(r) for r in engine.spark.sql(sql.replace("FROM ", "FROM pub_default.")).collect())
            assert spark_rows == sorted(lake.execute(sql).fetchall()), sql

        same("SELECT source_key, email FROM person_current")
        same("SELECT audience, profile_id, status FROM audience_membership")
        same("SELECT person_id, account_id FROM aud_person_account")
        same("SELECT count(*), count(DISTINCT person_id) FROM aud_person_events")
        again = publish(engine.spark_lake, engine.spark, PUBLISHED)
        assert (again.written, again.defined) == (0, 0), "nothing changed: nothing written, no view made again"
        # A reader that began before the next publish still reads its files after it.
        before = engine.spark.table("pub_default.audience_membership")
        held = lake.scalar("SELECT count(*) FROM audience_membership")
        lake.execute("DELETE FROM audience_membership WHERE profile_id = (SELECT min(profile_id) FROM "
                     "audience_membership)")
        changed = publish(engine.spark_lake, engine.spark, PUBLISHED)
        assert (len(changed.tables), changed.written, changed.defined) == (shown, 1, 1)
        assert before.count() == held and engine.spark.table("pub_default.audience_membership").count() < held
        lake.execute("ALTER TABLE person ADD COLUMN tier VARCHAR")
        widened = publish(engine.spark_lake, engine.spark, PUBLISHED)
        assert widened.defined == 1 + widened.views, "the table, and every view: a view keeps the columns it saw"
        assert "tier" in engine.spark.table("pub_default.person_current").columns
        engine.erase_copies()
        assert "pub_default" not in {d.name for d in engine.spark.catalog.listDatabases()}


@pytest.mark.spark
def test_a_record_table_with_no_batches_yet_is_published_empty_with_its_columns(lake: Lake, tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    from accord.engines.spark.engine import SparkEngine
    from accord.engines.spark.session import spark_session

    load(lake, tmp_path, "one", [["p1", "a@x.io"]])
    engine = SparkEngine(lake, spark_session(), SparkConfig(lake=str(tmp_path / "cluster"), database="empty"))
    engine.publish(("batches",))
    events = engine.spark.table("empty_default.event_current")
    assert events.count() == 0
    stored = [name for name, _ in copies(lake).columns("event")]
    assert events.columns == [*stored, "event_day"]  # as over committed events, to prune by day
    assert engine.spark.sql("SELECT count(*) FROM empty_default.person_current").collect()[0][0] == 1
