"""The alert rules: each reads the lake's record (delivery runs, dead letters, stage runs, audience history) and
names what is wrong now, under a key that stays the same while it stays wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from accord.activation.deliveries import dead_letter_count, list_runs
from accord.activation.reach import unusable
from accord.activation.run import reading
from accord.alerts.config import AlertRules
from accord.audiences.memberships import last_changes
from accord.lake.store import Lake
from accord.pipeline.runs import SOURCE_STAGE, latest
from accord.workspace import Workspace


@dataclass(frozen=True)
class Alert:
    key: str
    """Stable while the condition holds: an alert is sent once, when its key first appears."""
    rule: str
    message: str


def firing(ws: Workspace, lake: Lake, rules: AlertRules, now: datetime) -> list[Alert]:
    """Every alert whose condition holds now."""
    found: list[Alert] = []
    if rules.delivery_failed or rules.dead_letters_over is not None:
        found += _deliveries(ws, lake, rules)
    paused = {s.name for s in ws.config.sources if s.paused}
    for stage in latest(lake):
        name = str(stage["stage"])
        if name.startswith(SOURCE_STAGE):
            if name[len(SOURCE_STAGE):] not in paused:
                found += _source(name[len(SOURCE_STAGE):], stage, rules, now)
        elif rules.stage_failing and stage["error"]:
            found.append(Alert(f"stage_failing:{name}", "stage_failing",
                               f"the {name} stage failed (run {stage['run_id']}): {stage['error']}"))
    if rules.audience_size_change_percent is not None:
        found += _audience_sizes(lake, rules)
    if rules.platform_unusable:
        found += [Alert(f"platform_unusable:{r['destination']}:{r['audience']}:{r['state']}", "platform_unusable",
                        f"{r['destination']} will not serve ads on audience {r['audience']}: {r['note'] or r['state']}")
                  for r in unusable(lake, [c.name for c in reading(ws, lake.sandbox) if not c.paused])]
    return found


def _deliveries(ws: Workspace, lake: Lake, rules: AlertRules) -> list[Alert]:
    out = []
    for config in (c for c in reading(ws, lake.sandbox) if not c.paused):
        runs = list_runs(lake, config.name, 1)
        run = runs[0] if runs else None
        if rules.delivery_failed and run and (run["status"] in ("failed", "retrying") or run["failed"]):
            why = (run["error"] or (f"{run['failed']} change(s) failed" if run["failed"] else
                                    "the destination was unreachable or throttling; its changes wait for the next run"))
            out.append(Alert(f"delivery_failed:{config.name}:{run['run_id']}", "delivery_failed",
                             f"delivery run {run['run_id']} to {config.name} failed: {why}"))
        dead = dead_letter_count(lake, config.name)
        if rules.dead_letters_over is not None and dead > rules.dead_letters_over:
            out.append(Alert(f"dead_letters:{config.name}", "dead_letters",
                             f"{config.name} holds {dead} dead letter(s): `accord deliveries retry {config.name}` "
                             "sends them again"))
    return out


def _source(name: str, stage: dict, rules: AlertRules, now: datetime) -> list[Alert]:
    if rules.source_failing and stage["error"]:
        return [Alert(f"source_failing:{name}", "source_failing", f"source {name} failed to sync: {stage['error']}")]
    limit = rules.source_stale_minutes
    finished = stage["finished_at"]
    if limit is not None and finished is not None and now - finished > timedelta(minutes=limit):
        return [Alert(f"source_stale:{name}", "source_stale",
                      f"source {name} has not synced since {finished:%Y-%m-%d %H:%M} UTC")]
    return []


def _audience_sizes(lake: Lake, rules: AlertRules) -> list[Alert]:
    """Each audience's last evaluation against the size it had before it."""
    rows = last_changes(lake)
    out = []
    for row in rows:
        before = int(row["size"] or 0) - int(row["entered"]) + int(row["exited"])
        change = abs(int(row["entered"]) - int(row["exited"])) * 100 / max(before, 1)
        if before >= rules.audience_size_change_minimum and change > (rules.audience_size_change_percent or 0):
            out.append(Alert(f"audience_size:{row['name']}:{row['run_id']}", "audience_size_change",
                             f"audience {row['name']} went from {before:,} to {int(row['size'] or 0):,} members "
                             f"({change:.0f} %) in run {row['run_id']}"))
    return out
