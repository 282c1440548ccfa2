"""Text from files, sources and collected events as a terminal may show it: its control characters and direction
overrides written out as escapes (`\\x1b`, `\\u202e`), never sent. A first name posted to the collector holding
ESC sequences would otherwise move the cursor, retitle the window or hide the lines after it when the CLI prints it,
and a right-to-left override would show one audience's name as another's."""

from __future__ import annotations

import re

from accord.model.blanks import DIRECTION_MARKS

CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{DIRECTION_MARKS}]")
"""C0 controls but tab and newline, DEL, C1 controls, and Unicode's direction marks (`model/blanks.py`)."""


def for_terminal(text: str) -> str:
    """`text` with each character a terminal would act on, not show, written as its escape."""
    return CONTROLS.sub(_escape, text) if CONTROLS.search(text) else text


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
