"""Collector throughput: accepted events/s through /v1/batch (durable, fsync'd) vs an empty endpoint, same stack.

    python bench/collector.py [--seconds 10] [--clients 8] [--streaming]

Starts `accord serve`'s app (with one extra route, /empty, that reads the body and answers 200) in a server
process on 127.0.0.1, then drives it from this process with concurrent clients sending batches of 100 track
events: first to /v1/batch, then to /empty. Prints both rates and their ratio (goal ≥ 50 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse


def serve(folder: Path, port: int) -> None:
    import uvicorn

    from accord.api.app import create_app
    from accord.workspace import Workspace

    app = create_app(Workspace.load(folder), ingest_every=1.0)

    @app.post("/empty")
    async def empty(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"success": True})

    app.router.routes.insert(0, app.router.routes.pop())  # matched first, as the collector's routes are

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def batch(client_no: int, n: int) -> bytes:
    events = [
        {"type": "track", "event": "Page Scrolled", "userId": f"u{client_no}-{i % 50}", "messageId": f"{client_no}-{n}-{i}",
         "timestamp": "2026-11-29T10:00:00Z", "properties": {"depth": i}}
        for i in range(100)
    ]
    return json.dumps({"batch": events}).encode()


async def load(url: str, key: str, seconds: float, clients: int) -> tuple[int, int]:
    accepted, refused = 0, 0
    deadline = time.perf_counter() + seconds

    async def worker(no: int) -> None:
        nonlocal accepted, refused
        sent = 0
        async with httpx.AsyncClient(timeout=30, auth=(key, "")) as client:
            while time.perf_counter() < deadline:
                response = await client.post(url, content=batch(no, sent), headers={"Content-Type": "application/json"})
                sent += 1
                if response.status_code == 200:
                    accepted += 100
                else:
                    refused += 100

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return accepted, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--streaming", action="store_true",
                        help="with a streaming audience, so the live path decides every event too")
    parser.add_argument("--serve", nargs=2, metavar=("WORKSPACE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    from accord.api.keys import create_key
    from accord.workspace import Workspace

    folder = Path(tempfile.mkdtemp(prefix="accord-bench-")) / "ws"
    ws = Workspace.init(folder)
    if args.streaming:
        (folder / "audiences" / "scrollers.aud").write_text(
            'audience "Scrolled today" of person\nwhere any event (event_type = "track.page_scrolled" in last 1 days)\n')
    with ws.lake() as lake:
        key = create_key(lake, "write").secret
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(folder), str(port)])
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        rates = {}
        for path in ("/v1/batch", "/empty"):
            started = time.perf_counter()
            accepted, refused = asyncio.run(load(f"http://127.0.0.1:{port}{path}", key, args.seconds, args.clients))
            elapsed = time.perf_counter() - started
            rates[path] = accepted / elapsed
            print(f"{path:<10} {accepted / elapsed:>10,.0f} events/s accepted ({accepted:,} in {elapsed:.1f} s; "
                  f"{refused:,} refused with 429/5xx)")
        print(f"durable collector / empty endpoint: {rates['/v1/batch'] / rates['/empty']:.0%} "
              f"({args.clients} clients, 100 events a batch, fsync per group commit)")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
