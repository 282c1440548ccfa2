"""Event → membership latency: p50/p99 from sending a page event to the streaming audience change it causes.

    python bench/latency.py [--rate 1000] [--seconds 10] [--ingest-every 2] [--workspace bench/out/web-medium]
                            [--returning] [--to-webhook]

Runs `accord serve`'s app in this process (uvicorn in a thread; the client in another process) with one streaming
audience ("visited in the last day") added to an empty workspace, or to a copy of `--workspace` (e.g. the medium
demo workspace `bench/web_pages.py` builds, with its own audiences), sends page events from new users at `rate`
events/s in batches of 100 over real HTTP on 127.0.0.1, and times each user's entry as published on the membership
bus. With `--returning` every user first sends one untimed page event and, once it has a profile, a second one:
the timed entry is then into "Visited twice today", the path of a known person (no identity work). With
`--to-webhook` the timed audience also goes to a streaming webhook destination, and what is timed is each signed
delivery's arrival at a local receiver (its HMAC checked). Goals: p99 ≤ 250 ms to the membership (issue 5) and to
the webhook (issue 16).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from serving import served  # bench/serving.py: scripts run with bench/ on sys.path

from accord.api.app import create_app
from accord.api.keys import create_key
from accord.connectors.webhook.config import WebhookDestinationConfig
from accord.connectors.webhook.destination import SIGNATURE_HEADER, sign
from accord.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--ingest-every", type=float, default=2.0, help="the lake's cycle (accord serve's default)")
    parser.add_argument("--workspace", type=Path, help="start from a copy of this workspace")
    parser.add_argument("--returning", action="store_true", help="time known users' second visit")
    parser.add_argument("--to-webhook", action="store_true", help="time the signed webhook's arrival instead")
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
    (folder / "audiences" / "returning.aud").write_text(
        'audience "Visited twice today" of person\nwhere count(event where event_type = "web.pageview" '
        'in last 1 days) >= 2\n')
    timed_audience = "Visited twice today" if args.returning else "Visited today"
    with ws.lake() as lake:
        key = create_key(lake, "write").secret
    entered: dict[str, dict[str, float]] = {"Visited today": {}, "Visited twice today": {}}
    receiver = Receiver(entered[timed_audience]) if args.to_webhook else None
    if receiver is not None:
        (folder / "hook.secret").write_text(receiver.secret)
        ws.config = ws.config.model_copy(update={"destinations": [WebhookDestinationConfig(
            name="hook", url=receiver.url, secret="file:hook.secret", audiences=[timed_audience], fields=["user_id"],
            batch_size=500)]})
        ws.save()
    app = create_app(ws, ingest_every=args.ingest_every)
    if receiver is None:
        app.state.accord.bus.subscribe(lambda changes: [
            entered[c.audience].setdefault(c.profile_id, time.perf_counter()) for c in changes
            if c.status == "realized" and c.audience in entered])
    else:
        app.state.accord.bus.subscribe(lambda changes: [
            entered["Visited today"].setdefault(c.profile_id, time.perf_counter()) for c in changes
            if c.status == "realized" and c.audience == "Visited today"] if args.returning else None)
    # The load comes from another process, as it would in production: a client in this one would compete with
    # the server for the interpreter. perf_counter is the system's monotonic clock, the same in both.
    with served(app) as base, ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:
        url = f"{base}/v1/batch"
        sent = client.submit(send, url, key, args.rate, args.seconds).result()
        if args.returning:
            settle(entered["Visited today"], len(sent))
            sent = client.submit(send, url, key, args.rate, args.seconds, list(sent)).result()
        settle(entered[timed_audience], len(sent))
    if receiver is not None:
        receiver.close()
        print(f"webhook deliveries received: {receiver.count:,}, bad signatures: {receiver.bad}")
    with ws.lake() as lake:
        owner = dict(lake.execute(
            "SELECT value, profile_id FROM identity_nodes WHERE kind = 'person' AND namespace = 'user_id'").fetchall())
    times = entered[timed_audience]
    latencies = sorted(1000 * (times[owner[u]] - t) for u, t in sent.items() if u in owner and owner[u] in times)
    if not latencies:
        print("no membership change observed")
        return
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    who = "returning" if args.returning else "new"
    print(f"{len(sent):,} events from {who} users sent at {args.rate}/s for {args.seconds:.0f} s; "
          f"{len(latencies):,} entries into {timed_audience!r} observed")
    reached = "signed webhook" if args.to_webhook else "membership"
    print(f"event → {reached} latency: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms "
          f"(worker cycle every {args.ingest_every * 1000:.0f} ms)")


class Receiver:
    """A local webhook endpoint: checks each delivery's signature and notes when each profile first arrived."""

    def __init__(self, arrived: dict[str, float]) -> None:
        self.secret, self.count, self.bad = "bench-secret", 0, 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
                body = self.rfile.read(int(self.headers["Content-Length"]))
                moment = time.perf_counter()
                if self.headers.get(SIGNATURE_HEADER) != sign(receiver.secret, body):
                    receiver.bad += 1
                for change in json.loads(body)["changes"]:
                    receiver.count += 1
                    if change["status"] == "realized":
                        arrived.setdefault(change["profile_id"], moment)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def settle(entries: dict[str, float], expected: int) -> None:
    """Wait until `expected` entries arrived, or none for 3 s (the worker catching up)."""
    settled, seen = time.perf_counter(), -1
    while time.perf_counter() - settled < 3 and len(entries) < expected:
        if len(entries) != seen:
            settled, seen = time.perf_counter(), len(entries)
        time.sleep(0.1)


def send(url: str, key: str, rate: int, seconds: float, known: list[str] | None = None) -> dict[str, float]:
    """Drive the load (in the client process); returns when each user's event was sent."""
    sent: dict[str, float] = {}
    asyncio.run(drive(url, key, rate, seconds, sent, known))
    return sent


async def drive(url: str, key: str, rate: int, seconds: float, sent: dict[str, float],
                known: list[str] | None = None) -> None:
    """Batches of 100 page events, paced to `rate` events/s: from new users, or from the `known` ones again."""
    interval = 100 / rate
    async with httpx.AsyncClient(auth=(key, ""), timeout=30) as client:
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds and (known is None or n * 100 < len(known)):
            stamp = datetime.now(timezone.utc).isoformat()
            users = known[n * 100:(n + 1) * 100] if known else [f"u{n}-{i}" for i in range(100)]
            batch = [{"type": "page", "userId": u, "messageId": f"m-{u}-{2 if known else 1}", "timestamp": stamp,
                      "properties": {"url": "https://x.io/"}} for u in users]
            moment = time.perf_counter()
            response = await client.post(url, json={"batch": batch})
            if response.status_code == 200:
                sent.update({u: moment for u in users})
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))


if __name__ == "__main__":
    main()
