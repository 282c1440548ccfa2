"""Identifiers as ad platforms match them: an e-mail trimmed and lower-cased, a phone with its country code, a name in
lower-case letters alone, a country as its two-letter code; then SHA-256 in hex, so that none leaves Accord in
plain."""

from __future__ import annotations

import hashlib
import re


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normal_email(email: str) -> str:
    return email.strip().lower()


def hashed_email(email: str) -> str:
    return sha256(normal_email(email))


def e164(phone: str) -> str | None:
    """A phone in E.164 (+ and digits) when it is written with its country code; else None (never guessed)."""
    digits = re.sub(r"[^\d+]", "", phone.strip())
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits if re.fullmatch(r"\+[1-9]\d{6,14}", digits) else None


def normal_name(name: str) -> str:
    """A first or last name in lower case, its letters alone (accented ones kept): `O'Brien-Núñez` → `obriennúñez`."""
    return "".join(ch for ch in name.strip().lower() if ch.isalpha())


def country_code(country: str) -> str | None:
    """A country as its lower-case ISO 3166 two-letter code, when it is written as one; else None (never guessed)."""
    code = country.strip().lower()
    return code if re.fullmatch(r"[a-z]{2}", code) else None
