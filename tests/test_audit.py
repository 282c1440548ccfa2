"""Who did what: API keys carry roles that the REST API and the web UI enforce, and every change (audiences,
configuration, keys, manual runs) is added to the audit log with who made it and the values before and after."""

from __future__ import annotations

from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accord.activation.run import deliver
from accord.api.app import create_app
from accord.api.keys import create_key
from accord.cli import app
from accord.governance.audit import entries
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace

WEBINAR = "Webinar attendees"
CHANGED = f'audience "{WEBINAR}" of person where seniority = "Director"'


def workspace(tmp_path: Path, evaluated_lake: Path) -> tuple[Workspace, dict[str, str]]:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "exports", "url": "exports", "audiences": [WEBINAR]}])
    with ws.lake() as lake:
        keys = {role: create_key(lake, "api", role, (role,)).secret
                for role in ("read", "write-audiences", "activate", "admin")}
    return ws, keys


def test_a_key_may_do_what_its_roles_allow(tmp_path: Path, evaluated_lake: Path) -> None:
    ws, keys = workspace(tmp_path, evaluated_lake)
    client = TestClient(create_app(ws))

    def call(method: str, path: str, role: str, **kwargs: object) -> int:
        return client.request(method, path, headers={"Authorization": f"Bearer {keys[role]}"}, **kwargs).status_code

    refused = client.put("/api/v1/audiences", headers={"Authorization": f"Bearer {keys['read']}"},
                         json={"text": CHANGED})
    assert refused.status_code == 403 and "needs the write-audiences role" in refused.json()["message"]
    assert call("GET", "/api/v1/audiences", "read") == 200
    assert call("PUT", "/api/v1/audiences", "write-audiences", json={"text": CHANGED}) == 200
    assert call("POST", "/api/v1/destinations/exports/run", "write-audiences") == 403
    assert call("POST", "/api/v1/destinations/exports/run", "activate") == 200
    assert call("GET", "/api/v1/audit", "activate") == 403
    assert call("GET", "/api/v1/audit", "admin") == 200


def test_every_change_is_recorded_with_who_and_the_values_before_and_after(tmp_path: Path,
                                                                          evaluated_lake: Path) -> None:
    ws, keys = workspace(tmp_path, evaluated_lake)
    client = TestClient(create_app(ws))
    before = (ws.root / "audiences" / "webinar-attendees.aud").read_text()
    client.put("/api/v1/audiences", headers={"Authorization": f"Bearer {keys['write-audiences']}"},
               json={"text": CHANGED})
    client.post("/api/v1/destinations/exports/run", headers={"Authorization": f"Bearer {keys['activate']}"})
    log = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {keys['admin']}"}).json()
    saved = next(e for e in log if e["action"] == "audience saved")
    assert saved["target"] == WEBINAR and saved["before_value"] == before and "Director" in saved["after_value"]
    assert saved["actor"].startswith("key:ak_") and saved["actor"] != "key:"
    assert {e["action"] for e in log} >= {"audience saved", "deliveries run", "configuration"}


def test_a_configuration_change_is_recorded_once_before_data_moves_by_it(tmp_path: Path,
                                                                        evaluated_lake: Path) -> None:
    ws, _ = workspace(tmp_path, evaluated_lake)
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        deliver(ws, lake, ws.config.destinations[0])
        assert len(entries(lake, action="configuration")) == 1
    raw = yaml.safe_load((ws.root / "accord.yaml").read_text())
    raw["destinations"][0]["fields"] = ["email", "phone"]
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(raw))
    ws = Workspace.load(ws.root)
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        changed = entries(lake, action="configuration")
    assert len(changed) == 2 and changed[0]["target"] == "destinations"
    assert "phone" in changed[0]["after_value"] and "phone" not in changed[0]["before_value"]


def test_the_web_ui_keeps_a_read_key_from_changing_audiences(tmp_path: Path, evaluated_lake: Path) -> None:
    ws, keys = workspace(tmp_path, evaluated_lake)
    client = TestClient(create_app(ws))
    client.post("/login", data={"key": keys["read"], "next": "/"})
    refused = client.post("/audiences", data={"text": CHANGED})
    assert refused.status_code == 403 and "needs the write-audiences role" in refused.text
    assert "Director" not in (ws.root / "audiences" / "webinar-attendees.aud").read_text()
    assert client.get("/audit").status_code == 403
    client.post("/login", data={"key": keys["admin"], "next": "/"})
    unconfirmed = client.post("/audiences", data={"text": CHANGED})
    assert unconfirmed.status_code == 409 and "tick the confirmation" in unconfirmed.text
    assert client.post("/audiences", data={"text": CHANGED, "confirm": "true"}).status_code == 200  # redirected
    page = client.get("/audit").text
    assert "audience saved" in page and WEBINAR in page


def test_the_cli_records_keys_and_runs_and_lists_them(tmp_path: Path, evaluated_lake: Path) -> None:
    ws, _ = workspace(tmp_path, evaluated_lake)
    runner, w = CliRunner(), ["-w", str(ws.root)]
    made = runner.invoke(app, ["keys", "create", "api", "--role", "read", "--role", "activate", *w])
    bad = runner.invoke(app, ["keys", "create", "api", "--role", "owner", *w])
    runner.invoke(app, ["deliveries", "run", *w])
    listed = runner.invoke(app, ["audit", "list", *w], env={"COLUMNS": "200"}).output
    assert made.exit_code == 0 and "with roles read, activate" in made.output
    assert bad.exit_code == 1 and "not owner" in bad.output
    assert "key created" in listed and "deliveries run" in listed and "cli" in listed
