"""Every CLI command works while `accord serve` holds the workspace's store (it runs them), a revoked key stops
working within a second whatever the worker does, and a CLI failure is one line and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.adversarial.conftest import new_workspace
from tests.test_serve import Server

pytestmark = pytest.mark.slow
ACCORD = str(Path(sys.executable).with_name("accord"))


def accord(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ACCORD, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def test_cli_commands_work_while_serve_runs(tmp_path: Path) -> None:
    ws, key = new_workspace(tmp_path / "ws")
    (ws.root / "audiences" / "visitors.aud").write_text(
        'audience "Visitors" of person\nwhere any event (event_type = "web.pageview" in last 30 days)\n')
    people = tmp_path / "people.csv"
    people.write_text("Id,Email,LastModifiedDate\n1,a@x.io,2026-01-01T00:00:00Z\n")
    server = Server(ws.root)
    try:
        for turn in range(20):
            httpx.post(f"{server.url}/v1/batch", auth=(key, ""),
                       json={"batch": [{"type": "page", "userId": "u1", "properties": {"url": "https://x.io/"}}]})
            commands = [["audiences", "list"], ["keys", "list"], ["status"]]
            commands += [["quarantine", "list"], ["deliveries", "list"], ["identity", "merges"]] if turn == 0 else []
            for command in commands:
                done = accord(*command, cwd=ws.root)
                assert done.returncode == 0, (command, done.stdout, done.stderr)
                assert "Traceback" not in done.stderr
        (tmp_path / "people.yaml").write_text(yaml.safe_dump(
            {"entity": "person", "source_type": "Salesforce", "source_instance_id": "org1",
             "fields": {"source_id": {"from": "Id"}, "email": {"from": "Email"}}}))
        loaded = accord("ingest", "files", "people.csv", "--mapping", "people.yaml", "-w", "ws", cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr
        missing = accord("profile", "get", "email:nobody@x.io", cwd=ws.root)
        assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
        repeated = accord("run", "--every", "1h", cwd=ws.root)  # refused by the server itself
        assert repeated.returncode == 2 and "set `audiences.schedule` in accord.yaml" in repeated.stderr
    finally:
        server.stop()
    assert not (ws.lake_path().parent / "serve.json").exists(), "the announcement goes with the server"


def test_arguments_that_are_no_utf8_here_and_through_serve(tmp_path: Path) -> None:
    """A terminal passes bytes it cannot decode as they are: a file name may be any bytes, and is written and printed
    as such; any other argument is refused in one line; the next command relayed to serve still prints."""
    ws, _ = new_workspace(tmp_path / "ws")
    strict = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8:strict"}  # as most terminals have it

    def run(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([ACCORD, *args], cwd=ws.root, capture_output=True, timeout=120, env=strict)

    for where, server in (("here", None), ("through serve", lambda: Server(ws.root))):
        running = server() if server else None
        try:
            out = tmp_path / f"people-{where.replace(' ', '-')}"
            named = os.fsencode(out) + b"-caf\xe9.json"
            exported = run("export", "xdm", "person", "--out", named)
            assert exported.returncode == 0 and Path(os.fsdecode(named)).exists(), (where, exported.stderr)
            assert named in exported.stdout
            odd = run("profile", "get", b"email:caf\xe9@x.io")
            assert odd.returncode == 1 and odd.stderr.count(b"\n") <= 2, (where, odd.stderr)
            assert b"'email:caf\\xe9@x.io' is not UTF-8 text" in odd.stderr.replace(b"\n", b" ")
            assert run("status").returncode == 0, where
        finally:
            if running:
                running.stop()


def test_serving_a_sandbox_already_served_is_refused_at_once(tmp_path: Path) -> None:
    ws, _ = new_workspace(tmp_path / "ws")
    server = Server(ws.root)
    try:
        started = time.monotonic()
        second = accord("serve", "--port", str(server.port + 2), cwd=ws.root)
        assert second.returncode == 1 and time.monotonic() - started < 10
        assert f"already serves sandbox 'prod' of this workspace at {server.url}" in " ".join(second.stderr.split())
        assert httpx.get(f"{server.url}/health").status_code == 200
    finally:
        server.stop()


def test_a_port_in_use_is_one_line_before_serve_says_it_serves(tmp_path: Path) -> None:
    ws, _ = new_workspace(tmp_path / "ws")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = accord("serve", "--port", str(port), cwd=ws.root)
    assert done.returncode == 1 and "serving" not in done.stdout
    said = f"error: cannot listen on 127.0.0.1:{port}: Address already in use (--port chooses another)"
    assert done.stderr.strip() == said


def test_a_revoked_key_stops_working_within_a_second(tmp_path: Path) -> None:
    ws, key = new_workspace(tmp_path / "ws")
    (ws.root / "audiences" / "loop.aud").write_text('audience "Loop" of person\nwhere in audience "Loop"\n')
    server = Server(ws.root)
    try:
        assert httpx.post(f"{server.url}/v1/track", auth=(key, ""),
                          json={"userId": "u", "event": "x"}).status_code == 200
        key_id = key[:10]
        revoked = accord("keys", "revoke", key_id, cwd=ws.root)
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 1.0
        while httpx.post(f"{server.url}/v1/track", auth=(key, ""), json={"userId": "u", "event": "x"}).status_code != 401:
            assert time.monotonic() < deadline, "the key still works a second after its revocation"
            time.sleep(0.05)
    finally:
        server.stop()


@pytest.mark.parametrize("args", [
    ["audiences", "run"],  # no identity run yet
    ["sources", "check"],
    ["profile", "get", "nonsense"],
    ["ingest", "files", "nowhere.csv", "--mapping", "salesforce/contact"],
])
def test_cli_failures_are_one_line(tmp_path: Path, args: list[str]) -> None:
    ws, _ = new_workspace(tmp_path / "ws")
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["sources"] = [{"type": "marketo", "name": "gone", "munchkin_id": "123-ABC-456", "client_id": "x",
                          "endpoint": "http://127.0.0.1:9", "client_secret": "env:HOME", "backfill_since": "2024-01-01"}]
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    done = accord(*args, cwd=ws.root)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


def test_ctrl_c_on_a_relayed_command_is_one_line(tmp_path: Path) -> None:
    """A command relayed to a serve that has yet to answer (one waiting for its turn): Ctrl-C says the server
    carries it on, exits 130, and shows no traceback."""
    import signal
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from accord.api import relay

    asked = threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            asked.set()
            self.rfile.read(int(self.headers["Content-Length"]))
            threading.Event().wait(30)  # the command's turn has not come

        def log_message(self, *args: object) -> None:
            pass

    ws, _ = new_workspace(tmp_path / "ws")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    relay.announce(ws.lake_path().parent, f"http://127.0.0.1:{server.server_address[1]}")
    try:
        client = subprocess.Popen([ACCORD, "status"], cwd=ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        assert asked.wait(60), "the command was not relayed"
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=30)
    finally:
        server.shutdown()
    assert client.returncode == 130
    assert "Traceback" not in err and "interrupted: the running `accord serve`" in err, err
