"""Event → membership latency: p50/p99 from sending a page event to the streaming audience change it causes.

    python bench/latency.py [--rate 1000] [--seconds 10] [--ingest-every 0.05] [--workspace bench/out/web-medium]

Runs `accord serve`'s app in this process (uvicorn in a thread) with one streaming audience ("visited in the
last day") added to an empty workspace, or to a copy of `--workspace` (e.g. the medium demo workspace
`bench/web_pages.py` builds, with its own audiences), sends page events from new users at `rate` events/s in batches of 100 over real HTTP on 127.0.0.1,
and times each user's entry as published on the membership bus. Goal (issue 5): p99 ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import uvicorn

from accord.api.app import create_app
from accord.api.keys import create_key
from accord.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--ingest-every", type=float, default=0.05)
    parser.add_argument("--workspace", type=Path, help="start from a copy of this workspace")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accord-latency-")) / "ws"
    if args.workspace:
        shutil.copytree(args.workspace, folder)
        ws = Workspace.load(folder)
        with ws.lake() as lake:
            print(f"{args.workspace}: {lake.scalar('SELECT count(*) FROM person_profile'):,} people, "
                  f"{lake.scalar('SELECT count(*) FROM event'):,} events")
    else:
        ws = Workspace.init(folder)
    (folder / "audiences" / "visitors.aud").write_text(
        'audience "Visited today" of person\nwhere any event (event_type = "web.pageview" in last 1 days)\n')
    with ws.lake() as lake:
        key = create_key(lake, "write").secret
    app = create_app(ws, ingest_every=args.ingest_every)
    entered: dict[str, float] = {}
    app.state.accord.bus.subscribe(
        lambda changes: entered.update({c.profile_id: time.perf_counter() for c in changes if c.status == "realized"})
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    sent: dict[str, float] = {}
    asyncio.run(drive(f"http://127.0.0.1:{port}/v1/batch", key, args.rate, args.seconds, sent))
    settled, seen = time.perf_counter(), -1
    while time.perf_counter() - settled < 3 and len(entered) < len(sent):  # let the worker catch up
        if len(entered) != seen:
            settled, seen = time.perf_counter(), len(entered)
        time.sleep(0.1)
    server.should_exit = True
    thread.join(timeout=60)
    with ws.lake() as lake:
        owner = dict(lake.con.execute(
            "SELECT value, profile_id FROM identity_nodes WHERE kind = 'person' AND namespace = 'user_id'").fetchall())
    latencies = sorted(1000 * (entered[owner[u]] - t) for u, t in sent.items() if u in owner and owner[u] in entered)
    if not latencies:
        print("no membership change observed")
        return
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"{len(sent):,} events sent at {args.rate}/s for {args.seconds:.0f} s; {len(latencies):,} entries observed")
    print(f"event → membership latency: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms "
          f"(worker cycle every {args.ingest_every * 1000:.0f} ms)")


async def drive(url: str, key: str, rate: int, seconds: float, sent: dict[str, float]) -> None:
    """Batches of 100 page events from new users, paced to `rate` events/s."""
    interval = 100 / rate
    async with httpx.AsyncClient(auth=(key, ""), timeout=30) as client:
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            stamp = datetime.now(timezone.utc).isoformat()
            users = [f"u{n}-{i}" for i in range(100)]
            batch = [{"type": "page", "userId": u, "messageId": f"m-{u}", "timestamp": stamp,
                      "properties": {"url": "https://x.io/"}} for u in users]
            moment = time.perf_counter()
            response = await client.post(url, json={"batch": batch})
            if response.status_code == 200:
                sent.update({u: moment for u in users})
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))


if __name__ == "__main__":
    main()
