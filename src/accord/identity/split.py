"""Undo a wrong merge: an identity of a profile stops linking records, from the next identity run on."""

from __future__ import annotations

from accord.lake.store import Lake, now
from accord.profiles.lookup import parse_identity


def split_profile(lake: Lake, profile_id: str, identity: str) -> tuple[str, str, str]:
    """Record that `identity` must no longer join records of `profile_id`; returns (kind, namespace, value)."""
    namespace, value = parse_identity(identity)
    row = lake.execute(
        "SELECT kind FROM identity_nodes WHERE profile_id = ? AND namespace = ? AND value = ?",
        [profile_id, namespace, value],
    ).fetchone()
    if row is None:
        raise LookupError(f"{profile_id} holds no identity {namespace}:{value} (see `accord profile get person_id:{profile_id}`)")
    lake.execute("INSERT INTO identity_unlinks (kind, namespace, value, profile_id, created_at) VALUES (?, ?, ?, ?, ?)",
                 [row[0], namespace, value, profile_id, now()])
    return str(row[0]), namespace, value
