"""An incremental audience run records exactly what a full run would, after any changes to records, relations,
events and identities, and any time passing; and its aud_* tables equal tables built whole."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord.audiences.evaluate import evaluate
from accord.audiences.files import load_audiences
from accord.audiences.prepared import prepare_tables
from accord.audiences.tables import table_sql
from accord.demo import DEMO_CUSTOM_FIELDS
from accord.identity.config import IdentityConfig
from accord.ingest.records import ingest_records
from accord.lake.custom_fields import declare
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.profiles.build import build_profiles
from tests.audience_strategies import audiences as random_audiences
from tests.conftest import AS_OF, EXAMPLES, ingest_beside

MEMBERSHIP = ("SELECT audience, profile_id, status, entered_at, exited_at FROM audience_membership "
              "ORDER BY ALL")
STATE_COLUMNS = ("source_id", "source_instance_id", "source_type")

person_change = st.tuples(st.just("person"), st.integers(0, 10_000), st.sampled_from([
    {"job_title": "VP Sales"}, {"job_title": None}, {"seniority": "Director"}, {"seniority": "Individual"},
    {"lead_score": "90"}, {"lead_score": "10"}, {"email_opt_out": "true"}, {"country": "Brazil"},
    {"is_deleted": "true"}, {"account_key": None}, {"person_type": "lead"}]))
merge = st.tuples(st.just("merge"), st.integers(0, 10_000), st.integers(0, 10_000))
account_change = st.tuples(st.just("account"), st.integers(0, 10_000), st.sampled_from([
    {"industry": "Software"}, {"industry": "Financial Services"}, {"annual_revenue": "50000000"},
    {"annual_revenue": "1000"}, {"account_type": "Customer"}, {"employees": "100000"}, {"is_deleted": "true"}]))
opportunity_change = st.tuples(st.just("opportunity"), st.integers(0, 10_000), st.sampled_from([
    {"is_closed": "false", "amount": "250000"}, {"is_won": "true", "is_closed": "true", "stage": "Closed Won"},
    {"stage": "Closed Lost", "is_closed": "true"}, {"name": "Expansion deal"}, {"account": True}]))
event = st.tuples(st.just("event"), st.integers(0, 10_000),
                  st.sampled_from(["email.click", "web.pageview", "email.open", "webinar.attend"]),
                  st.integers(-40 * 24, 48))  # hours from the round's instant: old, recent, or still to come
lead = st.tuples(st.just("lead"), st.integers(0, 10_000))
early = st.tuples(st.just("early"), st.integers(0, 10_000),
                  st.sampled_from(["email.click", "web.pageview"]), st.integers(-40 * 24, 0))
LEADS = 20  # the leads a change may add, by number: an early event names one of them
shared_domain = st.tuples(st.just("domain"), st.integers(0, 10_000), st.integers(0, 10_000))
RELATIONS = {  # change kind → (relation, what it points to, its other fields)
    "relation": ("account_person", "account", {"is_primary": "true", "role": "Decision Maker"}),
    "member": ("campaign_member", "campaign", {"status": "04 Attended"}),
    "role": ("opportunity_person", "opportunity", {"role": "Economic Buyer", "is_primary": "true"}),
    "listed": ("marketing_list_member", "marketing_list", {}),
}
related = st.tuples(st.sampled_from(sorted(RELATIONS)), st.integers(0, 10_000), st.integers(0, 10_000))
changes = st.lists(st.one_of(person_change, merge, account_change, lead, early, shared_domain, opportunity_change,
                             event, related), min_size=0, max_size=8)
rounds = st.lists(st.tuples(st.integers(0, 10 * 24), changes), min_size=1, max_size=3)


def current(lake: Lake, entity: str) -> list[dict[str, Any]]:
    return lake.query(f"SELECT * FROM {entity}_current ORDER BY source_key")


def replace(lake: Lake, entity: str, row: dict[str, Any], change: dict[str, Any], at: datetime, n: int) -> None:
    """A new version of `row` with `change`, from the source that sent it."""
    columns = {c.name for c in lake.entity(entity).mappable_columns}
    record = {k: v for k, v in row.items() if k in columns} | change | {"source_updated_at": at.isoformat()}
    ingest_records(lake, entity, [record], source_type=row["source_type"], source_instance_id=row["source_instance_id"],
                   source_name="test", fingerprint=f"change-{n}")


def new_record(lake: Lake, entity: str, record: dict[str, Any], n: int) -> None:
    ingest_records(lake, entity, [record], source_type="Test", source_instance_id="t1", source_name="test",
                   fingerprint=f"new-{n}")


def apply(lake: Lake, change: tuple, at: datetime, n: int) -> None:
    kind, i = change[0], change[1]
    people, accounts = current(lake, "person"), current(lake, "account")
    if kind == "person":
        replace(lake, "person", people[i % len(people)], change[2], at, n)
    elif kind == "merge":  # one person takes another's e-mail: the two profiles become one
        replace(lake, "person", people[i % len(people)], {"email": people[change[2] % len(people)]["email"]}, at, n)
    elif kind == "account":
        replace(lake, "account", accounts[i % len(accounts)], change[2], at, n)
    elif kind == "lead":  # a new lead at an account's e-mail domain, linked to it by that domain alone
        domain = accounts[i % len(accounts)]["domain"]
        new_record(lake, "person", {"source_id": f"lead-{i % LEADS}", "email": f"lead{n}@{domain}",
                                    "person_type": "lead", "job_title": "VP Marketing", "lead_score": "80"}, n)
    elif kind == "domain":  # two accounts with one domain: the people it linked by e-mail domain lose that link
        other = accounts[change[2] % len(accounts)]
        replace(lake, "account", accounts[i % len(accounts)], {"domain": other["domain"]}, at, n)
    elif kind == "opportunity":
        opps = current(lake, "opportunity")
        update = dict(change[2])
        if update.pop("account", False):
            update["account_key"] = accounts[(i * 7) % len(accounts)]["source_key"]
        replace(lake, "opportunity", opps[i % len(opps)], update, at, n)
    elif kind in ("event", "early"):  # an early event names a lead that may come later, or never
        person = lead_key(i) if kind == "early" else people[i % len(people)]["source_key"]
        new_record(lake, "event", {"source_id": f"ev-{n}", "event_type": change[2], "person_key": person,
                                   "url": "https://example.com/pricing", "timestamp": (at + timedelta(hours=change[3])).isoformat()}, n)
    else:  # a new relation of the person to an account, a campaign, a deal (maybe of an account not theirs), a list
        entity, target, fields = RELATIONS[kind]
        targets = current(lake, target)
        new_record(lake, entity, {"source_id": f"{kind}-{n}", "person_key": people[i % len(people)]["source_key"],
                                  f"{target}_key": targets[change[2] % len(targets)]["source_key"], **fields}, n)

def lead_key(i: int) -> str:
    return f"lead-{i % LEADS}@t1.Test"


def aud_tables(lake: Lake) -> dict[str, list[tuple]]:
    return {name: lake.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in table_sql(lake.schema)}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(extra=[], plan=[(0, [("account", 3, {"industry": "Financial Services"})])], accounts=False)
@example(extra=[], plan=[(0, [("lead", 5)]), (0, [("domain", 3, 5)])], accounts=True)
@example(extra=[], plan=[(0, [("account", 5, {"is_deleted": "true"})])], accounts=False)
@example(extra=[], plan=[(0, [("role", 3, 7), ("listed", 4, 1), ("event", 5, "web.pageview", -2)])], accounts=True)
@example(extra=[], plan=[(0, [("early", 3, "web.pageview", -5)]), (1, [("lead", 3), ("early", 3, "email.click", 0)])],
         accounts=False)
@given(extra=st.lists(random_audiences(), max_size=2), plan=rounds, accounts=st.booleans())
def test_an_incremental_run_records_what_a_full_run_would(evaluated_lake: Path, tmp_path_factory, extra, plan,
                                                          accounts) -> None:
    folder = tmp_path_factory.mktemp("incremental")
    path, twin = folder / "accord.duckdb", folder / "twin.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES) + [a.model_copy(update={"name": f"random {i}"}) for i, a in enumerate(extra)]
    if not accounts:  # without account audiences, only the changed and swept people are decided: a sharper test
        audiences = [a for a in audiences if a.of == "person"]
    at, n = AS_OF, 0
    with Lake(path) as lake:
        declare(lake, DEMO_CUSTOM_FIELDS)  # random audiences may test the generated org's custom fields
        build_profiles(lake, IdentityConfig())
        assert not evaluate(lake, audiences, at).failed
    for hours, round_changes in plan:
        at += timedelta(hours=hours)
        with Lake(path) as lake:
            for change in round_changes:
                n += 1
                apply(lake, change, at, n)
            run_identity(lake, IdentityConfig())
        shutil.copy(path, twin)
        with Lake(path) as lake:
            report = evaluate(lake, audiences, at)
            assert report.mode == "incremental", "a run after a run of the same audiences is incremental"
            got, tables = lake.query(MEMBERSHIP), aud_tables(lake)
        with Lake(twin) as lake:
            evaluate(lake, audiences, at, full=True, refresh=True)
            want, whole = lake.query(MEMBERSHIP), aud_tables(lake)
        for name in whole:
            assert tables[name] == whole[name], f"{name} kept incrementally differs from {name} built whole"
        assert got == want


def test_events_before_their_record_join_it_when_it_comes_and_leave_with_it(evaluated_lake: Path,
                                                                            tmp_path: Path) -> None:
    path, twin = tmp_path / "accord.duckdb", tmp_path / "twin.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES)
    key, lead = "early-1@t1.Test", {"source_id": "early-1", "email": "early1@example.org", "person_type": "lead"}
    event = {"source_id": "ev-early", "event_type": "web.pageview", "person_key": key,
             "url": "https://example.com/pricing", "timestamp": AS_OF.isoformat()}

    def incremental_after(entity: str, record: dict[str, Any], n: int) -> tuple[list[tuple], int]:
        """The key's event rows and whether it is unmatched, after `record` came and a run as a full run has it."""
        with Lake(path) as lake:
            new_record(lake, entity, record, n)
            run_identity(lake, IdentityConfig())
            assert evaluate(lake, audiences, AS_OF).mode == "incremental"
            kept, got = aud_tables(lake), lake.query(MEMBERSHIP)
            rows = lake.execute("SELECT event_id FROM aud_person_events WHERE person_key = ?", [key]).fetchall()
            unmatched = lake.scalar("SELECT count(*) FROM aud_unmatched_keys WHERE person_key = ?", [key])
        shutil.copy(path, twin)
        with Lake(twin) as lake:
            evaluate(lake, audiences, AS_OF, full=True, refresh=True)
            assert kept == aud_tables(lake) and got == lake.query(MEMBERSHIP)
        return rows, unmatched

    with Lake(path) as lake:
        evaluate(lake, audiences, AS_OF)
    assert incremental_after("event", event, 1) == ([], 1), "an event with no record waits, unmatched"
    assert incremental_after("person", lead, 2) == ([("ev-early@t1.Test",)], 0), "its record came: it is read"
    assert incremental_after("person", lead | {"is_deleted": "true"}, 3) == ([], 1), "its record went: it waits again"


def test_what_changed_is_all_an_incremental_run_decides(evaluated_lake: Path, tmp_path: Path) -> None:
    path = tmp_path / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES)
    with Lake(path) as lake:
        quiet = evaluate(lake, audiences, AS_OF)
        assert (quiet.mode, quiet.people, quiet.accounts) == ("incremental", 0, 0), "nothing changed since the last run"
        person = current(lake, "person")[0]
        replace(lake, "person", person, {"job_title": "VP Growth"}, AS_OF, 1)
        run_identity(lake, IdentityConfig())
        one = evaluate(lake, audiences, AS_OF)
        linked = lake.scalar("SELECT count(DISTINCT account_id) FROM person_account WHERE person_id = "
                             "(SELECT profile_id FROM identity_nodes WHERE value = ?)", [person["source_key"]])
        assert one.mode == "incremental" and one.people >= 1 and one.accounts == linked
        assert one.people < 100, "only the person changed and, for account audiences, the people of its account"
        edited = [a.model_copy(update={"where": audiences[0].where}) if a.name == audiences[1].name else a for a in audiences]
        assert evaluate(lake, edited, AS_OF).mode == "full", "a changed definition is decided for everyone"
        assert evaluate(lake, edited, AS_OF - timedelta(days=1)).mode == "full", "so is a run back in time"
        prepare_tables(lake)
        assert evaluate(lake, edited, AS_OF).mode == "full", "and a run over tables rebuilt whole"
        assert evaluate(lake, edited, AS_OF, full=True).mode == "full"


def test_events_of_a_batch_that_commits_after_a_later_one_are_kept(evaluated_lake: Path, tmp_path: Path,
                                                                   monkeypatch) -> None:
    path, twin = tmp_path / "accord.duckdb", tmp_path / "twin.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES)
    with Lake(path) as lake:
        people = current(lake, "person")

        def event(n: int) -> dict[str, Any]:
            return {"source_id": f"ev-{n}", "event_type": "web.pageview", "person_key": people[n]["source_key"],
                    "url": "https://example.com/pricing", "timestamp": (AS_OF - timedelta(hours=n)).isoformat()}

        def meanwhile(other: Lake) -> None:  # the collector's batch commits, the worker restitches and decides
            new_record(other, "event", event(1), 1)
            run_identity(other, IdentityConfig())
            assert evaluate(other, audiences, AS_OF).mode == "incremental"

        ingest_beside(lake, monkeypatch, meanwhile, "event", [event(2)], source_type="Test", source_instance_id="t1",
                      source_name="sync", fingerprint="slow")
        run_identity(lake, IdentityConfig())
        evaluate(lake, audiences, AS_OF)
        kept, got = aud_tables(lake), lake.query(MEMBERSHIP)
    shutil.copy(path, twin)
    with Lake(twin) as lake:
        evaluate(lake, audiences, AS_OF, full=True, refresh=True)
        assert kept == aud_tables(lake), "the events of the batch that committed last never reached the aud_* tables"
        assert got == lake.query(MEMBERSHIP)


def test_a_run_that_fails_midway_leaves_nothing_half_kept(evaluated_lake: Path, tmp_path: Path, monkeypatch) -> None:
    import accord.audiences.evaluate as evaluation
    from accord.audiences.prepared import features_key, kept_features

    path = tmp_path / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES)
    with Lake(path) as lake:
        evaluate(lake, audiences, AS_OF)
        assert kept_features(lake, features_key(lake, audiences))
        for n, person in enumerate(current(lake, "person")[:40]):
            replace(lake, "person", person, {"seniority": "Executive", "job_title": "VP Sales"}, AS_OF, n)
        run_identity(lake, IdentityConfig())
        with monkeypatch.context() as patched:
            patched.setattr(evaluation, "record_decisions", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
            with pytest.raises(OSError):
                evaluate(lake, audiences, AS_OF + timedelta(hours=1))
        assert not kept_features(lake, features_key(lake, audiences)), "the kept features were half updated"
    shutil.copy(path, tmp_path / "twin.duckdb")
    with Lake(path) as lake:
        assert evaluate(lake, audiences, AS_OF + timedelta(hours=1)).mode == "incremental"
        got = lake.query(MEMBERSHIP)
    with Lake(tmp_path / "twin.duckdb") as lake:
        evaluate(lake, audiences, AS_OF + timedelta(hours=1), full=True, refresh=True)
        assert got == lake.query(MEMBERSHIP)


@pytest.mark.parametrize("earlier", [
    ["DROP TABLE aud_records"],  # as the Accord before it kept a copy of the records left its tables
    # and the one before events kept their record's key, and the keys of events without a record
    ["ALTER TABLE aud_person_events DROP COLUMN person_key", "DROP TABLE aud_unmatched_keys"],
], ids=["no copy of the records", "no event keys"])
def test_tables_an_earlier_accord_kept_are_built_whole_once(evaluated_lake: Path, tmp_path: Path,
                                                            earlier: list[str]) -> None:
    path = tmp_path / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES)
    with Lake(path) as lake:
        evaluate(lake, audiences, AS_OF)
        for statement in earlier:
            lake.execute(statement)
        replace(lake, "person", current(lake, "person")[0], {"job_title": "VP Growth"}, AS_OF, 1)
        run_identity(lake, IdentityConfig())
        assert evaluate(lake, audiences, AS_OF).mode == "full", "what the tables hold is not known"
        records = "SELECT value, profile_id FROM identity_nodes WHERE kind = 'person' AND namespace = 'b2b_person'"
        assert lake.query(f"{records} EXCEPT SELECT * FROM aud_records") == []
        assert lake.query(f"SELECT * FROM aud_records EXCEPT {records}") == []
        assert lake.scalar("SELECT count(*) FROM aud_person_events WHERE person_key IS NULL") == 0
        assert evaluate(lake, audiences, AS_OF).mode == "incremental"


def test_account_events_kept_as_a_table_by_an_earlier_accord_give_way_to_the_view(evaluated_lake: Path,
                                                                                   tmp_path: Path) -> None:
    path = tmp_path / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES)
    with Lake(path) as lake:
        evaluate(lake, audiences, AS_OF)
        want = lake.query(MEMBERSHIP)
        # As an Accord before v0016 left it: a table, here stale (empty), and the state saying all is current.
        lake.execute("DROP VIEW aud_account_events")
        lake.execute("CREATE TABLE aud_account_events AS SELECT * FROM aud_person_events e "
                     "JOIN aud_person_account USING (person_id) LIMIT 0")
        lake.execute("ALTER TABLE identity_unlinks DROP COLUMN taken_by_run")  # and without v0017's column
        lake.execute("DELETE FROM _migrations WHERE version >= 16")
    with Lake(path, migrate=True) as lake:
        assert lake.scalar("SELECT table_type FROM information_schema.tables "
                           "WHERE table_name = 'aud_account_events'") is None
        assert evaluate(lake, audiences, AS_OF).mode == "full", "the tables are built whole after the migration"
        assert lake.scalar("SELECT table_type FROM information_schema.tables "
                           "WHERE table_name = 'aud_account_events'") == "VIEW"
        assert lake.query(MEMBERSHIP) == want
        assert lake.scalar("SELECT count(*) FROM aud_account_events") > 0
