"""The store's share of the machine (`store:` in accord.yaml): refused when it cannot work, obeyed when set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from accord.cli import app
from accord.lake.config import StoreConfig
from accord.sources.files import jobs_from_manifest, load_file
from accord.workspace import Workspace
from tests.conftest import EXAMPLES


@pytest.mark.parametrize(("given", "kept"), [
    ("4GB", "4GB"), (" 512 MiB ", "512MiB"), ("1.5gb", "1.5gb"), ("50%", "50%"), ("100%", "100%"), (None, None),
])
def test_amounts_of_memory_the_store_takes(given: str | None, kept: str | None) -> None:
    assert StoreConfig(memory_limit=given).memory_limit == kept


@pytest.mark.parametrize(("given", "said"), [
    ("4", "no amount of memory"), ("lots", "no amount of memory"), ("-1GB", "no amount of memory"),
    ("100MB", "at least 256MiB"), ("0%", "more than 0 %"), ("150%", "at most 100 %"), ("4 GB; DROP", "no amount"),
])
def test_amounts_the_store_cannot_work_with_are_refused(given: str, said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        StoreConfig(memory_limit=given)


def test_only_the_limits_set_reach_the_store() -> None:
    assert StoreConfig().settings() == {}
    assert StoreConfig(memory_limit="2GB", threads=2).settings() == {"memory_limit": "2GB", "threads": 2}


def test_zero_threads_are_refused() -> None:
    with pytest.raises(ValidationError, match="threads"):
        StoreConfig(threads=0)


def _workspace(root: Path, tiny_world: Path, store: dict[str, object]) -> Workspace:
    ws = Workspace.init(root)
    (root / "accord.yaml").write_text(yaml.safe_dump(ws.config.model_dump(mode="json") | {"store": store}))
    for example in EXAMPLES.glob("*.aud"):
        (root / "audiences" / example.name).write_text(example.read_text())
    ws = Workspace.load(root)
    with ws.lake() as lake:
        for job in jobs_from_manifest(tiny_world):
            load_file(lake, job)
    return ws


def _sizes(ws: Workspace) -> dict[str, int]:
    with ws.lake() as lake:
        return dict(lake.execute("SELECT audience, count(*) FROM audience_membership "
                                 "WHERE status <> 'exited' GROUP BY audience").fetchall())


def test_a_store_held_to_little_memory_and_one_core_gives_the_same_memberships(tmp_path: Path,
                                                                               tiny_world: Path) -> None:
    held = _workspace(tmp_path / "held", tiny_world, {"memory_limit": "256MiB", "threads": 1})
    free = _workspace(tmp_path / "free", tiny_world, {})
    with held.lake() as lake:
        assert lake.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone() == \
            ("256.0 MiB", 1)
    with free.lake() as lake:
        assert lake.scalar("SELECT current_setting('memory_limit')") != "256.0 MiB"
    as_of = "2026-11-29T12:00:00Z"
    for ws in (held, free):
        result = CliRunner().invoke(app, ["run", "-w", str(ws.root), "--as-of", as_of])
        assert result.exit_code == 0, result.output
    assert _sizes(held) == _sizes(free)
    assert sum(_sizes(held).values()) > 0


def test_a_limit_in_accord_yaml_that_cannot_work_is_one_line(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    config = ws.config.model_dump(mode="json") | {"store": {"memory_limit": "10MB"}}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["status", "-w", str(ws.root)])
    assert result.exit_code == 1
    assert "store.memory_limit: '10MB' is too little for the store" in " ".join(result.output.split())
    assert "Traceback" not in result.output
