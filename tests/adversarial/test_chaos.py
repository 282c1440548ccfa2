"""kill -9 at seeded random moments of ingest, identity + evaluation and activation, then run everything again:
no record lost or doubled, the same audiences, each change delivered exactly once, every run settled."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from accord.model.entities import ENTITIES
from accord.workspace import Workspace
from tests.conftest import AS_OF, EXAMPLES

pytestmark = pytest.mark.slow
ACCORD = str(Path(sys.executable).with_name("accord"))
AUDIENCES = ["Webinar attendees", "Senior people on won deals worth over $100k"]
POINTS = 21


def stages(world: Path) -> list[list[str]]:
    return [["ingest", "files", str(world)], ["run", "--as-of", AS_OF.isoformat()], ["deliveries", "run"]]


def new_workspace(folder: Path) -> Workspace:
    ws = Workspace.init(folder)
    for example in EXAMPLES.glob("*.aud"):
        shutil.copy(example, ws.root / "audiences" / example.name)
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["destinations"] = [{"type": "file", "name": "files", "url": "exports", "audiences": AUDIENCES,
                               "mode": "incremental", "split_rows": 7}]
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    return Workspace.load(ws.root)


def accord(ws: Workspace, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([ACCORD, *args], cwd=ws.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "ACCORD_WORKSPACE": str(ws.root)})


def run_all(ws: Workspace, world: Path) -> None:
    for args in stages(world):
        proc = accord(ws, args)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (args, err.decode())


def observed(ws: Workspace) -> dict[str, Any]:
    """What must not change by a crash: records, audiences, what the destination holds and got, settled runs."""
    with ws.lake() as lake:
        records = {name: (lake.scalar(f"SELECT count(*) FROM {name}_current"), lake.scalar(f"SELECT count(*) FROM {name}"))
                   for name in ENTITIES}
        members = lake.query(
            "SELECT m.audience, coalesce(p.email, a.name) AS who FROM audience_membership m "
            "LEFT JOIN person_profile p ON p.person_id = m.profile_id LEFT JOIN account_profile a "
            "ON a.account_id = m.profile_id WHERE m.status IN ('realized', 'existing')")
        held = lake.query("SELECT d.audience, p.email FROM destination_members d JOIN person_profile p "
                          "ON p.person_id = d.profile_id")
        unsettled = lake.scalar("SELECT count(*) FROM delivery_runs WHERE status = 'running'")
        in_flight = lake.scalar("SELECT count(*) FROM delivery_in_flight")
    sent: Counter[tuple[str, str, str]] = Counter()
    for manifest in (ws.root / "exports").rglob("manifest.json"):
        listed = json.loads(manifest.read_text())
        for part in listed["parts"]:
            for line in (manifest.parent / part["file"]).read_text().splitlines()[1:]:
                _, email, change = line.rsplit(",", 2)
                sent[(listed["audience"], email.strip('"'), change)] += 1
    return {"records": records, "members": sorted((m["audience"], m["who"]) for m in members),
            "held": sorted((h["audience"], h["email"]) for h in held), "sent": sent,
            "unsettled": unsettled, "in_flight": in_flight}


@pytest.fixture(scope="module")
def reference(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[float]]:
    """A run without crashes, and how long each stage took (where the kills are aimed)."""
    ws = new_workspace(tmp_path_factory.mktemp("reference") / "ws")
    took = []
    for args in stages(tiny_world):
        started = time.monotonic()
        proc = accord(ws, args)
        assert proc.wait(timeout=300) == 0
        took.append(time.monotonic() - started)
    return observed(ws), took


@pytest.mark.parametrize("point", range(POINTS))
def test_kill_9_anywhere_then_run_again(point: int, reference, tiny_world: Path, tmp_path: Path) -> None:
    expected, took = reference
    rnd = random.Random(point)
    stage = point % 3
    ws = new_workspace(tmp_path / "ws")
    for args in stages(tiny_world)[:stage]:
        assert accord(ws, args).wait(timeout=300) == 0
    victim = accord(ws, stages(tiny_world)[stage])
    time.sleep(rnd.uniform(0.1, took[stage]))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    run_all(ws, tiny_world)
    got = observed(ws)
    assert got["records"] == expected["records"], "no record lost, none doubled"
    assert got["members"] == expected["members"]
    assert got["held"] == expected["held"]
    assert set(got["sent"]) == set(expected["sent"]) and max(got["sent"].values()) == 1, "each change sent once"
    assert got["unsettled"] == got["in_flight"] == 0
