"""Streaming evaluation agrees with batch evaluation at the same instant, after any sequence of events and time."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.audiences.prepared import prepare_tables
from accord.audiences.stream import MembershipBus, StreamEvaluator
from accord.audiences.text import parse_audience
from accord.identity.config import IdentityConfig
from accord.ingest.loader import ingest_chunks
from accord.ingest.mapping import parse_mapping
from accord.lake.store import Lake
from accord.pipeline import run_identity
from tests.conftest import ingest, mapping, write_csv
from tests.test_audiences import compiled_members

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
PEOPLE = ["p1", "p2", "p3", "p4"]
AUDIENCES = [
    parse_audience('audience "A" of person where count(event where event_type = "web.pageview" in last 7 days) >= 2'),
    parse_audience('audience "B" of person where any event (event_type = "email.click" in last 3 days) and not in audience "A"'),
    parse_audience('audience "C" of person where last event (event_type = "web.pageview") before 5 days ago'),
    parse_audience('audience "D" of person where no event (event_type = "web.pageview" in last 2 days) and email ends with "@acme.com"'),
    parse_audience('audience "E" of person where any opportunity (amount > 5)'),
]
EVENT_MAPPING = parse_mapping({"entity": "event", "source_type": "Test", "source_instance_id": "t1",
                               "fields": {"source_id": {"from": "id"}, "event_type": {"from": "type"}, "timestamp": {"from": "at"},
                                          "person_key": {"from": "person", "transforms": ["source_key"]}}})


@pytest.fixture(scope="module")
def base_lake(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    with Lake(folder / "base.duckdb") as lake:
        rows = [[p, f"{p}@acme.com" if p != "p4" else "p4@other.io"] for p in PEOPLE]
        ingest(lake, write_csv(folder / "people.csv", ["Id", "Email"], rows), mapping("person", {"source_id": "Id", "email": "Email"}))
        run_identity(lake, IdentityConfig())
    return folder / "base.duckdb"


def add_event(lake: Lake, n: int, person: str, kind: str, at: datetime) -> int:
    import pyarrow as pa

    table = pa.table({"id": [f"e{n}"], "type": [kind], "at": [at.isoformat()], "person": [person], "__accord_row": pa.array([1], pa.int64())})
    from accord.sources.base import RawChunk

    result = ingest_chunks(lake, EVENT_MAPPING, [RawChunk(table)], source_name="test", fingerprint=f"e{n}")
    return int(result.batch_id)


def streaming_members(lake: Lake) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {a.name: set() for a in AUDIENCES}
    for audience, profile in lake.execute(
        "SELECT audience, profile_id FROM audience_membership WHERE status IN ('realized', 'existing')"
    ).fetchall():
        out[audience].add(profile)
    return out


steps = st.lists(
    st.tuples(
        st.integers(0, 72),  # hours that pass
        st.one_of(st.none(), st.tuples(st.sampled_from(PEOPLE), st.sampled_from(["web.pageview", "email.click"]),
                                       st.integers(0, 48))),  # an event, possibly arriving late by some hours
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps)
def test_streaming_agrees_with_batch(base_lake, tmp_path_factory, sequence) -> None:
    path = tmp_path_factory.mktemp("run") / "lake.duckdb"
    shutil.copy(base_lake, path)
    with Lake(path) as lake:
        stream = StreamEvaluator(lake, AUDIENCES)
        assert [a.name for a in stream.audiences] == ["A", "B", "C", "D", "E"], "multi-entity audiences stream too"
        clock = START
        stream.decide("SELECT DISTINCT person_id FROM person_profile", clock)
        for n, (hours, event) in enumerate(sequence):
            previous, clock = clock, clock + timedelta(hours=hours)
            stream.sweep(previous, clock)
            if event is not None:
                person, kind, late = event
                batch = add_event(lake, n, person, kind, clock - timedelta(hours=late))
                stream.on_batches([batch], clock)
        prepare_tables(lake)
        assert streaming_members(lake) == compiled_members(lake, AUDIENCES, clock)


def test_changes_are_published(base_lake, tmp_path) -> None:
    shutil.copy(base_lake, tmp_path / "lake.duckdb")
    with Lake(tmp_path / "lake.duckdb") as lake:
        bus = MembershipBus()
        seen = []
        bus.subscribe(seen.extend)
        stream = StreamEvaluator(lake, AUDIENCES, bus)
        for n in range(2):
            batch = add_event(lake, n, "p1", "web.pageview", START + timedelta(hours=n))
            stream.on_batches([batch], START + timedelta(hours=2))
        assert [(c.audience, c.profile_id.startswith("P"), c.status) for c in seen] == [("A", True, "realized")]
        later = stream.sweep(START + timedelta(hours=2), START + timedelta(days=8))
        assert ("A", "exited") in {(c.audience, c.status) for c in later}, "time alone makes people leave"


def test_an_opportunity_change_moves_the_people_of_its_account(base_lake, tmp_path) -> None:
    shutil.copy(base_lake, tmp_path / "lake.duckdb")
    with Lake(tmp_path / "lake.duckdb") as lake:
        stream = StreamEvaluator(lake, AUDIENCES)
        account = ingest(lake, write_csv(tmp_path / "a.csv", ["Id", "Name"], [["a1", "Acme"]]),
                         mapping("account", {"source_id": "Id", "name": "Name"}))
        link = ingest(lake, write_csv(tmp_path / "ap.csv", ["Id", "A", "P"], [["l1", "a1", "p1"]]),
                      mapping("account_person", {"source_id": "Id", "account_key": {"from": "A", "transforms": ["source_key"]},
                                                 "person_key": {"from": "P", "transforms": ["source_key"]}}))
        run_identity(lake, IdentityConfig())
        stream.on_batches([account.batch_id, link.batch_id], START)
        deal = ingest(lake, write_csv(tmp_path / "o.csv", ["Id", "A", "Amount"], [["o1", "a1", "10"]]),
                      mapping("opportunity", {"source_id": "Id", "account_key": {"from": "A", "transforms": ["source_key"]},
                                              "amount": "Amount"}))
        run_identity(lake, IdentityConfig())
        changes = stream.on_batches([deal.batch_id], START)
        p1 = lake.scalar("SELECT profile_id FROM identity_nodes WHERE namespace = 'b2b_person' AND value = 'p1@t1.Test'")
        assert ("E", p1, "realized") in {(c.audience, c.profile_id, c.status) for c in changes}


def test_a_profile_merged_away_leaves_its_audiences(base_lake, tmp_path) -> None:
    shutil.copy(base_lake, tmp_path / "lake.duckdb")
    with Lake(tmp_path / "lake.duckdb") as lake:
        stream = StreamEvaluator(lake, AUDIENCES)
        stream.decide("SELECT DISTINCT person_id FROM person_profile", START)
        p2 = lake.scalar("SELECT profile_id FROM identity_nodes WHERE namespace = 'b2b_person' AND value = 'p2@t1.Test'")
        moved = ingest(lake, write_csv(tmp_path / "p.csv", ["Id", "Email"], [["p2", "p1@acme.com"]]),
                       mapping("person", {"source_id": "Id", "email": "Email"}))
        touched = run_identity(lake, IdentityConfig()).people.touched
        assert p2 in touched and not lake.scalar("SELECT count(*) FROM identity_nodes WHERE profile_id = ?", [p2])
        changes = stream.advance([moved.batch_id], None, START, touched)
        assert ("D", p2, "exited") in {(c.audience, c.profile_id, c.status) for c in changes}
        prepare_tables(lake)
        assert streaming_members(lake) == compiled_members(lake, AUDIENCES, START)


def test_a_streaming_change_recorded_during_a_batch_run_is_decided_by_the_next(base_lake, tmp_path,
                                                                              monkeypatch) -> None:
    import accord.audiences.evaluate as evaluation

    shutil.copy(base_lake, tmp_path / "lake.duckdb")
    at = START + timedelta(hours=1)
    with Lake(tmp_path / "lake.duckdb") as lake:
        add_event(lake, 0, "p1", "web.pageview", START)
        add_event(lake, 1, "p1", "web.pageview", START)
        evaluation.evaluate(lake, AUDIENCES, at)
        members = evaluation._members_each_alone_if_need_be

        def meanwhile(*args: object) -> object:  # serve's worker records a streaming decision: p1 leaves "A"
            other = lake.cursor()
            left = StreamEvaluator(other, AUDIENCES).sweep(at, START + timedelta(days=8))
            other.close()
            assert ("A", "exited") in {(c.audience, c.status) for c in left}
            return members(*args)

        with monkeypatch.context() as patched:
            patched.setattr(evaluation, "_members_each_alone_if_need_be", meanwhile)
            assert evaluation.evaluate(lake, AUDIENCES, at).people == 0, "nothing had changed when it read"
        after = evaluation.evaluate(lake, AUDIENCES, at)
        assert (after.mode, after.people) == ("incremental", 1), "the membership recorded meanwhile is decided"
