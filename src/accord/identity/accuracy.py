"""Measure stitching and lead-to-account matching against ground truth (as `accord generate` writes it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accord.identity.nodes import is_record, records_sql
from accord.lake.sql import literal
from accord.lake.store import Lake


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    predicted: int
    actual: int
    correct: int


def _scores(correct: int, predicted: int, actual: int) -> Scores:
    return Scores(correct / predicted if predicted else 1.0, correct / actual if actual else 1.0, predicted, actual, correct)


def person_stitching(lake: Lake, truth: Path) -> Scores:
    """Pairwise: of all record pairs put in one profile, how many are one real person, and the reverse."""
    persons = literal(str(truth / "persons.csv"))
    row = lake.execute(
        f"""WITH t AS (SELECT source_key, person FROM read_csv({persons}, all_varchar=true)),
        p AS ({records_sql('person')}),
        j AS (SELECT t.source_key, t.person, p.profile_id FROM t JOIN p USING (source_key))
        SELECT (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM j GROUP BY person, profile_id)),
               (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM j GROUP BY profile_id)),
               (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM j GROUP BY person))"""
    ).fetchone()
    correct, predicted, actual = (int(x or 0) for x in row)
    return _scores(correct, predicted, actual)


def account_matching(lake: Lake, truth: Path) -> Scores:
    """Inferred person → account links: correct ones among those made, and among the people who needed one."""
    persons, accounts, person_accounts = (literal(str(truth / f)) for f in ("persons.csv", "accounts.csv", "person_accounts.csv"))
    row = lake.execute(
        f"""WITH record_person AS (SELECT source_key, person FROM read_csv({persons}, all_varchar=true)),
        record_account AS (SELECT source_key, account FROM read_csv({accounts}, all_varchar=true)),
        true_account AS (SELECT person, account FROM read_csv({person_accounts}, all_varchar=true) WHERE account <> '-1'),
        profile_person AS (
            SELECT n.profile_id AS person_id, mode(rp.person) AS person FROM identity_nodes n
            JOIN record_person rp ON rp.source_key = n.value WHERE {is_record('person')}
            GROUP BY 1),
        profile_account AS (
            SELECT n.profile_id AS account_id, mode(ra.account) AS account FROM identity_nodes n
            JOIN record_account ra ON ra.source_key = n.value WHERE {is_record('account')}
            GROUP BY 1),
        inferred AS (
            SELECT pa.person_id, pp.person, acc.account AS predicted FROM person_account pa
            JOIN profile_person pp USING (person_id) JOIN profile_account acc USING (account_id)
            WHERE pa.method <> 'stated'),
        needing AS (
            SELECT pp.person_id, pp.person FROM profile_person pp JOIN true_account ta USING (person)
            WHERE pp.person_id NOT IN (SELECT person_id FROM person_account WHERE method = 'stated'))
        SELECT (SELECT count(*) FROM inferred i JOIN true_account ta ON ta.person = i.person AND ta.account = i.predicted),
               (SELECT count(*) FROM inferred),
               (SELECT count(*) FROM needing)"""
    ).fetchone()
    correct, predicted, actual = (int(x or 0) for x in row)
    return _scores(correct, predicted, actual)
