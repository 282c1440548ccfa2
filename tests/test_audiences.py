"""Audiences: compiled SQL agrees with an independent reference evaluator; memberships keep their history."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from accord.audiences.ast import Aggregate, And, Audience, InAudience
from accord.audiences.compile import CompileError, Compiler
from accord.audiences.evaluate import evaluate, preview
from accord.audiences.files import AudienceFileError, load_audiences, save_audience
from accord.audiences.method import evaluation_method
from accord.audiences.text import parse_audience
from accord.audiences.why import explain_membership
from accord.engines.duckdb.engine import DuckDBEngine
from accord.lake.store import Lake
from tests.audience_strategies import audiences as random_audiences
from tests.audience_strategies import condition
from tests.conftest import AS_OF
from tests.reference import Evaluator, World, evaluate_reference

EXAMPLES = load_audiences(Path(str(resources.files("accord.audiences").joinpath("examples"))))
WHEN = AS_OF - timedelta(hours=3)


@pytest.fixture(scope="module")
def world_lake(profiled_lake):
    return profiled_lake


@pytest.fixture(scope="module")
def reference_world(world_lake):
    return World(world_lake)


def compiled_members(lake: Lake, audiences, when=WHEN) -> dict[str, set[str]]:
    members = DuckDBEngine(lake).members(Compiler(when, lake.schema).compile_all(audiences))
    out: dict[str, set[str]] = {a.name: set() for a in audiences}
    for name, pid in zip(members.column("audience").to_pylist(), members.column("profile_id").to_pylist()):
        out[name].add(pid)
    return out


def test_example_audiences_agree_with_the_reference(world_lake) -> None:
    compiled = compiled_members(world_lake, EXAMPLES)
    reference = evaluate_reference(world_lake, EXAMPLES, WHEN)
    for audience in EXAMPLES:
        assert compiled[audience.name] == reference[audience.name], audience.name
    assert sum(1 for a in EXAMPLES if compiled[a.name]) >= 6, "most examples select someone in the tiny world"


def test_conditions_nested_to_the_limit_evaluate_and_deeper_ones_are_refused(world_lake, tmp_path) -> None:
    from accord.audiences.files import load_usable
    from accord.audiences.text import MAX_NESTING, AudienceSyntaxError

    def nested(depth: int) -> str:
        """The audience's condition nested `depth` deep in all (the condition and the event's, each `not`, each `(`):
        an even number of `not (`, so the same people as the plain condition."""
        nots = (depth - 2) // 4 * 2
        parens = depth - 2 - 2 * nots
        inner = 'any event (event_type = "email.click") or seniority = "Executive"'
        return f'audience "Deep" of person where {"not (" * nots}{"(" * parens}{inner}{")" * (nots + parens)}'

    deepest = parse_audience(nested(MAX_NESTING))
    plain = parse_audience(nested(2)).model_copy(update={"name": "Plain"})
    members = compiled_members(world_lake, [deepest, plain])
    assert members["Deep"] == members["Plain"] == evaluate_reference(world_lake, [deepest], WHEN)["Deep"] != set()
    with pytest.raises(AudienceSyntaxError, match=f"nest more than {MAX_NESTING} deep"):
        parse_audience(nested(MAX_NESTING + 1))
    with pytest.raises(AudienceSyntaxError, match="line 1, column"):
        parse_audience('audience "Nots" of person where ' + "not " * 10_000 + 'seniority = "Executive"')
    # A file nesting thousands deep is left out with its reason; the others are still evaluated.
    (tmp_path / "deep.aud").write_text(nested(5_000))
    (tmp_path / "plain.aud").write_text(nested(2).replace('"Deep"', '"Plain"'))
    usable = load_usable(tmp_path, WHEN)
    assert [a.name for a in usable.audiences] == ["Plain"] and "nest more than" in usable.problems["deep.aud"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(random_audiences())
def test_random_audiences_agree_with_the_reference(world_lake, reference_world, audience) -> None:
    compiled = compiled_members(world_lake, [audience])[audience.name]
    ev = Evaluator(reference_world, WHEN, {})
    rows = reference_world.people if audience.of == "person" else reference_world.accounts
    expected = {pid for pid in rows if ev.holds(audience.where, audience.of, pid, None)}
    assert compiled == expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(condition("person", 2, "person"), st.sampled_from([1, 2]), st.one_of(st.none(), condition("account", 1, "account")))
def test_accounts_counting_people_of_a_random_audience_agree_with_the_reference(world_lake, reference_world, who,
                                                                                 least, also) -> None:
    people = Audience(name="people", of="person", where=who)
    counted = Aggregate(function="count", relation="person", where=InAudience(name="people"), op=">=", value=least)
    accounts = Audience(name="accounts", of="account", where=counted if also is None else And(items=(counted, also)))
    compiled = compiled_members(world_lake, [accounts, people])
    members: dict[str, set[str]] = {}
    ev = Evaluator(reference_world, WHEN, members)
    members["people"] = {pid for pid in reference_world.people if ev.holds(who, "person", pid, None)}
    assert compiled["people"] == members["people"]
    assert compiled["accounts"] == {aid for aid in reference_world.accounts if ev.holds(accounts.where, "account", aid, None)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(random_audiences(), st.randoms(use_true_random=False))
def test_why_answers_every_audience_and_agrees_with_membership(world_lake, audience, rnd) -> None:
    members = compiled_members(world_lake, [audience])[audience.name]
    table, key = ("person_profile", "person_id") if audience.of == "person" else ("account_profile", "account_id")
    others = sorted({r[0] for r in world_lake.execute(f"SELECT {key} FROM {table}").fetchall()} - members)
    for profile_id in rnd.sample(sorted(members), min(2, len(members))) + rnd.sample(others, min(2, len(others))):
        found = explain_membership(world_lake, [audience], audience.name, profile_id, WHEN)
        assert found.member == (profile_id in members) == found.lines[0].holds
        assert set(found.members) == members, "the evaluation that explains one decides them all alike"


def test_why_answers_an_audience_with_a_sum_and_an_all(world_lake) -> None:
    """`sum(opportunity ...)` beside `all opportunity (...)` once asked why for a feature never built."""
    big = next(a for a in EXAMPLES if a.name == "Senior people on won deals worth over $100k")
    members = compiled_members(world_lake, [big])[big.name]
    someone = sorted(members)[0]
    found = explain_membership(world_lake, [big], big.name, someone, WHEN)
    assert found.member and [line.holds for line in found.lines] == [True] * 4


def test_relative_time_follows_the_evaluation_time(world_lake) -> None:
    recent = parse_audience('audience "recent" of person where any event (event_type = "web.pageview" in last 7 days)')
    now_members = compiled_members(world_lake, [recent], AS_OF)["recent"]
    later = compiled_members(world_lake, [recent], AS_OF + timedelta(days=30))["recent"]
    earlier = compiled_members(world_lake, [recent], AS_OF - timedelta(days=45))["recent"]
    assert now_members and not later
    assert earlier and earlier != now_members


def test_membership_enter_stay_exit_reenter(world_lake) -> None:
    aud = parse_audience('audience "week" of person where any event (event_type = "web.pageview" in last 7 days)')
    first = evaluate(world_lake, [aud], AS_OF - timedelta(days=20)).results[0]
    assert first.entered == first.size > 0 and first.exited == 0
    same = evaluate(world_lake, [aud], AS_OF - timedelta(days=20)).results[0]
    assert (same.entered, same.stayed, same.exited) == (0, first.size, 0)
    moved = evaluate(world_lake, [aud], AS_OF - timedelta(days=10)).results[0]
    assert moved.exited > 0 and moved.entered > 0
    back = evaluate(world_lake, [aud], AS_OF - timedelta(days=20)).results[0]
    assert back.entered == moved.exited and back.exited == moved.entered
    rows = world_lake.query("SELECT status, count(*) AS n FROM audience_membership WHERE audience = 'week' GROUP BY 1")
    statuses = {r["status"]: r["n"] for r in rows}
    assert statuses["realized"] == back.entered and statuses.get("existing", 0) == back.stayed
    history = world_lake.query(
        "SELECT profile_id, list(status ORDER BY run_id) AS path FROM audience_membership_history WHERE audience = 'week' GROUP BY 1"
    )
    assert any(h["path"] == ["realized", "exited", "realized"] for h in history)
    evaluate(world_lake, [aud], AS_OF + timedelta(days=365))
    gone = evaluate(world_lake, [aud], AS_OF + timedelta(days=400), retention_days=30).results[0]
    assert gone.size == 0
    assert world_lake.scalar("SELECT count(*) FROM audience_membership WHERE audience = 'week'") == 0, "old exits are purged"


def test_references_are_ordered_and_cycles_refused() -> None:
    a = parse_audience('audience "a" of person where in audience "b" and lead_score > 1')
    b = parse_audience('audience "b" of person where lead_score > 0')
    compiled = Compiler(WHEN).compile_all([a, b])
    assert list(compiled.queries) == ["b", "a"]
    c = parse_audience('audience "c" of person where in audience "d"')
    d = parse_audience('audience "d" of person where not in audience "c"')
    with pytest.raises(CompileError, match="cycle: c → d → c"):
        Compiler(WHEN).compile_all([c, d])
    with pytest.raises(CompileError, match="does not exist"):
        Compiler(WHEN).compile_all([c])
    acc = parse_audience('audience "acc" of account where in audience "b"')
    with pytest.raises(CompileError, match="is of person, not of account"):
        Compiler(WHEN).compile_all([acc, b])


def test_a_query_joins_only_the_feature_tables_it_reads() -> None:
    deals = parse_audience('audience "deals" of person where any opportunity (amount > 1000)')
    views = parse_audience('audience "views" of person where count(event where event_type = "web.pageview" '
                           'in last 30 days) >= 2')
    reach = parse_audience('audience "reach" of account where count(person where any opportunity (amount > 1)) >= 1')
    compiled = Compiler(WHEN).compile_all([deals, views, reach])

    def joined(query) -> set[str]:
        return {t.name for t in query.find_all(exp.Table) if t.name.endswith("_features")}

    assert joined(compiled.queries["deals"]) == {"aud_person_op_features"}
    assert joined(compiled.queries["views"]) == {"aud_person_ev0_features"}
    assert joined(compiled.levels[0].query) == {"aud_person_op_features", "aud_person_ev0_features"}
    people_of_accounts = dict(compiled.feature_tables())["aud_account_pe_features"]
    assert joined(people_of_accounts) == {"aud_person_op_features"}
    assert "aud_people" not in {t.name for t in people_of_accounts.find_all(exp.Table)}, "no person field is read"
    seniors = parse_audience('audience "seniors" of account where count(person where seniority = "VP") >= 1')
    people_of_accounts = dict(Compiler(WHEN).compile_all([seniors]).feature_tables())["aud_account_pe_features"]
    assert "aud_people" in {t.name for t in people_of_accounts.find_all(exp.Table)}


def test_an_account_counts_only_links_to_people_with_a_profile(evaluated_lake: Path, tmp_path: Path) -> None:
    import shutil

    from accord.audiences.prepared import prepare_tables

    shutil.copy(evaluated_lake, tmp_path / "lake.duckdb")
    linked = parse_audience('audience "linked" of account where count(person) >= 1')
    with Lake(tmp_path / "lake.duckdb") as lake:
        account = lake.scalar("SELECT account_id FROM account_profile WHERE account_id NOT IN "
                              "(SELECT account_id FROM person_account) LIMIT 1")
        lake.execute("INSERT INTO person_account BY NAME SELECT 'P-nobody' AS person_id, ? AS account_id", [account])
        prepare_tables(lake)
        assert not lake.scalar("SELECT count(*) FROM aud_person_account WHERE person_id = 'P-nobody'")
        assert account not in compiled_members(lake, [linked])["linked"]


@pytest.mark.parametrize(("condition", "filters"), [
    ('any event (event_type = "web.pageview")', ['"e"."timestamp" <= {now}']),
    ('count(event where event_type = "web.pageview" and url contains "/pricing" in last 7 days) >= 2',
     ['STRPOS("e"."url", \'/pricing\') > 0 AND "e"."timestamp" >= {week} AND "e"."timestamp" <= {now}']),
    ('any event (event_type = "web.pageview" and (url contains "/a" or event_type = "email.open"))',
     ['(STRPOS("e"."url", \'/a\') > 0 OR "e"."event_type" = \'email.open\') AND "e"."timestamp" <= {now}']),
    ('any event (event_type = "Web.Pageview") and any event (event_type = "web.pageview")',
     ['"e"."timestamp" <= {now}', '"e"."timestamp" <= {now}']),
])
def test_an_event_types_features_leave_the_type_to_the_tables_where(condition: str, filters: list[str]) -> None:
    compiled = Compiler(WHEN).compile_all([parse_audience(f'audience "a" of person where {condition}')])
    moment = {name: f"CAST('{(WHEN - timedelta(days=days)).strftime('%Y-%m-%d %H:%M:%S.%f+00:00')}' AS TIMESTAMPTZ)"
              for name, days in (("now", 0), ("week", 7))}
    tables = dict(compiled.feature_tables())
    seen = [(f.args["expression"].this.sql("duckdb"), q.args["where"].this.sql("duckdb"))
            for q in tables.values() for f in q.find_all(exp.Filter)]
    assert [f for f, _ in seen] == [f.format(**moment) for f in filters]
    assert {w.split(" AND ", 1)[0] for _, w in seen} <= {"\"e\".\"event_type\" = 'web.pageview'",
                                                        "\"e\".\"event_type\" = 'Web.Pageview'"}


def test_a_feature_table_groups_only_the_rows_some_feature_counts() -> None:
    compiled = Compiler(WHEN).compile_all([parse_audience(
        'audience "a" of person where count(event where event_type = "web.pageview" in last 7 days) >= 2 '
        'and no event (event_type = "web.pageview" and url contains "/careers" in last 30 days) '
        'and any opportunity (amount > 10)')])
    tables = {name: q.args["where"].this.sql("duckdb") for name, q in compiled.feature_tables()}
    week, month = ((WHEN - timedelta(days=d)).strftime("%Y-%m-%d") for d in (7, 30))
    events = tables["aud_person_ev0_features"]
    assert events.startswith("\"e\".\"event_type\" = 'web.pageview' AND (")
    assert week in events and month in events and " OR " in events
    assert tables["aud_person_op_features"] == '"o"."amount" > 10'


def test_accounts_count_the_people_this_run_put_in_an_audience(evaluated_lake: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copy(evaluated_lake, tmp_path / "lake.duckdb")
    accounts = parse_audience('audience "Accounts with attendees" of account '
                              'where count(person where in audience "Webinar attendees") >= 2')
    attendees = next(a for a in EXAMPLES if a.name == "Webinar attendees")
    active = "SELECT profile_id FROM audience_membership WHERE audience = ? AND status <> 'exited'"
    for days in (0, 40):  # the window moves: people leave the attendees, so their accounts count fewer
        with Lake(tmp_path / "lake.duckdb") as lake:  # a new connection each time: nothing left from before
            report = evaluate(lake, [accounts, attendees], AS_OF + timedelta(days=days), full=True)
            expected = {r[0] for r in lake.execute(
                f"SELECT account_id FROM person_account WHERE person_id IN ({active}) GROUP BY 1 HAVING count(*) >= 2",
                ["Webinar attendees"]).fetchall()}
            got = {r[0] for r in lake.execute(active, ["Accounts with attendees"]).fetchall()}
        assert not report.failed and got == expected and got, days


def test_evaluation_method_is_derived_with_a_reason() -> None:
    by_name = {a.name: a for a in EXAMPLES}
    methods = {a.name: evaluation_method(a, by_name) for a in EXAMPLES}
    assert methods["Webinar attendees"][0] == "streaming"
    assert methods["Decision makers on open deals over $100k at Finance accounts"][0] == "streaming", "multi-entity too"
    assert methods["Accounts with 3+ people who clicked an email in 14 days"][0] == "batch"
    assert methods["Customer accounts with an open expansion deal"][1].startswith("an account audience")
    chained = parse_audience('audience "x" of person where in audience "Accounts with 3+ people who clicked an email in 14 days"')
    assert evaluation_method(chained, by_name | {"x": chained})[0] == "batch"


def test_preview_matches_evaluation(world_lake) -> None:
    name = "Webinar attendees"
    members = preview(world_lake, EXAMPLES, name, WHEN)
    assert set(members) == compiled_members(world_lake, EXAMPLES)[name]


def test_sql_is_portable_text(world_lake) -> None:
    compiled = Compiler(WHEN).compile_all(EXAMPLES)
    for query in compiled.queries.values():
        spark = query.sql("spark")
        assert "`" in spark and "TIMESTAMPTZ" not in spark
    tables = dict(compiled.feature_tables())
    assert {"aud_person_op_features", "aud_person_li_features", "aud_person_ca_features", "aud_account_op_features",
            "aud_account_pe_features"} <= set(tables)
    by_type = {table: query for table, query in tables.items() if table.startswith("aud_person_ev")}
    assert len(by_type) >= 3, "event features are computed per event type"
    feature = by_type["aud_person_ev0_features"].sql("spark")
    assert "CAST('" in feature and "+00:00' AS TIMESTAMP)" in feature and "FILTER(WHERE" in feature
    assert "WHERE `e`.`event_type` = '" in feature
    assert len(compiled.levels) == 3, "person and account audiences, then the ones that reference others"


def test_audience_files(tmp_path) -> None:
    for audience in EXAMPLES[:3]:
        save_audience(tmp_path, audience)
    for name in ("new", "fields", "a/b"):  # /audiences/new is the builder; /api/v1/audiences/fields the fields
        with pytest.raises(AudienceFileError, match="address of a page|may not hold"):
            save_audience(tmp_path, EXAMPLES[0].model_copy(update={"name": name}))
    assert sorted(load_audiences(tmp_path), key=lambda a: a.name) == sorted(EXAMPLES[:3], key=lambda a: a.name)
    (tmp_path / "broken.aud").write_text('audience "b" of person where nope = 1')
    with pytest.raises(AudienceFileError, match="broken.aud: line 1, column 30"):
        load_audiences(tmp_path)
    (tmp_path / "broken.aud").write_text((tmp_path / next(p.name for p in tmp_path.glob("*.aud") if p.name != "broken.aud")).read_text())
    with pytest.raises(AudienceFileError, match="both define"):
        load_audiences(tmp_path)
