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
    undeliverable: bool = False
    """Not a consent but a channel that cannot reach the person (an invalid address): reported by its column,
    shown only when it holds."""

    @property
    def key(self) -> str:
        """What a refusal is reported as: `consent:marketing.email`, `consent:share`, `email_invalid`."""
        if self.undeliverable:
            return self.column
        return f"consent:{self.purpose}" + (f".{self.channel}" if self.channel else "")

    def refuses(self, value: Any) -> bool:
        if self.flag:
            return value is True
        return str(value or "").strip().lower() == "n"


TERMS: tuple[ConsentTerm, ...] = (
    ConsentTerm("marketing_consent", "marketing", "any", "consent_reason"),
    ConsentTerm("email_opt_out", "marketing", "email", "consent_reason", flag=True),
    ConsentTerm("email_invalid", "marketing", "email", "", flag=True, undeliverable=True),
    ConsentTerm("do_not_call", "marketing", "phone", "do_not_call_reason", flag=True),
    ConsentTerm("ads_consent", "marketing", "ads", "consent_reason"),
    ConsentTerm("share_consent", "share", "", "consent_reason"),
    ConsentTerm("personalize_consent", "personalize", "", "consent_reason"),
    ConsentTerm("collect_consent", "collect", "", "consent_reason"),
)
BY_COLUMN = {t.column: t for t in TERMS}
COLUMNS: tuple[str, ...] = tuple(BY_COLUMN)

ACTION_TERMS: dict[str, tuple[str, ...]] = {
    "email_targeting": ("email_opt_out", "email_invalid"),
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
    return next((BY_COLUMN[c].key for c in columns if BY_COLUMN[c].refuses(fields.get(c))), None)


def statements(attributes: Iterable[Any]) -> list[dict[str, Any]]:
    """A person's consent as their profile holds it: per purpose and channel the value, the record that stated it,
    when, and why (`attributes`: the profile's values with their source, as `profiles.lookup` gives them)."""
    values = {a.name: a for a in attributes if a.value is not None}
    out = []
    for term in TERMS:
        stated = values.get(term.column)
        refused = stated is not None and term.refuses(stated.value)
        if stated is None or (term.undeliverable and not refused):
            continue
        reason = values.get(term.reason_column)
        out.append({"purpose": term.purpose, "channel": term.channel or None,
                    "value": ("undeliverable" if term.undeliverable else "refused") if refused else "granted",
                    "source_key": stated.source_key, "at": stated.source_updated_at,
                    "reason": "invalid address" if term.undeliverable else reason.value if reason else None})
    return out
