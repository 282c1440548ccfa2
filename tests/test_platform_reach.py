"""What the ad platforms say of the lists Accord keeps there, read from the local Google Ads, LinkedIn and Meta as
their APIs answer: read after a run (not again within `READ_EVERY`), kept with the error when a reading fails
(the run still completes), shown by `accord deliveries reach`, the REST API and the destination's page."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.activation.reach import platform_size, reach_rows
from accord.activation.run import deliver, refresh_reach
from accord.alerts.config import AlertRules
from accord.alerts.rules import firing
from accord.cli import app
from accord.connectors.google_ads.server import GoogleAdsServer
from accord.connectors.hashing import hashed_email
from accord.connectors.linkedin.server import Limits, LinkedInServer
from accord.connectors.meta_ads.server import MetaAdsServer
from accord.lake.store import now
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace

PEOPLE = "Webinar attendees"


def sent_emails(ws: Workspace) -> list[str]:
    with ws.lake() as lake:
        return sorted(r[0] for r in lake.execute(
            "SELECT p.email FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
            "WHERE m.audience = ? AND m.status <> 'exited' AND p.email IS NOT NULL "
            "AND NOT coalesce(p.email_opt_out, FALSE)", [PEOPLE]).fetchall())


def reading(ws: Workspace, name: str) -> dict[str, object]:
    with ws.lake() as lake:
        rows = reach_rows(lake, [name])
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture
def linkedin_ws(tmp_path: Path, evaluated_lake: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with LinkedInServer(Limits(build_seconds=0.0)) as server:
        monkeypatch.setenv("LINKEDIN_TOKEN", server.token)
        ws = evaluated_workspace(tmp_path, evaluated_lake, [{
            "type": "linkedin", "name": "linkedin", "audiences": [PEOPLE], "endpoint": server.endpoint,
            "ad_account": "urn:li:sponsoredAccount:507", "access_token": "env:LINKEDIN_TOKEN",
            "settle_seconds": 0.0, "backoff_seconds": 0.01}])
        yield ws, server


def test_google_ads_sizes_and_match_rate_are_read_after_a_run_and_not_again_soon(
        tmp_path: Path, evaluated_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with GoogleAdsServer() as google:
        monkeypatch.setenv("GOOGLE_TOKEN", google.token)
        monkeypatch.setenv("GOOGLE_DEVELOPER", google.developer_token)
        ws = evaluated_workspace(tmp_path, evaluated_lake, [{
            "type": "google_ads", "name": "google", "audiences": [PEOPLE], "endpoint": google.endpoint,
            "customer_id": google.customer_id, "access_token": "env:GOOGLE_TOKEN",
            "developer_token": "env:GOOGLE_DEVELOPER", "poll_seconds": 0.01}])
        emails = sent_emails(ws)
        google.known = {hashed_email(e) for e in emails[: len(emails) // 4]}
        with ws.lake() as lake:
            deliver(ws, lake, ws.config.destinations[0])
        asked = sum(b"resource_name =" in body for body in google.bodies)
        read = reading(ws, "google")
        with ws.lake() as lake:
            deliver(ws, lake, ws.config.destinations[0])
        assert sum(b"resource_name =" in body for body in google.bodies) == asked == 1, "read again within minutes"
    matched = len(emails) // 4
    assert (read["state"], read["size_low"], read["size_high"]) == ("OPEN", matched, matched)
    assert read["match_rate"] == round(100 * matched / len(emails)) and read["held"] == len(emails)
    assert read["note"] == f"{matched * 4 // 5:,} on Search" and read["error"] is None and read["usable"]


def test_a_linkedin_segment_too_small_to_serve_says_so(linkedin_ws) -> None:
    ws, linkedin = linkedin_ws
    emails = sent_emails(ws)
    linkedin.known = {hashed_email(e) for e in emails[:3]}
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
    read = reading(ws, "linkedin")
    assert (read["state"], read["matched"], read["uploaded"]) == ("READY", 3, len(emails))
    assert read["match_rate"] == pytest.approx(300 / len(emails))
    assert read["note"] == "LinkedIn serves ads to segments of 300 matched members or more"
    assert read["usable"] is False
    with ws.lake() as lake:
        said = [a.message for a in firing(ws, lake, AlertRules(), now()) if a.rule == "platform_unusable"]
        assert firing(ws, lake, AlertRules(platform_unusable=False), now()) == []
    assert said == [f"linkedin will not serve ads on audience {PEOPLE}: LinkedIn serves ads to segments of 300 "
                    "matched members or more"]

    shown = CliRunner().invoke(app, ["deliveries", "reach", "-w", str(ws.root)], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if PEOPLE in line)
    assert f"{len(emails):,}" in line and "READY" in line and f"{300 / len(emails):.0f}%" in line


def test_a_failed_reading_keeps_the_last_one_and_never_fails_the_run(linkedin_ws) -> None:
    ws, linkedin = linkedin_ws
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        before = reach_rows(lake, ["linkedin"])[0]
        lake.execute("UPDATE destination_reach SET checked_at = checked_at - INTERVAL 1 HOUR")
        linkedin.fail_next(500)  # the run has nothing to send: its first call is the reading
        report = deliver(ws, lake, ws.config.destinations[0])
        after = reach_rows(lake, ["linkedin"])[0]
        status = lake.scalar("SELECT status FROM delivery_runs WHERE run_id = ?", [report.run_id])
    assert status == "completed" and report.error is None and linkedin.injected == {500: 1}
    assert "LinkedIn answered HTTP 500" in after["error"] and after["checked_at"] > before["checked_at"]
    assert (after["state"], after["matched"]) == (before["state"], before["matched"]), "the last figures went"
    linkedin.fail_next(500)
    shown = CliRunner().invoke(app, ["deliveries", "reach", "--refresh", "-w", str(ws.root)], env={"COLUMNS": "250"})
    assert shown.exit_code == 1 and f"linkedin · {PEOPLE}: ConnectorError: LinkedIn answered HTTP 500" in shown.output
    with ws.lake() as lake:
        assert refresh_reach(ws, lake, ws.config.destinations[0]) == {}
        assert reach_rows(lake, ["linkedin"])[0]["error"] is None


def test_a_meta_audience_is_a_range_and_too_small_is_said(tmp_path: Path, evaluated_lake: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with MetaAdsServer() as meta:
        monkeypatch.setenv("META_TOKEN", meta.token)
        ws = evaluated_workspace(tmp_path, evaluated_lake, [{
            "type": "meta_ads", "name": "meta", "audiences": [PEOPLE], "endpoint": meta.endpoint,
            "ad_account": meta.ad_account, "access_token": "env:META_TOKEN"}])
        n = len(sent_emails(ws))
        with ws.lake() as lake:
            deliver(ws, lake, ws.config.destinations[0])
            small = reach_rows(lake, ["meta"])[0]
            held = next(iter(meta.audiences.values()))
            held.users |= {(("EMAIL", hashed_email(f"someone{i}@example.net")),) for i in range(200)}
            refresh_reach(ws, lake, ws.config.destinations[0])
            grown = reach_rows(lake, ["meta"])[0]
    assert n < 100 and (small["size_low"], small["size_high"]) == (n * 9 // 10, n * 11 // 10)
    assert (small["state"], small["usable"]) == ("NOT READY (300)", False)
    assert small["note"] == "This audience is too small to deliver ads."
    assert (grown["state"], grown["usable"], grown["note"]) == ("READY", True, None)
    assert platform_size(grown["size_low"], grown["size_high"]) == f"{(n + 200) * 9 // 10:,}–{(n + 200) * 11 // 10:,}"


def test_an_expired_linkedin_segment_is_unusable_and_says_what_to_do(linkedin_ws) -> None:
    ws, linkedin = linkedin_ws
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        next(iter(linkedin.segments.values())).status = "EXPIRED"
        refresh_reach(ws, lake, ws.config.destinations[0])
        read = reach_rows(lake, ["linkedin"])[0]
        refresh_reach(ws, lake, ws.config.destinations[0].model_copy(update={"audiences": []}))
        assert reach_rows(lake, ["linkedin"]) == [], "an audience no longer sent keeps its reading (and its alert)"
    assert (read["state"], read["usable"]) == ("EXPIRED", False)
    assert read["note"] == "the segment is EXPIRED: archive it in Campaign Manager, and the next run makes a new one"


def test_a_destination_that_is_no_ad_platform_is_not_asked(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [{"type": "file", "name": "exports", "url": "exports",
                                                         "audiences": [PEOPLE]}])
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        assert refresh_reach(ws, lake, ws.config.destinations[0]) is None
        assert reach_rows(lake, ["exports"]) == []
    shown = CliRunner().invoke(app, ["deliveries", "reach", "--refresh", "-w", str(ws.root)])
    assert shown.exit_code == 0 and "no platform has been read yet" in shown.output
    named = CliRunner().invoke(app, ["deliveries", "reach", "-d", "exports", "--refresh", "-w", str(ws.root)])
    assert named.exit_code == 1 and "'exports' (file) is no ad platform" in named.output


def test_the_rest_api_shows_and_refreshes_what_the_platform_said(linkedin_ws) -> None:
    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.api.keys import create_key

    ws, linkedin = linkedin_ws
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        reader = {"Authorization": f"Bearer {create_key(lake, 'api', 'read', roles=('read',)).secret}"}
        admin = {"Authorization": f"Bearer {create_key(lake, 'api', 'admin').secret}"}
    client = TestClient(create_app(ws))
    shown = client.get("/api/v1/destinations/linkedin/reach", headers=reader).json()
    assert [(r["audience"], r["state"], r["uploaded"]) for r in shown] == [(PEOPLE, "READY", len(sent_emails(ws)))]
    assert client.get("/api/v1/destinations/nowhere/reach", headers=reader).status_code == 404
    assert client.post("/api/v1/destinations/linkedin/reach", headers=reader).status_code == 403
    linkedin.known = set()
    refreshed = client.post("/api/v1/destinations/linkedin/reach", headers=admin).json()
    assert refreshed["failed"] == {} and refreshed["reach"][0]["matched"] == 0


def test_a_google_list_not_yet_counted_or_closed_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from accord.connectors.google_ads.config import GoogleAdsDestinationConfig
    from accord.connectors.google_ads.destination import open_destination

    with GoogleAdsServer() as google:
        monkeypatch.setenv("GOOGLE_TOKEN", google.token)
        monkeypatch.setenv("GOOGLE_DEVELOPER", google.developer_token)
        config = GoogleAdsDestinationConfig(type="google_ads", name="google", audiences=[PEOPLE],
                                            endpoint=google.endpoint, customer_id=google.customer_id,
                                            access_token="env:GOOGLE_TOKEN", developer_token="env:GOOGLE_DEVELOPER")
        destination = open_destination(config, tmp_path, "ws", "prod")
        try:
            assert destination.reach(PEOPLE) is None, "no list yet: nothing to say"
            google.user_lists["customers/1/userLists/1"] = {"name": f"ws · {PEOPLE}", "members": set()}
            fresh = destination.reach(PEOPLE)
            google.user_lists["customers/1/userLists/1"].update(status="CLOSED", counted=True)
            closed = destination.reach(PEOPLE)
        finally:
            destination.close()
    assert fresh is not None and (fresh.state, fresh.size_low, fresh.usable) == ("OPEN", None, True)
    assert fresh.note == "not counted yet: Google sizes a list within a day or two of an upload"
    assert closed is not None and (closed.state, closed.size_low, closed.match_rate, closed.usable) == \
        ("CLOSED", 0, None, False)
    assert closed.note is not None and closed.note.startswith("closed: Google adds no one to it")
