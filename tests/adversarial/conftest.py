"""A served workspace for probing: an app with a write key, driven in-process (no worker threads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from accord.api.app import create_app
from accord.cli import app
from accord.workspace import Workspace


def new_workspace(folder: Path) -> tuple[Workspace, str]:
    """A fresh workspace and a write key for it."""
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    made = runner.invoke(app, ["keys", "create", "write", "-w", str(folder)])
    assert made.exit_code == 0, made.output
    return Workspace.load(folder), made.stdout.strip().splitlines()[0]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[TestClient, Workspace, str]]:
    ws, key = new_workspace(tmp_path / "ws")
    yield TestClient(create_app(ws)), ws, key
