"""XDM: every entity's records round-trip through XDM JSON validated against the shipped Adobe schemas."""

from __future__ import annotations

import json
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema_rs import Draft6Validator, Registry

from accord.lake.export import iter_xdm
from accord.model.xdm import (
    TENANT,
    XDM_CLASSES,
    XdmError,
    _schemas,
    _validator,
    field_paths,
    folded_names,
    from_xdm,
    to_xdm,
    validate_xdm,
)
from accord.sources.files import jobs_from_manifest, load_file
from accord.sources.xdm import load_xdm_file

CONTENT_SKIP = {"batch_id", "ingested_at", "source_row"}


@pytest.fixture(scope="module")
def world_lake(tiny_world, tmp_path_factory):
    from accord.lake.store import Lake

    with Lake(tmp_path_factory.mktemp("xdm") / "l.duckdb") as lake:
        for job in jobs_from_manifest(tiny_world):
            load_file(lake, job)
        yield lake


@pytest.mark.parametrize("entity", list(XDM_CLASSES))
def test_round_trip_of_every_entity(world_lake, entity) -> None:
    records = world_lake.current(entity)[:50]
    assert records, f"the generated world has no {entity}"
    for record in records:
        doc = to_xdm(entity, record)
        json.dumps(doc)
        back = from_xdm(entity, json.loads(json.dumps(doc)))
        for column, value in record.items():
            if value is None or column in CONTENT_SKIP:
                continue
            assert back[column] == value, (entity, column)


def test_known_fields_land_on_their_xdm_paths(world_lake) -> None:
    opp = world_lake.current("opportunity")[0]
    doc = to_xdm("opportunity", opp)
    assert doc["xdm:opportunityAmount"]["xdm:amount"] == opp["amount"]
    assert doc["xdm:opportunityKey"]["xdm:sourceKey"] == opp["source_key"]
    assert doc["xdm:opportunityKey"]["xdm:sourceType"] == "Salesforce"
    assert doc["xdm:expectedCloseDate"] == opp["close_date"].isoformat()
    person = world_lake.current("person")[0]
    pdoc = to_xdm("person", person)
    assert pdoc["xdm:workEmail"]["xdm:address"] == person["email"]
    assert pdoc[TENANT]["recordHash"] == person["record_hash"]


def test_schema_violations_are_refused() -> None:
    with pytest.raises(XdmError, match="xdm:isClosed"):
        validate_xdm("opportunity", {"xdm:opportunityID": "1", "xdm:isClosed": "yes"})
    with pytest.raises(XdmError, match="not a field"):
        validate_xdm("opportunity", {"xdm:opportunityID": "1", "xdm:closeDate": "2024-01-01"})
    with pytest.raises(XdmError):
        validate_xdm("account", {"accountName": "no namespace"})
    with pytest.raises(XdmError, match="no XDM class"):
        field_paths("event")


def test_export_then_import_into_another_sandbox(world_lake, tmp_path) -> None:
    from accord.lake.store import Lake

    out = tmp_path / "accounts.jsonl"
    out.write_text("".join(json.dumps(d) + "\n" for d in iter_xdm(world_lake, "account")))
    out.write_text(out.read_text() + '{"xdm:accountID": 5}\n')
    with Lake(tmp_path / "other.duckdb") as other:
        results = load_xdm_file(other, out, "account")
        assert sum(r.quarantined for r in results) == 1
        assert other.quarantine()[0]["reason_code"] == "invalid_xdm"
        columns = "source_key, name, domain, website, industry, employees, annual_revenue, country, created_at, source_updated_at, is_deleted"
        original = world_lake.query(f"SELECT {columns} FROM account_current ORDER BY source_key")
        imported = other.query(f"SELECT {columns} FROM account_current ORDER BY source_key")
        assert imported == original


def test_lines_that_are_no_json_object_are_quarantined_and_the_rest_load(world_lake, tmp_path) -> None:
    from accord.lake.store import Lake
    from accord.sources.files import FileFormatError

    good = [json.dumps(d) for d in iter_xdm(world_lake, "account", limit=2)]
    bad = {2: b"[" + good[0].encode() + b"]", 3: b"[" * 100_000, 4: b'{"xdm:name": "\xff"}', 5: b"not json"}
    out = tmp_path / "accounts.jsonl"
    out.write_bytes(b"\xef\xbb\xbf" + good[0].encode() + b"\n" + b"\n".join(bad.values()) + b"\n" + good[1].encode())
    with Lake(tmp_path / "other.duckdb") as other:
        results = load_xdm_file(other, out, "account")
        assert sum(r.loaded for r in results) == 2 and sum(r.quarantined for r in results) == 4
        reasons = {q["source_row"]: q["reason"] for q in other.quarantine()}
        assert reasons[2] == "invalid_xdm: a line must hold a JSON object"
        assert "nests too deeply" in reasons[3]
        assert reasons[4].startswith("invalid_xdm: invalid UTF-8")
        assert {q["source_row"]: q["raw_record"] for q in other.quarantine()}[4] == '{"xdm:name": "\\xff"}'
        with pytest.raises(FileFormatError, match="is a folder"):
            load_xdm_file(other, tmp_path, "account")


# Names XDM's `@context` patterns match (a prefix, `@type`, a URI) or nearly match, and ones nothing matches.
NAMES = st.one_of(
    st.sampled_from(["xdm:extra", "xdm:", "@type", "@id", "x@typex", "@other", "repo:x", "schema:y", "bizible:z",
                     "a://b", "://", "https://ns.accord.dev/b2b", "xdm", "foo", "", "XDM:upper", "xdm:b2b",
                     "xdm:personID", "_accord", "@context", "é:ü", "xdm:\n"]),
    st.text(max_size=6),
)
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just({}), st.just([]),
                   st.dictionaries(NAMES, st.integers(), max_size=2))


@cache
def unfolded(entity: str) -> Draft6Validator:
    """The entity's validator over the schemas exactly as Adobe publishes them."""
    composed = {"allOf": [{"$ref": s} for s in XDM_CLASSES[entity].schemas]}
    return Draft6Validator(composed, registry=Registry(list(_schemas().items())), validate_formats=False)


def _objects(doc: dict) -> list[dict]:
    return [doc, *(o for v in doc.values() if isinstance(v, dict) for o in _objects(v))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entity=st.sampled_from(sorted(XDM_CLASSES)), pick=st.integers(0, 49), where=st.integers(0, 99),
       changes=st.lists(st.tuples(NAMES, VALUES), min_size=1, max_size=3))
def test_the_faster_validator_gives_the_same_verdict_as_adobes_schemas(world_lake, entity, pick, where,
                                                                       changes) -> None:
    records = world_lake.current(entity)
    doc = to_xdm(entity, records[pick % len(records)])
    assert _validator(entity).is_valid(doc) and unfolded(entity).is_valid(doc)
    objects = _objects(doc)
    target = objects[where % len(objects)]
    for name, value in changes:
        target[name] = value
    assert _validator(entity).is_valid(doc) == unfolded(entity).is_valid(doc), doc


def test_folding_leaves_a_schema_without_such_patterns_as_it_is() -> None:
    assert folded_names(_schemas()["https://ns.adobe.com/xdm/datatypes/b2b-source"]) == \
        _schemas()["https://ns.adobe.com/xdm/datatypes/b2b-source"]
    only_some = {"type": "object", "patternProperties": {"^x": {"type": "string"}}, "additionalProperties": False}
    assert folded_names(only_some) == only_some
    folded = folded_names({"type": "object", "properties": {"a": {}}, "patternProperties": {"^x": {}, "y$": {}},
                           "additionalProperties": False})
    assert folded == {"type": "object", "properties": {"a": {}},
                      "propertyNames": {"anyOf": [{"enum": ["a"]}, {"pattern": "(?:^x)|(?:y$)"}]}}
