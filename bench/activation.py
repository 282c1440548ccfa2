"""Activation benchmark: a large audience to one destination on its local stand-in, the stand-in's limits on.

    python bench/activation.py [--destination marketo] [--members 100000] [--call-ms 300]

Builds a lake whose audience has N members (profiles with e-mails, and a Salesforce contact id each) and a
stand-in holding what the destination matches them to, then runs the destination once, each call taking
`--call-ms` to answer as a real system does. Prints the calls made against the fewest the destination's API allows,
and the time against the floor the stand-in's limits set for those calls; then a run with nothing changed, and one
after 1 % of the members changed their e-mail (updates: what the destination held by the old address goes):
- marketo: 300 a lookup and 300 a list add; 100 calls in any 20 s (call n starts no sooner than
  20 s × ((n - 1) // 100) after the first), 10 in flight;
- linkedin: 5,000 elements a call, 300 calls a minute;
- google_ads: 10,000 members a job (create, add, run, poll: 4 calls), one job at a time;
- salesforce: 200 records a call, a lookup of campaign members and a create per batch, 4 batches at once;
- hubspot: 100 e-mails a lookup and 100 contacts a list add; 190 calls in any 10 s (a Professional portal's
  private app), 8 batches at once;
- meta_ads: 10,000 hashed e-mails a call, 60 calls a minute;
- dynamics: 200 e-mails a lookup and 200 contacts a list add; 6,000 calls in any five minutes, 4 batches at once.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.activation.sync import DeliveryReport, DeliverySync, SyncPolicy
from accord.lake.store import Lake

AUDIENCE = "Bench audience"


@dataclass
class Setup:
    """One destination against its stand-in, and what the stand-in's limits allow."""

    destination: Any
    calls: Callable[[], int]
    held: Callable[[], int]
    minimum: int
    floor: float
    """Seconds the stand-in's limits need for `minimum` calls."""


def email(i: int | str) -> str:
    return f"lead{i}@company{int(i) % 5000}.com"


def contact_id(i: int) -> str:
    return f"0035e{i:013d}"


def build_lake(path: Path, members: int) -> None:
    with Lake(path) as lake:
        lake.execute(
            "CREATE TABLE person_profile AS SELECT 'P' || lpad(i::VARCHAR, 8, '0') AS person_id, "
            "'lead' || i || '@company' || (i % 5000) || '.com' AS email, NULL::VARCHAR AS marketing_consent, "
            "FALSE AS email_opt_out, NULL::VARCHAR AS phone, 'Lead' AS first_name, 'Number ' || i AS last_name, "
            "'Company ' || (i % 5000) AS company_name FROM range(?) t(i)", [members])
        lake.execute("INSERT INTO identity_nodes SELECT 'person', 'crm_id', '0035e' || lpad(i::VARCHAR, 13, '0'), "
                     "'P' || lpad(i::VARCHAR, 8, '0') FROM range(?) t(i)", [members])
        lake.execute("INSERT INTO audiences VALUES (?, 'person', 'bench', 'batch', 'bench', 1, now(), ?)",
                     [AUDIENCE, members])
        lake.execute("INSERT INTO audience_membership SELECT ?, person_id, 'realized', now(), NULL, now() "
                     "FROM person_profile", [AUDIENCE])


@contextmanager
def marketo(members: int, call_seconds: float) -> Iterator[Setup]:
    from accord.connectors.marketo.config import MarketoDestinationConfig
    from accord.connectors.marketo.data import MarketoData
    from accord.connectors.marketo.destination import open_destination
    from accord.connectors.marketo.server import Limits, MarketoServer

    n = np.arange(members)
    i = pa.array(n).cast(pa.string())
    leads = pa.table({
        "id": pa.array(n + 1000).cast(pa.string()),
        "email": pc.binary_join_element_wise("lead", i, "@company", pa.array(n % 5000).cast(pa.string()), ".com", ""),
        "createdAt": pa.array(["2026-01-01T00:00:00Z"] * members),
        "updatedAt": pa.array(["2026-01-01T00:00:00Z"] * members)})
    activities = pa.table({c: pa.array([], pa.string()) for c in (
        "marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId", "primaryAttributeValueId",
        "primaryAttributeValue", "attributes")})
    data = MarketoData(leads, activities, [], None, [], {})
    with MarketoServer(data, limits=Limits(call_seconds=call_seconds)) as server:
        os.environ["BENCH_SECRET"] = server.client_secret
        config = MarketoDestinationConfig(name="bench", audiences=[AUDIENCE], munchkin_id=server.munchkin_id,
                                          endpoint=server.endpoint, client_id=server.client_id,
                                          client_secret="env:BENCH_SECRET", folder_id=1)
        destination = open_destination(config, Path("."), "bench", "prod")
        minimum = 2 * math.ceil(members / 300)  # lookups and list adds
        yield Setup(destination, lambda: destination.client.stats.calls,
                    lambda: sum(len(v) for v in server.data.list_members.values()), minimum,
                    20.0 * ((minimum - 1) // 100))


@contextmanager
def linkedin(members: int, call_seconds: float) -> Iterator[Setup]:
    from accord.connectors.linkedin.config import LinkedInDestinationConfig
    from accord.connectors.linkedin.destination import open_destination
    from accord.connectors.linkedin.server import Limits, LinkedInServer

    with LinkedInServer(Limits(build_seconds=0.01)) as server:
        server.answer_late(times=10**9, seconds=call_seconds)
        os.environ["BENCH_SECRET"] = server.token
        config = LinkedInDestinationConfig(name="bench", audiences=[AUDIENCE], endpoint=server.endpoint,
                                           ad_account="urn:li:sponsoredAccount:507", access_token="env:BENCH_SECRET",
                                           settle_seconds=0.01)
        minimum = math.ceil(members / 5000)
        yield Setup(open_destination(config, Path("."), "bench", "prod"), lambda: len(server.calls),
                    lambda: sum(len(s.users) for s in server.segments.values()), minimum,
                    60.0 * ((minimum - 1) // config.calls_per_minute) + minimum * call_seconds)


@contextmanager
def google_ads(members: int, call_seconds: float) -> Iterator[Setup]:
    from accord.connectors.google_ads.config import GoogleAdsDestinationConfig
    from accord.connectors.google_ads.destination import PER_JOB, open_destination
    from accord.connectors.google_ads.server import GoogleAdsServer

    with GoogleAdsServer(run_seconds=0.02) as server:
        server.answer_late(times=10**9, seconds=call_seconds)
        os.environ.update(BENCH_SECRET=server.token, BENCH_DEVELOPER=server.developer_token)
        config = GoogleAdsDestinationConfig(name="bench", audiences=[AUDIENCE], endpoint=server.endpoint,
                                            customer_id=server.customer_id, access_token="env:BENCH_SECRET",
                                            developer_token="env:BENCH_DEVELOPER", poll_seconds=0.02)
        jobs = math.ceil(members / PER_JOB)
        yield Setup(open_destination(config, Path("."), "bench", "prod"), lambda: len(server.bodies),
                    lambda: sum(len(u["members"]) for u in server.user_lists.values()), 4 * jobs,
                    jobs * (4 * call_seconds + server.run_seconds))


@contextmanager
def salesforce(members: int, call_seconds: float) -> Iterator[Setup]:
    from accord.connectors.salesforce.config import SalesforceDestinationConfig
    from accord.connectors.salesforce.data import SalesforceData
    from accord.connectors.salesforce.destination import BATCH, open_destination
    from accord.connectors.salesforce.server import SalesforceServer

    contacts = [{"Id": contact_id(i), "Email": email(i), "LastName": f"Number {i}", "IsDeleted": "false",
                 "SystemModstamp": "2026-01-01T00:00:00.000+0000"} for i in range(members)]
    data = SalesforceData({"Contact": contacts, "Lead": [], "Campaign": [], "CampaignMember": [],
                           "CampaignMemberStatus": []})
    with SalesforceServer(data, api_limit=10**9) as server:
        server.answer_late(times=10**9, seconds=call_seconds)
        os.environ["BENCH_SECRET"] = server.client_secret
        config = SalesforceDestinationConfig(name="bench", audiences=[AUDIENCE], org_id="00D5e0000012345EAA",
                                             instance_url=server.endpoint, client_id=server.client_id,
                                             client_secret="env:BENCH_SECRET")
        destination = open_destination(config, Path("."), "bench", "prod")
        batches = math.ceil(members / BATCH)
        yield Setup(destination, lambda: destination.client.stats.calls,
                    lambda: sum(1 for r in server.data.records["CampaignMember"] if r["IsDeleted"] != "true"),
                    2 * batches, math.ceil(batches / config.max_concurrent) * 2 * call_seconds)


@contextmanager
def hubspot(members: int, call_seconds: float) -> Iterator[Setup]:
    from datetime import datetime, timezone

    from accord.connectors.hubspot.config import HubSpotDestinationConfig
    from accord.connectors.hubspot.destination import open_destination
    from accord.connectors.hubspot.server import HubSpotServer

    with HubSpotServer(call_seconds=call_seconds) as server:
        for i in range(members):
            server.put("contacts", 1000 + i, datetime(2026, 1, 1, tzinfo=timezone.utc), email=email(i))
        os.environ["BENCH_SECRET"] = server.token
        config = HubSpotDestinationConfig(name="bench", audiences=[AUDIENCE], portal_id=server.portal_id,
                                          access_token="env:BENCH_SECRET", url=server.endpoint,
                                          calls_per_ten_seconds=190)
        destination = open_destination(config, Path("."), "bench", "prod")
        minimum = 2 * math.ceil(members / 100)  # lookups and list adds
        yield Setup(destination, lambda: destination.client.calls,
                    lambda: sum(len(held["members"]) for held in server.lists.values()), minimum,
                    10.0 * ((minimum - 1) // 190))


@contextmanager
def meta_ads(members: int, call_seconds: float) -> Iterator[Setup]:
    from accord.connectors.meta_ads.config import MetaAdsDestinationConfig
    from accord.connectors.meta_ads.destination import open_destination
    from accord.connectors.meta_ads.server import MetaAdsServer

    with MetaAdsServer(call_seconds=call_seconds) as server:
        os.environ["BENCH_SECRET"] = server.token
        config = MetaAdsDestinationConfig(name="bench", audiences=[AUDIENCE], ad_account=server.ad_account,
                                          access_token="env:BENCH_SECRET", endpoint=server.endpoint)
        destination = open_destination(config, Path("."), "bench", "prod")
        minimum = math.ceil(members / 10_000)
        yield Setup(destination, lambda: destination.client.calls,
                    lambda: sum(len(a.users) for a in server.audiences.values()), minimum,
                    60.0 * ((minimum - 1) // 60))


@contextmanager
def dynamics(members: int, call_seconds: float) -> Iterator[Setup]:
    import uuid
    from datetime import datetime, timezone

    from accord.connectors.dynamics.config import DynamicsDestinationConfig
    from accord.connectors.dynamics.destination import open_destination
    from accord.connectors.dynamics.server import DynamicsServer

    with DynamicsServer(call_seconds=call_seconds) as server:
        for i in range(members):
            server.put("contact", str(uuid.UUID(int=i)), datetime(2026, 1, 1, tzinfo=timezone.utc),
                       emailaddress1=email(i))
        os.environ["BENCH_SECRET"] = server.secret
        config = DynamicsDestinationConfig(name="bench", audiences=[AUDIENCE], url=server.endpoint,
                                           login_url=server.endpoint, organization_id=server.organization_id,
                                           tenant_id=server.tenant_id, client_id=server.client_id,
                                           client_secret="env:BENCH_SECRET")
        destination = open_destination(config, Path("."), "bench", "prod")
        minimum = 2 * math.ceil(members / 200)  # lookups and list adds
        yield Setup(destination, lambda: destination.client.calls,
                    lambda: sum(len(held["members"]) for held in server.lists.values()), minimum,
                    300.0 * ((minimum - 1) // 6000))


SETUPS = {"marketo": marketo, "dynamics": dynamics, "hubspot": hubspot, "meta_ads": meta_ads, "linkedin": linkedin,
          "google_ads": google_ads, "salesforce": salesforce}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--destination", choices=sorted(SETUPS), default="marketo")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--call-ms", type=float, default=300, help="how long the stand-in takes to answer a call")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accord-activation-bench-"))
    try:
        build_lake(folder / "accord.duckdb", args.members)
        with SETUPS[args.destination](args.members, args.call_ms / 1000) as setup, \
                Lake(folder / "accord.duckdb") as lake:
            fields = ["email", "phone", "first_name", "last_name", "company_name"]

            def run() -> tuple[DeliveryReport, float, int]:
                calls, started = setup.calls(), time.perf_counter()
                done = DeliverySync(lake, "bench", setup.destination, fields, SyncPolicy()).run([AUDIENCE])
                return done, time.perf_counter() - started, setup.calls() - calls

            report, seconds, first_calls = run()
            held = setup.held()
            _, unchanged, _ = run()
            lake.execute("UPDATE person_profile SET email = 'moved.' || email WHERE hash(person_id) % 100 = 0")
            moved, moving, moving_calls = run()
            held_after = setup.held()
        print(f"{args.destination}: {report.total('activated'):,} activated ({held:,} held), "
              f"{report.total('failed')} failed")
        print(f"calls: {first_calls:,} (minimum {setup.minimum:,}; beyond it: finding or creating the list, "
              "segment or campaign)")
        print(f"time: {seconds:.1f} s; floor the limits set for the minimum: {setup.floor:.1f} s "
              f"({seconds / setup.floor:.2f}×)" if setup.floor else f"time: {seconds:.1f} s")
        print(f"again, nothing changed: {unchanged:.2f} s")
        print(f"after 1 % changed their e-mail: {moved.total('updated'):,} updated, {moved.total('removed'):,} "
              f"removed (nothing matches the new address), {moved.total('failed')} failed; {moving_calls:,} calls, "
              f"{moving:.1f} s; {held_after:,} held")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
