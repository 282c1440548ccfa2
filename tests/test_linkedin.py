"""LinkedIn Matched Audiences against the local LinkedIn: people as a user segment keyed by hashed e-mail (no
address leaves in the clear), accounts as a company segment keyed by domain, a failed segment named in the run."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from accord.activation.run import deliver
from accord.connectors.hashing import hashed_email
from accord.connectors.linkedin.server import Limits, LinkedInServer
from tests.conftest import evaluated_workspace

PEOPLE = "Webinar attendees"
ACCOUNTS = "Accounts with 3+ people who clicked an email in 14 days"


@pytest.fixture
def linkedin(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with LinkedInServer(Limits(build_seconds=0.01)) as server:
        monkeypatch.setenv("LINKEDIN_TOKEN", server.token)
        yield server


def settings(server: LinkedInServer, audiences: list[str]) -> dict[str, object]:
    return {"type": "linkedin", "name": "linkedin", "audiences": audiences, "endpoint": server.endpoint,
            "ad_account": "urn:li:sponsoredAccount:507", "access_token": "env:LINKEDIN_TOKEN",
            "settle_seconds": 0.01, "backoff_seconds": 0.01}


def test_people_go_as_hashed_emails_and_accounts_as_domains(tmp_path: Path, evaluated_lake: Path,
                                                           linkedin: LinkedInServer) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(linkedin, [PEOPLE, ACCOUNTS])])
    with ws.lake() as lake:
        people, accounts = deliver(ws, lake, ws.config.destinations[0]).audiences
        emails = {r[0] for r in lake.execute(
            "SELECT p.email FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
            "WHERE m.audience = ? AND m.status <> 'exited' AND p.email IS NOT NULL "
            "AND NOT coalesce(p.email_opt_out, FALSE)", [PEOPLE]).fetchall()}
        domains = {r[0] for r in lake.execute(
            "SELECT a.domain FROM audience_membership m JOIN account_profile a ON a.account_id = m.profile_id "
            "WHERE m.audience = ? AND m.status <> 'exited' AND a.domain IS NOT NULL", [ACCOUNTS]).fetchall()}
    segments = {s.name.split(" · ")[1]: s for s in linkedin.segments.values()}
    assert segments[PEOPLE].type == "USER" and segments[ACCOUNTS].type == "COMPANY"
    assert segments[PEOPLE].users == {hashed_email(e) for e in emails} and people.activated == len(emails)
    assert domains and segments[ACCOUNTS].companies == domains and accounts.activated == len(domains)
    assert not any(e.encode() in body for body in linkedin.bodies for e in emails), "an e-mail left in the clear"


def test_a_failed_segment_is_named_in_the_run(tmp_path: Path, evaluated_lake: Path, linkedin: LinkedInServer) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(linkedin, [PEOPLE])])
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        next(iter(linkedin.segments.values())).status = "EXPIRED"
        lake.execute("UPDATE audience_membership SET status = 'exited' WHERE audience = ? AND profile_id = "
                     "(SELECT min(profile_id) FROM destination_members)", [PEOPLE])
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        dead = lake.query("SELECT error FROM delivery_dead_letters")
    assert report.failed == 1 and len(dead) == 1 and "is EXPIRED" in dead[0]["error"]


def test_an_account_with_a_linkedin_organization_goes_by_its_urn(tmp_path: Path, evaluated_lake: Path,
                                                                linkedin: LinkedInServer) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake,
                             [settings(linkedin, [ACCOUNTS]) | {"organization_field": "linkedin_company_id"}])
    with ws.lake() as lake:
        lake.execute("ALTER TABLE account_profile ADD COLUMN linkedin_company_id VARCHAR")
        known = lake.scalar("SELECT min(profile_id) FROM audience_membership WHERE audience = ?", [ACCOUNTS])
        lake.execute("UPDATE account_profile SET linkedin_company_id = '2414183' WHERE account_id = ?", [known])
        lake.execute("UPDATE account_profile SET linkedin_company_id = 'not an id' WHERE account_id <> ?", [known])
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        key = lake.scalar("SELECT destination_key FROM destination_members WHERE profile_id = ?", [known])
    companies = next(iter(linkedin.segments.values())).companies
    assert key == "ORGANIZATION:urn:li:organization:2414183" and "urn:li:organization:2414183" in companies
    assert report.activated == len(companies) and sum(c.startswith("urn:") for c in companies) == 1


@pytest.mark.parametrize("at", ["12:00", "23:58"])
def test_a_spent_daily_limit_keeps_the_changes_for_tomorrow(tmp_path: Path, evaluated_lake: Path,
                                                            monkeypatch: pytest.MonkeyPatch, at: str) -> None:
    """Minutes before midnight UTC the run waits for the reset; the limit still spent after it, it keeps the rest
    (this test once depended on the hour it ran at: its sleeps did not move the clock)."""
    clock = [datetime.fromisoformat(f"2026-12-01T{at}:00+00:00")]

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock[0]

    def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    monkeypatch.setattr("accord.connectors.linkedin.client.datetime", Clock)
    with LinkedInServer(Limits(build_seconds=0.01, calls_per_day=3)) as server:
        os.environ["LINKEDIN_TOKEN"] = server.token
        ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(server, [PEOPLE])])
        with ws.lake() as lake:
            report = deliver(ws, lake, ws.config.destinations[0], sleep=sleep).audiences[0]
            reasons = {r[0] for r in lake.execute(
                "SELECT reason FROM delivery_receipts WHERE outcome = 'retrying'").fetchall()}
    assert report.activated == 0 and report.retrying > 0 and report.failed == 0
    assert any("DAY limit" in r and "asked to wait" in r for r in reasons), reasons
