"""Soak: `accord serve` under steady load for minutes, with a streaming audience and a webhook destination.

    python bench/soak.py [--minutes 10] [--rate 1000] [--users 20000] [--report-every 60]

Starts `accord serve` as its own process on an empty workspace with one streaming audience ("Visited today") and a
webhook destination (a receiver in this process), then another process sends page events from `users` visitors at
`rate` events/s in batches of 100 over HTTP. Prints the server's resident memory at every report, and at the end:
events accepted vs loaded into the lake, and membership changes vs changes the webhook received.
Goals (issue 14): RSS flat within 20 % (after the first report), accepted = loaded, deliveries = changes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from accord.api.keys import create_key
from accord.workspace import Workspace

AUDIENCE = "Visited today"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--users", type=int, default=20_000, help="distinct visitors the events come from")
    parser.add_argument("--report-every", type=float, default=60, help="seconds between memory readings")
    args = parser.parse_args()

    received: list[dict[str, Any]] = []
    hook = _receiver(received)
    folder = Path(tempfile.mkdtemp(prefix="accord-soak-")) / "ws"
    ws = Workspace.init(folder)
    (folder / "audiences" / "visitors.aud").write_text(
        f'audience "{AUDIENCE}" of person\nwhere any event (event_type = "web.pageview" in last 1 days)\n')
    config = yaml.safe_load((folder / "accord.yaml").read_text())
    config["destinations"] = [{"type": "webhook", "name": "hook", "url": hook, "secret": "env:SOAK_SECRET",
                               "audiences": [AUDIENCE], "fields": ["person_id"], "batch_size": 100}]
    (folder / "accord.yaml").write_text(yaml.safe_dump(config))
    with ws.lake() as lake:
        key = create_key(lake, "write", "soak").secret

    port = _free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("accord")), "serve", "--port", str(port), "-w",
                               str(folder)], env={**os.environ, "SOAK_SECRET": "soak"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_for(f"{url}/health")
    accepted = multiprocessing.get_context("spawn").Value("q", 0)
    load = multiprocessing.get_context("spawn").Process(
        target=_send, args=(url, key, args.rate, args.minutes * 60, args.users, accepted))
    started = time.monotonic()
    load.start()
    readings = []
    print(f"serve pid {server.pid}, {args.rate} events/s from {args.users:,} users for {args.minutes:g} min")
    while load.is_alive():
        load.join(args.report_every)
        rss = _rss_mb(server.pid)
        readings.append(rss)
        print(f"{time.monotonic() - started:6.0f} s  RSS {rss:7.1f} MB  accepted {accepted.value:,}  "
              f"webhook changes {sum(len(b['changes']) for b in received):,}", flush=True)
    health = httpx.get(f"{url}/health").json()
    time.sleep(10)  # the last cycle loads the rest of the log and sends the last changes
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=120)

    with ws.lake() as lake:
        loaded = lake.scalar("SELECT count(*) FROM event")
        changes = lake.scalar("SELECT count(*) FROM audience_membership_history WHERE audience = ?", [AUDIENCE])
        members = lake.scalar("SELECT count(*) FROM audience_membership WHERE audience = ? "
                              "AND status IN ('realized', 'existing')", [AUDIENCE])
    delivered = [c["profile_id"] for body in received for c in body["changes"]]
    steady = readings[1:] or readings
    drift = (max(steady) - min(steady)) / min(steady) if steady else 0.0
    print(f"RSS after the first reading: {min(steady):.1f}–{max(steady):.1f} MB ({drift:.0%} spread; goal ≤ 20 %)")
    print(f"events accepted {accepted.value:,}, loaded {loaded:,} ({'equal' if loaded == accepted.value else 'DIFFER'})")
    print(f"membership changes {changes:,} ({members:,} members), webhook received {len(delivered):,} "
          f"({len(set(delivered)):,} distinct) ({'equal' if len(delivered) == changes else 'DIFFER'})")
    print(f"/health at the end of the load: ok={health['ok']} error={health['error']}")


def _send(url: str, key: str, rate: int, seconds: float, users: int, accepted: Any) -> None:
    """Page events at `rate`/s in batches of 100, paced by the clock; counts what the server accepted."""
    pick = random.Random(7)
    with httpx.Client(auth=(key, ""), timeout=30) as client:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < seconds:
            due = started + sent / rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            batch = [{"type": "page", "userId": f"visitor-{pick.randrange(users)}", "messageId": f"m{sent + i}",
                      "properties": {"url": "https://example.com/pricing"}} for i in range(100)]
            answer = client.post(f"{url}/v1/batch", json={"batch": batch})
            if answer.status_code == 200:
                with accepted.get_lock():
                    accepted.value += len(batch)
            sent += len(batch)


def _receiver(received: list[dict[str, Any]]) -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{http.server_address[1]}/hook"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


if __name__ == "__main__":
    main()
