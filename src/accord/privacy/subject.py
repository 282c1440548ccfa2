"""The person a request is about: their profile and every value that identifies them or their records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from accord.identity.nodes import identities_of
from accord.lake.store import Lake
from accord.profiles.lookup import find_profile_id


@dataclass(frozen=True)
class Subject:
    profile_id: str
    identities: tuple[tuple[str, str], ...]
    """(namespace, value) of every identity and record of the profile."""
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
    """The person holding identity `ref` (`email:…`, `person_id:…`, …); ProfileNotFound when none does."""
    profile_id = find_profile_id(lake, "person", ref)
    identities = tuple(identities_of(lake, "person", profile_id))
    emails = {value.lower() for namespace, value in identities if namespace == "email"}
    exact = {profile_id} | {value for namespace, value in identities if namespace != "email"}
    return Subject(profile_id, identities, frozenset(exact), frozenset(emails))


def identity_digest(ref: str) -> str:
    """What a request keeps of the identity it was asked about."""
    return hashlib.sha256(ref.strip().lower().encode()).hexdigest()
