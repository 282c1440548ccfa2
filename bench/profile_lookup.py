"""Profile reads while a page renders: GET /api/v1/profiles/{identity}/summary from 200 connections at once.

    python bench/profile_lookup.py --lake bench/out/large-lake/accord.duckdb [--lookups 20000] [--rate 2000]
                                   [--connections 200] [--events-per-second 1000] [--audiences 20] [--rounds 2]

Evaluates `--audiences` of bench/audiences.py's audiences in a copy of the store `--lake` (so that people have
memberships to return) and serves the copy with `accord serve`'s app (uvicorn in a thread) and its profile edge (a
process of its own), and waits until the served copy of people is made (timed). Then, while another process sends
page events to the collector at `--events-per-second`, a third looks up random people by e-mail (two attributes
and their audiences) over HTTP on 127.0.0.1 from `connections` kept-alive connections: paced at `--rate`
lookups/s (each timed from when it was due), then as fast as the server answers. It asks the edge, the edge's
`/health` (its floor), the main app's summary route and an empty FastAPI route of the main app. Prints p50, p99
and max of each. Goal (issue 16): p99 ≤ 5 ms on `large`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
from audiences import (  # bench/audiences.py: scripts run with bench/ on sys.path
    AS_OF,
    workload,
)
from latency import send
from serving import gets, served

from accord.api.app import create_app
from accord.api.edge import Edge
from accord.api.keys import create_key
from accord.audiences.evaluate import evaluate
from accord.audiences.text import parse_audience
from accord.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2000, help="lookups per second in the paced run")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--events-per-second", type=int, default=1000)
    parser.add_argument("--audiences", type=int, default=20, help="audiences evaluated before serving")
    parser.add_argument("--rounds", type=int, default=2, help="times every run is made (the first follows the copy's "
                                                              "writing out of 3 GB)")
    args = parser.parse_args()
    ws = Workspace.init(Path(tempfile.mkdtemp(prefix="accord-lookup-")) / "ws")
    ws.lake_path().parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.lake, ws.lake_path())  # the collector's events land in the copy, not in `--lake`
    with ws.lake(migrate=True) as lake:
        key, write_key = create_key(lake, "api").secret, create_key(lake, "write").secret
        emails = [r[0] for r in lake.execute(
            "SELECT value FROM identity_nodes WHERE kind = 'person' AND namespace = 'email' ORDER BY random() "
            "LIMIT ?", [args.lookups]).fetchall()]
        people = lake.scalar("SELECT count(*) FROM person_profile")
        evaluate(lake, [parse_audience(text) for text, _ in workload()[:args.audiences]], AS_OF)
        members = lake.scalar("SELECT count(*) FROM audience_membership WHERE status = 'realized'")
    app = create_app(ws, edge=Edge("127.0.0.1", 0))
    app.get("/empty")(lambda: {})
    paths = [f"/api/v1/profiles/email:{e}/summary?attributes=email,job_title" for e in emails]
    empty, health = ["/empty"] * len(paths), ["/health"] * len(paths)
    auth = {"Authorization": f"Bearer {key}"}
    spawn = multiprocessing.get_context("spawn")
    runs: dict[str, list[float]] = {}
    with served(app) as base, ProcessPoolExecutor(1, mp_context=spawn) as client:
        copied = wait_for_copy(base)
        edge = httpx.get(f"{base}/health", timeout=30).json()["edge"]["url"]
        events = spawn.Process(target=send, args=(f"{base}/v1/batch", write_key, args.events_per_second, 10 ** 6))
        if args.events_per_second:
            events.start()  # sends until stopped
        try:
            for round_ in range(1, args.rounds + 1):
                for rate in (args.rate, None):
                    for name, at, asked in (("edge summary", edge, paths), ("edge /health", edge, health),
                                            ("app summary", base, paths), ("app empty route", base, empty)):
                        runs[f"{round_}: {name}, {f'{rate:,.0f}/s' if rate else 'flat out'}"] = client.submit(
                            gets, at, asked, args.connections, rate, auth).result()
        finally:
            if events.is_alive():
                events.terminate()
    shutil.rmtree(ws.root, ignore_errors=True)
    print(f"served copy of people made in {copied['seconds']:.1f} s ({copied['people']:,} people)")
    print(f"{people:,} people, {members:,} memberships; {len(paths):,} lookups from {args.connections} connections, "
          f"while {args.events_per_second:,} events/s arrive")
    for name, times in runs.items():
        times.sort()
        print(f"  {name:32} p50 {statistics.median(times):7.1f} ms  p99 {times[int(0.99 * len(times))]:7.1f} ms  "
              f"max {times[-1]:7.1f} ms")


def wait_for_copy(base: str) -> dict[str, float]:
    """The served copy's first sync, once /health reports it."""
    while True:
        copied = httpx.get(f"{base}/health", timeout=30).json()["profiles"]
        if copied.get("mode") == "full":
            return copied
        if copied.get("error"):
            raise RuntimeError(copied["error"])
        time.sleep(0.5)


if __name__ == "__main__":
    main()
