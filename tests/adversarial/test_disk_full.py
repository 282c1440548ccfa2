"""A disk that fills while Accord saves a file a person wrote (accord.yaml, an audience) leaves the file as it was:
the new text goes to a file beside it first, and takes the old one's place only once whole. One that fills under the
store says so in one line, loses nothing committed, and `serve` carries on by itself once it can write again.
A per-process file size limit (RLIMIT_FSIZE) stands in for a full disk: a write meets the same failure."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from accord.audiences.files import load_audiences
from accord.cli import app
from accord.identity.config import IdentityConfig
from accord.lake.faults import closed_by_fatal_error, disk_failure
from accord.lake.store import Lake
from accord.pipeline.runner import run_stages
from accord.pipeline.runs import latest
from accord.pipeline.runtime import Runtime
from accord.pipeline.stage import Context, Stage
from accord.workspace import Workspace

FULL_AFTER = 32
"""Bytes a process may write to one file before the disk counts as full (RLIMIT_FSIZE)."""

SAVE_CONFIG = """
from pathlib import Path
from accord.workspace import Workspace
ws = Workspace.load(Path({root!r}))
ws.config.name = "renamed"
ws.save()
"""

SAVE_AUDIENCE = """
from pathlib import Path
from accord.audiences.files import save_audience
from accord.audiences.text import parse_audience
save_audience(Path({folder!r}), parse_audience('audience "Quiet" of person where seniority = "Director"'))
"""


def full_after(size: int) -> Callable[[], None]:
    """For a child process: no file may grow past `size` bytes."""
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limited


def on_a_full_disk(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], preexec_fn=full_after(FULL_AFTER), capture_output=True,
                          text=True, timeout=120)


def test_accord_yaml_stays_whole_when_the_disk_fills_while_saving(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    before = (ws.root / "accord.yaml").read_text()
    done = on_a_full_disk(SAVE_CONFIG.format(root=str(ws.root)))
    assert done.returncode != 0 and "File too large" in done.stderr
    assert (ws.root / "accord.yaml").read_text() == before
    assert Workspace.load(ws.root).config == ws.config
    assert sorted(p.name for p in ws.root.iterdir()) == sorted(["accord.yaml", "audiences", "data"]), "a stray file"


def test_an_audience_stays_whole_when_the_disk_fills_while_saving(tmp_path: Path) -> None:
    folder = tmp_path / "audiences"
    folder.mkdir()
    (folder / "quiet.aud").write_text('audience "Quiet" of person\nwhere seniority = "Executive"\n')
    done = on_a_full_disk(SAVE_AUDIENCE.format(folder=str(folder)))
    assert done.returncode != 0 and "File too large" in done.stderr
    [kept] = load_audiences(folder)
    assert kept.name == "Quiet" and "Executive" in str(kept.where)
    assert [p.name for p in folder.iterdir()] == ["quiet.aud"], "a stray file"


def test_a_saved_file_keeps_the_permissions_a_plain_write_gives(tmp_path: Path) -> None:
    """Saving through a file beside does not narrow who may read: a new file gets what `open` gives under the
    umask, a replaced one keeps its own, and serve's announcement (it holds a token) stays the owner's only."""
    import os

    from accord.api.relay import ANNOUNCEMENT, announce
    from accord.replaced import replace_text

    umask = os.umask(0o022)
    try:
        plain, saved = tmp_path / "plain.txt", tmp_path / "saved.txt"
        plain.write_text("x")
        replace_text(saved, "x")
        assert saved.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644
        saved.chmod(0o640)
        replace_text(saved, "y")
        assert saved.stat().st_mode & 0o777 == 0o640 and saved.read_text() == "y"
        announce(tmp_path, "http://127.0.0.1:1")
        assert (tmp_path / ANNOUNCEMENT).stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)


@contextmanager
def files_no_bigger_than(size: int) -> Iterator[None]:
    """The same in this process, until the block ends."""
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_store_that_cannot_grow_is_said_in_one_line_and_the_rerun_loads_everything(tmp_path, tiny_world) -> None:
    folder = tmp_path / "ws"
    assert CliRunner().invoke(app, ["init", str(folder)]).exit_code == 0
    accord = str(Path(sys.executable).with_name("accord"))
    command = [accord, "ingest", "files", str(tiny_world), "-w", str(folder)]
    env = {**os.environ, "COLUMNS": "400"}

    stopped = subprocess.run(command, preexec_fn=full_after(2 << 20), capture_output=True, text=True, env=env,
                             timeout=300)
    assert stopped.returncode == 1
    assert "Traceback" not in stopped.stderr
    [said] = [line for line in stopped.stderr.splitlines() if line.strip()]
    assert said.startswith(f"error: could not write {folder / 'data' / 'prod' / 'accord.duckdb'}")
    assert "File too large (let it be written), then run the command again" in said

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    with Workspace.load(folder).lake("prod") as lake:
        loaded = dict(lake.execute("SELECT 'event', count(*) FROM event UNION ALL "
                                   "SELECT 'person', count(*) FROM person").fetchall())
    once = tmp_path / "once"
    assert CliRunner().invoke(app, ["init", str(once)]).exit_code == 0
    assert subprocess.run([accord, "ingest", "files", str(tiny_world), "-w", str(once)], capture_output=True,
                          timeout=300).returncode == 0
    with Workspace.load(once).lake("prod") as lake:
        assert loaded == dict(lake.execute("SELECT 'event', count(*) FROM event UNION ALL "
                                           "SELECT 'person', count(*) FROM person").fetchall())


def test_serve_opens_its_store_again_after_a_checkpoint_could_not_write_it(tmp_path) -> None:
    folder = tmp_path / "ws"
    assert CliRunner().invoke(app, ["init", str(folder)]).exit_code == 0
    runtime = Runtime.open(Workspace.load(folder), None, every=1.0)
    state = runtime.state
    try:
        before = state.cursor()
        before.execute("CREATE TABLE kept AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(300000)")
        with files_no_bigger_than(state.store.path.stat().st_size + 100_000):
            with pytest.raises(duckdb.Error) as raised:
                before.execute("CHECKPOINT")
        assert closed_by_fatal_error(raised.value)
        said = state.failed(raised.value)
        assert said.startswith(f"could not write {state.store.path}: File too large")
        assert said.endswith("serving carries on by itself once it can write again")
        with pytest.raises(duckdb.Error):
            before.execute("SELECT 1")  # DuckDB refuses everything on the store it closed

        after = state.cursor()
        assert after.scalar("SELECT count(*) FROM kept") == 300_000  # the committed table is all there
        reopened = state.store
        with pytest.raises(duckdb.Error) as late:
            before.execute("SELECT 1")  # a thread still holding a cursor on the old store fails once more ...
        state.failed(late.value)
        state.cursor().close()
        assert state.store is reopened  # ... and the store it reopened is not opened a second time
        after.close()
        before.close()
    finally:
        runtime.stop()


@pytest.mark.parametrize(("text", "line"), [
    ('Failed to commit: Could not write file "/d/accord.duckdb.wal": No space left on device',
     "could not write /d/accord.duckdb.wal: No space left on device (free space on that disk)"),
    ('Failed: database has been invalidated because of a previous fatal error.\nOriginal error: "Failed to create '
     'checkpoint because of error: Could not write file "/d/accord.duckdb": Disk quota exceeded"',
     "could not write /d/accord.duckdb: Disk quota exceeded (free space on that disk)"),
    ("Binder Error: column x not found", None),
])
def test_what_a_store_that_could_not_be_written_says(text: str, line: str | None) -> None:
    assert disk_failure(duckdb.IOException(text)) == line


def test_the_error_a_cleanup_raises_still_names_the_write_that_failed_first() -> None:
    try:
        try:
            raise duckdb.FatalException('Could not write file "/d/accord.duckdb": No space left on device')
        except duckdb.FatalException:
            raise duckdb.FatalException("Failed: database has been invalidated because of a previous fatal error")
    except duckdb.FatalException as err:
        assert closed_by_fatal_error(err)
        said = disk_failure(err)
        assert said == "could not write /d/accord.duckdb: No space left on device (free space on that disk)"


def test_a_stage_stopped_by_a_full_disk_is_recorded_in_the_same_one_line(tmp_path: Path) -> None:
    def filling(ctx: Context) -> tuple[int, int]:
        raise duckdb.IOException('Failed to commit: Could not write file "/d/accord.duckdb.wal": No space left on '
                                 'device\nPossible solutions: ...')

    with Lake(tmp_path / "accord.duckdb") as lake:
        with pytest.raises(duckdb.IOException):
            run_stages(Context(lake, IdentityConfig()), [Stage("filling", (), (), filling)])
        [recorded] = [r["error"] for r in latest(lake) if r["stage"] == "filling"]
    assert recorded == "could not write /d/accord.duckdb.wal: No space left on device (free space on that disk)"
