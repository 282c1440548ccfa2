"""Scratch folders for the large copies a run writes (decompressed exports, downloaded pages, Parquet segments before
they are put in place): each named by the process that made it, so that the next run removes what a killed one left."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def scratch_root() -> Path:
    """The folder holding every scratch folder of this user (under the system's temporary folder, `TMPDIR`)."""
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return Path(tempfile.gettempdir()) / f"accord-scratch-{user}"


def new_scratch(purpose: str) -> Path:
    """A new empty folder, which the caller removes; first the folders of processes no longer running are removed
    (a run killed by `kill -9` or a power cut can remove nothing itself, and a decompressed export can be gigabytes)."""
    root = scratch_root()
    root.mkdir(mode=0o700, exist_ok=True)
    _remove_orphans(root)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{purpose}-", dir=root))


@contextmanager
def scratch(purpose: str) -> Iterator[Path]:
    """A new scratch folder for the block's time."""
    folder = new_scratch(purpose)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_orphans(root: Path) -> None:
    """Remove the scratch folders whose process is gone."""
    for child in root.iterdir():
        pid = child.name.split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(child, ignore_errors=True)


def _running(pid: int) -> bool:
    if pid <= 0:  # no process's own: signalling 0 or less reaches a whole group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process holds that number now
        return True
    return True
