"""The live path's cost per collector event, with streaming audiences on event type alone or with properties.

    python bench/live_path.py [--events 200000] [--people 20000]

Feeds synced log entries (100 messages each: page views and tracked events from `people` users, one known
profile each after its first event) to the live path of an empty sandbox holding 10 streaming audiences, first
audiences that test only the event's type and window, then the same with a property test added
(`properties.plan = "pro"`, `properties.seats >= 10`, `properties.utm.campaign starts with "q4"`, ...). Prints
µs per event for each and their ratio (goal: within 1.5× of the 29 µs measured before event properties).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from accord.audiences.changes import MembershipBus
from accord.audiences.live import LiveProfiles
from accord.audiences.text import parse_audience
from accord.lake.store import Lake

START = datetime(2026, 11, 29, tzinfo=timezone.utc)
TESTS = [
    ("web.pageview", 'properties.path starts with "/pricing"'),
    ("track.trial_started", 'properties.plan = "pro"'),
    ("track.trial_started", "properties.seats >= 10"),
    ("track.trial_started", 'properties.utm.campaign starts with "q4"'),
    ("track.demo_requested", "properties.trial = true"),
    ("track.demo_requested", 'properties.company.size in ["51-200", "201-1000"]'),
    ("web.pageview", "properties.missing is null"),
    ("track.trial_started", "properties.seats between 5 and 50"),
    ("track.demo_requested", 'properties.source != "partner"'),
    ("web.pageview", 'properties.title contains "Pricing"'),
]


def audiences(with_properties: bool) -> list:
    out = []
    for i, (event_type, test) in enumerate(TESTS):
        extra = f" and {test}" if with_properties else ""
        text = (f'audience "{i}" of person\n'
                f'where count(event where event_type = "{event_type}"{extra} in last {(1, 7)[i % 2]} days) >= {1 + i % 3}')
        out.append(parse_audience(text))
    return out


def messages(count: int, people: int, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        user, at = f"u{rng.randrange(people)}", (START + timedelta(seconds=i)).isoformat()
        if rng.random() < 0.5:
            path = rng.choice(["/", "/pricing", "/pricing/enterprise", "/blog"])
            out.append({"type": "page", "userId": user, "messageId": f"m{i}", "timestamp": at,
                        "properties": {"url": f"https://x.io{path}", "path": path, "title": f"Page {path}"}})
        else:
            event = rng.choice(["Trial Started", "Demo Requested"])
            out.append({"type": "track", "event": event, "userId": user, "messageId": f"m{i}", "timestamp": at,
                        "properties": {"plan": rng.choice(["free", "pro"]), "seats": rng.randrange(1, 80),
                                       "utm": {"campaign": rng.choice(["q4-launch", "always-on"])},
                                       "trial": rng.random() < 0.3, "company": {"size": "51-200"},
                                       "source": rng.choice(["web", "partner"])}})
    return out


def per_event(with_properties: bool, batch: list[dict], folder: Path) -> float:
    with Lake(folder / f"{with_properties}.duckdb") as lake:
        live = LiveProfiles(MembershipBus(), "bench", offset=0)
        live.attach(lake, audiences(with_properties))
        entries = [{"batch": batch[i:i + 100]} for i in range(0, len(batch), 100)]
        started = time.perf_counter()
        for offset, entry in enumerate(entries, start=1):
            live.apply([entry], offset, at=START + timedelta(days=1))
        return (time.perf_counter() - started) / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=20_000)
    args = parser.parse_args()
    batch = messages(args.events, args.people)
    with tempfile.TemporaryDirectory() as tmp:
        plain = per_event(False, batch, Path(tmp))
        with_properties = per_event(True, batch, Path(tmp))
    print(f"{args.events:,} events from {args.people:,} people, 10 streaming audiences")
    print(f"  event type alone      {plain:6.1f} µs/event")
    print(f"  with a property test  {with_properties:6.1f} µs/event")
    print(f"  ratio to 29 µs        {with_properties / 29:6.2f}   (goal ≤ 1.5)")


if __name__ == "__main__":
    main()
