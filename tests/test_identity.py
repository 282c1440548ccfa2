"""Identity end to end on hand-made records: stitching rules, stable ids, merges, splits, policies, accounts."""

from __future__ import annotations

import tempfile
from datetime import timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.engines.registry import lake_engine
from accord.identity.accuracy import account_matching, person_stitching
from accord.identity.config import IdentityConfig
from accord.identity.resolve import reserve_ids, resolve
from accord.identity.split import split_profile
from accord.ingest.mapping import parse_mapping
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.profiles.lookup import ProfileNotFound, get_account, get_person
from accord.sources.files import FileJob, jobs_from_manifest, load_file
from tests.conftest import ingest_beside, write_csv

SF, MK = "00Dorg", "111-AAA-222"
PERSON_COLS = ["Id", "Email", "Last", "Company", "AccountId", "CrmContact", "CrmLead", "ConvertedContact", "Updated", "Score"]


def people(lake: Lake, tmp_path: Path, name: str, source_type: str, rows: list[dict], instance: str = "") -> None:
    instance = instance or (SF if source_type == "Salesforce" else MK)
    m = parse_mapping({
        "entity": "person", "source_type": source_type, "source_instance_id": instance,
        "fields": {
            "source_id": "Id", "email": {"from": "Email", "transforms": ["trim"]}, "last_name": "Last", "company_name": "Company",
            "account_key": {"from": "AccountId", "transforms": ["source_key"]},
            "crm_contact_id": "CrmContact", "crm_lead_id": "CrmLead",
            "converted_contact_key": {"from": "ConvertedContact", "transforms": ["source_key"]},
            "is_converted": {"from": "ConvertedContact", "transforms": [{"map": {"_default": "true"}}]},
            "source_updated_at": "Updated", "lead_score": "Score",
        },
    })
    path = write_csv(tmp_path / f"{name}.csv", PERSON_COLS, [[r.get(c, "") for c in PERSON_COLS] for r in rows])
    load_file(lake, FileJob(path, m))


def accounts(lake: Lake, tmp_path: Path, rows: list[dict], instance: str = SF) -> None:
    m = parse_mapping({"entity": "account", "source_type": "Salesforce", "source_instance_id": instance,
                       "fields": {"source_id": "Id", "name": "Name", "website": "Website",
                                  "domain": {"from": "Website", "transforms": ["url_domain"]}}})
    cols = ["Id", "Name", "Website"]
    load_file(lake, FileJob(write_csv(tmp_path / f"accounts-{instance}.csv", cols, [[r.get(c, "") for c in cols] for r in rows]), m))


def pid(lake: Lake, key: str) -> str:
    return lake.scalar("SELECT profile_id FROM identity_nodes WHERE kind = 'person' AND namespace = 'b2b_person' AND value = ?", [key])


def sf(i: str) -> str:
    return f"{i}@{SF}.Salesforce"


def mk(i: str) -> str:
    return f"{i}@{MK}.Marketo"


CONFIG = IdentityConfig()


@pytest.fixture
def crm_world(lake, tmp_path):
    accounts(lake, tmp_path, [{"Id": "001A", "Name": "Acme, Inc.", "Website": "https://www.acme.com"},
                              {"Id": "001B", "Name": "Globex Dynamics Corporation", "Website": "globex.io"},
                              {"Id": "001G", "Name": "Google LLC", "Website": "https://gmail.com"}])
    people(lake, tmp_path, "contacts", "Salesforce", [
        {"Id": "003A", "Email": "jane@acme.com", "Last": "Doe", "AccountId": "001A", "Updated": "2024-01-01T00:00:00Z"},
        {"Id": "003B", "Email": "bob@acme.com", "Last": "Roe", "AccountId": "001A", "Updated": "2024-01-01T00:00:00Z"},
    ])
    people(lake, tmp_path, "leads", "Salesforce", [
        {"Id": "00QA", "Email": "jane@acme.com", "Last": "Doe", "ConvertedContact": "003A", "Updated": "2024-02-01T00:00:00Z"},
        {"Id": "00QT1", "Email": "test@test.com", "Last": "T1"},
        {"Id": "00QT2", "Email": "test@test.com", "Last": "T2"},
    ])
    people(lake, tmp_path, "marketo", "Marketo", [
        {"Id": "1", "Email": "Jane@Acme.com ", "Last": "Doe-Smith", "CrmContact": "003A", "Updated": "2024-03-01T00:00:00Z", "Score": "40"},
        {"Id": "2", "Email": "jane@acme.com", "Last": "Doe", "Updated": "2024-03-02T00:00:00Z"},
        {"Id": "3", "Email": "ann@gmail.com", "Last": "Lee", "Company": "GLOBEX DYNAMICS CORP"},
        {"Id": "4", "Email": "kim@gmail.com", "Last": "Kim", "Company": "Globex Dynamcs"},
        {"Id": "5", "Email": "sam@globex.io", "Last": "Sam"},
        {"Id": "6", "Email": "pat@gmail.com", "Last": "Pat", "Company": "Unknown Startup"},
    ])
    return lake


def test_records_of_one_person_become_one_profile(crm_world, engine) -> None:
    report = run_identity(crm_world, CONFIG, engine=engine)
    assert report.engine == engine
    lake = crm_world
    assert pid(lake, sf("003A")) == pid(lake, sf("00QA")) == pid(lake, mk("1"))
    assert pid(lake, sf("003A")) != pid(lake, sf("003B"))
    assert report.people.mode == "full"


def test_a_stitch_leaves_no_working_table_to_the_next(crm_world, tmp_path) -> None:
    """A run, whole or over what changed, leaves none of its working tables to what comes next in the stage (the
    accounts' run after the people's, the relinking after both)."""
    lake = crm_world

    def temporary() -> set[str]:
        return {r[0] for r in lake.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}

    engine = lake_engine(lake)
    assert resolve(lake, "person", CONFIG, engine, full=True).mode == "full"
    assert temporary() == set()
    people(lake, tmp_path, "more", "Marketo", [{"Id": "9", "Email": "jane@acme.com", "Last": "Doe"}])
    assert resolve(lake, "person", CONFIG, engine).mode == "incremental"
    assert temporary() == set()


def test_placeholder_values_link_nothing(crm_world) -> None:
    run_identity(crm_world, CONFIG)
    assert pid(crm_world, sf("00QT1")) != pid(crm_world, sf("00QT2"))
    assert crm_world.scalar("SELECT count(*) FROM identity_nodes WHERE value = 'test@test.com'") == 0


def test_a_second_marketo_lead_is_refused_and_the_refusal_recorded(crm_world, engine) -> None:
    run_identity(crm_world, CONFIG, engine=engine)
    assert pid(crm_world, mk("2")) != pid(crm_world, mk("1"))
    refused = crm_world.query("SELECT * FROM identity_rejections WHERE record_key = ?", [mk("2")])
    assert refused and "marketo_lead_id" in refused[0]["rule"]


def test_ids_are_stable_and_merges_are_logged(crm_world, tmp_path, engine) -> None:
    lake = crm_world
    run_identity(lake, CONFIG, engine=engine)
    jane, bob = pid(lake, sf("003A")), pid(lake, sf("003B"))
    people(lake, tmp_path, "more", "Marketo", [{"Id": "7", "Email": "bob@acme.com", "Last": "Roe"}])
    report = run_identity(lake, CONFIG, engine=engine)
    assert report.people.mode == "incremental" and report.people.records < 10
    assert pid(lake, sf("003A")) == jane and pid(lake, mk("7")) == bob == pid(lake, sf("003B"))
    # A Marketo lead carrying Bob's CRM id and Jane's address would join them: the CRM limit refuses it.
    people(lake, tmp_path, "bridge", "Salesforce", [{"Id": "00QX", "Email": "bob@acme.com", "Last": "X", "ConvertedContact": "003A"}])
    run_identity(lake, CONFIG, engine=engine)
    assert pid(lake, sf("003A")) != pid(lake, sf("003B"))
    assert lake.scalar("SELECT count(*) FROM identity_rejections WHERE record_key = ?", [sf("00QX")]) == 1


def test_one_person_in_two_salesforce_orgs_is_one_profile(lake, tmp_path, engine) -> None:
    """An organisation with two orgs (one an acquisition's) holds a person and their company in each: each org's
    limit of one CRM id is its own. Within an org the limit still holds; an id only Marketo carries counts apart.
    The second org's first records make the next run judge every profile again."""
    other = "00Dacquired"
    people(lake, tmp_path, "org", "Salesforce", [{"Id": "003A", "Email": "jane@acme.com"},
                                                 {"Id": "003B", "Email": "bob@acme.com"},
                                                 {"Id": "003C", "Email": "bob@acme.com"}])
    people(lake, tmp_path, "marketo", "Marketo", [{"Id": "1", "Email": "jane@acme.com", "CrmContact": "003Q"}])
    accounts(lake, tmp_path, [{"Id": "001A", "Name": "Acme", "Website": "acme.com"},
                              {"Id": "001B", "Name": "Acme (EU)", "Website": "acme.com"}])
    run_identity(lake, CONFIG, engine=engine)
    assert pid(lake, sf("003A")) != pid(lake, mk("1")), "one org: one CRM id a person"
    people(lake, tmp_path, "acquired", "Salesforce", [{"Id": "003Z", "Email": "jane@acme.com"}], instance=other)
    accounts(lake, tmp_path, [{"Id": "001Z", "Name": "Acme Inc", "Website": "https://acme.com"}], instance=other)
    report = run_identity(lake, CONFIG, engine=engine)
    assert report.people.mode == report.accounts.mode == "full"
    assert pid(lake, sf("003A")) == pid(lake, f"003Z@{other}.Salesforce") == pid(lake, mk("1"))
    assert pid(lake, sf("003B")) != pid(lake, sf("003C"))
    account = {k: lake.scalar("SELECT profile_id FROM identity_nodes WHERE kind = 'account' AND value = ?", [k])
               for k in (f"001A@{SF}.Salesforce", f"001B@{SF}.Salesforce", f"001Z@{other}.Salesforce")}
    assert len(set(account.values())) == 2 and account[f"001Z@{other}.Salesforce"] in (
        account[f"001A@{SF}.Salesforce"], account[f"001B@{SF}.Salesforce"])


def test_merge_keeps_one_id_and_says_why(lake, tmp_path) -> None:
    people(lake, tmp_path, "a", "Marketo", [{"Id": "1", "Email": "a@x.io"}])
    people(lake, tmp_path, "b", "Salesforce", [{"Id": "003A", "Email": "b@y.io"}])
    run_identity(lake, CONFIG)
    first, second = pid(lake, mk("1")), pid(lake, sf("003A"))
    assert first != second
    people(lake, tmp_path, "c", "Marketo", [{"Id": "1", "Email": "a@x.io", "CrmContact": "003A", "Updated": "2024-05-01T00:00:00Z"}])
    run_identity(lake, CONFIG)
    older, newer = sorted([first, second])
    assert pid(lake, mk("1")) == pid(lake, sf("003A")) == older, "equal halves: the older id survives"
    merge = lake.query("SELECT * FROM identity_merges")
    assert [(m["surviving_id"], m["merged_id"]) for m in merge] == [(older, newer)]
    assert merge[0]["evidence"] == f"Salesforce id carried by the record: {mk('1')} – crm_id:003A"
    full = run_identity(lake, CONFIG, full=True)
    assert full.people.merges == 0 and pid(lake, sf("003A")) == older


def test_ids_past_eight_digits_stay_distinct_and_the_older_survives(lake, tmp_path) -> None:
    lake.execute("DROP SEQUENCE person_id_seq")
    lake.execute("CREATE SEQUENCE person_id_seq START 99999999")
    people(lake, tmp_path, "a", "Marketo", [{"Id": "1", "Email": "a@x.io"}])
    people(lake, tmp_path, "b", "Salesforce", [{"Id": "003A", "Email": "b@y.io"}])
    run_identity(lake, CONFIG)
    assert {pid(lake, mk("1")), pid(lake, sf("003A"))} == {"P99999999", "P100000000"}
    people(lake, tmp_path, "c", "Marketo", [{"Id": "1", "Email": "a@x.io", "CrmContact": "003A", "Updated": "2024-05-01T00:00:00Z"}])
    run_identity(lake, CONFIG)
    assert pid(lake, mk("1")) == pid(lake, sf("003A")) == "P99999999", "the lower number is the older id"
    assert reserve_ids(lake, "person", 2) == ["P100000001", "P100000002"]


def test_a_batch_that_commits_after_a_later_one_is_still_stitched(lake, monkeypatch) -> None:
    def meanwhile(other: Lake) -> None:  # the collector's batch commits and the worker restitches
        ingest_records(other, "person", [{"source_id": "1", "email": "q@quick.io"}], source_type="Marketo",
                       source_instance_id=MK, source_name="collector", fingerprint="quick")
        run_identity(other, CONFIG)
        assert pid(other, mk("1")) is not None

    slow = ingest_beside(lake, monkeypatch, meanwhile, "person", [{"source_id": "003S", "email": "s@slow.io"}],
                         source_type="Salesforce", source_instance_id=SF, source_name="sync", fingerprint="slow")
    assert slow.batch_id < lake.scalar("SELECT batch_id FROM batches WHERE source_name = 'collector'")
    run_identity(lake, CONFIG)
    assert pid(lake, sf("003S")) is not None, "the batch that opened first and committed last was never stitched"


def test_a_strong_reference_beats_a_shared_address(lake, tmp_path) -> None:
    people(lake, tmp_path, "a", "Marketo", [{"Id": "1", "Email": "a@x.io"}, {"Id": "2", "Email": "b@y.io", "CrmContact": "003A"}])
    people(lake, tmp_path, "b", "Salesforce", [{"Id": "003A", "Email": "a@x.io"}])
    run_identity(lake, CONFIG)
    assert pid(lake, mk("2")) == pid(lake, sf("003A")) != pid(lake, mk("1"))
    refused = lake.query("SELECT record_key, namespace FROM identity_rejections")
    assert refused == [{"record_key": sf("003A"), "namespace": "email"}]


def test_split_undoes_a_wrong_merge(crm_world, engine) -> None:
    lake = crm_world
    run_identity(lake, CONFIG, engine=engine)
    jane = pid(lake, sf("003A"))
    split_profile(lake, jane, f"b2b_person:{mk('1')}")
    run_identity(lake, CONFIG, engine=engine)
    assert pid(lake, sf("003A")) == jane
    assert pid(lake, mk("1")) != jane
    run_identity(lake, CONFIG, full=True, engine=engine)
    assert pid(lake, mk("1")) != jane, "the split holds on later runs"
    with pytest.raises(LookupError):
        split_profile(lake, jane, "email:nobody@acme.com")


def test_a_split_recorded_while_a_run_is_under_way_is_taken_by_the_next(crm_world, tmp_path, monkeypatch) -> None:
    import accord.identity.resolve as resolve

    lake = crm_world
    run_identity(lake, CONFIG)
    jane = pid(lake, sf("003A"))
    stitch_scope = resolve._stitch_scope

    def split_meanwhile(store: Lake, kind: str, *args: object) -> object:  # a relayed `accord identity split`
        if kind == "person":
            other = store.cursor()
            split_profile(other, jane, f"b2b_person:{mk('1')}")
            other.close()
        return stitch_scope(store, kind, *args)

    people(lake, tmp_path, "more", "Marketo", [{"Id": "8", "Email": "sam@globex.io"}])
    with monkeypatch.context() as patched:
        patched.setattr(resolve, "_stitch_scope", split_meanwhile)
        run_identity(lake, CONFIG)
    assert pid(lake, mk("1")) == jane, "the run under way read the store before the split"
    assert run_identity(lake, CONFIG).people.mode == "incremental"
    assert pid(lake, mk("1")) != jane, "the split made during the last run was never taken"


def test_splits_an_earlier_accord_recorded_are_taken_once_by_migration(crm_world) -> None:
    lake = crm_world
    run_identity(lake, CONFIG)
    jane, bob = pid(lake, sf("003A")), pid(lake, sf("003B"))
    split_profile(lake, jane, f"b2b_person:{mk('1')}")
    run_identity(lake, CONFIG)
    split_profile(lake, bob, "email:bob@acme.com")
    # As an Accord before v0017 left them: one split taken by the last run, one made after it.
    lake.execute("ALTER TABLE identity_unlinks DROP COLUMN taken_by_run")
    lake.execute("DELETE FROM _migrations WHERE version >= 17")
    path = lake.path
    lake.close()
    with Lake(path, migrate=True) as migrated:
        taken = migrated.query("SELECT profile_id, taken_by_run FROM identity_unlinks ORDER BY created_at")
        assert [(t["profile_id"], t["taken_by_run"]) for t in taken] == [(jane, 0), (bob, None)]


def test_two_identity_runs_at_once_give_each_record_one_profile(crm_world, tmp_path, monkeypatch) -> None:
    import threading

    import accord.identity.resolve as resolve

    lake = crm_world
    run_identity(lake, CONFIG)
    people(lake, tmp_path, "more", "Marketo", [{"Id": "8", "Email": "sam@globex.io"}, {"Id": "9", "Email": "new@acme.com"}])
    stitch_scope, relayed, done, started = resolve._stitch_scope, [], threading.Event(), []

    def run_relayed() -> None:  # `accord identity run` typed beside serve's worker
        other = lake.cursor()
        try:
            relayed.append(run_identity(other, CONFIG))
        finally:
            other.close()
            done.set()

    def worker_stitching(store: Lake, kind: str, *args: object) -> object:
        if not started:
            started.append(threading.Thread(target=run_relayed))
            started[0].start()
            done.wait(2)  # the relayed run waits for this one's turn to end (or, without turns, runs through)
        return stitch_scope(store, kind, *args)

    with monkeypatch.context() as patched:
        patched.setattr(resolve, "_stitch_scope", worker_stitching)
        run_identity(lake, CONFIG)
        started[0].join(60)
    assert relayed, "the relayed run failed"
    twice = lake.query("SELECT kind, namespace, value FROM identity_nodes GROUP BY ALL HAVING count(*) > 1")
    assert twice == [], "a record's identities were given two profiles"


def test_incremental_and_full_runs_agree(crm_world, tmp_path, engine) -> None:
    lake = crm_world
    run_identity(lake, CONFIG, engine=engine)
    people(lake, tmp_path, "more", "Marketo", [{"Id": "8", "Email": "sam@globex.io"}, {"Id": "9", "Email": "new@acme.com"}])
    people(lake, tmp_path, "changed", "Salesforce", [
        {"Id": "003B", "Email": "bob@acme.com", "Last": "Roe-Smith", "AccountId": "001A", "Updated": "2024-06-01T00:00:00Z"}])
    run_identity(lake, CONFIG, engine=engine)
    tables = ("SELECT namespace, value, profile_id FROM identity_nodes ORDER BY ALL",
              "SELECT * FROM person_profile ORDER BY person_id", "SELECT * FROM profile_lineage ORDER BY ALL",
              "SELECT * FROM person_account ORDER BY ALL")
    incremental = [lake.query(q) for q in tables]
    assert any(r["last_name"] == "Roe-Smith" for r in incremental[1])
    newcomer = pid(lake, mk("9"))
    assert [r["method"] for r in incremental[3] if r["person_id"] == newcomer] == ["email_domain"]
    run_identity(lake, CONFIG, full=True, engine=engine)
    assert [lake.query(q) for q in tables] == incremental


def test_merge_policies_and_lineage(crm_world) -> None:
    lake = crm_world
    run_identity(lake, CONFIG)
    jane = get_person(lake, "email:JANE@acme.com")
    last = next(a for a in jane.attributes if a.name == "last_name")
    assert (last.value, last.source_key) == ("Doe-Smith", mk("1")), "timestamp: the newest record wins"
    assert jane.attribute("lead_score") == 40.0
    run_identity(lake, IdentityConfig(merge_policy="source_precedence", source_precedence=["salesforce"]), full=True)
    jane = get_person(lake, "crm_id:003A")
    last = next(a for a in jane.attributes if a.name == "last_name")
    assert last.value == "Doe" and last.source_key.endswith(".Salesforce")
    assert jane.attribute("lead_score") == 40.0, "a value only one record has is kept whatever the policy"
    assert jane.attribute("person_type") is None, "these test records carry no person type"


def test_people_find_their_accounts(crm_world) -> None:
    lake = crm_world
    run_identity(lake, CONFIG)
    acme = get_account(lake, "domain:acme.com")
    globex = get_account(lake, "domain:GLOBEX.io")

    def link(key: str) -> dict:
        rows = lake.query("SELECT * FROM person_account WHERE person_id = ?", [pid(lake, key)])
        assert len(rows) <= 1
        return rows[0] if rows else {}

    assert link(sf("003A"))["method"] == "stated" and link(sf("003A"))["account_id"] == acme.account_id
    assert link(mk("5"))["method"] == "email_domain" and link(mk("5"))["account_id"] == globex.account_id
    assert link(mk("3"))["method"] == "company_name" and link(mk("3"))["account_id"] == globex.account_id
    fuzzy = link(mk("4"))
    assert fuzzy["method"] == "company_fuzzy" and fuzzy["account_id"] == globex.account_id and 0.9 < fuzzy["score"] < 1
    assert link(mk("6")) == {}, "no account for an unknown company"
    google = get_account(lake, "b2b_account_crm:001G").account_id
    assert lake.scalar("SELECT count(*) FROM person_account WHERE account_id = ?", [google]) == 0, "free mail never matches"
    assert {p["person_id"] for p in acme.people} >= {pid(lake, sf("003A")), pid(lake, sf("003B"))}


def test_stated_links_win_over_inferred(lake, tmp_path) -> None:
    accounts(lake, tmp_path, [{"Id": "001A", "Name": "Acme", "Website": "acme.com"}, {"Id": "001B", "Name": "Other", "Website": "other.com"}])
    people(lake, tmp_path, "c", "Salesforce", [{"Id": "003A", "Email": "jo@acme.com", "AccountId": "001B", "Company": "Acme"}])
    run_identity(lake, CONFIG)
    links = lake.query("SELECT * FROM person_account")
    assert len(links) == 1 and links[0]["method"] == "stated"
    assert links[0]["account_id"] == get_account(lake, "domain:other.com").account_id


def test_lookup_errors(crm_world) -> None:
    run_identity(crm_world, CONFIG)
    with pytest.raises(ProfileNotFound):
        get_person(crm_world, "email:nobody@nowhere.io")
    with pytest.raises(ValueError, match="namespace:value"):
        get_person(crm_world, "jane")
    with pytest.raises(ValueError, match="namespace:value"):
        get_person(crm_world, "P123")  # too short for an id Accord gives
    with pytest.raises(ValueError, match="unknown namespace"):
        get_person(crm_world, "mail:jane@acme.com")


def test_a_pasted_page_looked_up_is_not_repeated_whole_by_the_error(crm_world) -> None:
    run_identity(crm_world, CONFIG)
    page = "x" * 100_000
    for ref in (page, f"email:{page}@acme.com", f"{page}:jane"):
        with pytest.raises((ValueError, ProfileNotFound)) as raised:
            get_person(crm_world, ref)
        assert len(str(raised.value)) < 300 and "characters)" in str(raised.value)


def test_a_profile_is_found_by_its_bare_id_or_e_mail_as_listings_print_them(crm_world) -> None:
    run_identity(crm_world, CONFIG)
    jane = pid(crm_world, sf("003A"))
    assert get_person(crm_world, jane).person_id == jane
    assert get_person(crm_world, f" {jane} ").person_id == jane
    assert get_person(crm_world, "Jane@ACME.com").person_id == jane
    account = get_account(crm_world, "domain:acme.com").account_id
    assert get_account(crm_world, account).account_id == account
    with pytest.raises(ProfileNotFound, match=f"no account profile holds person_id:{jane}"):
        get_account(crm_world, jane)


def test_accuracy_on_the_generated_world(tiny_world, tmp_path, engine) -> None:
    with Lake(tmp_path / "l.duckdb") as lake:
        for job in jobs_from_manifest(tiny_world):
            load_file(lake, job)
        run_identity(lake, CONFIG, engine=engine)
        stitching = person_stitching(lake, tiny_world / "truth")
        matching = account_matching(lake, tiny_world / "truth")
    assert stitching.precision >= 0.99 and stitching.recall >= 0.9
    assert matching.precision >= 0.99 and matching.recall >= 0.8


EMAILS = st.sampled_from(["jane@acme.com", "bob@acme.com", "ann@globex.io", "kim@gmail.com", None])
PERSON_ROWS = st.fixed_dictionaries({
    "source_id": st.sampled_from(["1", "2", "3", "4", "5"]), "email": EMAILS,
    "company_name": st.sampled_from(["Acme", "Globex Dynamics", "Initech", None]),
    "account_key": st.sampled_from([sf("001A"), sf("001B"), None]),
    "job_title": st.sampled_from(["CTO", "VP", None]),
})
ACCOUNT_ROWS = st.fixed_dictionaries({
    "source_id": st.sampled_from(["001A", "001B", "001C"]),
    "name": st.sampled_from(["Acme, Inc.", "Globex Dynamics Corp", "Initech"]),
    "domain": st.sampled_from(["acme.com", "globex.io", "initech.com", None]),
})
RELATION_ROWS = st.fixed_dictionaries({
    "source_id": st.sampled_from(["r1", "r2", "r3"]), "person_key": st.sampled_from([mk("1"), mk("2"), sf("3")]),
    "account_key": st.sampled_from([sf("001A"), sf("001B"), sf("001C")]),
})
BATCHES = st.lists(st.one_of(
    st.tuples(st.just("person"), st.sampled_from(["Marketo", "Salesforce"]), st.lists(PERSON_ROWS, min_size=1, max_size=4)),
    st.tuples(st.just("account"), st.just("Salesforce"), st.lists(ACCOUNT_ROWS, min_size=1, max_size=2)),
    st.tuples(st.just("account_person"), st.just("Salesforce"), st.lists(RELATION_ROWS, min_size=1, max_size=2)),
), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=BATCHES)
def test_incremental_runs_after_any_batches_equal_a_full_run(tmp_path, batches) -> None:
    """Profiles, identities and account links kept up batch by batch equal those a full run rebuilds."""
    with Lake(Path(tempfile.mkdtemp(dir=tmp_path)) / "accord.duckdb") as lake:
        for n, (entity, source_type, rows) in enumerate(batches):
            ingest_records(lake, entity, [r | {"source_updated_at": f"2024-01-0{n + 1}T00:00:00Z"} for r in rows],
                           source_type=source_type, source_instance_id=SF if source_type == "Salesforce" else MK,
                           source_name=f"batch {n}", fingerprint=f"{n}")
            run_identity(lake, CONFIG)
        tables = ("SELECT kind, namespace, value, profile_id FROM identity_nodes ORDER BY ALL",
                  "SELECT * FROM person_profile ORDER BY ALL", "SELECT * FROM account_profile ORDER BY ALL",
                  "SELECT * FROM person_account ORDER BY ALL")
        incremental = [lake.query(q) for q in tables]
        run_identity(lake, CONFIG, full=True)
        assert [lake.query(q) for q in tables] == incremental


@pytest.mark.parametrize("limits, said", [
    ({"crm-id": 1}, "no identity namespace 'crm-id'"),  # it would replace the defaults and limit nothing
    ({"crm_id": 0}, "a limit is at least 1 value per profile (crm_id)"),
])
def test_a_namespace_limit_that_would_limit_nothing_is_refused(limits: dict[str, int], said: str) -> None:
    with pytest.raises(ValueError, match=said.replace("(", r"\(").replace(")", r"\)")):
        IdentityConfig(namespace_limits=limits)
    kept = IdentityConfig(namespace_limits={"crm_id": 1, "b2b_account_crm": 1, "email": 2})
    assert kept.namespace_limits["email"] == 2


def test_an_accounts_engagement_counts_its_peoples_current_events(evaluated_lake: Path, tmp_path: Path) -> None:
    """Per type: in the 30 days before the store's latest event, in all, from how many records; per week (weeks
    starting on Monday, UTC) over the 26 weeks before it."""
    import shutil
    from collections import Counter
    from datetime import timedelta

    path = tmp_path / "lake.duckdb"
    shutil.copy(evaluated_lake, path)
    with Lake(path) as lake:
        account = lake.scalar("SELECT account_id FROM person_account GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        found = get_account(lake, f"account_id:{account}")
        latest = lake.scalar("SELECT max(timestamp) FROM event")
        events = lake.execute(
            "SELECT e.timestamp, e.event_type, e.person_key FROM event_current e JOIN identity_nodes n "
            "ON n.kind = 'person' AND n.namespace = 'b2b_person' AND n.value = e.person_key "
            "JOIN person_account pa ON pa.person_id = n.profile_id WHERE pa.account_id = ?", [account]).fetchall()
    assert events, "an account with people and events"
    types = sorted({t for _, t, _ in events})
    expected = [{"event_type": t, "all_time": sum(1 for _, u, _ in events if u == t),
                 "last_30_days": sum(1 for at, u, _ in events if u == t and at > latest - timedelta(days=30)),
                 "records": len({k for _, u, k in events if u == t})} for t in types]
    weeks = Counter((at.astimezone(timezone.utc).date() - timedelta(days=at.astimezone(timezone.utc).weekday()))
                    .isoformat() for at, _, _ in events if at > latest - timedelta(weeks=26))
    assert sorted(found.engagement, key=lambda r: r["event_type"]) == expected
    assert [r["event_type"] for r in found.engagement] == sorted(types, key=lambda t: (
        -next(r["all_time"] for r in expected if r["event_type"] == t), t))
    assert found.weekly == [{"week": w, "events": n} for w, n in sorted(weeks.items())]


def test_identities_and_links_are_numbered_in_their_order_inside_a_transaction_on_many_threads(lake) -> None:
    """The numbers are places in sorted tables (a window ordered over the whole graph does not spill): they must
    be the places a `row_number()` gives, in a transaction (whose new rows DuckDB numbers otherwise) and with
    several threads writing the sorted rows, over more rows than one row group holds."""
    from accord.identity.resolve import GRAPH, _numbering_steps

    lake.execute("SET threads = 4")
    with lake.transaction():
        lake.execute("""CREATE TEMP TABLE _sub AS SELECT DISTINCT ON (record_key, namespace, value)
            'rec-' || (hash(i) % 150000) AS record_key,
            ['email', 'phone', 'crm_id'][1 + i % 3] AS namespace, 'v' || (hash(i * 7) % 90000) AS value,
            'rule' AS rule, i % 4 AS strength, i % 9 AS batch_id, hash(i * 3) % 1000 AS source_row
            FROM range(400000) t(i)""")
        lake_engine(lake).build(_numbering_steps("record"), keep=GRAPH[1:])
        nodes = lake.scalar("""SELECT count(*) FILTER (WHERE node <> place) FROM (SELECT node,
            row_number() OVER (ORDER BY namespace, value) - 1 AS place FROM _nodes)""")
        arcs = lake.scalar("""SELECT count(*) FILTER (WHERE a.edge <> r.place) FROM _arcs a JOIN (
            SELECT record_key, namespace, value, row_number() OVER (ORDER BY strength, batch_id, source_row,
                   record_key, namespace, value) - 1 AS place FROM _sub) r USING (record_key, namespace, value)""")
        assert lake.scalar("SELECT count(*) FROM _nodes") > 200_000 and lake.scalar("SELECT count(*) FROM _arcs") > 390_000
        assert (nodes, arcs) == (0, 0)
