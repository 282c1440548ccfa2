"""A disk that fills while Accord saves a file a person wrote (accord.yaml, an audience) leaves the file as it was:
the new text goes to a file beside it first, and takes the old one's place only once whole."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

from accord.audiences.files import load_audiences
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


def on_a_full_disk(script: str) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (FULL_AFTER, FULL_AFTER))

    return subprocess.run([sys.executable, "-c", script], preexec_fn=limited, capture_output=True, text=True,
                          timeout=120)


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
