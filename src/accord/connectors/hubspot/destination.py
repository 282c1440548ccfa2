"""HubSpot static contact lists: members are existing contacts, found by their contact ids in this portal, else by
e-mail; never created."""

from __future__ import annotations

import threading
from pathlib import Path

from accord.activation.destination import (
    Capabilities,
    DeliveryError,
    Member,
    Outcome,
    update_by_adding,
)
from accord.connectors.hubspot.client import BATCH_READ, HubSpotClient
from accord.connectors.hubspot.config import HubSpotDestinationConfig
from accord.connectors.hubspot.source import SOURCE_TYPE


class HubSpotDestination:
    def __init__(self, config: HubSpotDestinationConfig, client: HubSpotClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        # A contact read from this portal is keyed `<id>@<portal>.HubSpot` (identity namespace b2b_person).
        self.capabilities = Capabilities(needs=("email", "b2b_persons"), batch_size=BATCH_READ, can_check=True,
                                         identities=("b2b_person",), updates=True,
                                         concurrent_batches=config.max_concurrent)
        self._own = f"@{config.portal_id}.{SOURCE_TYPE}"
        self._lists: dict[str, str] = {}
        self._finding_list = threading.Lock()

    def check(self) -> dict[str, int]:
        """The token is this portal's; each audience's list exists, or will be made (create_lists)."""
        self.client.require_portal(self.config.portal_id, f"destination {self.config.name!r}")
        missing = [self.list_name(a) for a in self.config.audiences if self.client.list_id(self.list_name(a)) is None]
        if missing and not self.config.create_lists:
            raise DeliveryError(f"HubSpot portal {self.config.portal_id} has no list "
                                f"{', '.join(map(repr, missing))}; create them, or set create_lists")
        return {"lists found": len(self.config.audiences) - len(missing), "to create": len(missing)}

    def list_name(self, audience: str) -> str:
        # The workspace's name in the default list name keeps workspaces sharing a portal off each other's lists.
        return self.config.lists.get(audience) or f"{self.workspace_name} · {audience}"

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        contacts = self._contacts(members)
        _, missing = self.client.list_change(self._list_id(audience),
                                                 sorted({i for ids in contacts.values() for i in ids}), remove=False)
        outcomes = []
        for member in members:
            ids = [i for i in contacts.get(member.profile_id, []) if i not in missing]
            if ids:
                outcomes.append(Outcome(member.profile_id, "added", key=",".join(ids)))
            else:
                reason = "contact_deleted" if contacts.get(member.profile_id) else "no_matching_contact"
                outcomes.append(Outcome(member.profile_id, "skipped", reason))
        return outcomes

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        ids = {m.profile_id: _ids(m.key) for m in members}
        removed, _ = self.client.list_change(self._list_id(audience), sorted({i for v in ids.values() for i in v}),
                                             remove=True)
        return [Outcome(m.profile_id, "removed") if removed & set(ids[m.profile_id])
                else Outcome(m.profile_id, "skipped", "not_in_list") for m in members]

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, ",")

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        ids = self._contacts(members) if change == "add" else {m.profile_id: _ids(m.key) for m in members}
        on_list = self.client.list_members(self._list_id(audience))
        if change == "add":
            return {p: ",".join(i for i in v if i in on_list) for p, v in ids.items() if set(v) & on_list}
        return {p: None for p, v in ids.items() if not set(v) & on_list}

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def close(self) -> None:
        self.client.close()

    def _contacts(self, members: list[Member]) -> dict[str, list[str]]:
        """Contact ids per profile: its own contacts in this portal, else the contacts with its e-mail."""
        found: dict[str, list[str]] = {}
        by_email: dict[str, list[str]] = {}
        for member in members:
            own = [key.removesuffix(self._own) for key in member.fields.get("b2b_persons") or []
                   if key.endswith(self._own)]
            if own:
                found[member.profile_id] = own
            elif member.fields.get("email"):
                by_email.setdefault(str(member.fields["email"]).strip().lower(), []).append(member.profile_id)
        for email, ids in self.client.contacts_by_email(sorted(by_email)).items():
            for profile in by_email.get(email, []):
                found[profile] = ids
        return found

    def _list_id(self, audience: str) -> str:
        with self._finding_list:  # batches in flight together find (or make) the list once
            if audience not in self._lists:
                # Before any list is made or changed: a token of another portal would change that portal's lists.
                self.client.require_portal(self.config.portal_id, f"destination {self.config.name!r}")
                name = self.list_name(audience)
                found = self.client.list_id(name)
                if found is None:
                    if not self.config.create_lists:
                        raise DeliveryError(f"HubSpot portal {self.config.portal_id} has no list {name!r}; create "
                                            "it, or set create_lists")
                    found = self.client.create_list(name)
                self._lists[audience] = found
            return self._lists[audience]


def _ids(key: str | None) -> list[str]:
    return [i for i in (key or "").split(",") if i]


def open_destination(config: HubSpotDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> HubSpotDestination:
    # The delivery engine retries a failed batch by the destination's own settings (max_attempts, backoff).
    client = config.client(root, config.timeout_seconds, retries=0, concurrent=config.max_concurrent)
    return HubSpotDestination(config, client, workspace_name)
