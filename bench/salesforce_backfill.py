"""Salesforce backfill benchmark: contacts, leads and opportunities from the local Salesforce server.

    python bench/salesforce_backfill.py [--contacts 600000] [--leads 400000] [--opportunities 300000]

Builds a synthetic org (accounts, contacts, leads, opportunities), serves it from the local Salesforce server and
backfills it through the connector: Bulk API 2.0 query jobs, result sets of 50,000 records paged with
Sforce-Locator, each set loaded as one batch. Prints the time, records/s and calls made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from accord.connectors.salesforce.config import SalesforceSourceConfig
from accord.connectors.salesforce.server import SalesforceData, SalesforceServer
from accord.connectors.salesforce.source import (
    SalesforceSource,
    mapping_name,
    open_source,
)
from accord.lake.store import Lake
from accord.sources.mappings import resolve_mapping

ORG = "00D5e0000012345EAA"
STAMP = "2026-01-01T00:00:00.000+0000"


def build(contacts: int, leads: int, opportunities: int) -> SalesforceData:
    accounts = max(contacts // 20, 1)
    account_ids = [f"0015e{i:013d}" for i in range(accounts)]
    common = {"SystemModstamp": STAMP, "CreatedDate": STAMP, "IsDeleted": "false"}
    records = {
        "Account": [{"Id": a, "Name": f"Company {i}", "Website": f"https://company{i}.com", "Industry": "Software",
                     "NumberOfEmployees": "250", **common} for i, a in enumerate(account_ids)],
        "Contact": [{"Id": f"0035e{i:013d}", "AccountId": account_ids[i % accounts], "FirstName": f"First{i}",
                     "LastName": f"Last{i}", "Email": f"contact{i}@company{i % accounts}.com", "Title": "Manager",
                     "HasOptedOutOfEmail": "false", "LeadSource": "Web", **common} for i in range(contacts)],
        "Lead": [{"Id": f"00Q5e{i:013d}", "FirstName": f"Lead{i}", "LastName": "Person", "Email": f"lead{i}@prospect.com",
                  "Company": f"Prospect {i // 10}", "Status": "Open - Not Contacted", "LeadSource": "Web",
                  "IsConverted": "false", "HasOptedOutOfEmail": "false", **common} for i in range(leads)],
        "Opportunity": [{"Id": f"0065e{i:013d}", "AccountId": account_ids[i % accounts], "Name": f"Deal {i}",
                         "StageName": "Prospecting", "Amount": str(1000 * (i % 500)), "CloseDate": "2027-01-31",
                         "IsClosed": "false", "IsWon": "false", **common} for i in range(opportunities)],
    }
    for sobject, rows in records.items():  # every standard field a real org has, empty where not drawn above
        blank = dict.fromkeys(resolve_mapping(mapping_name(sobject)).source_columns)
        records[sobject] = [blank | row for row in rows]
    return SalesforceData(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=600_000)
    parser.add_argument("--leads", type=int, default=400_000)
    parser.add_argument("--opportunities", type=int, default=300_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "salesforce-lake")
    args = parser.parse_args()
    started = time.perf_counter()
    data = build(args.contacts, args.leads, args.opportunities)
    total = sum(len(v) for v in data.records.values())
    print(f"built {total:,} records in {time.perf_counter() - started:.1f} s")
    shutil.rmtree(args.out, ignore_errors=True)
    with SalesforceServer(data) as server, Lake(args.out / "accord.duckdb") as lake:
        config = SalesforceSourceConfig(name="bench", org_id=ORG, instance_url=server.endpoint,
                                        api_version=server.api_version, client_id=server.client_id,
                                        client_secret="env:SF_BENCH_SECRET", bulk_poll_seconds=0.5,
                                        objects=["Account", "Contact", "Lead", "Opportunity"])
        os.environ["SF_BENCH_SECRET"] = server.client_secret
        source: SalesforceSource = open_source(config, Path("."))
        began = time.perf_counter()
        report = source.backfill(lake)
        seconds = time.perf_counter() - began
        loaded = {e: lake.scalar(f"SELECT count(*) FROM {e}") for e in ("account", "person", "opportunity")}
    print(f"loaded {loaded} = {sum(loaded.values()):,} records in {seconds:.1f} s "
          f"({sum(loaded.values()) / seconds:,.0f} records/s); {report.calls} API calls, "
          f"{len(report.results)} result sets, {report.quarantined()} quarantined")


if __name__ == "__main__":
    main()
