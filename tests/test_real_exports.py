"""Exports as people make them: only the columns a record cannot do without, report labels instead of API names,
custom fields the mapping does not know. The shipped mappings load them and say what was absent or unmapped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.engines.registry import open_engine
from accord.ingest.mapping import MappingError
from accord.sources.files import FileFormatError, FileJob, FileReader, load_file
from accord.sources.mappings import builtin_mappings, resolve_mapping
from tests.conftest import ingest, write_csv

VALUES = {"activityDate": "2026-11-20T10:00:00Z", "activityTypeId": "1", "timestamp": "2026-11-20T10:00:00Z"}


@pytest.mark.parametrize("name", builtin_mappings())
def test_every_shipped_mapping_loads_a_file_with_only_the_columns_it_needs(lake, tmp_path: Path, name: str,
                                                                          engine: str) -> None:
    mapping = resolve_mapping(name)
    needed = [spec.source_columns[0] for field, spec in mapping.fields.items() if mapping.needs(field)]
    assert needed, name
    header = list(dict.fromkeys(needed))
    result = ingest(lake, write_csv(tmp_path / "min.csv", header, [[VALUES.get(c, f"x{i}") for i, c in
                                                                    enumerate(header)]]), mapping, engine)
    assert (result.loaded, result.quarantined) == (1, 0), lake.query("SELECT reason FROM quarantine")
    assert set(result.absent_columns) == set(mapping.source_columns) - set(header)


def test_a_salesforce_contact_report_with_labels_and_custom_fields_loads(lake, tmp_path: Path, engine: str) -> None:
    header = ["Contact ID", "First Name", "Last Name", "Email", "Title", "Account ID", "Mailing Country",
              "Email Opt Out", "Last Modified Date", "ABM Tier", "Persona__c"]
    row = ["0035e00000AbCdE", "Jane", "Doe", "Jane@Acme.com", "CTO", "0015e00000XyZ", "Germany", "false",
           "2026-11-20T10:00:00Z", "Tier 1", "Champion"]
    result = ingest(lake, write_csv(tmp_path / "report.csv", header, [row]), resolve_mapping("salesforce/contact"), engine)
    assert (result.loaded, result.quarantined) == (1, 0)
    assert result.unmapped_columns == ["ABM Tier", "Persona__c"]
    person = lake.query("SELECT source_id, email, first_name, account_key, email_opt_out, source_updated_at "
                        "FROM person_current")[0]
    assert person["source_id"] == "0035e00000AbCdEAAV" and person["email"] == "jane@acme.com"  # the API's 18
    assert person["account_key"].startswith("0015e00000XyZ@") and person["email_opt_out"] is False
    assert person["source_updated_at"] is not None, "Last Modified Date stands in for SystemModstamp"


@pytest.mark.parametrize(("short", "full"), [("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
                                             ("0035e00000AbCdE", "0035e00000AbCdEAAV"),
                                             ("001ZZZZZzzzzz99", "001ZZZZZzzzzz99YHA")])
def test_a_reports_15_character_ids_are_the_apis_18_character_ones(lake, tmp_path: Path, engine: str, short: str,
                                                                   full: str) -> None:
    """A contact from a report export and the same contact from the API are one record, its account one account."""
    report = write_csv(tmp_path / "report.csv", ["Contact ID", "Email", "Account ID", "Last Modified Date"],
                       [[short, "a@x.com", "0015e00000XyZab", "2026-11-20T10:00:00Z"]])
    api = write_csv(tmp_path / "api.csv", ["Id", "Email", "AccountId", "SystemModstamp"],
                    [[full, "a@x.com", "0015e00000XyZabAAF", "2026-11-21T10:00:00Z"]])
    for path in (report, api):
        assert ingest(lake, path, resolve_mapping("salesforce/contact"), engine).loaded == 1
    rows = lake.query("SELECT source_id, account_key FROM person")
    assert {r["source_id"] for r in rows} == {full}
    assert {r["account_key"].split("@")[0] for r in rows} == {"0015e00000XyZabAAF"}


def test_a_list_exported_from_marketos_ui_and_a_lead_report_load_by_their_labels(lake, tmp_path: Path,
                                                                                 engine: str) -> None:
    marketo = ["Id", "First Name", "Last Name", "Email Address", "Job Title", "Company Name", "Phone Number",
               "Lead Status", "Created At", "Updated At"]
    row = ["2787", "Jane", "Doe", "Jane@Acme.com", "CTO", "Acme", "+1 555 0100", "New", "2026-11-01T10:00:00Z",
           "2026-11-20T10:00:00Z"]
    result = ingest(lake, write_csv(tmp_path / "list.csv", marketo, [row]), resolve_mapping("marketo/lead"), engine)
    assert (result.loaded, result.quarantined, result.unmapped_columns) == (1, 0, [])
    lead = ["Lead ID", "First Name", "Last Name", "Email", "Company / Account", "Lead Status", "Create Date"]
    row = ["00Q5e00000AbCdE", "Joe", "Roe", "joe@beta.io", "Beta", "Open", "2026-10-01T09:00:00Z"]
    result = ingest(lake, write_csv(tmp_path / "leads.csv", lead, [row]), resolve_mapping("salesforce/lead"), engine)
    assert (result.loaded, result.quarantined, result.unmapped_columns) == (1, 0, [])
    got = lake.query("SELECT email, job_title, company_name, phone, created_at FROM person_current ORDER BY email")
    assert [(r["email"], r["job_title"], r["company_name"], r["phone"], r["created_at"].isoformat()) for r in got] == [
        ("jane@acme.com", "CTO", "Acme", "+1 555 0100", "2026-11-01T10:00:00+00:00"),
        ("joe@beta.io", None, "Beta", None, "2026-10-01T09:00:00+00:00")]


@pytest.mark.parametrize(("formats", "updated", "created"), [
    (["%m/%d/%Y %I:%M %p", "%m/%d/%Y"], ["11/20/2026 10:00 AM", "3/5/2026 4:07 PM"], ["3/5/2025", "12/31/2025"]),
    (["%d.%m.%Y %H:%M", "%d.%m.%Y"], ["20.11.2026 10:00", "05.03.2026 16:07"], ["05.03.2025", "31.12.2025"]),
])
def test_a_report_with_dates_in_a_locales_format_loads_with_its_formats(lake, tmp_path: Path, engine: str,
                                                                        formats: list[str], updated: list[str],
                                                                        created: list[str]) -> None:
    """Salesforce report exports write dates as the exporting user's locale does; ISO 8601 still reads as ever."""
    header = ["Contact ID", "Email", "Last Modified Date", "Created Date"]
    rows = [["003A", "a@x.com", updated[0], created[0]], ["003B", "b@x.com", updated[1], created[1]],
            ["003C", "c@x.com", "2026-11-21T09:30:00Z", "2025-01-02"], ["003D", "d@x.com", "someday", "2025-01-02"]]
    mapping = resolve_mapping("salesforce/contact").in_locale(formats)
    result = ingest(lake, write_csv(tmp_path / "report.csv", header, rows), mapping, engine)
    assert (result.loaded, result.quarantined) == (3, 1)
    got = {r["source_id"]: (r["source_updated_at"].isoformat(), r["created_at"].isoformat())
           for r in lake.query("SELECT source_id, source_updated_at, created_at FROM person_current")}
    assert got == {"003A": ("2026-11-20T10:00:00+00:00", "2025-03-05T00:00:00+00:00"),
                   "003B": ("2026-03-05T16:07:00+00:00", "2025-12-31T00:00:00+00:00"),
                   "003C": ("2026-11-21T09:30:00+00:00", "2025-01-02T00:00:00+00:00")}


def test_a_marketo_bulk_activity_export_loads(lake, tmp_path: Path, engine: str) -> None:
    header = ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId", "primaryAttributeValueId",
              "primaryAttributeValue", "attributes"]
    rows = [["10001", "42", "2026-11-20T10:00:00Z", "1", "", "7", "pricing.html",
             '{"Webpage URL": "https://x.io/pricing", "Query Parameters": "utm=1"}'],
            ["10002", "42", "2026-11-21T10:00:00Z", "11", "9", "1003", "Q4 Launch - Email 1", '{"Link": "https://x.io"}']]
    result = ingest(lake, write_csv(tmp_path / "activities.csv", header, rows), resolve_mapping("marketo/activity"),
                    engine)
    assert (result.loaded, result.quarantined) == (2, 0)
    assert sorted(r["event_type"] for r in lake.query("SELECT event_type FROM event")) == ["email.click", "web.pageview"]
    properties = {r["source_id"]: json.loads(r["properties"]) for r in lake.query("SELECT source_id, properties FROM event")}
    assert properties == {
        "10001": {"webpage_url": "https://x.io/pricing", "query_parameters": "utm=1", "asset": "pricing.html",
                  "asset_id": "7"},
        "10002": {"link": "https://x.io", "asset": "Q4 Launch - Email 1", "asset_id": "1003", "campaign_id": "9"},
    }, "attributes under snake-case names, the asset and its ids beside them; an empty campaignId adds nothing"


def test_mappings_check_guesses_the_mapping_and_shows_each_column_and_rows(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from accord.cli import app

    path = write_csv(tmp_path / "report.csv", ["Opportunity ID", "Opportunity Name", "Account ID", "Stage", "Amount",
                                               "Internal Notes"], [["006A", "Big deal", "001B", "Closed Won", "5000", "call back"],
                                                  ["006B", "Short row"]])
    shown = CliRunner().invoke(app, ["mappings", "check", str(path)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "best fit: salesforce/opportunity" in shown.output
    assert "Stage" in shown.output and "stage" in shown.output and "not mapped" in shown.output
    assert '"name": "Big deal"' in shown.output and '"amount": 5000.0' in shown.output
    assert '"_row": 2' in shown.output and "malformed_row" in shown.output
    wrong = CliRunner().invoke(app, ["mappings", "check", str(path), "--mapping", "salesforce/contact"],
                               env={"COLUMNS": "200"})
    assert wrong.exit_code == 1 and "lacks 1 column" in wrong.output
    assert "reads column 'Id' (or 'Contact ID')" in wrong.output, "a report must hold the id under its label"


def test_a_report_showing_two_fields_under_one_label_names_both_when_the_mapping_reads_it(tmp_path: Path) -> None:
    """A contacts report with the contact's and its owner's e-mail, both labelled "Email"."""
    from typer.testing import CliRunner

    from accord.cli import app

    path = write_csv(tmp_path / "contacts.csv", ["Contact ID", "Last Name", "Email", "Contact Owner", "Email"],
                     [["003A", "Lee", "lee@acme.com", "Ann Rep", "ann@ours.io"]])
    shown = CliRunner().invoke(app, ["mappings", "check", str(path), "--mapping", "salesforce/contact"],
                               env={"COLUMNS": "200"})
    assert shown.exit_code == 1
    assert ("field 'email' reads column 'Email', which the input has 2 times: 'Email (column 3)', 'Email (column 5)'"
            in shown.output)
    assert "absent, left empty" not in shown.output, "the error says what became of it"
    # A leads report with the address under two labels that both read as the mapping's `Email`: neither is guessed;
    # with one of them under the mapping's own name, that one is read.
    for second, refused in (("EMAIL", True), ("Email", False)):
        path = write_csv(tmp_path / "leads.csv", ["Lead ID", "Last Name", "Company / Account", second, "E-mail"],
                         [["00QA", "Lee", "Acme", "lee@acme.com", "lee@home.io"]])
        shown = CliRunner().invoke(app, ["mappings", "check", str(path), "--mapping", "salesforce/lead"],
                                   env={"COLUMNS": "200"})
        said = f"the mapping reads column 'Email', which the input has as '{second}' and 'E-mail'"
        assert (shown.exit_code, said in shown.output) == ((1, True) if refused else (0, False)), shown.output


def test_a_person_with_two_roles_on_one_deal_holds_both(lake, tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from accord.audiences.evaluate import evaluate
    from accord.audiences.text import parse_audience
    from accord.identity.config import IdentityConfig
    from accord.pipeline import run_identity

    files = {
        "salesforce/contact": (["Id", "Email"], [["003A", "dm@acme.com"], ["003B", "other@acme.com"]]),
        "salesforce/opportunity": (["Id", "Name", "Amount"], [["006A", "Big deal", "50000"]]),
        "salesforce/opportunity_contact_role": (["Id", "OpportunityId", "ContactId", "Role"], [
            ["00KA", "006A", "003A", "Decision Maker"], ["00KB", "006A", "003A", "Influencer"],
            ["00KC", "006A", "003B", "Influencer"]]),
    }
    for name, (header, rows) in files.items():
        path = write_csv(tmp_path / f"{name.replace('/', '-')}.csv", header, rows)
        assert ingest(lake, path, resolve_mapping(name)).loaded == len(rows)
    run_identity(lake, IdentityConfig())
    texts = {
        "DM": 'any opportunity (role = "Decision Maker")',
        "Influencer": 'any opportunity (role = "Influencer")',
        "Not DM": 'any opportunity (role != "Decision Maker")',
        "Either": 'any opportunity (role in ["Decision Maker", "Executive Sponsor"])',
        "No role": 'any opportunity (role is null)',
    }
    audiences = [parse_audience(f'audience "{n}" of person where {t}') for n, t in texts.items()]
    evaluate(lake, audiences, datetime.now(timezone.utc))
    members = {n: {r[0] for r in lake.execute(
        "SELECT p.email FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
        "WHERE m.audience = ?", [n]).fetchall()} for n in texts}
    assert members == {"DM": {"dm@acme.com"}, "Influencer": {"dm@acme.com", "other@acme.com"},
                       "Not DM": {"other@acme.com"}, "Either": {"dm@acme.com"}, "No role": set()}


def test_a_reports_times_are_read_in_the_zone_it_was_exported_in(lake, tmp_path: Path, engine: str) -> None:
    """A report writes times in the exporting user's zone, summer time included; a time naming its offset is read
    as it says."""
    header = ["Contact ID", "Email", "Last Modified Date", "Created Date"]
    rows = [["003A", "a@x.com", "11/20/2026 10:00 AM", "3/5/2025"], ["003B", "b@x.com", "7/1/2026 10:00 AM", ""],
            ["003C", "c@x.com", "2026-11-21T09:30:00Z", "2025-01-02T23:30:00"],
            ["003D", "d@x.com", "2026-11-21 09:30:00+01:00", "2025-01-02"]]
    mapping = resolve_mapping("salesforce/contact").in_locale(["%m/%d/%Y %I:%M %p", "%m/%d/%Y"],
                                                              "America/Los_Angeles")
    assert ingest(lake, write_csv(tmp_path / "report.csv", header, rows), mapping, engine).loaded == 4
    got = {r["source_id"]: (r["source_updated_at"].isoformat(), r["created_at"] and r["created_at"].isoformat())
           for r in lake.query("SELECT source_id, source_updated_at, created_at FROM person_current")}
    assert got == {"003A": ("2026-11-20T18:00:00+00:00", "2025-03-05T08:00:00+00:00"),
                   "003B": ("2026-07-01T17:00:00+00:00", None),
                   "003C": ("2026-11-21T09:30:00+00:00", "2025-01-03T07:30:00+00:00"),
                   "003D": ("2026-11-21T08:30:00+00:00", "2025-01-02T08:00:00+00:00")}


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "America", "../../etc/passwd", ""])
def test_an_unknown_time_zone_is_refused_by_name(zone: str) -> None:
    with pytest.raises(MappingError, match="time zone .* is unknown"):
        resolve_mapping("salesforce/contact").in_locale([], zone)


FOOTER = ['""', '""', '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."',
          '"Confidential Information - Do Not Distribute"', '"Generated By:  Jane Admin  12/1/2026 9:41 AM"',
          '"Acme Inc."']


@pytest.mark.parametrize("header", [["Contact ID", "Email", "Last Modified Date"], ["Contact ID"]])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_salesforce_reports_footer_is_not_read_as_records(lake, tmp_path: Path, engine: str, header: list[str],
                                                            newline: str) -> None:
    """Salesforce Classic ends a report's CSV with its copyright and who generated it: no records, so neither
    quarantined (malformed, when the report has several columns) nor loaded (when it has one); a row of too many
    fields still is."""
    rows = [["0035e00000AbCdE", "a@x.com", "2026-11-20T10:00:00Z"],
            ["0035e00000AbCdF", "b@x.com", "2026-11-20T10:00:00Z"],
            ["0035e00000AbCdG", "not an e-mail, still a record", "2026-11-20T10:00:00Z", "one field too many"]]
    lines = [",".join(f'"{v}"' for v in header)] + [",".join(f'"{v}"' for v in row[:len(header)] + row[3:])
                                                    for row in rows]
    path = tmp_path / "report.csv"
    path.write_bytes(newline.join(lines + FOOTER + [""]).encode())
    result = ingest(lake, path, resolve_mapping("salesforce/contact"), engine)
    assert (result.loaded, result.quarantined, result.footer_lines) == (2, 1, 6)
    assert lake.query("SELECT source_row FROM quarantine") == [{"source_row": 3}]
    assert {r["source_id"] for r in lake.query("SELECT source_id FROM person")} == {"0035e00000AbCdEAAV",
                                                                                     "0035e00000AbCdFAAV"}


def test_a_spreadsheets_windows_1252_csv_loads_with_its_encoding(lake, tmp_path: Path, engine: str) -> None:
    """Excel's 'CSV (Comma delimited)' is Windows-1252: read as UTF-8, every accented row would be quarantined; read
    as what it is, they load, and a byte Windows-1252 does not define quarantines only its row."""
    path = tmp_path / "excel.csv"
    text = ("Id,Prénom,Last Name,Email Address,Company Name\r\n1,José,Müller,jose@acme.com,Société Générale\r\n"
            "2,Anna,Smith,anna@acme.com,“Quoted” Inc\r\n3,Bob,Lee,bob@acme.com,ACME!\r\n")
    path.write_bytes(text.encode("cp1252").replace(b"ACME!", b"ACME\x81") + b'""\r\n'
                     + b'"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\r\n')
    lead = resolve_mapping("marketo/lead")
    mapping = lead.model_copy(update={"labels": {**lead.labels, "firstName": ["Prénom"]}})
    job = FileJob(path, mapping, encoding="windows-1252")
    result = load_file(lake, job) if engine == "duckdb" else open_engine(engine, lake).load_file(job)
    assert (result.loaded, result.quarantined, result.footer_lines) == (2, 1, 2)
    got = lake.query("SELECT first_name, last_name, company_name FROM person_current ORDER BY source_id")
    assert [tuple(r.values()) for r in got] == [("José", "Müller", "Société Générale"),
                                                ("Anna", "Smith", "“Quoted” Inc")]
    assert lake.query("SELECT source_row, reason FROM quarantine") == [
        {"source_row": 3, "reason": "invalid_utf8: Company Name holds bytes that are not UTF-8"}]


def test_a_spreadsheets_unicode_text_loads_as_utf_16(lake, tmp_path: Path, engine: str) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("Id\tEmail Address\tCompany Name\r\n1\tjose@acme.com\tSociété Générale\r\n".encode("utf-16"))
    with pytest.raises(FileFormatError, match="--encoding utf-16"):
        FileReader(path)
    job = FileJob(path, resolve_mapping("marketo/lead"), encoding="utf-16")
    result = load_file(lake, job) if engine == "duckdb" else open_engine(engine, lake).load_file(job)
    assert (result.loaded, result.quarantined) == (1, 0)
    assert lake.scalar("SELECT company_name FROM person_current") == "Société Générale"


def test_a_file_read_again_in_its_right_encoding_is_no_repeat(lake, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("Id,Email Address,Company Name\r\n1,a@x.com,Société\r\n".encode("cp1252"))
    first = load_file(lake, FileJob(path, resolve_mapping("marketo/lead")))
    again = load_file(lake, FileJob(path, resolve_mapping("marketo/lead"), encoding="cp1252"))
    assert (first.quarantined, again.loaded, again.already_ingested_as) == (1, 1, None)
    assert load_file(lake, FileJob(path, resolve_mapping("marketo/lead"), encoding="cp1252")).already_ingested_as


@pytest.mark.parametrize(("name", "encoding", "said"), [("a.csv", "klingon", "encoding 'klingon' is unknown"),
                                                        ("a.csv", "rot13", "no text encoding"),
                                                        ("a.jsonl", "cp1252", "JSON lines are UTF-8"),
                                                        ("a.parquet", "utf-16", "is for CSV files")])
def test_an_encoding_that_cannot_be_is_refused_by_name(tmp_path: Path, name: str, encoding: str, said: str) -> None:
    (tmp_path / name).write_text("Id\n1\n")
    with pytest.raises(ValueError, match=said):
        FileReader(tmp_path / name, encoding)


@pytest.mark.parametrize(("number_format", "amounts"), [
    ("1,234.56", ["USD 1,500,000.00", "$2,500.5", "750", "($1,000.25)"]),
    ("1.234,56", ["1.500.000,00 €", "EUR 2.500,50", "750", "(1.000,25)"]),
    ("1 234,56", ["1\u00a0500\u00a0000,00 €", "2 500,5", "750", "-1 000,25 €"]),
    ("1'234.56", ["CHF 1'500'000.00", "2'500.50", "750", "-CHF 1'000.25"]),
])
def test_a_reports_amounts_load_as_its_locale_writes_them(lake, tmp_path: Path, engine: str, number_format: str,
                                                          amounts: list[str]) -> None:
    """A report writes an amount grouped and with its currency; read plainly, every such deal would be
    quarantined, and audiences over deal sizes would not see it."""
    header = ["Opportunity ID", "Opportunity Name", "Account ID", "Stage", "Amount", "Close Date"]
    rows = [[f"006{i}", f"Deal {i}", "001A", "Prospecting", amount, "2026-11-30"] for i, amount in enumerate(amounts)]
    rows.append(["006X", "Not a number", "001A", "Prospecting", "USD 1,5OO", "2026-11-30"])
    mapping = resolve_mapping("salesforce/opportunity").in_locale([], number_format=number_format)
    result = ingest(lake, write_csv(tmp_path / "deals.csv", header, rows), mapping, engine)
    assert (result.loaded, result.quarantined) == (4, 1)
    got = [r["amount"] for r in lake.query("SELECT amount FROM opportunity_current ORDER BY source_id")]
    assert got == [1_500_000.0, 2500.5, 750.0, -1000.25]


def test_numbers_are_read_plainly_unless_a_format_is_named(lake, tmp_path: Path) -> None:
    header = ["Opportunity ID", "Opportunity Name", "Account ID", "Stage", "Amount", "Close Date"]
    rows = [["006A", "Plain", "001A", "Prospecting", "1500.5", "2026-11-30"],
            ["006B", "Grouped", "001A", "Prospecting", "1,500.5", "2026-11-30"]]
    result = ingest(lake, write_csv(tmp_path / "deals.csv", header, rows), resolve_mapping("salesforce/opportunity"))
    assert (result.loaded, result.quarantined) == (1, 1)


def test_an_unknown_number_format_is_refused_by_name() -> None:
    with pytest.raises(MappingError, match="number format 'en': write 1234.56 as the file does, one of 1234.56, "):
        resolve_mapping("salesforce/opportunity").in_locale([], number_format="en")


def test_addresses_copied_with_invisible_characters_load_clean_and_stitch(lake, tmp_path: Path, engine: str) -> None:
    """As copying from a web page, Word or a spreadsheet leaves them: a no-break space, a zero-width space, a
    byte-order mark, a tab. An address keeps none at its ends (whatever the mapping), a trimmed name neither; a
    tab no longer makes the record a bad e-mail. Inside an address, the soft hyphens and zero-width spaces a page
    puts in so that a long address can wrap are taken out too; a space inside still makes it no address."""
    from accord.identity.config import IdentityConfig
    from accord.pipeline import run_identity
    from accord.profiles.lookup import get_person
    from tests.conftest import mapping

    rows = [["1", "jane@acme.com", "Jane"], ["2", "\u200bJane@Acme.com\u00a0", "\ufeffJane\u200d"],
            ["3", "bob@acme.com\t", "Bob"], ["4", "\u200e \u2060", "Nobody"],
            ["5", "ja\u00adne@ac\u200bme.com", "Jane"], ["6", "jürgen@müller.de", "Jürgen"],
            ["7", "jo e@acme.com", "Joe"]]
    path = write_csv(tmp_path / "pasted.csv", ["Id", "Email", "Name"], rows)
    result = ingest(lake, path, mapping("person", {"source_id": "Id", "email": "Email",
                                                   "first_name": {"from": "Name", "transforms": ["trim"]}}), engine)
    assert (result.loaded, result.quarantined) == (6, 1), lake.query("SELECT reason FROM quarantine")
    stored = {r["source_id"]: (r["email"], r["first_name"]) for r in lake.current("person")}
    assert stored == {"1": ("jane@acme.com", "Jane"), "2": ("Jane@Acme.com", "Jane"), "3": ("bob@acme.com", "Bob"),
                      "4": (None, "Nobody"), "5": ("jane@acme.com", "Jane"), "6": ("jürgen@müller.de", "Jürgen")}
    run_identity(lake, IdentityConfig())
    jane = get_person(lake, "email:\u200b JA\u00adNE@acme.com\ufeff")
    assert {v for n, v in jane.identities if n == "b2b_person"} == {"1@t1.Test", "2@t1.Test", "5@t1.Test"}


def test_a_pipe_or_a_device_named_as_input_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A named pipe with no writer was waited on for ever (opening it blocks); `/dev/zero` linked as a CSV was read
    for ever."""
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("accord")
    assert subprocess.run([str(exe), "init", str(tmp_path / "ws")], capture_output=True).returncode == 0
    os.mkfifo(tmp_path / "leads.csv")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    for name in ("leads.csv", "zero.csv"):
        done = subprocess.run([str(exe), "ingest", "files", str(tmp_path / name), "--mapping", "marketo/lead",
                               "-w", str(tmp_path / "ws")], capture_output=True, text=True, timeout=120)
        said = "".join(done.stdout.split() + done.stderr.split())  # as one word: the console wraps a long path
        assert done.returncode == 1 and f"{name}isnotafile(adevice,apipeorasocket)" in said, said
