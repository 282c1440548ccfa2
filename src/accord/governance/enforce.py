"""Where policies are enforced in a workspace: before a destination sends, when an audience is saved, and on
demand (`accord policies check`)."""

from __future__ import annotations

from accord.activation.config import DestinationConfig
from accord.audiences.ast import Audience
from accord.audiences.files import parsed
from accord.governance.policies import Violation, violations
from accord.workspace import Workspace


def destination_violations(ws: Workspace, config: DestinationConfig, sandbox: str | None = None,
                           audiences: list[str] | None = None, saving: Audience | None = None) -> list[Violation]:
    """What the destination breaks by sending its audiences (or those named); `saving` stands in for the saved
    definition of the audience of its name."""
    if not ws.labels.declared:  # the usual case, and every delivery asks: no audience file is read
        return []
    by_name = {a.name: a for a in parsed(ws.audiences_dir(sandbox), ws.schema)}
    if saving is not None:
        by_name[saving.name] = saving
    out = []
    for name in config.audiences:
        if name in by_name and (audiences is None or name in audiences):
            out += violations(ws.labels, config.name, config.performs, by_name[name], by_name, config.fields)
    return out


def workspace_violations(ws: Workspace, sandbox: str | None = None) -> list[Violation]:
    """Every violation of every destination that reads the sandbox."""
    chosen = ws.sandbox(sandbox)
    return [v for config in ws.config.destinations if chosen in config.sandboxes
            for v in destination_violations(ws, config, chosen)]


def saving_violations(ws: Workspace, audience: Audience, sandbox: str | None = None) -> list[Violation]:
    """What saving this definition would make a destination break: a destination sending it, or sending an
    audience that names it."""
    chosen = ws.sandbox(sandbox)
    return [v for config in ws.config.destinations if chosen in config.sandboxes
            for v in destination_violations(ws, config, chosen, saving=audience)
            if audience.name in (v.audience, *v.through)]
