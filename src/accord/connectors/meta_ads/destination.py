"""Meta Custom Audiences: a person audience as a customer-list custom audience, kept in step by adding and removing
users, each by its e-mail, phone, names and country (what it has of them), which leave Accord only as SHA-256 of
their normalised form. Meta matches a user by any of them: a work e-mail alone finds few people on Meta."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from accord.activation.destination import (
    Capabilities,
    DeliveryError,
    Member,
    Outcome,
    Reach,
    update_by_adding,
)
from accord.connectors.hashing import country_code, e164, hashed_email, sha256
from accord.connectors.meta_ads.client import PER_CALL, SCHEMA, MetaAdsClient
from accord.connectors.meta_ads.config import MetaAdsDestinationConfig
from accord.connectors.secrets import resolve_secret

FLAGGED = 471
"""The operation status of an audience Meta has restricted: it takes no change until appealed in Audience Manager."""
READY = 200
"""The delivery status of an audience ads can be served to."""
NORMAL = 200
"""The operation status of an audience working normally."""


class MetaAdsDestination:
    def __init__(self, config: MetaAdsDestinationConfig, client: MetaAdsClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        self.capabilities = Capabilities(needs=("email", "phone"), batch_size=PER_CALL, updates=True,
                                         reports_reach=True)
        self._audiences: dict[str, str] = {}
        self._finding = threading.Lock()

    def audience_name(self, audience: str) -> str:
        return self.config.custom_audiences.get(audience) or f"{self.workspace_name} · {audience}"

    def check(self) -> dict[str, int]:
        """The token reads the ad account's custom audiences; how many of the audiences' exist already."""
        names = {a.get("name") for a in self.client.custom_audiences(self.config.ad_account)}
        found = sum(self.audience_name(a) in names for a in self.config.audiences)
        return {"custom audiences found": found, "to create": len(self.config.audiences) - found}

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        return self._change(audience, members, remove=False)

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        return self._change(audience, members, remove=True)

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, None)

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        return {}  # Meta does not say who is in a custom audience: a cut-off run's changes are sent again

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def reach(self, audience: str) -> Reach | None:
        """Meta's estimate of the custom audience's size (a range) and whether it can serve ads to it."""
        held = {"id": self._audiences[audience]} if audience in self._audiences else self._held(audience)
        if held is None:
            return None
        said = self.client.figures(str(held["id"]))
        low, high = (said.get(k) for k in ("approximate_count_lower_bound", "approximate_count_upper_bound"))
        delivery, operation = said.get("delivery_status") or {}, said.get("operation_status") or {}
        notes = [str(s.get("description")) for s, fine in ((delivery, READY), (operation, NORMAL))
                 if s.get("code") not in (None, fine) and s.get("description")]
        ready = delivery.get("code") == READY and operation.get("code") in (None, NORMAL)
        return Reach("READY" if delivery.get("code") == READY else f"NOT READY ({delivery.get('code')})",
                     size_low=low if isinstance(low, int) and low >= 0 else None,
                     size_high=high if isinstance(high, int) and high >= 0 else None,
                     usable=ready if delivery.get("code") is not None else None, note="; ".join(notes) or None)

    def close(self) -> None:
        self.client.close()

    def _change(self, audience: str, members: list[Member], remove: bool) -> list[Outcome]:
        # A removal sends the keys the user was added by (its key), whatever the profile holds now.
        keys = {m.profile_id: m.key or user_key(m.fields) for m in members}
        outcomes = [Outcome(m.profile_id, "skipped", "no_email_or_phone") for m in members if not keys[m.profile_id]]
        sendable = [m for m in members if keys[m.profile_id]]
        if not sendable:
            return outcomes
        users = sorted({str(keys[m.profile_id]) for m in sendable})
        answer = self.client.change(self._audience_id(audience), [user_row(k) for k in users], remove)
        if int(answer.get("num_received") or 0) < len({keys[m.profile_id] for m in sendable}):
            raise DeliveryError(f"Meta received {answer.get('num_received')} of the batch's users: sent again")
        done = "removed" if remove else "added"
        return outcomes + [Outcome(m.profile_id, done, key=keys[m.profile_id]) for m in sendable]

    def _held(self, audience: str) -> dict[str, Any] | None:
        """The ad account's custom audience of the audience's name, if there is one."""
        name = self.audience_name(audience)
        return next((a for a in self.client.custom_audiences(self.config.ad_account) if a.get("name") == name), None)

    def _audience_id(self, audience: str) -> str:
        with self._finding:  # batches find (or make) the custom audience once
            if audience not in self._audiences:
                name = self.audience_name(audience)
                held = self._held(audience) or {
                    "id": self.client.create(self.config.ad_account, name, f"Accord audience {audience!r}"),
                    "subtype": "CUSTOM"}
                if held.get("subtype") != "CUSTOM":
                    raise DeliveryError(f"Meta custom audience {name!r} is a {held.get('subtype')} audience, not a "
                                        "customer list: name another in custom_audiences")
                status = (held.get("operation_status") or {}).get("code")
                if status == FLAGGED:
                    raise DeliveryError(f"Meta restricted custom audience {name!r} (operation status 471): appeal "
                                        "in Audience Manager, or name a new one in custom_audiences")
                self._audiences[audience] = str(held["id"])
            return self._audiences[audience]


def user_key(fields: dict[str, object]) -> str | None:
    """A member's hashed keys in `SCHEMA`'s order, joined by `|` (kept as its key), or None with neither an e-mail
    nor a phone written with its country code (names and a country alone match no one)."""
    email = hashed_email(str(fields["email"])) if fields.get("email") else ""
    phone = e164(str(fields["phone"])) if fields.get("phone") else None
    if not email and not phone:
        return None
    names = [_name(str(fields.get(f) or "")) for f in ("first_name", "last_name")]
    country = country_code(str(fields.get("country") or ""))
    values = [email, sha256(phone[1:]) if phone else "", *(sha256(n) if n else "" for n in names),
              sha256(country.lower()) if country else ""]
    return "|".join(values)


def _name(name: str) -> str:
    """A first or last name as Meta matches it: lower case, its letters alone (accented ones kept)."""
    return "".join(ch for ch in name.strip().lower() if ch.isalpha())


def user_row(key: str) -> list[str]:
    """The row of a key; a key kept before users were sent by several keys is the e-mail's hash alone."""
    values = key.split("|")
    return values + [""] * (len(SCHEMA) - len(values))


def open_destination(config: MetaAdsDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> MetaAdsDestination:
    client = MetaAdsClient(config.endpoint, config.version, resolve_secret(config.access_token, root),
                           config.calls_per_minute, config.timeout_seconds)
    return MetaAdsDestination(config, client, workspace_name)
