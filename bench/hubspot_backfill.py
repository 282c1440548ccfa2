"""HubSpot backfill and sync benchmark: contacts, companies and deals with their associations from the local portal.

    python bench/hubspot_backfill.py [--contacts 50000] [--changed 0.01]

Builds a portal (a company per 20 contacts, a deal per 10 contacts, each contact at its company and each deal with
two of its company's contacts), serves it from the local HubSpot server and backfills it through the connector:
pages of 100 records, each with its associations. Then changes `--changed` of the contacts and syncs (search on the
last change). Prints the time, records/s and the calls made; HubSpot itself allows a private app 190 calls per ten
seconds (1,900 records/s at most on its largest plans).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from accord.connectors.hubspot.config import HubSpotSourceConfig
from accord.connectors.hubspot.server import HubSpotServer
from accord.connectors.hubspot.source import open_source
from accord.lake.store import Lake


def build(server: HubSpotServer, contacts: int, at: datetime) -> None:
    companies, deals = max(contacts // 20, 1), max(contacts // 10, 1)
    for c in range(1, companies + 1):
        server.put("companies", c, at, name=f"Company {c}", domain=f"company{c}.com", industry="COMPUTER_SOFTWARE",
                   numberofemployees="250")
    for p in range(1, contacts + 1):
        company = 1 + p % companies
        server.put("contacts", 100_000_000 + p, at, email=f"person{p}@company{company}.com", firstname=f"First{p}",
                   lastname=f"Last{p}", jobtitle="Manager", associatedcompanyid=str(company), hs_email_optout="false")
        server.associate("contacts", 100_000_000 + p, "companies", company, primary=True)
    for d in range(1, deals + 1):
        company = 1 + d % companies
        server.put("deals", 200_000_000 + d, at, dealname=f"Deal {d}", dealstage="appointmentscheduled",
                   amount=str(1000 * (d % 500)), hs_is_closed="false", hs_is_closed_won="false")
        server.associate("deals", 200_000_000 + d, "companies", company, primary=True)
        for p in (company, company + companies):
            if p <= contacts:
                server.associate("deals", 200_000_000 + d, "contacts", 100_000_000 + p, label="Decision maker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hubspot-bench-"))
    try:
        with HubSpotServer() as server:
            build(server, args.contacts, datetime.now(timezone.utc) - timedelta(days=3))
            (folder / "token").write_text(server.token)
            # Unpaced (the most calls the setting allows), to measure Accord's side; HubSpot's limit is stated above.
            config = HubSpotSourceConfig(name="hubspot", portal_id=server.portal_id, access_token="file:token",
                                         url=server.endpoint, calls_per_ten_seconds=1000)
            records = sum(len(r) for r in server.records.values())
            with Lake(folder / "accord.duckdb", migrate=True) as lake:
                source = open_source(config, folder)
                started = time.perf_counter()
                report = source.backfill(lake)
                seconds = time.perf_counter() - started
                print(f"backfill: {records:,} records ({report.loaded():,} rows with associations) in {seconds:.1f} s, "
                      f"{records / seconds:,.0f} records/s, {report.calls:,} calls")
                changed = int(args.contacts * args.changed)
                now = datetime.now(timezone.utc)
                for p in range(1, changed + 1):
                    server.put("contacts", 100_000_000 + p * int(1 / args.changed), now, jobtitle="Director")
                started = time.perf_counter()
                report = source.sync(lake)
                seconds = time.perf_counter() - started
                print(f"sync after {changed:,} contacts changed: {report.loaded():,} rows in {seconds:.1f} s, "
                      f"{report.calls:,} calls")
                source.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
