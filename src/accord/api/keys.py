"""Write keys (collector) and API keys (REST): shown once when created, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from accord.lake.store import Lake, now

KINDS = {"write": "wk", "api": "ak"}


@dataclass(frozen=True)
class NewKey:
    key_id: str
    kind: str
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(lake: Lake, kind: str, note: str | None = None) -> NewKey:
    if kind not in KINDS:
        raise ValueError(f"a key is of kind {' or '.join(KINDS)}, not {kind!r}")
    secret = f"{KINDS[kind]}_{secrets.token_urlsafe(24)}"
    key_id = secret[:10]
    lake.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL, ?)", [key_id, kind, _hash(secret), now(), note])
    return NewKey(key_id, kind, secret)


def revoke_key(lake: Lake, key_id: str) -> None:
    found = lake.scalar("SELECT count(*) FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", [key_id])
    if not found:
        raise LookupError(f"no active key {key_id!r} (see `accord keys list`)")
    lake.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", [now(), key_id])


def active_hashes(lake: Lake, kind: str) -> set[str]:
    rows = lake.execute("SELECT key_hash FROM api_keys WHERE kind = ? AND revoked_at IS NULL", [kind]).fetchall()
    return {r[0] for r in rows}


def matches(secret: str, hashes: set[str]) -> bool:
    digest = _hash(secret)
    return any(secrets.compare_digest(digest, h) for h in hashes)
