"""A profile page's events, read by person from the audiences' copy, are those a read of the store by record key finds:
after new events the copy has not taken yet, and when records moved since (then the store is read)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import accord.profiles.lookup as lookup
from accord.audiences.events_of import people_events_sql
from accord.audiences.prepared import refresh_tables
from accord.identity.config import IdentityConfig
from accord.identity.nodes import records_sql
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.profiles.lookup import get_account, get_person
from tests.conftest import ingest_beside


@pytest.fixture
def lake(tmp_path: Path, evaluated_lake: Path):
    shutil.copy(evaluated_lake, tmp_path / "accord.duckdb")
    with Lake(tmp_path / "accord.duckdb") as store:
        yield store


def busy_people(lake: Lake, n: int = 8) -> list[str]:
    return [r[0] for r in lake.execute("SELECT person_id FROM aud_person_events GROUP BY 1 ORDER BY count(*) DESC, 1 "
                                       "LIMIT ?", [n]).fetchall()]


def readable(lake: Lake, person: str) -> bool:
    """Is the copy one person's to read (their records as they are now)?"""
    records = set(lake.execute(records_sql("person", "?"), [person]).fetchall())
    return people_events_sql(lake, "$id", {"id": person}, records) is not None


def read_both(lake: Lake, monkeypatch: pytest.MonkeyPatch, read):
    """What `read` finds through the copy, and what it finds reading the store by record key."""
    kept = read()
    with monkeypatch.context() as patched:
        patched.setattr(lookup, "people_events_sql", lambda *args: None)
        return kept, read()


def test_people_and_accounts_see_the_same_events_through_the_copy(lake: Lake, monkeypatch) -> None:
    people = busy_people(lake)
    for person in people:
        assert readable(lake, person)
        kept, scanned = read_both(lake, monkeypatch, lambda: get_person(lake, person, events=500).events)
        assert kept == scanned and len(kept) > 3
    account = lake.scalar("SELECT account_id FROM person_account WHERE person_id = ?", [people[0]])
    kept, scanned = read_both(lake, monkeypatch, lambda: get_account(lake, account))
    assert (kept.engagement, kept.weekly) == (scanned.engagement, scanned.weekly) and kept.engagement


def test_events_the_copy_has_not_taken_yet_are_on_the_page(lake: Lake, monkeypatch) -> None:
    person = busy_people(lake, 1)[0]
    key = lake.scalar(f"SELECT min(source_key) FROM ({records_sql('person', '?')})", [person])
    fresh_event(lake, key, "fresh")

    def refreshed_while_a_batch_is_open(other: Lake) -> None:
        fresh_event(other, key, "taken")
        refresh_tables(other)  # takes the event's batch, though it records the batch before the open one

    ingest_beside(lake, monkeypatch, refreshed_while_a_batch_is_open, "event",
                  [{"source_id": "ev-open", "event_type": "email.open", "person_key": key,
                    "timestamp": "2026-01-01T00:00:00Z"}],
                  source_type="Test", source_instance_id="t1", source_name="test", fingerprint="open")
    assert readable(lake, person), "new events alone leave the copy readable"
    kept, scanned = read_both(lake, monkeypatch, lambda: get_person(lake, person, events=1000).events)
    assert kept == scanned and {e["url"] for e in kept[:2]} == {"https://example.com/fresh", "https://example.com/taken"}
    assert len({e["source_key"] for e in kept}) == len(kept), "events the copy took past its batch come once"


def fresh_event(lake: Lake, person_key: str, name: str) -> None:
    """A page view in the future (first on the page), in a batch of its own."""
    ingest_records(lake, "event", [{"source_id": f"ev-{name}", "event_type": "web.pageview", "person_key": person_key,
                                    "url": f"https://example.com/{name}", "timestamp": "2030-01-01T00:00:00Z"}],
                   source_type="Test", source_instance_id="t1", source_name="test", fingerprint=name)


def test_a_person_whose_records_moved_since_the_copy_is_read_from_the_store(lake: Lake, monkeypatch) -> None:
    first, second = busy_people(lake, 2)
    email = lake.scalar("SELECT email FROM person_profile WHERE person_id = ?", [second])
    ingest_records(lake, "person", [{"source_id": "joins", "email": email}], source_type="Test",
                   source_instance_id="t1", source_name="test", fingerprint="joins")
    fresh_event(lake, "joins@t1.Test", "evaluated")
    run_identity(lake, IdentityConfig())  # the copy is refreshed by the next evaluation, not here
    assert not readable(lake, second), "a record came: the copy is not theirs to read"
    assert readable(lake, first), "the others still read the copy"
    kept, scanned = read_both(lake, monkeypatch, lambda: get_person(lake, second, events=1000).events)
    assert kept == scanned and "https://example.com/evaluated" in {e["url"] for e in kept}
