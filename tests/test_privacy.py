"""Privacy requests: access returns everything held on a person; delete removes them from every destination that
received them, then leaves none of their identifiers in any table, the collector log, the served copy or the
export files, and a later load of other records does not bring them back. A destination that cannot take the
removal stops the request before anything is erased."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from accord.activation.run import deliver
from accord.cli import app
from accord.engines.spark.config import SparkConfig
from accord.engines.spark.lake import open_spark_lake
from accord.identity.config import IdentityConfig
from accord.pipeline import run_identity
from accord.privacy.erase import ErasureBlocked, delete
from accord.privacy.requests import listed
from accord.privacy.subject import find_subject
from accord.profiles.lookup import ProfileNotFound
from accord.profiles.serving import ServedProfiles
from accord.sources.collector_log import LOG_NAME, CollectorLog, log_folder, segments
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace, write_csv
from tests.destinations.harnesses import SECRET, WebhookHarness

WEBINAR = "Webinar attendees"


@pytest.fixture
def delivered(tmp_path: Path, evaluated_lake: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A workspace whose webinar audience went to a webhook and to files (e-mails hashed), with a collector log
    and a served copy of people; and the e-mail of one member."""
    receiver = WebhookHarness()
    monkeypatch.setenv("CONFORMANCE_HOOK_SECRET", SECRET)
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"name": "hook", "audiences": [WEBINAR], **receiver.settings(tmp_path), "fields": ["email"]},
        {"type": "file", "name": "files", "url": "exports", "audiences": [WEBINAR], "fields": ["email", "job_title"],
         "hash_fields": ["email"]},
        {"type": "file", "name": "plain-files", "url": "plain", "audiences": [WEBINAR], "fields": ["email"]}])
    with ws.lake() as lake:
        for config in ws.config.destinations:
            deliver(ws, lake, config, sleep=lambda _: None)
        email = str(lake.scalar("SELECT min(p.email) FROM destination_members d JOIN person_profile p "
                                "ON p.person_id = d.profile_id WHERE d.destination = 'hook'"))
        ServedProfiles(ws.lake_path().parent / "profiles.sqlite").sync(lake)
    log = CollectorLog(ws.lake_path().parent / "collector", segment_bytes=1)  # each append a segment of its own
    log.append([{"type": "identify", "userId": "u-erase-me", "traits": {"email": email.upper()}},
                {"type": "track", "event": "Pricing Viewed", "userId": "u-keep", "properties": {"plan": "pro"}}])
    log.append([{"type": "track", "event": "Demo", "anonymousId": "anon-keep-1"}])
    yield ws, email, receiver
    receiver.close()


def identifiers(ws: Workspace, email: str) -> set[str]:
    with ws.lake() as lake:
        subject = find_subject(lake, f"email:{email}")
    return {v for v in subject.everything if len(v) >= 6}


def assert_no_trace(lake, values: set[str]) -> None:  # type: ignore[no-untyped-def]
    """No value of `values` in any table, any column, read as text."""
    tables = [r[0] for r in lake.execute("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_type = 'BASE TABLE'").fetchall()]
    for table in tables:
        for row in lake.execute(f'SELECT * FROM "{table}"').fetchall():
            text = " ".join(str(v) for v in row).lower()
            assert not [v for v in values if v.lower() in text], (table, row)


def test_access_returns_everything_held_on_the_person(delivered) -> None:
    ws, email, _ = delivered
    out = ws.root / "access.json"
    done = CliRunner().invoke(app, ["privacy", "access", f"email:{email}", "--out", str(out), "-w", str(ws.root)])
    document = json.loads(out.read_text())
    with ws.lake() as lake:
        request = listed(lake)[0]
    assert done.exit_code == 0, done.output
    assert out.stat().st_mode & 0o077 == 0  # a person's whole record, readable by this account only
    assert {"person", "person_profile", "identity_nodes", "audience_membership", "delivery_receipts",
            "destination_members"} <= set(document["held"])
    assert any(n["namespace"] == "email" and n["value"] == email for n in document["identities"])
    assert request["kind"] == "access" and request["status"] == "completed" and email not in json.dumps(request, default=str)


def test_access_to_a_file_that_cannot_be_written_records_no_request(delivered) -> None:
    ws, email, _ = delivered
    out = ws.root / "no-such-folder" / "access.json"
    done = CliRunner().invoke(app, ["privacy", "access", f"email:{email}", "--out", str(out), "-w", str(ws.root)])
    assert done.exit_code == 1 and "no folder" in done.output and "Traceback" not in done.output
    with ws.lake() as lake:
        assert listed(lake) == [], "a completed request whose document was never written"


def test_delete_leaves_no_trace_anywhere_and_destinations_get_removals(delivered) -> None:
    ws, email, receiver = delivered
    values = identifiers(ws, email)
    log = log_folder(ws, None)
    sizes_before = [s.size() for s in segments(log)]
    assert len(sizes_before) == 2
    assert email in receiver.held(ws.root, ws.config.name)
    with ws.lake() as lake:
        # What a Spark job left beside the store.
        mirrored = Path(open_spark_lake(lake, SparkConfig(), spark=None).sync("person").segments[0])
        assert email in {str(e).lower() for p in mirrored.glob("*.parquet")
                         for e in pq.read_table(p, columns=["email"]).column("email").to_pylist()}
        request_id, receipt = delete(ws, lake, f"email:{email}", "test")
    assert receipt["derived_files"] >= 1 and not mirrored.exists(), "a copy Spark read still holds them"
    assert receipt["engine_copies"] == 0, "the embedded engine keeps no copy elsewhere"
    assert receipt["destinations"]["hook"]["removed"] == 1
    assert email not in receiver.held(ws.root, ws.config.name)
    assert receipt["export_rows"]["files"] >= 1 and receipt["export_rows"]["plain-files"] >= 1
    assert receipt["collector_messages"] == 1 and receipt["served_copy_rows"] >= 1

    with ws.lake() as lake:
        assert_no_trace(lake, values)
        assert listed(lake)[0]["request_id"] == request_id and listed(lake)[0]["status"] == "completed"
    logged = b"".join(s.path.read_bytes() for s in segments(log))
    assert [s.size() for s in segments(log)] == sizes_before and b"u-keep" in logged and b"anon-keep-1" in logged
    assert not [v for v in values if v.lower().encode() in logged.lower()]
    for part in [*ws.root.glob("exports/**/part-*"), *ws.root.glob("plain/**/part-*")]:
        assert not [v for v in values if v.lower() in part.read_text().lower()], part
    served = (ws.lake_path().parent / "profiles.sqlite").read_bytes().lower()
    assert not [v for v in values if len(v) > 8 and v.lower().encode() in served]
    with pytest.raises(ProfileNotFound):  # the bytes above may still be in its write-ahead log
        ServedProfiles(ws.lake_path().parent / "profiles.sqlite").summary(f"email:{email}", [])

    other = write_csv(ws.root / "more.csv", ["Id", "FirstName", "LastName", "Email", "SystemModstamp"],
                      [["0035e00000NEW001AAA", "Ada", "Other", "ada@elsewhere.io", "2026-11-30T00:00:00Z"]])
    runner = CliRunner()
    loaded = runner.invoke(app, ["ingest", "files", str(other), "--mapping", "salesforce/contact", "-w", str(ws.root)])
    assert loaded.exit_code == 0, loaded.output
    with ws.lake() as lake:
        run_identity(lake, IdentityConfig())
        assert not lake.scalar("SELECT count(*) FROM person_profile WHERE lower(email) = ?", [email.lower()])


def test_a_destination_that_cannot_take_the_removal_stops_the_erasure(delivered) -> None:
    ws, email, receiver = delivered
    receiver.close()  # the receiver is gone: the removal cannot be delivered
    with ws.lake() as lake:
        with pytest.raises(ErasureBlocked, match="nothing was erased"):
            delete(ws, lake, f"email:{email}", "test")
        kept = lake.scalar("SELECT count(*) FROM person_profile WHERE email = ?", [email])
        request = listed(lake)[0]
    assert kept == 1 and request["status"] == "failed" and "could not take the removal" in request["error"]
    assert b"u-erase-me" in (log_folder(ws, None) / LOG_NAME).read_bytes()


def test_an_email_two_profiles_share_erases_both(delivered) -> None:
    ws, email, _ = delivered
    with ws.lake() as lake:
        other = lake.scalar("SELECT max(person_id) FROM person_profile WHERE lower(email) <> ?", [email.lower()])
        lake.execute("UPDATE person_profile SET email = ? WHERE person_id = ?", [email.upper(), other])
        subject = find_subject(lake, f"email:{email}")
        delete(ws, lake, f"email:{email}", "test")
        left = lake.scalar("SELECT count(*) FROM identity_nodes WHERE profile_id IN (SELECT unnest(?::VARCHAR[]))",
                           [list(subject.profile_ids)])
    assert other in subject.profile_ids and len(subject.profile_ids) == 2 and left == 0


def test_the_web_ui_makes_privacy_requests_for_keys_that_may(delivered) -> None:
    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.api.keys import create_key

    ws, email, _ = delivered
    with ws.lake() as lake:
        reader = create_key(lake, "api", "reader", ("read",)).secret
        officer = create_key(lake, "api", "privacy officer", ("privacy",)).secret
    client = TestClient(create_app(ws))
    client.post("/login", data={"key": reader, "next": "/"})
    assert client.post("/privacy", data={"identity": f"email:{email}", "kind": "access"}).status_code == 403
    client.post("/login", data={"key": officer, "next": "/"})
    document = client.post("/privacy", data={"identity": f"email:{email}", "kind": "access"})
    unconfirmed = client.post("/privacy", data={"identity": f"email:{email}", "kind": "delete"})
    erased = client.post("/privacy", data={"identity": f"email:{email}", "kind": "delete", "confirm": "erase"})
    assert document.status_code == 200 and "person_profile" in document.json()["held"]
    assert unconfirmed.status_code == 400 and "type erase to confirm" in unconfirmed.text
    assert erased.status_code == 200 and "erased. Removals sent to 3 destination(s)" in erased.text
    assert "delete" in client.get("/privacy").text


def load_a_new_record_of(ws: Workspace, email: str) -> None:
    """A Salesforce contact of the same person arrives (as a sync would bring it), not stitched yet."""
    newer = write_csv(ws.root / "newer.csv", ["Id", "FirstName", "LastName", "Email", "SystemModstamp"],
                      [["0035e00000AGAIN01AAA", "Again", "Same", email, "2026-11-30T00:00:00Z"]])
    loaded = CliRunner().invoke(app, ["ingest", "files", str(newer), "--mapping", "salesforce/contact",
                                      "-w", str(ws.root)])
    assert loaded.exit_code == 0, loaded.output


def test_a_deletion_while_identity_runs_leaves_no_trace(delivered, monkeypatch) -> None:
    """`accord privacy delete` relayed to `serve` while its worker stitches a new record of the same person: the
    stitching must not write back what the deletion erased."""
    import threading

    import accord.identity.resolve as resolve

    ws, email, _ = delivered
    values = identifiers(ws, email)
    load_a_new_record_of(ws, email)
    stitch_scope, erased, done, started = resolve._stitch_scope, [], threading.Event(), []

    def delete_relayed(store) -> None:  # type: ignore[no-untyped-def]
        other = store.cursor()
        try:
            erased.append(delete(ws, other, f"email:{email}", "test"))
        finally:
            other.close()
            done.set()

    def worker_stitching(store, kind, *args):  # type: ignore[no-untyped-def]
        if not started:
            started.append(threading.Thread(target=delete_relayed, args=(store,)))
            started[0].start()
            done.wait(5)  # the deletion waits for this run's turn to end (or, without turns, runs through)
        return stitch_scope(store, kind, *args)

    with ws.lake() as lake:
        with monkeypatch.context() as patched:
            patched.setattr(resolve, "_stitch_scope", worker_stitching)
            run_identity(lake, IdentityConfig())
            started[0].join(60)
        assert erased, "the deletion failed"
        assert_no_trace(lake, values)


def test_a_deletion_while_another_write_is_under_way_completes(delivered) -> None:
    """Under `serve` the collector or a delivery is nearly always writing: the deletion waits for that write to
    end, then moves the write-ahead log into the store, so the log no longer holds what was erased."""
    import threading
    import time

    ws, email, _ = delivered
    writing, checkpointing = threading.Event(), threading.Event()
    with ws.lake() as lake:
        def write_beside() -> None:
            other = lake.cursor()
            other.execute("BEGIN TRANSACTION")
            other.execute("CREATE TABLE written_beside (x INTEGER)")
            writing.set()
            checkpointing.wait(30)
            time.sleep(0.3)  # the checkpoint, asked for, finds this write under way
            other.execute("COMMIT")
            other.close()

        execute = lake.execute

        def noting_checkpoints(sql, params=None):  # type: ignore[no-untyped-def]
            if "CHECKPOINT" in sql:
                checkpointing.set()
            return execute(sql, params)

        lake.execute = noting_checkpoints  # type: ignore[method-assign]
        beside = threading.Thread(target=write_beside)
        beside.start()
        assert writing.wait(10)
        try:
            delete(ws, lake, f"email:{email}", "test")
        finally:
            checkpointing.set()
            beside.join(30)
        assert listed(lake)[0]["status"] == "completed"
        assert lake.scalar("SELECT count(*) FROM written_beside") == 0, "the other write went through too"
    wal = ws.lake_path().with_name(ws.lake_path().name + ".wal")
    assert not wal.exists() or email.lower().encode() not in wal.read_bytes().lower()


def test_the_served_copy_does_not_take_the_person_back_during_a_deletion(delivered, monkeypatch) -> None:
    """Under `serve` the served copy follows the lake every second: a sync between forgetting the person there and
    erasing the lake copied back the profile a new record of theirs had just changed."""
    import threading

    from accord.privacy import lake_rows

    ws, email, _ = delivered
    served = ws.lake_path().parent / "profiles.sqlite"
    searches, synced, reports = lake_rows.searches, threading.Event(), []
    load_a_new_record_of(ws, email)
    with ws.lake() as lake:
        run_identity(lake, IdentityConfig())  # their profile changed; the copy has yet to follow

    def found_while_the_copy_syncs(store, subject):  # type: ignore[no-untyped-def]
        def sync() -> None:
            other = store.cursor()
            try:
                reports.append(ServedProfiles(served).sync(other))
            finally:
                other.close()
                synced.set()

        beside = threading.Thread(target=sync)
        beside.start()
        synced.wait(2)  # the sync waits for the deletion to end (or, without turns, runs through)
        return searches(store, subject)

    monkeypatch.setattr(lake_rows, "searches", found_while_the_copy_syncs)
    with ws.lake() as lake:
        delete(ws, lake, f"email:{email}", "test")
        assert synced.wait(30) and reports, "the sync failed"
    with pytest.raises(ProfileNotFound):
        ServedProfiles(served).summary(f"email:{email}", [])


def test_a_file_written_while_a_deletion_runs_does_not_hold_the_person(tmp_path, evaluated_lake, monkeypatch) -> None:
    """A snapshot file destination's run under way when the deletion starts would write the person into a new
    export after the deletion rewrote the old ones: the deletion waits for the run to end."""
    import threading

    from accord.connectors.file.destination import FileDestination

    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "snap", "url": "snap", "audiences": [WEBINAR], "fields": ["email"],
         "mode": "snapshot"}])
    with ws.lake() as lake:
        email = str(lake.scalar("SELECT min(p.email) FROM audience_membership m JOIN person_profile p "
                                "ON p.person_id = m.profile_id WHERE m.audience = ? AND m.status <> 'exited'",
                                [WEBINAR]))
    finish, writing_started, go_on = FileDestination.finish, threading.Event(), threading.Event()

    def finish_slowly(self, audience, run_id, snapshot):  # type: ignore[no-untyped-def]
        writing_started.set()
        go_on.wait(2)  # the deletion, asked for meanwhile, waits for this run (or, without turns, runs through)
        finish(self, audience, run_id, snapshot)

    monkeypatch.setattr(FileDestination, "finish", finish_slowly)
    with ws.lake() as store:
        def run() -> None:
            with store.cursor() as lake:
                deliver(ws, lake, ws.config.destinations[0], trigger="schedule")

        worker = threading.Thread(target=run)
        worker.start()
        assert writing_started.wait(30)
        delete(ws, store, f"email:{email}", "test")
        go_on.set()
        worker.join(30)
    written = [p.read_text().lower() for p in (ws.root / "snap").rglob("part-*")]
    assert written and not [text for text in written if email.lower() in text]
