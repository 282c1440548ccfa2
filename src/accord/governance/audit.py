"""The audit log: who changed what, when, with the value before and after. Entries are only ever added; this
module is the one that writes them."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from typing import Any

import yaml

from accord.lake.store import Lake, now

AUDIT_TABLES = ("audit_log",)
"""What this module owns: only ever added to, never searched by a privacy erasure (entries hold request ids)."""
WATCHED = ("destinations", "governance", "sources")
"""The parts of accord.yaml whose changes are recorded (they decide what data goes where)."""


_recorded: dict[str, str] = {}
"""Store (path and inode) → the configuration this process last found recorded there."""


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (some containers)
        return "cli"


def record(lake: Lake, actor: str, action: str, target: str, before: Any = None, after: Any = None,
           detail: str | None = None) -> None:
    """Add one entry; `before` and `after` are kept as text (JSON for anything but text)."""
    lake.execute("INSERT INTO audit_log VALUES (nextval('audit_seq'), ?, ?, ?, ?, ?, ?, ?)",
                 [now(), actor, action, target, _text(before), _text(after), detail])


def record_configuration(lake: Lake, config: dict[str, Any], actor: str = "accord.yaml") -> bool:
    """Record the watched parts of accord.yaml when they differ from the last recorded; True when they did."""
    current = {part: config.get(part) for part in WATCHED}
    text = yaml.safe_dump(current, sort_keys=True)
    store = f"{lake.path}:{os.stat(lake.path).st_ino}"  # a store made anew at the same path is another store
    if _recorded.get(store) == text:  # every delivery asks; the log is read once per change
        return False
    last = lake.scalar("SELECT after_value FROM audit_log WHERE action = 'configuration' ORDER BY entry_id DESC LIMIT 1")
    _recorded[store] = text
    if last == text:
        return False
    changed = [p for p in WATCHED if last is None or (yaml.safe_load(last) or {}).get(p) != current[p]]
    record(lake, actor, "configuration", ", ".join(changed), last, text,
           f"sha256 {hashlib.sha256(text.encode()).hexdigest()[:12]}")
    return True


def entries(lake: Lake, limit: int | None = 50, action: str | None = None, target: str | None = None
            ) -> list[dict[str, Any]]:
    """The newest entries first, of one action and one target when named (`limit` None: all of them)."""
    tests = [(column, value) for column, value in (("action", action), ("target", target)) if value is not None]
    where = ("WHERE " + " AND ".join(f"{column} = ?" for column, _ in tests)) if tests else ""
    bound = f" LIMIT {int(limit)}" if limit is not None else ""
    return lake.query(f"SELECT * FROM audit_log {where} ORDER BY entry_id DESC{bound}", [v for _, v in tests])


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)
