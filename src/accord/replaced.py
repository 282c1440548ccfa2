"""Files saved whole or not at all (accord.yaml, audiences, serve's announcement)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def replace_text(path: Path, text: str, mode: int = 0o666) -> None:
    """`path` holds `text`, or, if writing fails part-way (a full disk, a killed process), what it held before: the
    text goes to a hidden file beside it, flushed to disk, which then takes its place. A new file gets `mode` (less
    the umask, as `open` gives); a replaced one keeps its own."""
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(aside, path.stat().st_mode & 0o777)
        os.replace(aside, path)
    except BaseException:
        aside.unlink(missing_ok=True)
        raise
