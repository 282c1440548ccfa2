"""Recorded responses of the real Marketo and Salesforce APIs (tests/fixtures/contracts) through Accord's mappings:
the connectors must read what the real systems send, not only what the local servers send."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from accord.ingest.loader import ingest_chunks
from accord.lake.store import Lake
from accord.sources.api import records_chunk
from accord.sources.files import FileReader, fingerprint
from accord.sources.mappings import resolve_mapping

FIXTURES = Path(__file__).parent / "fixtures" / "contracts"


def load(lake: Lake, mapping: str, path: Path):  # type: ignore[no-untyped-def]
    reader = FileReader(path)
    return ingest_chunks(lake, resolve_mapping(mapping), reader.chunks(), source_name=path.name,
                         fingerprint=fingerprint(path), source_instance_id="123-ABC-456")


def test_marketo_bulk_lead_extract_loads(lake: Lake) -> None:
    result = load(lake, "marketo/lead", FIXTURES / "marketo" / "lead_extract1.csv")
    assert result.quarantined == 0 and result.loaded == result.rows_read > 0
    row = lake.query("SELECT source_key, person_type, email_opt_out FROM person_current ORDER BY source_id LIMIT 1")[0]
    assert row["source_key"].endswith("@123-ABC-456.Marketo") and row["email_opt_out"] is False


def test_marketo_bulk_activity_extracts_load_with_their_json_attributes(lake: Lake) -> None:
    results = [load(lake, "marketo/activity", FIXTURES / "marketo" / f"activity_extract{i}.csv") for i in (1, 2)]
    assert sum(r.loaded for r in results) + sum(r.quarantined for r in results) == sum(r.rows_read for r in results)
    assert sum(r.loaded for r in results) > 0
    reasons = {code for r in results for code in r.reasons}
    assert reasons <= {"unmapped_value", "missing_required"}, reasons  # only activity types the mapping skips
    assert lake.scalar("SELECT count(*) FROM event WHERE properties IS NOT NULL") > 0


def test_marketo_bulk_program_member_extract_loads(lake: Lake) -> None:
    result = load(lake, "marketo/program_member", FIXTURES / "marketo" / "program_members_extract.csv")
    assert result.quarantined == 0 and result.loaded > 0
    assert lake.scalar("SELECT min(campaign_key) FROM campaign_member") == "1001@123-ABC-456.Marketo"


def test_marketo_rest_lead_records_load(lake: Lake) -> None:
    rows = json.loads((FIXTURES / "marketo" / "lead_response_full.json").read_text())
    chunk, digest = records_chunk(rows)
    result = ingest_chunks(lake, resolve_mapping("marketo/lead"), [chunk], source_name="rest", fingerprint=digest,
                           source_instance_id="123-ABC-456", strict_columns=False)
    assert result.loaded == len(rows) == 300 and result.quarantined == 0


def test_salesforce_soql_query_records_load(lake: Lake) -> None:
    cassette = yaml.safe_load((FIXTURES / "salesforce" / "query_standard_objects.yaml").read_text())
    loaded = {}
    for interaction in cassette["interactions"]:
        uri = (interaction.get("request") or {}).get("uri", "")
        if "/query/?q=" not in uri or "FROM+RecordType" in uri:
            continue
        sobject = uri.split("+FROM+")[1].split("+")[0].split("&")[0]
        body = json.loads(interaction["response"]["body"]["string"])
        records = [{k: v for k, v in r.items() if k != "attributes"} for r in body["records"]]
        mapping = {"Account": "salesforce/account", "Contact": "salesforce/contact",
                   "Opportunity": "salesforce/opportunity"}[sobject]
        chunk, digest = records_chunk(records)
        result = ingest_chunks(lake, resolve_mapping(mapping), [chunk], source_name=sobject, fingerprint=digest,
                               source_instance_id="00D000000000001AAA", strict_columns=False)
        loaded[sobject] = (result.loaded, result.quarantined, len(records))
    assert set(loaded) == {"Account", "Contact", "Opportunity"}
    assert all(n == total and bad == 0 for n, bad, total in loaded.values()), loaded
    assert loaded["Account"][0] == 6  # the recorded org's accounts; its contacts and opportunities were empty
    assert lake.scalar("SELECT count(*) FROM account_current WHERE name IS NOT NULL") == 6
