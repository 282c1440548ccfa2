"""The large copies a run writes aside (a decompressed export, a Data Export's files) do not outlive it, even when it
is killed with `kill -9`: the next run removes the folders of processes that are gone."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from accord.cli import app
from accord.scratch import new_scratch, scratch, scratch_root


def test_a_killed_process_folder_is_removed_by_the_next_and_a_running_one_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = subprocess.run(
        [sys.executable, "-c", "import os, signal\nfrom accord.scratch import new_scratch\n"
         "folder = new_scratch('export')\n(folder / 'Account.csv').write_text('Id\\n1\\n')\nprint(folder, flush=True)\n"
         "os.kill(os.getpid(), signal.SIGKILL)"],
        capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert killed.returncode == -signal.SIGKILL
    left = Path(killed.stdout.strip())
    assert left.parent == scratch_root() and (left / "Account.csv").exists()
    mine = new_scratch("decompressed")
    assert not left.exists(), "the killed run's copy is removed"
    with scratch("export") as other:
        assert mine.exists() and other.exists(), "a running process's folders are kept"
    assert not other.exists() and mine.exists()


def test_an_ingest_killed_mid_file_leaves_nothing_behind_once_run_again(tmp_path) -> None:
    runner = CliRunner()
    ws, temp = tmp_path / "ws", tmp_path / "temp"
    temp.mkdir()
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    rows = 300_000
    with gzip.open(tmp_path / "Account.csv.gz", "wt") as f:
        f.write("Id,Name\n" + "".join(f"001{i:015d},Company {i}\n" for i in range(rows)))
    command = [sys.executable, "-m", "accord.cli", "ingest", "files", str(tmp_path / "Account.csv.gz"),
               "--mapping", "salesforce/account", "-w", str(ws)]
    env = {**os.environ, "TMPDIR": str(temp)}
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copies = temp / scratch_root().name
    deadline = time.monotonic() + 60
    while not any(copies.glob("*/Account.csv")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert run.poll() is None, "the run ended before its copy of the file was seen"
    run.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    assert any(copies.glob("*/Account.csv")), "a killed run cannot remove its copy itself"

    again = subprocess.run(command, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert list(copies.iterdir()) == [], "the killed run's copy and the new run's own are gone"
    with duckdb.connect(str(ws / "data" / "prod" / "accord.duckdb"), read_only=True) as store:
        counted = store.sql("SELECT count(*), count(DISTINCT source_key) FROM account_current").fetchall()
    assert counted == [(rows, rows)]
