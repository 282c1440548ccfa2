"""A Salesforce org's Data Export (Setup → Data Export): a zip of one CSV per object, every field of the object
under its API name, booleans as 0/1. `accord ingest files` loads the objects Accord reads as the org's records and
names the files it leaves."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.connectors.salesforce.export import data_export, long_id
from accord.engines.registry import open_engine
from accord.lake.custom_fields import declare
from accord.model.schema import CustomObject, Schema
from accord.sources.files import load_file
from accord.workspace import Workspace

ORG = "00D5e0000012345EAA"
ZIP_NAME = "WE_00D5e0000012345_1.ZIP"  # as Salesforce names it: the org's 15-character id
STAMP = "2026-11-20T10:00:00.000Z"
EXPORT = {
    "Account.csv": (["Id", "IsDeleted", "MasterRecordId", "Name", "Type", "ParentId", "BillingCity", "BillingState",
                     "BillingCountry", "Phone", "Website", "Industry", "AnnualRevenue", "NumberOfEmployees", "OwnerId",
                     "CreatedDate", "CreatedById", "LastModifiedDate", "SystemModstamp", "ABM_Tier__c"],
                    [["0015e00000XyZabAAF", "0", "", "Acme Corp", "Customer", "", "Austin", "TX", "United States",
                      "+1 512 555 0100", "https://acme.com", "Software", "25000000", "120", "0055e000001AbCdAAJ",
                      STAMP, "0055e000001AbCdAAJ", STAMP, STAMP, "Tier 1"]]),
    "Contact.csv": (["Id", "IsDeleted", "AccountId", "LastName", "FirstName", "Salutation", "MailingCity",
                     "MailingCountry", "Phone", "Email", "Title", "Department", "LeadSource", "HasOptedOutOfEmail",
                     "DoNotCall", "OwnerId", "CreatedDate", "LastModifiedDate", "SystemModstamp"],
                    [["0035e00000AbCdEAAV", "0", "0015e00000XyZabAAF", "Müller", "José", "Mr.", "Austin",
                      "United States", "", "Jose.Muller@Acme.com", "CTO", "IT", "Web", "1", "0",
                      "0055e000001AbCdAAJ", STAMP, STAMP, STAMP]]),
    "Lead.csv": (["Id", "IsDeleted", "LastName", "FirstName", "Title", "Company", "City", "Country", "Phone", "Email",
                  "Website", "LeadSource", "Status", "IsConverted", "ConvertedDate", "ConvertedAccountId",
                  "ConvertedContactId", "HasOptedOutOfEmail", "DoNotCall", "CreatedDate", "LastModifiedDate",
                  "SystemModstamp"],
                 [["00Q5e00000AbCdEEAV", "0", "Roe", "Joe", "VP Sales", "Beta", "Berlin", "Germany", "", "joe@beta.io",
                   "beta.io", "Webinar", "Open - Not Contacted", "0", "", "", "", "0", "0", STAMP, STAMP, STAMP]]),
    "Opportunity.csv": (["Id", "IsDeleted", "AccountId", "Name", "StageName", "Amount", "Probability", "CloseDate",
                         "Type", "LeadSource", "IsClosed", "IsWon", "ForecastCategoryName", "CampaignId",
                         "CreatedDate", "LastModifiedDate", "SystemModstamp"],
                        [["0065e00000Opp01AAA", "0", "0015e00000XyZabAAF", "Acme renewal", "Negotiation/Review",
                          "120000", "90", "2026-12-31", "Existing Business", "", "0", "0", "Commit", "", STAMP, STAMP,
                          STAMP]]),
    "OpportunityContactRole.csv": (["Id", "OpportunityId", "ContactId", "Role", "IsPrimary", "CreatedDate",
                                    "LastModifiedDate", "SystemModstamp", "IsDeleted"],
                                   [["00K5e00000Ocr01AAA", "0065e00000Opp01AAA", "0035e00000AbCdEAAV",
                                     "Decision Maker", "1", STAMP, STAMP, STAMP, "0"]]),
    "User.csv": (["Id", "Username", "Email"], [["0055e000001AbCdAAJ", "admin@acme.com", "admin@acme.com"]]),
    "Task.csv": (["Id", "WhoId", "Subject"], [["00T5e00000Tsk01AAA", "0035e00000AbCdEAAV", "Call"]]),
}


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL).writerows([header, *rows])
    return out.getvalue()


def export_zip(folder: Path) -> Path:
    path = folder / ZIP_NAME
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (header, rows) in EXPORT.items():
            archive.writestr(name, csv_text(header, rows))
        archive.writestr("Attachments/00P5e00000Att01AAA", b"%PDF-1.4 ...")
    return path


def test_a_data_export_zip_loads_the_objects_accord_reads_as_the_orgs_records(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    loaded = runner.invoke(app, ["ingest", "files", str(export_zip(tmp_path)), "-w", str(ws)])
    assert loaded.exit_code == 0, loaded.output
    said = " ".join(loaded.output.split())
    for name in ("Account.csv", "Contact.csv", "Lead.csv", "Opportunity.csv", "OpportunityContactRole.csv"):
        assert name in said
    assert "not loaded, no shipped mapping reads them: Attachments/00P5e00000Att01AAA, Task.csv, User.csv" in said
    assert "Account.csv: not mapped — MasterRecordId, OwnerId, CreatedById, ABM_Tier__c" in said

    with Workspace.load(ws).lake() as lake:
        people = lake.query("SELECT source_id, source_instance_id, email, email_opt_out, account_key "
                            "FROM person_current ORDER BY source_id")
        assert [(p["source_id"], p["email"], p["email_opt_out"]) for p in people] == [
            ("0035e00000AbCdEAAV", "jose.muller@acme.com", True), ("00Q5e00000AbCdEEAV", "joe@beta.io", False)]
        assert {p["source_instance_id"] for p in people} == {ORG}, "the same records the org's API sync reads"
        [deal] = lake.query("SELECT amount, is_closed, account_key FROM opportunity_current")
        assert (deal["amount"], deal["is_closed"]) == (120000, False)
        assert deal["account_key"] == people[0]["account_key"]
        [role] = lake.query("SELECT role, is_primary FROM opportunity_person_current")
        assert (role["role"], role["is_primary"]) == ("Decision Maker", True)
        batches = lake.query("SELECT source_name FROM batches ORDER BY batch_id")
    assert batches[0]["source_name"].endswith(f"{ZIP_NAME}/Account.csv"), "known by the zip it came in"

    again = runner.invoke(app, ["ingest", "files", str(tmp_path / ZIP_NAME), "-w", str(ws)])
    assert again.exit_code == 0, again.output
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM batches") == 5, "each file recognised: none loaded twice"


def test_an_extracted_export_loads_from_its_folder(lake, tmp_path: Path, engine: str) -> None:
    folder = tmp_path / "export"
    with zipfile.ZipFile(export_zip(tmp_path)) as archive:
        archive.extractall(folder)
    export = data_export(folder, tmp_path / "unused", instance=ORG)
    assert [job.path.name for job in export.jobs] == ["Account.csv", "Contact.csv", "Lead.csv", "Opportunity.csv",
                                                      "OpportunityContactRole.csv"]
    results = [load_file(lake, job) if engine == "duckdb" else open_engine(engine, lake).load_file(job)
               for job in export.jobs]
    assert [(r.loaded, r.quarantined) for r in results] == [(1, 0)] * 5
    assert lake.scalar("SELECT count(DISTINCT source_instance_id) FROM person_current") == 1


@pytest.mark.parametrize(("short", "full"), [("00D5e0000012345", ORG), ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
                                             ("001ZZZZZzzzzz99", "001ZZZZZzzzzz99YHA"), (ORG, ORG)])
def test_an_orgs_15_character_id_is_its_18_character_one(short: str, full: str) -> None:
    assert long_id(short) == full


def test_a_zip_that_is_no_export_still_asks_for_its_mapping(tmp_path: Path) -> None:
    path = tmp_path / "leads.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("leads.csv", "Id,Email\n1,a@x.com\n")
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    asked = runner.invoke(app, ["ingest", "files", str(path), "-w", str(tmp_path / "ws")])
    assert asked.exit_code == 1 and "name the mapping that reads it with --mapping" in asked.output


def test_a_declared_custom_objects_file_loads_by_its_own_mapping(lake, tmp_path: Path) -> None:
    """`Subscription__c.csv` beside the standard objects: declared in the workspace's schema, it loads after them,
    linked to its account as the org's API sync links it."""
    obj = CustomObject(name="Subscription__c", related_to="account", relation_column="Account__c",
                       fields=[{"name": "Seats__c", "type": "integer"}, {"name": "Status__c"}])
    schema = Schema(tuple(obj.custom_fields()), (obj,))
    declare(lake, schema.custom, schema.objects)
    path = export_zip(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("Subscription__c.csv", csv_text(
            ["Id", "OwnerId", "IsDeleted", "Name", "Account__c", "Seats__c", "Status__c", "SystemModstamp"],
            [["a015e00000SUB0001AAA", "0055e000001AbCdAAJ", "0", "S-1", "0015e00000XyZabAAF", "25", "Active", STAMP]]))
    export = data_export(path, tmp_path / "extracted", schema=schema)
    assert [job.path.name for job in export.jobs][-1] == "Subscription__c.csv"
    assert export.unread == ["Attachments/00P5e00000Att01AAA", "Task.csv", "User.csv"]
    for job in export.jobs:
        load_file(lake, job)
    [row] = lake.query('SELECT account_key, "Seats__c" FROM "Subscription__c_current"')
    assert row == {"account_key": f"0015e00000XyZabAAF@{ORG}.Salesforce", "Seats__c": 25}


def test_an_export_in_latin_1_quarantines_its_rows_that_are_not_utf_8_then_loads_them_with_the_encoding_named(
        tmp_path: Path) -> None:
    """Many orgs export in ISO-8859-1: read as UTF-8, José Müller's row waits in quarantine, with a hint naming
    the export's encoding; loaded again with it, the row loads."""
    path = tmp_path / ZIP_NAME
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("Account.csv", "Contact.csv"):
            archive.writestr(name, csv_text(*EXPORT[name]).encode("latin-1"))
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    first = runner.invoke(app, ["ingest", "files", str(path), "-w", str(ws)])
    said = " ".join(first.output.split())
    assert first.exit_code == 0 and "quarantined invalid_utf8: 1" in said
    assert "Export File Encoding; ISO-8859-1 in many orgs): load it again with --encoding latin-1" in said
    again = runner.invoke(app, ["ingest", "files", str(path), "-w", str(ws), "--encoding", "latin-1"])
    assert again.exit_code == 0, again.output
    with Workspace.load(ws).lake() as lake:
        assert lake.query("SELECT first_name, last_name FROM person_current") == [
            {"first_name": "José", "last_name": "Müller"}]


def test_mappings_check_shows_what_each_file_of_an_export_would_become(tmp_path: Path) -> None:
    checked = CliRunner().invoke(app, ["mappings", "check", str(export_zip(tmp_path))], env={"COLUMNS": "250"})
    assert checked.exit_code == 0, checked.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:6]]
            for line in checked.output.splitlines() if line.startswith("│")}
    assert rows["Account.csv"] == ["salesforce/account", "account", "MasterRecordId, OwnerId, CreatedById, ABM_Tier__c",
                                   ""]
    assert rows["Opportunity.csv"] == ["salesforce/opportunity", "opportunity", "", "CurrencyIsoCode"]
    assert list(rows) == ["Account.csv", "Contact.csv", "Lead.csv", "Opportunity.csv", "OpportunityContactRole.csv"]
    assert "not loaded, no shipped mapping reads them: Attachments/00P5e00000Att01AAA, Task.csv, User.csv" in " ".join(
        checked.output.split())
    (tmp_path / "lacking").mkdir()
    with zipfile.ZipFile(tmp_path / "lacking" / ZIP_NAME, "w") as archive:
        archive.writestr("Contact.csv", csv_text(["FirstName", "Email"], [["Ann", "ann@x.io"]]))
    refused = CliRunner().invoke(app, ["mappings", "check", str(tmp_path / "lacking" / ZIP_NAME)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "error: Contact.csv:" in said and "'Id'" in said, refused.output


def test_a_folder_of_an_exports_zips_loads_them_in_their_numbers_order(tmp_path: Path) -> None:
    """A large org's export comes in several zips, each holding some objects (one object may be in two)."""
    folder = tmp_path / "weekly"
    folder.mkdir()
    parts = {2: ["Lead.csv", "User.csv"], 1: ["Account.csv", "Contact.csv"], 10: ["Contact.csv"]}
    for number, names in parts.items():
        with zipfile.ZipFile(folder / f"WE_00D5e0000012345_{number}.ZIP", "w") as archive:
            for name in names:
                header, rows = EXPORT[name]
                if number == 10:  # the org's other contacts
                    rows = [[v.replace("AbCdE", "ZzZzZ").replace("Jose.", "Other.") for v in rows[0]]]
                archive.writestr(name, csv_text(header, rows))
    export = data_export(folder, tmp_path / "extracted")
    assert [(o, job.named.split(str(folder))[1]) for o, job in export.files] == [
        ("Account", "/WE_00D5e0000012345_1.ZIP/Account.csv"), ("Contact", "/WE_00D5e0000012345_1.ZIP/Contact.csv"),
        ("Lead", "/WE_00D5e0000012345_2.ZIP/Lead.csv"), ("Contact", "/WE_00D5e0000012345_10.ZIP/Contact.csv")]
    assert export.unread == ["WE_00D5e0000012345_2.ZIP/User.csv"]
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    loaded = runner.invoke(app, ["ingest", "files", str(folder), "-w", str(ws)])
    assert loaded.exit_code == 0, loaded.output
    with Workspace.load(ws).lake() as lake:
        assert sorted(r["email"] for r in lake.query("SELECT email FROM person_current")) == [
            "joe@beta.io", "jose.muller@acme.com", "other.muller@acme.com"]
