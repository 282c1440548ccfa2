"""One check: which rules fire, which alerts are new, and sending those (`accord alerts check`, `serve`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from accord.alerts import store
from accord.alerts.notify import NotifyError, send
from accord.alerts.rules import Alert, firing
from accord.lake.store import Lake
from accord.workspace import Workspace


@dataclass
class CheckReport:
    firing: list[Alert] = field(default_factory=list)
    sent: list[Alert] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    error: str | None = None
    """Why sending failed (the alerts stay unsent and are tried again at the next check)."""


def check(ws: Workspace, lake: Lake, now: datetime | None = None) -> CheckReport:
    config = ws.config.alerts
    at = now or datetime.now(timezone.utc)
    report = CheckReport(firing(ws, lake, config.rules, at))
    due = store.update(lake, report.firing, at)
    if not due or (config.email is None and config.webhook is None):
        return report
    try:
        report.channels = send(config, ws.root, ws.config.name, due)
        report.sent = due
        store.mark_sent(lake, [a.key for a in due], at, None)
    except NotifyError as err:
        report.error = str(err)
        store.mark_sent(lake, [a.key for a in due], None, report.error)
    return report


def send_test_alert(ws: Workspace) -> list[str]:
    """Send one made-up alert on every channel (`accord alerts test`); NotifyError when one fails."""
    config = ws.config.alerts
    if config.email is None and config.webhook is None:
        raise NotifyError("no alert channel is configured: add alerts.email or alerts.webhook to accord.yaml")
    return send(config, ws.root, ws.config.name, [Alert("test", "test", "a test alert from `accord alerts test`")])
