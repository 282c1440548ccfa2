"""Ingest benchmark: load a generated data set into a fresh lake and print rows/s per entity and peak memory.

    python bench/ingest_files.py --scale large [--data DIR] [--keep]

Generates the data set into DIR (default bench/out/<scale>) unless it is there already, then ingests every
file of its manifest into a new DuckDB file and prints, per entity, rows, seconds and rows/s, and the process's
peak resident memory. Goal (issue 2): the 20M events of `large` in under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from accord.generate import generate
from accord.lake.store import Lake
from accord.sources.files import jobs_from_manifest, load_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the lake file afterwards")
    args = parser.parse_args()
    data = args.data or Path(__file__).parent / "out" / args.scale
    if not (data / "manifest.yaml").exists():
        started = time.perf_counter()
        generate(data, args.scale, args.seed, datetime(2026, 11, 29, tzinfo=timezone.utc))
        print(f"generated {args.scale} in {time.perf_counter() - started:.1f} s")
    lake_dir = data.parent / f"{data.name}-lake"
    shutil.rmtree(lake_dir, ignore_errors=True)
    rows: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    total_started = time.perf_counter()
    with Lake(lake_dir / "accord.duckdb") as lake:
        for job in jobs_from_manifest(data):
            result = load_file(lake, job)
            rows[result.entity] += result.rows_read
            seconds[result.entity] += result.seconds
            print(f"  {job.path.name:<45} {result.rows_read:>12,} rows {result.seconds:>8.2f} s "
                  f"{result.rows_read / max(result.seconds, 1e-9):>12,.0f} rows/s  quarantined {result.quarantined}")
    total = time.perf_counter() - total_started
    print(f"\n{'entity':<24}{'rows':>14}{'seconds':>10}{'rows/s':>14}")
    for entity in rows:
        print(f"{entity:<24}{rows[entity]:>14,}{seconds[entity]:>10.2f}{rows[entity] / seconds[entity]:>14,.0f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'all':<24}{sum(rows.values()):>14,}{total:>10.2f}{sum(rows.values()) / total:>14,.0f}")
    print(f"peak resident memory: {peak_mib:,.0f} MiB")
    if not args.keep:
        shutil.rmtree(lake_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
