"""A key of one sandbox can neither read nor write anything of another: audience definitions, destinations,
exported files, keys. Audience names that would collide or break links are refused at save; audiences that would
freeze evaluation (cycles, absurd windows) are refused, and a broken file fails alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.keys import create_key
from accord.web.pages import SESSION_COOKIE
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace

AUDIENCE = "Webinar attendees"


@pytest.fixture
def two_sandboxes(tmp_path: Path, evaluated_lake: Path) -> tuple[Workspace, dict[str, dict[str, str]]]:
    """prod holds the evaluated demo data, its audiences and a file destination; dev is empty; a key for each."""
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "audience-files", "url": "exports", "audiences": [AUDIENCE], "sandboxes": ["prod"]}])
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    (ws.root / "accord.yaml").write_text(yaml.safe_dump({**config, "sandboxes": ["prod", "dev"]}))
    ws = Workspace.load(ws.root)
    keys = {}
    for sandbox in ("prod", "dev"):
        with ws.lake(sandbox) as lake:
            keys[sandbox] = {"Authorization": f"Bearer {create_key(lake, 'api', sandbox).secret}"}
    return ws, keys


def test_a_dev_key_cannot_touch_prod(two_sandboxes) -> None:
    ws, keys = two_sandboxes
    prod_text = (ws.root / "audiences" / "webinar-attendees.aud").read_text()
    with ws.lake("prod") as lake:
        prod_size = lake.scalar("SELECT size FROM audiences WHERE name = ?", [AUDIENCE])
    prod_server, dev_server = TestClient(create_app(ws, "prod")), TestClient(create_app(ws, "dev"))
    assert prod_server.post("/api/v1/destinations/audience-files/run", headers=keys["prod"]).status_code == 200
    manifests = sorted((ws.root / "exports").rglob("manifest.json"))
    assert [m.relative_to(ws.root / "exports").parts[0] for m in manifests] == ["prod"]
    before = [m.read_bytes() for m in manifests]

    # The dev key is unknown to the prod server: every route, read or write.
    for method, path in [("get", "/api/v1/audiences"), ("put", "/api/v1/audiences"), ("post", "/api/v1/audiences/run"),
                         ("post", "/api/v1/destinations/audience-files/run"),
                         ("post", "/api/v1/destinations/audience-files/retry"), ("post", "/api/v1/identity/split")]:
        assert getattr(prod_server, method)(path, headers=keys["dev"]).status_code == 401, path

    # Nor do the web UI's write routes take it: a foreign key is no session.
    prod_server.cookies.set(SESSION_COOKIE, keys["dev"]["Authorization"].removeprefix("Bearer "))
    for path, form in [("/audiences", {"text": f'audience "{AUDIENCE}" of person\nwhere country = "Nowhere"'}),
                       ("/destinations/audience-files/retry", {})]:
        answer = prod_server.post(path, data=form, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
    prod_server.cookies.clear()

    # On its own server, the dev key reaches only dev: prod's destination and audience files are out of reach.
    for path in ("/api/v1/destinations/audience-files/run", "/api/v1/destinations/audience-files/retry"):
        answer = dev_server.post(path, headers=keys["dev"])
        assert answer.status_code == 404 and "sandbox 'dev'" in answer.json()["message"], path
    assert dev_server.get("/api/v1/destinations", headers=keys["dev"]).json() == []
    assert dev_server.get(f"/api/v1/audiences/{AUDIENCE}", headers=keys["dev"]).status_code == 404
    saved = dev_server.put("/api/v1/audiences", headers=keys["dev"],
                           json={"text": f'audience "{AUDIENCE}" of person\nwhere country = "Nowhere"'})
    assert saved.status_code == 200
    ran = dev_server.post("/api/v1/audiences/run", headers=keys["dev"], json={})  # dev has no profiles yet
    assert ran.status_code == 400 and "no profiles yet" in ran.json()["message"]
    assert (ws.root / "audiences" / "dev" / "webinar-attendees.aud").exists()

    assert (ws.root / "audiences" / "webinar-attendees.aud").read_text() == prod_text
    assert [m.read_bytes() for m in sorted((ws.root / "exports").rglob("manifest.json"))] == before
    with ws.lake("prod") as lake:
        assert lake.scalar("SELECT size FROM audiences WHERE name = ?", [AUDIENCE]) == prod_size
    assert prod_server.get(f"/api/v1/audiences/{AUDIENCE}", headers=keys["prod"]).json()["text"].strip() == prod_text.strip()


def test_names_that_collide_or_break_links_are_refused(two_sandboxes) -> None:
    ws, keys = two_sandboxes
    client = TestClient(create_app(ws, "prod"))
    clash = client.put("/api/v1/audiences", headers=keys["prod"],
                       json={"text": 'audience "WEBINAR attendees!" of person\nwhere country = "France"'})
    assert clash.status_code == 409 and "Webinar attendees" in clash.json()["message"]
    assert AUDIENCE in (ws.root / "audiences" / "webinar-attendees.aud").read_text()
    for name in ("EMEA/DACH leads", "What? leads", "#1 leads", "100% leads"):
        refused = client.put("/api/v1/audiences", headers=keys["prod"],
                             json={"text": f'audience "{name}" of person\nwhere country = "France"'})
        assert refused.status_code == 400 and "may not hold" in refused.json()["message"], name
    for name, says in (("Quiet\u202eteiuq", "direction override"), (" Quiet", "begins or ends with a blank")):
        refused = client.put("/api/v1/audiences", headers=keys["prod"],
                             json={"text": f'audience "{name}" of person\nwhere country = "France"'})
        assert refused.status_code == 400 and says in refused.json()["message"], name
    fine = client.put("/api/v1/audiences", headers=keys["prod"],
                      json={"text": 'audience "EMEA – DACH leads (2027)" of person\nwhere country = "Germany"'})
    assert fine.status_code == 200
    assert client.get("/api/v1/audiences/EMEA – DACH leads (2027)/size", headers=keys["prod"]).status_code == 200


@pytest.mark.parametrize("text", [
    'audience "Loop" of person\nwhere in audience "Loop"',
    'audience "Webinar attendees" of person\nwhere in audience "Loop B"',
    'audience "Forever" of person\nwhere any event (event_type = "web.pageview" in last 999999999999 days)',
    'audience "Ancient" of person\nwhere first event (event_type = "web.pageview") before 100000 days ago',
    'audience "Far" of person\nwhere any event (event_type = "web.pageview" between date("0001-01-01") and '
    'date("9999-12-31"))',
])
def test_audiences_that_would_freeze_evaluation_are_refused_at_save(two_sandboxes, text: str) -> None:
    ws, keys = two_sandboxes
    client = TestClient(create_app(ws, "prod"))
    if "Loop B" in text:  # B references Webinar attendees; saving Webinar attendees → B closes a cycle
        made = client.put("/api/v1/audiences", headers=keys["prod"],
                          json={"text": f'audience "Loop B" of person\nwhere in audience "{AUDIENCE}"'})
        assert made.status_code == 200
    before = {p.name: p.read_text() for p in (ws.root / "audiences").glob("*.aud")}
    refused = client.put("/api/v1/audiences", headers=keys["prod"], json={"text": text})
    assert refused.status_code == 400, refused.text
    assert {p.name: p.read_text() for p in (ws.root / "audiences").glob("*.aud")} == before


def test_a_broken_audience_file_fails_alone(two_sandboxes) -> None:
    ws, keys = two_sandboxes
    (ws.root / "audiences" / "loop.aud").write_text('audience "Loop" of person\nwhere in audience "Loop"\n')
    (ws.root / "audiences" / "garbled.aud").write_text("audience of where\n")
    app = create_app(ws, "prod")
    state = app.state.accord
    names = {a.name for a in state.audiences()}
    assert AUDIENCE in names and "Loop" not in names
    assert set(state.audience_problems) == {"Loop", "garbled.aud"} and "cycle" in state.audience_problems["Loop"]
    health = TestClient(app).get("/health").json()
    assert health["ok"] is False and set(health["audiences"]) == {"Loop", "garbled.aud"}


def test_an_audience_that_fails_to_evaluate_fails_alone(evaluated_lake: Path, tmp_path: Path) -> None:
    import shutil

    from accord.audiences.evaluate import evaluate
    from accord.audiences.text import parse_audience
    from accord.engines.duckdb.engine import DuckDBEngine
    from accord.lake.store import Lake

    class BrokenFor(DuckDBEngine):
        """DuckDB, except that any pass holding the audience "Broken" fails (as an engine error would)."""

        def members(self, compiled):  # type: ignore[no-untyped-def]
            if "Broken" in compiled.queries:
                raise RuntimeError("the engine gave up")
            return super().members(compiled)

    shutil.copy(evaluated_lake, tmp_path / "lake.duckdb")
    fine = parse_audience('audience "Fine" of person\nwhere seniority = "Executive"')
    broken = parse_audience('audience "Broken" of person\nwhere seniority = "Director"')
    with Lake(tmp_path / "lake.duckdb") as lake:
        report = evaluate(lake, [fine, broken], engine=BrokenFor(lake))
        assert set(report.failed) == {"Broken"} and "the engine gave up" in report.failed["Broken"]
        assert [r.name for r in report.results] == ["Fine"] and report.results[0].size > 0
        assert lake.scalar("SELECT count(*) FROM audience_membership WHERE audience = 'Broken'") == 0
