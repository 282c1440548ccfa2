"""Marketo Engage static lists: members are existing leads, found by e-mail or by their lead id; never created."""

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
from accord.connectors.marketo.client import MarketoClient
from accord.connectors.marketo.config import MarketoDestinationConfig


class MarketoDestination:
    def __init__(self, config: MarketoDestinationConfig, client: MarketoClient, workspace_name: str) -> None:
        self.config, self.client, self.workspace_name = config, client, workspace_name
        # Each batch is a lookup then a list change: as many batches in flight as Marketo allows calls.
        self.capabilities = Capabilities(needs=("email", "marketo_lead_ids"), batch_size=300, can_check=True,
                                         identities=("marketo_lead_id",), concurrent_batches=config.max_concurrent,
                                         updates=True)
        self._lists: dict[str, int] = {}
        self._finding_list = threading.Lock()  # batches in flight together find (or create) the list once

    def check(self) -> dict[str, int]:
        """The instance answers these credentials; each audience's list exists, or will be made (folder_id)."""
        missing = [self.list_name(a) for a in self.config.audiences
                   if self.client.static_list_id(self.list_name(a)) is None]
        if missing and self.config.folder_id is None:
            raise DeliveryError(f"Marketo {self.config.munchkin_id} has no static list "
                                f"{', '.join(map(repr, missing))}; create them, or set folder_id so Accord creates "
                                "them")
        return {"static lists found": len(self.config.audiences) - len(missing), "to create": len(missing)}

    def list_name(self, audience: str) -> str:
        # The workspace's name in the default list name keeps workspaces sharing an instance off each other's lists.
        return self.config.lists.get(audience) or f"{self.workspace_name} · {audience}"

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        leads = self._leads(members)
        outcomes = [Outcome(m.profile_id, "skipped", "no_matching_lead") for m in members if not leads.get(m.profile_id)]
        answers = self._change(audience, [i for m in members for i in leads.get(m.profile_id, [])], remove=False)
        for member in members:
            ids = leads.get(member.profile_id)
            if not ids:
                continue
            added = [i for i in ids if answers.get(i, ("", ""))[0] == "added"]
            key = ",".join(map(str, added))
            if added:
                outcomes.append(Outcome(member.profile_id, "added", key=key))
            else:
                reason = "; ".join(answers.get(i, ("", "no answer"))[1] for i in ids)
                outcomes.append(Outcome(member.profile_id, "skipped", reason or "not added"))
        return outcomes

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        ids = {m.profile_id: [int(x) for x in (m.key or "").split(",") if x] for m in members}
        answers = self._change(audience, [i for v in ids.values() for i in v], remove=True)
        outcomes = []
        for member in members:
            statuses = [answers.get(i, ("skipped", ""))[0] for i in ids[member.profile_id]]
            outcomes.append(Outcome(member.profile_id, "removed" if "removed" in statuses else "skipped",
                                    None if "removed" in statuses else "not_in_list"))
        return outcomes

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        return update_by_adding(self, audience, members, ",")

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        if change == "add":
            ids = self._leads(members)
        else:
            ids = {m.profile_id: [int(x) for x in (m.key or "").split(",") if x] for m in members}
        on_list = self.client.list_members_among(self._list_id(audience),
                                                 sorted({i for v in ids.values() for i in v}))
        if change == "add":
            return {p: ",".join(str(i) for i in v if i in on_list) for p, v in ids.items() if any(i in on_list for i in v)}
        return {p: None for p, v in ids.items() if not any(i in on_list for i in v)}

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def close(self) -> None:
        self.client.close()

    # Helpers --------------------------------------------------------------------------------------------------
    def _leads(self, members: list[Member]) -> dict[str, list[int]]:
        """Lead ids per profile: its own ids in this instance, else the leads with its e-mail (300 a lookup)."""
        prefix = f"{self.config.munchkin_id}:"
        found: dict[str, list[int]] = {}
        by_email: dict[str, list[str]] = {}
        for member in members:
            own = [int(v[len(prefix):]) for v in member.fields.get("marketo_lead_ids") or [] if v.startswith(prefix)]
            if own:
                found[member.profile_id] = own
            elif member.fields.get("email"):
                by_email.setdefault(str(member.fields["email"]).strip().lower(), []).append(member.profile_id)
        if by_email:
            pages = list(self.client.leads_by("email", sorted(by_email), ["id", "email"]))
            for lead in (lead for page in pages for lead in page):
                for profile in by_email.get(str(lead.get("email") or "").lower(), []):
                    found.setdefault(profile, []).append(int(lead["id"]))
        return found

    def _change(self, audience: str, lead_ids: list[int], remove: bool) -> dict[int, tuple[str, str]]:
        answers: dict[int, tuple[str, str]] = {}
        list_id = self._list_id(audience)
        unique = list(dict.fromkeys(lead_ids))
        for i in range(0, len(unique), 300):
            for row in self.client.list_change(list_id, unique[i:i + 300], remove):
                reasons = "; ".join(f"{r.get('code')} {r.get('message')}" for r in row.get("reasons") or [])
                answers[int(row["id"])] = (str(row.get("status")), reasons)
        return answers

    def _list_id(self, audience: str) -> int:
        with self._finding_list:
            return self._find_list(audience)

    def _find_list(self, audience: str) -> int:
        if audience not in self._lists:
            name = self.list_name(audience)
            found = self.client.static_list_id(name, self.config.folder_id)
            if found is None:
                raise DeliveryError(f"Marketo {self.config.munchkin_id} has no static list {name!r}; create it, or "
                                    "set folder_id so Accord creates it")
            self._lists[audience] = found
        return self._lists[audience]



def open_destination(config: MarketoDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> MarketoDestination:
    return MarketoDestination(config, config.client(root), workspace_name)
