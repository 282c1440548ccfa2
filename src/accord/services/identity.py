"""Identity actions a person takes: undo a wrong merge."""

from __future__ import annotations

from typing import Any

from accord.identity.nodes import profile_of
from accord.identity.split import split_profile
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.workspace import Workspace


def split(ws: Workspace, lake: Lake, profile_id: str, identity: str) -> dict[str, Any]:
    """The identity stops linking records of the profile; restitched now. Returns where the identity went."""
    kind, namespace, value = split_profile(lake, profile_id, identity)
    report = run_identity(lake, ws.config.identity, trigger="split")
    holder = profile_of(lake, kind, namespace, value)
    return {"kind": kind, "namespace": namespace, "value": value, "from": profile_id, "now_in": holder,
            "identity_run": report}
