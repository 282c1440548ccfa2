"""The Mixpanel source against a local raw event export: `accord sync mixpanel` reads a project's events range by
range of days, reads the last days again at every sync (late events arrive), loads each event once, and names what
it cannot do in one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from accord.cli import app
from accord.connectors import export_source
from accord.connectors.mixpanel.server import MixpanelServer
from accord.workspace import Workspace
from tests.conftest import workspace_reading

T = datetime(2026, 10, 5, 12, 34, tzinfo=timezone.utc)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=timezone.utc)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MixpanelServer, Path]]:
    """A workspace whose source `mp` reads a local Mixpanel project: ten days of history, a week a call."""
    with MixpanelServer() as server:
        server.today = T.date()
        ws = workspace_reading(tmp_path / "ws", {
            "type": "mixpanel", "name": "mp", "project_id": server.project_id, "username": server.username,
            "secret": "file:mp.secret", "url": server.endpoint, "backfill_days": 10,
            "track_events": {"Demo Requested": "web.formfill"}}, server.secret)
        monkeypatch.setattr(export_source, "now", lambda: T)
        server.add(at(1), "$mp_web_page_view", distinct_id="$device:d1", **{
            "$device_id": "d1", "$insert_id": "i-1", "$current_url": "https://acme.com/pricing"})
        server.add(at(4), "Demo Requested", distinct_id="crm-42", **{"$device_id": "d1", "$user_id": "crm-42",
                                                                     "$insert_id": "i-2"})
        yield server, ws


def sync(ws: Path) -> str:
    done = CliRunner().invoke(app, ["sync", "mixpanel", "-w", str(ws)])
    assert done.exit_code == 0, done.output
    return " ".join(done.output.split())


def events(ws: Path) -> list[tuple[str, str, str]]:
    with Workspace.load(ws).lake() as lake:
        return lake.execute("SELECT source_id, event_type, person_key FROM event_current ORDER BY timestamp").fetchall()


def test_a_sync_reads_week_by_week_to_today_then_the_last_days_again(project) -> None:
    server, ws = project
    assert "mp → prod: sync, " in sync(ws)
    assert server.calls == [("2026-09-25", "2026-10-01"), ("2026-10-02", "2026-10-05")]
    assert events(ws) == [("i-1", "web.pageview", "anon:d1@3141592.Collector"),
                          ("i-2", "web.formfill", "crm-42@3141592.Collector")]
    server.add(at(4, 23), "Invoice Paid", distinct_id="crm-42", **{"$insert_id": "i-3"})  # sent late
    server.fail_next(429)
    sync(ws)
    assert server.calls[2:] == [("2026-10-04", "2026-10-05")], "yesterday and today again, after a 429"
    assert [e[0] for e in events(ws)] == ["i-1", "i-2", "i-3"]
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM event") == 3, "an event read again is no new version"


def test_a_refused_service_account_is_one_line_and_check_makes_one_call(project) -> None:
    server, ws = project
    (ws / "mp.secret").write_text("wrong")
    refused = CliRunner().invoke(app, ["sync", "mixpanel", "-w", str(ws)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "check the source's username, secret and project_id" in said
    assert "Traceback" not in said
    (ws / "mp.secret").write_text(server.secret)
    checked = CliRunner().invoke(app, ["sources", "check", "-w", str(ws)])
    assert checked.exit_code == 0 and "mp: ok" in checked.output and server.calls == [("2026-10-05", "2026-10-05")]


def test_an_older_projects_time_zone_moves_its_times_to_utc(project) -> None:
    """A project created before 2023 exports `time` in its project's time zone (`project_timezone`)."""
    server, ws = project
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["sources"][0]["project_timezone"] = "America/New_York"
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    sync(ws)
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT timestamp FROM event_current WHERE source_id = 'i-1'") == at(1, 14), \
            "10:00 on New York's clock is 14:00 UTC"
    config["sources"][0]["project_timezone"] = "New York"
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    refused = CliRunner().invoke(app, ["sync", "mixpanel", "-w", str(ws)])
    assert refused.exit_code == 1 and "no time zone 'New York'" in " ".join(refused.output.split())
