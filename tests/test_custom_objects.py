"""Custom objects: declared with their relation and fields, loaded from a Salesforce-shaped export (and through
the Salesforce source), tested by audiences like opportunities, checked against the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.audiences.text import AudienceSyntaxError, parse_audience
from accord.pipeline import run_identity
from accord.sources.files import FileJob, load_file
from accord.sources.mappings import resolve_mapping
from accord.workspace import Workspace, WorkspaceError
from tests.conftest import declared_workspace, members_and_reference, write_csv

OBJECTS = [
    {"name": "Subscription__c", "label": "Subscription", "related_to": "account", "relation_column": "Account__c",
     "fields": [{"name": "Status__c"}, {"name": "Seats__c", "type": "integer"}, {"name": "Renewal__c", "type": "date"}]},
    {"name": "Certification__c", "related_to": "person", "relation_column": "Contact__c",
     "fields": [{"name": "Level__c", "label": "Level"}]},
]


def workspace(root: Path, objects: list[dict] = OBJECTS) -> Workspace:
    return declared_workspace(root, custom_objects=objects)


def load(ws: Workspace, folder: Path) -> dict:
    accounts = write_csv(folder / "accounts.csv", ["Id", "Name", "Website"], [
        ["001A", "Acme", "https://acme.io"], ["001B", "Globex", "https://globex.com"],
        ["001C", "Initech", "https://initech.com"]])
    contacts = write_csv(folder / "contacts.csv", ["Id", "Email", "AccountId"], [
        ["003A", "ana@acme.io", "001A"], ["003B", "bo@globex.com", "001B"], ["003C", "cy@initech.com", "001C"]])
    subscriptions = write_csv(folder / "Subscription__c.csv",
                              ["Id", "Account__c", "Status__c", "Seats__c", "Renewal__c", "SystemModstamp"], [
        ["a01A", "001A", "Active", "120", "2027-01-31", "2026-11-01T00:00:00Z"],
        ["a01B", "001A", "Cancelled", "10", "", "2026-11-01T00:00:00Z"],
        ["a01C", "001B", "Active", "20", "2026-12-31", "2026-11-01T00:00:00Z"],
        ["a01D", "", "Active", "5", "", "2026-11-01T00:00:00Z"],
        ["a01E", "001C", "Active", "many", "", "2026-11-01T00:00:00Z"]])
    certifications = write_csv(folder / "certs.csv", ["Id", "Contact__c", "Level"], [
        ["a02A", "003B", "Expert"], ["a02B", "003C", "Associate"]])
    results = {}
    with ws.lake() as lake:
        for path, name in ((accounts, "salesforce/account"), (contacts, "salesforce/contact"),
                           (subscriptions, "Subscription__c"), (certifications, "Certification__c")):
            results[name] = load_file(lake, FileJob(path, resolve_mapping(name, schema=ws.schema)))
        run_identity(lake, ws.config.identity)
    return results


def test_custom_objects_load_and_quarantine_like_any_entity(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    results = load(ws, tmp_path)
    subs = results["Subscription__c"]
    assert (subs.loaded, subs.quarantined) == (3, 2)
    assert subs.reasons == {"missing_required": 1, "wrong_type": 1}
    with ws.lake() as lake:
        row = lake.query('SELECT * FROM "Subscription__c_current" WHERE source_id = \'a01A\'')[0]
        assert (row["account_key"], row["Seats__c"], str(row["Renewal__c"])) == ("001A@files.Salesforce", 120,
                                                                                 "2027-01-31")
        assert lake.scalar('SELECT "Level__c" FROM "Certification__c_current" WHERE source_id = \'a02A\'') == "Expert"


AUDIENCES = [
    'audience "Big subscribers" of account where any Subscription__c (Status__c = "Active" and Seats__c > 50)',
    'audience "Seat-heavy" of account where sum(Subscription__c.Seats__c) >= 100',
    'audience "Renewing soon" of person where any Subscription__c (Renewal__c < date("2027-01-01"))',
    'audience "No cancellations" of account where no Subscription__c (Status__c = "Cancelled")',
    'audience "Experts" of person where any Certification__c (Level__c = "Expert")',
    'audience "Accounts with certified people" of account where count(Certification__c) >= 1',
    'audience "Certified at subscribers" of person where any Certification__c () and any Subscription__c ()',
]


def test_audiences_on_custom_objects_agree_with_the_reference(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    got, expected = members_and_reference(ws, AUDIENCES)
    assert got == expected
    assert {name: len(members) for name, members in got.items()} == {
        "Big subscribers": 1, "Seat-heavy": 1, "Renewing soon": 1, "No cancellations": 2, "Experts": 1,
        "Accounts with certified people": 2, "Certified at subscribers": 1}


def test_custom_objects_are_checked_where_named(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    with pytest.raises(AudienceSyntaxError, match="Subscription__c has no field 'Seats'"):
        parse_audience('audience "x" of account where any Subscription__c (Seats > 5)', ws.schema)
    with pytest.raises(AudienceSyntaxError):
        parse_audience('audience "x" of account where any Subscription__c (Seats__c > 5)')
    with pytest.raises(WorkspaceError, match="entity or relation of Accord's model"):
        workspace(tmp_path / "bad", [{"name": "Opportunity", "related_to": "account", "relation_column": "x"}]).schema
    ws2 = workspace(tmp_path / "ws2", [dict(OBJECTS[0], related_to="person")])
    with ws.lake():
        pass
    (tmp_path / "ws2" / "data").rmdir() if (tmp_path / "ws2" / "data").exists() else None
    (tmp_path / "ws" / "data").rename(tmp_path / "ws2" / "data")
    with pytest.raises(ValueError, match="relates to account by Account__c in the store"):
        ws2.lake()


@pytest.mark.parametrize("name", ["Quarantine", "batches"])
def test_an_object_named_as_a_table_of_the_store_is_refused_by_name(tmp_path: Path, name: str) -> None:
    """It failed every command with DuckDB's 'Table with name ... already exists!'."""
    ws = workspace(tmp_path / "ws", [{"name": name, "related_to": "person", "relation_column": "Contact__c"}])
    with pytest.raises(ValueError, match=f"custom object {name}: the store has a table or view named {name} already"):
        ws.lake()


@pytest.mark.parametrize("name", ["person_profile", "aud_people", "Person_Account"])
def test_an_object_named_as_a_table_the_stages_build_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(WorkspaceError, match="the name of a table the stages build"):
        workspace(tmp_path / "ws", [{"name": name, "related_to": "person", "relation_column": "Contact__c"}])


@pytest.mark.spark
def test_audiences_on_custom_objects_agree_on_spark(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    got, expected = members_and_reference(ws, AUDIENCES, spark=True)
    assert got == expected


def test_the_builder_offers_custom_objects_and_their_fields(tmp_path: Path) -> None:
    from accord.services.audiences import fields

    ws = workspace(tmp_path / "ws")
    offered = fields(ws, "account")
    assert offered["Subscription__c"] == {"Status__c": "string", "Seats__c": "integer", "Renewal__c": "date"}
    assert offered["Certification__c"] == {"Level__c": "string"}


def test_a_streaming_decision_leaves_no_table_shadowing_the_lakes(tmp_path: Path) -> None:
    from accord.audiences.evaluate import evaluate
    from accord.audiences.stream import StreamEvaluator
    from tests.conftest import AS_OF

    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    audiences = [parse_audience(text, ws.schema) for text in AUDIENCES]
    with ws.lake() as lake:
        evaluate(lake, audiences, AS_OF)
        StreamEvaluator(lake, audiences).decide("SELECT person_id FROM person_profile", AS_OF)
        shadowing = lake.execute(
            "SELECT t.table_name FROM duckdb_tables() t JOIN duckdb_tables() m ON m.table_name = t.table_name "
            "WHERE t.temporary AND NOT m.temporary").fetchall()
        assert shadowing == []


def test_an_incremental_run_keeps_custom_objects_as_a_full_run_would(tmp_path: Path) -> None:
    import shutil

    from accord.audiences.evaluate import evaluate
    from accord.lake.store import Lake
    from tests.conftest import AS_OF
    from tests.test_incremental import MEMBERSHIP, aud_tables

    ws = workspace(tmp_path / "ws")
    load(ws, tmp_path)
    audiences = [parse_audience(text, ws.schema) for text in AUDIENCES]
    certifications = write_csv(tmp_path / "certs2.csv", ["Id", "Contact__c", "Level"], [["a02C", "003B", "Associate"]])
    subscriptions = write_csv(tmp_path / "subs2.csv", ["Id", "Account__c", "Status__c", "Seats__c", "SystemModstamp"],
                              [["a01B", "001C", "Active", "300", "2026-11-02T00:00:00Z"]])
    with ws.lake() as lake:
        evaluate(lake, audiences, AS_OF)
        for path, name in ((certifications, "Certification__c"), (subscriptions, "Subscription__c")):
            load_file(lake, FileJob(path, resolve_mapping(name, schema=ws.schema)))
        run_identity(lake, ws.config.identity)
    shutil.copy(ws.lake_path(), tmp_path / "twin.duckdb")
    with ws.lake() as lake:
        assert evaluate(lake, audiences, AS_OF).mode == "incremental"
        got, tables = lake.query(MEMBERSHIP), aud_tables(lake)
    with Lake(tmp_path / "twin.duckdb") as lake:
        evaluate(lake, audiences, AS_OF, full=True, refresh=True)
        assert (got, tables) == (lake.query(MEMBERSHIP), aud_tables(lake))
