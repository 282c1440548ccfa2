"""The Dynamics 365 source against a local environment over HTTP: `accord sync dynamics` signs in with client
credentials, backfills accounts, contacts, leads and opportunities with change tracking, then follows each table's
delta link to what changed and was deleted; resumes a killed backfill at its page; refuses a wrong secret, another
organisation and a table without change tracking in one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from accord.cli import app
from accord.connectors.dynamics.client import DynamicsClient
from accord.connectors.dynamics.server import DynamicsServer
from accord.connectors.errors import ConnectorError
from accord.workspace import Workspace
from tests.conftest import sync_killed_when, workspace_reading

NOW = datetime.now(timezone.utc)
ACME, GLOBEX = "a0000001-0000-4000-8000-000000000001", "a0000002-0000-4000-8000-000000000002"
ANN, BOB, CY = "c0000001-0000-4000-8000-000000000001", "c0000002-0000-4000-8000-000000000002", \
    "c0000003-0000-4000-8000-000000000003"
LEAD = "1e000001-0000-4000-8000-000000000001"
DEAL = "0b000001-0000-4000-8000-000000000001"
WEBINAR, SHOW, CTOS, KEY = ("11000001-0000-4000-8000-000000000001", "11000002-0000-4000-8000-000000000002",
                            "11000003-0000-4000-8000-000000000003", "11000004-0000-4000-8000-000000000004")


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def reading(server: DynamicsServer, ws: Path, **settings: object) -> Path:
    """A new workspace at `ws` whose source `crm` reads the local environment."""
    return workspace_reading(ws, {"type": "dynamics", "name": "crm", "url": server.endpoint,
                                  "login_url": server.endpoint, "organization_id": server.organization_id,
                                  "tenant_id": server.tenant_id, "client_id": server.client_id,
                                  "client_secret": "file:crm.secret", **settings}, server.secret)


def key(record_id: str, server: DynamicsServer) -> str:
    return f"{record_id}@{server.organization_id}.Dynamics"


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[tuple[DynamicsServer, Path]]:
    """Two accounts, two contacts (one of Acme, one whose company is a contact), a lead, an open opportunity of Acme
    with Ann as its contact."""
    with DynamicsServer() as server:
        server.put("account", ACME, ago(600), name="Acme Corp ", websiteurl="https://www.acme.com/", industrycode=28,
                   numberofemployees=1200, revenue=25_000_000.0, customertypecode=8, address1_country="Germany")
        server.put("account", GLOBEX, ago(590), name="Globex", websiteurl="globex.io", parentaccountid=ACME)
        server.put("contact", ANN, ago(500), emailaddress1=" Ann@Acme.com", firstname="Ann", lastname="Lee",
                   jobtitle="CTO", parentcustomerid=("account", ACME), donotbulkemail=True, leadsourcecode=8)
        server.put("contact", BOB, ago(400), emailaddress1="bob@globex.io", firstname="Bob",
                   parentcustomerid=("contact", ANN))
        server.put("lead", LEAD, ago(300), emailaddress1="dee@initech.com", firstname="Dee", companyname="Initech",
                   statuscode=1, leadsourcecode=1)
        server.put("opportunity", DEAL, ago(200), name="Acme rollout", customerid=("account", ACME),
                   parentcontactid=ANN, estimatedvalue=90000.0, estimatedclosedate="2026-12-31", salesstagecode=1,
                   closeprobability=40)
        for list_id, name, code, dynamic in ((WEBINAR, "Webinar 2026", 2, False), (SHOW, "Trade show", 4, False),
                                             (CTOS, "All CTOs", 2, True), (KEY, "Key accounts", 1, False)):
            server.put("list", list_id, ago(100), listname=name, createdfromcode=code, type=dynamic)
        server.put_members(WEBINAR, ago(90), {ANN, BOB})
        server.put_members(SHOW, ago(90), {LEAD})
        server.put_members(KEY, ago(90), {ACME})
        yield server, reading(server, tmp_path / "ws")


def sync(ws: Path, *options: str) -> str:
    done = CliRunner().invoke(app, ["sync", "dynamics", "-w", str(ws), *options])
    assert done.exit_code == 0, done.output
    return " ".join(done.output.split())


def refused(ws: Path) -> str:
    done = CliRunner().invoke(app, ["sync", "dynamics", "-w", str(ws)])
    said = " ".join(done.output.split())
    assert done.exit_code == 1 and "Traceback" not in said, said
    return said


def rows(ws: Path, sql: str) -> list[tuple]:
    with Workspace.load(ws).lake() as lake:
        return lake.execute(sql).fetchall()


def test_a_backfill_then_syncs_read_records_labels_lookups_changes_and_deletions(environment) -> None:
    server, ws = environment
    assert "crm → prod: backfill" in sync(ws)
    assert rows(ws, "SELECT name, domain, industry, employees, annual_revenue, account_type, country, "
                    "parent_account_key FROM account_current ORDER BY name") == [
        ("Acme Corp", "acme.com", "Software", 1200, 25_000_000.0, "Prospect", "Germany", None),
        ("Globex", "globex.io", None, None, None, None, None, key(ACME, server))]
    assert rows(ws, "SELECT source_id, person_type, email, job_title, account_key, email_opt_out, lead_source, "
                    "company_name, lead_status, is_converted FROM person_current ORDER BY email") == [
        (ANN, "contact", "ann@acme.com", "CTO", key(ACME, server), True, "Web", None, None, None),
        (BOB, "contact", "bob@globex.io", None, None, False, None, None, None, None),  # its company is a contact
        (LEAD, "lead", "dee@initech.com", None, None, None, "Advertisement", "Initech", "New", False)]
    assert rows(ws, "SELECT name, account_key, stage, amount, close_date::VARCHAR, is_closed, is_won, probability "
                    "FROM opportunity_current") == [
        ("Acme rollout", key(ACME, server), "Develop", 90000.0, "2026-12-31", False, False, 40.0)]
    assert rows(ws, "SELECT opportunity_key, person_key, role, is_primary FROM opportunity_person_current") == [
        (key(DEAL, server), key(ANN, server), "Contact", True)]

    server.put("contact", ANN, NOW, jobtitle="CEO")
    server.put("contact", CY, NOW, emailaddress1="cy@acme.com", parentcustomerid=("account", ACME))
    server.put("lead", LEAD, NOW, statecode=1, statuscode=3)
    server.put("opportunity", DEAL, NOW, parentcontactid=CY, statecode=1, actualvalue=95000.0,
               actualclosedate="2026-12-01")
    server.delete("account", GLOBEX)
    server.fail_next(429)
    server.expire_tokens()
    assert "crm → prod: sync" in sync(ws)
    assert server.injected == {429: 1}
    assert rows(ws, "SELECT source_id, job_title, lead_status, is_converted FROM person_current ORDER BY email") == [
        (ANN, "CEO", None, None), (BOB, None, None, None), (CY, None, None, None), (LEAD, None, "Qualified", True)]
    assert rows(ws, "SELECT name FROM account_current") == [("Acme Corp",)], "Globex deleted"
    assert rows(ws, "SELECT amount, close_date::VARCHAR, is_closed, is_won FROM opportunity_current") == [
        (95000.0, "2026-12-01", True, True)]
    assert rows(ws, "SELECT person_key FROM opportunity_person_current") == [(key(CY, server),)], "Ann replaced by Cy"
    versions = rows(ws, "SELECT count(*) FROM person")
    synced = datetime.now(timezone.utc)
    sync(ws)
    assert rows(ws, "SELECT count(*) FROM person") == versions, "nothing changed, nothing loaded"
    listed = CliRunner().invoke(app, ["sources", "list", "-w", str(ws)], env={"COLUMNS": "200"}).output
    assert "never" not in listed and synced.isoformat()[:15] in listed, listed
    from accord.services.overview import sources
    with Workspace.load(ws).lake() as lake:  # what the REST API and the sources page show
        [shown] = sources(Workspace.load(ws), lake)
    assert shown["synced_up_to"][:15] == synced.isoformat()[:15]
    server.delete("opportunity", DEAL)
    sync(ws)
    assert rows(ws, "SELECT count(*) FROM opportunity_current") == [(0,)]
    assert rows(ws, "SELECT count(*) FROM opportunity_person_current") == [(0,)], "its contact's relation too"


def test_static_lists_of_people_are_read_with_their_members_as_they_change(environment) -> None:
    """A static list of contacts or of leads with its members; a dynamic list and a list of accounts without
    (their members are no people Accord can name, or a query); members added and removed, a list deleted; a change
    the list itself does not show is read by the daily reading of every list's members."""
    server, ws = environment
    sync(ws)
    assert rows(ws, "SELECT name FROM marketing_list_current ORDER BY 1") == [
        ("All CTOs",), ("Key accounts",), ("Trade show",), ("Webinar 2026",)]
    members = "SELECT l.name, m.person_key FROM marketing_list_member_current m JOIN marketing_list_current l " \
              "ON l.source_key = m.marketing_list_key ORDER BY 1, 2"
    assert rows(ws, members) == [("Trade show", key(LEAD, server)), ("Webinar 2026", key(ANN, server)),
                                 ("Webinar 2026", key(BOB, server))]
    server.put_members(WEBINAR, NOW, {ANN, CY})
    server.delete("list", SHOW)
    sync(ws)
    assert rows(ws, members) == [("Webinar 2026", key(ANN, server)), ("Webinar 2026", key(CY, server))]
    server.members[WEBINAR] = {CY}  # a change Dynamics did not count on the list
    sync(ws)
    assert len(rows(ws, members)) == 2, "not read until the daily reading"
    from accord.sources.state import SourceState
    with Workspace.load(ws).lake() as lake:
        SourceState(lake, f"dynamics:{server.organization_id}").put("lists", "members_read", ago(60 * 25).isoformat())
    sync(ws)
    assert rows(ws, members) == [("Webinar 2026", key(CY, server))]
    server.put_members(WEBINAR, NOW, {ANN, CY})
    sync(ws)
    assert rows(ws, members) == [("Webinar 2026", key(ANN, server)), ("Webinar 2026", key(CY, server))], "back"
    versions = rows(ws, "SELECT count(*) FROM marketing_list_member")
    with Workspace.load(ws).lake() as lake:
        SourceState(lake, f"dynamics:{server.organization_id}").put("lists", "members_read", ago(60 * 25).isoformat())
    sync(ws)
    assert rows(ws, "SELECT count(*) FROM marketing_list_member") == versions, "members read again load nothing"


def test_a_backfill_read_again_deletes_what_dynamics_no_longer_has_within_a_share(environment) -> None:
    """`--backfill` reads every table whole, with no delta link to say what was deleted since: what Accord holds
    that the read did not list is deleted (contacts and leads apart, though both are people); a read that would
    delete most of a table (a security role lost) is refused, and nothing is deleted."""
    server, ws = environment
    sync(ws)
    server.delete("contact", BOB)
    said = sync(ws, "--backfill")
    assert rows(ws, "SELECT source_id FROM person_current ORDER BY 1") == [(LEAD,), (ANN,)], said
    server.delete("contact", ANN)
    server.put("contact", CY, NOW, emailaddress1="cy@acme.com")
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["sources"][0]["reconcile_max_share"] = 0.4
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    done = CliRunner().invoke(app, ["sync", "dynamics", "-w", str(ws), "--backfill"])
    said = " ".join(done.output.split())
    assert done.exit_code == 1 and "1 of the 2 records Accord holds are no longer in the source" in said, said
    assert rows(ws, "SELECT source_id FROM person_current ORDER BY 1") == [(LEAD,), (ANN,), (CY,)]


def test_a_delta_link_dynamics_no_longer_keeps_reads_the_table_whole_again(environment) -> None:
    """Past the time Dynamics keeps changes, it refuses the delta link: the sync reads the tables whole again, and
    what was deleted meanwhile is found by what the read no longer lists."""
    server, ws = environment
    sync(ws)
    server.forget_changes()
    server.delete("contact", BOB)
    server.put("contact", ANN, NOW, jobtitle="CEO")
    said = sync(ws)
    assert "crm → prod: sync" in said and "1 deleted" in said, said
    assert rows(ws, "SELECT source_id, job_title FROM person_current ORDER BY 1") == [
        (LEAD, None), (ANN, "CEO")]
    calls = len(server.calls)
    sync(ws)
    assert len(server.calls) - calls < 15, "the new delta links are followed, nothing read whole"


def test_the_dynamics_people_join_a_profile_an_audience_and_a_file(environment) -> None:
    """Dynamics → profiles → an audience of people at software accounts with an open opportunity → a file."""
    server, ws = environment
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["destinations"] = [{"type": "file", "name": "out", "url": "out", "audiences": ["Software buyers"],
                               "fields": ["email"]}]
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    (ws / "audiences" / "buyers.aud").write_text(
        'audience "Software buyers" of person\nwhere account.industry = "Software" and '
        'any opportunity (is_closed = false)\n')
    sync(ws)
    for command in (["run"], ["deliveries", "run", "-d", "out"]):
        done = CliRunner().invoke(app, [*command, "-w", str(ws)])
        assert done.exit_code == 0, done.output
    written = "".join(p.read_text() for p in (ws / "out").rglob("*") if p.is_file())
    assert "ann@acme.com" in written and "bob@globex.io" not in written and "dee@initech.com" not in written


def test_a_backfill_killed_mid_table_resumes_at_its_next_page(tmp_path: Path) -> None:
    """`kill -9` while Dynamics answers the second page of contacts: the next sync follows that page's link again."""
    with DynamicsServer() as server:
        ws = reading(server, tmp_path / "ws", page_size=2, records_per_batch=2, tables=["contacts"])
        for n in range(1, 6):
            server.put("contact", f"c000000{n}-0000-4000-8000-000000000000", ago(60 - n), emailaddress1=f"p{n}@x.io")
        # calls: WhoAmI, the columns, page 1, page 2 (held)
        server.hold(4, seconds=60)
        sync_killed_when(ws, "dynamics", lambda: len(server.calls) == 4)
        sync(ws)
        pages = [c for c in server.calls if c == ("GET", "/api/data/v9.2/contacts")]
    assert len(pages) == 2 + 2, "two pages before the kill, then the second and third only"
    assert rows(ws, "SELECT count(*), count(DISTINCT source_id) FROM person") == [(5, 5)]


def test_a_wrong_secret_another_organisation_or_a_table_without_change_tracking_is_one_line(environment) -> None:
    server, ws = environment
    (ws / "crm.secret").write_text("not-the-secret")
    said = refused(ws)
    assert "AADSTS7000215" in said and "check tenant_id, client_id and client_secret" in said, said
    (ws / "crm.secret").write_text(server.secret)
    server.organization_id = "11111111-2222-4333-8444-555555555555"
    said = refused(ws)
    assert "is of organisation 11111111-2222-4333-8444-555555555555, not of organization_id" in said, said
    assert rows(ws, "SELECT count(*) FROM person") == [(0,)], "nothing read from another organisation"
    server.organization_id = DynamicsServer().organization_id
    server.untracked.add("lead")
    said = refused(ws)
    assert "not enabled for change tracking" in said and "turn on Track changes" in said, said
    checked = CliRunner().invoke(app, ["sources", "check", "-w", str(ws)])
    assert checked.exit_code == 1 and "turn on Track changes" in " ".join(checked.output.split()), checked.output


def test_tables_of_an_app_the_environment_lacks_are_left_out_unless_named(environment) -> None:
    """An environment without Dynamics 365 Sales has no leads, opportunities or lists: read by default, they are left
    out, said; named under `tables:`, one line."""
    server, ws = environment
    server.lacking |= {"lead", "opportunity", "list"}
    said = sync(ws)
    assert "left out, not in the system: leads, opportunities, lists" in said, said
    assert rows(ws, "SELECT count(*) FROM person_current") == [(2,)]
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["sources"][0]["tables"] = ["contacts", "leads"]
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    said = refused(ws)
    assert "Could not find an entity with name 'lead'" in said, said


def test_a_declared_custom_field_is_read_as_the_table_gets_it_and_choices_can_stay_numbers(environment) -> None:
    """A delta link reads the columns it was made with: a custom field declared after the backfill reads the table
    whole again (what did not change loads nothing); `choices: value` keeps a choice's number."""
    server, ws = environment
    sync(ws)
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["custom_fields"] = [{"entity": "account", "name": "new_abmtier", "label": "ABM Tier"}]
    config["sources"][0]["choices"] = "value"
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    checked = CliRunner().invoke(app, ["sources", "check", "-w", str(ws)])
    assert "declared fields accounts lacks (new_abmtier)" in " ".join(checked.output.split()), checked.output
    from accord.connectors.dynamics import server as environment_server
    environment_server.ATTRIBUTES["account"]["new_abmtier"] = "String"
    try:
        server.put("account", ACME, NOW, new_abmtier="Tier 1")
        sync(ws)
    finally:
        del environment_server.ATTRIBUTES["account"]["new_abmtier"]
    assert rows(ws, "SELECT new_abmtier, industry FROM account_current WHERE name = 'Acme Corp'") == [("Tier 1", "28")]


def test_a_link_outside_the_environment_is_not_followed() -> None:
    client = DynamicsClient("https://contoso.crm.dynamics.com", "v9.2", "https://login.microsoftonline.com",
                            "72f988bf-86f1-41af-91ab-2d7cd011db47", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "s")
    with pytest.raises(ConnectorError, match="outside https://contoso.crm.dynamics.com/api/data/v9.2/: not followed"):
        client.follow("https://evil.example/api/data/v9.2/accounts?$skiptoken=1", "the records of accounts", 10)


def test_contacts_exported_to_excel_from_a_dynamics_view_load_through_the_shipped_mapping(tmp_path: Path) -> None:
    """Dynamics' export of a view: display names, its own `(Do Not Modify)` columns beside a `Modified On` shown in
    the user's locale; `accord mappings check` finds the mapping, and the rows load as the API's would."""
    export = tmp_path / "My Active Contacts.csv"
    export.write_text(
        "(Do Not Modify) Contact,(Do Not Modify) Row Checksum,(Do Not Modify) Modified On,Full Name,First Name,"
        "Last Name,Email,Account Name,Business Phone,Job Title,Created On,Modified On\n"
        f"{ANN},kXq9w==,2026-11-30T10:12:00,Ann Lee,Ann,Lee, Ann@Acme.com ,Acme Corp,+1 415 555 0132,CTO,"
        "11/2/2026 10:00 AM,11/30/2026 10:12 AM\n"
        f"{BOB},aZ8d==,2026-11-29T09:00:00,Bob Ray,Bob,Ray,bob@globex.io,Globex,,,11/3/2026 9:00 AM,"
        "11/29/2026 9:00 AM\n")
    ws = tmp_path / "ws"
    assert CliRunner().invoke(app, ["init", str(ws)]).exit_code == 0
    checked = CliRunner().invoke(app, ["mappings", "check", str(export)])
    assert "best fit: dynamics/contact" in checked.output, checked.output
    loaded = CliRunner().invoke(app, ["ingest", "files", str(export), "--mapping", "dynamics/contact", "-w", str(ws),
                                      "--date-format", "%m/%d/%Y %I:%M %p"])
    assert loaded.exit_code == 0 and "quarantined" not in loaded.output, loaded.output
    assert rows(ws, "SELECT source_id, email, job_title, created_at::DATE::VARCHAR, "
                    "source_updated_at::VARCHAR FROM person_current ORDER BY 2") == [
        (ANN, "ann@acme.com", "CTO", "2026-11-02", "2026-11-30 10:12:00+00"),
        (BOB, "bob@globex.io", None, "2026-11-03", "2026-11-29 09:00:00+00")]


def delivering(server: DynamicsServer, ws: Path, audiences: dict[str, str], **settings: object) -> None:
    """The workspace sends these audiences (name → text) to the environment as destination `lists`."""
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["destinations"] = [{"type": "dynamics", "name": "lists", "url": server.endpoint,
                               "login_url": server.endpoint, "organization_id": server.organization_id,
                               "tenant_id": server.tenant_id, "client_id": server.client_id,
                               "client_secret": "file:crm.secret", "audiences": list(audiences), **settings}]
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    for n, text in enumerate(audiences.values()):
        (ws / "audiences" / f"{n}.aud").write_text(text)


def run_then_deliver(ws: Path) -> str:
    for command in (["run"], ["deliveries", "run", "-d", "lists"]):
        done = CliRunner().invoke(app, [*command, "-w", str(ws)])
        assert done.exit_code == 0, done.output
    return " ".join(done.output.split())


def list_of(server: DynamicsServer, name: str) -> dict:
    [held] = [held for held in server.lists.values() if held["name"].endswith(f" · {name}")]
    return held


def test_audiences_reach_marketing_lists_of_existing_contacts_and_accounts(environment) -> None:
    """Dynamics (and another system's person) → profiles → audiences → static marketing lists: a contact read from
    the environment goes by its own id, one from elsewhere by its e-mail; a lead is no contact; an account by its own
    id; someone leaving the audience leaves the list; nothing is ever created."""
    server, ws = environment
    server.put("contact", ANN, ago(100), donotbulkemail=False)  # else she is kept off lists for e-mail
    delivering(server, ws, {
        "Acme people": 'audience "Acme people" of person\nwhere email ends with "@acme.com"\n',
        "Prospects": 'audience "Prospects" of account\nwhere account_type = "Prospect"\n'})
    sync(ws)
    from accord.ingest.records import ingest_records
    with Workspace.load(ws).lake() as lake:  # a Marketo lead of Cy, whom Dynamics has but Accord has not read
        ingest_records(lake, "person", [{"source_id": "9", "email": "cy@acme.com"}], source_type="Marketo",
                       source_instance_id="123-ABC-456", source_name="mkto", fingerprint="mkto-cy")
    server.put("contact", CY, NOW, emailaddress1="Cy@Acme.com")
    said = run_then_deliver(ws)
    assert "Acme people: 2 activated" in said and "Prospects: 1 activated" in said, said
    assert list_of(server, "Acme people")["members"] == {ANN, CY}
    assert (list_of(server, "Prospects")["table"], list_of(server, "Prospects")["members"]) == ("account", {ACME})
    assert len(server.records["contact"]) == 3 and len(server.lists) == 3 + 2, "nothing created but the two lists"

    server.put("contact", ANN, NOW, emailaddress1="ann@acme.example")
    sync(ws)
    said = run_then_deliver(ws)
    assert "1 removed" in said, said
    assert list_of(server, "Acme people")["members"] == {CY}
    again = CliRunner().invoke(app, ["deliveries", "run", "-d", "lists", "-w", str(ws)])
    assert "0 activated, 0 removed, 0 updated" in " ".join(again.output.split())


def test_a_person_audience_can_go_to_a_list_of_leads(environment) -> None:
    server, ws = environment
    delivering(server, ws, {"Everyone": 'audience "Everyone" of person\nwhere email contains "@"\n'},
               people_as="leads")
    sync(ws)
    said = run_then_deliver(ws)
    assert "1 activated" in said and "no_matching_lead" in said, said
    assert (list_of(server, "Everyone")["table"], list_of(server, "Everyone")["members"]) == ("lead", {LEAD})


def test_odd_records_are_quarantined_alone_and_the_rest_load(environment) -> None:
    """Half a character (a lone surrogate JSON can carry), Dataverse's last date as a creation time: each of those
    records is quarantined with why; 100 kB of text and a right-to-left name load, as does the rest of the page."""
    server, ws = environment
    server.put("contact", "c0000009-0000-4000-8000-000000000009", ago(50), emailaddress1="eve@acme.com",
               firstname="Eve\ud800")
    server.put("contact", "c0000008-0000-4000-8000-000000000008", ago(50), emailaddress1="far@acme.com",
               createdon="9999-12-31T23:59:59Z")
    server.put("contact", "c0000007-0000-4000-8000-000000000007", ago(50), emailaddress1="dov@acme.com",
               jobtitle="x" * 100_000, lastname="\u05d3\u05d5\u05d3 \u202e")
    said = sync(ws)
    assert "2 quarantined" in said, said
    reasons = sorted(r[0] for r in rows(ws, "SELECT reason FROM quarantine WHERE entity = 'person'"))
    assert "field 'firstname' holds \\ud800" in reasons[0] and reasons[1].startswith("out_of_range: created_at"), \
        reasons
    assert rows(ws, "SELECT last_name, length(job_title) FROM person_current WHERE email = 'dov@acme.com'") == [
        ("\u05d3\u05d5\u05d3 \u202e", 100_000)]
    assert rows(ws, "SELECT count(*) FROM person_current") == [(4,)]


def test_deliveries_check_says_which_lists_exist_and_changes_nothing(environment) -> None:
    server, ws = environment
    delivering(server, ws, {"Acme people": 'audience "Acme people" of person\nwhere email ends with "@acme.com"\n',
                            "Key accounts": 'audience "Key accounts" of account\nwhere name = "Acme Corp"\n'},
               lists={"Key accounts": "Key accounts"})
    checked = CliRunner().invoke(app, ["deliveries", "check", "-w", str(ws)], env={"COLUMNS": "300"})
    assert checked.exit_code == 0 and "ok (dynamics): 1 lists found, 1 to create" in checked.output, checked.output
    assert len(server.lists) == 3, "nothing made"
    delivering(server, ws, {"Acme people": 'audience "Acme people" of person\nwhere email ends with "@acme.com"\n'},
               create_lists=False)
    checked = CliRunner().invoke(app, ["deliveries", "check", "-w", str(ws)], env={"COLUMNS": "300"})
    said = " ".join(checked.output.split())
    assert checked.exit_code == 1 and "has no marketing list" in said and "Traceback" not in said, said
