"""A compressed export (`leads.csv.gz`, `.bz2`, `.xz`, as bulk APIs and object stores hand them out) decompressed
into a temporary folder, so that every reader (Arrow's, Python's, Spark's) reads a plain file, as often as it
needs to, and its records' fingerprint is that of the same file uncompressed."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

OPENERS: dict[str, Callable[..., IO[bytes]]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
BLOCK = 8 << 20
SPARE = 1 << 30
"""Disk space a decompression leaves free: a small file can expand without bound (a few MB of zeros to gigabytes)."""


class CompressedFileError(ValueError):
    """A compressed file that cannot be decompressed whole."""


def plain_name(path: Path) -> Path:
    """The file's name without its compression suffix (`leads.csv.gz` → `leads.csv`), or the path as it is."""
    return path.with_suffix("") if path.suffix.lower() in OPENERS else path


def decompressed(path: Path, folder: Path) -> Path:
    """`path` decompressed into `folder` (its name without the compression suffix); the path itself when it is no
    compressed file. CompressedFileError when the data is broken or would leave the disk with less than `SPARE`."""
    opener = OPENERS.get(path.suffix.lower())
    if opener is None:
        return path
    target = folder / plain_name(path).name
    try:
        with opener(path, "rb") as data, target.open("wb") as out:
            while block := data.read(BLOCK):
                if shutil.disk_usage(folder).free - len(block) < SPARE:
                    raise CompressedFileError(f"{path}: decompressed, it would fill the disk of {folder} (past "
                                              f"{out.tell() + len(block):,} bytes); decompress it where there is room")
                out.write(block)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise CompressedFileError(f"{path}: not a readable {path.suffix} file ({_said(err)})") from None
    return target


def temporary_folder() -> tuple[Path, Any]:
    """A new temporary folder and what removes it."""
    folder = Path(tempfile.mkdtemp(prefix="accord-decompressed-"))
    return folder, lambda: shutil.rmtree(folder, ignore_errors=True)


def _said(err: BaseException) -> str:
    return "cut short" if isinstance(err, EOFError) else str(err) or type(err).__name__
