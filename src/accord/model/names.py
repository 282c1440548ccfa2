"""Names people give (audiences, destinations, sources): what such a name may hold, and the name as a file or
folder name and as a name in other systems, readable and within what a file system or that system takes."""

from __future__ import annotations

import hashlib
import re

from accord.model.blanks import HIDDEN, stripped
from accord.terminal import CONTROLS

IN_LINKS = re.compile(r"[/?#%\\]")
"""Characters a name used in a link's path may not hold: no page could be found by it."""

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


def name_problem(name: str, kind: str, article: str = "a") -> str | None:
    """What makes `name` no name for a `kind` a person gives (None: nothing): people read, type and reference
    names, so a blank one, one padded with blanks, or one holding characters that show as something else or as
    nothing is refused."""
    seen = stripped(name)
    if not seen:
        return f"{article} {kind} needs a name"
    if name != seen:
        return f"the {kind} name {seen[:50]!r} begins or ends with a blank, which no one sees when typing it"
    if CONTROLS.search(name) or not set(name).isdisjoint(HIDDEN):
        return (f"the {kind} name {name[:50]!r} holds a control character or a direction override (or another "
                "character that shows as nothing), which shows as something else or as nothing")
    return None


def page_name_problem(name: str, kind: str, pages: tuple[str, ...] = ("new",)) -> str | None:
    """`name_problem`, and what keeps a name from being a page's address in the web UI and the REST API: `/ ? # %
    \\`, or a word the UI's own pages take (`/destinations/new`)."""
    if problem := name_problem(name, kind):
        return problem
    if IN_LINKS.search(name):
        return f"the {kind} name {name[:50]!r} may not hold / ? # % \\ (it is used in links)"
    if name in pages:
        return f"{name!r} is the address of a page: name the {kind} otherwise"
    return None
