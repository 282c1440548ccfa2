"""Identity after a small batch on a large lake: what each stage of an incremental run costs.

    python bench/incremental_identity.py [--workspace bench/out/web-medium] [--records 50] [--repeat 3]

Copies the workspace (the medium demo workspace `bench/web_pages.py` builds, by default), then `--repeat` times
ingests a batch of `--records` Marketo leads (half of them updates of existing leads, half new leads at existing
accounts' domains) and times the incremental identity run stage by stage; then one full run for comparison.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from accord.engines.registry import lake_engine
from accord.identity.accounts import link_people_to_accounts
from accord.identity.resolve import resolve
from accord.identity.run import _people_to_relink
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.profiles.build import build_profiles
from accord.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path(__file__).parent / "out" / "web-medium")
    parser.add_argument("--records", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accord-incremental-")) / "ws"
    shutil.copytree(args.workspace, folder)
    ws = Workspace.load(folder)
    config = ws.config.identity
    with ws.lake() as lake:
        engine = lake_engine(lake)
        people = lake.scalar("SELECT count(*) FROM person")
        print(f"{args.workspace}: {people:,} person records, {lake.scalar('SELECT count(*) FROM person_profile'):,} "
              f"profiles, {lake.scalar('SELECT count(*) FROM identity_nodes'):,} identity nodes")
        for round_ in range(args.repeat):
            small_batch(lake, args.records, round_)
            stages: dict[str, float] = {}
            started = time.perf_counter()
            covered = lake.scalar("SELECT max(last_batch_id) FROM identity_runs WHERE kind = 'person'")
            persons = timed(stages, "stitch people", lambda: resolve(lake, "person", config, engine))
            accounts = timed(stages, "stitch accounts", lambda: resolve(lake, "account", config, engine))
            relink = _people_to_relink(lake, persons, accounts, covered)
            timed(stages, "person→account links", lambda: link_people_to_accounts(lake, config, relink, engine))
            timed(stages, "profiles", lambda: build_profiles(
                lake, config, {"person": persons.touched, "account": accounts.touched}, engine))
            total = time.perf_counter() - started
            print(f"batch of {args.records}: incremental run {total:.2f} s (" +
                  ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()) + f"; {len(persons.touched or [])} people touched)")
        started = time.perf_counter()
        from accord.pipeline import run_identity

        run_identity(lake, config, full=True)
        print(f"full run for comparison: {time.perf_counter() - started:.2f} s")
    shutil.rmtree(folder.parent)


def small_batch(lake: Lake, records: int, round_: int) -> None:
    """Half updates of existing Marketo leads, half new leads with e-mails at existing accounts' domains."""
    old = lake.query(f"SELECT * FROM person_current WHERE source_type = 'Marketo' "
                     f"ORDER BY source_id LIMIT {records // 2} OFFSET {round_ * records}")
    domains = [r["value"] for r in lake.query(
        f"SELECT value FROM identity_nodes WHERE kind = 'account' AND namespace = 'domain' ORDER BY value "
        f"LIMIT {records - len(old)} OFFSET {round_ * records}")]
    stamp = f"2026-12-0{round_ + 1}T00:00:00Z"
    rows = [r | {"job_title": f"Changed {round_}", "source_updated_at": stamp} for r in old]
    rows += [{"source_id": f"new-{round_}-{i}", "email": f"new.person{i}@{d}", "person_type": "lead",
              "source_updated_at": stamp} for i, d in enumerate(domains)]
    ingest_records(lake, "person", rows, source_type="Marketo", source_instance_id="123-ABC-456",
                   source_name="bench", fingerprint=f"incremental-bench-{round_}-{time.time()}")


def timed(stages: dict[str, float], name: str, step):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = step()
    stages[name] = time.perf_counter() - started
    return result


if __name__ == "__main__":
    main()
