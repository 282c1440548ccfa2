"""Shared fixtures: a fresh lake, a small generated world, helpers to write inputs."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings
from typer.testing import CliRunner

from accord.audiences.evaluate import evaluate
from accord.audiences.files import load_audiences
from accord.cli import app
from accord.demo import DEMO_CUSTOM_FIELDS
from accord.generate import generate
from accord.identity.config import IdentityConfig
from accord.ingest.loader import IngestResult
from accord.ingest.mapping import Mapping, parse_mapping
from accord.lake.custom_fields import declare
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.sources.base import RawChunk
from accord.sources.files import FileJob, jobs_from_manifest, load_file
from accord.workspace import Workspace

# The same examples on every machine, so a red run is this change's doing; `--hypothesis-profile=explore` searches.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", max_examples=500)
settings.load_profile("repeatable")

AS_OF = datetime(2026, 11, 29, tzinfo=timezone.utc)
EXAMPLES = Path(str(resources.files("accord.audiences").joinpath("examples")))
ENGINES = ("duckdb", pytest.param("spark", marks=pytest.mark.spark))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine by name: a test taking this fixture is part of the conformance suite and runs on every engine.
    `@pytest.mark.not_on("spark", "why")` says what is not built there yet; it fails if it starts passing."""
    if request.param == "spark":
        pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
        if shutil.which("java") is None:
            pytest.skip("Spark needs Java 17")
    return request.param


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        for mark in item.iter_markers("not_on"):
            name, why = mark.args
            if params is not None and params.params.get("engine") == name:
                item.add_marker(pytest.mark.xfail(strict=True, reason=f"not implemented on {name}: {why}"))


@pytest.fixture
def lake(tmp_path: Path):
    with Lake(tmp_path / "lake" / "accord.duckdb") as store:
        yield store


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate(out, "tiny", seed=3, as_of=AS_OF)
    return out


def workspace_reading(ws: Path, source: dict[str, Any], secret: str) -> Path:
    """A new workspace at `ws` whose one source is `source`, its secret in `<name>.secret` (which `source` names as
    `file:<name>.secret`)."""
    assert CliRunner().invoke(app, ["init", str(ws)]).exit_code == 0
    (ws / f"{source['name']}.secret").write_text(secret)
    config = yaml.safe_load((ws / "accord.yaml").read_text())
    config["sources"] = [source]
    (ws / "accord.yaml").write_text(yaml.safe_dump(config))
    return ws


def sync_killed_when(ws: Path, source_type: str, reached: Callable[[], bool]) -> None:
    """`accord sync <source_type>` in a process of its own, killed with SIGKILL once `reached()` (while a local
    server holds the answer the sync waits for)."""
    run = subprocess.Popen([sys.executable, "-m", "accord.cli", "sync", source_type, "-w", str(ws)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not reached() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.poll() is None and reached(), "killed while the held answer is awaited"
    os.kill(run.pid, signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def mapping(entity: str, fields: dict[str, Any], **extra: Any) -> Mapping:
    return parse_mapping({"entity": entity, "source_type": "Test", "source_instance_id": "t1", "fields": fields, **extra})


def ingest(lake: Lake, path: Path, m: Mapping, engine: str = "duckdb"):
    """Load one file through `m`, read and mapped on `engine` (the conformance suite's fixture names one)."""
    if engine == "duckdb":
        return load_file(lake, FileJob(path, m))
    from accord.engines.registry import open_engine

    return open_engine(engine, lake).load_file(FileJob(path, m))


def ingest_beside(lake: Lake, monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[Lake], None], entity: str,
                  rows: list[dict[str, Any]], **source: str) -> IngestResult:
    """`rows` as one batch (`ingest_records`) that opens first and commits last: `meanwhile` runs on another handle
    of the store while the batch is open, as serve's worker runs beside a source's long sync."""
    import accord.ingest.records as records

    ingest_chunks = records.ingest_chunks

    def opened_long(store: Lake, m: Mapping, chunks: Iterable[RawChunk], **kwargs: Any) -> IngestResult:
        records.ingest_chunks = ingest_chunks  # what `meanwhile` ingests commits at once

        def read_slowly() -> Iterator[RawChunk]:
            other = store.cursor()
            try:
                meanwhile(other)
            finally:
                other.close()
            yield from chunks
        return ingest_chunks(store, m, read_slowly(), **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(records, "ingest_chunks", opened_long)
        return records.ingest_records(lake, entity, rows, **source)


@pytest.fixture(scope="session")
def profiled_lake(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny world ingested, stitched, profiled and prepared for audiences."""
    from accord.audiences.prepared import prepare_tables
    from accord.identity.config import IdentityConfig
    from accord.pipeline import run_identity
    from accord.sources.files import jobs_from_manifest

    with Lake(tmp_path_factory.mktemp("profiled") / "l.duckdb") as store:
        declare(store, DEMO_CUSTOM_FIELDS)  # the generated org's custom fields, as the demo declares them
        for job in jobs_from_manifest(tiny_world):
            load_file(store, job)
        run_identity(store, IdentityConfig())
        prepare_tables(store)
        yield store


@pytest.fixture(scope="session")
def evaluated_lake(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world ingested, stitched and its example audiences evaluated: copied afresh for each test."""
    path = tmp_path_factory.mktemp("evaluated") / "accord.duckdb"
    with Lake(path) as lake:
        for job in jobs_from_manifest(tiny_world):
            load_file(lake, job)
        run_identity(lake, IdentityConfig())
        evaluate(lake, load_audiences(EXAMPLES), AS_OF)
    return path


def evaluated_workspace(tmp_path: Path, evaluated_lake: Path, destinations: list[dict[str, Any]] | None = None) -> Workspace:
    """A workspace holding a copy of the evaluated lake, the example audiences and the given destinations."""
    ws = Workspace.init(tmp_path / "ws")
    config = {**ws.config.model_dump(mode="json"), "destinations": destinations or []}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    ws = Workspace.load(ws.root)
    ws.lake_path().parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(evaluated_lake, ws.lake_path())
    for example in EXAMPLES.glob("*.aud"):
        shutil.copy(example, ws.root / "audiences" / example.name)
    return ws


def declared_workspace(root: Path, **declarations: Any) -> Workspace:
    """A new workspace whose accord.yaml adds `declarations` (custom_fields=[...], custom_objects=[...])."""
    ws = Workspace.init(root)
    (root / "accord.yaml").write_text(yaml.safe_dump(ws.config.model_dump(mode="json") | declarations))
    return Workspace.load(root)


def members_and_reference(ws: Workspace, texts: list[str], spark: bool = False) -> tuple[dict[str, set[str]],
                                                                                      dict[str, set[str]]]:
    """Members of the audiences `texts` in the default sandbox (recorded by an evaluation on DuckDB, or found by
    Spark), and the reference evaluator's."""
    from accord.audiences.compile import Compiler
    from accord.audiences.prepared import prepare_tables
    from accord.audiences.text import parse_audience
    from tests.reference import evaluate_reference

    audiences = [parse_audience(text, ws.schema) for text in texts]
    got: dict[str, set[str]] = {a.name: set() for a in audiences}
    with ws.lake() as lake:
        if spark:
            from accord.engines.spark.engine import SparkEngine
            from accord.engines.spark.session import spark_session

            prepare_tables(lake)
            session = spark_session()
            try:
                table = SparkEngine(lake, session).members(Compiler(AS_OF, lake.schema).compile_all(audiences))
            finally:
                session.stop()
            rows = zip(table.column("audience").to_pylist(), table.column("profile_id").to_pylist())
        else:
            evaluate(lake, audiences, AS_OF)
            rows = lake.execute("SELECT audience, profile_id FROM audience_membership WHERE status <> 'exited'"
                                ).fetchall()
        for name, profile in rows:
            got[name].add(profile)
        return got, evaluate_reference(lake, audiences, AS_OF)
