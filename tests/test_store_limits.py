"""The store's share of the machine (`store:` in accord.yaml): refused when it cannot work, obeyed when set."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from accord.cli import app, failure
from accord.identity.config import IdentityConfig
from accord.lake.config import StoreConfig, said_bytes
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.pipeline.runner import run_stages
from accord.pipeline.runs import latest
from accord.pipeline.stage import Context, Stage
from accord.profiles import build
from accord.profiles.build import build_profiles
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


def test_a_store_short_of_memory_says_which_setting_to_raise(tmp_path: Path) -> None:
    """DuckDB's own advice (`SET threads=X`, ...) is SQL a user cannot type into Accord: they are told the setting."""
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(ws.config.model_dump(mode="json")
                                                        | {"store": {"memory_limit": "256MiB"}}))
    ws = Workspace.load(ws.root)

    def greedy(ctx: Context) -> tuple[int, int]:
        ctx.lake.execute("SELECT list(i) FROM range(100000000) t(i)").fetchall()  # a list cannot spill to disk
        return 0, 0

    with ws.lake() as lake:
        with pytest.raises(duckdb.OutOfMemoryException) as raised:
            run_stages(Context(lake, ws.config.identity, ws), [Stage("greedy", (), (), greedy)])
        [recorded] = [r["error"] for r in latest(lake) if r["stage"] == "greedy"]
        assert lake.scalar("SELECT 1") == 1, "the store carries on"
    line = failure(raised.value, ["run"])
    for said in (recorded, line):
        assert said.startswith("the store ran out of memory (") and "MiB/256.0 MiB used)" in said, said
        assert "raise `store.memory_limit` in accord.yaml" in said and "\n" not in said and "SET " not in said
    assert line.endswith("then run the command again")


def test_a_store_short_of_memory_for_the_profiles_picks_them_in_parts_alike(tmp_path: Path, tiny_world: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB does not spill the per-profile picks: on a store held to little memory they run part by part."""
    with Lake(tmp_path / "accord.duckdb", settings={"memory_limit": "256MiB"}) as lake:
        for job in jobs_from_manifest(tiny_world):
            load_file(lake, job)
        run_identity(lake, IdentityConfig())
        whole = _profiles(lake)
        steps: list[list[str]] = []
        picking = build._picking

        def seen(*args: object) -> list[tuple[str, str]]:
            made = picking(*args)
            steps.append([name for name, _ in made])
            return made

        monkeypatch.setattr(build, "_picking", seen)
        monkeypatch.setattr(build, "PICK_BYTES", 10**6)  # as if each profile's picks took a megabyte
        build_profiles(lake, IdentityConfig())
        assert _profiles(lake) == whole
    assert [names[-1] for names in steps] == ["_picked_person", "_picked_account"]
    assert all(len(names) > 3 for names in steps), "each kind picked in parts, then put together"


def _profiles(lake: Lake) -> tuple[list[tuple], ...]:
    return tuple(lake.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
                 for table in ("person_profile", "account_profile", "profile_lineage"))


@pytest.mark.parametrize(("said", "amount"), [
    ("256.0 MiB", 256 * 2**20), ("18.8 GiB", int(18.8 * 2**30)), ("683.5 KiB", int(683.5 * 2**10)), ("0 bytes", 0),
])
def test_the_memory_duckdb_says_it_may_take(said: str, amount: int) -> None:
    assert said_bytes(said) == amount


def test_an_amount_duckdb_would_not_say_is_refused() -> None:
    with pytest.raises(ValueError, match="no amount of memory"):
        said_bytes("4GB")
