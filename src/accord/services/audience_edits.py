"""Editing an audience in the builder: its AST as the form edits it, what saving would change (the diff of the
definition and of its members), and every saved version, restorable."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date
from typing import Any

from accord.activation.run import reading
from accord.audiences.ast import Audience
from accord.audiences.evaluate import preview
from accord.audiences.memberships import active_members
from accord.audiences.method import evaluation_method
from accord.audiences.text import print_audience
from accord.governance import audit
from accord.lake.store import Lake
from accord.services.audiences import (
    UnknownAudienceName,
    parse,
    save,
    saved_text,
    workspace_audiences,
)
from accord.workspace import Workspace

CONFIRM_SHARE = 0.10
"""Saving a change that removes more than this share of an audience's members asks for an explicit confirm."""


@dataclass
class MembershipChange:
    """What saving a new definition of an existing audience would do to its members now."""

    current: int
    removed: int
    added: int
    destinations: list[str]
    """Destinations that send the audience: a change reaches them."""

    @property
    def needs_confirm(self) -> bool:
        return self.removed > CONFIRM_SHARE * self.current or bool(self.destinations)

    def explain(self) -> str:
        feeds = f"; it feeds {', '.join(self.destinations)}" if self.destinations else ""
        return f"saving removes {self.removed:,} of its {self.current:,} members and adds {self.added:,}{feeds}"


def to_form(audience: Audience) -> dict[str, Any]:
    """The AST as the builder edits it: JSON, with dates as `{"date": "YYYY-MM-DD"}` so they stay dates."""
    def plain(value: Any) -> Any:
        if isinstance(value, date):
            return {"date": value.isoformat()}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(audience.model_dump())


def from_form(data: Any) -> Any:
    """What `to_form` gave, edited, back to values the AST validates (dates as dates)."""
    if isinstance(data, dict):
        if set(data) == {"date"} and isinstance(data["date"], str):
            return date.fromisoformat(data["date"])
        return {k: from_form(v) for k, v in data.items()}
    if isinstance(data, list):
        return [from_form(v) for v in data]
    return data


def preview_text(ws: Workspace, lake: Lake, text: str | None = None, limit: int = 5,
                 ast: dict[str, Any] | None = None) -> dict[str, Any]:
    """An unsaved audience (its text or its builder AST) checked and sized against the current data: what a
    builder shows as you type; for an existing audience also the diff of its definition and what saving would do
    to its members."""
    audience = parse(ws, text, from_form(ast) if ast is not None else None)
    saved = {a.name: a for a in workspace_audiences(ws, lake.sandbox)}
    audiences = [a for name, a in saved.items() if name != audience.name] + [audience]
    members = sorted(preview(lake, audiences, audience.name))
    table, key, label = (("person_profile", "person_id", "email") if audience.of == "person"
                         else ("account_profile", "account_id", "name"))
    rows = lake.query(f"SELECT {key} AS id, {label} AS label FROM {table} WHERE {key} IN "
                      f"(SELECT unnest(?::VARCHAR[])) ORDER BY 1", [members[:limit]])
    answer = {"valid": True, "name": audience.name, "of": audience.of, "text": print_audience(audience),
              "ast": to_form(audience), "method": evaluation_method(audience, {a.name: a for a in audiences})[0],
              "size": len(members), "sample": rows, "change": None, "diff": ""}
    if audience.name in saved:
        change = membership_change(ws, lake, audience, set(members))
        answer["change"] = {**change.__dict__, "needs_confirm": change.needs_confirm}
        answer["diff"] = definition_diff(print_audience(saved[audience.name]), print_audience(audience))
    return answer


def membership_change(ws: Workspace, lake: Lake, audience: Audience, members: set[str] | None = None
                      ) -> MembershipChange:
    """The members recorded at the audience's last evaluation (what its destinations hold) against those
    `audience` would have now (computed unless given)."""
    current = active_members(lake, audience.name)
    if members is None:
        others = [a for a in workspace_audiences(ws, lake.sandbox) if a.name != audience.name]
        members = set(preview(lake, [*others, audience], audience.name))
    feeds = [d.name for d in reading(ws, ws.sandbox(lake.sandbox)) if audience.name in d.audiences]
    return MembershipChange(len(current), len(current - members), len(members - current), feeds)


def definition_diff(before: str, after: str) -> str:
    """A unified diff of two definitions ("" when equal)."""
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        "saved", "new"))


def versions(lake: Lake, name: str) -> list[dict[str, Any]]:
    """Every saved definition of the audience, newest first (the audit log keeps each save's before and after;
    the oldest is the file as it was before its first save here)."""
    saves = audit.entries(lake, None, "audience saved", name)
    out = [{"version": s["entry_id"], "saved_at": s["recorded_at"], "by": s["actor"], "text": s["after_value"],
            "note": s["detail"]} for s in saves]
    if saves and saves[-1]["before_value"]:
        out.append({"version": 0, "saved_at": None, "by": "the file before its first save here",
                    "text": saves[-1]["before_value"], "note": None})
    return out


def restore(ws: Workspace, lake: Lake, name: str, version: int, actor: str) -> Audience:
    """Save an earlier version of the audience again (itself a new version)."""
    found = next((v for v in versions(lake, name) if v["version"] == version), None)
    if found is None:
        raise UnknownAudienceName(f"audience {name!r} has no saved version {version}")
    audience = parse(ws, found["text"])
    before = saved_text(ws, name, lake.sandbox)
    save(ws, audience, lake.sandbox)
    audit.record(lake, actor, "audience saved", audience.name, before, print_audience(audience),
                 detail=f"restored version {version}")
    return audience
