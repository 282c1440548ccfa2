"""Mappings: parsing with clear errors, and every transform's output (table-driven)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.ingest.mapping import MappingError, parse_mapping
from accord.ingest.records import as_text, text_column
from accord.sources.mappings import builtin_mappings, resolve_mapping
from tests.conftest import ingest, mapping, write_csv


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"entity": "persn", "fields": {"source_id": "Id"}}, "unknown entity 'persn'"),
        ({"entity": "person", "fields": {"source_id": "Id", "emial": "E"}}, "did you mean 'email'"),
        ({"entity": "person", "fields": {"email": "E"}}, "must fill required field(s): source_id"),
        ({"entity": "person", "fields": {"source_id": {"from": "Id", "constant": 1}}}, "exactly one of"),
        ({"entity": "person", "fields": {"source_id": {"from": "Id", "transforms": ["lowr"]}}}, "did you mean 'lower'"),
        (
            {"entity": "person", "fields": {"source_id": {"from": "Id", "transforms": ["to_number", "trim"]}}},
            "comes last",
        ),
        ({"entity": "event", "fields": {"source_id": "Id", "timestamp": "T"}}, "event_type"),
        ({"entity": "person", "fields": {"source_id": "Id"}, "bogus": 1}, "bogus"),
    ],
)
def test_bad_mappings_say_what_is_wrong(raw: dict, message: str) -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(raw)
    assert message in str(err.value)


def test_missing_column_is_refused_before_loading(lake, tmp_path) -> None:
    path = write_csv(tmp_path / "p.csv", ["Id", "Email"], [["1", "a@b.co"]])
    m = mapping("person", {"source_id": "Idd", "email": "Email"})
    with pytest.raises(MappingError, match="did you mean 'Id'"):
        ingest(lake, path, m)
    assert lake.scalar("SELECT count(*) FROM person") == 0


def test_every_missing_needed_column_is_named_at_once(lake, tmp_path) -> None:
    path = write_csv(tmp_path / "r.csv", ["Id", "Role"], [["1", "Decision Maker"]])
    m = mapping("opportunity_person", {"source_id": "Id", "opportunity_key": "OpportunityId",
                                       "person_key": "ContactId", "role": "Role"})
    with pytest.raises(MappingError, match="2 column.*'OpportunityId'.*'ContactId'"):
        ingest(lake, path, m)


def test_a_column_the_record_can_do_without_may_be_absent_and_is_reported(lake, tmp_path) -> None:
    path = write_csv(tmp_path / "p.csv", ["Id", "Email", "ABM_Tier__c"], [["1", "a@b.co", "Tier 1"]])
    result = ingest(lake, path, mapping("person", {"source_id": "Id", "email": "Emial"}))
    assert result.loaded == 1
    assert result.absent_columns == ["Emial"] and result.unmapped_columns == ["Email", "ABM_Tier__c"]


def test_optional_columns_may_be_absent(lake, tmp_path) -> None:
    path = write_csv(tmp_path / "p.csv", ["Id"], [["1"]])
    ingest(lake, path, mapping("person", {"source_id": "Id", "phone": "Phone?", "city": {"from": "City", "optional": True}}))
    assert lake.current("person")[0]["phone"] is None


CASES = [
    # (field, spec, raw value(s), expected canonical value)
    ("first_name", {"from": "A", "transforms": ["trim"]}, "  Jane  ", "Jane"),
    ("first_name", {"from": "A", "transforms": ["trim"]}, "   ", None),
    ("email", {"from": "A", "transforms": ["trim", "lower"]}, " Jane@ACME.com ", "jane@acme.com"),
    ("last_name", {"from": "A", "transforms": ["upper"]}, "doe", "DOE"),
    ("company_website", {"from": "A", "transforms": ["email_domain"]}, "x@Acme.COM", "acme.com"),
    ("company_website", {"from": "A", "transforms": ["url_domain"]}, "https://www.Acme.com/about?x=1", "acme.com"),
    ("company_website", {"from": "A", "transforms": ["url_domain"]}, "acme.io", "acme.io"),
    ("lead_status", {"from": "A", "transforms": [{"map": {"1": "Open", "2": "Closed"}}]}, "2", "Closed"),
    ("lead_status", {"from": "A", "transforms": [{"map": {"1": "Open"}}]}, "9", "9"),
    ("lead_status", {"from": "A", "transforms": [{"map": {"1": "Open", "_default": "Other"}}]}, "9", "Other"),
    ("lead_status", {"from": "A", "transforms": [{"map": {"1": "Open", "_default": "Other"}}]}, "", None),
    ("lead_status", {"from": "A", "transforms": [{"map": {"_default": "Known"}}]}, "x", "Known"),
    ("lead_status", {"from": "A", "default": "New"}, "", "New"),
    ("lead_status", {"from": "A", "default": "New"}, "Open", "Open"),
    ("account_key", {"from": "A", "transforms": ["source_key"]}, "001X", "001X@t1.Test"),
    ("account_key", {"from": "A", "transforms": [{"source_key": "Salesforce"}]}, "001X", "001X@t1.Salesforce"),
    ("account_key", {"from": "A", "transforms": ["source_key"]}, "", None),
    ("job_title", {"from": "A", "transforms": [{"prefix": "Sr. "}]}, "Engineer", "Sr. Engineer"),
    ("job_title", {"from": "A", "transforms": [{"json_get": "Title"}]}, '{"Title": "CTO"}', "CTO"),
    ("job_title", {"from": "A", "transforms": [{"json_get": "Title"}]}, "not json", None),
    ("job_title", {"concat": ["A", "B"], "sep": " / "}, ("x", "y"), "x / y"),
    ("job_title", {"concat": ["A", "B"], "sep": " / "}, ("", "y"), "y"),
    ("job_title", {"coalesce": ["A", "B"]}, ("", "y"), "y"),
    ("job_title", {"coalesce": ["A", "B"]}, ("x", "y"), "x"),
    ("job_title", {"constant": "fixed"}, "whatever", "fixed"),
    ("is_converted", {"constant": True}, "", True),
    ("lead_score", {"from": "A"}, " 12.5 ", 12.5),
    ("lead_score", {"from": "A", "transforms": ["to_number"]}, "1e3", 1000.0),
    ("converted_date", {"from": "A"}, "2024-02-29", date(2024, 2, 29)),
    ("converted_date", {"from": "A"}, "2024-02-29T23:10:00Z", date(2024, 2, 29)),
    ("converted_date", {"from": "A", "transforms": [{"to_date": "%d/%m/%Y"}]}, "31/01/2024", date(2024, 1, 31)),
    ("created_at", {"from": "A"}, "2024-01-31T10:00:00.000+0000", datetime(2024, 1, 31, 10, tzinfo=timezone.utc)),
    ("created_at", {"from": "A"}, "2024-01-31T12:00:00+02:00", datetime(2024, 1, 31, 10, tzinfo=timezone.utc)),
    (
        "created_at",
        {"from": "A", "transforms": [{"to_timestamp": "%m/%d/%Y %H:%M"}]},
        "01/31/2024 10:05",
        datetime(2024, 1, 31, 10, 5, tzinfo=timezone.utc),
    ),
    ("email_opt_out", {"from": "A"}, "Yes", True),
    ("email_opt_out", {"from": "A"}, "0", False),
    ("is_deleted", {"from": "A"}, "false", False),
]


@pytest.mark.parametrize(("field", "spec", "raw", "expected"), CASES)
def test_transforms(lake, tmp_path, field, spec, raw, expected) -> None:
    values = list(raw) if isinstance(raw, tuple) else [raw, ""]
    path = write_csv(tmp_path / "in.csv", ["Id", "A", "B"], [["1", *values]])
    result = ingest(lake, path, mapping("person", {"source_id": "Id", field: spec}))
    assert result.quarantined == 0, lake.quarantine()
    got = lake.current("person")[0][field]
    assert got == expected


def test_null_values_are_configurable(lake, tmp_path) -> None:
    path = write_csv(tmp_path / "in.csv", ["Id", "A"], [["1", "null"], ["2", "NULL"]])
    ingest(lake, path, mapping("person", {"source_id": "Id", "phone": "A"}, null_values=["", "null"]))
    assert [r["phone"] for r in lake.current("person")] == [None, "NULL"]


def test_every_shipped_mapping_parses() -> None:
    names = builtin_mappings()
    assert "salesforce/contact" in names and "marketo/activity" in names
    for name in names:
        assert resolve_mapping(name).fields


def test_entity_option_must_agree_with_the_mapping() -> None:
    with pytest.raises(MappingError, match="not to --entity 'account'"):
        resolve_mapping("salesforce/contact", entity="account")
    with pytest.raises(MappingError, match="no mapping file"):
        resolve_mapping("salesforce/nothing")


@given(st.lists(st.one_of(st.none(), st.text(max_size=5), st.integers(), st.booleans(),
                          st.floats(allow_nan=False), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))))
def test_text_columns_read_values_as_as_text_does(values) -> None:
    """The vectorised column builder and the per-value rule agree, whatever the mix of types."""
    assert text_column(values).to_pylist() == [as_text(v) for v in values]
