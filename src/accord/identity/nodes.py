"""Which identities and records make up which profile (`identity_nodes`): the identity stage owns the table, and
every other layer reads it through these, as SQL to join or as answers."""

from __future__ import annotations

from accord.lake.sql import literal
from accord.lake.store import Lake

RECORD_NAMESPACE = {"person": "b2b_person", "account": "b2b_account"}
"""The node of a record itself (its source key) in each kind's identity graph."""
CRM_ACCOUNT = "b2b_account_crm"


def is_record(kind: str, alias: str = "n") -> str:
    """The test that row `alias` of identity_nodes is a record of `kind` (person or account)."""
    return f"{alias}.kind = {literal(kind)} AND {alias}.namespace = {literal(RECORD_NAMESPACE[kind])}"


def records_sql(kind: str, profiles: str | None = None) -> str:
    """`source_key, profile_id` of every record of `kind`, or only of the profiles the query `profiles` selects."""
    only = f" AND n.profile_id IN ({profiles})" if profiles else ""
    return f"SELECT n.value AS source_key, n.profile_id FROM identity_nodes n WHERE {is_record(kind)}{only}"


def join_records(kind: str, key: str, alias: str = "n") -> str:
    """A JOIN of identity_nodes as `alias` on the record whose source key is `key` (its profile: `alias`.profile_id)."""
    return f"JOIN identity_nodes {alias} ON {is_record(kind, alias)} AND {alias}.value = {key}"


def identities_sql(kind: str, profiles: str | None = None) -> str:
    """`namespace, value, profile_id` of every identity of `kind`, or only of the profiles `profiles` selects."""
    only = f" AND profile_id IN ({profiles})" if profiles else ""
    return f"SELECT namespace, value, profile_id FROM identity_nodes WHERE kind = {literal(kind)}{only}"


def values_sql(kind: str, namespace: str, profile: str, org: str | None = None) -> str:
    """The sorted list of a profile's values in one namespace, as an SQL expression (`profile`: its id's SQL);
    with `org`, without the Salesforce ids a record of another org owns."""
    others = ""
    if org is not None:
        others = (f" AND NOT EXISTS (SELECT 1 FROM {kind} r WHERE r.source_id = n.value "
                  f"AND r.source_type = 'Salesforce' AND r.source_instance_id <> {literal(org)})")
    return (f"(SELECT list(n.value ORDER BY n.value) FROM identity_nodes n WHERE n.kind = {literal(kind)} "
            f"AND n.namespace = {literal(namespace)} AND n.profile_id = {profile}{others})")


def salesforce_orgs(lake: Lake, kind: str) -> dict[str, int]:
    """The Salesforce orgs the store holds `kind` records of, each with the first batch that brought one."""
    return {str(org): int(first) for org, first in lake.execute(
        f"SELECT source_instance_id, min(batch_id) FROM {kind} WHERE source_type = 'Salesforce' GROUP BY 1").fetchall()}


def profile_count(lake: Lake, kind: str) -> int:
    """How many profiles of `kind` the latest identity run made."""
    # Every profile holds at least one record node: counting over those alone reads a third of the nodes.
    return int(lake.scalar("SELECT count(DISTINCT profile_id) FROM identity_nodes WHERE kind = ? AND namespace = ?",
                           [kind, RECORD_NAMESPACE[kind]]))


def profile_of(lake: Lake, kind: str, namespace: str, value: str) -> str | None:
    """The profile holding one identity (`person_id` / `account_id`: the profile itself, if it exists)."""
    if namespace == f"{kind}_id":
        found = lake.scalar("SELECT any_value(profile_id) FROM identity_nodes WHERE kind = ? AND profile_id = ?",
                            [kind, value])
    else:
        found = lake.scalar("SELECT any_value(profile_id) FROM identity_nodes WHERE kind = ? AND namespace = ? "
                            "AND value = ?", [kind, namespace, value])
    return None if found is None else str(found)


def profiles_of(lake: Lake, kind: str, namespace: str, value: str) -> list[str]:
    """Every profile holding one identity (several when guardrails kept records sharing it apart), sorted."""
    if namespace == f"{kind}_id":
        return [value] if profile_of(lake, kind, namespace, value) else []
    rows = lake.execute("SELECT DISTINCT profile_id FROM identity_nodes WHERE kind = ? AND namespace = ? AND value = ? "
                        "ORDER BY 1", [kind, namespace, value]).fetchall()
    return [str(r[0]) for r in rows]


def identities_of(lake: Lake, kind: str, profile_id: str) -> list[tuple[str, str]]:
    """A profile's identities, `(namespace, value)`, sorted."""
    rows = lake.execute("SELECT namespace, value FROM identity_nodes WHERE kind = ? AND profile_id = ? "
                        "ORDER BY namespace, value", [kind, profile_id]).fetchall()
    return [(namespace, value) for namespace, value in rows]
