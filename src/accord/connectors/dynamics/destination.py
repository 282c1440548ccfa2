"""Dynamics 365 static marketing lists: a person audience as a list of existing active contacts (or leads), found by
their ids in this organisation, else by e-mail; an account audience as a list of existing active accounts, by their
ids. No record is ever created."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
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
from accord.connectors.dynamics.client import VALUES_PER_QUERY, DynamicsClient, Refused
from accord.connectors.dynamics.config import DynamicsDestinationConfig
from accord.connectors.dynamics.source import SOURCE_TYPE

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class DynamicsDestination:
    def __init__(self, config: DynamicsDestinationConfig, client: DynamicsClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        # A record read from this organisation is keyed `<id>@<organisation>.Dynamics` (identity namespace
        # b2b_person, or b2b_account).
        self.capabilities = Capabilities(needs=("email", "b2b_persons", "b2b_accounts"), batch_size=VALUES_PER_QUERY,
                                         can_check=True, identities=("b2b_person", "b2b_account"), updates=True,
                                         concurrent_batches=config.max_concurrent)
        self._own = f"@{config.organization_id}.{SOURCE_TYPE}"
        self._lists: dict[str, str] = {}
        self._finding_list = threading.Lock()

    def check(self) -> dict[str, int]:
        """The environment is this organisation's; each audience's list exists, or will be made (create_lists)."""
        self._require_organization()
        tables = ("account", self._people)
        missing = [self.list_name(a) for a in self.config.audiences
                   if all(self.client.list_id(self.list_name(a), t) is None for t in tables)]
        if missing and not self.config.create_lists:
            raise DeliveryError(f"Dynamics has no marketing list {', '.join(map(repr, missing))}; create them "
                                "(static), or set create_lists")
        return {"lists found": len(self.config.audiences) - len(missing), "to create": len(missing)}

    def list_name(self, audience: str) -> str:
        # The workspace's name in the default list name keeps workspaces sharing an organisation off each other's.
        return self.config.lists.get(audience) or f"{self.workspace_name} · {audience}"

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        table = self._table(members)
        records = self._records(members, table)
        gone = self._add(self._list_id(audience, table), table, sorted({i for v in records.values() for i in v}))
        outcomes = []
        for member in members:
            ids = [i for i in records.get(member.profile_id, []) if i not in gone]
            if ids:
                outcomes.append(Outcome(member.profile_id, "added", key=",".join(ids)))
            else:
                reason = f"{table}_deleted" if records.get(member.profile_id) else f"no_matching_{table}"
                outcomes.append(Outcome(member.profile_id, "skipped", reason))
        return outcomes

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        list_id = self._list_id(audience, self._table(members))

        def removed(record: str) -> bool:
            try:
                self.client.remove_member(list_id, record)
                return True
            except Refused as err:  # the record was deleted in Dynamics, and left its lists with it
                if "Does Not Exist" not in err.said:
                    raise
                return False

        records = sorted({r for m in members for r in key_ids(m.key)})
        if len(records) <= 1:  # a streaming run's one removal: no threads to start
            done = {r for r in records if removed(r)}
        else:  # a removal is one call per record: they go several at once, within the client's pacing
            with ThreadPoolExecutor(self.config.max_concurrent) as pool:
                done = {r for r, ok in zip(records, pool.map(removed, records)) if ok}
        return [Outcome(m.profile_id, "removed") if done & set(key_ids(m.key))
                else Outcome(m.profile_id, "skipped", "not_in_list") for m in members]

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, ",")

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        table = self._table(members)
        ids = self._records(members, table) if change == "add" else {m.profile_id: key_ids(m.key) for m in members}
        return reached_on_list(ids, self.client.list_members(self._list_id(audience, table), table), change)

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def close(self) -> None:
        self.client.close()

    @property
    def _people(self) -> str:
        return self.config.people_as.removesuffix("s")

    def _table(self, members: list[Member]) -> str:
        """The table a batch's list holds (an audience is of people or of accounts)."""
        return "account" if members and members[0].kind == "account" else self._people

    def _records(self, members: list[Member], table: str) -> dict[str, list[str]]:
        """Active record ids per profile: its own records of `table` in this organisation, else (people) those
        with its e-mail."""
        own_ids = "b2b_accounts" if table == "account" else "b2b_persons"
        own = {m.profile_id: [k.removesuffix(self._own) for k in m.fields.get(own_ids) or [] if k.endswith(self._own)]
               for m in members}
        # A person's own ids may be of leads and of contacts alike (both are people): kept are those of `table`.
        active = self.client.active(table, f"{table}id", sorted({i for ids in own.values() for i in ids}))
        found = {p: [i for i in ids if i.lower() in active] for p, ids in own.items()}
        found = {p: ids for p, ids in found.items() if ids}
        by_email: dict[str, list[str]] = {}
        for member in members:
            if member.profile_id not in found and table != "account" and member.fields.get("email"):
                by_email.setdefault(str(member.fields["email"]).strip().lower(), []).append(member.profile_id)
        for email, ids in self.client.active(table, "emailaddress1", sorted(by_email)).items():
            for profile in by_email.get(email, []):
                found[profile] = ids
        return found

    def _add(self, list_id: str, table: str, ids: list[str]) -> set[str]:
        """Add the records; those Dynamics says no longer exist (deleted since they were found) are left out and
        the rest added. Returns the ids left out."""
        gone: set[str] = set()
        while ids:
            try:
                self.client.add_members(list_id, table, ids)
                return gone
            except Refused as err:
                named = {g.lower() for g in GUID.findall(err.said)} & set(ids) - {list_id}
                if "Does Not Exist" not in err.said or not named:
                    raise
                gone |= named
                ids = [i for i in ids if i not in named]
        return gone

    def _list_id(self, audience: str, table: str) -> str:
        with self._finding_list:  # batches in flight together find (or make) the list once
            if audience not in self._lists:
                # Before any list is made or changed: another organisation's lists would be changed.
                self._require_organization()
                name = self.list_name(audience)
                found = self.client.list_id(name, table)
                if found is None:
                    if not self.config.create_lists:
                        raise DeliveryError(f"Dynamics has no static marketing list of {table}s {name!r}; create it, "
                                            "or set create_lists")
                    found = self.client.create_list(name, table)
                self._lists[audience] = found
            return self._lists[audience]

    def _require_organization(self) -> None:
        self.client.require_organization(self.config.organization_id, f"destination {self.config.name!r}")


def open_destination(config: DynamicsDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> DynamicsDestination:
    # The delivery engine retries a failed batch by the destination's own settings (max_attempts, backoff).
    client = config.client(root, config.timeout_seconds, retries=0, concurrent=config.max_concurrent)
    return DynamicsDestination(config, client, workspace_name)
