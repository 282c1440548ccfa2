"""The generator: deterministic, internally consistent, with ground truth for every source record."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from accord.generate import generate
from accord.generate.export import MARKETO_MUNCHKIN, SALESFORCE_ORG, salesforce_ids
from accord.generate.pools import FREE_MAIL_DOMAINS
from tests.conftest import AS_OF


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.csv"))}


def q(world: Path, sql: str):
    con = duckdb.connect()
    for path in world.rglob("*.csv"):
        name, pattern = ("activities", "activities_*.csv") if "activities" in path.stem else (path.stem, path.name)
        view = f"{path.parent.name}_{name}"
        con.execute(f"CREATE VIEW IF NOT EXISTS {view} AS SELECT * FROM read_csv('{path.parent}/{pattern}', all_varchar=true)")
    return con.execute(sql).fetchall()


def test_same_seed_same_world(tmp_path) -> None:
    generate(tmp_path / "a", "tiny", seed=5, as_of=AS_OF)
    generate(tmp_path / "b", "tiny", seed=5, as_of=AS_OF)
    generate(tmp_path / "c", "tiny", seed=6, as_of=AS_OF)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_salesforce_ids_look_real() -> None:
    ids = salesforce_ids("003", 70)
    assert all(len(i) == 18 and i.startswith("003") for i in ids)
    assert len(set(ids)) == 70


@pytest.mark.parametrize(
    ("what", "sql"),
    [
        ("contact accounts exist", "SELECT count(*) FROM salesforce_Contact WHERE AccountId NOT IN (SELECT Id FROM salesforce_Account)"),
        (
            "contact roles are contacts of the opportunity's account",
            "SELECT count(*) FROM salesforce_OpportunityContactRole r JOIN salesforce_Opportunity o ON o.Id = r.OpportunityId "
            "JOIN salesforce_Contact c ON c.Id = r.ContactId WHERE c.AccountId <> o.AccountId",
        ),
        (
            "marketo's salesforce ids exist",
            "SELECT count(*) FROM marketo_leads WHERE (sfdcContactId <> 'null' AND sfdcContactId NOT IN (SELECT Id FROM salesforce_Contact)) "
            "OR (sfdcLeadId <> 'null' AND sfdcLeadId NOT IN (SELECT Id FROM salesforce_Lead))",
        ),
        (
            "converted leads point at contacts",
            "SELECT count(*) FROM salesforce_Lead WHERE IsConverted = 'true' AND ConvertedContactId NOT IN (SELECT Id FROM salesforce_Contact)",
        ),
        (
            "contacts' e-mail is at their account's domain, or a personal address",
            "SELECT count(*) FROM salesforce_Contact c JOIN salesforce_Account a ON a.Id = c.AccountId "
            "WHERE NOT c.Email LIKE '%@' || replace(a.Website, 'https://www.', '') "
            f"AND split_part(c.Email, '@', 2) NOT IN {tuple(FREE_MAIL_DOMAINS)}",
        ),
        (
            "activities belong to marketo leads",
            "SELECT count(*) FROM marketo_activities WHERE leadId NOT IN (SELECT id FROM marketo_leads)",
        ),
        (
            "every person record has a true person",
            "SELECT (SELECT count(*) FROM salesforce_Contact) + (SELECT count(*) FROM salesforce_Lead) "
            "+ (SELECT count(*) FROM marketo_leads) - (SELECT count(*) FROM truth_persons)",
        ),
        ("e-mails are unique per true person", "SELECT count(*) FROM (SELECT Email FROM salesforce_Contact GROUP BY 1 HAVING count(*) > 1)"),
    ],
)
def test_world_is_consistent(tiny_world, what, sql) -> None:
    assert q(tiny_world, sql)[0][0] == 0, what


def test_world_has_the_variety_identity_needs(tiny_world) -> None:
    free = q(tiny_world, "SELECT Email FROM salesforce_Lead")
    assert any(e.split("@")[1] in FREE_MAIL_DOMAINS for (e,) in free), "some leads use free mail"
    assert q(tiny_world, "SELECT count(*) FROM marketo_leads WHERE sfdcContactId <> 'null'")[0][0] > 0
    assert q(tiny_world, "SELECT count(*) FROM salesforce_Lead WHERE IsConverted = 'true'")[0][0] > 0
    types = q(tiny_world, "SELECT count(DISTINCT activityTypeId) FROM marketo_activities")[0][0]
    assert types >= 10
    pricing = q(tiny_world, "SELECT count(*) FROM marketo_activities WHERE primaryAttributeValue LIKE '%/pricing%'")[0][0]
    assert pricing > 0
    keys = q(tiny_world, "SELECT source_key FROM truth_persons LIMIT 1000")
    assert all(k.endswith(f"@{SALESFORCE_ORG}.Salesforce") or k.endswith(f"@{MARKETO_MUNCHKIN}.Marketo") for (k,) in keys)


def test_events_are_ordered_by_time_and_span_90_days(tiny_world) -> None:
    for path in sorted((tiny_world / "marketo").glob("activities_*.csv")):
        rows = q(tiny_world, f"SELECT activityDate FROM read_csv('{path}', all_varchar=true)")
        dates = [r[0] for r in rows]
        assert dates == sorted(dates)
    first, last = q(tiny_world, "SELECT min(activityDate), max(activityDate) FROM marketo_activities")[0]
    assert first >= "2026-08-31" and last < "2026-11-29"


def test_unknown_scale_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        generate(tmp_path, "huge")
