"""Incremental audience runs on a large lake: after 1 % of people change, what a run costs next to a full one.

    python bench/incremental_audiences.py --lake bench/out/large-lake/accord.duckdb [--share 0.01] [--hours 1] [--repeat 3]

Copies the lake (built as bench/audiences.py describes), then with the 50 audiences of bench/audiences.py and
the shipped examples:
  - cold: the aud_* tables built whole;
  - full: every profile decided (warm tables);
  - a batch changes `--share` of the people (a new job title on one of each one's records, and a page view),
    an incremental identity run follows (timed apart: it is the identity stage's, not the audiences');
  - incremental: the aud_* tables kept for the changed people and their accounts, and only those decided, at
    the same instant and again `--hours` later (which adds the people whose events crossed a window); each timed
    `--repeat` times from the same state, the median printed (single runs vary by seconds on a small machine).
Every incremental run's membership is checked against a full run of the same moment on a copy, which rebuilds
the tables whole, as every run did before runs became incremental; both ratios are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from audiences import (  # bench/audiences.py: scripts run with bench/ on sys.path
    AS_OF,
    workload,
)

from accord.audiences.evaluate import evaluate
from accord.audiences.files import load_audiences
from accord.audiences.prepared import prepare_tables
from accord.audiences.text import parse_audience
from accord.identity.config import IdentityConfig
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.pipeline import run_identity

EXAMPLES = Path(__file__).parents[1] / "src" / "accord" / "audiences" / "examples"
ACTIVE = "SELECT audience, profile_id FROM audience_membership WHERE status <> 'exited' ORDER BY ALL"


def change_people(lake: Lake, share: float) -> int:
    """A new version of one record of `share` of the person profiles, and a pricing page view for each."""
    rows = lake.query(f"""
        SELECT r.* EXCLUDE (batch_id, source_row, ingested_at, record_hash, source_key)
        FROM (SELECT profile_id, min(value) AS source_key FROM identity_nodes
              WHERE kind = 'person' AND namespace = 'b2b_person' GROUP BY profile_id USING SAMPLE {share * 100} PERCENT
              (bernoulli, 7)) s
        JOIN person_current r USING (source_key)""")
    by_source: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        row["job_title"] = "VP Growth"
        row["source_updated_at"] = AS_OF.isoformat()
        by_source.setdefault((row["source_type"], row["source_instance_id"]), []).append(row)
    for (kind, instance), records in by_source.items():
        ingest_records(lake, "person", records, source_type=kind, source_instance_id=instance, source_name="bench",
                       fingerprint=f"bench-{kind}-{instance}")
        events = [{"source_id": f"bench-{i}", "event_type": "web.pageview", "url": "https://example.com/pricing",
                   "timestamp": (AS_OF - timedelta(minutes=5)).isoformat(),
                   "person_key": f"{r['source_id']}@{instance}.{kind}"} for i, r in enumerate(records)]
        ingest_records(lake, "event", events, source_type=kind, source_instance_id=instance, source_name="bench",
                       fingerprint=f"bench-events-{kind}-{instance}")
    return len(rows)


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="incremental runs timed from the same state")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accord-incremental-audiences-"))
    path, twin = folder / "accord.duckdb", folder / "twin.duckdb"
    shutil.copy(args.lake, path)
    audiences = [parse_audience(text) for text, _ in workload()] + load_audiences(EXAMPLES)
    try:
        with Lake(path, migrate=True) as lake:
            # Accord creates no index; one made by hand (bench/profile_lookup.py's) on audience_membership makes
            # DuckDB's commit of a full run's rewrite take 20 s more.
            for (index,) in lake.execute("SELECT index_name FROM duckdb_indexes()").fetchall():
                lake.execute(f"DROP INDEX {index}")
            people = lake.scalar("SELECT count(*) FROM person_profile")
            cold, _ = timed(lambda: prepare_tables(lake))
            evaluate(lake, audiences, AS_OF, full=True)  # first run of these definitions: every member enters
            full, _ = timed(lambda: evaluate(lake, audiences, AS_OF, full=True))
            changed = change_people(lake, args.share)
            identity, _ = timed(lambda: run_identity(lake, IdentityConfig()))
        print(f"{len(audiences)} audiences over {people:,} people; {changed:,} people changed ({args.share:.1%})")
        print(f"cold aud_* build:                 {cold:7.2f} s")
        print(f"full run (warm):                  {full:7.2f} s")
        print(f"incremental identity run:         {identity:7.2f} s (identity stage, not counted below)")
        for later in (0.0, args.hours):
            at = AS_OF + timedelta(hours=later)
            shutil.copy(path, twin)
            took = []
            for trial in range(args.repeat):  # each from the same state: the figure is the median
                if trial:
                    shutil.copy(twin, path)
                with Lake(path) as lake:
                    seconds, report = timed(lambda: evaluate(lake, audiences, at))
                    took.append(seconds)
                    got = lake.execute(ACTIVE).fetchall()
            with Lake(twin) as lake:
                whole, _ = timed(lambda: evaluate(lake, audiences, at, full=True, refresh=True))
                same = got == lake.execute(ACTIVE).fetchall()
            median = statistics.median(took)
            print(f"incremental run, +{later:g} h:         {median:7.2f} s = {median / full:.1%} of a warm full run, "
                  f"{median / whole:.1%} of a full run rebuilding the tables ({whole:.2f} s, what every run did "
                  f"before) ({report.mode}: {report.people:,} people, {report.accounts:,} accounts decided; "
                  f"runs {', '.join(f'{t:.2f}' for t in took)} s; same members as a full run: "
                  f"{same})")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
