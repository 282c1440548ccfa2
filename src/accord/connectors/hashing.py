"""Identifiers as ad platforms match them: an e-mail trimmed and lower-cased, then SHA-256 in hex, so that no address
leaves Accord in plain."""

from __future__ import annotations

import hashlib


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normal_email(email: str) -> str:
    return email.strip().lower()


def hashed_email(email: str) -> str:
    return sha256(normal_email(email))
