"""Google Ads Customer Match against the local Google Ads: e-mails and E.164 phones leave only hashed, each job
carries the consent Google asks for (granted where the person's marketing consent is recorded), and the list is
made once and then found."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from accord.activation.run import deliver
from accord.connectors.google_ads.server import GoogleAdsServer
from accord.connectors.hashing import e164
from tests.conftest import evaluated_workspace

PEOPLE = "Webinar attendees"


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with GoogleAdsServer() as server:
        monkeypatch.setenv("GOOGLE_TOKEN", server.token)
        monkeypatch.setenv("GOOGLE_DEVELOPER", server.developer_token)
        yield server


@pytest.mark.parametrize(("written", "sent"), [("+1 (415) 555-0100", "+14155550100"), ("0044 20 7946 0958",
                                                "+442079460958"), ("415 555 0100", None), ("call me", None)])
def test_a_phone_is_sent_only_in_e164(written: str, sent: str | None) -> None:
    assert e164(written) == sent


def settings(google: GoogleAdsServer, **extra: object) -> dict[str, object]:
    return {"type": "google_ads", "name": "google", "audiences": [PEOPLE], "endpoint": google.endpoint,
            "customer_id": google.customer_id, "access_token": "env:GOOGLE_TOKEN",
            "developer_token": "env:GOOGLE_DEVELOPER", "poll_seconds": 0.01, **extra}


def test_people_go_hashed_with_the_consent_google_asks_for(tmp_path: Path, evaluated_lake: Path,
                                                         google: GoogleAdsServer) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(google, ad_user_data="DENIED",
                                                                 ad_personalization="DENIED")])
    with ws.lake() as lake:
        lake.execute("UPDATE person_profile SET marketing_consent = 'y' WHERE person_id = (SELECT min(profile_id) "
                     "FROM audience_membership WHERE audience = ?)", [PEOPLE])
        first = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        emails = {r[0] for r in lake.execute(
            "SELECT p.email FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
            "WHERE m.audience = ? AND m.status <> 'exited' AND p.email IS NOT NULL "
            "AND NOT coalesce(p.email_opt_out, FALSE)", [PEOPLE]).fetchall()}
        deliver(ws, lake, ws.config.destinations[0])
    assert google.members(f"{ws.config.name} · {PEOPLE}") == {hashlib.sha256(e.strip().lower().encode()).hexdigest()
                                                            for e in emails}
    assert first.activated == len(emails) and len(google.user_lists) == 1, "the list is made once, then found"
    consents = sorted(json.dumps(j.consent, sort_keys=True) for j in google.jobs.values())
    assert consents == sorted([json.dumps({"adPersonalization": "DENIED", "adUserData": "DENIED"}, sort_keys=True),
                               json.dumps({"adPersonalization": "GRANTED", "adUserData": "GRANTED"}, sort_keys=True)])
    assert not any(e.encode() in body for body in google.bodies for e in emails), "an e-mail left in the clear"


@pytest.mark.parametrize(("written", "code"), [("Japan", "JP"), ("united kingdom", "GB"), ("DE", "DE"),
                                               ("Atlantis", None), ("", None)])
def test_a_country_goes_as_its_iso_code_or_not_at_all(written: str, code: str | None) -> None:
    from accord.connectors.hashing import country_code

    assert country_code(written) == code


def test_address_info_goes_where_all_four_parts_are_present(tmp_path: Path, evaluated_lake: Path,
                                                            google: GoogleAdsServer) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [settings(google, postal_code_field="postal_code")])
    with ws.lake() as lake:
        lake.execute("ALTER TABLE person_profile ADD COLUMN postal_code VARCHAR")
        rows = lake.execute("SELECT p.person_id, p.first_name, p.last_name, p.country FROM audience_membership m "
                            "JOIN person_profile p ON p.person_id = m.profile_id WHERE m.audience = ? "
                            "AND p.first_name IS NOT NULL AND p.last_name IS NOT NULL AND p.country IS NOT NULL "
                            "ORDER BY 1 LIMIT 2", [PEOPLE]).fetchall()
        lake.execute("UPDATE person_profile SET postal_code = ' 100-0001 ' WHERE person_id = ?", [rows[0][0]])
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
    sent = [i["addressInfo"] for body in google.bodies if body for operation in json.loads(body).get("operations", [])
            for i in next(iter(operation.values())).get("userIdentifiers", []) if "addressInfo" in i]
    first, last = (hashlib.sha256(str(v).strip().lower().encode()).hexdigest() for v in rows[0][1:3])
    assert report.failed == 0 and len(sent) == 1, "only the member with a postal code goes with an address"
    assert sent[0]["hashedFirstName"] == first and sent[0]["hashedLastName"] == last
    assert sent[0]["postalCode"] == "100-0001" and len(sent[0]["countryCode"]) == 2
    assert rows[0][1].encode() not in b"".join(google.bodies), "a name left in the clear"
