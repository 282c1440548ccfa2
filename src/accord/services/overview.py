"""What a workspace looks like at a glance: counts, recent runs, failures, destinations and sources."""

from __future__ import annotations

from typing import Any

from accord.activation.deliveries import dead_letter_count, list_runs
from accord.activation.reach import readings
from accord.activation.run import reading
from accord.alerts.store import open_alerts
from accord.lake.store import Lake
from accord.pipeline.runs import latest
from accord.sources.collector import loaded_offset
from accord.sources.collector_log import LogState, log_folder, log_state
from accord.sources.state import SourceState
from accord.workspace import Workspace

COUNTED = {"people": "person_profile", "accounts": "account_profile", "opportunities": "opportunity_current",
           "events": "event_current"}


def overview(ws: Workspace, lake: Lake) -> dict[str, Any]:
    """Counts of the main things, the latest runs of each stage, and anything failing now."""
    tables = {r[0] for r in lake.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    counts = {name: int(lake.scalar(f"SELECT count(*) FROM {table}")) if table in tables else 0
              for name, table in COUNTED.items()}
    counts["audiences"] = len(list(ws.audiences_dir(lake.sandbox).glob("*.aud")))
    counts["destinations"] = len(reading(ws, lake.sandbox))
    failing = [{"what": f"delivery run {r['run_id']} to {r['destination']}", "detail": r["error"] or
                f"{r['failed']} change(s) failed"} for r in list_runs(lake, limit=20) if r["failed"] or r["error"]]
    dead = dead_letter_count(lake)
    if dead:
        failing.append({"what": "dead letters", "detail": f"{dead} change(s) wait for `accord deliveries retry`"})
    quarantined = int(lake.scalar("SELECT count(*) FROM quarantine"))
    if quarantined:
        failing.append({"what": "quarantine", "detail": f"{quarantined} record(s) did not load"})
    failing += [{"what": f"the {s['stage']} stage", "detail": s["error"]} for s in latest(lake) if s["error"]]
    return {
        "workspace": ws.config.name,
        "counts": counts,
        "batches": lake.batches(5),
        "audience_runs": lake.query("SELECT * FROM audience_runs ORDER BY run_id DESC LIMIT 5"),
        "deliveries": list_runs(lake, limit=5),
        "stages": latest(lake),
        "failing": failing,
        "alerts": open_alerts(lake, limit=20),
    }


def destinations(ws: Workspace, lake: Lake) -> list[dict[str, Any]]:
    """Each destination's settings (secrets only as their references), its last runs, and the audiences an ad
    platform said last it will not serve ads on (`not_served`; None for a destination never read)."""
    out = []
    for config in reading(ws, lake.sandbox):
        runs = list_runs(lake, config.name, 10)
        dead = dead_letter_count(lake, config.name)
        read = readings(lake, [config.name])
        out.append({"name": config.name, "type": config.type, "audiences": config.audiences,
                    "schedule": config.schedule, "runs": runs, "dead_letters": dead,
                    "not_served": [r["audience"] for r in read if r["usable"] is False] if read else None,
                    "settings": config.model_dump(mode="json")})
    return out


def collector_log(ws: Workspace, lake: Lake) -> LogState:
    """What the sandbox's collector log holds, and how far the store has loaded it."""
    return log_state(log_folder(ws, lake.sandbox), loaded_offset(lake))


def sources(ws: Workspace, lake: Lake) -> list[dict[str, Any]]:
    out = []
    for source in ws.config.sources:
        state = SourceState(lake, source.state_key)
        out.append({"name": source.name, "type": source.type, "instance": source.instance_id,
                    "sandboxes": source.sandboxes, "synced_up_to": state.synced_up_to(),
                    "backfill_completed_at": state.get("backfill", "completed_at")})
    return out
