"""The `alert_history` table (this module owns it): which alerts are open, since when, and whether they were sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accord.alerts.rules import Alert
from accord.lake.store import Lake


def update(lake: Lake, now_firing: list[Alert], at: datetime) -> list[Alert]:
    """Open the alerts that are new, refresh those still firing, resolve those that stopped; returns the new ones
    and those whose sending failed before (to be sent)."""
    keys = [a.key for a in now_firing]
    with lake.transaction():
        known = {r[0]: r[1] for r in lake.execute(
            "SELECT alert_key, sent_at IS NOT NULL FROM alert_history WHERE resolved_at IS NULL").fetchall()}
        lake.execute("UPDATE alert_history SET resolved_at = ? WHERE resolved_at IS NULL AND NOT list_contains(?, alert_key)",
                     [at, keys])
        for alert in now_firing:
            if alert.key in known:
                lake.execute("UPDATE alert_history SET last_seen = ?, message = ? WHERE alert_key = ?",
                             [at, alert.message, alert.key])
            else:
                lake.execute("DELETE FROM alert_history WHERE alert_key = ?", [alert.key])  # fired again after resolving
                lake.execute("INSERT INTO alert_history (alert_key, rule, message, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)",
                             [alert.key, alert.rule, alert.message, at, at])
    return [a for a in now_firing if not known.get(a.key)]


def taken_by(lake: Lake, keys: list[str]) -> dict[str, set[str]]:
    """The channels each of these alerts already went by."""
    rows = lake.execute("SELECT alert_key, coalesce(sent_on, []) FROM alert_history WHERE list_contains(?, alert_key)",
                        [keys]).fetchall()
    return {key: set(channels) for key, channels in rows}


def mark_taken(lake: Lake, keys: list[str], channel: str) -> None:
    """These alerts went by `channel`: it is not sent them again."""
    lake.execute("UPDATE alert_history SET sent_on = list_distinct(list_append(coalesce(sent_on, []), ?)) "
                 "WHERE list_contains(?, alert_key)", [channel, keys])


def mark_sent(lake: Lake, keys: list[str], at: datetime | None, error: str | None) -> None:
    """Record the outcome of sending these alerts (`at` None: not sent on every channel, kept to try again)."""
    lake.execute("UPDATE alert_history SET sent_at = ?, send_error = ? WHERE list_contains(?, alert_key)", [at, error, keys])


def open_alerts(lake: Lake, include_resolved: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    where = "" if include_resolved else "WHERE resolved_at IS NULL"
    return lake.query(f"SELECT * FROM alert_history {where} ORDER BY first_seen DESC LIMIT {int(limit)}")
