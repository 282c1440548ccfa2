"""Salesforce source against the local Salesforce server over real HTTP: bulk backfill, SOQL sync, errors, auth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from accord.cli import app
from accord.connectors.errors import ConnectorError
from accord.connectors.salesforce.client import (
    SalesforceAuth,
    SalesforceAuthError,
    SalesforceClient,
    SalesforceError,
)
from accord.connectors.salesforce.config import SalesforceSourceConfig
from accord.connectors.salesforce.server import SalesforceData, SalesforceServer
from accord.connectors.salesforce.source import SalesforceSource
from accord.identity.config import IdentityConfig
from accord.ingest.mapping import MappingError
from accord.lake.custom_fields import declare
from accord.lake.store import Lake
from accord.model.schema import STANDARD, CustomField, CustomObject, Schema
from accord.pipeline import run_identity
from accord.sources.state import SourceState
from accord.workspace import Workspace

ORG = "00D5e0000012345EAA"


@pytest.fixture
def data(tiny_world: Path) -> SalesforceData:
    return SalesforceData.from_folder(tiny_world / "salesforce")


@pytest.fixture
def server(data: SalesforceData) -> Iterator[SalesforceServer]:
    with SalesforceServer(data, page_size=50) as running:
        yield running


def client_for(server: SalesforceServer, auth: SalesforceAuth | None = None) -> SalesforceClient:
    auth = auth or SalesforceAuth(f"{server.endpoint}/services/oauth2/token", server.client_id,
                                  client_secret=server.client_secret)
    return SalesforceClient(server.endpoint, server.api_version, auth, backoff=0.002, poll_seconds=0.005)


def source_for(server: SalesforceServer, root: Path | None = None, schema: Schema = STANDARD,
               **config: Any) -> SalesforceSource:
    settings = {"name": "sf", "org_id": ORG, "instance_url": server.endpoint, "client_id": server.client_id,
                "client_secret": "env:SF_SECRET", "api_version": server.api_version, "bulk_page_records": 100, **config}
    return SalesforceSource(SalesforceSourceConfig.model_validate(settings), client_for(server), root or Path("."),
                            schema)


def live_rows(data: SalesforceData, sobject: str) -> int:
    return sum(1 for r in data.records[sobject] if r.get("IsDeleted") != "true")


def versions(lake: Lake, entity: str) -> int:
    return int(lake.scalar(f"SELECT count(*) FROM {entity}"))


def test_backfill_reads_every_object_through_bulk_locators(server: SalesforceServer, data: SalesforceData,
                                                           lake: Lake) -> None:
    report = source_for(server).backfill(lake)
    assert versions(lake, "account") == live_rows(data, "Account")
    assert versions(lake, "person") == live_rows(data, "Contact") + live_rows(data, "Lead")
    assert versions(lake, "opportunity") == live_rows(data, "Opportunity")
    assert versions(lake, "opportunity_person") == live_rows(data, "OpportunityContactRole")
    assert versions(lake, "campaign_member") == live_rows(data, "CampaignMember")
    assert report.quarantined() == 0
    pages = server.count("/results")
    assert pages >= -(-live_rows(data, "OpportunityContactRole") // 100) + 7  # several locators for the big object
    assert lake.scalar("SELECT source_key FROM account LIMIT 1").endswith(f"@{ORG}.Salesforce")


def test_an_object_without_records_may_answer_an_empty_body(server: SalesforceServer, data: SalesforceData,
                                                            lake: Lake) -> None:
    """A result set of no records may come as an empty body, not even a header row: nothing to load, no error."""
    server.bare_empty_results = True
    data.records["Campaign"], data.records["CampaignMember"] = [], []
    report = source_for(server).backfill(lake)
    assert versions(lake, "account") == live_rows(data, "Account") > 0
    assert versions(lake, "campaign") == versions(lake, "campaign_member") == 0 and report.quarantined() == 0
    assert source_for(server).sync(lake).loaded() == 0


def test_sync_pages_with_next_records_url_and_turns_deletes_into_soft_deletes(server: SalesforceServer,
                                                                              data: SalesforceData, lake: Lake) -> None:
    source = source_for(server)
    source.backfill(lake)
    assert source.sync(lake).loaded() == 0
    contact = data.records["Contact"][0]["Id"]
    data.delete("Contact", contact)
    for i in range(120):  # more than two pages of 50
        data.upsert("Lead", {"FirstName": f"New{i}", "LastName": "Lead", "Email": f"new{i}@example.org",
                             "Company": "Example", "Status": "Open - Not Contacted", "IsConverted": "false"})
    report = source.sync(lake)
    assert report.deleted == 1 and report.loaded("person") == 121
    assert server.count("/query/01g") >= 2  # followed nextRecordsUrl
    assert lake.scalar("SELECT count(*) FROM person_current WHERE source_id = ?", [contact]) == 0
    assert lake.scalar("SELECT count(*) FROM person WHERE source_id = ?", [contact]) == 2  # history kept
    assert source.sync(lake).loaded() == 0


def test_a_page_that_names_itself_as_the_next_stops_the_run_not_the_api_quota(server: SalesforceServer,
                                                                             data: SalesforceData, lake: Lake) -> None:
    """Read again, the same page (or bulk results) would come back until the org's daily API calls are gone."""
    server.stuck_paging = True
    with pytest.raises(ConnectorError, match="Sforce-Locator names the results just read"):
        source_for(server).backfill(lake)
    assert server.count("/results") <= 3  # objects of one page, then the first of more pages, and its repeat
    server.stuck_paging = False
    source = source_for(server)
    source.backfill(lake)
    for i in range(120):  # more than two pages of 50
        data.upsert("Lead", {"FirstName": f"New{i}", "LastName": "Lead", "Email": f"new{i}@example.org",
                             "Company": "Example", "Status": "Open - Not Contacted", "IsConverted": "false"})
    server.stuck_paging = True
    with pytest.raises(ConnectorError, match="nextRecordsUrl is the page just read"):
        source.sync(lake)
    assert server.count("/query/01g") == 1


def test_a_bulk_job_that_never_completes_fails_the_run_and_the_next_waits_for_it(server: SalesforceServer,
                                                                                 lake: Lake) -> None:
    """Polled with no upper bound, a job Salesforce never ran held the backfill (and serve's source worker) for good."""
    server.bulk_seconds = 3600.0
    with pytest.raises(ConnectorError, match=r"is still InProgress after 0\.0 minutes \(bulk_wait_minutes") as failed:
        source_for(server, bulk_wait_minutes=0.001).backfill(lake)
    job = str(failed.value).split("query job ")[1].split()[0]
    assert server.count("/jobs/query", "POST") == 1 and server.count(f"/jobs/query/{job}/results") == 0
    server.bulk_seconds = 0.0
    source_for(server, bulk_wait_minutes=0.001).backfill(lake)
    assert server.count(f"/jobs/query/{job}/results") >= 1  # the job was waited for again, not made anew
    assert lake.scalar("SELECT count(*) FROM person_current") > 0


def test_records_the_recycle_bin_no_longer_holds_are_found_by_comparing_ids(server: SalesforceServer,
                                                                            data: SalesforceData, lake: Lake) -> None:
    """A deletion leaves the recycle bin after 15 days (or at once, emptied or hard-deleted): a sync paused longer
    never sees it through queryAll. Every reconcile_days each object's ids are compared with the org's."""
    source = source_for(server)
    source.backfill(lake)
    contact, lead = data.records["Contact"][0]["Id"], data.records["Lead"][0]["Id"]
    data.purge("Contact", contact)
    data.purge("Lead", lead)
    report = source.sync(lake)
    assert report.deleted == 0, "the backfill compared them a moment ago: not due yet"
    state = SourceState(lake, f"salesforce:{ORG}")
    weeks_ago = (datetime.now(timezone.utc) - timedelta(days=20)).isoformat()
    for sobject in ("Contact", "Lead"):
        state.put(f"sync.{sobject}", "since", weeks_ago)  # a server that was down for three weeks
    state.put("backfill", "completed_at", weeks_ago)
    report = source.sync(lake)
    assert report.deleted == 2
    assert lake.scalar("SELECT count(*) FROM person_current WHERE list_contains(?, source_id)", [[contact, lead]]) == 0
    assert lake.scalar("SELECT count(*) FROM person_current") == live_rows(data, "Contact") + live_rows(data, "Lead")
    assert lake.scalar("SELECT count(*) FROM account_current") == live_rows(data, "Account")
    assert source.sync(lake).deleted == 0, "compared again only after reconcile_days"


def test_a_comparison_that_would_delete_most_of_an_object_is_refused(server: SalesforceServer, data: SalesforceData,
                                                                     lake: Lake) -> None:
    """An integration user who lost access to most Leads (a sharing rule) must not delete them all."""
    source = source_for(server, reconcile_days=1)
    source.backfill(lake)
    leads = live_rows(data, "Lead")
    for row in list(data.records["Lead"])[1:]:
        data.purge("Lead", row["Id"])
    SourceState(lake, f"salesforce:{ORG}").put("backfill", "completed_at", "2026-01-01T00:00:00+00:00")
    refused = r"Lead: \d+ of the \d+ records Accord holds are no longer in the source; .* reconcile_max_share \(50%\)"
    with pytest.raises(SalesforceError, match=refused):
        source.sync(lake)
    assert lake.scalar("SELECT count(*) FROM person_current WHERE source_id LIKE '00Q%'") == leads
    assert lake.scalar("SELECT count(*) FROM person_current WHERE source_id LIKE '003%'") == live_rows(data, "Contact")
    raised = source_for(server, reconcile_days=1, reconcile_max_share=1.0).sync(lake)
    assert raised.deleted == leads - 1


def test_a_change_in_the_same_second_as_the_checkpoint_is_not_lost(server: SalesforceServer,
                                                                     data: SalesforceData, lake: Lake) -> None:
    """SOQL compares whole seconds: a change stamped in the second the last sync ended on still comes in."""
    source = source_for(server)
    source.backfill(lake)
    moment = datetime.now(timezone.utc) + timedelta(minutes=5)
    lead = {"LastName": "Lead", "Company": "Example", "Status": "Open - Not Contacted", "IsConverted": "false"}
    data.upsert("Lead", lead | {"FirstName": "First", "Email": "first@example.org"}, at=moment)
    assert source.sync(lake).loaded("person") == 1
    data.upsert("Lead", lead | {"FirstName": "Second", "Email": "second@example.org"}, at=moment)
    assert source.sync(lake).loaded("person") == 1, "stamped in the checkpoint's own second"
    assert source.sync(lake).loaded() == 0, "read again, loaded once"


def test_expired_session_and_limits_are_retried(server: SalesforceServer, lake: Lake) -> None:
    client = client_for(server)
    client.describe("Account")
    server.expire_tokens()
    server.fail_next("REQUEST_LIMIT_EXCEEDED", 2)
    server.fail_next("QUERY_TIMEOUT")
    assert "Name" in client.describe("Account")
    assert client.stats.retries == {"INVALID_SESSION_ID": 1, "REQUEST_LIMIT_EXCEEDED": 2, "QUERY_TIMEOUT": 1}
    bad = SalesforceClient(server.endpoint, server.api_version, SalesforceAuth(
        f"{server.endpoint}/services/oauth2/token", server.client_id, client_secret="wrong"))
    with pytest.raises(SalesforceAuthError, match="authentication failure"):
        bad.describe("Account")


def test_refresh_token_and_jwt_bearer_flows(server: SalesforceServer) -> None:
    token_url = f"{server.endpoint}/services/oauth2/token"
    refresh = client_for(server, SalesforceAuth(token_url, server.client_id, "refresh_token",
                                                refresh_token=server.refresh_token))
    assert refresh.describe("Lead")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    signed = client_for(server, SalesforceAuth(token_url, server.client_id, "jwt", private_key=pem,
                                               username="integration@acme.example"))
    assert signed.describe("Lead")
    claims = jwt.decode(server.jwt_assertions[-1], key.public_key(), algorithms=["RS256"],
                        audience="https://login.salesforce.com")
    assert claims["iss"] == server.client_id and claims["sub"] == "integration@acme.example"


def test_interrupted_backfill_resumes_at_its_locator(server: SalesforceServer, data: SalesforceData,
                                                     lake: Lake) -> None:
    class Stop(Exception):
        pass

    seen: list[str] = []

    def stop_mid_object(what: str, rows: int) -> None:
        if what.startswith("OpportunityContactRole page"):
            seen.append(what)
            if len(seen) == 3:
                raise Stop

    with pytest.raises(Stop):
        source_for(server).backfill(lake, stop_mid_object)
    assert SourceState(lake, f"salesforce:{ORG}").get("backfill.OpportunityContactRole", "locator") is not None
    source_for(server).backfill(lake)
    assert versions(lake, "opportunity_person") == live_rows(data, "OpportunityContactRole")
    assert versions(lake, "person") == live_rows(data, "Contact") + live_rows(data, "Lead")
    jobs = [p for m, p in server.calls if m == "POST" and p.endswith("/jobs/query")]
    assert len(jobs) == 8  # one job per object: the interrupted one was picked up, not created again


def test_converted_lead_joins_its_contact_and_custom_fields_map(tmp_path: Path, server: SalesforceServer,
                                                                data: SalesforceData, lake: Lake) -> None:
    contact = next(r for r in data.records["Contact"] if r.get("Email"))
    for row in data.records["Contact"]:
        row["Department__c"] = "Revenue Operations" if row is contact else None
    data.upsert("Lead", {"Id": "00Q5e00000CONVERT1", "FirstName": contact["FirstName"], "LastName": contact["LastName"],
                         "Email": "old.address@legacy-domain.example", "Company": "Legacy", "Status": "Closed - Converted",
                         "IsConverted": "true", "ConvertedContactId": contact["Id"],
                         "ConvertedAccountId": contact["AccountId"], "ConvertedDate": "2026-10-01"})
    shipped = Path(__file__).resolve().parents[1] / "src/accord/connectors/salesforce/mappings/contact.yaml"
    custom = yaml.safe_load(shipped.read_text())
    custom["fields"]["department"] = "Department__c"
    (tmp_path / "contact.yaml").write_text(yaml.safe_dump(custom))
    source_for(server, tmp_path, mappings={"Contact": "contact.yaml"}).backfill(lake)
    run_identity(lake, IdentityConfig())
    ids = {r["source_id"]: r["person_id"] for r in lake.query(
        "SELECT n.value AS source_id, n.profile_id AS person_id FROM identity_nodes n WHERE n.namespace = 'b2b_person'")}
    assert ids[f"00Q5e00000CONVERT1@{ORG}.Salesforce"] == ids[f"{contact['Id']}@{ORG}.Salesforce"]
    assert lake.scalar("SELECT department FROM person_current WHERE source_id = ?", [contact["Id"]]) == "Revenue Operations"


@pytest.mark.parametrize("chosen", [None, ["ABM_Tier__c"]])
def test_declared_custom_fields_the_org_describes_are_read(server: SalesforceServer, data: SalesforceData, lake: Lake,
                                                          chosen: list[str] | None) -> None:
    """The generated org carries ABM_Tier__c on Account and Persona__c on Contact; Missing__c it has not."""
    schema = Schema((CustomField(entity="account", name="ABM_Tier__c"), CustomField(entity="person", name="Persona__c"),
                     CustomField(entity="account", name="Missing__c")))
    declare(lake, schema.custom)
    source = source_for(server, schema=schema, custom_fields=chosen, objects=["Account", "Contact"])
    assert "ABM_Tier__c" in source.fields("Account") and "Missing__c" not in source.fields("Account")
    source.backfill(lake)
    tiers = {r["Id"]: r["ABM_Tier__c"] or None for r in data.records["Account"]}
    got = dict(lake.execute('SELECT source_id, "ABM_Tier__c" FROM account_current').fetchall())
    assert got == tiers and any(got.values())
    personas = lake.scalar('SELECT count("Persona__c") FROM person_current')
    assert (personas > 0) == (chosen is None)


def test_an_object_read_by_default_that_the_org_lacks_is_left_out_one_asked_for_is_an_error(
        server: SalesforceServer, data: SalesforceData, lake: Lake) -> None:
    """Contacts to Multiple Accounts is a feature an org turns on: without it there is no AccountContactRelation."""
    del data.records["AccountContactRelation"]
    assert source_for(server).check()["objects the org lacks, left out (AccountContactRelation)"] == 1
    report = source_for(server).backfill(lake)
    assert versions(lake, "account") == live_rows(data, "Account") > 0 and versions(lake, "account_person") == 0
    assert report.absent == ["AccountContactRelation"] and source_for(server).sync(lake).absent == report.absent
    with pytest.raises(ConnectorError, match="NOT_FOUND on /services/data/v.*/sobjects/AccountContactRelation"):
        source_for(server, objects=["Account", "AccountContactRelation"]).sync(lake)


def test_a_declared_field_the_org_spells_otherwise_is_read_and_check_names_the_missing(
        server: SalesforceServer, data: SalesforceData, lake: Lake) -> None:
    """`abm_tier__c` is asked for as the org spells it; before, no field matched exactly and none was read."""
    lacking = Schema((CustomField(entity="account", name="abm_tier__c"),
                      CustomField(entity="account", name="Missing__c")))
    declare(lake, lacking.custom)
    source = source_for(server, schema=lacking, objects=["Account"])
    found = source.check()
    assert found == {"Account fields read": len(source.fields("Account")),
                     "declared fields Account lacks (Missing__c)": 1}
    assert "ABM_Tier__c" in source.fields("Account")
    source.backfill(lake)
    tiers = {r["Id"]: r["ABM_Tier__c"] or None for r in data.records["Account"]}
    assert dict(lake.execute("SELECT source_id, abm_tier__c FROM account_current").fetchall()) == tiers
    assert any(tiers.values())


def test_a_declared_custom_object_is_backfilled_and_synced(server: SalesforceServer, data: SalesforceData,
                                                         lake: Lake) -> None:
    account = data.records["Account"][0]["Id"]
    data.records["Subscription__c"] = [
        {"Id": f"a015e00000SUB{i:04d}", "Account__c": account, "Seats__c": str(10 * i), "Status__c": "Active",
         "SystemModstamp": "2026-11-01T00:00:00.000+0000", "IsDeleted": "false"} for i in range(1, 4)]
    obj = CustomObject(name="Subscription__c", related_to="account", relation_column="Account__c",
                       fields=[{"name": "Seats__c", "type": "integer"}, {"name": "Status__c"}])
    schema = Schema(tuple(obj.custom_fields()), (obj,))
    declare(lake, schema.custom, schema.objects)
    source = source_for(server, schema=schema, objects=["Account", "Subscription__c"])
    source.backfill(lake)
    rows = lake.query('SELECT account_key, "Seats__c" FROM "Subscription__c_current" ORDER BY 2')
    assert [(r["account_key"], r["Seats__c"]) for r in rows] == [(f"{account}@{ORG}.Salesforce", n) for n in (10, 20, 30)]
    data.upsert("Subscription__c", {"Id": "a015e00000SUB0002", "Seats__c": "250"},
                datetime.now(timezone.utc) + timedelta(seconds=2))
    data.delete("Subscription__c", "a015e00000SUB0003", datetime.now(timezone.utc) + timedelta(seconds=2))
    source.sync(lake)
    assert lake.scalar('SELECT list("Seats__c" ORDER BY "Seats__c") FROM "Subscription__c_current"') == [10, 250]
    with pytest.raises(MappingError, match="unknown object.*Widget__c.*declare a custom object"):
        source_for(server, schema=schema, objects=["Widget__c"])


def test_marketo_and_salesforce_make_one_profile_per_person(tmp_path: Path, tiny_world: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Both sources over the same world through their connectors give the profiles the files give."""
    from accord.connectors.marketo.data import MarketoData
    from accord.connectors.marketo.server import Limits, MarketoServer
    from accord.sources.files import jobs_from_manifest, load_file

    with Lake(tmp_path / "files.duckdb") as from_files:
        for job in jobs_from_manifest(tiny_world):
            load_file(from_files, job)
        run_identity(from_files, IdentityConfig())
        expected = (from_files.scalar("SELECT count(*) FROM person_profile"),
                    from_files.scalar("SELECT count(*) FROM account_profile"))
    monkeypatch.setenv("SF_SECRET", "accord-sf-secret")
    monkeypatch.setenv("MKTO_SECRET", "accord-secret")
    with SalesforceServer(SalesforceData.from_folder(tiny_world / "salesforce")) as sf, \
            MarketoServer(MarketoData.from_folder(tiny_world / "marketo"),
                          limits=Limits(calls_per_window=5000, bulk_seconds=0.005)) as mkto:
        ws = Workspace.init(tmp_path / "ws")
        config = ws.config.model_dump(mode="json")
        config["sources"] = [
            {"type": "salesforce", "name": "sf", "org_id": ORG, "instance_url": sf.endpoint, "client_id": sf.client_id,
             "client_secret": "env:SF_SECRET", "api_version": sf.api_version, "bulk_poll_seconds": 0.01},
            {"type": "marketo", "name": "mkto", **mkto.connection("env:MKTO_SECRET"), "backfill_since": "2024-01-01",
             "bulk_poll_seconds": 0.01, "calls_per_20s": 5000},
        ]
        (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
        runner = CliRunner()
        for kind in ("salesforce", "marketo"):
            result = runner.invoke(app, ["sync", kind, "-w", str(ws.root)])
            assert result.exit_code == 0, result.output
        checked = runner.invoke(app, ["sources", "check", "-w", str(ws.root)])
        assert checked.exit_code == 0 and "sf: ok" in checked.output
    with Workspace.load(ws.root).lake() as lake:
        run_identity(lake, IdentityConfig())
        got = (lake.scalar("SELECT count(*) FROM person_profile"), lake.scalar("SELECT count(*) FROM account_profile"))
        linked = lake.query(
            "SELECT count(DISTINCT n.profile_id) AS profiles, count(*) AS records FROM identity_nodes n "
            "JOIN person_current p ON n.value = p.source_key WHERE n.namespace = 'b2b_person' "
            "AND p.source_type = 'Marketo' AND p.crm_contact_id IS NOT NULL")
    assert got == expected
    assert linked[0]["records"] > 0

