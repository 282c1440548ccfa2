"""Text files in another encoding (a spreadsheet's Windows-1252, UTF-16) read as UTF-8, a byte that encoding
cannot decode kept as it was: still not UTF-8, so its row is quarantined as any such row is, and nothing is lost."""

from __future__ import annotations

import codecs
import io
from typing import BinaryIO

BLOCK_BYTES = 1 << 20
UTF8 = {"utf-8", "utf-8-sig"}


def checked_encoding(name: str) -> str:
    """The codec's own name for `name` (`cp1252` for `windows-1252`); a ValueError for a name that is none."""
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"encoding {name!r} is unknown: name it as Python does, e.g. cp1252 (Excel's 'CSV' in the "
                         "Americas and Western Europe), latin-1, utf-16") from None
    if not getattr(codec, "_is_text_encoding", True):
        raise ValueError(f"{name!r} is no text encoding")
    return codec.name


class Transcoded(io.RawIOBase):
    """`source`'s bytes, decoded from `encoding`, as UTF-8."""

    def __init__(self, source: BinaryIO, encoding: str) -> None:
        self._source = source
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            block = self._source.read(BLOCK_BYTES)
            self._done = not block
            self._pending = self._decoder.decode(block, final=self._done).encode("utf-8", "surrogateescape")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
