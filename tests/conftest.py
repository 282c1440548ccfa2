"""Shared fixtures: a fresh lake, a small generated world, helpers to write inputs."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from accord.generate import generate
from accord.ingest.mapping import Mapping, parse_mapping
from accord.lake.store import Lake
from accord.sources.files import FileJob, load_file

AS_OF = datetime(2026, 11, 29, tzinfo=timezone.utc)


@pytest.fixture
def lake(tmp_path: Path):
    with Lake(tmp_path / "lake" / "accord.duckdb") as store:
        yield store


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate(out, "tiny", seed=3, as_of=AS_OF)
    return out


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def mapping(entity: str, fields: dict[str, Any], **extra: Any) -> Mapping:
    return parse_mapping({"entity": entity, "source_type": "Test", "source_instance_id": "t1", "fields": fields, **extra})


def ingest(lake: Lake, path: Path, m: Mapping):
    return load_file(lake, FileJob(path, m))


@pytest.fixture(scope="session")
def profiled_lake(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny world ingested, stitched, profiled and prepared for audiences."""
    from accord.audiences.evaluate import prepare_tables
    from accord.identity.config import IdentityConfig
    from accord.identity.run import run_identity
    from accord.sources.files import jobs_from_manifest

    with Lake(tmp_path_factory.mktemp("profiled") / "l.duckdb") as store:
        for job in jobs_from_manifest(tiny_world):
            load_file(store, job)
        run_identity(store, IdentityConfig())
        prepare_tables(store)
        yield store
