"""The one rule for a web domain: lower-case, no scheme, no `www.`, no path (`https://www.Acme.com/x` → `acme.com`)."""

from __future__ import annotations

import re

# RE2-compatible, so DuckDB's regexp_extract and Python's re read it alike.
DOMAIN_PATTERN = r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([^/:?#\s]+)"
_DOMAIN = re.compile(DOMAIN_PATTERN)


def domain_sql(text_sql: str) -> str:
    """SQL giving the domain of the text expression `text_sql`, or NULL."""
    pattern = "'" + DOMAIN_PATTERN.replace("'", "''") + "'"
    return f"NULLIF(regexp_extract(lower(trim({text_sql})), {pattern}, 1), '')"


def web_domain(text: str | None) -> str | None:
    if not text:
        return None
    match = _DOMAIN.match(text.strip().lower())
    return match.group(1) if match else None
