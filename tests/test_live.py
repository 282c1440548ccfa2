"""The live path: plans decide as the compiled SQL does, and serving cycles leave the lake equal to a batch run."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from accord.activation.run import deliver
from accord.api.app import create_app
from accord.audiences.ast import Audience, InAudience, walk
from accord.audiences.changes import Change, MembershipBus
from accord.audiences.live import LiveProfiles, ProfileState
from accord.audiences.plan import KEEP_MARGIN, plan
from accord.audiences.plan import keep as keep_for
from accord.audiences.prepared import prepare_tables
from accord.audiences.stream import StreamEvaluator
from accord.audiences.text import parse_audience
from accord.lake.store import Lake
from accord.model.times import micros
from accord.pipeline import evaluate_audiences, run_identity
from accord.pipeline.runtime import cycle
from accord.workspace import Workspace
from tests.audience_strategies import condition
from tests.conftest import ingest, mapping, write_csv
from tests.test_activation import Receiver
from tests.test_audiences import WHEN, compiled_members
from tests.test_serve import hooked_to, with_webhook


@pytest.fixture(scope="module")
def world_lake(profiled_lake):
    return profiled_lake


@pytest.fixture(scope="module")
def world_events(world_lake) -> dict[str, dict[str, list[int]]]:
    """Each person's events of the tiny world, as rows the live path matches."""
    out: dict[str, list[dict[str, object]]] = defaultdict(list)
    for person, event_type, url, at, properties in world_lake.execute(
            'SELECT person_id, event_type, url, "timestamp", properties FROM aud_person_events').fetchall():
        out[person].append({"event_type": event_type, "url": url, "timestamp": micros(at), "properties": properties})
    return out


person_audiences = condition("person", 2, "person").map(lambda c: Audience(name="random", of="person", where=c)).filter(
    lambda a: not any(isinstance(n, InAudience) for n in walk(a.where)) and bool(plan(a).tests))  # type: ignore[union-attr]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(person_audiences)
def test_plans_decide_as_the_compiled_sql(world_lake, world_events, audience) -> None:
    p = plan(audience)
    assert p is not None
    facts = compiled_members(world_lake, p.fact_audiences(), WHEN)
    people = [r[0] for r in world_lake.execute("SELECT person_id FROM aud_people").fetchall()]
    decided = set()
    for person in people:
        hits: dict[str, list[int]] = {}
        for row in sorted(world_events.get(person, []), key=lambda r: r["timestamp"]):
            for test in p.tests:
                if test(row):
                    hits.setdefault(test.key, []).append(row["timestamp"])
        value = p.decide(hits, {name: person in members for name, members in facts.items()}, WHEN)
        assert value is not None
        if value:
            decided.add(person)
    assert decided == compiled_members(world_lake, [audience], WHEN)["random"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(person_audiences, st.integers(0, 3), st.randoms(use_true_random=False))
def test_bounded_state_decides_as_the_whole_history_or_not_at_all(world_lake, world_events, audience, margin,
                                                                   rnd) -> None:
    """Kept timestamps are capped per test (here with little or no margin, and events in any order): a decision
    from them is the full history's decision, or None (left to the lake)."""
    p = plan(audience)
    assert p is not None
    facts = compiled_members(world_lake, p.fact_audiences(), WHEN)
    keep = {key: None if need is None else need - KEEP_MARGIN + margin for key, need in keep_for([p]).items()}
    undecided = 0
    for person, rows in world_events.items():
        known = {name: person in members for name, members in facts.items()}
        full = ProfileState(facts=None)
        bounded = ProfileState(facts=None)
        for i, row in enumerate(rnd.sample(rows, len(rows))):
            full.add(f"e{i}", row, p.tests)
            bounded.add(f"e{i}", row, p.tests, keep)
            bounded.add(f"e{i}", row, p.tests, keep)  # a retry changes nothing
        assert all(len(stamps) <= keep[key] for key, stamps in bounded.hits.items() if keep[key] is not None)
        value = p.decide(bounded.hits, known, WHEN, bounded.dropped)
        undecided += value is None
        assert value in (None, p.decide(full.hits, known, WHEN)), person
    event(f"undecided: {'none' if not undecided else 'some'}")


def test_event_properties_are_decided_live_as_the_sql_reads_them() -> None:
    from accord.audiences.rows import matches

    where = parse_audience('audience "A" of person where any event (properties.plan = "pro" and properties.utm.n >= 2 '
                           'and properties.trial = true and properties."Link Name" starts with "Q4")').where
    cond = where.where  # type: ignore[union-attr]
    good = {"plan": "pro", "utm": {"n": "2.5"}, "trial": True, "Link Name": "Q4 Launch"}
    assert matches(cond, {"properties": good}) and matches(cond, {"properties": json.dumps(good)})
    for change in ({"plan": "free"}, {"utm": {"n": "many"}}, {"utm": {}}, {"trial": "yes"}, {"Link Name": 4}):
        assert not matches(cond, {"properties": {**good, **change}}), change
    assert not matches(cond, {"properties": {}})


def test_unknown_facts_decide_only_when_they_do_not_matter() -> None:
    p = plan(parse_audience('audience "A" of person where any event (event_type = "web.pageview") and email ends with "@acme.com"'))
    assert p is not None and len(p.facts) == 1 and len(p.tests) == 1
    seen = {p.tests[0].key: [micros(WHEN - timedelta(hours=1))]}
    assert p.decide({}, None, WHEN) is False
    assert p.decide(seen, None, WHEN) is None
    assert p.decide(seen, {p.fact_names()[0]: True}, WHEN) is True
    assert plan(parse_audience('audience "B" of person where in audience "A"')) is None


# -- serving cycles ---------------------------------------------------------------------------------------------
START = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
AUDIENCES = {
    "twice.aud": 'audience "Twice" of person where count(event where event_type = "web.pageview" in last 2 days) >= 2',
    "acme.aud": 'audience "Acme pricing" of person where any event (url contains "/pricing" in last 1 days) '
                'and email ends with "@acme.com"',
    "quiet.aud": 'audience "Signed up, quiet" of person where any event (event_type = "track.signed_up") '
                 'and no event (event_type = "web.pageview" in last 1 days)',
    "lapsed.aud": 'audience "Lapsed" of person where last event (event_type = "web.pageview") before 1 days ago',
}
USERS = ["u1", "u2", "u3"]
ANONYMOUS = ["a1", "a2"]
EMAILS = ["p1@acme.com", "p2@acme.com", "p3@other.io", "new@acme.com"]

pages = st.tuples(st.just("page"), st.sampled_from(USERS + [None]), st.sampled_from(ANONYMOUS + [None]),
                  st.sampled_from(["https://x.io/", "https://x.io/pricing"]), st.integers(0, 30),
                  st.sampled_from([0, 0, 8760, -48]))  # the device's clock: right, a year ahead, two days behind
actions = st.lists(st.one_of(
    st.tuples(st.just("hours"), st.integers(1, 30)),
    pages, pages, pages,
    st.tuples(st.just("track"), st.sampled_from(USERS), st.sampled_from(ANONYMOUS + [None])),
    st.tuples(st.just("identify"), st.sampled_from(USERS), st.sampled_from(EMAILS)),
    st.tuples(st.just("alias"), st.sampled_from(ANONYMOUS), st.sampled_from(USERS)),
    st.tuples(st.just("cycle"), st.integers(0, 3)),  # how many of the next messages arrive during the cycle
), min_size=1, max_size=30)


def workspace(folder: Path, emails: tuple[str, ...] = tuple(EMAILS[:3])) -> Workspace:
    """A workspace with the serving audiences, and a person of each of `emails` stitched."""
    ws = Workspace.init(folder)
    for name, text in AUDIENCES.items():
        (folder / "audiences" / name).write_text(text + "\n")
    if not emails:
        return ws
    with ws.lake() as lake:
        rows = [[f"p{i}", email] for i, email in enumerate(emails, 1)]
        ingest(lake, write_csv(folder / "people.csv", ["Id", "Email"], rows), mapping("person", {"source_id": "Id", "email": "Email"}))
        run_identity(lake, ws.config.identity)
    return ws


def message(action: tuple, n: int, clock: datetime) -> dict[str, object] | None:
    kind = action[0]
    m: dict[str, object] = {"type": kind, "messageId": f"m{n}", "timestamp": clock.isoformat()}
    if kind == "page":
        _, user, anonymous, url, late, skew = action
        if user is None and anonymous is None:
            return None
        device = clock + timedelta(hours=skew)  # its events are placed by how far off its clock is when it sends
        m.update(properties={"url": url}, timestamp=(device - timedelta(hours=late)).isoformat(),
                 sentAt=device.isoformat())
        m.update({k: v for k, v in (("userId", user), ("anonymousId", anonymous)) if v})
    elif kind == "track":
        m.update(event="Signed Up", userId=action[1], **({"anonymousId": action[2]} if action[2] else {}))
    elif kind == "identify":
        m.update(userId=action[1], traits={"email": action[2]})
    else:
        m.update(previousId=action[1], userId=action[2])
    return m


def memberships(lake, names: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {n: set() for n in names}
    for audience, profile in lake.execute(
            "SELECT audience, profile_id FROM audience_membership WHERE status IN ('realized', 'existing')").fetchall():
        out[audience].add(profile)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions)
@example([  # an identify during a cycle links the owner of a lapsed visitor's anonymous id
    ("hours", 1), ("hours", 24), ("hours", 12), ("hours", 1), ("hours", 10), ("alias", "a1", "u1"), ("hours", 2),
    ("hours", 24), ("cycle", 0), ("hours", 30), ("hours", 20), ("page", "u1", "a1", "https://x.io/", 24, 0),
    ("hours", 1), ("identify", "u3", "p1@acme.com"), ("cycle", 1), ("track", "u3", "a1")])
@example([  # a new visitor sent live, then an alias waiting for the lake, while a cycle records the live decision
    ("cycle", 3), ("page", None, "a1", "https://x.io/", 0, 0), ("page", None, "a1", "https://x.io/", 1, 0),
    ("alias", "a1", "u1")])
def test_after_each_cycle_the_lake_equals_a_batch_run(tmp_path_factory, steps) -> None:
    """... and a streaming webhook told of each change as `serve` tells it holds the lake's members, having never
    been told someone left whom the live path held."""
    note(repr(steps))
    folder = tmp_path_factory.mktemp("live") / "ws"
    workspace(folder)
    streamed = [text.split('"')[1] for text in AUDIENCES.values()]
    receiver = hooked_to(folder, streamed, ("email", "user_id", "anonymous_id"))
    try:
        decide_and_deliver(Workspace.load(folder), receiver, streamed, steps)
    finally:
        receiver.close()


def decide_and_deliver(ws: Workspace, receiver: Receiver, streamed: list[str], steps: list[tuple]) -> None:
    state = create_app(ws).state.accord
    [hook] = ws.config.destinations
    told: dict[str, set[str]] = {}
    everyone = [False]

    def changed(changes: list[Change]) -> None:
        for change in changes:
            told.setdefault(change.audience, set()).add(change.profile_id)

    def restitched(people: list[str] | None) -> None:
        everyone[0] |= people is None
        for audience in streamed:
            told.setdefault(audience, set()).update(people or ())

    state.bus.subscribe(changed)
    state.bus.subscribe(changed, recorded=True)
    state.restitched.append(restitched)
    clock = [START]
    failures: list[BaseException] = []

    def written(entries, size) -> None:
        try:
            state.live.apply(entries, size, at=clock[0])
        except BaseException as err:  # noqa: BLE001 - surfaced by the test below, not lost in the log's thread
            failures.append(err)

    state.log.written = written

    def send(messages: list[dict[str, object] | None]) -> None:
        for m in messages:
            if m is not None:
                state.log.append([m], received_at=clock[0])

    def tell(lake: Lake) -> None:
        """The destination's streaming run over what it was told of, as its worker under `serve` runs it."""
        if not told and not everyone[0]:
            return
        only = None if everyone[0] else {a: set(p) for a, p in told.items()}
        told.clear()
        everyone[0] = False
        before = len(receiver.received)
        deliver(ws, lake, hook, trigger="streaming", live=state.live, only=only)
        for sent in receiver.received[before:]:
            assert sent["status"] != "exited" or sent["profile_id"] not in state.live.members[sent["audience"]], \
                f"told {sent['profile_id']} left {sent['audience']} while the live path holds them"

    live_changes = 0  # decided by the live path, between cycles
    with ws.lake() as lake, lake.cursor() as beside:
        audiences = state.audiences()
        names = [a.name for a in audiences]
        stream = StreamEvaluator(lake, audiences, state.bus, state.live)
        last = START
        steps = [*steps, ("cycle", 0)]
        arrived: set[int] = set()  # steps already sent during a cycle
        for n, action in enumerate(steps):
            if action[0] == "hours":
                clock[0] += timedelta(hours=action[1])
            elif action[0] == "cycle":
                # The next messages arrive while the cycle runs: applied live, after the lake's snapshot.
                during = [(i, a) for i, a in enumerate(steps[n + 1:n + 1 + action[1]], n + 1) if a[0] not in ("hours", "cycle")]
                arrived.update(i for i, _ in during)
                advance = stream.advance

                def arriving(*args: Any) -> list[Change]:
                    for i, a in during:  # the destination's worker runs meanwhile, on a cursor of its own
                        send([message(a, i, clock[0])])
                        tell(beside)
                    return advance(*args)

                stream.advance = arriving
                unstored = state.live.unstored_people(list(state.live.unstored))
                event(f"new people offered before a cycle: {'some' if unstored else 'none'}")
                cycle(state, lake, stream, clock[0], last)
                stream.advance = advance
                tell(lake)
                built = {r[0]: r[1:] for r in lake.execute(
                    "SELECT person_id, user_id, anonymous_id FROM person_profile WHERE person_id IN "
                    "(SELECT unnest(?::VARCHAR[]))", [list(unstored)]).fetchall()}
                # A new person is delivered before the lake builds them: as the lake then builds them.
                assert {p: built[p] for p in unstored if p in built} == {
                    p: (row["user_id"], row["anonymous_id"]) for p, row in unstored.items() if p in built}
                assert not set(unstored) & set(state.live.unstored), "kept after the lake decided them"
                if during:
                    cycle(state, lake, stream, clock[0], clock[0])
                last = clock[0]
                prepare_tables(lake)
                assert memberships(lake, names) == compiled_members(lake, audiences, clock[0])
                assert state.live.members == memberships(lake, names)
                tell(lake)
            elif n not in arrived:
                before = len(state.live.unrecorded)
                send([message(action, n, clock[0])])
                live_changes += len(state.live.unrecorded) - before
                tell(lake)
        held = {a: {r[0] for r in lake.execute("SELECT profile_id FROM destination_members WHERE audience = ?",
                                                [a]).fetchall()} for a in streamed}
        assert held == {a: m for a, m in memberships(lake, names).items() if a in streamed}, \
            "the webhook holds the lake's members"
    assert not failures
    event("live decisions: " + ("some" if live_changes else "none"))
    event("webhook told of: " + (", ".join(sorted({m["status"] for m in receiver.received})) or "nothing"))


def test_what_came_after_the_lakes_snapshot_outranks_its_answer(lake) -> None:
    live = LiveProfiles(MembershipBus(), "ws", offset=0)
    live.attach(lake, [parse_audience(AUDIENCES["twice.aud"])])
    page = {"type": "page", "userId": "u1", "timestamp": START.isoformat(), "properties": {"url": "https://x.io/"}}
    live.apply([{"batch": [{**page, "messageId": "m1"}]}], 10, at=START)
    [realized] = live.apply([{"batch": [{**page, "messageId": "m2"}]}], 20, at=START)
    assert realized.audience == "Twice" and realized.status == "realized"
    first = ("m1", {"event_type": "web.pageview", "url": "https://x.io/", "timestamp": micros(START)})
    # The lake saw the log up to offset 10: one page view. The second came after, so the live decision stands.
    everything = [realized.profile_id]  # its whole history comes from the lake
    assert live.reconcile([realized.profile_id], {}, {realized.profile_id: [first]}, everything, 10, START) == []
    assert realized.profile_id in live.members["Twice"]
    # Once the lake has seen everything, its answer is taken (here: a lake that lost the second view).
    [exited] = live.reconcile([realized.profile_id], {}, {realized.profile_id: [first]}, everything, 20, START)
    assert exited.status == "exited" and not live.members["Twice"]


def test_a_new_person_is_offered_as_the_lake_will_build_them_until_it_does(lake) -> None:
    """Their columns, to deliver before the lake's cycle: the keys, and a refusal any message stated; not while a
    message of theirs waits for the lake (an identify's traits would be missing)."""
    live = LiveProfiles(MembershipBus(), "ws", offset=0)
    live.attach(lake, [parse_audience(AUDIENCES["twice.aud"])])
    page = {"type": "page", "timestamp": START.isoformat(), "properties": {"url": "https://x.io/"}}
    refused = {"consent": {"categoryPreferences": {"Marketing": False, "Analytics": True}}}
    live.apply([{"batch": [{**page, "userId": "u1", "anonymousId": "a1", "messageId": "m1", "context": refused},
                           {**page, "userId": "u1", "messageId": "m2", "context": {"consent": {
                               "categoryPreferences": {"Marketing": True}}}},
                           {**page, "userId": "u2", "messageId": "m3"}]}], 10, at=START)
    one, two = (live.index[("user_id", u)] for u in ("u1", "u2"))
    offered = live.unstored_people([one, two, "nobody"])
    assert offered[one] == {"user_id": "u1", "anonymous_id": "a1", "marketing_consent": "n",
                            "collect_consent": "y", "consent_reason": "page: context.consent"}
    assert offered[two] == {"user_id": "u2", "anonymous_id": None}
    live.apply([{"batch": [{"type": "identify", "userId": "u2", "messageId": "m4", "traits": {"email": "b@x.io"}}]}],
               20, at=START)
    assert list(live.unstored_people([one, two])) == [one], "u2's e-mail is on its way to the lake"
    live.reconcile([one], {}, {}, [one], 20, START)
    assert live.unstored_people([one]) == {}, "the lake holds them now"


@pytest.mark.parametrize("known", [3, 0], ids=["people-known", "empty-lake"])
def test_a_new_person_recorded_before_the_lake_built_them_is_offered_again_once_it_has(tmp_path, known) -> None:
    """Their live decision was recorded by a cycle whose snapshot came before their messages, while their identify
    waited for the lake; the next cycle built them, and no streaming destination heard of them again when it was
    identity's first run (which rebuilds everyone and names no one)."""
    from tests.test_collector import BATCH

    ws = workspace(tmp_path / "ws", tuple(EMAILS[:known]))
    state = create_app(ws).state.accord
    state.log.written = lambda entries, size: state.live.apply(entries, size, at=START)
    told: list[list[str] | None] = []
    state.restitched.append(told.append)
    visit = [{**m, "timestamp": START.isoformat()} for m in [BATCH[0], {**BATCH[0], "messageId": "m9"}, *BATCH[1:]]]
    with ws.lake() as lake:
        stream = StreamEvaluator(lake, state.audiences(), state.bus, state.live)
        advance = stream.advance
        stream.advance = lambda *args: (state.log.append(visit, received_at=START), advance(*args))[1]
        cycle(state, lake, stream, START, None)
        stream.advance = advance
        [person] = state.live.members["Twice"]
        assert lake.execute("SELECT status FROM audience_membership WHERE profile_id = ?", [person]).fetchall() == [
            ("realized",)], "recorded before the lake built them"
        assert state.live.unstored_people([person]) == {}, "their e-mail is on its way to the lake"
        assert not told
        cycle(state, lake, stream, START, None)
        assert lake.execute("SELECT email FROM person_profile WHERE person_id = ?", [person]).fetchall() == [
            ("Jane@Acme.com",)]
        [rechecked] = told
        assert rechecked is None if not known else person in rechecked


def test_a_new_person_held_by_a_destination_stays_while_a_message_of_theirs_waits_for_the_lake(tmp_path) -> None:
    """Sent live as a new person; then an identify linking them to someone else waits for the lake, so their
    columns cannot be offered. A streaming run meanwhile (the cycle recording the live decision tells the
    destination again) must leave them where they are: not a removal."""
    folder = tmp_path / "ws"
    workspace(folder, (EMAILS[0],))
    receiver = with_webhook(folder, 'audience "Visitors" of person where any event (event_type = "web.pageview")\n',
                            fields=("user_id", "anonymous_id"))
    try:
        ws = Workspace.load(folder)
        state = create_app(ws).state.accord
        [hook] = ws.config.destinations
        with ws.lake() as lake:
            evaluate_audiences(ws, lake, state.audiences(), trigger="manual")
            state.log.written = lambda entries, size: state.live.apply(entries, size, at=START)
            page = {"type": "page", "timestamp": START.isoformat(), "properties": {"url": "https://x.io/"}}
            state.log.append([{**page, "userId": "u9", "messageId": "k1"}], received_at=START)
            state.log.append([{**page, "anonymousId": "a-new", "messageId": "v1"}], received_at=START)
            both = {state.live.index[("user_id", "u9")], state.live.index[("anonymous_id", "a-new")]}
            deliver(ws, lake, hook, live=state.live, only={"Visitors": both})
            assert [m["status"] for m in receiver.received] == ["realized", "realized"]
            state.log.append([{"type": "identify", "userId": "u9", "anonymousId": "a-new", "messageId": "v2",
                               "timestamp": START.isoformat()}], received_at=START)
            deliver(ws, lake, hook, live=state.live, only={"Visitors": both})
            assert len(receiver.received) == 2, receiver.received
            stream = StreamEvaluator(lake, state.audiences(), state.bus, state.live)
            cycle(state, lake, stream, START, None)
            deliver(ws, lake, hook, live=state.live, only={"Visitors": both})
            [kept] = [r[0] for r in lake.execute("SELECT person_id FROM person_profile WHERE user_id = 'u9'").fetchall()]
            held = [r[0] for r in lake.execute("SELECT profile_id FROM destination_members").fetchall()]
    finally:
        receiver.close()
    [ended] = [m["profile_id"] for m in receiver.received[2:] if m["status"] == "exited"]
    assert held == [kept] and ended != kept and ended in both
