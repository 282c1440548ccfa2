"""Identifiers as ad platforms match them: an e-mail trimmed and lower-cased, a phone with its country code, a
country as its two-letter code; then SHA-256 in hex, so that none leaves Accord in plain."""

from __future__ import annotations

import functools
import hashlib
import re

import pycountry


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


@functools.lru_cache(maxsize=4096)  # a few countries, asked for each of thousands of members
def country_code(country: str) -> str | None:
    """ISO 3166-1 alpha-2 code of a country written as a code or a name ("JP", "Japan"); None when unknown."""
    try:
        return str(pycountry.countries.lookup(country.strip()).alpha_2) if country.strip() else None
    except LookupError:
        return None
