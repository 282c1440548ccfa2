"""Which records make up which profile, as SQL over `identity_nodes`: the identity stage owns the table, and every
other layer joins records to profiles through these."""

from __future__ import annotations

from accord.lake.sql import literal

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
