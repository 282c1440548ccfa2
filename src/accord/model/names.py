"""Names people give (audiences) as file and folder names and as names in other systems: readable, and within
what a file system or that system takes."""

from __future__ import annotations

import hashlib

SLUG_BYTES = 120
"""The longest slug kept whole; a longer one is cut (a file system takes 255 bytes a name)."""


def slug(name: str) -> str:
    """The name in lower case, its words (letters and digits of any script) joined by `-`; a long one cut to
    `SLUG_BYTES` and told apart by a digest of the whole name."""
    text = "".join(ch.lower() if ch.isalnum() else "-" for ch in name)
    text = "-".join(part for part in text.split("-") if part) or "audience"
    if len(text.encode()) > SLUG_BYTES:
        cut = text.encode()[:SLUG_BYTES].decode("utf-8", "ignore").rstrip("-")
        text = f"{cut}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return text


def within(name: str, limit: int) -> str:
    """`name` when it has at most `limit` characters; else cut, ending with a digest of the whole name so that two
    long names stay apart."""
    if len(name) <= limit:
        return name
    return f"{name[:limit - 10].rstrip()} ~{hashlib.sha256(name.encode()).hexdigest()[:8]}"
