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
        assert bad["reason"] == ("invalid_message: line 2: event_time 'soon' is no time (YYYY-MM-DD HH:MM:SS.ffffff, "
                                 "in UTC)")
        versions = lake.scalar("SELECT count(*) FROM event")
    again = runner.invoke(app, command)
    assert again.exit_code == 0 and "2 files (2 loaded before)" in again.output
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
