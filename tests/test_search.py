"""Finding people by what a marketer types: each person once, the closest first, however many hits come before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from accord.lake.store import Lake
from accord.profiles.search import search_people


@pytest.fixture
def lake(tmp_path: Path, evaluated_lake: Path):
    shutil.copy(evaluated_lake, tmp_path / "accord.duckdb")
    with Lake(tmp_path / "accord.duckdb") as store:
        yield store


def test_a_person_with_two_primary_accounts_is_found_once(lake: Lake) -> None:
    person, email = lake.execute("SELECT person_id, email FROM person_profile WHERE email LIKE '%@%' "
                                 "ORDER BY last_name, first_name, person_id LIMIT 1").fetchone()  # found first
    # Two sources each name a different account the person's primary one: four links, all primary.
    lake.execute("INSERT INTO person_account SELECT * REPLACE (a.account_id AS account_id, TRUE AS is_primary) "
                 "FROM person_account pa, (SELECT account_id FROM account_profile ORDER BY account_id LIMIT 4) a "
                 "WHERE pa.person_id = ? LIMIT 4", [person])
    assert lake.scalar("SELECT count(*) FROM person_account WHERE person_id = ? AND is_primary", [person]) > 3
    found = search_people(lake, email)
    assert [p["person_id"] for p in found].count(person) == 1 and found[0]["person_id"] == person
    everyone = search_people(lake, "@", limit=10_000)
    ids = [p["person_id"] for p in everyone]
    assert len(ids) == len(set(ids)) == lake.scalar("SELECT count(*) FROM person_profile WHERE email LIKE '%@%'")
    for limit in (1, 2, 3, 7):  # the duplicates fill the first rows read: more are read until `limit` people
        assert search_people(lake, "@", limit=limit) == everyone[:limit]
