"""A site's history loaded with `accord ingest messages`: messages a second, archived as Segment writes them (or as
another tool exports the same events).

    python bench/message_archive.py [--messages 1000000] [--days 30] [--format segment|mixpanel|snowplow]

Writes an archive of analytics.js-shaped messages (pages, tracks, identifies of 50,000 visitors, about 0.9 KB each)
as Segment's S3 destination does (a gzip file of JSON lines per day; with --format, the same events as Mixpanel's
export or Snowplow's enriched TSV write them), loads it into a new store (prints messages/s and MB/s of the file's
text), then loads it again (every file recognised: prints how long that took).
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from collector_log import (
    CONTEXT,  # bench/collector_log.py: scripts run with bench/ on sys.path
)

from accord import fastjson
from accord.lake.store import Lake
from accord.sources.message_archive import load_archive
from accord.sources.snowplow import FIELDS

START = datetime(2026, 10, 1, tzinfo=timezone.utc)


def message(n: int, at: datetime) -> dict:
    """The n-th message: mostly pages, a track in ten, an identify in fifty, as Segment archives it."""
    visitor = n % 50_000
    stamp = at.isoformat()
    archived = {"messageId": f"m{n}", "anonymousId": f"anon-{visitor}", "timestamp": stamp, "originalTimestamp": stamp,
                "sentAt": stamp, "receivedAt": stamp, "context": CONTEXT, "projectId": "src-1", "version": 2}
    if n % 50 == 0:
        return {**archived, "type": "identify", "userId": f"user-{visitor}",
                "traits": {"email": f"user{visitor}@example.com", "firstName": "Ann"}}
    if n % 10 == 0:
        return {**archived, "type": "track", "event": "Demo Requested", "properties": {"plan": "pro"}}
    return {**archived, "type": "page", "name": "Pricing",
            "properties": {"path": "/pricing", "title": "Pricing | Acme", "url": "https://www.acme.io/pricing"}}


def mixpanel(n: int, at: datetime) -> dict:
    """The same event as Mixpanel's raw export writes it."""
    m, page = message(n, at), CONTEXT["page"]
    props = {"time": int(at.timestamp()), "distinct_id": m.get("userId") or f"$device:{m['anonymousId']}",
             "$device_id": m["anonymousId"], "$insert_id": m["messageId"], "$current_url": page["url"],
             "current_page_title": page["title"], "$referrer": page["referrer"], "mp_lib": "web",
             "$browser": "Chrome", **m.get("properties", {})}
    name = {"page": "$mp_web_page_view", "track": m.get("event"), "identify": "$identify"}[m["type"]]
    if m["type"] == "identify":
        props |= {"$anon_id": m["anonymousId"], "$identified_id": m["userId"]}
    return {"event": name, "properties": props}


def snowplow(n: int, at: datetime) -> str:
    """The same event as Snowplow's enriched stream writes it (an identify as a page view of the signed-in user)."""
    m, page = message(n, at), CONTEXT["page"]
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    fields = {"app_id": "acme", "platform": "web", "collector_tstamp": stamp, "derived_tstamp": stamp,
              "event": "page_view" if m["type"] != "track" else "unstruct", "event_id": m["messageId"],
              "user_id": m.get("userId"), "domain_userid": m["anonymousId"], "page_url": page["url"],
              "page_title": page["title"], "page_referrer": page["referrer"], "useragent": CONTEXT["userAgent"],
              "mkt_source": "google", "mkt_medium": "cpc", "event_name": "demo_requested" if m["type"] == "track"
              else "page_view", "unstruct_event": fastjson.dumps({"data": {"data": {"plan": "pro"}}})
              if m["type"] == "track" else None}
    return "\t".join(fields.get(name) or "" for name in FIELDS)


def line(shape: str, n: int, at: datetime) -> bytes:
    if shape == "snowplow":
        return snowplow(n, at).encode()
    return fastjson.dumps(mixpanel(n, at) if shape == "mixpanel" else message(n, at)).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--format", choices=["segment", "mixpanel", "snowplow"], default="segment")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "segment-logs"
        per_day = -(-args.messages // args.days)
        size = 0
        for day in range(args.days):
            (folder / f"{day:03d}").mkdir(parents=True)
            at = START + timedelta(days=day)
            lines = b"".join(line(args.format, n, at + timedelta(seconds=n % 86_400)) + b"\n"
                             for n in range(day * per_day, min(args.messages, (day + 1) * per_day)))
            size += len(lines)
            (folder / f"{day:03d}" / "1.gz").write_bytes(gzip.compress(lines, 1))
        with Lake(Path(tmp) / "lake.duckdb", migrate=True) as lake:
            started = time.perf_counter()
            report = load_archive(lake, [folder], "bench", shape=args.format)
            took = time.perf_counter() - started
            print(f"first load ({args.format}): {report.messages:,} messages in {report.files} files, {took:.1f} s: "
                  f"{report.messages / took:,.0f} messages/s, {size / 1e6 / took:.1f} MB/s of text")
            started = time.perf_counter()
            report = load_archive(lake, [folder], "bench", shape=args.format)
            print(f"loaded again: {report.loaded_before} of {report.files} files recognised, nothing read, "
                  f"{time.perf_counter() - started:.2f} s")
            print(f"events {lake.scalar('SELECT count(*) FROM event'):,}, "
                  f"people {lake.scalar('SELECT count(*) FROM person_current'):,}")


if __name__ == "__main__":
    main()
