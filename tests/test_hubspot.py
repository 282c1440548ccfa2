"""The HubSpot source against a local portal over HTTP: `accord sync hubspot` backfills contacts, companies, deals and
their associations, then reads what changed since (search, past its 10,000-result window), what was archived and
which associations were removed; resumes a killed backfill at its page; refuses a wrong or foreign token in one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from accord.cli import app
from accord.connectors.hubspot import source as hubspot_source
from accord.connectors.hubspot.server import HubSpotServer
from accord.ingest.records import ingest_records
from accord.workspace import Workspace
from tests.conftest import sync_killed_when, workspace_reading

NOW = datetime.now(timezone.utc)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def reading(server: HubSpotServer, ws: Path, **settings: object) -> Path:
    """A new workspace at `ws` whose source `hs` reads the local portal."""
    return workspace_reading(ws, {"type": "hubspot", "name": "hs", "portal_id": server.portal_id,
                                  "access_token": "file:hs.secret", "url": server.endpoint, **settings}, server.token)


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[tuple[HubSpotServer, Path]]:
    """Two companies, two contacts (one at both companies), a deal with its company and decision maker."""
    with HubSpotServer() as server:
        server.put("companies", 1, ago(600), name="Acme Corp ", domain="www.acme.com", industry="COMPUTER_SOFTWARE",
                   numberofemployees="1200", annualrevenue="25000000", type="PROSPECT")
        server.put("companies", 2, ago(590), name="Globex", domain="globex.io")
        server.put("contacts", 101, ago(500), email=" Ann@Acme.com", firstname="Ann", lastname="Lee",
                   jobtitle="CTO", associatedcompanyid="1", hs_email_optout="false",
                   salesforcecontactid="0035g00000AbCdEAAV")
        server.put("contacts", 102, ago(400), email="bob@globex.io", firstname="Bob", associatedcompanyid="2")
        server.associate("contacts", 101, "companies", 1, primary=True)
        server.associate("contacts", 101, "companies", 2, label="Billing contact")
        server.associate("contacts", 102, "companies", 2, primary=True)
        server.put("deals", 501, ago(300), dealname="Acme renewal", dealstage="closedwon", amount="50000",
                   closedate="2026-11-30T00:00:00Z", hs_is_closed="true", hs_is_closed_won="true")
        server.associate("deals", 501, "companies", 1, primary=True)
        server.associate("deals", 501, "contacts", 101, label="Decision maker")
        yield server, reading(server, tmp_path / "ws")


def sync(ws: Path) -> str:
    done = CliRunner().invoke(app, ["sync", "hubspot", "-w", str(ws)])
    assert done.exit_code == 0, done.output
    return " ".join(done.output.split())


def run_then_deliver(ws: Path) -> str:
    """`accord run`, then a run of the destination `hs-lists`: what the latter said."""
    runner = CliRunner()
    ran = runner.invoke(app, ["run", "-w", str(ws)])
    assert ran.exit_code == 0, ran.output
    sent = runner.invoke(app, ["deliveries", "run", "-d", "hs-lists", "-w", str(ws)])
    assert sent.exit_code == 0, sent.output
    return " ".join(sent.output.split())


def rows(ws: Path, sql: str) -> list[tuple]:
    with Workspace.load(ws).lake() as lake:
        return lake.execute(sql).fetchall()


def test_a_backfill_then_a_sync_read_records_associations_changes_and_archives(portal) -> None:
    server, ws = portal
    began = datetime.now(timezone.utc)
    assert "hs → prod: backfill" in sync(ws)
    backfilled = datetime.now(timezone.utc)
    assert rows(ws, "SELECT source_id, email, job_title, account_key, crm_contact_id, email_opt_out "
                    "FROM person_current ORDER BY 1") == [
        ("101", "ann@acme.com", "CTO", "1@2486711.HubSpot", "0035g00000AbCdEAAV", False),
        ("102", "bob@globex.io", None, "2@2486711.HubSpot", None, None)]
    assert rows(ws, "SELECT source_id, name, domain, industry, employees FROM account_current ORDER BY 1") == [
        ("1", "Acme Corp", "acme.com", "Computer Software", 1200), ("2", "Globex", "globex.io", None, None)]
    assert rows(ws, "SELECT source_id, account_key, person_key, role, is_primary FROM account_person_current "
                    "ORDER BY 1") == [
        ("101-1", "1@2486711.HubSpot", "101@2486711.HubSpot", None, True),
        ("101-2", "2@2486711.HubSpot", "101@2486711.HubSpot", "Billing contact", False),
        ("102-2", "2@2486711.HubSpot", "102@2486711.HubSpot", None, True)]
    assert rows(ws, "SELECT source_id, account_key, stage, amount, is_won, close_date::VARCHAR "
                    "FROM opportunity_current") == [("501", "1@2486711.HubSpot", "Closed Won", 50000.0, True,
                                                     "2026-11-30")]
    assert rows(ws, "SELECT opportunity_key, person_key, role FROM opportunity_person_current") == [
        ("501@2486711.HubSpot", "101@2486711.HubSpot", "Decision maker")]

    server.put("contacts", 101, datetime.now(timezone.utc), jobtitle="CEO")
    server.dissociate("contacts", 101, "companies", 2)
    server.put("contacts", 103, datetime.now(timezone.utc), email="cy@acme.com", associatedcompanyid="1")
    server.archive("contacts", 102, datetime.now(timezone.utc))
    server.fail_next(429)
    searches = len(server.searches)
    said = sync(ws)
    assert "hs → prod: sync" in said
    since = server.searches[searches]["filterGroups"][0]["filters"][0]
    assert since["propertyName"] == "lastmodifieddate" and since["operator"] == "GTE"
    minute = timedelta(seconds=60)
    assert (began - minute).timestamp() * 1000 - 1 <= int(since["value"]) <= (backfilled - minute).timestamp() * 1000, \
        "from a minute before the backfill began"
    assert rows(ws, "SELECT source_id, job_title, coalesce(is_deleted, FALSE) FROM person_latest ORDER BY 1") == [
        ("101", "CEO", False), ("102", None, True), ("103", None, False)]
    assert rows(ws, "SELECT source_id FROM account_person_latest WHERE is_deleted") == [("101-2",)]
    with Workspace.load(ws).lake() as lake:
        versions = lake.scalar("SELECT count(*) FROM person")
    listed = " ".join(CliRunner().invoke(app, ["sources", "list", "-w", str(ws)], env={"COLUMNS": "200"}).output.split())
    assert "never" not in listed, "synced up to the earliest of its objects' checkpoints"
    sync(ws)
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM person") == versions, "read again, loaded nothing new"


def test_changes_past_a_search_window_are_all_read_even_within_one_millisecond(tmp_path, monkeypatch) -> None:
    """HubSpot's search pages through 10,000 results at most (here 4): the sync starts again from the last change
    read, and reads an import's changes that share one millisecond by their ids."""
    monkeypatch.setattr(hubspot_source, "SEARCH_WINDOW", 4)
    with HubSpotServer(search_window=4) as server:
        ws = reading(server, tmp_path / "ws", page_size=2, objects=["contacts"])
        server.put("contacts", 1, ago(100), email="first@acme.com")
        sync(ws)
        imported = datetime.now(timezone.utc).replace(microsecond=0)
        for n in range(10, 19):  # nine changes in one millisecond
            server.put("contacts", n, imported, email=f"p{n}@acme.com")
        for n in range(20, 23):
            server.put("contacts", n, imported + timedelta(seconds=n), email=f"p{n}@acme.com")
        sync(ws)
        used = {f["operator"] for s in server.searches for f in s["filterGroups"][0]["filters"]}
    assert used == {"GTE", "EQ", "GT"}, "past a window, then that millisecond by ids"
    assert [r[0] for r in rows(ws, "SELECT source_id FROM person_current ORDER BY source_id::INT")] == [
        "1", *map(str, range(10, 19)), "20", "21", "22"]


def test_a_deal_with_more_associations_than_one_answer_holds_keeps_them_all(tmp_path: Path) -> None:
    """A batch read answers 500 of a record's associations: the rest are read from the record, page by page."""
    with HubSpotServer() as server:
        ws = reading(server, tmp_path / "ws", objects=["deals"])
        server.put("deals", 7, ago(10), dealname="Global rollout", dealstage="appointmentscheduled", amount="9e6")
        for n in range(1, 1203):
            server.associate("deals", 7, "contacts", n, label="Stakeholder" if n % 2 else None)
        sync(ws)
        paged = [path for method, path in server.calls if path.startswith("/crm/v4/objects/deals/7/")]
    assert len(paged) == 2, "past the batch read's 500: two pages of the deal's own"
    assert rows(ws, "SELECT count(*), count(DISTINCT person_key), count(role) FROM opportunity_person_current") \
        == [(1202, 1202, 601)]


def test_a_wrong_token_or_another_portals_token_is_one_line(portal) -> None:
    server, ws = portal
    (ws / "hs.secret").write_text("pat-na1-wrong")
    refused = CliRunner().invoke(app, ["sync", "hubspot", "-w", str(ws)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "HTTP 401" in said and "check the source's access_token" in said, said
    (ws / "hs.secret").write_text(server.token)
    server.portal_id = "999"
    refused = CliRunner().invoke(app, ["sync", "hubspot", "-w", str(ws)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "is of HubSpot portal 999, not of portal_id 2486711" in said, said
    assert "Traceback" not in said
    assert rows(ws, "SELECT count(*) FROM person") == [(0,)], "nothing read from another portal"


def test_sources_check_names_what_the_portal_lacks(portal) -> None:
    server, ws = portal
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["custom_fields"] = [{"entity": "person", "name": "abm_tier", "label": "ABM Tier"}]
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    checked = CliRunner().invoke(app, ["sources", "check", "-w", str(ws)])
    said = " ".join(checked.output.split())
    assert checked.exit_code == 0, checked.output
    assert "declared fields contacts lacks (abm_tier)" in said, said
    server.properties["contacts"].append("abm_tier")
    server.put("contacts", 101, datetime.now(timezone.utc), abm_tier="Tier 1")
    sync(ws)
    assert rows(ws, "SELECT abm_tier FROM person_current WHERE source_id = '101'") == [("Tier 1",)]


def test_a_backfill_killed_mid_object_resumes_at_its_page_and_loads_nothing_twice(tmp_path: Path) -> None:
    """`kill -9` while HubSpot answers the second page of contacts: the next sync asks for that page again."""
    with HubSpotServer() as server:
        ws = reading(server, tmp_path / "ws", page_size=2, records_per_batch=2, objects=["contacts"])
        for n in range(1, 6):
            server.put("contacts", n, ago(60 - n), email=f"p{n}@acme.com")
        # calls: account details, properties, page 1, its associations, page 2 (held)
        server.hold(5, seconds=60)
        sync_killed_when(ws, "hubspot", lambda: len(server.calls) == 5)
        sync(ws)
        pages = [c for c in server.calls if c == ("GET", "/crm/v3/objects/contacts")]
    assert len(pages) == 2 + 2, "two pages before the kill, then the second and third only"
    assert [r[0] for r in rows(ws, "SELECT source_id FROM person_current ORDER BY 1")] == ["1", "2", "3", "4", "5"]
    assert rows(ws, "SELECT count(*) FROM person") == [(5,)]


def test_a_portals_contacts_reach_its_list_by_their_own_ids_through_profiles_and_an_audience(portal) -> None:
    """HubSpot → profile → audience → HubSpot list: a contact read from the portal is put on the list by its own id
    (no lookup by e-mail), on a list Accord makes; a second run sends nothing."""
    server, ws = portal
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["destinations"] = [{"type": "hubspot", "name": "hs-lists", "portal_id": server.portal_id,
                               "access_token": "file:hs.secret", "url": server.endpoint,
                               "audiences": ["Acme people"], "fields": ["email"]}]
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    (ws / "audiences" / "acme.aud").write_text('audience "Acme people" of person\nwhere email ends with "@acme.com"\n')
    sync(ws)
    server.put("contacts", 101, datetime.now(timezone.utc), email="ann.lee@acme.com")  # HubSpot's, not yet read
    said = run_then_deliver(ws)
    assert "1 activated" in said, said
    assert [held["name"] for held in server.lists.values()] == [f"{Workspace.load(ws).config.name} · Acme people"]
    assert [held["members"] for held in server.lists.values()] == [{"101"}]
    assert ("POST", "/crm/v3/objects/contacts/batch/read") not in server.calls, "found by its own id"
    again = CliRunner().invoke(app, ["deliveries", "run", "-d", "hs-lists", "-w", str(ws)])
    assert "0 activated, 0 removed, 0 updated" in " ".join(again.output.split())


def test_an_account_audience_reaches_a_company_list_by_its_own_ids_else_by_domain(portal) -> None:
    """HubSpot (and a CRM's account) → account profiles → an account audience → a HubSpot company list: a company
    read from the portal goes by its own id, an account from elsewhere by its domain (HubSpot keeps `www.`); one with
    no company there is skipped, never created; an account leaving the audience leaves the list."""
    server, ws = portal
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["destinations"] = [{"type": "hubspot", "name": "hs-lists", "portal_id": server.portal_id,
                               "access_token": "file:hs.secret", "url": server.endpoint, "audiences": ["Targets"]}]
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    targets = ws / "audiences" / "targets.aud"
    targets.write_text('audience "Targets" of account\nwhere domain in ["acme.com", "initech.com", "hooli.com"]\n')
    sync(ws)
    server.put("companies", 3, ago(100), name="Initech", domain="www.initech.com")  # in HubSpot, not read by Accord
    with Workspace.load(ws).lake() as lake:
        crm = [("0011", "Initech", "initech.com"), ("0012", "Hooli", "hooli.com")]
        ingest_records(lake, "account", [{"source_id": i, "name": name, "domain": domain} for i, name, domain in crm],
                       source_type="Salesforce", source_instance_id="00D5g000004ZbXyEAK", source_name="crm",
                       fingerprint="crm-accounts")
    said = run_then_deliver(ws)
    assert "2 activated" in said, said
    [held] = server.lists.values()
    assert (held["type"], held["members"]) == ("0-2", {"1", "3"})
    searched = [f["values"] for request in server.searches for group in request["filterGroups"]
                for f in group["filters"] if f["operator"] == "IN"]
    assert searched == [["hooli.com", "initech.com", "www.hooli.com", "www.initech.com"]], "Acme by its own id"
    with Workspace.load(ws).lake() as lake:
        skipped = lake.execute("SELECT reason FROM delivery_receipts WHERE outcome = 'skipped'").fetchall()
    assert skipped == [("no_matching_company",)]
    targets.write_text('audience "Targets" of account\nwhere domain = "initech.com"\n')
    assert "1 removed" in run_then_deliver(ws) and held["members"] == {"3"}


def test_a_record_that_is_not_unicode_text_is_quarantined_and_the_rest_load(portal) -> None:
    """JSON's escapes can carry half a character (a lone surrogate), which no text column holds: that contact alone
    goes to quarantine with why, and the sync goes on."""
    server, ws = portal
    server.put("contacts", 104, ago(200), email="eve@acme.com", firstname="Eve\ud800")
    assert "1 quarantined" in sync(ws)
    assert rows(ws, "SELECT source_id FROM person_current ORDER BY 1") == [("101",), ("102",)]
    [(reason, kept)] = rows(ws, "SELECT reason, raw_record FROM quarantine WHERE entity = 'person'")
    assert "field 'firstname' holds \\ud800" in reason and '"id": "104"' in kept


def test_a_choice_is_read_as_the_label_hubspot_shows_or_as_its_value(tmp_path: Path) -> None:
    """A deal in a custom pipeline's stage is `Security Review`, not its number; each of several chosen values is
    labelled; a value the property no longer offers stays as it is; `enumerations: value` keeps the values."""
    for setting, stages in (("label", ["Security Review", "Closed Won;Closed Lost", "retired-stage"]),
                            ("value", ["87654321", "closedwon;closedlost", "retired-stage"])):
        with HubSpotServer() as server:
            ws = reading(server, tmp_path / setting, objects=["deals"], enumerations=setting)
            for n, stage in enumerate(["87654321", "closedwon;closedlost", "retired-stage"], start=1):
                server.put("deals", n, ago(10), dealname=f"Deal {n}", dealstage=stage)
            sync(ws)
        assert [r[0] for r in rows(ws, "SELECT stage FROM opportunity_current ORDER BY source_id")] == stages
