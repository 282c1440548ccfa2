"""Salesforce CRM as a destination, against the local org: campaign members with a status per membership, removal
by status or deletion, a checkbox per audience, no lead created unless asked, campaign names quoted in SOQL, and
the org's daily API allowance kept for others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from accord.activation.run import deliver
from accord.connectors.salesforce.server import SalesforceData, SalesforceServer
from accord.lake.store import Lake
from accord.workspace import Workspace, WorkspaceError
from tests.conftest import evaluated_workspace

PEOPLE = "Webinar attendees"


@pytest.fixture
def org(tiny_world: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with SalesforceServer(SalesforceData.from_folder(tiny_world / "salesforce")) as server:
        monkeypatch.setenv("SF_SECRET", server.client_secret)
        yield server


def settings(server: SalesforceServer, **extra: Any) -> dict[str, Any]:
    return {"type": "salesforce", "name": "crm", "audiences": [PEOPLE], "org_id": "00D5e0000012345EAA",
            "instance_url": server.endpoint, "client_id": server.client_id, "client_secret": "env:SF_SECRET",
            "backoff_seconds": 0.01, **extra}


def campaign(server: SalesforceServer, name: str) -> str:
    return next(r["Id"] for r in server.data.records["Campaign"] if r["Name"] == name)


def members(server: SalesforceServer, campaign_id: str) -> dict[str, str]:
    """Contact or lead id → status, for the campaign's live members."""
    return {str(r["ContactId"] or r["LeadId"]): str(r["Status"]) for r in server.data.records["CampaignMember"]
            if r["CampaignId"] == campaign_id and r.get("IsDeleted") != "true"}


def leave(lake: Lake) -> str:
    """One acknowledged member leaves the audience; its profile id."""
    return leave_audience(lake, PEOPLE)


def leave_audience(lake: Lake, audience: str) -> str:
    profile = str(lake.scalar("SELECT min(profile_id) FROM destination_members WHERE audience = ?", [audience]))
    lake.execute("UPDATE audience_membership SET status = 'exited' WHERE audience = ? AND profile_id = ?",
                 [audience, profile])
    return profile


def test_members_join_a_campaign_made_for_the_audience_and_leave_it_deleted(tmp_path: Path, evaluated_lake: Path,
                                                                             org: SalesforceServer) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(org)])
    with ws.lake() as lake:
        first = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        made = campaign(org, f"{ws.config.name} · {PEOPLE}")
        joined = members(org, made)
        key = lake.scalar("SELECT destination_key FROM destination_members ORDER BY profile_id LIMIT 1")
        leave(lake)
        second = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    assert first.activated == len(joined) > 0 and set(joined.values()) == {"Sent"}
    assert str(key).startswith("00v"), "the key is the CampaignMember id a removal deletes"
    assert second.removed == 1 and len(members(org, made)) == len(joined) - 1
    assert ("delete", "CampaignMember", key) in org.data.writes
    assert not [w for w in org.data.writes if w[:2] in (("create", "Lead"), ("create", "Contact"))]


def test_a_campaign_name_past_the_80_characters_salesforce_holds_is_cut_or_refused(tmp_path: Path, evaluated_lake: Path,
                                                                                   org: SalesforceServer) -> None:
    """The default `<workspace> · <audience>` is cut to fit, told apart by a digest; one given in accord.yaml that is
    too long is refused when accord.yaml is read. Before, Salesforce refused the campaign and every change failed."""
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(org)])
    long_name = "acme-corporation-marketing-operations-emea-production-workspace"
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    (ws.root / "accord.yaml").write_text(yaml.safe_dump({**config, "name": long_name}))
    ws = Workspace.load(ws.root)
    with ws.lake() as lake:
        done = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    [name] = [r["Name"] for r in org.data.records["Campaign"] if r["Name"].startswith(long_name)]
    assert len(name) == 80 and name.startswith(f"{long_name} · Webi ~")
    assert done.activated == len(members(org, campaign(org, name))) > 0 and done.failed == 0
    too_long = settings(org, campaigns={PEOPLE: "x" * 81})
    (ws.root / "accord.yaml").write_text(yaml.safe_dump({**config, "destinations": [too_long]}))
    with pytest.raises(WorkspaceError, match="longer than the 80 characters a Campaign Name holds"):
        Workspace.load(ws.root)


def test_a_removal_can_set_a_status_and_a_return_restores_it(tmp_path: Path, evaluated_lake: Path,
                                                            org: SalesforceServer) -> None:
    config = settings(org, on_removal="status", removed_status="Removed", member_status="Member",
                      campaigns={PEOPLE: "Q4 Webinar: O'Brien and Partners"})
    ws = evaluated_workspace(tmp_path, evaluated_lake, [config])
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        made = campaign(org, "Q4 Webinar: O'Brien and Partners")
        profile = leave(lake)
        deliver(ws, lake, ws.config.destinations[0])
        after_leaving = members(org, made)
        lake.execute("UPDATE audience_membership SET status = 'existing' WHERE profile_id = ?", [profile])
        back = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    statuses = {r["Label"] for r in org.data.records["CampaignMemberStatus"] if r["CampaignId"] == made}
    assert {"Member", "Removed", "Sent"} <= statuses
    assert sorted(after_leaving.values()).count("Removed") == 1
    assert back.activated == 1 and set(members(org, made).values()) == {"Member"}
    assert len([r for r in org.data.records["Campaign"] if r["Name"].startswith("Q4 Webinar")]) == 1, \
        "the quoted name was found again, not made twice"


def test_an_audience_can_be_a_checkbox_on_contacts_and_leads(tmp_path: Path, evaluated_lake: Path,
                                                             org: SalesforceServer) -> None:
    for sobject in ("Contact", "Lead"):
        org.data.add_checkbox(sobject, "In_Webinar_Audience__c")
    ws = evaluated_workspace(tmp_path, evaluated_lake,
                             [settings(org, checkbox_fields={PEOPLE: "In_Webinar_Audience__c"})])
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        flagged = {r["Id"] for s in ("Contact", "Lead") for r in org.data.records[s]
                   if r["In_Webinar_Audience__c"] == "true"}
        profile = leave(lake)
        key = str(lake.scalar("SELECT destination_key FROM destination_members WHERE profile_id = ?", [profile]))
        deliver(ws, lake, ws.config.destinations[0])
    assert report.activated > 0 and len(flagged) >= report.activated
    assert not [r for r in org.data.records["CampaignMember"] if r["Id"] in {w[2] for w in org.data.writes}]
    assert all(org.data.live(("Contact" if i.startswith("003") else "Lead"), i)["In_Webinar_Audience__c"] == "false"
               for i in key.split(","))


ACCOUNTS = "Customer accounts with an open expansion deal"


def test_an_account_audience_is_a_checkbox_on_its_accounts(tmp_path: Path, evaluated_lake: Path,
                                                           org: SalesforceServer) -> None:
    """Account-based marketing in the CRM: the members' own Accounts get the checkbox, and lose it on leaving; no
    campaign, contact or lead is touched. Without a checkbox, an account audience is refused in one line."""
    org.data.add_checkbox("Account", "Target_Account__c")
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(org, audiences=[ACCOUNTS],
                                                                 checkbox_fields={ACCOUNTS: "Target_Account__c"})])
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        expected = {r[0] for r in lake.execute(
            "SELECT n.value FROM audience_membership m JOIN identity_nodes n ON n.profile_id = m.profile_id "
            "AND n.kind = 'account' AND n.namespace = 'b2b_account_crm' WHERE m.audience = ? "
            "AND m.status <> 'exited'", [ACCOUNTS]).fetchall()}
        flagged = {r["Id"] for r in org.data.records["Account"] if r["Target_Account__c"] == "true"}
        profile = leave_audience(lake, ACCOUNTS)
        key = str(lake.scalar("SELECT destination_key FROM destination_members WHERE profile_id = ?", [profile]))
        after = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    assert report.activated > 0 and report.failed == 0 and flagged == expected
    assert after.removed == 1 and all(org.data.live("Account", i)["Target_Account__c"] == "false"
                                      for i in key.split(","))
    assert {w[1] for w in org.data.writes} == {"Account"}, "only Accounts were written"
    bare = settings(org, audiences=[ACCOUNTS])
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    (ws.root / "accord.yaml").write_text(yaml.safe_dump({**config, "destinations": [bare]}))
    with pytest.raises(WorkspaceError, match="takes an account audience as a checkbox on Account"):
        Workspace.load(ws.root)


def test_leads_are_created_only_when_asked(tmp_path: Path, evaluated_lake: Path, org: SalesforceServer) -> None:
    # A person known only from Marketo and events has no contact or lead: skipped, unless create_leads.
    for sobject in ("Contact", "Lead"):
        for row in org.data.records[sobject]:
            row["Email"] = None
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(org)])
    with ws.lake() as lake:
        lake.execute("DELETE FROM identity_nodes WHERE namespace = 'crm_id'")
        skipped = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    assert skipped.activated == 0 and skipped.skipped.get("no_crm_record", 0) > 0
    assert not [w for w in org.data.writes if w[1] == "Lead"]

    ws = evaluated_workspace(tmp_path / "again", evaluated_lake, [settings(org, create_leads=True)])
    with ws.lake() as lake:
        lake.execute("DELETE FROM identity_nodes WHERE namespace = 'crm_id'")
        created = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    leads = [org.data.live("Lead", w[2]) for w in org.data.writes if w[:2] == ("create", "Lead")]
    assert created.activated == len(leads) > 0
    assert all(lead and lead["LastName"] and lead["Company"] and lead["LeadSource"] == "Accord" for lead in leads)


def test_the_orgs_api_allowance_is_kept_for_others(tmp_path: Path, evaluated_lake: Path,
                                                   org: SalesforceServer) -> None:
    org.api_used = 14_000  # of 15,000 today: past the default 90 % budget
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(org)])
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0], sleep=lambda _: None).audiences[0]
        reasons = {r[0] for r in lake.execute("SELECT reason FROM delivery_receipts WHERE outcome = 'retrying'").fetchall()}
    assert report.activated == 0 and report.retrying > 0 and report.failed == 0
    assert any("14,00" in r and "API requests" in r for r in reasons)
    assert org.api_used < 14_010, "it stopped at once instead of spending the org's allowance"


def test_check_says_what_the_org_holds_and_names_what_is_missing(tmp_path: Path, evaluated_lake: Path,
                                                                 org: SalesforceServer) -> None:
    from accord.activation.destination import DeliveryError
    from accord.activation.run import open_destination

    def checked(**extra: Any) -> dict[str, int]:
        ws = evaluated_workspace(tmp_path / str(len(extra)), evaluated_lake, [settings(org, **extra)])
        destination = open_destination(ws, ws.config.destinations[0], "prod")
        try:
            return destination.check()
        finally:
            destination.close()

    found = checked()
    assert found["campaigns to create"] == 1 and 0 < found["API requests left today"] < 15_000
    with pytest.raises(DeliveryError, match="has no campaign 'Nope'; create it, or set create_campaigns"):
        checked(campaigns={PEOPLE: "Nope"}, create_campaigns=False)
    with pytest.raises(DeliveryError, match="no field 'Missing__c' on Contact or Lead"):
        checked(checkbox_fields={PEOPLE: "Missing__c"}, member_status="Sent", on_removal="delete")
    assert not org.data.writes, "a check writes nothing"


def test_a_person_in_two_orgs_joins_this_orgs_campaign_by_this_orgs_contact(tmp_path: Path, evaluated_lake: Path,
                                                                            org: SalesforceServer) -> None:
    """The person is one profile holding both orgs' contact ids: the other org's id would be refused here."""
    from accord.identity.config import IdentityConfig
    from accord.ingest.records import ingest_records
    from accord.pipeline import run_identity

    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(org)])
    with ws.lake() as lake:
        profile, email = lake.execute(
            "SELECT p.person_id, p.email FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
            "WHERE m.audience = ? AND m.status <> 'exited' AND p.email IS NOT NULL ORDER BY 1 LIMIT 1",
            [PEOPLE]).fetchone()
        ingest_records(lake, "person", [{"source_id": "0035e00000OTHER", "email": email, "last_name": "Other"}],
                       source_type="Salesforce", source_instance_id="00Dacquired00000AAA", source_name="acquired",
                       fingerprint="acquired-1")
        run_identity(lake, IdentityConfig())
        held = lake.scalar("SELECT list(value) FROM identity_nodes WHERE namespace = 'crm_id' AND profile_id = ?",
                           [profile])
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    assert "0035e00000OTHER" in held and len(held) == 2, "one person in two orgs is one profile"
    joined = members(org, campaign(org, f"{ws.config.name} · {PEOPLE}"))
    assert report.failed == 0 and report.activated == len(joined) > 0
    assert "0035e00000OTHER" not in joined and org.data.errors == [], "a write naming the other org's contact"
