"""Activation: deltas with receipts to Marketo static lists (local Marketo server), files and signed webhooks."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from accord.activation.destination import Member
from accord.activation.run import deliver
from accord.cli import app
from accord.connectors.file.config import FileDestinationConfig
from accord.connectors.file.destination import FileDestination
from accord.connectors.marketo.data import MarketoData
from accord.connectors.marketo.server import Limits, MarketoServer
from accord.connectors.webhook.destination import SIGNATURE_HEADER, sign
from accord.identity.config import IdentityConfig
from accord.ingest.records import ingest_records
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace

AUDIENCE = "Webinar attendees"
DEALS = "Senior people on won deals worth over $100k"  # holds a Salesforce contact with no Marketo lead
FAST = Limits(calls_per_window=100, window_seconds=0.3)


@pytest.fixture
def marketo(tiny_world: Path) -> Iterator[MarketoServer]:
    with MarketoServer(MarketoData.from_folder(tiny_world / "marketo"), limits=FAST) as server:
        yield server


def marketo_destination(server: MarketoServer, **extra: Any) -> dict[str, Any]:
    return {"type": "marketo", "name": "mkto-lists", "audiences": [AUDIENCE],
            **server.connection("env:MKTO_SECRET"), "folder_id": 12, "backoff_seconds": 0.01, **extra}


def on_list(server: MarketoServer, name: str) -> set[int]:
    list_id = next(int(x["id"]) for x in server.data.lists if x["name"] == name)
    return set(server.data.list_members.get(list_id, []))


def expected_leads(lake: Lake, server: MarketoServer) -> set[int]:
    """Leads of the audience's members, found the way a person would: by their Marketo ids or their e-mail."""
    rows = lake.query(
        "SELECT p.email, (SELECT list(split_part(n.value, ':', 2)) FROM identity_nodes n WHERE n.kind = 'person' "
        "AND n.namespace = 'marketo_lead_id' AND n.profile_id = p.person_id) AS ids "
        "FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
        "WHERE m.audience = ? AND m.status IN ('realized', 'existing') AND coalesce(p.email_opt_out, false) = false",
        [AUDIENCE])
    emails = {e.lower(): int(i) for i, e in zip(server.data.leads["id"].to_pylist(), server.data.leads["email"].to_pylist()) if e}
    leads: set[int] = set()
    for row in rows:
        if row["ids"]:
            leads.update(int(i) for i in row["ids"])
        elif row["email"] and row["email"].lower() in emails:
            leads.add(emails[row["email"].lower()])
    return leads


def test_marketo_lists_follow_enter_stay_exit_and_reenter(tmp_path: Path, evaluated_lake: Path, marketo: MarketoServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", marketo.client_secret)
    ws = evaluated_workspace(tmp_path, evaluated_lake, [marketo_destination(marketo, audiences=[AUDIENCE, DEALS])])
    config = ws.config.destinations[0]
    list_name = f"{ws.config.name} · {AUDIENCE}"
    with ws.lake() as lake:
        first, deals = deliver(ws, lake, config).audiences
        wanted = expected_leads(lake, marketo)
        assert first.activated > 0 and on_list(marketo, list_name) == wanted
        members = lake.scalar("SELECT count(*) FROM audience_membership WHERE audience = ? AND status <> 'exited'", [AUDIENCE])
        assert first.activated + sum(first.skipped.values()) + sum(first.excluded.values()) == members
        assert deals.skipped.get("no_matching_lead", 0) > 0  # Salesforce-only contacts: skipped, not created
        assert deliver(ws, lake, config).total("activated") == 0  # stay: nothing sent
        leaving = lake.scalar("SELECT profile_id FROM destination_members WHERE audience = ? ORDER BY profile_id "
                              "LIMIT 1", [AUDIENCE])
        lead = int(lake.scalar("SELECT destination_key FROM destination_members WHERE profile_id = ?", [leaving]))
        lake.execute("UPDATE audience_membership SET status = 'exited' WHERE audience = ? AND profile_id = ?",
                     [AUDIENCE, leaving])
        exit_run = deliver(ws, lake, config).audiences[0]
        assert (exit_run.removed, exit_run.activated) == (1, 0) and lead not in on_list(marketo, list_name)
        lake.execute("UPDATE audience_membership SET status = 'realized' WHERE audience = ? AND profile_id = ?",
                     [AUDIENCE, leaving])
        back = deliver(ws, lake, config).audiences[0]
        assert (back.activated, back.removed) == (1, 0) and on_list(marketo, list_name) == wanted
        outcomes = dict(lake.execute(
            "SELECT outcome, count(*) FROM delivery_receipts WHERE profile_id = ? GROUP BY 1", [leaving]).fetchall())
    assert outcomes == {"added": 2, "removed": 1}
    assert marketo.lead_writes == []
    assert marketo.count("/rest/asset/v1/staticLists.json", "POST") == 2  # one list per audience, created once
    assert max(n for (_, lead_id), n in marketo.list_adds.items() if lead_id != lead) == 1


def test_a_member_whose_marketo_leads_change_is_kept_on_the_list_by_its_leads_now(
        tmp_path: Path, evaluated_lake: Path, marketo: MarketoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """After identity gives a member another lead (a merge), the new lead joins the list and the one it no longer
    holds leaves; a lead it keeps is never taken off, even for a moment."""
    monkeypatch.setenv("MKTO_SECRET", marketo.client_secret)
    ws = evaluated_workspace(tmp_path, evaluated_lake, [marketo_destination(marketo)])
    config, list_name = ws.config.destinations[0], f"{ws.config.name} · {AUDIENCE}"
    prefix = f"{marketo.munchkin_id}:"
    with ws.lake() as lake:
        deliver(ws, lake, config)
        person, lead = next((p, int(k)) for p, k in lake.execute(
            "SELECT d.profile_id, d.destination_key FROM destination_members d JOIN identity_nodes n "
            "ON n.profile_id = d.profile_id AND n.namespace = 'marketo_lead_id' AND n.value = ? || d.destination_key "
            "ORDER BY 1", [prefix]).fetchall())
        spare = min({int(i) for i in marketo.data.leads["id"].to_pylist()} - on_list(marketo, list_name))
        lake.execute("INSERT INTO identity_nodes VALUES ('person', 'marketo_lead_id', ?, ?)", [f"{prefix}{spare}", person])
        gained = deliver(ws, lake, config).audiences[0]
        assert {lead, spare} <= on_list(marketo, list_name)
        lake.execute("DELETE FROM identity_nodes WHERE namespace = 'marketo_lead_id' AND value = ?", [f"{prefix}{lead}"])
        lost = deliver(ws, lake, config).audiences[0]
        held = lake.scalar("SELECT destination_key FROM destination_members WHERE profile_id = ?", [person])
        changes = lake.execute("SELECT change, outcome FROM delivery_receipts WHERE profile_id = ? ORDER BY run_id",
                               [person]).fetchall()
        still = deliver(ws, lake, config).audiences[0]
    assert (gained.updated, gained.removed, lost.updated, lost.removed) == (1, 0, 1, 0)
    assert spare in on_list(marketo, list_name) and lead not in on_list(marketo, list_name)
    assert held == str(spare) and changes == [("add", "added"), ("update", "updated"), ("update", "updated")]
    assert (still.activated, still.updated, still.removed) == (0, 0, 0)
    assert marketo.count("/rest/v1/lists/", "DELETE") == 1  # the lead it kept was never taken off


def test_members_acknowledged_before_fields_were_kept_are_taken_as_sent_as_they_are(
        tmp_path: Path, evaluated_lake: Path, receiver: Receiver) -> None:
    """A store from before Accord kept what each member was sent: nobody is sent again for it, and from then on a
    change is told."""
    ws = evaluated_workspace(tmp_path, evaluated_lake, [hook(receiver)])
    config = ws.config.destinations[0]
    with ws.lake() as lake:
        deliver(ws, lake, config)
        lake.execute("UPDATE destination_members SET sent = NULL")
        sent_before = len(receiver.received)
        first = deliver(ws, lake, config).audiences[0]
        unknown = lake.scalar("SELECT count(*) FROM destination_members WHERE sent IS NULL")
        person = lake.scalar("SELECT min(profile_id) FROM destination_members")
        lake.execute("UPDATE person_profile SET email = 'new.address@example.org' WHERE person_id = ?", [person])
        second = deliver(ws, lake, config).audiences[0]
    assert (first.activated, first.updated, unknown) == (0, 0, 0)
    assert second.updated == 1 and len(receiver.received) == sent_before + 1
    told = receiver.received[-1]
    assert [(c["profile_id"], c["status"], c["identities"]["email"]) for c in told.get("changes", [told])] == [
        (person, "updated", "new.address@example.org")]


class _Keyed:
    """A list keyed by comma-separated ids that adds idempotently: it notes every removal."""

    def __init__(self, held: set[str], found: dict[str, set[str]]) -> None:
        self.held, self.found, self.removed = set(held), found, set()

    def add(self, audience: str, members: list[Member]) -> list[Any]:
        from accord.activation.destination import Outcome

        out = []
        for member in members:
            ids = self.found.get(member.profile_id, set())
            self.held |= ids
            out.append(Outcome(member.profile_id, "added", key=",".join(sorted(ids))) if ids
                       else Outcome(member.profile_id, "skipped", "no_matching_lead"))
        return out

    def remove(self, audience: str, members: list[Member]) -> list[Any]:
        from accord.activation.destination import Outcome

        for member in members:
            gone = set((member.key or "").split(",")) - {""}
            self.removed |= gone
            self.held -= gone
        return [Outcome(m.profile_id, "removed") for m in members]


@given(st.sets(st.sampled_from("abcdef"), min_size=1), st.sets(st.sampled_from("abcdef")))
def test_an_update_leaves_exactly_the_new_ids_and_never_removes_one_kept(old: set[str], new: set[str]) -> None:
    from accord.activation.destination import update_by_adding

    destination = _Keyed(old, {"P1": new})
    (outcome,) = update_by_adding(destination, AUDIENCE, [Member("P1", {}, ",".join(sorted(old)))], ",")
    assert destination.held == new and not destination.removed & new
    assert (outcome.status, outcome.key) == (("updated", ",".join(sorted(new))) if new else ("removed", None))


def test_consent_and_missing_identity_are_excluded_and_counted(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [{"type": "file", "name": "phones", "url": "out", "audiences": [AUDIENCE],
                                                "fields": ["crm_contact_id"]}])
    with ws.lake() as lake:
        email = lake.scalar(
            "SELECT p.email FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
            "WHERE m.audience = ? AND p.email IS NOT NULL AND p.crm_contact_id IS NOT NULL ORDER BY 1 LIMIT 1", [AUDIENCE])
        ingest_records(lake, "person", [{"source_id": "consent-1", "email": email, "marketing_consent": "n",
                                         "source_updated_at": datetime.now(timezone.utc)}],
                       source_type="Test", source_instance_id="t", source_name="test", fingerprint="consent-1")
        run_identity(lake, IdentityConfig())
        no_phone = lake.scalar(
            "SELECT count(*) FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
            "WHERE m.audience = ? AND m.status <> 'exited' AND p.crm_contact_id IS NULL "
            "AND coalesce(p.marketing_consent, '') <> 'n'", [AUDIENCE])
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        consent = lake.scalar("SELECT count(*) FROM audience_membership m JOIN person_profile p ON "
                              "p.person_id = m.profile_id WHERE m.audience = ? AND m.status <> 'exited' AND "
                              "p.marketing_consent = 'n'", [AUDIENCE])
    assert report.excluded["consent:marketing.any"] == consent >= 1, "a file export needs marketing consent only"
    assert report.excluded["missing_identity"] == no_phone > 0
    manifest = json.loads(next((ws.root / "out").rglob("manifest.json")).read_text())
    assert manifest["rows"] == report.activated


def test_file_exports_are_complete_split_hashed_and_atomic(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "csv", "url": "exports", "audiences": [AUDIENCE], "split_rows": 10,
         "fields": ["email", "first_name"], "hash_fields": ["email"], "field_names": {"email": "email_sha256"}},
        {"type": "file", "name": "changes", "url": "changes", "audiences": [AUDIENCE], "format": "parquet",
         "mode": "incremental"},
    ])
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0])
        email = lake.scalar("SELECT p.email FROM destination_members d JOIN person_profile p ON p.person_id = "
                            "d.profile_id WHERE d.destination = 'csv' ORDER BY 1 LIMIT 1")
        deliver(ws, lake, ws.config.destinations[1])
        leaving = lake.scalar("SELECT profile_id FROM destination_members WHERE destination = 'changes' LIMIT 1")
        lake.execute("UPDATE audience_membership SET status = 'exited' WHERE audience = ? AND profile_id = ?",
                     [AUDIENCE, leaving])
        second = deliver(ws, lake, ws.config.destinations[1]).audiences[0]
    run = next((ws.root / "exports").rglob("manifest.json")).parent
    manifest = json.loads((run / "manifest.json").read_text())
    rows = [line for part in manifest["parts"] for line in (run / part["file"]).read_text().splitlines()[1:]]
    assert manifest["columns"] == ["profile_id", "email_sha256", "first_name"]
    assert len(manifest["parts"]) == -(-report.total("activated") // 10) > 1
    assert len(rows) == manifest["rows"] == report.total("activated")
    import hashlib
    assert any(hashlib.sha256(email.lower().encode()).hexdigest() in r for r in rows)
    assert email not in "".join(rows)
    assert not list(ws.root.rglob("*.tmp-*"))
    assert second.removed == 1
    latest = sorted((ws.root / "changes").rglob("manifest.json"))[-1].parent
    table = pq.read_table(latest / "part-00001.parquet")
    assert table.to_pylist() == [{"profile_id": leaving, "email": table["email"][0].as_py(), "change": "remove"}]


class Receiver:
    """A webhook receiver on 127.0.0.1: answers with the queued statuses (then 200) and keeps what it got."""

    def __init__(self, secret: str) -> None:
        self.secret, self.statuses, self.received = secret, [], []
        self.signatures_ok = True
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.signatures_ok &= self.headers[SIGNATURE_HEADER] == sign(receiver.secret, body)
                    receiver.received.append(json.loads(body))
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"

    def close(self) -> None:
        self.http.shutdown()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    running = Receiver("s3cret")
    yield running
    running.close()


def hook(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": "hook", "url": receiver.url, "secret": "env:HOOK_SECRET",
            "audiences": [AUDIENCE], "backoff_seconds": 0.01, **extra}


def test_webhook_429_then_200_is_retried_and_signed(tmp_path: Path, evaluated_lake: Path, receiver: Receiver) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [hook(receiver)])
    receiver.statuses = [429, 429]
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0])
        attempts = lake.scalar("SELECT max(attempts) FROM delivery_receipts")
    assert report.total("activated") == len(receiver.received) > 0
    assert attempts == 3 and receiver.signatures_ok
    assert {m["status"] for m in receiver.received} == {"realized"} and all(m["identities"]["email"] for m in receiver.received)


def test_failing_batch_goes_to_dead_letters_and_retry_sends_only_it(tmp_path: Path, evaluated_lake: Path,
                                                                   receiver: Receiver) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [hook(receiver, batch_size=5, max_attempts=2)])
    receiver.statuses = [200, 500, 500]  # the second batch fails twice: dead-lettered; the rest go through
    runner = CliRunner()
    first = runner.invoke(app, ["deliveries", "run", "-w", str(ws.root)])
    assert first.exit_code == 1 and "5 failed" in first.output
    delivered = [c["profile_id"] for m in receiver.received for c in m["changes"]]
    quiet = runner.invoke(app, ["deliveries", "run", "-w", str(ws.root)])
    assert quiet.exit_code == 0 and "0 activated" in quiet.output  # dead letters wait for `retry`
    retried = runner.invoke(app, ["deliveries", "retry", "hook", "-w", str(ws.root)])
    assert retried.exit_code == 0 and "5 dead-lettered change(s) released" in retried.output
    again = [c["profile_id"] for m in receiver.received for c in m["changes"]]
    assert len(again) == len(set(again)) == len(delivered) + 5
    listed = runner.invoke(app, ["deliveries", "list", "-w", str(ws.root)])
    assert listed.output.count("hook") == 3
    shown = runner.invoke(app, ["deliveries", "show", "1", "--receipts", "-w", str(ws.root)])
    assert "failed" in shown.output and "HTTP 500" in shown.output


def test_run_killed_mid_delivery_is_settled_without_sending_twice(tmp_path: Path, evaluated_lake: Path,
                                                                  marketo: MarketoServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", marketo.client_secret)
    ws = evaluated_workspace(tmp_path, evaluated_lake, [marketo_destination(marketo)])
    env = dict(os.environ)
    exe = Path(sys.executable).with_name("accord")
    proc = subprocess.Popen([str(exe), "deliveries", "run", "-w", str(ws.root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def kill_after_first_add(method: str, path: str) -> None:
        if method == "POST" and path.endswith("/leads.json") and "/lists/" in path:
            os.kill(proc.pid, signal.SIGKILL)  # the add is applied; the process dies before it hears back

    marketo.on_call = kill_after_first_add
    proc.wait(timeout=60)
    marketo.on_call = None
    assert proc.returncode == -signal.SIGKILL
    with ws.lake() as lake:
        assert lake.scalar("SELECT count(*) FROM delivery_in_flight") > 0
        assert lake.scalar("SELECT status FROM delivery_runs WHERE run_id = 1") == "running"
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        assert lake.scalar("SELECT status FROM delivery_runs WHERE run_id = 1") == "interrupted", "settled, not open"
        wanted = expected_leads(lake, marketo)
        assert lake.scalar("SELECT count(*) FROM delivery_in_flight") == 0
        assert lake.scalar("SELECT count(*) FROM destination_members WHERE destination_key IS NULL") == 0
    assert report.settled > 0 and report.activated == report.settled
    assert on_list(marketo, f"{ws.config.name} · {AUDIENCE}") == wanted
    assert set(marketo.list_adds.values()) == {1} and marketo.lead_writes == []


def test_file_export_to_s3_through_fsspec(tmp_path: Path, evaluated_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An s3:// URL against a local moto server: the same atomic parts and manifest as a local folder."""
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="audiences")
        ws = evaluated_workspace(tmp_path, evaluated_lake, [{"type": "file", "name": "s3", "url": "s3://audiences/accord",
                                                    "audiences": [AUDIENCE], "storage_options": {"endpoint_url": endpoint}}])
        with ws.lake() as lake:
            report = deliver(ws, lake, ws.config.destinations[0])
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="audiences")["Contents"])
        manifest = json.loads(s3.get_object(Bucket="audiences", Key=keys[0].rsplit("/", 1)[0] + "/manifest.json")["Body"].read())
    finally:
        server.stop()
    assert [k.rsplit("/", 1)[1] for k in keys] == ["manifest.json", "part-00001.csv"]
    assert manifest["rows"] == report.total("activated") > 0


def test_two_workspaces_share_one_marketo_instance_without_touching_each_other(
        tmp_path: Path, evaluated_lake: Path, marketo: MarketoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", marketo.client_secret)
    first = evaluated_workspace(tmp_path / "a", evaluated_lake, [marketo_destination(marketo)])
    second = evaluated_workspace(tmp_path / "b", evaluated_lake, [marketo_destination(marketo)])
    (second.root / "accord.yaml").write_text((second.root / "accord.yaml").read_text().replace(
        "\nname: ws\n", "\nname: emea-team\n"))
    second = Workspace.load(second.root)
    for ws in (first, second):
        with ws.lake() as lake:
            deliver(ws, lake, ws.config.destinations[0])
    mine, theirs = f"{first.config.name} · {AUDIENCE}", f"{second.config.name} · {AUDIENCE}"
    assert mine != theirs and on_list(marketo, mine) == on_list(marketo, theirs) != set()
    with first.lake() as lake:
        lake.execute("UPDATE audience_membership SET status = 'exited' WHERE audience = ?", [AUDIENCE])
        assert deliver(first, lake, first.config.destinations[0]).total("removed") > 0
    assert on_list(marketo, mine) == set() and on_list(marketo, theirs) != set()


def test_missing_static_list_fails_the_run_visibly(tmp_path: Path, evaluated_lake: Path, marketo: MarketoServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", marketo.client_secret)
    ws = evaluated_workspace(tmp_path, evaluated_lake, [marketo_destination(marketo, folder_id=None)])
    result = CliRunner().invoke(app, ["deliveries", "run", "-w", str(ws.root)])
    assert result.exit_code == 1 and "has no static list" in result.output
    with ws.lake() as lake:
        run = lake.query("SELECT status, failed FROM delivery_runs")[0]
        dead = lake.scalar("SELECT count(*) FROM delivery_dead_letters")
    assert run["failed"] == dead > 0 and marketo.lead_writes == []


class _Overlapping:
    """A destination taking batches of 5, four at a time: it notes how many calls overlap, and refuses each batch's
    first member once (retryable), so retries run while other batches are in flight."""

    def __init__(self) -> None:
        from accord.activation.destination import Capabilities

        self.capabilities = Capabilities(needs=("email",), batch_size=5, concurrent_batches=4)
        self.on, self.refused, self.in_flight, self.most = set(), set(), 0, 0
        self._lock = threading.Lock()

    def _call(self, members: list[Any], status: str) -> list[Any]:
        from accord.activation.destination import Outcome

        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        threading.Event().wait(0.02)
        outcomes = []
        with self._lock:
            self.in_flight -= 1
            for member in members:
                if member.profile_id == members[0].profile_id and member.profile_id not in self.refused:
                    self.refused.add(member.profile_id)
                    outcomes.append(Outcome(member.profile_id, "failed", "busy", retry=True))
                    continue
                (self.on.add if status == "added" else self.on.discard)(member.profile_id)
                outcomes.append(Outcome(member.profile_id, status, key=member.profile_id))
        return outcomes

    def add(self, audience: str, members: list[Any]) -> list[Any]:
        return self._call(members, "added")

    def remove(self, audience: str, members: list[Any]) -> list[Any]:
        return self._call(members, "removed")

    def reached(self, audience: str, members: list[Any], change: str, run_id: int) -> dict[str, str | None]:
        return {}

    def finish(self, audience: str, run_id: int, snapshot: list[Any]) -> None:
        return None

    def close(self) -> None:
        return None


def test_batches_sent_together_are_each_recorded_once(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "together", "url": "out", "audiences": [AUDIENCE], "backoff_seconds": 0.01}])
    config, destination = ws.config.destinations[0], _Overlapping()
    with ws.lake() as lake:
        report = deliver(ws, lake, config, destination=destination).audiences[0]
        acked = {r[0] for r in lake.execute("SELECT profile_id FROM destination_members").fetchall()}
        receipts = lake.execute("SELECT outcome, count(*), count(DISTINCT profile_id) FROM delivery_receipts "
                                "GROUP BY 1").fetchall()
        assert not lake.scalar("SELECT count(*) FROM delivery_in_flight")
    assert destination.most > 1, "batches were sent one at a time"
    assert report.activated == len(destination.on) == len(acked) > 10 and acked == destination.on
    added = {outcome: (n, distinct) for outcome, n, distinct in receipts}["added"]
    assert added == (report.activated, report.activated), "one receipt per member sent, none twice"


ACCOUNTS = "Accounts with 3+ people who clicked an email in 14 days"


def test_an_account_audience_is_refused_where_only_people_go(tmp_path: Path, evaluated_lake: Path,
                                                              marketo: MarketoServer) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [marketo_destination(marketo, audiences=[AUDIENCE, "Fresh"])])
    from accord.activation.destination import AudienceKindMismatch
    from accord.audiences.text import parse_audience
    from accord.services.audiences import save
    from accord.workspace import WorkspaceError

    fresh = parse_audience('audience "Fresh" of account\nwhere industry = "Software"')
    with pytest.raises(AudienceKindMismatch, match="takes person audiences only; 'Fresh' is an account audience: "
                                                   r"send it to a destination that takes those \((.*)\)") as refused:
        save(ws, fresh)
    able = set(re.findall(r"\(([^()]*)\)", str(refused.value))[-1].split(", "))
    assert {"file", "webhook"} <= able and not able & {"marketo", "google_ads"}
    assert not (ws.root / "audiences" / "fresh.aud").exists()
    listed = yaml_config(ws) | {"destinations": [marketo_destination(marketo, audiences=[AUDIENCE, ACCOUNTS])]}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(listed))
    with pytest.raises(WorkspaceError, match=re.escape(f"'{ACCOUNTS}' is an account audience")):
        Workspace.load(ws.root)
    refused = CliRunner().invoke(app, ["deliveries", "list", "-w", str(ws.root)], env={"COLUMNS": "300"})
    assert refused.exit_code == 1 and "is an account audience" in refused.output
    assert "Traceback" not in refused.output


def yaml_config(ws: Workspace) -> dict[str, Any]:
    return yaml.safe_load((ws.root / "accord.yaml").read_text())


def test_an_audience_the_sandbox_does_not_hold_is_not_sent_and_the_others_are(tmp_path: Path,
                                                                            evaluated_lake: Path) -> None:
    """A name mistyped in accord.yaml (or an audience whose file was removed) stopped the destination's whole run."""
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "files", "url": "out", "audiences": ["Webinar atendees", AUDIENCE]}])
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0])
        by_name = {a.audience: a for a in report.audiences}
        missing, sent = by_name["Webinar atendees"], by_name[AUDIENCE]
        assert sent.activated > 0 and not sent.blocked and missing.activated == 0
        assert missing.blocked and "has evaluated no audience of that name" in missing.blocked
        assert report.problem and report.problem.startswith("Webinar atendees: not sent, sandbox 'prod'")
    done = CliRunner().invoke(app, ["deliveries", "run", "-w", str(ws.root)], env={"COLUMNS": "300"})
    assert done.exit_code == 1 and "Webinar atendees: not sent, sandbox 'prod' has evaluated no audience" in done.output


def test_a_field_no_profile_holds_is_refused_not_left_out_of_every_member(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "files", "url": "out", "audiences": [AUDIENCE], "fields": ["emial", "name"]}])
    done = CliRunner().invoke(app, ["deliveries", "run", "-w", str(ws.root)], env={"COLUMNS": "300"})
    assert done.exit_code == 1 and "destination 'files' sends field(s) 'emial' that no profile holds" in done.output
    assert not [p for p in (ws.root / "out").rglob("*") if p.is_file()]


def test_deliveries_check_reaches_each_destination_and_sends_no_member(
        tmp_path: Path, evaluated_lake: Path, marketo: MarketoServer, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", marketo.client_secret)
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        marketo_destination(marketo),
        marketo_destination(marketo, name="no-folder", folder_id=None),
        marketo_destination(marketo, name="down", endpoint="http://127.0.0.1:9"),  # nothing listens there
        {"type": "file", "name": "files", "url": "out", "audiences": [AUDIENCE]},
        {"type": "file", "name": "blocked", "url": "blocker/out", "audiences": [AUDIENCE]},
        {"type": "webhook", "name": "hook", "url": receiver.url, "secret": "env:HOOK_SECRET", "audiences": [AUDIENCE]},
    ])
    (ws.root / "blocker").write_text("a file where a folder should be")
    checked = CliRunner().invoke(app, ["deliveries", "check", "-w", str(ws.root)], env={"COLUMNS": "300"})
    lines = {line.split(":")[0]: line for line in checked.output.splitlines() if ":" in line}
    assert checked.exit_code == 1 and "Traceback" not in checked.output
    assert lines["mkto-lists"].endswith("ok (marketo): 0 static lists found, 1 to create")
    assert "failed" in lines["no-folder"] and "has no static list" in lines["no-folder"]
    assert "failed" in lines["down"] and "unreachable" in lines["down"], "one line, not a stray network error"
    assert lines["files"].endswith("ok (file): 1 writable folder")
    assert not [p for p in (ws.root / "out").rglob("*") if p.is_file()], "the probe file is removed"
    assert "failed" in lines["blocked"] and "cannot write to blocker/out" in lines["blocked"]
    assert lines["hook"].endswith("ok (webhook): 1 ping answered")
    assert [m["type"] for m in receiver.received] == ["ping"] and receiver.signatures_ok
    assert marketo.count("/rest/asset/v1/staticLists.json", "POST") == 0 and not marketo.list_adds
    with ws.lake() as lake:
        assert not lake.scalar("SELECT count(*) FROM delivery_runs")


def beside_a_held_run(ws: Workspace, store: Lake, receiver: Receiver, meanwhile: Any) -> list[Any]:
    """Run the workspace's first destination with its first request held at the receiver, and `meanwhile(lake)`
    on another handle of the store while it is held (a second or until it returns), as a command typed beside
    serve's worker; returns the run's report."""
    first_sent, go_on, reports = threading.Event(), threading.Event(), []
    handle = receiver.http.RequestHandlerClass.do_POST

    def held_first(self: BaseHTTPRequestHandler) -> None:
        if not first_sent.is_set():
            first_sent.set()
            go_on.wait(10)
        handle(self)

    def on_a_cursor(work: Any) -> threading.Thread:
        def run() -> None:
            with store.cursor() as lake:
                work(lake)
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    receiver.http.RequestHandlerClass.do_POST = held_first  # type: ignore[method-assign]
    worker = on_a_cursor(lambda lake: reports.append(deliver(ws, lake, ws.config.destinations[0], trigger="schedule")))
    assert first_sent.wait(10)
    beside = on_a_cursor(meanwhile)
    beside.join(1.0)  # what `meanwhile` does without waiting for the run, it does now
    go_on.set()
    worker.join(30), beside.join(30)
    return reports


def test_two_runs_of_one_destination_at_once_send_each_change_once(tmp_path: Path, evaluated_lake: Path,
                                                                    receiver: Receiver) -> None:
    """Under `serve`, a destination's worker and a run asked for by hand (UI, REST, a relayed command) can start
    together: the second must not take the first's changes in flight for a killed run's, nor send them again."""
    ws = evaluated_workspace(tmp_path, evaluated_lake, [hook(receiver, batch_size=5)])
    beside: list[Any] = []
    with ws.lake() as store:
        first = beside_a_held_run(ws, store, receiver,
                                  lambda lake: beside.append(deliver(ws, lake, ws.config.destinations[0])))
        receipts = store.execute("SELECT outcome, count(*), count(DISTINCT profile_id) FROM delivery_receipts "
                                 "GROUP BY 1").fetchall()
        acked = store.scalar("SELECT count(*) FROM destination_members")
    sent = [c["profile_id"] for m in receiver.received for c in m["changes"]]
    reports = first + beside
    assert len(reports) == 2 and not any(r.problem for r in reports)
    assert len(sent) == len(set(sent)) == acked > 5, "a change was sent twice"
    assert {o: (n, d) for o, n, d in receipts}["added"] == (acked, acked)


def test_a_retry_asked_for_during_a_run_retries_what_that_run_failed(tmp_path: Path, evaluated_lake: Path,
                                                                     receiver: Receiver) -> None:
    """`accord deliveries retry` while the destination's worker runs it (under serve): the retry takes its turn
    after the run, so the changes the run dead-lettered are released and sent, not left for another retry."""
    from accord.activation.run import retry

    ws = evaluated_workspace(tmp_path, evaluated_lake, [hook(receiver, batch_size=5, max_attempts=2)])
    receiver.statuses = [500, 500]  # the first batch fails twice: dead-lettered by the run
    retried: list[Any] = []
    with ws.lake() as store:
        beside_a_held_run(ws, store, receiver, lambda lake: retried.append(retry(ws, lake, ws.config.destinations[0])))
        dead = store.scalar("SELECT count(*) FROM delivery_dead_letters")
        acked = store.scalar("SELECT count(*) FROM destination_members")
    [(released, report)] = retried
    sent = {c["profile_id"] for m in receiver.received for c in m["changes"]}
    assert released == 5 and report.total("activated") == 5
    assert dead == 0 and len(sent) == acked > 5


def test_audiences_named_in_other_scripts_get_a_folder_each(tmp_path: Path, evaluated_lake: Path) -> None:
    """Names without a Latin letter all became the folder `audience`, where one run's files mixed two audiences."""
    from accord.services.audiences import run as evaluate_all

    names = {"ウェビナー参加者": 'seniority = "Executive"', "価格ページ閲覧者": 'seniority = "Director"'}
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "files", "url": "exports", "audiences": list(names)}])
    for i, (name, where) in enumerate(names.items()):
        (ws.root / "audiences" / f"other-script-{i}.aud").write_text(f'audience "{name}" of person\nwhere {where}\n')
    with ws.lake() as lake:
        sizes = {r.name: r.size for r in evaluate_all(ws, lake, list(names)).results}
        report = deliver(ws, lake, ws.config.destinations[0])
    assert report.total("activated") == sum(sizes.values()) and min(sizes.values()) > 0
    for name, size in sizes.items():
        manifests = list((ws.root / "exports" / "prod" / name).rglob("manifest.json"))
        assert len(manifests) == 1 and json.loads(manifests[0].read_text())["rows"] == size


def test_two_audiences_one_folder_would_hold_are_refused_in_one_file_destination(tmp_path: Path) -> None:
    from accord.workspace import WorkspaceError

    ws = Workspace.init(tmp_path / "ws")
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["destinations"] = [{"type": "file", "name": "files", "url": "out",
                               "audiences": ["Webinar attendees", "webinar-attendees"]}]
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(WorkspaceError, match="audiences 'Webinar attendees' and 'webinar-attendees' would share the "
                                             "folder 'webinar-attendees'"):
        Workspace.load(ws.root)


@pytest.mark.parametrize(("value", "written"), [
    ("=HYPERLINK(\"http://evil.example\",\"Click\")", "'=HYPERLINK(\"http://evil.example\",\"Click\")"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"), ("\t=1+1", "'\t=1+1"), ("=1+1", "'=1+1"),
    ("+1 (555) 010-0100", "+1 (555) 010-0100"), ("-5", "-5"), ("Jane", "Jane"), ("a=b", "a=b"), ("", ""),
])
@pytest.mark.parametrize("formulas", ["escape", "keep"])
def test_a_file_keeps_a_spreadsheet_from_running_a_value_as_a_formula(tmp_path: Path, value: str, written: str,
                                                                      formulas: str) -> None:
    """CSV injection: a first name typed into a web form reaches the marketer's spreadsheet."""
    config = FileDestinationConfig(name="f", url=str(tmp_path), audiences=["A"], fields=["first_name", "email"],
                                   formulas=formulas)
    destination = FileDestination(config, str(tmp_path))
    destination.finish("A", 1, [Member("p1", {"first_name": value, "email": "a@x.com"})])
    [part] = tmp_path.rglob("part-00001.csv")
    with part.open(newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["first_name"] == (written if formulas == "escape" else value)
    assert destination.erase(set(), frozenset({value.lower()})) == (1 if value.strip() else 0)


class EndlessReceiver:
    """A receiver on a raw socket that answers 200 and then never ends its body: a file's worth at once, or a
    byte every 50 ms (each within any client's wait for the next piece); or never ends its headers, sent a byte
    every 50 ms."""

    def __init__(self, drip: bool, headers: bool = False) -> None:
        import socket

        self.sent = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/hook"
        self._drip, self._headers = drip, headers
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import time

        connection, _ = self._server.accept()
        with connection:
            connection.recv(1 << 16)
            if self._headers:
                try:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while self.sent < 1 << 20:
                        connection.sendall(b"\r\nX-Slow: " if self.sent % 60 == 59 else b"X")
                        self.sent += 1
                        time.sleep(0.05)
                except OSError:
                    return  # the client hung up
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"1\r\nx\r\n" if self._drip else b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
            try:
                while self.sent < 4 << 30:
                    connection.sendall(chunk)
                    self.sent += 1 if self._drip else 0x100000
                    if self._drip:
                        time.sleep(0.05)
            except OSError:
                return  # the client hung up: what it should do


@pytest.mark.parametrize("drip", [False, True], ids=["a file", "a byte at a time"])
def test_a_receiver_that_never_ends_its_answer_holds_neither_the_delivery_nor_memory(
        drip: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx reads an answer whole and bounds only each wait: the check never returned, and with a file's worth
    the process held all of it. Now it reads 64 KiB at most, within the request's timeout."""
    from accord.connectors.webhook.config import WebhookDestinationConfig
    from accord.connectors.webhook.destination import WebhookDestination

    endless = EndlessReceiver(drip)
    destination = WebhookDestination(WebhookDestinationConfig(name="hook", url=endless.url, secret="env:HOOK_SECRET",
                                                              audiences=[AUDIENCE], timeout_seconds=1.0), "s3cret")
    answered: list[dict[str, int]] = []
    checking = threading.Thread(target=lambda: answered.append(destination.check()), daemon=True)
    checking.start()
    checking.join(timeout=30)
    assert answered == [{"ping answered": 1}], "the check came back, answered"
    assert endless.sent < (64 << 20 if not drip else 1 << 10), "the rest of the answer was never asked for"
    destination.close()


def test_a_receiver_that_never_ends_its_headers_is_cut_off_at_the_timeout() -> None:
    """Its headers a byte at a time, each within the wait for the next: the delivery waited as long as it sent."""
    from accord.connectors.errors import ConnectorError
    from accord.connectors.webhook.config import WebhookDestinationConfig
    from accord.connectors.webhook.destination import WebhookDestination

    endless = EndlessReceiver(drip=True, headers=True)
    destination = WebhookDestination(WebhookDestinationConfig(name="hook", url=endless.url, secret="env:HOOK_SECRET",
                                                              audiences=[AUDIENCE], timeout_seconds=1.0), "s3cret")
    failed: list[BaseException] = []

    def check() -> None:
        try:
            destination.check()
        except ConnectorError as err:
            failed.append(err)

    started = time.monotonic()
    checking = threading.Thread(target=check, daemon=True)
    checking.start()
    checking.join(timeout=30)
    assert not checking.is_alive() and time.monotonic() - started < 5, "cut off near the timeout"
    assert failed and failed[0].retryable and "no answer within 1 s" in str(failed[0])
    destination.close()


def test_a_hashed_field_that_is_not_written_is_refused() -> None:
    """`Email` for `email` would have left every address written in clear in a file meant to hold its hash."""
    with pytest.raises(ValueError, match="hash_fields 'Email' not among the fields written"):
        FileDestinationConfig(name="f", url="out", audiences=[AUDIENCE], fields=["email"], hash_fields=["Email"])


@pytest.mark.parametrize("field_names, said", [
    ({"Email": "E-mail"}, "field_names renames 'Email', which fields does not send"),  # would never apply
    ({"phone": "email"}, "two fields would be sent under one name ('email')"),  # phone numbers would replace e-mails
])
def test_field_names_that_never_apply_or_collide_are_refused(field_names: dict[str, str], said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        FileDestinationConfig(name="f", url="out", audiences=[AUDIENCE], fields=["email", "phone"],
                              field_names=field_names)


@pytest.mark.parametrize("name, said", [
    ("Marketo / EMEA", "may not hold / ? # % \\"),  # its page, run and retry were 404: the path split at the slash
    ("new", "'new' is the address of a page"),  # /destinations/new is the form for a new destination
    ("", "a destination needs a name"),
    (" EMEA", "begins or ends with a blank"),
])
def test_a_destination_no_page_could_be_found_by_is_refused(name: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        FileDestinationConfig(name=name, url="out", audiences=[AUDIENCE])
