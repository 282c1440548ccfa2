"""Marketo backfill benchmark: leads and activities from the local Marketo server, Marketo's limits enforced.

    python bench/marketo_backfill.py [--leads 1000000] [--activities 10000000] [--list-members 100000]

Builds a synthetic instance (leads created over two years, activities over one year, one static list), serves
it from the local Marketo server with Marketo's limits (100 calls / 20 s, 10 concurrent, 50,000 calls a day,
2 bulk jobs processing and 10 queued, 31-day windows) and backfills it into a fresh lake through the connector.
Prints the time, records/s, the calls made, quota errors answered, and the fraction of the rate limit used:
overall, and in the REST-paged phase (static list members) where calls, not bulk files, set the pace.
The export quota is raised from Marketo's default 500 MB/day to 4 GB: 10M activities are about 1.2 GB of CSV.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.connectors.marketo.client import MarketoClient, MarketoLimits
from accord.connectors.marketo.config import MarketoSourceConfig
from accord.connectors.marketo.data import MarketoData
from accord.connectors.marketo.server import Limits, MarketoServer
from accord.connectors.marketo.source import MarketoSource
from accord.lake.store import Lake
from accord.sources.mappings import resolve_mapping

AS_OF = datetime(2026, 11, 29, tzinfo=timezone.utc)
TYPES = np.array([1, 2, 3, 6, 7, 10, 11, 104])
URLS = ["/", "/pricing", "/product", "/blog/b2b-data", "/docs/start", "/customers"]


def _stamps(rng: np.random.Generator, n: int, days: int, ordered: bool) -> pa.Array:
    end = int(AS_OF.timestamp())
    seconds = rng.integers(end - days * 86400, end, n)
    if ordered:
        seconds.sort()
    return pc.strftime(pa.array(seconds * 1_000_000, pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")


def build(leads: int, activities: int, list_members: int, seed: int = 1) -> MarketoData:
    rng = np.random.default_rng(seed)
    ids = np.arange(1000, 1000 + leads)
    id_text = pa.array(ids).cast(pa.string())
    companies = rng.integers(0, max(leads // 20, 1), leads)
    created = _stamps(rng, leads, 730, ordered=False)
    lead_table = pa.table({
        "id": id_text,
        "email": pc.binary_join_element_wise("lead", id_text, "@company", pa.array(companies).cast(pa.string()), ".com", ""),
        "firstName": pc.binary_join_element_wise("First", id_text, ""),
        "lastName": pc.binary_join_element_wise("Last", id_text, ""),
        "company": pc.binary_join_element_wise("Company ", pa.array(companies).cast(pa.string()), ""),
        "leadScore": pa.array(rng.integers(0, 100, leads)).cast(pa.string()),
        "createdAt": created,
        "updatedAt": created,
    })
    for column in resolve_mapping("marketo/lead").source_columns:  # every standard field a real instance has
        if column not in lead_table.column_names:
            lead_table = lead_table.append_column(column, pa.nulls(leads, pa.string()))
    types = rng.choice(TYPES, activities)
    url_json = [json.dumps({"Webpage URL": f"https://www.accord-example.com{u}"}) for u in URLS]
    pages = rng.integers(0, len(URLS), activities)
    attributes = pa.DictionaryArray.from_arrays(
        pa.array(np.where(types == 1, pages, len(URLS)).astype(np.int32)), pa.array(url_json + ["{}"])
    ).cast(pa.string())
    nulls = pa.nulls(activities, pa.string())
    activity_table = pa.table({
        "marketoGUID": pa.array(np.arange(1, activities + 1)).cast(pa.string()),
        "leadId": pa.array(rng.choice(ids, activities)).cast(pa.string()),
        "activityDate": _stamps(rng, activities, 365, ordered=True),
        "activityTypeId": pa.array(types).cast(pa.string()),
        "campaignId": nulls, "primaryAttributeValueId": nulls, "primaryAttributeValue": nulls,
        "attributes": attributes,
    })
    lists = [{"id": "7001", "name": "Everyone we met at events", "description": None,
              "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z"}]
    members = {7001: [int(i) for i in rng.choice(ids, min(list_members, leads), replace=False)]}
    return MarketoData(lead_table, activity_table, [], None, lists, members)


def window_fill(times: list[float], start: float, end: float, window: float = 20.0, limit: int = 100) -> float:
    """Mean share of the rate window in use, sampled every 0.25 s from one window after `start` to `end`."""
    stamps = np.sort(np.asarray(times))
    samples = np.arange(min(start + window, end), end + 1e-9, 0.25)
    inside = np.searchsorted(stamps, samples, side="right") - np.searchsorted(stamps, samples - window, side="right")
    return float(np.mean(inside) / limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--list-members", type=int, default=100_000)
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between bulk status polls")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "marketo-lake")
    args = parser.parse_args()
    started = time.perf_counter()
    data = build(args.leads, args.activities, args.list_members)
    print(f"built {args.leads:,} leads, {args.activities:,} activities in {time.perf_counter() - started:.1f} s")
    shutil.rmtree(args.out, ignore_errors=True)
    limits = Limits(export_daily_bytes=4 << 30, bulk_seconds=1.0)
    with MarketoServer(data, limits=limits) as server, Lake(args.out / "accord.duckdb") as lake:
        config = MarketoSourceConfig(name="bench", munchkin_id=server.munchkin_id, endpoint=server.endpoint,
                                     client_id=server.client_id, client_secret="env:UNUSED",
                                     backfill_since=date(2024, 11, 29),
                                     entities=["lists", "leads", "activities", "list_members"])
        client = MarketoClient(server.endpoint, server.client_id, server.client_secret,
                               limits=MarketoLimits(), poll_seconds=args.poll)
        source = MarketoSource(config, client)
        began = time.perf_counter()
        report = source.backfill(lake)
        seconds = time.perf_counter() - began
        people = lake.scalar("SELECT count(*) FROM person")
        events = lake.scalar("SELECT count(*) FROM event")
        members = lake.scalar("SELECT count(*) FROM marketing_list_member")
        paged = [t for (m, p), t in zip(server.calls, server.call_times) if "/lists/" in p and p.endswith("leads.json")]
    quota_errors = sum(n for code, n in server.errors_sent.items() if code in ("607", "1029"))
    print(f"loaded {people:,} leads, {events:,} activities, {members:,} list members in {seconds:.1f} s "
          f"({(people + events + members) / seconds:,.0f} records/s)")
    print(f"calls: {report.calls:,} (server answered {len(server.calls):,}); errors answered: {server.errors_sent or 'none'}; "
          f"quota errors: {quota_errors}; client waited {client.pacer.waited:.1f} s for the rate window")
    print(f"rate limit used overall: {report.rate_used:.0%} (bulk files, not calls, set the pace there)")
    if len(paged) > 1:
        span = paged[-1] - paged[0]
        print(f"rate limit used while paging list members: {len(paged):,} calls in {span:.1f} s; the 20-s window "
              f"was {window_fill(server.call_times, paged[0], paged[-1]):.0%} full on average")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB (server and client in one process)")


if __name__ == "__main__":
    main()
