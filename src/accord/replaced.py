"""Files saved whole or not at all (accord.yaml, audiences, exports, serve's announcement)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def replacing(path: Path, mode: int = 0o666) -> Iterator[TextIO]:
    """Write `path` through the yielded stream: if writing fails part-way (a full disk, a killed process, an error)
    `path` holds what it held before. The text goes to a hidden file beside it, flushed to disk, which then takes its
    place. A new file gets `mode` (less the umask, as `open` gives); a replaced one keeps its own."""
    path = Path(os.path.abspath(path))
    if path.is_dir():
        raise ValueError(f"{path} is a folder; name a file to write")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no folder {path.parent} to write {path.name} in")
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(aside, path.stat().st_mode & 0o777)
        os.replace(aside, path)
    except BaseException:
        aside.unlink(missing_ok=True)
        raise


def replace_text(path: Path, text: str, mode: int = 0o666) -> None:
    """`path` holds `text`, or what it held before (see `replacing`)."""
    with replacing(path, mode) as out:
        out.write(text)
