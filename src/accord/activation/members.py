"""Who should be at a destination now, and who it has acknowledged: the two sides of every delta."""

from __future__ import annotations

from accord.activation.destinations.base import Member
from accord.lake.sql import ident
from accord.lake.store import Lake

ACTIVE = ("realized", "existing")
CONSENT_FIELDS = ("marketing_consent", "email_opt_out")


class UnknownAudience(LookupError):
    """A destination names an audience the sandbox has never evaluated."""


def audience_kind(lake: Lake, audience: str) -> str:
    kind = lake.scalar("SELECT audience_of FROM audiences WHERE name = ?", [audience])
    if kind is None:
        raise UnknownAudience(f"audience {audience!r} has not been evaluated in this sandbox (run `accord audiences run`)")
    return str(kind)


def known_audiences(lake: Lake, names: list[str]) -> list[str]:
    """The names that have been evaluated or streamed into this sandbox."""
    known = {r[0] for r in lake.con.execute("SELECT name FROM audiences").fetchall()}
    return [n for n in names if n in known]


def current_members(lake: Lake, audience: str, fields: list[str]) -> list[Member]:
    """Active members with the fields a destination wants, consent, and Marketo lead ids (`INSTANCE:ID`)."""
    kind = audience_kind(lake, audience)
    table, key = ("person_profile", "person_id") if kind == "person" else ("account_profile", "account_id")
    columns = {r[0] for r in lake.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
    wanted = [f for f in dict.fromkeys([*fields, *CONSENT_FIELDS]) if f in columns]
    selected = "".join(f", p.{ident(f)}" for f in wanted)
    rows = lake.con.execute(
        f"""
        SELECT m.profile_id{selected},
               (SELECT list(n.value ORDER BY n.value) FROM identity_nodes n
                WHERE n.kind = 'person' AND n.namespace = 'marketo_lead_id' AND n.profile_id = m.profile_id)
        FROM audience_membership m JOIN {table} p ON p.{key} = m.profile_id
        WHERE m.audience = ? AND m.status IN ('realized', 'existing')
        ORDER BY m.profile_id
        """,
        [audience],
    ).fetchall()
    names = [*wanted, "marketo_lead_ids"]
    return [Member(str(r[0]), dict(zip(names, r[1:]))) for r in rows]


def acknowledged(lake: Lake, destination: str, audience: str) -> dict[str, str | None]:
    """Profile id → the destination's key for it (e.g. Marketo lead ids), for every member it has confirmed."""
    rows = lake.con.execute(
        "SELECT profile_id, destination_key FROM destination_members WHERE destination = ? AND audience = ?",
        [destination, audience],
    ).fetchall()
    return {str(p): k for p, k in rows}


def withheld(member: Member) -> bool:
    """Marketing consent refused, from a consent field or an e-mail opt-out."""
    return str(member.fields.get("marketing_consent") or "").lower() == "n" or member.fields.get("email_opt_out") is True
