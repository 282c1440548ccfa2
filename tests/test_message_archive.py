"""A site's history archived as Segment writes it (gzip files of JSON lines in a folder a day): loaded by
`accord ingest messages`, each message makes what the collector makes of it live, and an event the archive and the
live collector both hold is kept once."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.lake.store import Lake
from accord.sources import message_archive
from accord.sources.collector import ingest_log, validate_batch
from accord.sources.collector_log import CollectorLog
from accord.sources.message_archive import ArchiveError, load_archive
from accord.workspace import Workspace

INSTANCE = "acme-web"
SKEW = timedelta(seconds=90)
"""How far ahead of the collector's clock the devices' clocks run."""


def sent(at: datetime, **message: Any) -> dict[str, Any]:
    """A message as a device sends it: its own clock's time, sent a second later."""
    return {**message, "timestamp": (at + SKEW).isoformat(), "sentAt": (at + SKEW + timedelta(seconds=1)).isoformat()}


def day(n: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, n, hour, tzinfo=timezone.utc)


SENT = [
    sent(day(1), type="page", messageId="p1", anonymousId="anon-1",
         properties={"url": "https://acme.com/pricing", "title": "Pricing"}, context={"ip": "203.0.113.9"}),
    sent(day(1, 11), type="identify", messageId="i1", anonymousId="anon-1", userId="u-1",
         traits={"email": "Jane@Acme.com", "firstName": "Jane", "company": {"name": "Acme"}}),
    sent(day(2), type="track", messageId="t1", userId="u-1", event="Demo Requested", properties={"plan": "pro"}),
    sent(day(2, 12), type="group", messageId="g1", userId="u-1", groupId="acct-9",
         traits={"name": "Acme Corp", "website": "https://acme.com", "industry": "Software"}),
    sent(day(3), type="page", messageId="p2", anonymousId="anon-2",
         context={"page": {"url": "https://acme.com/docs"}, "consent": {"categoryPreferences": {"Marketing": False}}}),
    sent(day(3, 12), type="track", messageId="t2", anonymousId="anon-3", event="Viewed",
         context={"consent": {"categoryPreferences": {"Analytics": False}}}),
    sent(day(4), type="alias", messageId="a1", previousId="anon-2", userId="u-2"),
]


def archived(message: dict[str, Any]) -> dict[str, Any]:
    """The message as Segment's archive holds it: received a second after it was sent, its device time kept as
    `originalTimestamp` and its `timestamp` moved by the device's skew."""
    received = datetime.fromisoformat(message["sentAt"]) - SKEW + timedelta(seconds=1)
    device = datetime.fromisoformat(message["timestamp"])
    moved = device + (received - datetime.fromisoformat(message["sentAt"]))
    return {**message, "originalTimestamp": device.isoformat(), "timestamp": moved.isoformat(),
            "receivedAt": received.isoformat(), "projectId": "src-1", "version": 2, "channel": "client"}


def write_archive(folder: Path, messages: list[dict[str, Any]], extra_lines: tuple[bytes, ...] = ()) -> Path:
    """One gzip file a day, as Segment's S3 destination writes them."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        by_day.setdefault(m["receivedAt"][:10], []).append(m)
    for number, (name, held) in enumerate(sorted(by_day.items())):
        (folder / name).mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / name / f"{1000 + number}.a1b2c3.gz", "wb") as f:
            f.write(b"".join(json.dumps(m).encode() + b"\n" for m in held) + b"".join(extra_lines))
    return folder


def canonical(lake: Lake) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "event": lake.execute("SELECT source_id, event_type, timestamp, person_key, anonymous_id, url, properties "
                              "FROM event_current ORDER BY source_id").fetchall(),
        "person": lake.execute("SELECT source_id, user_id, anonymous_id, email, first_name, company_name, "
                               "marketing_consent, collect_consent, source_updated_at FROM person_current "
                               "ORDER BY source_id").fetchall(),
        "account": lake.execute("SELECT source_id, name, domain, industry FROM account_current").fetchall(),
        "account_person": lake.execute("SELECT source_id, account_key, person_key FROM account_person_current")
        .fetchall(),
    }


def test_an_archive_loads_as_the_collector_takes_the_same_messages_live(tmp_path: Path) -> None:
    with Lake(tmp_path / "archive.duckdb", migrate=True) as lake:
        report = load_archive(lake, [write_archive(tmp_path / "segment-logs", [archived(m) for m in SENT])], INSTANCE)
        assert (report.files, report.messages) == (4, len(SENT))
        from_archive = canonical(lake)
    log = CollectorLog(tmp_path / "collector")
    for m in SENT:
        log.append(validate_batch({"batch": [dict(m)]}), datetime.fromisoformat(archived(m)["receivedAt"]))
    with Lake(tmp_path / "live.duckdb", migrate=True) as lake:
        ingest_log(lake, log, INSTANCE)
        live = canonical(lake)
    assert from_archive == live
    [pricing] = [e for e in from_archive["event"] if e[0] == "p1"]
    assert pricing[2] == day(1) + timedelta(seconds=1), "the device's clock skew taken out, as Segment did"
    assert "t2" not in [e[0] for e in from_archive["event"]], "Analytics refused: no event kept"


def test_an_event_in_the_archive_and_the_live_collector_is_kept_once(tmp_path: Path) -> None:
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        log = CollectorLog(tmp_path / "collector")
        for m in SENT[:3]:
            log.append(validate_batch({"batch": [dict(m)]}), datetime.fromisoformat(archived(m)["receivedAt"]))
        ingest_log(lake, log, INSTANCE)
        events = lake.scalar("SELECT count(*) FROM event")
        load_archive(lake, [write_archive(tmp_path / "segment-logs", [archived(m) for m in SENT])], INSTANCE)
        assert lake.scalar("SELECT count(*) FROM event_current") == 3
        assert lake.scalar("SELECT count(*) FROM event WHERE source_id IN ('p1', 't1')") == 2, \
            "the archive's copies of the live events add no version"
        assert events == 2


def test_an_archive_loaded_again_or_cut_off_part_way_loads_each_part_once(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_archive, "MESSAGES_PER_PART", 2)
    folder = tmp_path / "logs"
    folder.mkdir()
    with gzip.open(folder / "all.gz", "wb") as f:
        f.write(b"".join(json.dumps(archived(m)).encode() + b"\n" for m in SENT))
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        calls = 0
        real = message_archive.ingest_records

        def dying(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 4:
                raise KeyboardInterrupt("killed part-way")
            return real(*args, **kwargs)

        monkeypatch.setattr(message_archive, "ingest_records", dying)
        with pytest.raises(KeyboardInterrupt):
            load_archive(lake, [folder], INSTANCE)
        monkeypatch.setattr(message_archive, "ingest_records", real)
        load_archive(lake, [folder], INSTANCE)
        once = canonical(lake)
        batches = lake.scalar("SELECT count(*) FROM batches")
        again = load_archive(lake, [folder], INSTANCE)
        assert (again.loaded_before, again.messages, again.results) == (1, len(SENT), []), "not read again"
        assert lake.scalar("SELECT count(*) FROM batches") == batches
        assert canonical(lake) == once and len(once["event"]) == 3


def test_lines_that_are_no_message_are_quarantined_with_why_and_the_rest_load(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_archive, "LONGEST_LINE", 4096)
    bad = (b"not json\n", b'["a list"]\n', b'{"type": "track", "userId": "u-9"}\n',
           b'{"type": "identify", "traits": {}}\n', b'{"type": "screen", "anonymousId": {"id": 1}}\n',
           b'{"type": "page", "anonymousId": "x", "properties": {"note": "' + b"y" * 5000 + b'"}}\n',
           b'{"type": "page", "anonymousId": "x", "timestamp": "10000-01-01T00:00:00Z"}\n')
    folder = write_archive(tmp_path / "logs", [archived(SENT[0])], bad)
    first = next(folder.rglob("*.gz"))
    first.write_bytes(gzip.compress(b"\xef\xbb\xbf" + gzip.decompress(first.read_bytes())))  # a BOM before line 1
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        report = load_archive(lake, [folder], INSTANCE)
        assert report.messages == 8 and lake.scalar("SELECT count(*) FROM event_current") == 1
        reasons = [r[0] for r in lake.execute("SELECT reason FROM quarantine ORDER BY source_row").fetchall()]
    assert reasons == [
        "invalid_message: line 2 is not JSON",
        "invalid_message: line 3 is not a JSON object",
        "invalid_message: line 4: track needs an event name",
        "invalid_message: line 5: identify needs userId or anonymousId",
        "invalid_message: line 6.anonymousId must be a text or a number, not an object",
        "invalid_message: line 7 is longer than 4,096 bytes",
        "invalid_message: line 8.timestamp '10000-01-01T00:00:00Z' is not ISO 8601",
    ]


def test_the_command_loads_a_folder_and_refuses_what_it_cannot_read_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    folder = write_archive(tmp_path / "segment-logs", [archived(m) for m in SENT])
    loaded = runner.invoke(app, ["ingest", "messages", str(folder), "-w", str(ws)])
    assert loaded.exit_code == 0, loaded.output
    assert "4 files, 7 messages" in " ".join(loaded.output.split())
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM event_current") == 3
        assert lake.scalar("SELECT DISTINCT source_instance_id FROM event") == Workspace.load(ws).config.name, \
            "the workspace's collector's records"
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    for path, said in ((tmp_path / "broken.gz", "broken.gz: not a readable gzip file"),
                       (tmp_path / "absent", "no such file or folder"),
                       (ws, "no message files in it")):
        refused = runner.invoke(app, ["ingest", "messages", str(path), "-w", str(ws)])
        shown = "".join(refused.output.split())  # a long path is wrapped anywhere
        assert refused.exit_code == 1 and said.replace(" ", "") in shown and "Traceback" not in shown, refused.output


def test_an_archive_path_must_exist() -> None:
    with pytest.raises(ArchiveError, match="no such file or folder"):
        message_archive.archive_files([Path("/nonexistent/segment-logs")])


def ga4_row(name: str, at: datetime, pseudo: str, user: str | None = None, **params: Any) -> dict[str, Any]:
    """A row of GA4's BigQuery export as `bq extract --destination_format NEWLINE_DELIMITED_JSON` writes it: 64-bit
    integers as text, each parameter's value under its kind."""
    def value(v: Any) -> dict[str, Any]:
        return {"int_value": str(v)} if isinstance(v, int) else {"string_value": v}

    micros = (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    return {"event_date": at.strftime("%Y%m%d"), "event_timestamp": str(micros), "event_name": name,
            "event_params": [{"key": k, "value": value(v)} for k, v in params.items()],
            "event_bundle_sequence_id": "3", "user_id": user, "user_pseudo_id": pseudo,
            "privacy_info": {"analytics_storage": "Yes"}, "user_properties": [],
            "user_first_touch_timestamp": str(micros), "device": {"category": "desktop", "operating_system": "Macintosh",
                                                                  "web_info": {"browser": "Chrome"}},
            "geo": {"country": "Germany", "region": "Berlin", "city": "Berlin"}, "app_info": None,
            "traffic_source": {"name": "(direct)", "medium": "(none)", "source": "(direct)"},
            "stream_id": "1234567890", "platform": "WEB", "items": []}


def test_a_ga4_export_loads_as_the_tag_would_have_sent_it(tmp_path: Path) -> None:
    """A visitor's page views before and after signing in, a lead form and a scroll: page views are pageviews with
    their URL, other events tracks of their name (a name the workspace maps becomes its type), and the signed-in
    rows tie the visitor's pseudo id to the user id, as identify does."""
    rows = [
        ga4_row("page_view", day(5), "1234.5678", page_location="https://acme.com/pricing", page_title="Pricing",
                ga_session_id=1790000000, engagement_time_msec=1200),
        ga4_row("scroll", day(5, 11), "1234.5678", percent_scrolled=90, page_location="https://acme.com/pricing"),
        ga4_row("generate_lead", day(5, 12), "1234.5678", "crm-42", form_id="demo"),
        ga4_row("page_view", day(5, 12), "1234.5678", "crm-42", page_location="https://acme.com/docs"),
    ]
    path = tmp_path / "events_20261005.json.gz"
    path.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in [*rows, rows[0]])
                                   + b'{"event_name": "page_view", "event_timestamp": "soon", "user_pseudo_id": "x"}\n'))
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        report = load_archive(lake, [path], INSTANCE, {"generate_lead": "web.formfill"}, shape="ga4")
        assert report.messages == 6
        events = lake.execute("SELECT event_type, timestamp, url, anonymous_id, person_key, "
                              "json_extract_string(properties, '$.form_id') FROM event_current "
                              "ORDER BY timestamp, event_type").fetchall()
        assert events == [
            ("web.pageview", day(5), "https://acme.com/pricing", "1234.5678", f"anon:1234.5678@{INSTANCE}.Collector",
             None),
            ("track.scroll", day(5, 11), "https://acme.com/pricing", "1234.5678",
             f"anon:1234.5678@{INSTANCE}.Collector", None),
            ("web.formfill", day(5, 12), None, "1234.5678", f"crm-42@{INSTANCE}.Collector", "demo"),
            ("web.pageview", day(5, 12), "https://acme.com/docs", "1234.5678", f"crm-42@{INSTANCE}.Collector", None),
        ], "the row exported twice is one event"
        assert lake.query("SELECT user_id, anonymous_id FROM person_current WHERE source_id = 'alias:1234.5678'") == [
            {"user_id": "crm-42", "anonymous_id": "1234.5678"}]
        [bad] = lake.query("SELECT reason FROM quarantine")
        assert bad["reason"] == "invalid_message: line 6: event_timestamp 'soon' is not microseconds since 1970"
        again = load_archive(lake, [path], INSTANCE, shape="ga4")
        assert again.loaded_before == 1


def test_the_format_is_one_the_command_knows(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    (tmp_path / "a.jsonl").write_text("{}\n")
    refused = runner.invoke(app, ["ingest", "messages", str(tmp_path / "a.jsonl"), "--format", "matomo",
                                  "-w", str(tmp_path / "ws")])
    assert refused.exit_code == 1
    said = " ".join(refused.output.split())
    assert "--format is one of segment, ga4, mixpanel, amplitude, posthog, snowplow, not 'matomo'" in said


def test_a_ga4_export_extracted_as_parquet_loads_as_its_json_lines_do(tmp_path: Path) -> None:
    """BigQuery extracts Parquet with GA4's own types: 64-bit integers as integers, parameters as a list of
    structs; the same rows load as they do from JSON lines."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [ga4_row("page_view", day(6), "99.1", page_location="https://acme.com/", ga_session_id=1790000001),
            ga4_row("sign_up", day(6, 11), "99.1", "crm-7", method="google")]
    typed = [{**r, "event_timestamp": int(r["event_timestamp"]), "event_params": [
        {"key": p["key"], "value": {"string_value": p["value"].get("string_value"),
                                    "int_value": int(p["value"]["int_value"]) if "int_value" in p["value"] else None}}
        for p in r["event_params"]]} for r in rows]
    pq.write_table(pa.Table.from_pylist(typed), tmp_path / "events_20261006.parquet")
    (tmp_path / "events_20261006.json").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def loaded(path: Path) -> list[tuple[Any, ...]]:
        with Lake(tmp_path / f"{path.suffix}.duckdb", migrate=True) as lake:
            assert load_archive(lake, [path], INSTANCE, shape="ga4").messages == 2
            return lake.execute("SELECT event_type, timestamp, url, person_key, "
                                "json_extract_string(properties, '$.ga_session_id') FROM event_current "
                                "ORDER BY timestamp").fetchall()

    from_parquet = loaded(tmp_path / "events_20261006.parquet")
    assert from_parquet == loaded(tmp_path / "events_20261006.json")
    with Lake(tmp_path / "both.duckdb", migrate=True) as lake:
        load_archive(lake, [tmp_path / "events_20261006.json", tmp_path / "events_20261006.parquet"], INSTANCE,
                     shape="ga4")
        assert lake.scalar("SELECT count(*) FROM event_current") == 2, "a row in both extracts is one event"
    assert from_parquet[0] == ("web.pageview", day(6), "https://acme.com/", f"anon:99.1@{INSTANCE}.Collector",
                               "1790000001")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with Lake(tmp_path / "b.duckdb", migrate=True) as lake, pytest.raises(ArchiveError, match="not a readable Parquet"):
        load_archive(lake, [tmp_path / "broken.parquet"], INSTANCE, shape="ga4")
