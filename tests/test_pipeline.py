"""The pipeline: every entry point runs the same stages through one runner, and each stage's run is recorded."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accord.api.app import create_app
from accord.audiences.files import load_audiences
from accord.cli import app
from accord.lake.store import Lake
from accord.pipeline import Context, run_stages
from accord.pipeline.runs import latest
from accord.pipeline.runtime import (
    CHECKPOINT_AFTER,
    SERVING_CYCLE,
    VACUUM_TASKS,
    _checkpoint,
)
from accord.pipeline.stage import Stage
from accord.pipeline.stages import (
    ACTIVATION,
    AUDIENCES,
    IDENTITY,
    PROFILES,
    PUBLISH,
    RETENTION,
)
from accord.services.overview import overview
from accord.sources.files import jobs_from_manifest, load_file
from accord.workspace import Workspace
from tests.conftest import EXAMPLES


@pytest.fixture
def loaded(tmp_path: Path, tiny_world: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    for example in EXAMPLES.glob("*.aud"):
        (ws.root / "audiences" / example.name).write_text(example.read_text())
    with ws.lake() as lake:
        for job in jobs_from_manifest(tiny_world):
            load_file(lake, job)
    return ws


def test_accord_run_records_identity_profiles_and_audiences_as_one_run(loaded: Workspace) -> None:
    result = CliRunner().invoke(app, ["run", "-w", str(loaded.root)])
    assert result.exit_code == 0, result.output
    with loaded.lake() as lake:
        rows = lake.query("SELECT * FROM stage_runs ORDER BY started_at")
    assert [r["stage"] for r in rows] == ["identity", "profiles", "audiences"]
    assert len({r["run_id"] for r in rows}) == 1 and {r["trigger"] for r in rows} == {"run"}
    assert all(r["rows_out"] > 0 and r["error"] is None and r["finished_at"] >= r["started_at"] for r in rows)
    status = CliRunner().invoke(app, ["status", "-w", str(loaded.root)])
    assert "Pipeline stages" in status.output and "audiences" in status.output
    listed = CliRunner().invoke(app, ["audiences", "list", "-w", str(loaded.root)])
    assert "last batch evaluation: 20" in listed.output and "next under `accord serve`" in listed.output
    again = CliRunner().invoke(app, ["run", "-w", str(loaded.root)])
    assert again.exit_code == 0 and "incremental: " in again.output, "nothing changed: only what time moved is decided"
    listed = CliRunner().invoke(app, ["audiences", "list", "-w", str(loaded.root)])
    assert "(incremental: " in listed.output
    full = CliRunner().invoke(app, ["audiences", "run", "--full", "-w", str(loaded.root)])
    assert full.exit_code == 0 and "full, " in full.output


def test_a_failing_stage_is_recorded_and_the_stages_after_it_do_not_run(loaded: Workspace) -> None:
    def broken(ctx: Context) -> tuple[int, int]:
        raise RuntimeError("the disk is full")

    with loaded.lake() as lake:
        ctx = Context(lake, loaded.config.identity, loaded)
        with pytest.raises(RuntimeError):
            run_stages(ctx, [IDENTITY, Stage("enrich", ("person",), ("person",), broken), PROFILES])
        assert [(r["stage"], r["error"]) for r in latest(lake)] == [("identity", None),
                                                                    ("enrich", "RuntimeError: the disk is full")]
        failing = overview(loaded, lake)["failing"]
        assert {"what": "the enrich stage", "detail": "RuntimeError: the disk is full"} in failing


def test_a_stage_leaves_no_working_tables_to_the_next_even_when_it_fails(loaded: Workspace) -> None:
    left: dict[str, list[str]] = {}

    def temporary(lake: Lake) -> list[str]:
        return [r[0] for r in lake.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()]

    def looking(name: str) -> Stage:
        def look(ctx: Context) -> tuple[int, int]:
            left[name] = temporary(ctx.lake)
            return 0, 0
        return Stage(name, (), (), look)

    def broken(ctx: Context) -> tuple[int, int]:
        ctx.lake.execute("CREATE TEMP TABLE _half AS SELECT * FROM range(1000)")
        raise RuntimeError("the disk is full")

    with loaded.lake() as lake:
        ctx = Context(lake, loaded.config.identity, loaded,
                      audiences=load_audiences(loaded.audiences_dir(), loaded.schema))
        run_stages(ctx, [IDENTITY, looking("after identity"), PROFILES, looking("after profiles"), AUDIENCES,
                         looking("after audiences")])
        assert left == {"after identity": [], "after profiles": [], "after audiences": []}
        with pytest.raises(RuntimeError):
            run_stages(ctx, [Stage("enrich", (), (), broken)])
        assert temporary(lake) == []


def test_each_stage_declares_tables_the_store_has(loaded: Workspace) -> None:
    CliRunner().invoke(app, ["run", "-w", str(loaded.root)])
    with loaded.lake() as lake:
        tables = {r[0] for r in lake.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for stage in (IDENTITY, PROFILES, RETENTION, AUDIENCES, ACTIVATION, PUBLISH, *SERVING_CYCLE):
        for table in (*stage.reads, *stage.writes):
            assert table in tables or table in ("collector log", "aud_*"), (stage.name, table)


def test_serve_runs_the_serving_cycle_and_health_shows_its_stages(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    assert CliRunner().invoke(app, ["init", str(folder)]).exit_code == 0
    key = CliRunner().invoke(app, ["keys", "create", "write", "-w", str(folder)]).stdout.strip().splitlines()[0]
    (folder / "audiences" / "visitors.aud").write_text(
        'audience "Visitors" of person\nwhere any event (event_type = "web.pageview" in last 30 days)\n')
    now = datetime.now(timezone.utc).isoformat()
    batch = [{"type": "identify", "userId": "u1", "traits": {"email": "ann@acme.io"}, "messageId": "m1", "timestamp": now},
             {"type": "page", "userId": "u1", "messageId": "m2", "timestamp": now,
              "properties": {"url": "https://acme.io/pricing"}}]
    with TestClient(create_app(Workspace.load(folder), ingest_every=0.1)) as client:
        assert client.post("/v1/batch", json={"batch": batch}, auth=(key, "")).status_code == 200
        deadline = time.monotonic() + 30
        while "streaming" not in client.get("/health").json()["stages"] and time.monotonic() < deadline:
            time.sleep(0.1)
        health = client.get("/health").json()
    stages = health["stages"]
    next_evaluation = datetime.fromisoformat(health["next_evaluation"])
    assert 0 < (next_evaluation - datetime.now(timezone.utc)).total_seconds() <= 3600, "hourly by default"
    assert {"collector", "identity", "profiles", "streaming"} <= set(stages), stages
    assert stages["collector"]["rows_out"] >= 2 and stages["collector"]["trigger"] == "serve"
    assert stages["streaming"]["rows_out"] >= 1, "the visitor entered the streaming audience"
    with Workspace.load(folder).lake() as lake:
        assert {r["stage"] for r in latest(lake)} >= {"collector", "identity", "profiles"}


def test_the_workers_checkpoint_reclaims_deleted_rows_only_when_asked(tmp_path: Path) -> None:
    with Lake(tmp_path / "accord.duckdb", migrate=True) as lake:
        lake.execute("SET wal_autocheckpoint = '1TB'")  # as under serve: only the worker checkpoints
        lake.execute("CREATE TABLE filler (text VARCHAR)")
        assert not _checkpoint(lake, vacuum=True), "a small log waits"
        for asked in (False, True):
            for _ in range(30):
                lake.execute("INSERT INTO filler SELECT repeat('z', 200) || i FROM range(1000) t(i)")
            assert lake.wal_bytes() > CHECKPOINT_AFTER
            assert _checkpoint(lake, vacuum=asked) and lake.wal_bytes() < CHECKPOINT_AFTER
            assert lake.scalar("SELECT current_setting('max_vacuum_tasks')") == (VACUUM_TASKS if asked else 0)
