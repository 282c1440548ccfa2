"""The profile edge: `serve`'s second process answers page-time summaries as the main app does, over real HTTP,
with the keys the lake holds now, and goes when `serve` goes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from accord.api.keys import create_key
from tests.conftest import evaluated_workspace
from tests.test_serve import Server

pytestmark = pytest.mark.slow


def copied(server: Server) -> dict:
    """`/health` once the served copy of people is made."""
    deadline = time.monotonic() + 60
    while (health := httpx.get(f"{server.url}/health", timeout=5).json())["profiles"].get("mode") != "full":
        assert time.monotonic() < deadline, health
        time.sleep(0.1)
    return health


def accord(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("accord")), *argv], capture_output=True, text=True,
                          timeout=120)


def test_the_edge_answers_summaries_as_the_main_app_does(evaluated_lake: Path, tmp_path: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake)
    with ws.lake() as lake:
        key = create_key(lake, "api", "tests").secret
        emails = [r[0] for r in lake.execute(
            "SELECT p.email FROM person_profile p JOIN audience_membership m ON m.profile_id = p.person_id "
            "WHERE p.email IS NOT NULL GROUP BY 1 ORDER BY 1 LIMIT 10").fetchall()]
        lake.execute("INSERT INTO identity_nodes SELECT 'person', 'email', 'jane/doe@acme.example', person_id "
                     "FROM person_profile WHERE email = ?", [emails[0]])
    server = Server(ws.root, 0.2, "--edge-port", "0")
    try:
        edge = copied(server)["edge"]
        assert edge["running"] and edge["error"] is None
        auth = {"Authorization": f"Bearer {key}"}
        asks = [f"/api/v1/profiles/email:{e.upper()}/summary?attributes=email,job_title,lead_score" for e in emails]
        asks += ["/api/v1/profiles/email:nobody@nowhere.example/summary",
                 f"/api/v1/profiles/email:{emails[0]}/summary?attributes=salary",
                 "/api/v1/profiles/fax:123/summary",
                 "/api/v1/profiles/email:%C3%A9l%C3%A8ve%F0%9F%98%80@x.example/summary?attributes=",
                 "/api/v1/profiles/email:jane%2Fdoe@acme.example/summary",
                 f"/api/v1/profiles/email:{emails[0]}/summary?attributes=email&attributes=job_title"]
        with httpx.Client(headers=auth, timeout=10) as client:
            main = [(r.status_code, r.json()) for r in (client.get(f"{server.url}{a}") for a in asks)]
            edged = [(r.status_code, r.json()) for r in (client.get(f"{edge['url']}{a}") for a in asks)]
        assert edged == main
        assert [code for code, _ in main] == [200] * len(emails) + [404, 400, 400, 404, 200, 200]
        assert main[-2][1]["person_id"] == main[0][1]["person_id"], "an identity may hold a slash"
        assert all(body["audiences"] for _, body in main[:len(emails)])
        assert list(main[-1][1]["attributes"]) == ["job_title"], "a repeated parameter: the last one counts"
        refused = [httpx.get(f"{edge['url']}{asks[0]}", headers=h)
                   for h in ({}, {"Authorization": "Bearer ak_not_a_key"}, {"Authorization": key})]
        assert [(r.status_code, r.json()["code"]) for r in refused] == [(401, "unauthorized")] * 3
        assert httpx.get(f"{edge['url']}/api/v1/audiences", headers=auth).status_code == 404
        assert httpx.post(f"{edge['url']}{asks[0]}", headers=auth).status_code == 405
    finally:
        server.stop()
    assert _gone(edge["pid"], 15), "the edge stops with serve"


def test_keys_created_or_revoked_while_serving_hold_at_the_edge_at_once(evaluated_lake: Path,
                                                                         tmp_path: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake)
    server = Server(ws.root, 0.2, "--edge-port", "0")
    try:
        edge = copied(server)["edge"]
        created = accord("keys", "create", "api", "--role", "read", "-w", str(ws.root))
        assert created.returncode == 0, created.stderr
        key = created.stdout.split()[0]
        ask = f"{edge['url']}/api/v1/profiles/fax:1/summary"
        assert httpx.get(ask, headers={"Authorization": f"Bearer {key}"}).status_code == 400, "known, then refused"
        revoked = accord("keys", "revoke", key[:10], "-w", str(ws.root))
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(ask, headers={"Authorization": f"Bearer {key}"}).status_code == 401
    finally:
        server.stop()


def test_the_edge_goes_when_serve_is_killed(evaluated_lake: Path, tmp_path: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake)
    server = Server(ws.root, 0.2, "--edge-port", "0")
    try:
        edge = httpx.get(f"{server.url}/health", timeout=5).json()["edge"]
    finally:
        server.crash()  # kill -9: nobody tells the edge
    assert _gone(edge["pid"], 15), "an orphaned edge exits by itself"


def test_a_taken_edge_port_is_told_and_serve_still_serves(evaluated_lake: Path, tmp_path: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(ws.root, 0.2, "--edge-port", str(port))
        try:
            health = httpx.get(f"{server.url}/health", timeout=5).json()
            assert f"could not listen on 127.0.0.1:{port}" in health["edge"]["error"] and health["ok"] is False
            assert not health["edge"]["running"]
        finally:
            server.stop()
        said = server.proc.stdout.read().decode()
    assert f"could not listen on 127.0.0.1:{port}" in said and "--no-edge" in said and "Traceback" not in said


def test_demo_serve_starts_the_edge_too(tmp_path: Path) -> None:
    port = _free_pair()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("accord")), "demo", "--scale", "tiny", "--serve",
                             "--port", str(port), "--workspace", str(tmp_path / "ws")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    said: list[str] = []
    try:
        while not any("Ctrl-C stops" in line for line in said):
            line = proc.stdout.readline()
            assert line, "".join(said)
            said.append(line)
        text = "".join(said)
        key = re.search(r"login\?key=(\S+)", text).group(1)
        email = re.search(r"accord profile get email:(\S+)", text).group(1)
        assert f"profile edge on http://127.0.0.1:{port + 1}" in text
        deadline = time.monotonic() + 60
        while (answer := _ask(f"http://127.0.0.1:{port + 1}/api/v1/profiles/email:{email}/summary", key)) != 200:
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _free_pair() -> int:
    """A port free on 127.0.0.1 whose next port is free too: the demo's main port and its edge's."""
    while True:
        with socket.socket() as main, socket.socket() as edge:
            main.bind(("127.0.0.1", 0))
            port = main.getsockname()[1]
            try:
                edge.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


def _ask(url: str, key: str) -> int | str:
    try:
        return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code
    except httpx.TransportError as err:
        return repr(err)


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return False
