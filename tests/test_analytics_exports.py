"""A product's history in Mixpanel or Amplitude, exported as those tools export it: `accord ingest messages
--format mixpanel|amplitude` loads each event as the message its SDK would have sent the collector, ties the
anonymous and signed-in ids as the tool tied them, and quarantines what is no event."""

from __future__ import annotations

import gzip
import json
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.lake.store import Lake
from accord.sources.message_archive import load_archive
from accord.sources.snowplow import NIL_ID
from accord.workspace import Workspace

INSTANCE = "acme-app"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, 5, hour, minute, tzinfo=timezone.utc)


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


MIXPANEL = [  # as the raw export API answers: a JSON object a line, `time` in seconds
    {"event": "$mp_web_page_view", "properties": {
        "time": seconds(at(9)), "distinct_id": "$device:dev-1", "$device_id": "dev-1", "$insert_id": "ins-1",
        "$current_url": "https://acme.com/pricing?utm_source=ads", "current_page_title": "Pricing",
        "$referrer": "https://www.google.com/", "$city": "Austin", "$region": "Texas", "mp_country_code": "US",
        "mp_lib": "web", "$browser": "Chrome", "token": "f1e2d3c4b5a6", "mp_processing_time_ms": 1791000000123}},
    {"event": "Demo Requested", "properties": {
        "time": seconds(at(9, 5)), "distinct_id": "crm-42", "$user_id": "crm-42", "$device_id": "dev-1",
        "$insert_id": "ins-2", "plan": "pro", "$current_url": "https://acme.com/demo"}},
    {"event": "Invoice Paid", "properties": {  # sent by a server: its distinct_id alone, its time in milliseconds
        "time": seconds(at(10)) * 1000, "distinct_id": "crm-42", "$insert_id": "ins-3", "amount": 1200}},
    {"event": "$identify", "properties": {  # the original ID merge's tie
        "time": seconds(at(11)), "distinct_id": "crm-43", "$anon_id": "anon-9", "$identified_id": "crm-43",
        "$insert_id": "ins-4"}},
    {"event": "$create_alias", "properties": {
        "time": seconds(at(12)), "distinct_id": "anon-10", "alias": "crm-44", "$insert_id": "ins-5"}},
]


def lines(rows: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def test_a_mixpanel_export_loads_as_its_sdk_would_have_sent_it(tmp_path: Path) -> None:
    path = tmp_path / "mixpanel-2026-10-05.json"
    path.write_bytes(lines([*MIXPANEL, MIXPANEL[1],  # a row exported twice
                            {"event": "Viewed", "properties": {"time": "yesterday", "distinct_id": "x"}},
                            {"properties": {"time": seconds(at(9)), "distinct_id": "x"}}]))
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        report = load_archive(lake, [path], INSTANCE, {"Demo Requested": "web.formfill"}, shape="mixpanel")
        assert report.messages == 8
        events = lake.execute("SELECT source_id, event_type, timestamp, url, person_key, anonymous_id, properties "
                              "FROM event_current ORDER BY timestamp").fetchall()
        assert [e[:6] for e in events] == [
            ("ins-1", "web.pageview", at(9), "https://acme.com/pricing?utm_source=ads",
             f"anon:dev-1@{INSTANCE}.Collector", "dev-1"),
            ("ins-2", "web.formfill", at(9, 5), "https://acme.com/demo", f"crm-42@{INSTANCE}.Collector", "dev-1"),
            ("ins-3", "track.invoice_paid", at(10), None, f"crm-42@{INSTANCE}.Collector", None),
        ], "one event for the row exported twice"
        page = json.loads(events[0][6])
        assert page["context"]["page"] == {"url": "https://acme.com/pricing?utm_source=ads", "title": "Pricing",
                                           "referrer": "https://www.google.com/"}
        assert page["context"]["location"] == {"country": "US", "region": "Texas", "city": "Austin"}
        assert "token" not in page and "distinct_id" not in page and page["$browser"] == "Chrome"
        assert json.loads(events[2][6])["amount"] == 1200
        ties = lake.execute("SELECT source_id, user_id, anonymous_id FROM person_current "
                            "WHERE user_id IS NOT NULL AND anonymous_id IS NOT NULL ORDER BY source_id").fetchall()
        assert ties == [("alias:anon-10", "crm-44", "anon-10"), ("alias:anon-9", "crm-43", "anon-9"),
                        ("alias:dev-1", "crm-42", "dev-1"), ("crm-43", "crm-43", "anon-9")]
        reasons = [r[0] for r in lake.execute("SELECT reason FROM quarantine ORDER BY source_row").fetchall()]
        assert reasons == ["invalid_message: line 7: time 'yesterday' is not seconds since 1970",
                           "invalid_message: line 8: event is missing"]


def amplitude_row(uuid: str, event_type: str, when: str, device: str, user: str | None = None,
                  **fields: Any) -> dict[str, Any]:
    """A row of Amplitude's export, with the fields a browser's event carries."""
    return {"uuid": uuid, "event_type": event_type, "event_time": when, "client_event_time": when,
            "server_upload_time": when, "device_id": device, "user_id": user, "amplitude_id": 987654321,
            "event_properties": {}, "user_properties": {}, "groups": {}, "data": {}, "$insert_id": f"ins-{uuid}",
            "platform": "Web", "os_name": "Chrome", "os_version": "131", "country": "Germany", "region": "Berlin",
            "city": "Berlin", "library": "amplitude-ts/2.11.0", "session_id": 1791190800000, **fields}


AMPLITUDE_HOURS = {
    "10": [amplitude_row("u-1", "[Amplitude] Page Viewed", "2026-10-05 10:00:00.123000", "dev-a", event_properties={
               "[Amplitude] Page Location": "https://acme.com/pricing?plan=pro",
               "[Amplitude] Page URL": "https://acme.com/pricing", "[Amplitude] Page Title": "Pricing",
               "[Amplitude] Page Path": "/pricing", "[Amplitude] Page Counter": 1}),
           amplitude_row("u-2", "$identify", "2026-10-05 10:05:00.000000", "dev-a", "crm-7", user_properties={
               "email": "ana@acme.com", "first_name": "Ana", "company": "Acme", "plan": "trial"})],
    "11": [amplitude_row("u-3", "Trial Started", "2026-10-05 11:00:00.000000", "dev-a", "crm-7",
                         event_properties={"seats": 5}),
           amplitude_row("u-4", "Trial Started", "soon", "dev-b")],
}


def amplitude_zip(path: Path) -> Path:
    """The zip Amplitude's Export API answers: a folder named by the project, a gzipped file an hour."""
    with zipfile.ZipFile(path, "w") as archive:
        for hour, rows in AMPLITUDE_HOURS.items():
            archive.writestr(f"187520/187520_2026-10-05_{hour}#0.json.gz", gzip.compress(lines(rows)))
    return path


def test_an_amplitude_export_zip_loads_file_by_file_and_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    runner, ws = CliRunner(), tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    export = amplitude_zip(tmp_path / "export.zip")
    command = ["ingest", "messages", str(export), "--format", "amplitude", "-w", str(ws)]
    loaded = runner.invoke(app, command)
    assert loaded.exit_code == 0, loaded.output
    assert "2 files, 4 messages" in loaded.output and "quarantined" in loaded.output
    with Workspace.load(ws).lake() as lake:
        events = lake.execute("SELECT source_id, event_type, timestamp, url, person_key, anonymous_id "
                              "FROM event_current ORDER BY timestamp").fetchall()
        assert events == [
            ("u-1", "web.pageview", datetime(2026, 10, 5, 10, 0, 0, 123000, tzinfo=timezone.utc),
             "https://acme.com/pricing?plan=pro", "anon:dev-a@ws.Collector", "dev-a"),
            ("u-3", "track.trial_started", at(11), None, "crm-7@ws.Collector", "dev-a"),
        ]
        person = lake.query("SELECT email, first_name, company_name, anonymous_id FROM person_current "
                            "WHERE source_id = 'crm-7'")
        assert person == [{"email": "ana@acme.com", "first_name": "Ana", "company_name": "Acme",
                           "anonymous_id": "dev-a"}]
        [bad] = lake.query("SELECT reason, batch_id FROM quarantine")
        assert bad["reason"] == "invalid_message: line 2: event_time 'soon' is no time"
        versions = lake.scalar("SELECT count(*) FROM event")
    from accord.sources import message_archive

    unzipped_again = []
    monkeypatch.setattr(message_archive, "extracted", lambda *a: unzipped_again.append(a))
    again = runner.invoke(app, command)
    assert again.exit_code == 0 and "2 files (2 loaded before)" in again.output
    assert unzipped_again == [], "a file loaded before is known by its bytes in the zip, never extracted again"
    with zipfile.ZipFile(export) as archive:
        archive.extractall(tmp_path / "extracted")
    unzipped = runner.invoke(app, ["ingest", "messages", str(tmp_path / "extracted"), "--format", "amplitude",
                                   "-w", str(ws)])
    assert unzipped.exit_code == 0 and "(2 loaded before)" in unzipped.output, "the same files, zipped or not"
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM event") == versions
    assert [p for p in (tmp_path / "temp").rglob("*") if p.is_file()] == [], "no extracted file is left"


@pytest.mark.parametrize(("content", "said"), [
    (b"PK\x03\x04 not really", "not a readable .zip file"),
    (None, "a zip with no message files in it"),
])
def test_a_zip_that_holds_no_messages_is_refused_in_one_line(tmp_path: Path, content: bytes | None,
                                                             said: str) -> None:
    runner, ws, path = CliRunner(), tmp_path / "ws", tmp_path / "export.zip"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "no events")
    else:
        path.write_bytes(content)
    refused = runner.invoke(app, ["ingest", "messages", str(path), "--format", "amplitude", "-w", str(ws)])
    assert refused.exit_code == 1 and said in " ".join(refused.output.split()) and "Traceback" not in refused.output


def enriched(**fields: Any) -> dict[str, Any]:
    """An enriched Snowplow event as its fields by name, with what the JavaScript tracker and the pipeline add."""
    return {"app_id": "acme-site", "platform": "web", "etl_tstamp": "2026-10-05 12:00:00.000",
            "v_tracker": "js-3.24.0", "v_collector": "ssc-3.2.0-kinesis", "v_etl": "snowplow-enrich-kinesis-5.0.0",
            "user_ipaddress": "203.0.113.0", "domain_sessionidx": "3", "network_userid": "n-1",
            "useragent": "Mozilla/5.0 (Macintosh)", "br_lang": "en-US", "os_timezone": "Europe/Berlin",
            "dvce_created_tstamp": fields.get("derived_tstamp"), "collector_tstamp": fields.get("derived_tstamp"),
            "event_format": "jsonschema", "event_version": "1-0-0", **fields}


SNOWPLOW = [
    enriched(event="page_view", event_id="e-1", domain_userid="d-1", derived_tstamp="2026-10-05 09:00:00.250",
             page_url="https://acme.com/pricing?ref=nav", page_title="Pricing", page_referrer="https://www.google.com/",
             geo_country="DE", geo_region="BE", geo_city="Berlin", mkt_source="google", mkt_medium="cpc",
             event_vendor="com.snowplowanalytics.snowplow", event_name="page_view",
             contexts=json.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
                                  "data": [{"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
                                            "data": {"id": "5b1e2f"}}]})),
    enriched(event="unstruct", event_id="e-2", domain_userid="d-1", user_id="crm-42",
             derived_tstamp="2026-10-05 09:05:00.000", event_vendor="com.acme", event_name="demo_requested",
             unstruct_event=json.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                                        "data": {"schema": "iglu:com.acme/demo_requested/jsonschema/1-0-0",
                                                 "data": {"plan": "pro", "seats": 20}}})),
    enriched(event="struct", event_id="e-3", domain_userid="d-1", user_id="crm-42",
             derived_tstamp="2026-10-05 09:10:00.000", se_category="video", se_action="play", se_label="intro",
             se_value="12.5", event_vendor="com.google.analytics", event_name="event"),
    enriched(event="page_ping", event_id="e-4", domain_userid="d-1", user_id="crm-42",
             derived_tstamp="2026-10-05 09:10:10.000", page_url="https://acme.com/pricing", pp_yoffset_max="900"),
]


def tsv(event: dict[str, Any]) -> bytes:
    from accord.sources.snowplow import FIELDS

    return "\t".join(str(event.get(name) or "") for name in FIELDS).encode() + b"\n"


def snowplow_loaded(lake: Lake) -> list[tuple[Any, ...]]:
    return lake.execute("SELECT source_id, event_type, timestamp, url, person_key, anonymous_id, properties "
                        "FROM event_current ORDER BY timestamp").fetchall()


def test_snowplow_enriched_events_load_as_the_tracker_sent_them(tmp_path: Path) -> None:
    """The enriched stream's TSV as the S3 loader writes it (gzip, no header), a row twice and two broken lines."""
    folder = tmp_path / "enriched" / "run=2026-10-05-12-00-00"
    folder.mkdir(parents=True)
    (folder / "part-00000-4f1c.txt.gz").write_bytes(gzip.compress(
        b"".join(tsv(e) for e in [*SNOWPLOW, SNOWPLOW[0]]) + b"acme-site\tweb\tonly ten\t\t\t\t\t\t\t\n"
        + tsv(enriched(event="page_view", event_id="e-9", domain_userid="d-9", derived_tstamp="soon"))))
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        report = load_archive(lake, [tmp_path / "enriched"], INSTANCE, {"demo_requested": "web.formfill"},
                              shape="snowplow")
        assert (report.files, report.messages) == (1, 7)
        events = snowplow_loaded(lake)
        assert [e[:6] for e in events] == [
            ("e-1", "web.pageview", datetime(2026, 10, 5, 9, 0, 0, 250000, tzinfo=timezone.utc),
             "https://acme.com/pricing?ref=nav", f"anon:d-1@{INSTANCE}.Collector", "d-1"),
            ("e-2", "web.formfill", at(9, 5), None, f"crm-42@{INSTANCE}.Collector", "d-1"),
            ("e-3", "track.video_play", at(9, 10), None, f"crm-42@{INSTANCE}.Collector", "d-1"),
            ("e-4", "track.page_ping", datetime(2026, 10, 5, 9, 10, 10, tzinfo=timezone.utc),
             "https://acme.com/pricing", f"crm-42@{INSTANCE}.Collector", "d-1"),
        ], "one event for the row loaded twice"
        page, demo, video = (json.loads(e[6]) for e in events[:3])
        assert page["contexts"] == [{"id": "5b1e2f"}] and page["context"]["campaign"] == {"medium": "cpc",
                                                                                          "source": "google"}
        assert page["context"]["location"] == {"country": "DE", "region": "BE", "city": "Berlin"}
        assert demo == {"plan": "pro", "seats": 20, "context": {"userAgent": "Mozilla/5.0 (Macintosh)"}}
        assert video == {"category": "video", "action": "play", "label": "intro", "value": "12.5",
                         "context": {"userAgent": "Mozilla/5.0 (Macintosh)"}}
        assert lake.query("SELECT user_id, anonymous_id FROM person_current WHERE source_id = 'alias:d-1'") == [
            {"user_id": "crm-42", "anonymous_id": "d-1"}]
        reasons = [r[0] for r in lake.execute("SELECT reason FROM quarantine ORDER BY source_row").fetchall()]
        assert reasons == [
            "invalid_message: line 6: 10 tab-separated fields, not the 131 of an enriched Snowplow event",
            "invalid_message: line 7: derived_tstamp 'soon' is no time"]


def test_snowplow_events_of_anonymous_tracking_are_kept_by_session(tmp_path: Path) -> None:
    """With anonymous tracking an enriched event has no domain user id and the nil network user id: it is its
    session's (one anonymous visitor for every such event, or a quarantined event, lost what it said)."""
    (tmp_path / "enriched.tsv").write_bytes(b"".join(tsv(enriched(
        event="page_view", event_id=f"a-{n}", domain_sessionid=session, network_userid=NIL_ID,
        derived_tstamp="2026-10-05 09:00:00.000", page_url="https://acme.com/"))
        for n, session in ((1, "s-1"), (2, "s-2"))))
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        load_archive(lake, [tmp_path / "enriched.tsv"], INSTANCE, {}, shape="snowplow")
        assert sorted(e[5] for e in snowplow_loaded(lake)) == ["s-1", "s-2"], "both at one time: in any order"
        assert lake.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_snowplow_events_extracted_from_a_warehouse_load_as_the_stream_does(tmp_path: Path) -> None:
    """`atomic.events` extracted as Parquet: typed times and JSON columns; the same events as from the TSV."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from accord.sources.snowplow import FIELDS

    def typed(event: dict[str, Any]) -> dict[str, Any]:
        return {name: (datetime.fromisoformat(event[name]).replace(tzinfo=timezone.utc)
                       if name.endswith("tstamp") and event.get(name) else event.get(name)) for name in FIELDS}

    rows = [typed(e) for e in SNOWPLOW]
    schema = pa.schema([(n, pa.timestamp("us", tz="UTC") if n.endswith("tstamp") else pa.string()) for n in FIELDS])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "atomic_events.parquet")
    (tmp_path / "enriched.tsv").write_bytes(b"".join(tsv(e) for e in SNOWPLOW))
    loaded = []
    for name in ("atomic_events.parquet", "enriched.tsv"):
        with Lake(tmp_path / f"{name}.duckdb", migrate=True) as lake:
            assert load_archive(lake, [tmp_path / name], INSTANCE, shape="snowplow").messages == 4
            loaded.append(snowplow_loaded(lake))
    assert loaded[0] == loaded[1]


def posthog_row(uuid: str, event: str, when: str, distinct: str, text: bool = True, **props: Any) -> dict[str, Any]:
    """An event as PostHog's batch export to S3 writes it: its properties as JSON text (a warehouse keeps them as an
    object: `text=False`)."""
    return {"uuid": uuid, "event": event, "properties": json.dumps(props) if text else props, "distinct_id": distinct,
            "team_id": 2, "timestamp": when, "created_at": when, "elements_chain": "",
            "person_id": "0192a7f0-person", "_inserted_at": "2026-10-05T12:00:00Z"}


def test_a_posthog_batch_export_loads_as_posthog_js_sent_it(tmp_path: Path) -> None:
    web = {"$device_id": "0192-anon", "$session_id": "0192-session", "$lib": "web", "token": "phc_public"}
    rows = [
        posthog_row("p-1", "$pageview", "2026-10-05T09:00:00.250000Z", "0192-anon", **web, **{
            "$is_identified": False, "$current_url": "https://acme.com/pricing?plan=pro", "$pathname": "/pricing",
            "$referrer": "https://www.google.com/", "$geoip_country_code": "DE", "$geoip_city_name": "Berlin",
            "$geoip_subdivision_1_name": "Berlin"}),
        posthog_row("p-2", "$identify", "2026-10-05T09:05:00Z", "crm-42", **web, **{
            "$is_identified": True, "$anon_distinct_id": "0192-anon",
            "$set": {"email": "ana@acme.com", "first_name": "Ana"}}),
        posthog_row("p-3", "demo requested", "2026-10-05 09:10:00", "crm-42", False, **web, **{
            "$is_identified": True, "plan": "pro"}),
        posthog_row("p-4", "invoice paid", "2026-10-05T10:00:00+00:00", "crm-42", amount=1200),  # from a server
        posthog_row("p-5", "$groupidentify", "2026-10-05T10:05:00Z", "crm-42", **web, **{
            "$is_identified": True, "$group_type": "company", "$group_key": "acme-co",
            "$group_set": {"name": "Acme", "industry": "Software", "website": "https://acme.com"}}),
        posthog_row("p-6", "$pageview", "tomorrow", "0192-anon", **web),
    ]
    path = tmp_path / "posthog" / "2026-10-05" / "export-0.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(lines([*rows, rows[0]])))
    with Lake(tmp_path / "lake.duckdb", migrate=True) as lake:
        report = load_archive(lake, [tmp_path / "posthog"], INSTANCE, {"demo requested": "web.formfill"},
                              shape="posthog")
        assert report.messages == 7
        events = lake.execute("SELECT source_id, event_type, timestamp, url, person_key, anonymous_id, properties "
                              "FROM event_current ORDER BY timestamp").fetchall()
        assert [e[:6] for e in events] == [
            ("p-1", "web.pageview", datetime(2026, 10, 5, 9, 0, 0, 250000, tzinfo=timezone.utc),
             "https://acme.com/pricing?plan=pro", f"anon:0192-anon@{INSTANCE}.Collector", "0192-anon"),
            ("p-3", "web.formfill", at(9, 10), None, f"crm-42@{INSTANCE}.Collector", "0192-anon"),
            ("p-4", "track.invoice_paid", at(10), None, f"crm-42@{INSTANCE}.Collector", None),
        ], "one event for the row exported twice"
        page = json.loads(events[0][6])
        assert page["context"]["page"] == {"url": "https://acme.com/pricing?plan=pro", "path": "/pricing",
                                           "referrer": "https://www.google.com/"}
        assert "token" not in page and "$device_id" not in page and page["$session_id"] == "0192-session"
        assert lake.query("SELECT email, first_name, anonymous_id FROM person_current WHERE source_id = 'crm-42' "
                          "AND email IS NOT NULL") == [{"email": "ana@acme.com", "first_name": "Ana",
                                                        "anonymous_id": "0192-anon"}]
        assert lake.query("SELECT user_id FROM person_current WHERE source_id = 'alias:0192-anon'") == [
            {"user_id": "crm-42"}]
        assert lake.query("SELECT name, industry, domain FROM account_current") == [
            {"name": "Acme", "industry": "Software", "domain": "acme.com"}]
        assert lake.scalar("SELECT count(*) FROM account_person_current") == 1
        [bad] = lake.query("SELECT reason FROM quarantine")
        assert bad["reason"] == "invalid_message: line 6: timestamp 'tomorrow' is no time"


def test_an_older_mixpanel_projects_times_are_read_in_its_time_zone(tmp_path: Path) -> None:
    """A project created before 2023 exports `time` as the seconds its own time zone's clock showed: `--time-zone`
    reads them there; a time zone for an export that writes UTC, or no time zone at all, is one line."""
    ws = Workspace.init(tmp_path / "ws").root
    wall = datetime(2026, 10, 5, 9, 0, tzinfo=timezone.utc)  # 09:00 in Los Angeles, written as if it were UTC
    path = tmp_path / "old-project.json"
    path.write_bytes(lines([{"event": "Demo Requested", "properties": {
        "time": seconds(wall), "distinct_id": "crm-42", "$insert_id": "ins-old"}}]))
    runner = CliRunner()
    done = runner.invoke(app, ["ingest", "messages", str(path), "--format", "mixpanel", "--time-zone",
                               "America/Los_Angeles", "-w", str(ws)])
    assert done.exit_code == 0, done.output
    with Workspace.load(ws).lake() as lake:
        assert lake.scalar("SELECT timestamp FROM event_current") == datetime(2026, 10, 5, 16, 0, tzinfo=timezone.utc)
    for options, said in ((["--format", "segment", "--time-zone", "UTC"], "not to segment"),
                          (["--format", "mixpanel", "--time-zone", "Mars/Olympus"], "no time zone 'Mars/Olympus'"),
                          (["--format", "mixpanel", "--time-zone", "America"], "no time zone 'America'")):
        refused = runner.invoke(app, ["ingest", "messages", str(path), *options, "-w", str(ws)])
        assert refused.exit_code == 1 and said in " ".join(refused.output.split()), refused.output
