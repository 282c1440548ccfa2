"""What keeping the Spark lake in step with the store costs: every table written, then one new batch of events.

    python bench/spark_lake.py --store bench/out/scale/largex1/ingested.duckdb [--uri file:///tmp/accord-lake]
    python bench/spark_lake.py --store bench/out/web-medium/data/prod/accord.duckdb --publish

Copies the store, syncs every table of it into a fresh Spark lake (a folder; with `--uri`, through Spark's Hadoop
libraries, as `hdfs://` or `s3a://` would be), then adds one batch of 1,000 events and syncs again, then one
audience run's changes to the memberships' history (1 % of the memberships leave) and syncs that. Prints each
table's rows, batches and seconds (those over 0.05 s), and the syncs after the new batch and the new run.

With `--publish`, times what a batch run's publish stage does on Spark local[2] instead, in one session: the first
publish, one with nothing changed, one after the new batch, and a count of `aud_people` read through the catalog.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from accord.engines.spark.lake import SparkLake
from accord.engines.spark.storage import storage_for
from accord.ingest.records import ingest_records
from accord.lake.store import Lake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--uri", help="the lake at this URI, through Spark's Hadoop libraries")
    parser.add_argument("--publish", action="store_true", help="time the publish stage instead")
    args = parser.parse_args()
    if args.publish:
        publish(args.store)
        return
    work = Path(tempfile.mkdtemp(prefix="accord-bench-lake-"))
    root = args.uri or str(work / "spark-lake")
    spark = None
    if args.uri:  # only a URI needs Spark's Hadoop libraries
        from accord.engines.spark.session import spark_session

        spark = spark_session("local[2]")
    files = storage_for(root, spark)
    try:
        shutil.copy(args.store, work / "accord.duckdb")
        with Lake(work / "accord.duckdb") as lake:
            records = SparkLake(lake, root, files)
            total = 0.0
            tables = [r[0] for r in lake.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary "
                                                 "ORDER BY estimated_size DESC").fetchall()]
            for table in tables:
                started = time.perf_counter()
                synced = records.sync(table)
                seconds = time.perf_counter() - started
                total += seconds
                rows = lake.scalar(f'SELECT count(*) FROM "{table}"')
                if seconds >= 0.05:
                    print(f"{table:32} {rows:>12,} rows {synced.batches:>4} batches {seconds:7.2f} s", flush=True)
            print(f"{f'all {len(tables)} tables':32} {total:7.2f} s")
            _one_more_batch(lake)
            started = time.perf_counter()
            synced = records.sync("event")
            print(f"{'event, one batch more':32} {synced.written} batch written, {len(synced.segments)} segments "
                  f"{time.perf_counter() - started:7.2f} s")
            _one_more_run(lake)
            started = time.perf_counter()
            synced = records.sync("audience_membership_history")
            print(f"{'history, one audience run more':32} {synced.written} run written, {len(synced.segments)} "
                  f"segments {time.perf_counter() - started:7.2f} s")
    finally:
        files.remove(root)
        shutil.rmtree(work, ignore_errors=True)


def publish(store: Path) -> None:
    from accord.engines.spark.catalog import publish as publish_store
    from accord.engines.spark.config import SparkConfig
    from accord.engines.spark.engine import SparkEngine
    from accord.engines.spark.session import spark_session
    from accord.pipeline.stages import PUBLISHED

    work = Path(tempfile.mkdtemp(prefix="accord-bench-publish-"))
    try:
        shutil.copy(store, work / "accord.duckdb")
        with Lake(work / "accord.duckdb") as lake:
            engine = SparkEngine(lake, spark_session("local[2]"), SparkConfig(lake=str(work / "spark-lake")))
            for moment in ("first publish", "nothing changed", "one batch more"):
                if moment == "one batch more":
                    _one_more_batch(lake)
                started = time.perf_counter()
                done = publish_store(engine.spark_lake, engine.spark, PUBLISHED)
                print(f"{moment:32} {len(done.tables)} tables, {done.views} views, {done.written} batches or tables "
                      f"written, {done.defined} definitions made {time.perf_counter() - started:7.2f} s", flush=True)
            started = time.perf_counter()
            count = engine.spark.table(f"{engine.spark_lake.database}.aud_people").count()
            print(f"{'aud_people read from the catalog':32} {count:,} rows {time.perf_counter() - started:7.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _one_more_run(lake: Lake) -> None:
    """An audience run's changes: 1 % of the memberships leave."""
    lake.execute("INSERT INTO audience_membership_history SELECT (SELECT coalesce(max(run_id), 0) + 1 FROM "
                 "audience_membership_history), audience, profile_id, 'exited', now() FROM audience_membership "
                 "USING SAMPLE 1 PERCENT (bernoulli)")


def _one_more_batch(lake: Lake) -> None:
    events = [{"source_id": f"bench-{i}", "event_type": "web.pageview", "timestamp": "2026-11-29T10:00:00Z",
               "url": "https://example.com/pricing"} for i in range(1000)]
    ingest_records(lake, "event", events, source_type="bench", source_instance_id="bench",
                   source_name="bench", fingerprint="bench-events")


if __name__ == "__main__":
    main()
