"""Event retention: events past their type's retention leave the store and the audience tables, and the people who
had them are re-decided, as a full evaluation would decide them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from accord.cli import app
from accord.governance.config import RetentionConfig
from accord.governance.retention import expired_sql
from accord.sources.collector import ingest_log
from accord.sources.collector_log import LOG_NAME, CollectorLog
from accord.sources.files import jobs_from_manifest, load_file
from accord.sources.state import SourceState
from accord.workspace import Workspace, WorkspaceError
from tests.conftest import AS_OF

EVER_PRICING = ('audience "Ever on pricing" of person\n'
                'where any event (event_type = "web.pageview" and url contains "/pricing")\n')
RUN = ["run", "--as-of", AS_OF.isoformat()]
WIDE = {"COLUMNS": "200"}


@pytest.mark.parametrize(("config", "kept"), [
    ({}, {"web.pageview": None, "email.open": None}),
    ({"event_days": 400}, {"web.pageview": 400, "email.open": 400}),
    ({"event_days_by_type": {"web.pageview": 90}}, {"web.pageview": 90, "email.open": None}),
    ({"event_days": 400, "event_days_by_type": {"web.pageview": 90}}, {"web.pageview": 90, "email.open": 400}),
])
def test_days_kept_per_event_type(config: dict, kept: dict) -> None:
    retention = RetentionConfig.model_validate(config)
    assert {t: retention.days(t) for t in kept} == kept
    assert retention.limited == any(d is not None for d in kept.values())


def test_the_condition_keeps_what_is_younger_than_its_types_retention() -> None:
    import duckdb

    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    config = RetentionConfig(event_days=400, event_days_by_type={"web.pageview": 90, "it's": 1})
    rows = [("web.pageview", at - timedelta(days=91)), ("web.pageview", at - timedelta(days=89)),
            ("email.open", at - timedelta(days=91)), ("email.open", at - timedelta(days=401)),
            ("it's", at - timedelta(days=2)), ("web.pageview", at + timedelta(days=3650))]
    con = duckdb.connect()
    con.execute('CREATE TABLE event (event_type VARCHAR, "timestamp" TIMESTAMPTZ)')
    con.executemany("INSERT INTO event VALUES (?, ?)", rows)
    expired = con.execute(f'SELECT event_type, "timestamp" FROM event WHERE {expired_sql(config, at)}').fetchall()
    assert sorted((t, (at - ts).days) for t, ts in expired) == [("email.open", 401), ("it's", 2), ("web.pageview", 91)]


@pytest.mark.parametrize("retention", [{"event_days": 0}, {"event_days_by_type": {"web.pageview": -3}},
                                       {"event_days_by_type": {" ": 30}}, {"events_days": 30},
                                       {"event_days": 10**9}, {"event_days_by_type": {"web.pageview": 36_501}}])
def test_a_retention_that_means_nothing_is_refused_in_one_line(tmp_path: Path, retention: dict) -> None:
    ws = Workspace.init(tmp_path / "ws")
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["governance"] = {"retention": retention}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(WorkspaceError, match="retention"):
        Workspace.load(ws.root)


def test_events_past_their_retention_leave_the_store_and_their_people_are_decided_again(
        tmp_path: Path, tiny_world: Path, engine: str) -> None:
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "audiences" / "pricing.aud").write_text(EVER_PRICING)
    with ws.lake() as lake:
        for job in jobs_from_manifest(tiny_world):
            load_file(lake, job)
    first = CliRunner().invoke(app, [*RUN, "-w", str(ws.root)], env=WIDE)
    assert first.exit_code == 0 and "retention" not in first.output, first.output

    cutoff = AS_OF - timedelta(days=45)
    days = (datetime.now(timezone.utc) - cutoff).days  # the world is dated AS_OF; retention counts from now
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["governance"] = {"retention": {"event_days_by_type": {"web.pageview": days}}}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    with ws.lake() as lake:
        before = dict(lake.execute("SELECT event_type, count(*) FROM event GROUP BY 1").fetchall())
        old_views = lake.scalar("SELECT count(*) FROM event WHERE event_type = 'web.pageview' AND \"timestamp\" < ?",
                                [datetime.now(timezone.utc) - timedelta(days=days)])
        members_before = _members(lake)
    assert old_views > 0

    second = CliRunner().invoke(app, [*RUN, "--engine", engine, "-w", str(ws.root)], env=WIDE)
    assert second.exit_code == 0, second.output
    assert f"retention: {old_views:,} events past their retention removed from the store, 0 from" in second.output
    with ws.lake() as lake:
        after = dict(lake.execute("SELECT event_type, count(*) FROM event GROUP BY 1").fetchall())
        assert after == {**before, "web.pageview": before["web.pageview"] - old_views}
        for table in ("event", "aud_person_events"):
            oldest = lake.scalar(f"SELECT min(\"timestamp\") FROM {table} WHERE event_type = 'web.pageview'")
            assert oldest >= datetime.now(timezone.utc) - timedelta(days=days + 1), table
        incremental = _members(lake)
        stages = [r[0] for r in lake.execute("SELECT stage FROM stage_runs WHERE run_id = "
                                             "(SELECT max(run_id) FROM stage_runs) ORDER BY started_at").fetchall()]
    assert stages == ["identity", "profiles", "retention", "audiences", *(["publish"] if engine == "spark" else [])]
    assert incremental["Ever on pricing"] < members_before["Ever on pricing"], "people left with their old views"

    full = CliRunner().invoke(app, ["audiences", "run", "--full", "--as-of", AS_OF.isoformat(), "-w", str(ws.root)],
                              env=WIDE)
    assert full.exit_code == 0, full.output
    with ws.lake() as lake:
        assert _members(lake) == incremental, "the incremental run decided as a full one does"
    status = CliRunner().invoke(app, ["status", "-w", str(ws.root)], env=WIDE)
    assert "retention" in status.output


def _members(lake) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for audience, profile in lake.execute(
            "SELECT audience, profile_id FROM audience_membership WHERE status <> 'exited'").fetchall():
        out.setdefault(audience, set()).add(profile)
    return out


def test_the_collector_log_keeps_offsets_and_loses_only_events_past_their_retention(tmp_path: Path) -> None:
    """Old page and track messages leave the log (a track event mapped to its type is kept as that type is); an
    identify, a message stating consent and recent events stay; every line keeps its length, so the lake's
    cursor still points at line starts, and what was not loaded yet loads without the removed messages."""
    from accord.sources.collector_log import log_folder

    ws = Workspace.init(tmp_path / "ws")
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["governance"] = {"retention": {"event_days": 30, "event_days_by_type": {"product.trial_started": 400}}}
    config["collector"] = {"track_events": {"Trial Started": "product.trial_started"}}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    ws = Workspace.load(ws.root)
    now = datetime.now(timezone.utc)
    old, recent = (now - timedelta(days=60)).isoformat(), (now - timedelta(days=2)).isoformat()
    person = {"userId": "u1", "anonymousId": "a1"}
    lines = [
        {"receivedAt": old, "batch": [
            {"type": "identify", "messageId": "i1", "timestamp": old, "traits": {"email": "ann@acme.io"}, **person},
            {"type": "page", "messageId": "p-old", "timestamp": old, "properties": {"url": "https://acme.io/"},
             **person},
            {"type": "track", "messageId": "t-old", "event": "Signed Up", "timestamp": old, **person}]},
        {"receivedAt": old, "batch": [
            {"type": "track", "messageId": "trial", "event": "Trial Started", "timestamp": old, **person},
            {"type": "track", "messageId": "c-old", "event": "Consent Given", "timestamp": old, **person,
             "context": {"consent": {"categoryPreferences": {"Advertising": True}}}}]},
        {"receivedAt": recent, "batch": [  # sent late: the message's own time decides
            {"type": "page", "messageId": "p-late", "timestamp": old, "sentAt": recent, **person},
            {"type": "page", "messageId": "p-new", "timestamp": recent, **person}]},
    ]
    log = log_folder(ws, None) / LOG_NAME
    log.parent.mkdir(parents=True)
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    starts = [0]
    for line in log.read_bytes().splitlines(keepends=True)[:-1]:
        starts.append(starts[-1] + len(line))
    size = log.stat().st_size

    done = CliRunner().invoke(app, ["run", "-w", str(ws.root)], env=WIDE)
    assert done.exit_code == 0, done.output
    assert "removed from the store, 3 from the collector log" in done.output
    kept = log.read_bytes()
    assert len(kept) == size and [kept[s - 1:s] for s in starts[1:]] == [b"\n", b"\n"]
    assert [[m["messageId"] for m in json.loads(line)["batch"]] for line in kept.splitlines()] == [
        ["i1"], ["trial", "c-old"], ["p-new"]]

    again = CliRunner().invoke(app, ["run", "-w", str(ws.root)], env=WIDE)
    assert "0 from the collector log" in again.output, "the log is swept once a day"
    with ws.lake() as lake:
        assert SourceState(lake, "collector").get("retention", "log_swept_at") is not None
        ingest_log(lake, CollectorLog(log.parent), "web", ws.config.collector.track_events)
        loaded = dict(lake.execute("SELECT source_id, event_type FROM event").fetchall())
    assert loaded == {"trial": "product.trial_started", "c-old": "track.consent_given", "p-new": "web.pageview"}


def test_a_log_sweep_reads_only_the_segments_that_changed_or_hold_an_event_expiring_now(tmp_path: Path) -> None:
    """A segment swept before is read again only when it grew, or when its first kept event's retention ends."""
    from accord.governance.retention import sweep_log

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    log = CollectorLog(tmp_path / "collector", segment_bytes=1)  # a segment per append

    def page(n: int, day: int) -> dict:
        at = (start + timedelta(days=day)).isoformat()
        return {"type": "page", "userId": "u1", "messageId": f"p{n}", "timestamp": at}

    for n, day in enumerate((0, 10, 20)):
        log.append([page(n, day), {"type": "identify", "userId": "u1", "messageId": f"i{n}"}])
    config = RetentionConfig(event_days=30)
    first = sweep_log(log.folder, config, start + timedelta(days=25), {}, None)
    assert (first.messages, first.read) == (0, 3)
    again = sweep_log(log.folder, config, start + timedelta(days=29), {}, first.state)
    assert (again.messages, again.read) == (0, 0), "nothing grew, nothing expires before day 30"
    day_35 = sweep_log(log.folder, config, start + timedelta(days=35), {}, again.state)
    assert (day_35.messages, day_35.read) == (1, 1), "the day-0 event expired on day 30"
    log.append([page(3, 34)])
    later = sweep_log(log.folder, config, start + timedelta(days=36), {}, day_35.state)
    assert (later.messages, later.read) == (0, 1), "the new segment alone"
    shorter = sweep_log(log.folder, RetentionConfig(event_days=20), start + timedelta(days=36), {}, later.state)
    assert (shorter.messages, shorter.read) == (1, 4), "other settings: every segment is read again"
    left = b"".join(path.read_bytes() for path in sorted(log.folder.iterdir()))
    assert b'"p0"' not in left and b'"p1"' not in left and b'"p2"' in left and left.count(b'"identify"') == 3


@pytest.mark.parametrize(("text", "notes"), [
    ('where count(event where event_type = "web.pageview" in last 180 days) >= 3',
     ["reads 180 days back; kept: web.pageview 90 days"]),
    ('where any event (event_type in ["web.pageview", "email.open"] in last 60 days)', []),
    ('where any event (event_type in ["web.pageview", "email.open"] in last 500 days)',
     ["reads 500 days back; kept: email.open 400, web.pageview 90 days"]),
    ('where no event (in last 120 days)', ["reads 120 days back; kept: web.pageview 90 days"]),
    ('where first event (event_type = "webinar.attend") before 450 days ago',
     ["reads 450 days back; kept: webinar.attend 400 days"]),
    ('where any event (event_type = "web.pageview")', []),
])
def test_an_audience_reading_further_back_than_events_are_kept_is_noted(text: str, notes: list[str]) -> None:
    from accord.audiences.text import parse_audience
    from accord.governance.retention import reads_beyond

    config = RetentionConfig(event_days=400, event_days_by_type={"web.pageview": 90})
    assert reads_beyond(parse_audience(f'audience "a" of person\n{text}\n'), config) == notes
    assert reads_beyond(parse_audience(f'audience "a" of person\n{text}\n'), RetentionConfig()) == []


def test_audiences_validate_notes_what_retention_hides(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "audiences" / "a.aud").write_text(
        'audience "Long readers" of person\nwhere count(event where event_type = "web.pageview" in last 180 days) >= 3\n')
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["governance"] = {"retention": {"event_days_by_type": {"web.pageview": 90}}}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    done = CliRunner().invoke(app, ["audiences", "validate", "-w", str(ws.root)], env=WIDE)
    assert done.exit_code == 0
    assert ("note: Long readers reads 180 days back; kept: web.pageview 90 days (governance.retention)"
            in done.output), done.output
