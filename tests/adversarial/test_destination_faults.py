"""Destination faults, one row each: every change ends delivered, dead-lettered with its reason, or `retrying`
for a later run; no wait exceeds the cap; nothing is left in flight."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from accord.activation.run import deliver
from accord.connectors.pacing import retry_after
from tests.conftest import evaluated_workspace

AUDIENCE = "Webinar attendees"


class FaultyHook:
    """A webhook on 127.0.0.1 answering from a script (status and headers, `reset`, or `slow`), then 200."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.received: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                step = hook.script.pop(0) if hook.script else (200, {})
                if step == "reset":  # RST instead of an answer
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                if step == "slow":
                    time.sleep(0.6)
                    step = (200, {})
                status, headers = step
                if status == 200:
                    hook.received += [c["profile_id"] for c in json.loads(body)["changes"]]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyHook]:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    running = FaultyHook()
    yield running
    running.http.shutdown()


def soon(seconds: int) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds), usegmt=True)


FAULTS = {
    "429, Retry-After 0": ([(429, {"Retry-After": "0"})], "delivered"),
    "429, Retry-After as an HTTP date": ([(429, {"Retry-After": soon(2)})], "delivered"),
    "429, Retry-After inf": ([(429, {"Retry-After": "inf"})], "delivered"),
    "429, Retry-After 1e400": ([(429, {"Retry-After": "1e400"})], "delivered"),
    "429, Retry-After garbage": ([(429, {"Retry-After": "soon-ish"})], "delivered"),
    "429, Retry-After negative": ([(429, {"Retry-After": "-5"})], "delivered"),
    "429, Retry-After 100000": ([(429, {"Retry-After": "100000"})], "retrying"),
    "503 twice, then 200": ([(503, {}), (503, {})], "delivered"),
    "503 every time": ([(503, {})] * 10, "dead-lettered"),
    "400": ([(400, {})], "dead-lettered"),
    "timeout, then 200": (["slow"], "delivered"),
    "connection reset, then 200": (["reset"], "delivered"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_change_ends_delivered_dead_lettered_or_retrying(tmp_path: Path, evaluated_lake: Path, hook: FaultyHook,
                                                               fault: str) -> None:
    script, ending = FAULTS[fault]
    config = {"type": "webhook", "name": "hook", "url": hook.url, "secret": "env:HOOK_SECRET", "audiences": [AUDIENCE],
              "backoff_seconds": 0.01, "max_attempts": 3, "timeout_seconds": 0.3, "batch_size": 1000,
              "max_wait_seconds": 30}
    ws = evaluated_workspace(tmp_path, evaluated_lake, [config])
    hook.script = list(script)
    waits: list[float] = []
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0], sleep=waits.append)
        members = lake.query("SELECT profile_id FROM audience_membership WHERE audience = ? "
                             "AND status IN ('realized', 'existing')", [AUDIENCE])
        outcomes = dict(lake.execute("SELECT outcome, count(DISTINCT profile_id) FROM delivery_receipts "
                                     "WHERE outcome <> 'excluded' GROUP BY 1").fetchall())
        in_flight = lake.scalar("SELECT count(*) FROM delivery_in_flight")
        status = lake.scalar("SELECT status FROM delivery_runs")
    sent = len(members) - report.total("excluded")
    assert sent > 0 and in_flight == 0
    assert all(w <= 30 for w in waits), waits
    if ending == "delivered":
        assert outcomes == {"added": sent} and sorted(hook.received) == sorted(set(hook.received))
    elif ending == "dead-lettered":
        assert outcomes == {"failed": sent} and report.total("failed") == sent
    else:
        assert outcomes == {"retrying": sent} and status == "retrying" and report.retry_in == 100000
        with ws.lake() as lake:  # the destination is back: the next run sends them
            again = deliver(ws, lake, ws.config.destinations[0], sleep=waits.append)
        assert again.total("activated") == sent == len(hook.received)


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0), ("0", 0.0), ("1.5", 1.5), ("inf", None), ("-inf", None), ("nan", None), ("1e400", None),
    ("-3", None), ("", None), (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("tomorrow", None),
])
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    assert retry_after("Tue, 01 Dec 2026 10:01:30 GMT", now) == 90.0


def test_files_written_by_a_run_cut_off_before_recording_are_not_written_again(
        tmp_path: Path, evaluated_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files and manifest exist, the receipts do not (the process died in between): the next run settles."""
    from accord.activation.sync import DeliverySync

    ws = evaluated_workspace(tmp_path, evaluated_lake, [{"type": "file", "name": "files", "url": "exports",
                                                         "audiences": [AUDIENCE], "mode": "incremental"}])
    real = DeliverySync._clear_in_flight

    def die_after_finish(self, audience, profile_ids):  # type: ignore[no-untyped-def]
        if list((ws.root / "exports").rglob("manifest.json")):
            raise KeyboardInterrupt  # as good as kill -9 here: nothing after it is recorded
        return real(self, audience, profile_ids)

    with ws.lake() as lake:
        monkeypatch.setattr(DeliverySync, "_clear_in_flight", die_after_finish)
        with pytest.raises(KeyboardInterrupt):
            deliver(ws, lake, ws.config.destinations[0])
        monkeypatch.setattr(DeliverySync, "_clear_in_flight", real)
        assert lake.scalar("SELECT count(*) FROM delivery_in_flight") > 0
        report = deliver(ws, lake, ws.config.destinations[0]).audiences[0]
        assert report.settled > 0 and report.activated == report.settled
        assert lake.scalar("SELECT count(*) FROM delivery_in_flight") == 0
    assert len(list((ws.root / "exports").rglob("manifest.json"))) == 1, "nothing was written twice"


@pytest.mark.parametrize("kind", ["marketo", "webhook"])
def test_an_unreachable_destination_is_a_503_and_keeps_its_changes(tmp_path: Path, evaluated_lake: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    kind: str) -> None:
    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.api.keys import create_key
    from accord.web.pages import SESSION_COOKIE

    monkeypatch.setenv("SECRET", "s3cret")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    common = {"name": "gone", "audiences": [AUDIENCE], "backoff_seconds": 0.01, "max_attempts": 2}
    config = ({"type": "marketo", "munchkin_id": "123-ABC-456", "endpoint": closed, "client_id": "c",
               "client_secret": "env:SECRET", **common} if kind == "marketo" else
              {"type": "webhook", "url": f"{closed}/hook", "secret": "env:SECRET", **common})
    ws = evaluated_workspace(tmp_path, evaluated_lake, [config])
    with ws.lake() as lake:
        key = create_key(lake, "api", "tests").secret
    client = TestClient(create_app(ws))
    answer = client.post("/api/v1/destinations/gone/run", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 503 and answer.json()["code"] == "destination_unreachable"
    assert "could not be reached" in answer.json()["message"]
    client.cookies.set(SESSION_COOKIE, key)
    page = client.post("/destinations/gone/retry", follow_redirects=False)
    assert page.status_code == 503 and "could not be reached" in page.text
    with ws.lake() as lake:
        outcomes = {r[0] for r in lake.execute("SELECT DISTINCT outcome FROM delivery_receipts "
                                               "WHERE outcome <> 'excluded'").fetchall()}
        assert outcomes == {"retrying"}
        assert lake.scalar("SELECT count(*) FROM delivery_dead_letters") == 0, "kept for the next run, not dead"
        assert lake.scalar("SELECT count(*) FROM delivery_in_flight") == 0
        assert {r[0] for r in lake.execute("SELECT status FROM delivery_runs").fetchall()} == {"retrying"}


@pytest.mark.parametrize("header", ["inf", "1e400", "100000", "soon", pytest.param(soon(100_000), id="http-date")])
def test_the_marketo_client_reads_retry_after_the_same_way_and_caps_the_wait(header: str) -> None:
    """The Marketo client (source and destination alike) pauses on a 429 at most MAX_WAIT_SECONDS, whatever the
    header says, then goes on."""
    from accord.connectors.marketo.client import MarketoClient
    from accord.connectors.pacing import MAX_WAIT_SECONDS

    answers = [(429, {"Retry-After": header}, {}), (200, {}, {"success": True, "result": [{"id": 1}]})]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/identity/oauth/token"):
                status, headers, body = 200, {}, {"access_token": "t", "expires_in": 3600}
            else:
                status, headers, body = answers.pop(0)
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json",
                                "Content-Length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET  # the token is asked for by POST

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    waits: list[float] = []
    try:
        client = MarketoClient(f"http://127.0.0.1:{http.server_address[1]}", "id", "secret", sleep=waits.append)
        assert client.call("GET", "/rest/v1/leads.json")["result"] == [{"id": 1}]
    finally:
        http.shutdown()
    assert waits and max(waits) <= MAX_WAIT_SECONDS
