"""The person a request is about: their profile and every value that identifies them or their records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from accord.identity.nodes import identities_of, profiles_of
from accord.lake.store import Lake
from accord.profiles.lookup import ProfileNotFound, parse_identity, people_with_email


@dataclass(frozen=True)
class Subject:
    profile_ids: tuple[str, ...]
    """Every profile holding the identity asked about (records sharing an e-mail may be kept apart)."""
    identities: tuple[tuple[str, str], ...]
    """(namespace, value) of every identity and record of those profiles."""
    exact: frozenset[str] = field(default_factory=frozenset)
    """Values matched as they are: the profile id, record source keys, ids."""
    folded: frozenset[str] = field(default_factory=frozenset)
    """Values matched lower-cased: e-mail addresses."""

    @property
    def hashed(self) -> frozenset[str]:
        """SHA-256 of each e-mail, as destinations and export files that hash them hold it."""
        return frozenset(hashlib.sha256(v.encode()).hexdigest() for v in self.folded)

    @property
    def everything(self) -> frozenset[str]:
        return self.exact | self.folded | self.hashed

    def mentioned_in(self, text: str) -> bool:
        """Whether free text (a log line, a quarantined record) carries one of the values."""
        lowered = text.lower()
        return any(v in text for v in self.exact if len(v) >= 6) or any(v in lowered for v in self.folded)


def find_subject(lake: Lake, ref: str) -> Subject:
    """The person holding identity `ref` (`email:…`, `person_id:…`, …), in every profile that holds it;
    ProfileNotFound when none does."""
    namespace, value = parse_identity(ref)
    profiles = profiles_of(lake, "person", namespace, value)
    if namespace == "email":
        profiles = sorted({*profiles, *people_with_email(lake, value)})
    if not profiles:
        raise ProfileNotFound.of("person", namespace, value)
    identities = tuple(sorted({i for p in profiles for i in identities_of(lake, "person", p)}))
    emails = {v.lower() for n, v in identities if n == "email"}
    exact = set(profiles) | {v for n, v in identities if n != "email"}
    return Subject(tuple(profiles), identities, frozenset(exact), frozenset(emails))


def identity_digest(ref: str) -> str:
    """What a request keeps of the identity it was asked about."""
    return hashlib.sha256(ref.strip().lower().encode()).hexdigest()
