"""What keeping the Spark lake in step with the store costs: every table written, then one new batch of events.

    python bench/spark_lake.py --store bench/out/scale/largex1/ingested.duckdb [--uri file:///tmp/accord-lake]

Copies the store, syncs every table of it into a fresh Spark lake (a folder; with `--uri`, through Spark's Hadoop
libraries, as `hdfs://` or `s3a://` would be), then adds one batch of 1,000 events and syncs again. Prints each
table's rows, batches and seconds (those over 0.05 s), and the sync after the new batch.
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
    args = parser.parse_args()
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
            events = [{"source_id": f"bench-{i}", "event_type": "web.pageview", "timestamp": "2026-11-29T10:00:00Z",
                       "url": "https://example.com/pricing"} for i in range(1000)]
            ingest_records(lake, "event", events, source_type="bench", source_instance_id="bench",
                           source_name="bench", fingerprint="bench-events")
            started = time.perf_counter()
            synced = records.sync("event")
            print(f"{'event, one batch more':32} {synced.written} batch written, {len(synced.segments)} segments "
                  f"{time.perf_counter() - started:7.2f} s")
    finally:
        files.remove(root)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
