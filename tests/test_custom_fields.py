"""Custom fields end to end: declared once, loaded from real-shaped exports, merged into profiles, tested by
audiences (checked against the reference), exported under the tenant namespace, and changed in type safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.audiences.text import AudienceSyntaxError, parse_audience
from accord.lake.custom_fields import CustomFieldTypeChanged, convert
from accord.pipeline import run_identity
from accord.profiles.lookup import get_account
from accord.sources.files import FileJob, load_file
from accord.sources.mappings import resolve_mapping
from accord.workspace import Workspace, WorkspaceError
from tests.conftest import declared_workspace, members_and_reference, write_csv

CUSTOM = [
    {"entity": "account", "name": "ABM_Tier__c", "label": "ABM Tier", "description": "Tier of the ABM programme."},
    {"entity": "account", "name": "Products__c", "type": "string_list", "label": "Products Owned"},
    {"entity": "person", "name": "Persona__c", "label": "Persona"},
    {"entity": "person", "name": "Engagement_Score__c", "type": "number"},
    {"entity": "opportunity", "name": "Seats__c", "type": "integer", "label": "Seats"},
]


def workspace(root: Path, custom: list[dict] = CUSTOM) -> Workspace:
    return declared_workspace(root, custom_fields=custom)


def load(ws: Workspace, folder: Path) -> None:
    """A Salesforce report export (labels) and API-named exports with custom columns, through shipped mappings."""
    accounts = write_csv(folder / "accounts.csv", ["Account ID", "Account Name", "Website", "ABM Tier", "Products Owned"], [
        ["001A", "Acme", "https://acme.io", "Tier 1", "Analytics;Cloud"],
        ["001B", "Globex", "https://globex.com", "Tier 2", "Cloud"],
        ["001C", "Initech", "https://initech.com", "", ""],
    ])
    contacts = write_csv(folder / "contacts.csv", ["Id", "Email", "AccountId", "LastModifiedDate", "Persona__c",
                                                   "Engagement_Score__c"], [
        ["003A", "ana@acme.io", "001A", "2026-11-01T00:00:00Z", "Champion", "87.5"],
        ["003B", "bo@globex.com", "001B", "2026-11-01T00:00:00Z", "Economic Buyer", "12"],
        ["003C", "cy@initech.com", "001C", "2026-11-01T00:00:00Z", "", "not a number"],
    ])
    opportunities = write_csv(folder / "opps.csv", ["Id", "Name", "AccountId", "StageName", "IsClosed", "Seats__c"], [
        ["006A", "Acme renewal", "001A", "Negotiation", "false", "120"],
        ["006B", "Globex pilot", "001B", "Prospecting", "false", "10"],
    ])
    with ws.lake() as lake:
        for path, name in ((accounts, "salesforce/account"), (contacts, "salesforce/contact"),
                           (opportunities, "salesforce/opportunity")):
            load_file(lake, FileJob(path, resolve_mapping(name, schema=ws.schema)))
        run_identity(lake, ws.config.identity)


def test_custom_fields_load_by_name_or_label_with_the_shipped_mappings(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    with ws.lake() as lake:
        rows = lake.query('SELECT source_id, "ABM_Tier__c" AS tier, "Products__c" AS products FROM account_current '
                          "ORDER BY 1")
        assert [(r["tier"], r["products"]) for r in rows] == [("Tier 1", ["Analytics", "Cloud"]), ("Tier 2", ["Cloud"]),
                                                              (None, None)]
        reasons = lake.query("SELECT reason FROM quarantine")
        assert len(reasons) == 1 and "Engagement_Score__c 'not a number' is not a number" in reasons[0]["reason"]
        account = get_account(lake, "b2b_account:001A@files.Salesforce")
        given = {a.name: a for a in account.attributes}
        assert given["ABM_Tier__c"].value == "Tier 1" and given["ABM_Tier__c"].source_key == "001A@files.Salesforce"


AUDIENCES = [
    'audience "Tier 1" of account where ABM_Tier__c = "Tier 1"',
    'audience "Cloud owners" of account where Products__c = "Cloud" and not Products__c = "Analytics"',
    'audience "No products" of account where Products__c is null',
    'audience "Champions" of person where Persona__c in ["Champion", "Coach"] and Engagement_Score__c > 50',
    'audience "Tier 1 people" of person where account.ABM_Tier__c starts with "Tier 1"',
    'audience "Big seats" of person where any opportunity (Seats__c >= 100)',
    'audience "Buyers at tiered accounts" of account where any person (Persona__c = "Economic Buyer") '
    "and ABM_Tier__c is not null",
]


def test_audiences_on_custom_fields_agree_with_the_reference(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    got, expected = members_and_reference(ws, AUDIENCES)
    assert got == expected
    sizes = {name: len(members) for name, members in got.items()}
    assert sizes == {"Tier 1": 1, "Cloud owners": 1, "No products": 1, "Champions": 1, "Tier 1 people": 1,
                     "Big seats": 1, "Buyers at tiered accounts": 1}


def test_audiences_check_custom_fields_like_standard_ones(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    with pytest.raises(AudienceSyntaxError, match="did you mean 'ABM_Tier__c'"):
        parse_audience('audience "x" of account where ABM_Tier_c = "Tier 1"', ws.schema)
    with pytest.raises(AudienceSyntaxError, match="takes a number"):
        parse_audience('audience "x" of person where Engagement_Score__c > "high"', ws.schema)
    with pytest.raises(AudienceSyntaxError, match="is a list"):
        parse_audience('audience "x" of account where Products__c > "A"', ws.schema)
    with pytest.raises(AudienceSyntaxError, match="has no field 'ABM_Tier__c'"):
        parse_audience('audience "x" of account where ABM_Tier__c = "Tier 1"')


def test_a_type_change_is_refused_naming_the_records_then_converted_explicitly(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    changed = [dict(f, type="number") if f["name"] == "ABM_Tier__c" else f for f in CUSTOM]
    ws2 = workspace(tmp_path / "ws2", changed)
    (tmp_path / "ws2" / "data").rename(tmp_path / "ws2" / "old")
    (tmp_path / "ws" / "data").rename(tmp_path / "ws2" / "data")
    with pytest.raises(CustomFieldTypeChanged, match=r"2 stored value\(s\) would not convert, e.g. 001A@files"):
        ws2.lake()
    with ws2.lake(declare_fields=False) as lake:
        with pytest.raises(CustomFieldTypeChanged, match="cannot become number"):
            convert(lake, "account", "ABM_Tier__c", "number")
        assert convert(lake, "person", "Persona__c", "string_list") == 2
        assert lake.scalar("""SELECT "Persona__c" FROM person_current WHERE source_id = '003A'""") == ["Champion"]
        assert lake.scalar("""SELECT "Persona__c" FROM person_profile WHERE email = 'ana@acme.io'""") == ["Champion"]


def test_declarations_are_checked(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="standard field already"):
        workspace(tmp_path / "a", [{"entity": "account", "name": "Industry"}])
    with pytest.raises(WorkspaceError, match="declared twice"):
        workspace(tmp_path / "b", [{"entity": "person", "name": "X"}, {"entity": "person", "name": "x"}]).schema
    with pytest.raises(WorkspaceError, match="start with a letter"):
        workspace(tmp_path / "c", [{"entity": "person", "name": "1; DROP TABLE person"}])


@pytest.mark.parametrize("entity, name", [("person", "acc_industry"), ("person", "Records"), ("account", "account_id"),
                                          ("opportunity", "roles")])
def test_a_name_accord_gives_a_column_of_its_own_is_refused(tmp_path: Path, entity: str, name: str) -> None:
    """A person's `acc_industry` took the place of the account's industry in the audiences' tables: every audience
    on `account.industry` lost all its members, without a word."""
    with pytest.raises(WorkspaceError, match=f"{entity}.{name} is a name Accord gives a column of its own"):
        workspace(tmp_path / "ws", [{"entity": entity, "name": name}])


def test_xdm_export_puts_custom_fields_under_the_tenant_and_reads_them_back(tmp_path: Path) -> None:
    from accord.lake.export import iter_xdm
    from accord.sources.xdm import load_xdm_file

    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    with ws.lake() as lake:
        docs = list(iter_xdm(lake, "account", tenant="acme"))
    assert docs[0]["_acme"] == {"ABM_Tier__c": "Tier 1", "Products__c": ["Analytics", "Cloud"]}
    path = tmp_path / "accounts.xdm.jsonl"
    bad = dict(docs[1], _acme={"ABM_Tier__c": 2})
    path.write_text("\n".join(json.dumps(d, default=str) for d in [docs[0], bad, docs[2]]) + "\n")
    other = workspace(tmp_path / "other")
    with other.lake() as lake:
        results = load_xdm_file(lake, path, "account", "acme")
        assert sum(r.loaded for r in results) == 2 and sum(r.quarantined for r in results) == 1
        assert "_acme/ABM_Tier__c: 2 is not of type \"string\"" in lake.scalar("SELECT reason FROM quarantine")
        assert lake.scalar("""SELECT "Products__c" FROM account_current WHERE source_id = '001A'""") == \
            ["Analytics", "Cloud"]


@pytest.mark.spark
def test_audiences_on_custom_fields_agree_on_spark(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    got, expected = members_and_reference(ws, AUDIENCES, spark=True)
    assert got == expected
