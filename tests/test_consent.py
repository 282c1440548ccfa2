"""Consent per purpose and channel from every source, merged consent-first: an opt-out flag (e-mail, phone, an
invalid address) from any record holds, a y/n consent is the newest statement whatever its source (a refusal wins a
tie); Marketo's and Salesforce's fields and the Segment consent spec's category preferences count as statements;
a refusal keeps a person only from destinations whose marketing actions need that consent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accord.governance.consent import needed, refusal
from accord.identity.config import IdentityConfig
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.profiles.lookup import get_person
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
        found = lake.query("SELECT * FROM person_profile")
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


def test_flags_from_any_record_hold_with_their_reason(tmp_path: Path) -> None:
    merged = profile_after(tmp_path, [
        ("Marketo", [person("77", "2026-01-01T00:00:00Z", do_not_call=True, do_not_call_reason="asked on a call",
                            email_invalid=True)]),
        ("Salesforce", [person("003A", "2026-03-01T00:00:00Z", do_not_call=False, email_invalid=False,
                               do_not_call_reason="none given")])])
    assert (merged["do_not_call"], merged["email_invalid"]) == (True, True)
    assert merged["do_not_call_reason"] == "asked on a call", "the reason comes with the refusal"


def test_segment_consent_preferences_state_each_purpose() -> None:
    refused = {"type": "track", "event": "Segment Consent Preference Updated", "userId": "u1",
               "timestamp": "2026-03-01T00:00:00Z", "context": {"consent": {"categoryPreferences": {
                   "Advertising": False, "Analytics": True, "Marketing": False, "Data Sharing": False,
                   "Personalization": True}}}}
    granted = {"type": "identify", "userId": "u2", "traits": {"email": "kim@acme.com"},
               "timestamp": "2026-03-01T00:00:00Z", "context": {"consent": {"categoryPreferences": {
                   "Marketing": True, "Functional": False}}}}
    silent = {"type": "track", "event": "Viewed", "userId": "u3", "context": {"consent": {"categoryPreferences": {
        "Functional": False}}}}
    people = to_records([{"receivedAt": "2026-03-01T00:00:00Z", "batch": [refused, granted, silent]}],
                        "site").rows["person"]
    stated = {r["source_id"]: r for r in people}
    u1 = stated["consent:u1"]
    assert (u1["marketing_consent"], u1["ads_consent"], u1["share_consent"], u1["collect_consent"],
            u1["personalize_consent"]) == ("n", "n", "n", "y", "y")
    assert u1["consent_reason"] == "Segment Consent Preference Updated: context.consent"
    assert stated["u2"]["marketing_consent"] == "y" and "consent:u3" not in stated


def test_an_event_whose_analytics_consent_is_refused_is_not_kept_but_its_consent_is() -> None:
    messages = [{"type": "page", "userId": "u1", "messageId": f"m{n}", "timestamp": "2026-03-01T00:00:00Z",
                 "properties": {"url": "https://acme.com/pricing"},
                 "context": {"consent": {"categoryPreferences": {"Analytics": n == 1}}}} for n in (1, 2)]
    records = to_records([{"receivedAt": "2026-03-01T00:00:00Z", "batch": messages}], "site").rows
    assert [e["source_id"] for e in records["event"]] == ["m1"]
    assert [r["collect_consent"] for r in records["person"] if r["source_id"].startswith("consent:")] == ["y", "n"]


def test_marketo_and_salesforce_consent_fields_load_from_exports_as_users_make_them(tmp_path: Path) -> None:
    leads = write_csv(tmp_path / "leads.csv",
                      ["id", "email", "unsubscribed", "unsubscribedReason", "doNotCall", "doNotCallReason",
                       "emailInvalid", "updatedAt"],
                      [["1", "a@acme.com", "true", "Too many emails", "true", "Asked on a call", "false",
                        "2026-01-01T00:00:00Z"],
                       ["2", "b@acme.com", "false", "", "false", "", "true", "2026-01-01T00:00:00Z"]])
    report = write_csv(tmp_path / "contacts.csv", ["Contact ID", "Email", "Email Opt Out", "Do Not Call",
                                                   "Created Date", "Last Modified Date"],
                       [["0031", "c@acme.com", "0", "1", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]])
    with Lake(tmp_path / "sources.duckdb") as lake:
        load_file(lake, FileJob(leads, resolve_mapping("marketo/lead"), "123-ABC-456"))
        load_file(lake, FileJob(report, resolve_mapping("salesforce/contact"), "org"))
        rows = {r["email"]: r for r in lake.query(
            "SELECT email, email_opt_out, consent_reason, do_not_call, do_not_call_reason, email_invalid "
            "FROM person_current")}
    assert rows["a@acme.com"] == {"email": "a@acme.com", "email_opt_out": True, "consent_reason": "Too many emails",
                                  "do_not_call": True, "do_not_call_reason": "Asked on a call", "email_invalid": False}
    assert rows["b@acme.com"]["email_invalid"] is True
    assert (rows["c@acme.com"]["do_not_call"], rows["c@acme.com"]["email_opt_out"]) == (True, False)


@pytest.mark.parametrize(("actions", "refused", "reason"), [
    (["export"], {"marketing_consent": "n"}, "consent:marketing.any"),
    (["export"], {"email_opt_out": True, "do_not_call": True, "ads_consent": "n", "share_consent": "n"}, None),
    (["export", "email_targeting"], {"email_opt_out": True}, "consent:marketing.email"),
    (["export", "email_targeting"], {"email_invalid": True}, "email_invalid"),
    (["export", "email_targeting"], {"ads_consent": "n", "do_not_call": True}, None),
    (["export", "phone_targeting"], {"do_not_call": True}, "consent:marketing.phone"),
    (["export_to_third_party", "cross_site_targeting"], {"ads_consent": "N"}, "consent:marketing.ads"),
    (["export_to_third_party", "cross_site_targeting"], {"share_consent": "n"}, "consent:share"),
    (["export_to_third_party", "cross_site_targeting"], {"email_opt_out": True, "email_invalid": True}, None),
    (["single_identity_personalization"], {"personalize_consent": "n"}, "consent:personalize"),
    (["onsite_personalization"], {"collect_consent": "n", "marketing_consent": "y"}, None),
])
def test_a_refusal_keeps_a_member_from_destinations_whose_actions_need_that_consent(
        actions: list[str], refused: dict[str, Any], reason: str | None) -> None:
    assert refusal(refused, needed(actions)) == reason


def test_the_profile_shows_each_consent_with_its_source_time_and_reason(tmp_path: Path) -> None:
    with Lake(tmp_path / "profile.duckdb") as lake:
        ingest_records(lake, "person", [person("77", "2026-01-01T00:00:00Z", email_opt_out=True,
                                               consent_reason="Too many emails", ads_consent="y")],
                       source_type="Marketo", source_instance_id="m-1", source_name="leads", fingerprint="p-1")
        run_identity(lake, IdentityConfig())
        consent = get_person(lake, f"email:{EMAIL}").consent
    assert [(c["purpose"], c["channel"], c["value"], c["reason"]) for c in consent] == [
        ("marketing", "email", "refused", "Too many emails"), ("marketing", "ads", "granted", "Too many emails")]
    assert all(c["source_key"] and c["at"] for c in consent)


def test_a_lead_marketo_suspended_is_withheld(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "leads.csv", ["id", "email", "marketingSuspended", "updatedAt"], [
        ["1", "a@acme.com", "true", "2026-01-01T00:00:00Z"], ["2", "b@acme.com", "false", "2026-01-01T00:00:00Z"],
        ["3", "c@acme.com", "", "2026-01-01T00:00:00Z"]])
    with Lake(tmp_path / "marketo.duckdb") as lake:
        load_file(lake, FileJob(path, resolve_mapping("marketo/lead"), "123-ABC-456"))
        stated = dict(lake.execute("SELECT email, marketing_consent FROM person_current ORDER BY 1").fetchall())
    assert stated == {"a@acme.com": "n", "b@acme.com": None, "c@acme.com": None}
