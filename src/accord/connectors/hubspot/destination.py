"""HubSpot static lists: a person audience as a list of existing contacts, found by their contact ids in this portal,
else by e-mail; an account audience as a list of existing companies, by their company ids, else by web domain. No
contact or company is ever created."""

from __future__ import annotations

import threading
from pathlib import Path

from accord.activation.destination import (
    Capabilities,
    DeliveryError,
    Member,
    Outcome,
    key_ids,
    reached_on_list,
    update_by_adding,
)
from accord.connectors.hubspot.client import (
    BATCH_READ,
    COMPANIES,
    CONTACTS,
    HubSpotClient,
)
from accord.connectors.hubspot.config import HubSpotDestinationConfig
from accord.connectors.hubspot.source import SOURCE_TYPE

LISTED = {"person": (CONTACTS, "contact"), "account": (COMPANIES, "company")}
"""What a list of each kind of audience holds: HubSpot's object type id, and what one of them is called."""


class HubSpotDestination:
    def __init__(self, config: HubSpotDestinationConfig, client: HubSpotClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        # A contact read from this portal is keyed `<id>@<portal>.HubSpot` (identity namespace b2b_person), a
        # company alike (b2b_account).
        self.capabilities = Capabilities(needs=("email", "b2b_persons", "domain", "b2b_accounts"),
                                         batch_size=BATCH_READ, can_check=True,
                                         identities=("b2b_person", "b2b_account"), updates=True,
                                         concurrent_batches=config.max_concurrent)
        self._own = f"@{config.portal_id}.{SOURCE_TYPE}"
        self._lists: dict[str, str] = {}
        self._finding_list = threading.Lock()

    def check(self) -> dict[str, int]:
        """The token is this portal's; each audience's list exists, or will be made (create_lists)."""
        self.client.require_portal(self.config.portal_id, f"destination {self.config.name!r}")
        missing = [self.list_name(a) for a in self.config.audiences
                   if all(self.client.list_id(self.list_name(a), kind) is None for kind, _ in LISTED.values())]
        if missing and not self.config.create_lists:
            raise DeliveryError(f"HubSpot portal {self.config.portal_id} has no list "
                                f"{', '.join(map(repr, missing))}; create them, or set create_lists")
        return {"lists found": len(self.config.audiences) - len(missing), "to create": len(missing)}

    def list_name(self, audience: str) -> str:
        # The workspace's name in the default list name keeps workspaces sharing a portal off each other's lists.
        return self.config.lists.get(audience) or f"{self.workspace_name} · {audience}"

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        records = self._records(members)
        _, missing = self.client.list_change(self._list_id(audience, _kind(members)),
                                             sorted({i for ids in records.values() for i in ids}), remove=False)
        outcomes = []
        for member in members:
            ids = [i for i in records.get(member.profile_id, []) if i not in missing]
            if ids:
                outcomes.append(Outcome(member.profile_id, "added", key=",".join(ids)))
            else:
                called = LISTED[member.kind][1]
                reason = f"{called}_deleted" if records.get(member.profile_id) else f"no_matching_{called}"
                outcomes.append(Outcome(member.profile_id, "skipped", reason))
        return outcomes

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        ids = {m.profile_id: key_ids(m.key) for m in members}
        removed, _ = self.client.list_change(self._list_id(audience, _kind(members)),
                                             sorted({i for v in ids.values() for i in v}), remove=True)
        return [Outcome(m.profile_id, "removed") if removed & set(ids[m.profile_id])
                else Outcome(m.profile_id, "skipped", "not_in_list") for m in members]

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, ",")

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        ids = self._records(members) if change == "add" else {m.profile_id: key_ids(m.key) for m in members}
        return reached_on_list(ids, self.client.list_members(self._list_id(audience, _kind(members))), change)

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def close(self) -> None:
        self.client.close()

    def _records(self, members: list[Member]) -> dict[str, list[str]]:
        """Record ids per profile: its own contacts (companies) in this portal, else those with its e-mail
        (domain)."""
        person = _kind(members) == "person"
        own_ids, looked_up = ("b2b_persons", "email") if person else ("b2b_accounts", "domain")
        found: dict[str, list[str]] = {}
        by_value: dict[str, list[str]] = {}
        for member in members:
            own = [key.removesuffix(self._own) for key in member.fields.get(own_ids) or [] if key.endswith(self._own)]
            if own:
                found[member.profile_id] = own
            elif member.fields.get(looked_up):
                by_value.setdefault(str(member.fields[looked_up]).strip().lower(), []).append(member.profile_id)
        lookup = self.client.contacts_by_email if person else self.client.companies_by_domain
        for value, ids in lookup(sorted(by_value)).items():
            for profile in by_value.get(value, []):
                found[profile] = ids
        return found

    def _list_id(self, audience: str, kind: str) -> str:
        with self._finding_list:  # batches in flight together find (or make) the list once
            if audience not in self._lists:
                # Before any list is made or changed: a token of another portal would change that portal's lists.
                self.client.require_portal(self.config.portal_id, f"destination {self.config.name!r}")
                name, object_type = self.list_name(audience), LISTED[kind][0]
                found = self.client.list_id(name, object_type)
                if found is None:
                    if not self.config.create_lists:
                        raise DeliveryError(f"HubSpot portal {self.config.portal_id} has no {LISTED[kind][1]} list "
                                            f"{name!r}; create it, or set create_lists")
                    found = self.client.create_list(name, object_type)
                self._lists[audience] = found
            return self._lists[audience]


def _kind(members: list[Member]) -> str:
    """Whether a batch is of people or of accounts (an audience is one or the other)."""
    return members[0].kind if members else "person"


def open_destination(config: HubSpotDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> HubSpotDestination:
    # The delivery engine retries a failed batch by the destination's own settings (max_attempts, backoff).
    client = config.client(root, config.timeout_seconds, retries=0, concurrent=config.max_concurrent)
    return HubSpotDestination(config, client, workspace_name)
