"""Collector log: reading it whole for retention and privacy, in segments, analytics.js-shaped messages.

    python bench/collector_log.py [--mb 200] [--segment-mb 32]

Writes a log of page messages as analytics.js sends them (with their `context`, about 0.85 KB each) through
`CollectorLog`, then times: the retention sweep of every segment (`event_days: 30`, nothing expired), the same
sweep again remembering the first (only what changed is read), a privacy access search, and reading the log
back in 64 MiB stretches as the store loads it. Prints MB/s for each.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from accord.governance.config import RetentionConfig
from accord.governance.retention import sweep_log
from accord.privacy.collector_log import messages_of
from accord.privacy.subject import Subject
from accord.sources.collector import STRETCH_BYTES
from accord.sources.collector_log import CollectorLog, segments

CONTEXT = {
    "ip": "203.0.113.7", "library": {"name": "analytics.js", "version": "next-1.55.0"}, "locale": "en-US",
    "page": {"path": "/pricing", "referrer": "https://www.google.com/", "search": "", "title": "Pricing | Acme",
             "url": "https://www.acme.io/pricing"},
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/120.0.0.0 Safari/537.36",
    "campaign": {"name": "q4", "source": "google", "medium": "cpc"},
}


def page(n: int, at: datetime) -> dict:
    stamp = at.isoformat()
    return {"type": "page", "anonymousId": f"anon-{n % 5000}", "userId": f"user-{n % 3000}", "messageId": f"m{n}",
            "timestamp": stamp, "sentAt": stamp, "name": "Pricing", "context": CONTEXT,
            "properties": {"path": "/pricing", "title": "Pricing | Acme", "url": "https://www.acme.io/pricing"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="Size of the log to write.")
    parser.add_argument("--segment-mb", type=int, default=32, help="Size of a segment.")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accord-log-")) / "collector"
    log = CollectorLog(folder, segment_bytes=args.segment_mb << 20)
    now, n = datetime.now(timezone.utc), 0
    started = time.perf_counter()
    while log.size() < args.mb << 20:
        log.append([page(n + i, now - timedelta(minutes=1)) for i in range(100)], received_at=now)
        n += 100
    size = log.size() / 1e6
    print(f"wrote {n:,} messages, {size:,.1f} MB in {len(segments(folder))} segments: "
          f"{time.perf_counter() - started:.1f} s")

    def timed(label: str, work, whole: bool = True) -> object:  # noqa: ANN001 - a bench
        started = time.perf_counter()
        out = work()
        seconds = time.perf_counter() - started
        print(f"{label:<48} {seconds:6.2f} s" + (f"  {size / seconds:7.1f} MB/s of the log" if whole else ""))
        return out

    config = RetentionConfig(event_days=30)
    first = timed("retention sweep, every segment", lambda: sweep_log(folder, config, now, {}, None))
    again = timed("retention sweep again (what changed only)",
                  lambda: sweep_log(folder, config, now, {}, first.state), whole=False)
    print(f"  segments read: {first.read}, then {again.read}")
    subject = Subject(("P00012345",), (), frozenset({"P00012345", "user-erase-me"}), frozenset({"jane@acme.io"}))
    timed("privacy access search", lambda: messages_of(folder, subject))

    def read_all() -> int:
        offset, lines = 0, 0
        while True:
            entries, end = log.read_from(offset, None, STRETCH_BYTES)
            if end == offset:
                return lines
            offset, lines = end, lines + len(entries)
    timed("read back in 64 MiB stretches", read_all)


if __name__ == "__main__":
    main()
