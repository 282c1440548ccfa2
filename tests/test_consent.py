"""Consent from every source, merged consent-first: an e-mail opt-out from any record holds, marketing consent is
the newest statement whatever its source (a refusal wins a tie), Marketo's suspension and the Segment consent
spec's category preferences count as statements, and a withheld person is excluded from every delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accord.identity.config import IdentityConfig
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.sources.collector import to_records
from accord.sources.files import FileJob, load_file
from accord.sources.mappings import resolve_mapping
from tests.conftest import write_csv

EMAIL = "jane@acme.com"


def person(source_id: str, when: str, **values: Any) -> dict[str, Any]:
    return {"source_id": source_id, "email": EMAIL, "source_updated_at": when, **values}


def profile_after(tmp_path: Path, batches: list[tuple[str, list[dict[str, Any]]]],
                  config: IdentityConfig | None = None) -> dict[str, Any]:
    with Lake(tmp_path / "consent.duckdb") as lake:
        for n, (source, rows) in enumerate(batches):
            ingest_records(lake, "person", rows, source_type=source, source_instance_id=f"{source}-1",
                           source_name=f"batch {n}", fingerprint=f"consent-{n}")
        run_identity(lake, config or IdentityConfig())
        found = lake.query("SELECT email_opt_out, marketing_consent FROM person_profile")
    assert len(found) == 1, "one person across the sources"
    return found[0]


def test_an_email_opt_out_from_any_record_holds(tmp_path: Path) -> None:
    merged = profile_after(tmp_path, [("Salesforce", [person("003A", "2026-01-01T00:00:00Z", email_opt_out=True)]),
                                      ("Marketo", [person("77", "2026-03-01T00:00:00Z", email_opt_out=False)])])
    assert merged["email_opt_out"] is True


@pytest.mark.parametrize(("later", "expected"), [("2026-03-01T00:00:00Z", "y"), ("2026-02-01T00:00:00Z", "n")])
def test_marketing_consent_is_the_newest_statement_and_a_refusal_wins_a_tie(tmp_path: Path, later: str,
                                                                            expected: str) -> None:
    trusted_first = IdentityConfig(merge_policy="source_precedence", source_precedence=["Salesforce"])
    merged = profile_after(tmp_path, [
        ("Salesforce", [person("003A", "2026-02-01T00:00:00Z", marketing_consent="n")]),
        ("collector", [person("u1", later, marketing_consent="y")])], trusted_first)
    assert merged["marketing_consent"] == expected


def test_segment_consent_preferences_are_a_statement_of_their_own() -> None:
    refused = {"type": "track", "event": "Segment Consent Preference Updated", "userId": "u1",
               "timestamp": "2026-03-01T00:00:00Z", "context": {"consent": {"categoryPreferences": {
                   "Advertising": False, "Analytics": True}}}}
    granted = {"type": "identify", "userId": "u2", "traits": {"email": "kim@acme.com"},
               "timestamp": "2026-03-01T00:00:00Z", "context": {"consent": {"categoryPreferences": {
                   "Marketing": True, "Functional": False}}}}
    silent = {"type": "track", "event": "Viewed", "userId": "u3", "context": {"consent": {"categoryPreferences": {
        "Functional": False}}}}
    people = to_records([{"receivedAt": "2026-03-01T00:00:00Z", "batch": [refused, granted, silent]}],
                        "site").rows["person"]
    stated = {r["source_id"]: r.get("marketing_consent") for r in people}
    assert stated["consent:u1"] == "n" and stated["u2"] == "y" and "consent:u3" not in stated


def test_a_lead_marketo_suspended_is_withheld(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", ["id", "email", "marketingSuspended", "updatedAt"], [
        ["1", "a@acme.com", "true", "2026-01-01T00:00:00Z"], ["2", "b@acme.com", "false", "2026-01-01T00:00:00Z"],
        ["3", "c@acme.com", "", "2026-01-01T00:00:00Z"]])
    with Lake(tmp_path / "marketo.duckdb") as lake:
        load_file(lake, FileJob(path, resolve_mapping("marketo/lead"), "123-ABC-456"))
        stated = dict(lake.execute("SELECT email, marketing_consent FROM person_current ORDER BY 1").fetchall())
    assert stated == {"a@acme.com": "n", "b@acme.com": None, "c@acme.com": None}
