"""Consent per purpose and channel: which person attributes state it, which a destination's marketing actions need,
and why a member is kept back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConsentTerm:
    """One attribute stating consent for a purpose (and a marketing channel)."""

    column: str
    purpose: str
    """collect, share, personalize or marketing."""
    channel: str
    """For marketing: any, email, phone or ads; "" for the other purposes."""
    reason_column: str
    flag: bool = False
    """A true/false flag that refuses when true (an opt-out); else a y/n statement that refuses when n."""

    @property
    def key(self) -> str:
        """What a refusal is reported as: `consent:marketing.email`, `consent:share`."""
        return f"consent:{self.purpose}" + (f".{self.channel}" if self.channel else "")

    def refuses(self, value: Any) -> bool:
        if self.flag:
            return value is True
        return str(value or "").strip().lower() == "n"


TERMS: tuple[ConsentTerm, ...] = (
    ConsentTerm("marketing_consent", "marketing", "any", "consent_reason"),
    ConsentTerm("email_opt_out", "marketing", "email", "consent_reason", flag=True),
    ConsentTerm("do_not_call", "marketing", "phone", "do_not_call_reason", flag=True),
    ConsentTerm("ads_consent", "marketing", "ads", "consent_reason"),
    ConsentTerm("share_consent", "share", "", "consent_reason"),
    ConsentTerm("personalize_consent", "personalize", "", "consent_reason"),
    ConsentTerm("collect_consent", "collect", "", "consent_reason"),
)
BY_COLUMN = {t.column: t for t in TERMS}
UNDELIVERABLE = "email_invalid"
"""Not a consent, but like an e-mail opt-out it keeps a person from every e-mail destination."""
COLUMNS: tuple[str, ...] = (*BY_COLUMN, UNDELIVERABLE)

ACTION_TERMS: dict[str, tuple[str, ...]] = {
    "email_targeting": ("email_opt_out", UNDELIVERABLE),
    "phone_targeting": ("do_not_call",),
    "cross_site_targeting": ("ads_consent",),
    "onsite_advertising": ("ads_consent",),
    "export_to_third_party": ("share_consent",),
    "segment_match": ("share_consent",),
    "onsite_personalization": ("personalize_consent",),
    "single_identity_personalization": ("personalize_consent",),
}
"""What each marketing action needs besides marketing consent (which every delivery needs)."""


def needed(actions: Iterable[str]) -> tuple[str, ...]:
    """The consent columns a destination performing `actions` checks, in the order a refusal is reported."""
    wanted = {"marketing_consent", *(c for a in actions for c in ACTION_TERMS.get(a, ()))}
    return tuple(c for c in COLUMNS if c in wanted)


def refusal(fields: Mapping[str, Any], columns: Iterable[str]) -> str | None:
    """Why a member with these fields is kept back (`consent:marketing.email`, `email_invalid`), or None."""
    for column in columns:
        if column == UNDELIVERABLE:
            if fields.get(column) is True:
                return UNDELIVERABLE
        elif BY_COLUMN[column].refuses(fields.get(column)):
            return BY_COLUMN[column].key
    return None


def statements(attributes: Iterable[Any]) -> list[dict[str, Any]]:
    """A person's consent as their profile holds it: per purpose and channel the value, the record that stated it,
    when, and why (`attributes`: the profile's values with their source, as `profiles.lookup` gives them)."""
    values = {a.name: a for a in attributes if a.value is not None}
    out = []
    for term in TERMS:
        stated = values.get(term.column)
        if stated is None:
            continue
        reason = values.get(term.reason_column)
        out.append({"purpose": term.purpose, "channel": term.channel or None,
                    "value": "refused" if term.refuses(stated.value) else "granted",
                    "source_key": stated.source_key, "at": stated.source_updated_at,
                    "reason": reason.value if reason is not None else None})
    invalid = values.get(UNDELIVERABLE)
    if invalid is not None and invalid.value is True:
        out.append({"purpose": "marketing", "channel": "email", "value": "undeliverable",
                    "source_key": invalid.source_key, "at": invalid.source_updated_at, "reason": "invalid address"})
    return out
