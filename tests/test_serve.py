"""`accord serve` end to end over real HTTP on 127.0.0.1: auth, gzip, retries, refusals, and a hard crash."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from typer.testing import CliRunner

from accord.api.app import create_app
from accord.cli import app
from accord.profiles.lookup import get_person
from accord.testing.http import LocalServer
from accord.workspace import Workspace
from tests.test_collector import BATCH
from tests.test_collector import BATCH as BATCH_AT_T

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path, ingest_every: float = 0.2, *options: str) -> None:
        self.folder = folder
        exe = Path(sys.executable).with_name("accord")
        # Without the edge unless asked for: its port (this one + 1) may be another test's.
        edge = [] if any(option.startswith("--edge") for option in options) else ["--no-edge"]
        said: list[str] = []
        for _ in range(3):  # a port found free may be taken by another test's server before this one binds it
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.proc = subprocess.Popen(
                [str(exe), "serve", "--port", str(self.port), "--ingest-every", str(ingest_every), *edge,
                 "-w", str(folder), *options],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            said.clear()
            if self._bound(said):
                break
            self.proc.wait(timeout=30)
        for _ in range(200):
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"server did not start: {''.join(said)}{self.proc.stdout.read().decode()}")

    def _bound(self, said: list[str]) -> bool:
        """Whether the server says it serves (once its port is bound: a /health answered before that may be
        another server's), or else exits (its port taken); what it printed meanwhile is kept in `said`."""
        while line := self.proc.stdout.readline().decode():
            said.append(line)
            if line.startswith("serving workspace"):
                return True
        return False

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)

    def crash(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def workspace(tmp_path) -> tuple[Path, str]:
    folder = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    result = runner.invoke(app, ["keys", "create", "write", "-w", str(folder)])
    assert result.exit_code == 0, result.output
    return folder, result.stdout.strip().splitlines()[0]


RECENT_VISITORS = ('audience "Recent visitors" of person\n'
                   'where any event (event_type = "web.pageview" in last 30 days)\n')


def recent(messages: list[dict]) -> list[dict]:
    """The test batch, happening now (a streaming window is relative to the present)."""
    stamp = datetime.now(timezone.utc).isoformat()
    return [{**m, "timestamp": stamp} for m in messages]


def test_collector_over_http(workspace) -> None:
    folder, key = workspace
    (folder / "audiences" / "visitors.aud").write_text(RECENT_VISITORS)
    BATCH = recent(BATCH_AT_T)
    server = Server(folder)
    try:
        sent = {"batch": BATCH, "sentAt": BATCH[0]["timestamp"]}
        plain = httpx.post(f"{server.url}/v1/batch", json=sent, auth=(key, ""))
        assert plain.status_code == 200 and plain.json() == {"success": True}
        again = httpx.post(f"{server.url}/v1/batch", json={"batch": BATCH}, auth=(key, ""))  # a retry
        assert again.status_code == 200
        body = gzip.compress(json.dumps({"batch": [{**BATCH[3], "messageId": "m6"}], "writeKey": key}).encode())
        zipped = httpx.post(f"{server.url}/v1/batch", content=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        assert zipped.status_code == 200
        single = httpx.post(f"{server.url}/v1/track", json={**BATCH[3], "messageId": "m7"}, auth=(key, ""))
        assert single.status_code == 200
        wrong = httpx.post(f"{server.url}/v1/batch", json={"batch": BATCH}, auth=("wk_nope", ""))
        assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
        missing = httpx.post(f"{server.url}/v1/batch", json={"batch": BATCH})
        assert missing.status_code == 401
        half_bad = {"batch": [{**BATCH[3], "messageId": "m8"}, {"type": "track", "userId": "u1"}]}
        bad = httpx.post(f"{server.url}/v1/batch", json=half_bad, auth=(key, ""))
        assert bad.status_code == 400 and "needs an event name" in bad.json()["message"]
        garbled = httpx.post(f"{server.url}/v1/batch", content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}, auth=(key, ""))
        assert garbled.status_code == 400
        wrong_path = httpx.post(f"{server.url}/v1/track", json={**BATCH[1]}, auth=(key, ""))
        assert wrong_path.status_code == 400
        for path in ("/v1/batch", "/api/v1/audiences"):  # refused by size before any key is looked at
            huge = httpx.post(f"{server.url}{path}", content=b"x" * (5 << 20))
            assert huge.status_code == 413 and huge.json()["code"] == "too_large"
        log = health_when(server, lambda health: not health["collector"]["behind"])["collector"]
        assert log["segments"] == 1 and log["written"] == log["loaded"] == log["bytes_on_disk"] > 0 == log["behind"]
    finally:
        server.stop()
    with Workspace.load(folder).lake() as lake:
        events = {r["source_id"] for r in lake.query("SELECT source_id FROM event_current")}
        assert events == {"m1", "m4", "m6", "m7"}, "retries add nothing; the refused batch added nothing"
        jane = get_person(lake, "email:jane@acme.com")
        assert jane.accounts and jane.accounts[0]["name"] == "Acme Inc"
        members = lake.query("SELECT profile_id, status FROM audience_membership WHERE audience = 'Recent visitors'")
        assert members == [{"profile_id": jane.person_id, "status": "realized"}], "streamed in, no batch run needed"


def test_a_page_view_is_decided_live_before_the_lake_cycle(workspace) -> None:
    folder, key = workspace
    (folder / "audiences" / "visitors.aud").write_text(RECENT_VISITORS)
    application = create_app(Workspace.load(folder), ingest_every=600)  # the lake's cycle: at start, then at stop
    decided: list = []
    application.state.accord.bus.subscribe(decided.extend)
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        page = recent([{"type": "page", "userId": "v1", "messageId": "p1", "properties": {"url": "https://x.io/"}}])
        assert httpx.post(f"http://127.0.0.1:{server.config.port}/v1/batch", json={"batch": page}, auth=(key, "")).status_code == 200
        for _ in range(100):
            if decided:
                break
            time.sleep(0.05)
        assert [(c.audience, c.status) for c in decided] == [("Recent visitors", "realized")]
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    with Workspace.load(folder).lake() as lake:
        [(owner,)] = lake.execute("SELECT profile_id FROM identity_nodes WHERE namespace = 'user_id' AND value = 'v1'").fetchall()
        assert owner == decided[0].profile_id, "the identity run kept the id the live path announced"
        members = lake.query("SELECT profile_id, status FROM audience_membership WHERE audience = 'Recent visitors'")
        assert members == [{"profile_id": owner, "status": "realized"}]


def test_nothing_accepted_is_lost_in_a_crash(workspace) -> None:
    folder, key = workspace
    server = Server(folder)
    accepted = []
    for i in range(30):
        message = {**BATCH[3], "messageId": f"c{i}"}
        if httpx.post(f"{server.url}/v1/batch", json={"batch": [message]}, auth=(key, "")).status_code == 200:
            accepted.append(f"c{i}")
    server.crash()  # SIGKILL right after the last 200
    server = Server(folder)
    server.stop()
    with Workspace.load(folder).lake() as lake:
        stored = {r["source_id"] for r in lake.query("SELECT source_id FROM event_current")}
    assert len(accepted) == 30 and set(accepted) <= stored


class Stuck(LocalServer):
    """A system that takes every call and answers none until released, then refuses the credentials."""

    def __init__(self) -> None:
        super().__init__()
        self.released, self.calls = threading.Event(), 0

    def handle(self, method: str, path: str, query: dict, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
        self.calls += 1
        self.released.wait(120)
        return 401, {"Content-Type": "application/json"}, b'{"error": "unauthorized"}'


def test_serve_syncs_marketo_sources_and_profiles_their_people(tmp_path, tiny_world) -> None:
    """Beside an instance that answers nothing (listed first): it holds up only itself."""
    from accord.connectors.marketo.data import MarketoData
    from accord.connectors.marketo.server import Limits, MarketoServer

    with MarketoServer(MarketoData.from_folder(tiny_world / "marketo"), limits=Limits(bulk_seconds=0.01)) as mkto, \
            Stuck() as stuck:
        folder = tmp_path / "ws"
        Workspace.init(folder)
        (folder / "mkto.secret").write_text(mkto.client_secret)
        config = yaml.safe_load((folder / "accord.yaml").read_text())
        source = {"type": "marketo", "name": "mkto", **mkto.connection("file:mkto.secret"),
                  "backfill_since": "2026-09-01", "bulk_poll_seconds": 0.02, "sync_every_seconds": 5}
        config["sources"] = [{**source, "name": "stuck", "munchkin_id": "999-ZZZ-999", "endpoint": stuck.endpoint},
                             source]
        (folder / "accord.yaml").write_text(yaml.safe_dump(config))
        server = Server(folder)
        try:
            for _ in range(300):
                sources = httpx.get(f"{server.url}/health").json()["sources"]
                if sources.get("mkto", {}).get("last_sync"):
                    break
                time.sleep(0.1)
            assert sources["mkto"]["error"] is None and sources["mkto"]["loaded"] > 0
            assert sources["stuck"] == {"type": "marketo", "last_sync": None, "error": None} and stuck.calls == 1
            time.sleep(1.0)  # one worker cycle to stitch what the sync loaded
        finally:
            stuck.released.set()
            server.stop()
    with Workspace.load(folder).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM person_profile") > 0
        assert lake.scalar("SELECT count(DISTINCT source_instance_id) FROM person") == 1


def with_webhook(folder: Path, audience: str, fields: tuple[str, ...] = ("email",)):
    """The audience's file, and a streaming webhook destination for it to a local receiver (returned), sending
    `fields`."""
    (folder / "audiences" / "hooked.aud").write_text(audience)
    return hooked_to(folder, [audience.split('"')[1]], fields)


def hooked_to(folder: Path, audiences: list[str], fields: tuple[str, ...]):
    """A streaming webhook destination of `audiences` to a local receiver (returned), sending `fields`."""
    from tests.test_activation import Receiver

    (folder / "hook.secret").write_text("hook-secret")
    receiver = Receiver("hook-secret")
    config = yaml.safe_load((folder / "accord.yaml").read_text())
    config["destinations"] = [{"type": "webhook", "name": "hook", "url": receiver.url, "secret": "file:hook.secret",
                               "audiences": audiences, "fields": list(fields)}]
    (folder / "accord.yaml").write_text(yaml.safe_dump(config))
    return receiver


def test_event_to_streaming_audience_to_signed_webhook(workspace, monkeypatch) -> None:
    folder, key = workspace
    receiver = with_webhook(folder, RECENT_VISITORS)
    server = Server(folder)
    try:
        sent = time.monotonic()
        batch = recent(BATCH_AT_T)
        assert httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, auth=(key, "")).status_code == 200
        while not receiver.received and time.monotonic() - sent < 30:
            time.sleep(0.01)
        latency = time.monotonic() - sent
        health = httpx.get(f"{server.url}/health").json()
    finally:
        server.stop()
        receiver.close()
    assert receiver.received, json.dumps(health, default=str)
    message = receiver.received[0]
    assert receiver.signatures_ok and message["audience"] == "Recent visitors" and message["status"] == "realized"
    assert message["identities"]["email"].lower() == "jane@acme.com"
    print(f"event → webhook latency {latency * 1000:.0f} ms")


def test_a_known_persons_change_reaches_a_streaming_webhook_before_the_lakes_cycle(workspace) -> None:
    """The live path's decision is delivered at once; the lake's cycle (8 s apart here) records it later."""
    folder, key = workspace
    receiver = with_webhook(folder, 'audience "Pricing readers" of person\nwhere any event (event_type = '
                                    '"web.pageview" and url contains "/pricing" in last 30 days)\n')
    server = Server(folder, ingest_every=8)
    try:
        known = recent([{"type": "identify", "userId": "u9", "traits": {"email": "kim@acme.com"}, "messageId": "k1"},
                        {"type": "page", "userId": "u9", "messageId": "k2", "properties": {"url": "https://acme.com/"}}])
        assert httpx.post(f"{server.url}/v1/batch", json={"batch": known}, auth=(key, "")).status_code == 200
        deadline = time.monotonic() + 30
        while "profiles" not in httpx.get(f"{server.url}/health").json()["stages"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the lake's cycle made Kim a known profile
        sent_at = datetime.now(timezone.utc)
        sent = time.monotonic()
        pricing = recent([{"type": "page", "userId": "u9", "messageId": "k3",
                           "properties": {"url": "https://acme.com/pricing"}}])
        assert httpx.post(f"{server.url}/v1/batch", json={"batch": pricing}, auth=(key, "")).status_code == 200
        while not receiver.received and time.monotonic() - sent < 30:
            time.sleep(0.01)
        latency = time.monotonic() - sent
        cycles = httpx.get(f"{server.url}/health").json()["stages"]
    finally:
        server.stop()
        receiver.close()
    assert receiver.received and receiver.received[0]["identities"]["email"] == "kim@acme.com"
    assert receiver.received[0]["status"] == "realized" and receiver.signatures_ok
    assert datetime.fromisoformat(cycles["collector"]["started_at"]) < sent_at, "no cycle loaded the event first"
    assert latency < 2.0, f"delivered {latency * 1000:.0f} ms after the event"
    with Workspace.load(folder).lake() as lake:
        receipts = lake.query("SELECT outcome FROM delivery_receipts WHERE destination = 'hook'")
        members = lake.query("SELECT status FROM audience_membership WHERE audience = 'Pricing readers'")
    assert receipts == [{"outcome": "added"}] and members == [{"status": "realized"}], "one receipt, and recorded"


def test_a_new_persons_visit_reaches_a_streaming_webhook_before_the_lake_holds_them(workspace) -> None:
    """Someone never seen before is delivered as the lake will build them, not a cycle (8 s here) later; one whose
    consent refuses marketing is kept back with a receipt saying why."""
    folder, key = workspace
    receiver = with_webhook(folder, RECENT_VISITORS,
                            fields=("user_id",))
    server = Server(folder, ingest_every=8)
    try:
        time.sleep(1)  # the first cycle, at start, is over
        refused = {"consent": {"categoryPreferences": {"Marketing": False, "Analytics": True}}}
        visits = recent([{"type": "page", "userId": "new-1", "messageId": "n1", "properties": {"url": "https://acme.com/"}},
                         {"type": "page", "userId": "new-2", "messageId": "n2", "properties": {"url": "https://acme.com/"},
                          "context": refused}])
        sent_at = datetime.now(timezone.utc)
        sent = time.monotonic()
        assert httpx.post(f"{server.url}/v1/batch", json={"batch": visits}, auth=(key, "")).status_code == 200
        while not receiver.received and time.monotonic() - sent < 30:
            time.sleep(0.01)
        latency = time.monotonic() - sent
        cycles = httpx.get(f"{server.url}/health").json()["stages"]
        time.sleep(0.5)  # nothing more arrives: the refusing visitor stays back
    finally:
        server.stop()
        receiver.close()
    assert [(m["identities"], m["status"]) for m in receiver.received] == [({"user_id": "new-1"}, "realized")]
    assert receiver.signatures_ok
    assert "collector" not in cycles or datetime.fromisoformat(cycles["collector"]["started_at"]) < sent_at, \
        "a cycle loaded the visit first"
    assert latency < 2.0, f"delivered {latency * 1000:.0f} ms after the event"
    with Workspace.load(folder).lake() as lake:
        receipts = lake.query("SELECT p.user_id, r.outcome, r.reason FROM delivery_receipts r "
                              "JOIN person_profile p ON p.person_id = r.profile_id ORDER BY 1, 2")
    assert receipts[0] == {"user_id": "new-1", "outcome": "added", "reason": None}, "one receipt, for its profile"
    assert {(r["user_id"], r["outcome"], r["reason"]) for r in receipts[1:]} == {
        ("new-2", "excluded", "consent:marketing.any")}


def test_a_new_visitor_sent_live_then_merged_by_the_lake_is_removed_again(workspace) -> None:
    """An anonymous visitor is sent at once as a new person; the lake's cycle then finds they are Kim (an identify
    links them), so one of the two profiles ends: the destination is told, is sent the profile that stayed with
    both ids, and holds one profile for Kim."""
    folder, key = workspace
    receiver = with_webhook(folder, RECENT_VISITORS,
                            fields=("user_id", "anonymous_id"))
    server = Server(folder, ingest_every=4)
    try:
        kim = recent([{"type": "identify", "userId": "u9", "traits": {"email": "kim@acme.com"}, "messageId": "k1"},
                      {"type": "page", "userId": "u9", "messageId": "k2", "properties": {"url": "https://acme.com/"}}])
        assert httpx.post(f"{server.url}/v1/batch", json={"batch": kim}, auth=(key, "")).status_code == 200
        deadline = time.monotonic() + 30
        while len(receiver.received) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        visit = recent([{"type": "page", "anonymousId": "a-new", "messageId": "v1",
                         "properties": {"url": "https://acme.com/pricing"}}])
        assert httpx.post(f"{server.url}/v1/batch", json={"batch": visit}, auth=(key, "")).status_code == 200
        while len(receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        linked = recent([{"type": "identify", "anonymousId": "a-new", "userId": "u9", "messageId": "v2"}])
        assert httpx.post(f"{server.url}/v1/batch", json={"batch": linked}, auth=(key, "")).status_code == 200
        while len(receiver.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
        receiver.close()
    kim_id, visitor_id = (m["profile_id"] for m in receiver.received[:2])
    assert [(m["status"], m["identities"]) for m in receiver.received[:2]] == [
        ("realized", {"user_id": "u9"}), ("realized", {"anonymous_id": "a-new"})]
    assert len(receiver.received) == 4, json.dumps(receiver.received, indent=1)
    told = {m["status"]: m for m in receiver.received[2:]}
    ended = told["exited"]["profile_id"]
    assert ended in (kim_id, visitor_id) and receiver.signatures_ok
    assert (told["updated"]["profile_id"], told["updated"]["identities"]) == (
        ({kim_id, visitor_id} - {ended}).pop(), {"user_id": "u9", "anonymous_id": "a-new"})
    with Workspace.load(folder).lake() as lake:
        held = [r["profile_id"] for r in lake.query("SELECT profile_id FROM destination_members WHERE destination = 'hook'")]
        [kept] = [r["person_id"] for r in lake.query("SELECT person_id FROM person_profile WHERE user_id = 'u9'")]
    assert held == [kept] and kept != ended, "the destination holds Kim once, under the profile that stayed"


def known_visit(user: str, email: str, ids: str) -> list[dict]:
    """A known person's visit: an identify with their e-mail, then a page (message ids `<ids>1`, `<ids>2`)."""
    return recent([{"type": "identify", "userId": user, "traits": {"email": email}, "messageId": f"{ids}1"},
                   {"type": "page", "userId": user, "messageId": f"{ids}2", "properties": {"url": "https://acme.com/"}}])


def told_after(server: Server, key: str, receiver, messages: list[dict], told: int) -> float:
    """Seconds from posting `messages` to the collector until the webhook has been told `told` changes in all."""
    sent = time.monotonic()
    assert httpx.post(f"{server.url}/v1/batch", json={"batch": messages}, auth=(key, "")).status_code == 200
    while len(receiver.received) < told and time.monotonic() - sent < 30:
        time.sleep(0.02)
    return time.monotonic() - sent


def test_a_consent_withdrawal_reaches_a_streaming_webhook_as_a_removal_within_seconds(workspace) -> None:
    """The person stays in the audience; their consent (Segment consent spec, from a CMP) now refuses marketing, so
    the webhook holding them is told they left."""
    folder, key = workspace
    receiver = with_webhook(folder, RECENT_VISITORS)
    server = Server(folder)
    try:
        told_after(server, key, receiver, known_visit("u7", "lee@acme.com", "c"), 1)
        withdrawn = recent([{"type": "track", "event": "Segment Consent Preference Updated", "userId": "u7",
                             "messageId": "c3", "context": {"consent": {"categoryPreferences": {
                                 "Marketing": False, "Analytics": True}}}}])
        latency = told_after(server, key, receiver, withdrawn, 2)
    finally:
        server.stop()
        receiver.close()
    assert [m["status"] for m in receiver.received] == ["realized", "exited"], receiver.received
    assert receiver.received[1]["profile_id"] == receiver.received[0]["profile_id"] and receiver.signatures_ok
    assert latency < 5.0, f"the removal arrived {latency:.1f} s after the withdrawal"
    with Workspace.load(folder).lake() as lake:
        member = lake.scalar("SELECT status FROM audience_membership WHERE audience = 'Recent visitors'")
        reason = lake.scalar("SELECT reason FROM delivery_receipts WHERE outcome = 'removed'")
    assert member in ("realized", "existing"), "still in the audience: only the consent changed"
    print(f"withdrawal → removal {latency * 1000:.0f} ms ({reason})")


def test_a_new_email_reaches_a_streaming_webhook_holding_the_person_as_an_update(workspace) -> None:
    """The person stays in the audience; an identify gives them another e-mail: the webhook holding them is sent
    the person as they are now (`updated`), within a serving cycle, and nothing else."""
    folder, key = workspace
    receiver = with_webhook(folder, RECENT_VISITORS)
    server = Server(folder)
    try:
        told_after(server, key, receiver, known_visit("u8", "ray@acme.com", "e"), 1)
        moved = recent([{"type": "identify", "userId": "u8", "traits": {"email": "ray@elsewhere.io"},
                         "messageId": "e3"}])
        latency = told_after(server, key, receiver, moved, 2)
        time.sleep(1.0)  # a cycle more: nothing else is sent
    finally:
        server.stop()
        receiver.close()
    told = [(m["status"], m["identities"]) for m in receiver.received]
    assert told == [("realized", {"email": "ray@acme.com"}), ("updated", {"email": "ray@elsewhere.io"})], told
    assert receiver.received[1]["profile_id"] == receiver.received[0]["profile_id"] and receiver.signatures_ok
    assert latency < 5.0, f"the update arrived {latency:.1f} s after the identify"
    print(f"new e-mail → update {latency * 1000:.0f} ms")

def health_when(server: Server, holds, seconds: float = 30) -> dict:
    """/health once `holds(health)`, or as it is when `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        health = httpx.get(f"{server.url}/health").json()
        if holds(health) or time.monotonic() > deadline:
            return health
        time.sleep(0.2)


def test_a_destination_added_to_accord_yaml_by_hand_is_taken_up_while_serving(workspace) -> None:
    """serve read accord.yaml once: a webhook added by hand was never sent to, and nothing said so."""
    folder, key = workspace
    (folder / "audiences" / "hooked.aud").write_text(RECENT_VISITORS)
    server = Server(folder)
    receiver = None
    try:
        receiver = with_webhook(folder, (folder / "audiences" / "hooked.aud").read_text())
        config = yaml.safe_load((folder / "accord.yaml").read_text())
        config["identity"]["max_identities"] = 20
        (folder / "accord.yaml").write_text(yaml.safe_dump(config))
        health = health_when(server, lambda h: h["config"])
        assert health["config"]["taken_up"] == ["destinations"], health
        assert health["config"]["restart_to_apply"] == ["identity"] and health["ok"]
        sent = time.monotonic()
        posted = httpx.post(f"{server.url}/v1/batch", json={"batch": recent(BATCH_AT_T)}, auth=(key, ""))
        assert posted.status_code == 200
        while not receiver.received and time.monotonic() - sent < 30:
            time.sleep(0.05)
        assert receiver.received and receiver.received[0]["audience"] == "Recent visitors"
        (folder / "accord.yaml").write_text("destinations: [\n")
        health = health_when(server, lambda h: h["config"].get("error"))
        assert not health["ok"] and "serving goes on with the settings read before" in health["config"]["error"]
    finally:
        server.stop()
        if receiver:
            receiver.close()


def test_a_source_added_to_accord_yaml_while_serving_is_synced_and_stops_when_paused(tmp_path, tiny_world) -> None:
    """serve read its sources once: a Marketo instance added to accord.yaml waited for a restart."""
    from accord.connectors.marketo.data import MarketoData
    from accord.connectors.marketo.server import Limits, MarketoServer

    with MarketoServer(MarketoData.from_folder(tiny_world / "marketo"), limits=Limits(bulk_seconds=0.01)) as mkto:
        folder = tmp_path / "ws"
        Workspace.init(folder)
        (folder / "mkto.secret").write_text(mkto.client_secret)
        server = Server(folder)
        try:
            time.sleep(1.5)  # the served copy's worker has looked at the new store
            assert httpx.get(f"{server.url}/health").json()["profiles"].get("error") is None, "no profiles yet is no fault"
            config = yaml.safe_load((folder / "accord.yaml").read_text())
            config["sources"] = [{"type": "marketo", "name": "mkto", **mkto.connection("file:mkto.secret"),
                                  "backfill_since": "2026-09-01", "bulk_poll_seconds": 0.02, "sync_every_seconds": 5}]
            (folder / "accord.yaml").write_text(yaml.safe_dump(config))
            health = health_when(server, lambda h: h["sources"].get("mkto", {}).get("last_sync"), 120)
            assert health["config"]["taken_up"] == ["sources"] and health["config"]["restart_to_apply"] == []
            assert health["sources"]["mkto"]["error"] is None and health["sources"]["mkto"]["loaded"] > 0
            config["sources"][0]["paused"] = True
            (folder / "accord.yaml").write_text(yaml.safe_dump(config))
            health = health_when(server, lambda h: "mkto" not in h["sources"], 60)
            assert "mkto" not in health["sources"], health["sources"]
            calls = len(mkto.calls)
            time.sleep(6)  # past the source's interval: a paused source is called no more
            assert len(mkto.calls) == calls
        finally:
            server.stop()


def test_a_destination_turned_streaming_while_serving_streams(workspace) -> None:
    """A worker kept the schedule it started with: a cron destination made streaming (in the web UI or
    accord.yaml) stayed on its cron until serve restarted."""
    folder, key = workspace
    receiver = with_webhook(folder, RECENT_VISITORS)
    config = yaml.safe_load((folder / "accord.yaml").read_text())
    config["destinations"][0]["schedule"] = "0 0 1 1 *"
    (folder / "accord.yaml").write_text(yaml.safe_dump(config))
    server = Server(folder)
    try:
        config["destinations"][0]["schedule"] = "streaming"
        (folder / "accord.yaml").write_text(yaml.safe_dump(config))
        health_when(server, lambda h: h["config"])
        posted = httpx.post(f"{server.url}/v1/batch", json={"batch": recent(BATCH_AT_T)}, auth=(key, ""))
        assert posted.status_code == 200
        sent = time.monotonic()
        while not receiver.received and time.monotonic() - sent < 30:
            time.sleep(0.05)
        said = httpx.get(f"{server.url}/health").text
        assert receiver.received and receiver.received[0]["audience"] == "Recent visitors", said
    finally:
        server.stop()
        receiver.close()
