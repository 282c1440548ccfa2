"""Every registered destination, against its local stand-in, behaves alike: a first run sends every member it can
take and a receipt each, a second run sends nothing, a member who leaves or withdraws consent is removed, a member
whose e-mail changes is held by the new one, a member the destination refuses fails alone, a rate limit, a server error or a timeout answered once costs a retry, not a
member, a run cut off after sending is settled by the next, identifiers leave hashed where the destination
requires it, and an ad platform's reading of reach brackets what it holds, a failed reading failing no run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.activation.run import deliver
from accord.connectors.registry import with_destinations
from accord.governance.consent import BY_COLUMN, needed, refusal
from accord.governance.consent import COLUMNS as CONSENT_COLUMNS
from accord.lake.store import Lake
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace
from tests.destinations.harnesses import AUDIENCE, Harness, harness_for

FAULTS = ("rate limited", "server error", "timeout")


@pytest.fixture(params=[c.type for c in with_destinations()])
def destination(request: pytest.FixtureRequest, tiny_world: Path, tmp_path: Path, evaluated_lake: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Workspace, Harness]]:
    harness = harness_for(request.param, tiny_world)
    for variable, value in harness.secrets.items():
        monkeypatch.setenv(variable, value)
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"name": "under-test", "audiences": [AUDIENCE], **harness.settings(tmp_path / "ws")}])
    yield ws, harness
    harness.close()


def eligible(lake: Lake, ws: Workspace) -> list[tuple[str, str]]:
    """The audience's members the destination may hold, (profile id, e-mail): with an e-mail and no refusal of a
    consent its marketing actions need."""
    rows = lake.query(
        f"SELECT p.person_id, p.email, {', '.join(f'p.{c}' for c in CONSENT_COLUMNS)} FROM audience_membership m "
        "JOIN person_profile p ON p.person_id = m.profile_id WHERE m.audience = ? "
        "AND m.status IN ('realized', 'existing') AND p.email IS NOT NULL", [AUDIENCE])
    needs = needed(ws.config.destinations[0].performs)
    return [(r["person_id"], r["email"]) for r in rows if refusal(r, needs) is None]


def run(ws: Workspace, lake: Lake):  # type: ignore[no-untyped-def]
    return deliver(ws, lake, ws.config.destinations[0], sleep=lambda _: None).audiences[0]


def test_a_first_run_sends_every_member_it_can_and_a_receipt_each(destination) -> None:
    ws, harness = destination
    with ws.lake() as lake:
        report = run(ws, lake)
        members = lake.scalar("SELECT count(*) FROM audience_membership WHERE audience = ? "
                              "AND status IN ('realized', 'existing')", [AUDIENCE])
        receipted = lake.scalar("SELECT count(DISTINCT profile_id) FROM delivery_receipts WHERE audience = ?",
                                [AUDIENCE])
        want = harness.expected(lake, eligible(lake, ws))
    assert want and harness.held(ws.root, ws.config.name) == want
    assert report.activated == len(want) and receipted == members
    assert report.activated + sum(report.skipped.values()) + sum(report.excluded.values()) == members


def test_a_second_run_sends_nothing(destination) -> None:
    ws, harness = destination
    with ws.lake() as lake:
        run(ws, lake)
        again = run(ws, lake)
        want = harness.expected(lake, eligible(lake, ws))
    assert (again.activated, again.removed, again.updated, again.failed) == (0, 0, 0, 0)
    assert harness.held(ws.root, ws.config.name) == want


def test_a_member_whose_email_changes_is_held_by_the_new_one(destination) -> None:
    """The destination is told (updated, or removed when nothing matches the new address any more); what it held
    by the old address alone goes; the run after sends nothing."""
    ws, harness = destination
    with ws.lake() as lake:
        run(ws, lake)
        person, old = min(eligible(lake, ws))
        new = f"moved.{person.lower()}@example.org"
        lake.execute("UPDATE person_profile SET email = ? WHERE person_id = ?", [new, person])
        report = run(ws, lake)
        want = harness.expected(lake, eligible(lake, ws))
        stale = harness.expected(lake, [(person, old)]) - harness.expected(lake, [(person, new)])
        receipt = lake.execute("SELECT change, outcome FROM delivery_receipts WHERE profile_id = ? "
                               "AND run_id = (SELECT max(run_id) FROM delivery_runs)", [person]).fetchall()
        again = run(ws, lake)
    assert (report.activated, report.updated + report.removed, report.failed) == (0, 1, 0)
    assert receipt in ([("update", "updated")], [("update", "removed")])
    held = harness.held(ws.root, ws.config.name)
    assert held == want and not stale & held
    assert (again.activated, again.removed, again.updated, again.failed) == (0, 0, 0, 0)


def test_a_member_who_leaves_or_withdraws_consent_is_removed(destination) -> None:
    ws, harness = destination
    with ws.lake() as lake:
        run(ws, lake)
        leaving, withdrawing = [r[0] for r in lake.execute(
            "SELECT profile_id FROM destination_members WHERE destination = 'under-test' ORDER BY 1 LIMIT 2").fetchall()]
        lake.execute("UPDATE audience_membership SET status = 'exited' WHERE audience = ? AND profile_id = ?",
                     [AUDIENCE, leaving])
        lake.execute("UPDATE person_profile SET marketing_consent = 'n' WHERE person_id = ?", [withdrawing])
        gone = harness.expected(lake, lake.execute("SELECT person_id, email FROM person_profile "
                                                   "WHERE person_id IN (?, ?)", [leaving, withdrawing]).fetchall())
        report = run(ws, lake)
        reasons = dict(lake.execute(
            "SELECT profile_id, outcome FROM delivery_receipts WHERE profile_id IN (?, ?) "
            "AND run_id = (SELECT max(run_id) FROM delivery_runs)", [leaving, withdrawing]).fetchall())
    assert report.removed == 2 and report.excluded == {"consent:marketing.any": 1}
    assert not gone & harness.held(ws.root, ws.config.name)
    assert reasons == {leaving: "removed", withdrawing: "removed"}


def test_a_refusal_keeps_a_member_back_only_from_destinations_whose_actions_need_that_consent(destination) -> None:
    """One member refuses each consent (or has an invalid e-mail): only the refusals this destination's marketing
    actions need keep a member back, each reported by its reason; every other member is sent."""
    ws, harness = destination
    needs = needed(ws.config.destinations[0].performs)
    with ws.lake() as lake:
        chosen = sorted(p for p, _ in eligible(lake, ws))[:len(CONSENT_COLUMNS)]
        for person, column in zip(chosen, CONSENT_COLUMNS):
            refused = True if BY_COLUMN[column].flag else "n"
            lake.execute(f"UPDATE person_profile SET {column} = ? WHERE person_id = ?", [refused, person])
        report = run(ws, lake)
        members = lake.query(f"SELECT {', '.join(CONSENT_COLUMNS)} FROM audience_membership m JOIN person_profile p "
                             "ON p.person_id = m.profile_id WHERE m.audience = ? AND m.status IN ('realized', 'existing')",
                             [AUDIENCE])
        sent = harness.expected(lake, eligible(lake, ws))
    reasons = Counter(r for r in (refusal(m, needs) for m in members) if r)
    assert len(reasons) >= len(needs), "a member refuses each consent this destination needs"
    assert {k: v for k, v in report.excluded.items() if k != "missing_identity"} == reasons
    assert harness.held(ws.root, ws.config.name) == sent, "a member whose refusals it does not need is sent"


def test_a_member_the_destination_refuses_fails_alone(destination) -> None:
    ws, harness = destination
    with ws.lake() as lake:
        members = eligible(lake, ws)
        chosen = min(members)
        refused = harness.refuse(lake, chosen)
        if refused is None:
            pytest.skip(f"{ws.config.destinations[0].type} answers for a whole batch, not per member")
        report = run(ws, lake)
        want = harness.expected(lake, members)
        outcome = lake.scalar("SELECT outcome FROM delivery_receipts WHERE profile_id = ? AND change = 'add'",
                              [chosen[0]])
    assert refused and refused <= want
    assert harness.held(ws.root, ws.config.name) == want - refused
    assert outcome in ("failed", "skipped") and report.failed + sum(report.skipped.values()) >= 1


def test_identifiers_leave_hashed_where_the_destination_requires_it(destination) -> None:
    ws, harness = destination
    if not harness.hashes:
        pytest.skip(f"{ws.config.destinations[0].type} receives identifiers as they are")
    with ws.lake() as lake:
        run(ws, lake)
        members = eligible(lake, ws)
        want = harness.expected(lake, members)
    sent = b"\n".join(harness.bodies()).decode().lower()
    assert want and all(key in sent for key in want)
    assert [email for _, email in members if email.lower() in sent] == []


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_answered_once_costs_a_retry_not_a_member(destination, fault: str) -> None:
    ws, harness = destination
    if fault not in harness.faults:
        pytest.skip(f"{ws.config.destinations[0].type} cannot answer {fault!r}")
    harness.inject(fault)
    with ws.lake() as lake:
        report = run(ws, lake)
        dead = lake.scalar("SELECT count(*) FROM delivery_dead_letters")
        want = harness.expected(lake, eligible(lake, ws))
    assert harness.answered(fault)
    assert (report.failed, dead, report.retrying) == (0, 0, 0)
    assert harness.held(ws.root, ws.config.name) == want


class _Interrupted(BaseException):
    """Stands for the process dying: nothing below the destination's call catches it."""


def dying_after(ws: Workspace, change: str):  # type: ignore[no-untyped-def]
    """The destination under test, whose `change` calls (add, update or remove) reach it, then the process dies."""
    from accord.activation.run import open_destination

    opened = open_destination(ws, ws.config.destinations[0], "prod")
    sent = getattr(opened, change)

    def send_then_die(audience, members):  # type: ignore[no-untyped-def]
        sent(audience, members)
        raise _Interrupted

    setattr(opened, change, send_then_die)
    return opened


def test_a_run_cut_off_after_sending_is_settled_by_the_next(destination) -> None:
    """The first batch reaches the destination, then the run dies before recording it; the next run settles the
    changes left in flight (asking the destination, where it can say) and ends with every member held once."""
    ws, harness = destination
    config, opened = ws.config.destinations[0], dying_after(ws, "add")
    with ws.lake() as lake:
        with pytest.raises(_Interrupted):
            deliver(ws, lake, config, destination=opened, sleep=lambda _: None)
        assert lake.scalar("SELECT status FROM delivery_runs ORDER BY run_id LIMIT 1") == "failed"
        assert lake.scalar("SELECT count(*) FROM delivery_in_flight"), "the cut-off batch is left in flight"
        resumed = run(ws, lake)
        want = harness.expected(lake, eligible(lake, ws))
        in_flight = lake.scalar("SELECT count(*) FROM delivery_in_flight")
    assert harness.held(ws.root, ws.config.name) == want and not in_flight and resumed.failed == 0
    assert harness.resent() == 0 or not harness.settles, "a change that arrived was sent again"


def test_an_update_cut_off_after_sending_is_sent_again_by_the_next_run(destination) -> None:
    """The update reaches the destination, then the run dies before recording it: the member keeps what it was
    last sent, so the next run sends the update again and ends with the new address held."""
    ws, harness = destination
    config, opened = ws.config.destinations[0], dying_after(ws, "update")
    with ws.lake() as lake:
        run(ws, lake)
        person, _ = min(eligible(lake, ws))
        lake.execute("UPDATE person_profile SET email = ? WHERE person_id = ?", [f"cut.{person.lower()}@example.org",
                                                                                person])
        with pytest.raises(_Interrupted):
            deliver(ws, lake, config, destination=opened, sleep=lambda _: None)
        assert lake.scalar("SELECT change FROM delivery_in_flight") == "update"
        resumed = run(ws, lake)
        want = harness.expected(lake, eligible(lake, ws))
        in_flight = lake.scalar("SELECT count(*) FROM delivery_in_flight")
    assert (resumed.updated + resumed.removed, resumed.failed, in_flight) == (1, 0, 0)
    assert harness.held(ws.root, ws.config.name) == want


def reports_reach(ws: Workspace) -> bool:
    from accord.activation.run import open_destination

    opened = open_destination(ws, ws.config.destinations[0], "prod")
    try:
        return opened.capabilities.reports_reach
    finally:
        opened.close()


def test_a_platform_that_reports_reach_counts_what_it_was_sent_and_a_failed_reading_fails_no_run(
        destination) -> None:
    """Read at the end of a run: the size it reports brackets what it holds; a reading that fails (a server error
    on its call) keeps the last figures with the error, and the run completes."""
    from accord.activation.reach import reach_rows

    ws, harness = destination
    if not reports_reach(ws):
        pytest.skip("it holds exactly what its receipts say: there is no reach to read")
    with ws.lake() as lake:
        run(ws, lake)
        first = reach_rows(lake, ["under-test"])
        held = len(harness.held(ws.root, ws.config.name))
        lake.execute("UPDATE destination_reach SET checked_at = checked_at - INTERVAL 1 HOUR")
        harness.inject("server error")  # nothing is left to send: the reading makes the run's only calls
        report = deliver(ws, lake, ws.config.destinations[0], sleep=lambda _: None)
        after = reach_rows(lake, ["under-test"])
    assert [r["audience"] for r in first] == [AUDIENCE] and first[0]["error"] is None
    assert first[0]["size_low"] <= held <= first[0]["size_high"] and first[0]["usable"] is not None
    assert harness.answered("server error") and report.error is None and report.audiences[0].failed == 0
    assert after[0]["error"].startswith("ConnectorError") and after[0]["size_low"] == first[0]["size_low"]
