"""Web UI speed: each page of `accord serve` timed over real HTTP on a demo workspace (medium by default).

    python bench/web_pages.py [--scale medium] [--repeat 5]

Builds the demo workspace (generate → ingest → identity → audiences → activation) unless it exists, serves it with
uvicorn in this process, and prints the median and worst time of each page and of the builder's live preview.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from serving import served  # bench/serving.py: scripts run with bench/ on sys.path

from accord.api.app import create_app
from accord.api.keys import create_key
from accord.demo import run_demo
from accord.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(__file__).parent / "out" / f"web-{args.scale}"
    if not (folder / "accord.yaml").exists():
        started = time.perf_counter()
        run_demo(folder, args.scale)
        print(f"built the {args.scale} demo workspace in {time.perf_counter() - started:.0f} s")
    ws = Workspace.load(folder)
    with ws.lake() as lake:
        email, domain = lake.query(
            "SELECT p.email, a.domain FROM person_profile p JOIN person_account pa USING (person_id) JOIN account_profile a "
            "USING (account_id) WHERE p.email IS NOT NULL AND a.domain IS NOT NULL ORDER BY p.records DESC LIMIT 1")[0].values()
        people = lake.scalar("SELECT count(*) FROM person_profile")
        events = lake.scalar("SELECT count(*) FROM event")
        key = create_key(lake, "api", "bench").secret
    audience = "Webinar attendees"
    pages = ["/", "/profiles", f"/profiles/email:{email}", "/profiles?q=ann", f"/accounts/domain:{domain}",
             "/accounts", "/accounts?industry=Software&min_open_pipeline=100000", "/audiences",
             f"/audiences/{quote(audience)}", f"/audiences/{quote(audience)}?identity=email:{email}",
             f"/audiences/{quote(audience)}/edit", f"/audiences/{quote(audience)}/members.csv", "/audiences/new",
             "/destinations", "/destinations/marketo-lists", "/destinations/new?type=marketo", "/sources"]
    print(f"{args.scale}: {people:,} people, {events:,} events")
    with served(create_app(ws)) as base, httpx.Client(base_url=base, timeout=60) as client:
        client.post("/login", data={"key": key, "next": "/"})  # the session cookie every page asks for
        for page in pages:
            report(page, [timed(lambda: client.get(page)) for _ in range(args.repeat)])
        text = 'audience "Preview" of person\nwhere country = "Germany" and any event (event_type = "web.pageview" in last 30 days)'
        report("POST /ui/preview", [timed(lambda: client.post("/ui/preview", json={"text": text}))
                                    for _ in range(args.repeat)])
        saved = client.post("/ui/preview", json={"text": client.get(f"/api/v1/audiences/{quote(audience)}",
                                                                    headers={"Authorization": f"Bearer {key}"}
                                                                    ).json()["text"]}).json()
        report("POST /ui/preview (a saved audience's AST: diff and change)",
               [timed(lambda: client.post("/ui/preview", json={"ast": saved["ast"]})) for _ in range(args.repeat)])


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = call()
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code}")
    return (time.perf_counter() - started) * 1000


def report(name: str, times: list[float]) -> None:
    print(f"{name:60} median {statistics.median(times):7.0f} ms   worst {max(times):7.0f} ms")


if __name__ == "__main__":
    main()
