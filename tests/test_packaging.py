"""A regular (non-editable) install carries everything the package reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_holds_every_tracked_file_that_is_not_python(tmp_path: Path) -> None:
    # A copy, so that no earlier build's leftovers (build/) can fill the gaps.
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "bench", "tests"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(tree), "--no-deps", "--quiet", "-w", str(tmp_path)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("accord_cdp-*.whl"))
    shipped = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "src/accord"], cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout.split()
    data = {path.removeprefix("src/") for path in tracked if not path.endswith(".py")}
    assert data, "git lists no data files under src/accord"
    assert sorted(data - shipped) == []
