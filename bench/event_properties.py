"""Event-property audiences vs the same audiences on event type alone, evaluated together on one lake.

    python bench/event_properties.py --lake bench/out/large-lake/accord.duckdb [--repeat 3]

The lake must hold an ingested world with an identity run (bench/ingest_files.py --keep, then
bench/identity_accuracy.py --lake ...). Builds the aud_* tables once, then evaluates, `repeat` times each and
alternately, 10 audiences that test only an event's type (and window) and the same 10 with a test of a Marketo
activity property added (`properties.webpage_url contains "/pricing"`, `properties.new_status = "Attended"`,
`properties.change_value >= 5`, ...). Prints the best time of each and their ratio (goal: ≤ 1.5).
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from accord.audiences.evaluate import evaluate
from accord.audiences.prepared import prepare_tables
from accord.audiences.text import parse_audience
from accord.lake.store import Lake

AS_OF = datetime(2026, 11, 29, tzinfo=timezone.utc)
# (event type, a property test on what Marketo says of that type) — as the activity mapping keeps it.
TESTS = [
    ("web.pageview", 'properties.webpage_url contains "/pricing"'),
    ("web.pageview", 'properties.referrer_url starts with "https://www.google"'),
    ("program.status_change", 'properties.new_status = "Attended"'),
    ("program.status_change", 'properties.program in ["Webinar Program 01", "Webinar Program 02"]'),
    ("lead.score_change", "properties.change_value >= 5"),
    ("lead.score_change", "properties.change_value between -5 and 0"),
    ("email.click", 'properties.link ends with "/pricing"'),
    ("web.pageview", 'properties.asset is not null'),
    ("lead.score_change", 'properties.reason = "Behavior"'),
    ("program.status_change", "properties.missing.key is null"),
]


def audiences(with_properties: bool) -> list:
    out = []
    for i, (event_type, test) in enumerate(TESTS):
        extra = f" and {test}" if with_properties else ""
        days, n = (30, 90, 365)[i % 3], 1 + i % 2
        text = (f'audience "{"property" if with_properties else "type"} {i}" of person\n'
                f'where count(event where event_type = "{event_type}"{extra} in last {days} days) >= {n}')
        out.append(parse_audience(text))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with Lake(args.lake) as lake:
        events = lake.scalar("SELECT count(*) FROM event")
        prepare_tables(lake)
        best: dict[bool, float] = {False: float("inf"), True: float("inf")}
        sizes: dict[bool, list[int]] = {}
        for _ in range(args.repeat):
            for with_properties in (False, True):
                started = time.perf_counter()
                report = evaluate(lake, audiences(with_properties), AS_OF)
                best[with_properties] = min(best[with_properties], time.perf_counter() - started)
                sizes[with_properties] = [r.size for r in report.results]
    print(f"{events:,} events; 10 audiences each, best of {args.repeat}")
    print(f"  event type alone      {best[False]:7.2f} s   sizes {sizes[False]}")
    print(f"  with a property test  {best[True]:7.2f} s   sizes {sizes[True]}")
    print(f"  ratio                 {best[True] / best[False]:7.2f}   (goal ≤ 1.5)")


if __name__ == "__main__":
    main()
