"""How the batch path's cost grows with the data, on DuckDB and on Spark.

    python bench/scale.py [--base medium] [--factors 1 2 4] [--spark local[2]] [--driver-memory 8g]

Worlds of the base scale times each factor (S, 2S, 4S) are generated, ingested once, then run through the batch
stages (identity, profiles, audiences with the example audiences, everyone decided) on each engine, from a copy
of the same store. Prints each stage's seconds, its growth per doubling (goal on Spark: at most 2.2x for every
stage) and the Spark/DuckDB ratio. Ingest is timed on each engine too (files read and mapped on Spark, committed
by the lake), into a store of its own.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from dataclasses import fields, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from accord.audiences.files import load_audiences
from accord.demo import DEMO_CUSTOM_FIELDS
from accord.engines.registry import open_engine
from accord.generate import generate
from accord.generate.world import SCALES
from accord.identity.config import IdentityConfig
from accord.lake.custom_fields import declare
from accord.lake.store import Lake
from accord.pipeline import run_stages
from accord.pipeline.stage import Context
from accord.pipeline.stages import AUDIENCES, IDENTITY, PROFILES
from accord.sources.files import jobs_from_manifest

AS_OF = datetime(2026, 11, 29, tzinfo=timezone.utc)
OUT = Path(__file__).parent / "out" / "scale"
EXAMPLES = Path(str(resources.files("accord.audiences").joinpath("examples")))


def ingest_world(world: Path, store: Path, engine: str) -> float:
    """Seconds to ingest the `world` folder into a new store at `store`, its files read and mapped on `engine`."""
    started = time.perf_counter()
    with Lake(store) as lake:
        declare(lake, DEMO_CUSTOM_FIELDS)
        loader = open_engine(engine, lake)
        for job in jobs_from_manifest(world):
            loader.load_file(job)
    return time.perf_counter() - started


def ingested(base: str, factor: int) -> tuple[Path, float, int]:
    """The store of the world `base` × `factor`, made once (ingested on DuckDB); its ingest seconds and people."""
    scale = SCALES[base]
    scale = replace(scale, **{f.name: getattr(scale, f.name) * factor for f in fields(scale)})
    folder = OUT / f"{base}x{factor}"
    store = folder / "ingested.duckdb"
    if not store.exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder / "world", scale, seed=5, as_of=AS_OF)
        seconds = ingest_world(folder / "world", folder / "partial.duckdb", "duckdb")
        (folder / "ingest_seconds").write_text(str(seconds))
        (folder / "partial.duckdb").rename(store)
    return store, float((folder / "ingest_seconds").read_text()), scale.people


def spark_ingest_seconds(store: Path) -> float:
    """The world beside `store` ingested again on Spark, into a store of its own (removed after)."""
    copy = store.with_name("ingest-spark.duckdb")
    copy.unlink(missing_ok=True)
    try:
        return ingest_world(store.parent / "world", copy, "spark")
    finally:
        copy.unlink(missing_ok=True)


def stage_seconds(store: Path, engine: str) -> dict[str, float]:
    """Each batch stage's seconds on `engine`, over a copy of `store`."""
    copy = store.with_name(f"run-{engine}.duckdb")
    shutil.copy(store, copy)
    try:
        with Lake(copy) as lake:
            ctx = Context(lake, IdentityConfig(), None, load_audiences(EXAMPLES), AS_OF, full=True, engine=engine)
            run_stages(ctx, [IDENTITY, PROFILES, AUDIENCES])
            return {r["stage"]: (r["finished_at"] - r["started_at"]).total_seconds() for r in ctx.records}
    finally:
        copy.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="medium", choices=list(SCALES))
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--spark", action="store_true", help="also run every stage with engine: spark, local[2]")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()
    engines = ["duckdb", *(["spark"] if args.spark else [])]
    if args.spark:  # the session every later Spark run reuses, with the heap local mode needs
        from accord.engines.spark.session import spark_session

        spark_session("local[2]", {"spark.driver.memory": args.driver_memory})
    rows: dict[tuple[str, str], list[float]] = {}
    for factor in args.factors:
        store, ingest, people = ingested(args.base, factor)
        print(f"{args.base} x{factor}: {people:,} people; ingest {ingest:.1f} s", flush=True)
        rows.setdefault(("ingest", "duckdb"), []).append(ingest)
        if args.spark:
            rows.setdefault(("ingest", "spark"), []).append(spark_ingest_seconds(store))
            print(f"  {'ingest':10} on spark : {rows[('ingest', 'spark')][-1]:7.1f} s", flush=True)
        for engine in engines:
            for stage, seconds in stage_seconds(store, engine).items():
                rows.setdefault((stage, engine), []).append(seconds)
                print(f"  {stage:10} on {engine:6}: {seconds:7.1f} s", flush=True)
    print(f"\n{'stage':10} {'engine':7} " + " ".join(f"{'x' + str(f):>8}" for f in args.factors)
          + "   growth per doubling")
    for (stage, engine), times in rows.items():
        growth = [(b / a) ** (1 / math.log2(fb / fa)) for (a, fa), (b, fb) in
                  zip(zip(times, args.factors), zip(times[1:], args.factors[1:]))]
        print(f"{stage:10} {engine:7} " + " ".join(f"{t:8.1f}" for t in times) + "   "
              + ", ".join(f"{g:.2f}x" for g in growth))
    if args.spark:
        print()
        for stage in ("ingest", "identity", "profiles", "audiences"):
            ratios = [s / d for s, d in zip(rows[(stage, "spark")], rows[(stage, "duckdb")])]
            print(f"spark/duckdb {stage:10} " + " ".join(f"{r:6.1f}x" for r in ratios))


if __name__ == "__main__":
    main()
