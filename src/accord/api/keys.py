"""Write keys (collector) and API keys (REST and web UI): shown once when created, stored only as SHA-256 hashes;
an API key has roles that say what it may do."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from accord.lake.store import Lake, now

KINDS = {"write": "wk", "api": "ak"}
API_KEY_REQUIRED = ("an API key is required: Authorization: Bearer <key> "
                    "(create one with `accord keys create api`)")
"""What a request to the REST API without a valid key is told."""
ROLES = {
    "read": "Read profiles, audiences, destinations, runs and policies.",
    "write-audiences": "Create and change audiences, and evaluate them.",
    "activate": "Run destinations and send dead letters again.",
    "privacy": "Make privacy access and delete requests.",
    "admin": "Everything, the audit log and identity splits included.",
}


@dataclass(frozen=True)
class NewKey:
    key_id: str
    kind: str
    secret: str
    roles: tuple[str, ...] = ("admin",)


@dataclass(frozen=True)
class KeyHolder:
    """Who a request comes from: a key's id and its roles."""

    key_id: str
    roles: tuple[str, ...]

    def may(self, role: str) -> bool:
        """Any role reads; admin may do everything."""
        return "admin" in self.roles or role in self.roles or role == "read"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(lake: Lake, kind: str, note: str | None = None, roles: tuple[str, ...] = ("admin",)) -> NewKey:
    """A new key; an API key with the roles given (every right, `admin`, unless narrowed)."""
    if kind not in KINDS:
        raise ValueError(f"a key is of kind {' or '.join(KINDS)}, not {kind!r}")
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"a key's roles are some of {', '.join(ROLES)}, not {', '.join(unknown) or 'none'}")
    secret = f"{KINDS[kind]}_{secrets.token_urlsafe(24)}"
    key_id = secret[:10]
    lake.execute("INSERT INTO api_keys (key_id, kind, key_hash, created_at, revoked_at, note, roles) "
                 "VALUES (?, ?, ?, ?, NULL, ?, ?)", [key_id, kind, _hash(secret), now(), note, list(roles)])
    return NewKey(key_id, kind, secret, tuple(roles))


def revoke_key(lake: Lake, key_id: str) -> None:
    found = lake.scalar("SELECT count(*) FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", [key_id])
    if not found:
        raise LookupError(f"no active key {key_id!r} (see `accord keys list`)")
    lake.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", [now(), key_id])


def active_hashes(lake: Lake, kind: str) -> dict[str, KeyHolder]:
    """Hash → who holds it, for the keys of a kind not revoked."""
    rows = lake.execute("SELECT key_hash, key_id, roles FROM api_keys WHERE kind = ? AND revoked_at IS NULL",
                        [kind]).fetchall()
    return {h: KeyHolder(key_id, tuple(roles or ("admin",))) for h, key_id, roles in rows}


def matches(secret: str, hashes: Iterable[str]) -> bool:
    return holder(secret, {h: KeyHolder("", ()) for h in hashes}) is not None


def holder(secret: str, keys: Mapping[str, KeyHolder]) -> KeyHolder | None:
    """Who holds this secret, if it is an active key (compared in constant time)."""
    digest = _hash(secret)
    found = None
    for known, who in keys.items():
        if secrets.compare_digest(digest, known):
            found = who
    return found
