"""Who should be at a destination now, and who it has acknowledged: the two sides of every delta."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from accord.activation.destination import Member
from accord.audiences.memberships import active_sql
from accord.governance.consent import COLUMNS as CONSENT_COLUMNS
from accord.identity.nodes import salesforce_orgs, values_sql
from accord.lake.custom_fields import PROFILE_TABLES
from accord.lake.sql import ident
from accord.lake.store import Lake

ACTIVE = ("realized", "existing")


class LiveMembers(Protocol):
    """The streaming audiences as the live path decides them, ahead of the lake's record (`accord serve`)."""

    def members_of(self, audience: str, among: Iterable[str] | None = None) -> list[str] | None:
        """The audience's members (only those `among` some profiles, when given); None: not streamed."""

    def unstored_people(self, profiles: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The person columns of new people the lake holds no profile of yet, by profile id."""


class UnknownAudience(LookupError):
    """A destination names an audience the sandbox has never evaluated."""


def audience_kind(lake: Lake, audience: str) -> str:
    kind = lake.scalar("SELECT audience_of FROM audiences WHERE name = ?", [audience])
    if kind is None:
        raise UnknownAudience(f"audience {audience!r} has not been evaluated in this sandbox (run `accord audiences run`)")
    return str(kind)


class UnknownField(LookupError):
    """A destination asks for a field no profile holds."""


def refuse_unknown_fields(lake: Lake, destination: str, fields: list[str]) -> None:
    """Every field a destination sends must be a column of the people's or the accounts' profiles: a misspelt one
    would otherwise be left out of every member without a word (a field of the other kind is left out by design)."""
    held: dict[str, list[str]] = {"person_profile": [], "account_profile": []}
    for table, column in lake.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_name IN "
            "('person_profile', 'account_profile') ORDER BY table_name, ordinal_position").fetchall():
        held[table].append(column)
    unknown = [f for f in fields if not any(f in columns for columns in held.values())]
    if unknown and any(held.values()):  # a store with no profiles yet has nothing to send either
        raise UnknownField(f"destination {destination!r} sends field(s) {', '.join(map(repr, unknown))} that no "
                           f"profile holds (people: {', '.join(held['person_profile'])}; accounts: "
                           f"{', '.join(held['account_profile'])})")


def known_audiences(lake: Lake, names: list[str]) -> list[str]:
    """The names that have been evaluated or streamed into this sandbox."""
    known = {r[0] for r in lake.execute("SELECT name FROM audiences").fetchall()}
    return [n for n in names if n in known]


@dataclass
class Wanted:
    """Who should be at a destination now."""

    members: list[Member]
    awaited: set[str] = field(default_factory=set)
    """Members the live path decided that no row can stand for yet: a new person whose message waits for the lake
    (their identify's traits would be missing), or one an identity run just merged. A destination neither adds
    nor removes them until the lake's cycle decides them again."""


def current_members(lake: Lake, audience: str, fields: list[str], live: LiveMembers | None = None,
                    only: set[str] | None = None, identities: tuple[str, ...] = (),
                    org: str | None = None) -> Wanted:
    """Active members with the fields a destination wants, consent, and the values of the identity namespaces it
    keys members by (`marketo_lead_id` → field `marketo_lead_ids`, as `INSTANCE:ID`; `crm_id` → `crm_ids`).

    With `org`, `crm_ids` holds only ids of that Salesforce org (see `Capabilities.org`).

    `live` replaces the lake's recorded membership of a streamed audience by the live path's, which knows
    decisions the lake has not recorded yet, and people it has no profile of yet (those it cannot offer yet are
    `Wanted.awaited`). `only` limits the answer to some profiles.
    """
    kind = audience_kind(lake, audience)
    table = PROFILE_TABLES[kind]
    columns = {r[0] for r in lake.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
    wanted = [f for f in dict.fromkeys([*fields, *CONSENT_COLUMNS]) if f in columns or not columns]
    among = live.members_of(audience, only) if live is not None else None
    org = org if org is not None and org in salesforce_orgs(lake, kind) else None
    rows = _profile_rows(lake, audience, kind, wanted, among, only, identities, org) if columns else []
    names = [*wanted, *(f"{n}s" for n in identities)]
    members = [Member(str(r[0]), dict(zip(names, r[1:])), kind=kind) for r in rows]
    if among is None or len(members) == len(among):
        return Wanted(members)
    rowless = set(among) - {m.profile_id for m in members}
    if kind == "person" and live is not None:
        # New people decided live: sent as the lake will build them, not a cycle later.
        unstored = live.unstored_people(sorted(rowless))
        members += [Member(p, {n: row.get(n) for n in names}, kind=kind) for p, row in unstored.items()]
        members.sort(key=lambda m: m.profile_id)
        rowless -= set(unstored)
    return Wanted(members, rowless)


def _profile_rows(lake: Lake, audience: str, kind: str, wanted: list[str], among: list[str] | None,
                  only: set[str] | None, identities: tuple[str, ...], org: str | None) -> list[tuple[Any, ...]]:
    """The members' profile rows (of people or accounts: `kind`), with their values in `identities`: the `among`
    ones, else the lake's recorded members (of `only`, when given)."""
    table, key = PROFILE_TABLES[kind], f"{kind}_id"
    if among is None:
        membership = f"({active_sql()}" + (" AND list_contains(?, profile_id)" if only is not None else "") + ")"
        params: list[object] = [audience, *([sorted(only)] if only is not None else [])]
    else:
        membership, params = "(SELECT unnest(?::VARCHAR[]) AS profile_id)", [among]
    selected = "".join(f", p.{ident(f)}" for f in wanted)
    return lake.execute(
        f"""
        SELECT m.profile_id{selected}{"".join(f", {values_sql(kind, n, 'm.profile_id', org)}" for n in identities)}
        FROM {membership} m JOIN {table} p ON p.{key} = m.profile_id
        ORDER BY m.profile_id
        """,
        params,
    ).fetchall()


@dataclass(frozen=True)
class Held:
    """What a destination holds of a member: its key there, and the fingerprint of the fields it was sent."""

    key: str | None
    sent: str | None


def acknowledged(lake: Lake, destination: str, audience: str, among: set[str] | None = None) -> dict[str, Held]:
    """Profile id → what the destination holds of it, for every member it has confirmed (of those `among` some
    profiles, when given: a streaming run's cost does not grow with the audience)."""
    rows = lake.execute(
        "SELECT profile_id, destination_key, sent FROM destination_members WHERE destination = ? AND audience = ?"
        + (" AND profile_id IN (SELECT unnest(?::VARCHAR[]))" if among is not None else ""),
        [destination, audience, *([sorted(among)] if among is not None else [])],
    ).fetchall()
    return {str(p): Held(k, s) for p, k, s in rows}


def fingerprint(member: Member, sent: Sequence[str]) -> str:
    """A short digest of the fields (named in a fixed order) a destination is sent for `member`: when it changes,
    the destination is told. Of their reprs, as JSON took three times as long (1M members: 3.2 s)."""
    return hashlib.blake2b(repr([member.fields.get(name) for name in sent]).encode(), digest_size=12).hexdigest()
