"""One check: which rules fire, which alerts are new, and sending those (`accord alerts check`, `serve`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from accord.alerts import store
from accord.alerts.notify import NotifyError, channels, send
from accord.alerts.rules import Alert, firing
from accord.lake.store import Lake
from accord.workspace import Workspace


@dataclass
class CheckReport:
    firing: list[Alert] = field(default_factory=list)
    sent: list[Alert] = field(default_factory=list)
    """Alerts that went by at least one channel in this check."""
    channels: list[str] = field(default_factory=list)
    error: str | None = None
    """Why sending failed (the alerts are tried again at the next check, on the channels that failed only)."""


def check(ws: Workspace, lake: Lake, now: datetime | None = None) -> CheckReport:
    config = ws.config.alerts
    at = now or datetime.now(timezone.utc)
    report = CheckReport(firing(ws, lake, config.rules, at))
    due = store.update(lake, report.firing, at)
    wanted = channels(config)
    if not due or not wanted:
        return report
    taken = store.taken_by(lake, [a.key for a in due])
    sent: dict[str, Alert] = {}
    failures = []
    for channel in wanted:  # one at a time: a channel that fails must not make the others send an alert again
        pending = [a for a in due if channel not in taken[a.key]]
        if not pending:
            continue
        try:
            send(config, ws.root, ws.config.name, pending, on=[channel])
        except NotifyError as err:
            failures.append(str(err))
            continue
        store.mark_taken(lake, [a.key for a in pending], channel)
        report.channels.append(channel)
        for alert in pending:
            taken[alert.key].add(channel)
            sent[alert.key] = alert
    report.sent = list(sent.values())
    done = [a.key for a in due if taken[a.key] >= set(wanted)]
    store.mark_sent(lake, done, at, None)
    if failures:
        report.error = "; ".join(failures)
        store.mark_sent(lake, [a.key for a in due if a.key not in done], None, report.error)
    return report


def send_test_alert(ws: Workspace) -> list[str]:
    """Send one made-up alert on every channel (`accord alerts test`); NotifyError when one fails."""
    config = ws.config.alerts
    if not channels(config):
        raise NotifyError("no alert channel is configured: add alerts.email or alerts.webhook to accord.yaml")
    return send(config, ws.root, ws.config.name, [Alert("test", "test", "a test alert from `accord alerts test`")])
