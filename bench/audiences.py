"""Audience benchmark: 50 varied audiences evaluated together vs 50 equivalent hand-written DuckDB queries.

    python bench/audiences.py --lake bench/out/large-lake/accord.duckdb [--spark]

The lake must hold an ingested world with an identity run (bench/ingest_files.py --keep, then
bench/identity_accuracy.py --lake ...). Prints, on the same aud_* tables:
  - Accord: all 50 audiences in one evaluation, membership bookkeeping included (warm: tables already built;
    rebuilt: building the aud_* tables from the profiles first),
  - the 50 hand-written queries run one by one (each scans what it needs),
  - one plain filtered scan of the events table,
  - both again, each in a fresh process with the tables current (cold: imports, compiling, an empty cache),
and the ratios; with --spark, the same evaluation on Spark local[2] and its ratio to DuckDB.
Every audience's size is checked against its hand-written twin.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from accord.audiences.compile import Compiler
from accord.audiences.evaluate import evaluate
from accord.audiences.prepared import prepare_tables
from accord.audiences.text import parse_audience
from accord.generate import pools
from accord.lake.store import Lake

AS_OF = datetime(2026, 11, 29, tzinfo=timezone.utc)
EVENT_TYPES = ["web.pageview", "email.click", "email.open", "webinar.attend", "ad.click"]


def ts(days: int) -> str:
    return (AS_OF - timedelta(days=days)).strftime("'%Y-%m-%d %H:%M:%S+00:00'::TIMESTAMPTZ")


def window(days: int) -> str:
    return f'"timestamp" >= {ts(days)} AND "timestamp" <= {ts(0)}'


def workload() -> list[tuple[str, str]]:
    """(audience text, equivalent hand-written SQL over the aud_* tables) × 50."""
    out = []
    for i in range(10):
        industry = pools.INDUSTRIES[i % len(pools.INDUSTRIES)]
        days, n = (7, 14, 30, 60, 90)[i % 5], 1 + i % 3
        out.append((
            f'audience "pricing {i}" of person\nwhere account.industry = "{industry}" and count(event where '
            f'event_type = "web.pageview" and url contains "/pricing" in last {days} days) >= {n}',
            f"""SELECT p.person_id FROM aud_people p WHERE p.acc_industry = '{industry}' AND p.person_id IN (
                SELECT person_id FROM aud_person_events WHERE event_type = 'web.pageview' AND instr(url, '/pricing') > 0
                AND {window(days)} GROUP BY person_id HAVING count(*) >= {n})""",
        ))
    seniorities = [s for s, _ in pools.SENIORITY_TITLES]
    for i in range(10):
        seniority, event, days = seniorities[i % 4], EVENT_TYPES[i % 5], (7, 30)[i % 2]
        out.append((
            f'audience "active {i}" of person\nwhere seniority = "{seniority}" and any event (event_type = "{event}" in last {days} days)',
            f"""SELECT person_id FROM aud_people WHERE seniority = '{seniority}' AND person_id IN (
                SELECT person_id FROM aud_person_events WHERE event_type = '{event}' AND {window(days)})""",
        ))
    for i in range(10):
        industry, amount = pools.INDUSTRIES[(i + 3) % len(pools.INDUSTRIES)], (10_000, 50_000, 100_000)[i % 3]
        out.append((
            f'audience "deals {i}" of person\nwhere account.industry = "{industry}" and any opportunity (is_closed = false and amount > {amount})',
            f"""SELECT p.person_id FROM aud_people p WHERE p.acc_industry = '{industry}' AND EXISTS (
                SELECT 1 FROM aud_person_opps o WHERE o.person_id = p.person_id AND NOT o.is_closed AND o.amount > {amount})""",
        ))
    for i in range(10):
        event, days, n = EVENT_TYPES[i % 5], (14, 30)[i % 2], (2, 5)[i % 2]
        out.append((
            f'audience "accounts {i}" of account\nwhere count(person where any event (event_type = "{event}" in last {days} days)) >= {n}',
            f"""SELECT pa.account_id FROM aud_person_account pa JOIN (
                SELECT DISTINCT person_id FROM aud_person_events WHERE event_type = '{event}' AND {window(days)}) e USING (person_id)
                GROUP BY pa.account_id HAVING count(*) >= {n}""",
        ))
    for i in range(10):
        name, event, days = pools.LIST_NAMES[i % len(pools.LIST_NAMES)], EVENT_TYPES[(i + 2) % 5], (14, 45)[i % 2]
        out.append((
            f'audience "quiet {i}" of person\nwhere in list "{name}" and no event (event_type = "{event}" in last {days} days)',
            f"""SELECT DISTINCT person_id FROM aud_lists WHERE list = '{name}' AND person_id NOT IN (
                SELECT person_id FROM aud_person_events WHERE event_type = '{event}' AND {window(days)})""",
        ))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--once", choices=["accord", "hand"], help="time one side alone in this process")
    args = parser.parse_args()
    work = workload()
    if args.once:
        print(f"{once(args.lake, args.once, work):.3f}")
        return
    audiences = [parse_audience(text) for text, _ in work]
    with Lake(args.lake, migrate=True) as lake:
        started = time.perf_counter()
        prepare_tables(lake)
        prepared = time.perf_counter() - started
        evaluate(lake, audiences, AS_OF, full=True)  # first run: every member enters
        started = time.perf_counter()
        report = evaluate(lake, audiences, AS_OF, full=True)  # bench/incremental_audiences.py times the other mode
        accord = time.perf_counter() - started
        sizes = {r.name: r.size for r in report.results}

        started = time.perf_counter()
        hand_sizes = dict(zip((a.name for a in audiences), hand_written(lake, work)))
        hand = time.perf_counter() - started

        started = time.perf_counter()
        lake.execute(
            "SELECT count(*) FROM event WHERE event_type = 'web.pageview' AND instr(url, '/pricing') > 0"
        ).fetchone()
        scan = time.perf_counter() - started

        wrong = [name for name in sizes if sizes[name] != hand_sizes[name]]
        print(f"50 audiences, {sum(sizes.values()):,} memberships; sizes differing from hand-written: {wrong or 'none'}")
        print(f"accord, all 50 together (warm, bookkeeping included): {accord:7.2f} s")
        print(f"accord, rebuilt (+ building aud_* tables {prepared:.2f} s):  {accord + prepared:7.2f} s")
        print(f"50 hand-written DuckDB queries, one by one:            {hand:7.2f} s")
        print(f"one plain filtered scan of the events table:           {scan:7.2f} s")
        print(f"ratio accord/hand-written: warm {accord / hand:.2f}, rebuilt {(accord + prepared) / hand:.2f}; "
              f"accord/scan {accord / scan:.1f}")
        if args.spark:
            from accord.engines.spark.engine import SparkEngine
            from accord.engines.spark.session import spark_session

            started = time.perf_counter()
            spark = spark_session()
            session = time.perf_counter() - started
            engine = SparkEngine(lake, spark)
            compiled = Compiler(AS_OF).compile_all(audiences)
            started = time.perf_counter()
            members = engine.members(compiled)
            on_spark = time.perf_counter() - started
            spark_sizes: dict[str, int] = {}
            for name in members.column("audience").to_pylist():
                spark_sizes[name] = spark_sizes.get(name, 0) + 1
            same = all(spark_sizes.get(n, 0) == s for n, s in sizes.items())
            print(f"spark local[2]: session start {session:.1f} s, evaluation {on_spark:.2f} s "
                  f"(ratio to DuckDB warm {on_spark / accord:.1f}); same members: {same}")
            spark.stop()
    # The store allows one process at a time: the fresh processes start once this one has let go.
    fresh = {side: [float(subprocess.run([sys.executable, __file__, "--lake", str(args.lake), "--once", side],
                                         capture_output=True, text=True, check=True).stdout) for _ in range(2)]
             for side in ("accord", "hand")}
    accord_cold, hand_cold = min(fresh["accord"]), min(fresh["hand"])
    print(f"cold, a fresh process each (best of 2): accord {accord_cold:.2f} s, hand-written {hand_cold:.2f} s, "
          f"ratio {accord_cold / hand_cold:.2f}")


def once(lake_path: Path, side: str, work: list[tuple[str, str]]) -> float:
    """Seconds for one side's whole work in this process: Accord parses, compiles and records as a run would."""
    with Lake(lake_path) as lake:
        started = time.perf_counter()
        if side == "accord":
            evaluate(lake, [parse_audience(text) for text, _ in work], AS_OF, full=True)
        else:
            hand_written(lake, work)
        return time.perf_counter() - started


def hand_written(lake: Lake, work: list[tuple[str, str]]) -> list[int]:
    """Each hand-written query run to its end, one after the other: the size it found."""
    return [len(lake.execute(sql).fetchall()) for _, sql in work]


if __name__ == "__main__":
    main()
