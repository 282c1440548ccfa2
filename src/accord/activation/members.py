"""Who should be at a destination now, and who it has acknowledged: the two sides of every delta."""

from __future__ import annotations

from accord.activation.destination import Member
from accord.audiences.memberships import active_sql
from accord.governance.consent import COLUMNS as CONSENT_COLUMNS
from accord.identity.nodes import values_sql
from accord.lake.sql import ident
from accord.lake.store import Lake

ACTIVE = ("realized", "existing")


class UnknownAudience(LookupError):
    """A destination names an audience the sandbox has never evaluated."""


def audience_kind(lake: Lake, audience: str) -> str:
    kind = lake.scalar("SELECT audience_of FROM audiences WHERE name = ?", [audience])
    if kind is None:
        raise UnknownAudience(f"audience {audience!r} has not been evaluated in this sandbox (run `accord audiences run`)")
    return str(kind)


def known_audiences(lake: Lake, names: list[str]) -> list[str]:
    """The names that have been evaluated or streamed into this sandbox."""
    known = {r[0] for r in lake.execute("SELECT name FROM audiences").fetchall()}
    return [n for n in names if n in known]


def current_members(lake: Lake, audience: str, fields: list[str], among: list[str] | None = None,
                    only: set[str] | None = None, identities: tuple[str, ...] = ()) -> list[Member]:
    """Active members with the fields a destination wants, consent, and the values of the identity namespaces it
    keys members by (`marketo_lead_id` → field `marketo_lead_ids`, as `INSTANCE:ID`; `crm_id` → `crm_ids`).

    `among` replaces the lake's recorded membership by another view of it (the live path's, which knows decisions
    the lake has not recorded yet); a member without a profile yet waits for the lake. `only` limits the answer to
    some profiles.
    """
    kind = audience_kind(lake, audience)
    table, key = ("person_profile", "person_id") if kind == "person" else ("account_profile", "account_id")
    columns = {r[0] for r in lake.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
    wanted = [f for f in dict.fromkeys([*fields, *CONSENT_COLUMNS]) if f in columns]
    selected = "".join(f", p.{ident(f)}" for f in wanted)
    if among is None:
        membership = f"({active_sql()}" + (" AND list_contains(?, profile_id)" if only is not None else "") + ")"
        params: list[object] = [audience, *([sorted(only)] if only is not None else [])]
    else:
        chosen = among if only is None else [p for p in among if p in only]
        membership, params = "(SELECT unnest(?::VARCHAR[]) AS profile_id)", [chosen]
    rows = lake.execute(
        f"""
        SELECT m.profile_id{selected}{"".join(f", {values_sql('person', n, 'm.profile_id')}" for n in identities)}
        FROM {membership} m JOIN {table} p ON p.{key} = m.profile_id
        ORDER BY m.profile_id
        """,
        params,
    ).fetchall()
    names = [*wanted, *(f"{n}s" for n in identities)]
    return [Member(str(r[0]), dict(zip(names, r[1:])), kind=kind) for r in rows]


def acknowledged(lake: Lake, destination: str, audience: str) -> dict[str, str | None]:
    """Profile id → the destination's key for it (e.g. Marketo lead ids), for every member it has confirmed."""
    rows = lake.execute(
        "SELECT profile_id, destination_key FROM destination_members WHERE destination = ? AND audience = ?",
        [destination, audience],
    ).fetchall()
    return {str(p): k for p, k in rows}

