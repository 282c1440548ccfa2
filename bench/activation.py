"""Activation benchmark: a 100k-member audience to Marketo static lists on the local Marketo server, limits on.

    python bench/activation.py [--members 100000] [--call-ms 300]

Builds a lake whose audience has N members (profiles with e-mails) and a Marketo instance holding a lead for
each, then runs the Marketo destination once with Marketo's limits (100 calls in any 20 s, 10 in flight) enforced
by the server, each call taking `--call-ms` to answer as a real instance does. Prints the calls made against the
minimum possible (e-mail lookups and list adds at 300 a call) and the time against the floor the rate limit sets
for that minimum (the window slides: call n can start no sooner than 20 s × ((n - 1) // 100) after the first).
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.activation.sync import DeliverySync, SyncPolicy
from accord.connectors.marketo.client import MarketoClient
from accord.connectors.marketo.config import MarketoDestinationConfig
from accord.connectors.marketo.data import MarketoData
from accord.connectors.marketo.destination import MarketoDestination
from accord.connectors.marketo.server import Limits, MarketoServer
from accord.lake.store import Lake

AUDIENCE = "Bench audience"


def build_lake(path: Path, members: int) -> None:
    with Lake(path) as lake:
        lake.execute(
            "CREATE TABLE person_profile AS SELECT 'P' || lpad(i::VARCHAR, 8, '0') AS person_id, "
            "'lead' || i || '@company' || (i % 5000) || '.com' AS email, NULL::VARCHAR AS marketing_consent, "
            "FALSE AS email_opt_out FROM range(?) t(i)", [members])
        lake.execute("INSERT INTO audiences VALUES (?, 'person', 'bench', 'batch', 'bench', 1, now(), ?)",
                     [AUDIENCE, members])
        lake.execute("INSERT INTO audience_membership SELECT ?, person_id, 'realized', now(), NULL, now() "
                     "FROM person_profile", [AUDIENCE])


def build_marketo(members: int) -> MarketoData:
    n = np.arange(members)
    i = pa.array(n).cast(pa.string())
    ids = pa.array(n + 1000).cast(pa.string())
    email = pc.binary_join_element_wise("lead", i, "@company", pa.array(n % 5000).cast(pa.string()), ".com", "")
    leads = pa.table({"id": ids, "email": email, "createdAt": pa.array(["2026-01-01T00:00:00Z"] * members),
                      "updatedAt": pa.array(["2026-01-01T00:00:00Z"] * members)})
    activities = pa.table({c: pa.array([], pa.string()) for c in (
        "marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId", "primaryAttributeValueId",
        "primaryAttributeValue", "attributes")})
    return MarketoData(leads, activities, [], None, [], {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--call-ms", type=float, default=300, help="how long the server takes to answer a call")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accord-activation-bench-"))
    try:
        build_lake(folder / "accord.duckdb", args.members)
        limits = Limits(call_seconds=args.call_ms / 1000)
        with MarketoServer(build_marketo(args.members), limits=limits) as server, Lake(folder / "accord.duckdb") as lake:
            config = MarketoDestinationConfig(name="bench", audiences=[AUDIENCE], munchkin_id=server.munchkin_id,
                                              endpoint=server.endpoint, client_id=server.client_id,
                                              client_secret="env:UNUSED", folder_id=1)
            client = MarketoClient(server.endpoint, server.client_id, server.client_secret)
            destination = MarketoDestination(config, client, "bench")
            started = time.perf_counter()
            report = DeliverySync(lake, "bench", destination, ["email"], SyncPolicy()).run([AUDIENCE])
            seconds = time.perf_counter() - started
            on_list = sum(len(v) for v in server.data.list_members.values())
        batches = math.ceil(args.members / 300)
        minimum = 2 * batches
        floor = 20.0 * ((minimum - 1) // 100)
        print(f"{report.total('activated'):,} activated ({on_list:,} on the list), {report.total('failed')} failed, "
              f"lead writes: {len(server.lead_writes)}")
        print(f"calls: {client.stats.calls:,} (minimum {minimum:,}: {batches:,} lookups + {batches:,} adds; beyond it: "
              f"finding and creating the list); errors answered: {server.errors_sent or 'none'}")
        print(f"time: {seconds:.1f} s; rate-limit floor for the minimum: {floor:.1f} s ({seconds / floor:.2f}×)"
              if floor else f"time: {seconds:.1f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
