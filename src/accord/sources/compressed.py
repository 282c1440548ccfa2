"""A compressed export (`leads.csv.gz`, `.bz2`, `.xz`, as bulk APIs and object stores hand them out, or a `.zip`
holding one file, as CRMs mail a large export) decompressed into a temporary folder, so that every reader (Arrow's,
Python's, Spark's) reads a plain file, as often as it needs to, and its records' fingerprint is that of the same
file uncompressed."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO

OPENERS: dict[str, Callable[..., IO[bytes]]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
BLOCK = 8 << 20
SPARE = 1 << 30
"""Disk space a decompression leaves free: a small file can expand without bound (a few MB of zeros to gigabytes)."""


ZIP = ".zip"
SKIPPED = ("__MACOSX/", ".DS_Store")
"""What a zip made on a Mac holds besides the files zipped."""


class CompressedFileError(ValueError):
    """A compressed file that cannot be decompressed whole."""


def compressed(path: Path) -> bool:
    return path.suffix.lower() in OPENERS or path.suffix.lower() == ZIP


def plain_name(path: Path) -> Path:
    """The file's name without its compression suffix (`leads.csv.gz` → `leads.csv`; a zip's: the file it holds),
    or the path as it is."""
    if path.suffix.lower() == ZIP:
        return path.with_name(_member(path).filename.rsplit("/", 1)[-1])
    return path.with_suffix("") if path.suffix.lower() in OPENERS else path


def decompressed(path: Path, folder: Path) -> Path:
    """`path` decompressed into `folder` (its name without the compression suffix); the path itself when it is no
    compressed file. CompressedFileError when the data is broken or would leave the disk with less than `SPARE`."""
    if not compressed(path):
        return path
    return _copied(path, _opened(path), folder / plain_name(path).name)


def zipped_files(path: Path) -> list[zipfile.ZipInfo]:
    """The files a zip holds (folders and what a Mac adds left out); CompressedFileError when it is no zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith(SKIPPED[0])
                    and not m.filename.endswith(SKIPPED[1])]
    except (OSError, zipfile.BadZipFile) as err:
        raise CompressedFileError(f"{path}: not a readable .zip file ({err})") from None


def sha256_of(data: IO[bytes]) -> str:
    """SHA-256 of what a stream holds, read a block at a time."""
    digest = hashlib.sha256()
    while block := data.read(BLOCK):
        digest.update(block)
    return digest.hexdigest()


def member_fingerprint(path: Path, member: zipfile.ZipInfo) -> str:
    """SHA-256 of one file of the zip at `path`, as that of the file extracted would be, read without writing it."""
    try:
        with _member_opened(path, member) as data:
            return sha256_of(data)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError) as err:
        raise CompressedFileError(f"{path}: not a readable .zip file ({_said(err)})") from None


def extracted(path: Path, member: zipfile.ZipInfo, folder: Path) -> Path:
    """One file of the zip at `path`, written into `folder` under its own name (never a path the zip names)."""
    return _copied(path, _member_opened(path, member), folder / member.filename.rsplit("/", 1)[-1])


def _copied(path: Path, opened: AbstractContextManager[IO[bytes]], target: Path) -> Path:
    """What `opened` reads written to `target`, stopping before the disk has less than `SPARE` left."""
    try:
        with opened as data, target.open("wb") as out:
            while block := data.read(BLOCK):
                if shutil.disk_usage(target.parent).free - len(block) < SPARE:
                    raise CompressedFileError(f"{path}: decompressed, it would fill the disk of {target.parent} (past "
                                              f"{out.tell() + len(block):,} bytes); decompress it where there is room")
                out.write(block)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, RuntimeError) as err:
        raise CompressedFileError(f"{path}: not a readable {path.suffix} file ({_said(err)})") from None
    return target


@contextmanager
def _opened(path: Path) -> Iterator[IO[bytes]]:
    """The decompressed bytes of `path`, as a stream."""
    if path.suffix.lower() != ZIP:
        with OPENERS[path.suffix.lower()](path, "rb") as data:
            yield data
        return
    with _member_opened(path, _member(path)) as data:
        yield data


@contextmanager
def _member_opened(path: Path, member: zipfile.ZipInfo) -> Iterator[IO[bytes]]:
    with zipfile.ZipFile(path) as archive, archive.open(member) as data:
        yield data


def _member(path: Path) -> zipfile.ZipInfo:
    """The one file a zip holds; CompressedFileError naming them when it holds several, or none."""
    files = zipped_files(path)
    if len(files) != 1:
        held = ", ".join(m.filename for m in files[:10]) + (", …" if len(files) > 10 else "")
        raise CompressedFileError(f"{path}: a zip holding {len(files)} files ({held or 'none'}); extract it and name "
                                  "one file, or a folder with manifest.yaml")
    return files[0]


def _said(err: BaseException) -> str:
    return "cut short" if isinstance(err, EOFError) else str(err) or type(err).__name__
