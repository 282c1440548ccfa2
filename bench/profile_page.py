"""The whole profile a profile page shows (`accord profile get`, GET /api/v1/profiles/{identity}, the UI's person and
account pages), read for random people and accounts: through the audiences' copy of the events, and by scanning
the store's events, as a page did before.

    python bench/profile_page.py --lake bench/out/large-lake/accord.duckdb [--reads 30]

The store must hold profiles and the audiences' tables (an evaluation, or `bench/audiences.py`, builds them); it is
opened read-only. Prints p50, p99 and max seconds per read, each way.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import accord.profiles.lookup as lookup
from accord.lake.store import Lake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--reads", type=int, default=30)
    args = parser.parse_args()
    with Lake(args.lake, read_only=True) as lake:
        people = [r[0] for r in lake.execute("SELECT person_id FROM person_profile ORDER BY hash(person_id) LIMIT ?",
                                             [args.reads]).fetchall()]
        accounts = [r[0] for r in lake.execute("SELECT DISTINCT account_id FROM person_account "
                                               "ORDER BY hash(account_id) LIMIT ?", [args.reads]).fetchall()]
        for name, read, refs in (("person", lookup.get_person, people), ("account", lookup.get_account, accounts)):
            kept = timed(lambda ref: read(lake, ref), refs)
            with mock.patch.object(lookup, "people_events_sql", lambda *args: None):
                scanned = timed(lambda ref: read(lake, ref), refs)
            print(f"{name:8} through the copy: {summary(kept)}")
            print(f"{'':8} scanning events:  {summary(scanned)}")


def timed(read: Callable[[str], object], refs: list[str]) -> list[float]:
    read(refs[0])  # the first read of a process loads the tables' metadata
    out = []
    for ref in refs:
        started = time.perf_counter()
        read(ref)
        out.append(time.perf_counter() - started)
    return out


def summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.3f} s, p99 {p99:.3f} s, max {ordered[-1]:.3f} s ({len(ordered)} reads)"


if __name__ == "__main__":
    main()
