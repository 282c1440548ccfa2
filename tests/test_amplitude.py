"""The Amplitude source against a local Export API: `accord sync amplitude` reads a project's events range by range
of upload hours, each once, resumes where the last sync stopped, asks again in halves for a range Amplitude finds
too large, retries what it is told to, and names what it cannot do in one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.connectors import export_source
from accord.connectors.amplitude.server import AmplitudeServer
from accord.workspace import Workspace
from tests.conftest import sync_killed_when, workspace_reading

T = datetime(2026, 10, 5, 12, 34, tzinfo=timezone.utc)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=timezone.utc)


def reading(server: AmplitudeServer, ws: Path) -> Path:
    """A new workspace at `ws` whose source `amp` reads the local project (two days of history, two hours' delay)."""
    return workspace_reading(ws, {"type": "amplitude", "name": "amp", "project_id": server.project_id,
                                  "api_key": server.api_key, "secret_key": "file:amp.secret", "url": server.endpoint,
                                  "backfill_days": 2, "track_events": {"Demo Requested": "web.formfill"}},
                             server.secret_key)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AmplitudeServer, Path]]:
    with AmplitudeServer() as server:
        ws = reading(server, tmp_path / "ws")
        monkeypatch.setattr(export_source, "now", lambda: T)
        server.add(at(1, 0), uuid="too-old", event_type="Demo Requested", device_id="dev-z")
        server.add(at(3, 15, 10), uuid="u-1", event_type="[Amplitude] Page Viewed", device_id="dev-a",
                   event_properties={"[Amplitude] Page Location": "https://acme.com/pricing"})
        server.add(at(4, 20, 5), uuid="u-2", event_type="$identify", device_id="dev-a", user_id="crm-7",
                   user_properties={"email": "ana@acme.com", "first_name": "Ana"})
        server.add(at(5, 8, 59), uuid="u-3", event_type="Demo Requested", device_id="dev-a", user_id="crm-7")
        server.add(at(5, 10, 30), uuid="u-4", event_type="Trial Started", device_id="dev-a", user_id="crm-7")
        yield server, ws


def sync(ws: Path, *options: str) -> str:
    done = CliRunner().invoke(app, ["sync", "amplitude", "-w", str(ws), *options])
    assert done.exit_code == 0, done.output
    return " ".join(done.output.split())


def events(ws: Path) -> list[tuple[str, str, str]]:
    with Workspace.load(ws).lake() as lake:
        return lake.execute("SELECT source_id, event_type, person_key FROM event_current ORDER BY timestamp").fetchall()


def test_a_sync_reads_the_hours_amplitude_has_made_available_once_each(project, monkeypatch) -> None:
    server, ws = project
    said = sync(ws)
    assert "amp → prod: sync, " in said
    assert server.calls == [("20261003T12", "20261004T11"), ("20261004T12", "20261005T09")], \
        "from two days ago to the last hour older than the delay, a day a call"
    assert events(ws) == [("u-1", "web.pageview", "anon:dev-a@187520.Collector"),
                          ("u-3", "web.formfill", "crm-7@187520.Collector")]
    with Workspace.load(ws).lake() as lake:
        assert lake.query("SELECT email, anonymous_id FROM person_current WHERE email IS NOT NULL") == [
            {"email": "ana@acme.com", "anonymous_id": "dev-a"}]
    listed = " ".join(CliRunner().invoke(app, ["sources", "list", "-w", str(ws)], env={"COLUMNS": "200"}).output.split())
    assert "amp" in listed and "187520" in listed and T.isoformat()[:16] in listed
    monkeypatch.setattr(export_source, "now", lambda: at(5, 14, 1))
    server.fail_next(429)
    sync(ws)
    assert server.calls[2:] == [("20261005T10", "20261005T11")], "the next hours only"
    assert len(server.bodies) == 4, "asked again after the 429"
    assert [e[0] for e in events(ws)] == ["u-1", "u-3", "u-4"]


def test_a_range_amplitude_finds_too_large_is_asked_for_in_halves(project) -> None:
    server, ws = project
    server.largest_hours = 6
    sync(ws)
    hours = [(datetime.strptime(b, "%Y%m%dT%H") - datetime.strptime(a, "%Y%m%dT%H")).total_seconds() // 3600 + 1
             for a, b in server.calls]
    assert hours[:3] == [24, 12, 6] and max(hours[3:]) <= 6, "halved until Amplitude answers, then kept so"
    assert [e[0] for e in events(ws)] == ["u-1", "u-3"]
    server.calls.clear()
    sync(ws, "--backfill")  # the history read again: what loaded before is recognised
    assert server.calls and [e[0] for e in events(ws)] == ["u-1", "u-3"]
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM event") == 2


def test_a_refused_key_or_an_hour_too_large_is_one_line(project) -> None:
    server, ws = project
    (ws / "amp.secret").write_text("wrong")
    refused = CliRunner().invoke(app, ["sync", "amplitude", "-w", str(ws)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "check the source's api_key and secret_key" in said and "Traceback" not in said
    (ws / "amp.secret").write_text(server.secret_key)
    checked = CliRunner().invoke(app, ["sources", "check", "-w", str(ws)])
    assert checked.exit_code == 0 and "amp: ok" in checked.output
    server.largest_hours = 0
    too_large = CliRunner().invoke(app, ["sync", "amplitude", "-w", str(ws)])
    assert too_large.exit_code == 1 and "one hour over 4 GB" in " ".join(too_large.output.split())


def test_a_sync_killed_mid_range_resumes_at_that_range_and_loads_nothing_twice(tmp_path: Path) -> None:
    """`kill -9` while Amplitude is still answering the second range: the first range's events and checkpoint are
    kept, and the next sync asks for the second range again, loading each event once."""
    with AmplitudeServer() as server:
        ws = reading(server, tmp_path / "ws")
        hour = datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0)
        server.add(hour - timedelta(hours=36), uuid="early", event_type="Viewed", device_id="dev-a")
        server.add(hour - timedelta(hours=6), uuid="late", event_type="Viewed", device_id="dev-a")
        server.hold(2, seconds=60)
        sync_killed_when(ws, "amplitude", lambda: len(server.calls) == 2)
        second = server.calls[1]
        again = CliRunner().invoke(app, ["sync", "amplitude", "-w", str(ws)])
        assert again.exit_code == 0, again.output
        assert server.calls[2][0] == second[0], "resumed at the range it was killed in"
    assert sorted(e[0] for e in events(ws)) == ["early", "late"]
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM event") == 2
