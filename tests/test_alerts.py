"""Alerts: a failing delivery, dead letters, a failing source, a jump in an audience's size and a failing stage
each fire once; a new alert arrives at a local SMTP server and a local webhook, is shown on Home and by
`accord alerts list`, and one that could not be sent is sent at the next check."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accord.activation.run import deliver
from accord.alerts.check import check
from accord.alerts.config import AlertRules
from accord.alerts.rules import firing
from accord.api.app import create_app
from accord.api.keys import create_key
from accord.cli import app
from accord.pipeline.runs import SOURCE_STAGE, next_run_id, record
from accord.testing.http import Answer, LocalServer
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace

AUDIENCE = "Webinar attendees"


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class Hook(LocalServer):
    """A Slack-style incoming webhook."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        self.posts.append(json.loads(body))
        return 200, {"Content-Type": "text/plain"}, b"ok"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALERTS_HOOK_SECRET", "s3cret")
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    with Hook() as hook:
        yield inbox, port, hook, smtp
    smtp.stop()


def alerting_workspace(tmp_path: Path, evaluated_lake: Path, smtp_port: int, hook_url: str) -> Workspace:
    """A workspace whose webhook destination answers nothing (a closed port), with alerts to both channels."""
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "webhook", "name": "crm-hook", "url": f"http://127.0.0.1:{free_port()}/hook",
         "secret": "env:ALERTS_HOOK_SECRET", "audiences": [AUDIENCE], "max_attempts": 1, "timeout_seconds": 1}])
    return with_alerts(ws, smtp_port, hook_url)


def with_alerts(ws: Workspace, smtp_port: int, hook_url: str) -> Workspace:
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["alerts"] = {"email": {"host": "127.0.0.1", "port": smtp_port, "sender": "accord@acme.example",
                                  "to": ["ops@acme.example"], "starttls": False},
                        "webhook": {"url": hook_url}}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    return Workspace.load(ws.root)


def test_a_failing_delivery_alerts_once_by_email_and_webhook_and_shows_on_home(
        tmp_path: Path, evaluated_lake: Path, channels) -> None:
    inbox, port, hook, _ = channels
    ws = alerting_workspace(tmp_path, evaluated_lake, port, f"{hook.endpoint}/slack")
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0], sleep=lambda _: None)
    assert report.unreachable, "the destination cannot be reached"
    runner, w = CliRunner(), ["-w", str(ws.root)]
    first = runner.invoke(app, ["alerts", "check", *w])
    assert first.exit_code == 0, first.output
    assert "sent 1 new alert(s) by email and webhook" in first.output
    assert len(inbox.messages) == 1 and len(hook.posts) == 1
    mail = inbox.messages[0]
    assert mail["To"] == "ops@acme.example" and "1 alert(s)" in mail["Subject"]
    assert f"delivery run {report.run_id} to crm-hook failed" in mail.get_payload()
    assert f"delivery run {report.run_id} to crm-hook failed" in hook.posts[0]["text"]

    again = runner.invoke(app, ["alerts", "check", *w])
    assert again.exit_code == 0 and "sent" not in again.output, "an open alert is sent once"
    assert len(inbox.messages) == 1 and len(hook.posts) == 1
    listed = runner.invoke(app, ["alerts", "list", *w], env={"COLUMNS": "200"})
    assert "delivery_failed" in listed.output and "crm-hook" in listed.output
    with ws.lake() as lake:
        key = create_key(lake, "api", "home").secret
    client = TestClient(create_app(ws))
    client.post("/login", data={"key": key, "next": "/"})
    assert "crm-hook failed" in client.get("/").text
    assert "crm-hook" in json.dumps(client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {key}"}).json())


def test_an_alert_that_could_not_be_sent_is_sent_at_the_next_check(tmp_path: Path, evaluated_lake: Path,
                                                                     channels) -> None:
    """On the channel that failed only: the webhook was posted the same alert at every check (every minute under
    serve) for as long as the e-mail server was down."""
    inbox, port, hook, _ = channels
    ws = alerting_workspace(tmp_path, evaluated_lake, free_port(), f"{hook.endpoint}/slack")  # no SMTP server there
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0], sleep=lambda _: None)
    refused = CliRunner().invoke(app, ["alerts", "check", "-w", str(ws.root)])
    assert refused.exit_code == 1 and "could not be sent" in refused.output and "Traceback" not in refused.output
    assert len(hook.posts) == 1, "the other channel was still tried"
    fixed = with_alerts(ws, port, f"{hook.endpoint}/slack")  # the SMTP server it names is listening now
    with fixed.lake() as lake:
        later = check(fixed, lake)
        again = check(fixed, lake)
    assert later.error is None and len(later.sent) == 1 and len(inbox.messages) == 1 and later.channels == ["email"]
    assert len(hook.posts) == 1, "the channel that took it is not sent it again"
    assert again.sent == [] and len(inbox.messages) == 1


def test_accord_alerts_test_sends_a_made_up_alert_and_says_when_nothing_is_configured(
        tmp_path: Path, evaluated_lake: Path, channels) -> None:
    inbox, port, hook, _ = channels
    ws = alerting_workspace(tmp_path, evaluated_lake, port, f"{hook.endpoint}/slack")
    sent = CliRunner().invoke(app, ["alerts", "test", "-w", str(ws.root)])
    assert sent.exit_code == 0 and "by email and webhook" in sent.output
    assert "a test alert" in inbox.messages[0].get_payload() and "a test alert" in hook.posts[0]["text"]
    bare = evaluated_workspace(tmp_path / "bare", evaluated_lake)
    nothing = CliRunner().invoke(app, ["alerts", "test", "-w", str(bare.root)])
    assert nothing.exit_code == 1 and "no alert channel is configured" in nothing.output


def test_each_rule_fires_on_its_condition(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "exports", "url": "exports", "audiences": [AUDIENCE]}])
    now = datetime.now(timezone.utc)
    rules = AlertRules(dead_letters_over=2, source_stale_minutes=60, audience_size_change_percent=30,
                       audience_size_change_minimum=1)
    with ws.lake() as lake:
        assert not [a for a in firing(ws, lake, rules, now) if a.rule != "audience_size_change"]
        started = now - timedelta(hours=3)
        record(lake, [
            {"run_id": next_run_id(lake), "stage": f"{SOURCE_STAGE}marketo-eu", "trigger": "sync",
             "started_at": started, "finished_at": started, "rows_in": 3, "rows_out": 10, "error": None},
            {"run_id": next_run_id(lake), "stage": f"{SOURCE_STAGE}salesforce", "trigger": "sync",
             "started_at": now, "finished_at": now, "rows_in": 1, "rows_out": 0, "error": "ConnectorError: 401"},
            {"run_id": next_run_id(lake), "stage": "identity", "trigger": "run", "started_at": now,
             "finished_at": now, "rows_in": 0, "rows_out": 0, "error": "OutOfMemoryException"}])
        members = [r[0] for r in lake.execute("SELECT profile_id FROM audience_membership WHERE audience = ? "
                                              "LIMIT 3", [AUDIENCE]).fetchall()]
        for profile in members:
            lake.execute("INSERT INTO delivery_dead_letters (destination, audience, profile_id, change, error, "
                         "attempts, failed_at, run_id) VALUES ('exports', ?, ?, 'add', 'refused', 3, ?, 1)",
                         [AUDIENCE, profile, now])
        found = {a.rule: a.message for a in firing(ws, lake, rules, now)}
    assert "has not synced since" in found["source_stale"] and "marketo-eu" in found["source_stale"]
    assert "salesforce failed to sync: ConnectorError: 401" in found["source_failing"]
    assert "identity stage failed" in found["stage_failing"]
    assert "exports holds 3 dead letter(s)" in found["dead_letters"]
