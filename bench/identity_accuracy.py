"""Identity end to end on a generated world: time to stitch and link, and precision/recall against the truth.

    python bench/identity_accuracy.py --scale medium
    python bench/identity_accuracy.py --data bench/out/large --lake bench/out/large-lake/accord.duckdb

Without --lake, ingests the world (generating it first if needed) into a new lake. Prints the time of each
identity step, records → profiles, and pairwise precision/recall of person stitching and of inferred
lead-to-account links (goal: precision ≥ 0.99).
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from accord.engines.registry import lake_engine
from accord.generate import generate
from accord.identity.accounts import link_people_to_accounts
from accord.identity.accuracy import account_matching, person_stitching
from accord.identity.config import IdentityConfig
from accord.identity.resolve import resolve
from accord.lake.store import Lake
from accord.profiles.build import build_profiles
from accord.sources.files import jobs_from_manifest, load_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--lake", type=Path)
    args = parser.parse_args()
    data = args.data or Path(__file__).parent / "out" / args.scale
    if not (data / "manifest.yaml").exists():
        generate(data, args.scale, 1, datetime(2026, 11, 29, tzinfo=timezone.utc))
    lake_path = args.lake
    if lake_path is None:
        folder = data.parent / f"{data.name}-identity-lake"
        shutil.rmtree(folder, ignore_errors=True)
        lake_path = folder / "accord.duckdb"
        with Lake(lake_path) as lake:
            started = time.perf_counter()
            for job in jobs_from_manifest(data):
                load_file(lake, job)
            print(f"ingested {data} in {time.perf_counter() - started:.1f} s")
    config = IdentityConfig()
    with Lake(lake_path) as lake:
        engine = lake_engine(lake)
        for label, step in (
            ("stitch people", lambda: resolve(lake, "person", config, engine, full=True)),
            ("stitch accounts", lambda: resolve(lake, "account", config, engine, full=True)),
            ("link people to accounts", lambda: link_people_to_accounts(lake, config, engine=engine)),
            ("build profiles", lambda: build_profiles(lake, config, engine=engine)),
        ):
            started = time.perf_counter()
            outcome = step()
            print(f"{label:<26}{time.perf_counter() - started:>8.2f} s  {outcome}")
        people = person_stitching(lake, data / "truth")
        accounts = account_matching(lake, data / "truth")
    print(f"person stitching:     precision {people.precision:.4f}  recall {people.recall:.4f}  "
          f"({people.correct:,} of {people.predicted:,} predicted pairs; {people.actual:,} true pairs)")
    print(f"lead-to-account:      precision {accounts.precision:.4f}  recall {accounts.recall:.4f}  "
          f"({accounts.correct:,} correct of {accounts.predicted:,} inferred; {accounts.actual:,} people needed one)")


if __name__ == "__main__":
    main()
