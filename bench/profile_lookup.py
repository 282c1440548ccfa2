"""Profile reads while a page renders: GET /api/v1/profiles/{identity}/summary under 200 concurrent lookups.

    python bench/profile_lookup.py --lake bench/out/large-lake/accord.duckdb [--lookups 4000] [--concurrency 200]

Serves a workspace whose store is `--lake` (linked, not copied) with `accord serve`'s app (uvicorn in a thread),
then, from another process, looks up random people by e-mail (two attributes and their audiences) over HTTP on
127.0.0.1, `concurrency` at a time, and the same number of requests to an empty route of the same app. Prints
p50, p99 and max of each. Goal (issue 16): p99 ≤ 5 ms on `large`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

from accord.api.app import create_app
from accord.api.keys import create_key
from accord.workspace import Workspace
from serving import served  # bench/serving.py: scripts run with bench/ on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    ws = Workspace.init(Path(tempfile.mkdtemp(prefix="accord-lookup-")) / "ws")
    ws.lake_path().parent.mkdir(parents=True, exist_ok=True)
    ws.lake_path().symlink_to(args.lake.resolve())
    with ws.lake(migrate=True) as lake:
        key = create_key(lake, "api").secret
        emails = [r[0] for r in lake.con.execute(
            "SELECT value FROM identity_nodes WHERE kind = 'person' AND namespace = 'email' ORDER BY random() "
            "LIMIT ?", [args.lookups]).fetchall()]
        people = lake.scalar("SELECT count(*) FROM person_profile")
    app = create_app(ws)
    app.get("/empty")(lambda: {})
    paths = [f"/api/v1/profiles/email:{e}/summary?attributes=email,job_title" for e in emails]
    with served(app) as base, ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:
        lookups = client.submit(timed, base, key, paths, args.concurrency).result()
        empty = client.submit(timed, base, key, ["/empty"] * len(paths), args.concurrency).result()
    print(f"{people:,} people; {len(paths):,} lookups, {args.concurrency} at a time")
    for name, times in (("profile summary", lookups), ("empty route", empty)):
        times.sort()
        print(f"  {name:16} p50 {statistics.median(times):6.1f} ms  p99 {times[int(0.99 * len(times))]:6.1f} ms  "
              f"max {times[-1]:6.1f} ms")


def timed(base: str, key: str, paths: list[str], concurrency: int) -> list[float]:
    """Each request's milliseconds, `concurrency` in flight at a time (in the client process)."""
    return asyncio.run(drive(base, key, paths, concurrency))


async def drive(base: str, key: str, paths: list[str], concurrency: int) -> list[float]:
    times: list[float] = []
    queue = list(reversed(paths))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=60) as client:
        async def worker() -> None:
            while queue:
                path = queue.pop()
                started = time.perf_counter()
                response = await client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


if __name__ == "__main__":
    main()
