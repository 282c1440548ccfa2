"""Dynamics 365 backfill and sync benchmark: accounts, contacts and opportunities from the local environment.

    python bench/dynamics_backfill.py [--contacts 100000] [--changed 0.01]

Builds an environment (an account per 20 contacts, an opportunity per 10 contacts with a contact of its account, a
static list of a tenth of the contacts), serves it from the local Dynamics server and backfills it through the
connector with change tracking, 5,000 records a page. Then changes `--changed` of the contacts, deletes as many
opportunities, and syncs by the delta links. Prints the time, records/s and the calls made; Dataverse itself allows
a user 6,000 calls in five minutes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from accord.connectors.dynamics.config import DynamicsSourceConfig
from accord.connectors.dynamics.server import DynamicsServer
from accord.connectors.dynamics.source import open_source
from accord.lake.store import Lake


def guid(kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{n}"))


def build(server: DynamicsServer, contacts: int, at: datetime) -> None:
    accounts, deals = max(contacts // 20, 1), max(contacts // 10, 1)
    for a in range(accounts):
        server.put("account", guid("account", a), at, name=f"Company {a}", websiteurl=f"https://company{a}.com",
                   industrycode=28, numberofemployees=250)
    for p in range(contacts):
        server.put("contact", guid("contact", p), at, emailaddress1=f"person{p}@company{p % accounts}.com",
                   firstname=f"First{p}", lastname=f"Last{p}", jobtitle="Manager",
                   parentcustomerid=("account", guid("account", p % accounts)))
    for d in range(deals):
        server.put("opportunity", guid("opportunity", d), at, name=f"Deal {d}", estimatedvalue=1000.0 * (d % 500),
                   customerid=("account", guid("account", d % accounts)), parentcontactid=guid("contact", d))
    server.put("list", guid("list", 0), at, listname="Webinar", createdfromcode=2, type=False)
    server.put_members(guid("list", 0), at, {guid("contact", p) for p in range(0, contacts, 10)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dynamics-bench-"))
    try:
        with DynamicsServer() as server:
            build(server, args.contacts, datetime.now(timezone.utc) - timedelta(days=3))
            (folder / "secret").write_text(server.secret)
            config = DynamicsSourceConfig(name="dynamics", url=server.endpoint, login_url=server.endpoint,
                                          organization_id=server.organization_id, tenant_id=server.tenant_id,
                                          client_id=server.client_id, client_secret="file:secret",
                                          tables=["accounts", "contacts", "opportunities", "lists"])
            records = sum(len(r) for r in server.records.values())
            with Lake(folder / "accord.duckdb", migrate=True) as lake:
                source = open_source(config, folder)
                started = time.perf_counter()
                report = source.backfill(lake)
                seconds = time.perf_counter() - started
                print(f"backfill: {records:,} records ({report.loaded():,} rows with relations) in {seconds:.1f} s, "
                      f"{records / seconds:,.0f} records/s, {report.calls:,} calls")
                changed = int(args.contacts * args.changed)
                now = datetime.now(timezone.utc)
                for p in range(changed):
                    server.put("contact", guid("contact", p * int(1 / args.changed)), now, jobtitle="Director")
                    server.delete("opportunity", guid("opportunity", p))
                started = time.perf_counter()
                report = source.sync(lake)
                seconds = time.perf_counter() - started
                print(f"sync after {changed:,} contacts changed and {changed:,} opportunities deleted: "
                      f"{report.loaded():,} rows, {report.deleted:,} deleted, in {seconds:.1f} s, {report.calls:,} calls")
                source.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
