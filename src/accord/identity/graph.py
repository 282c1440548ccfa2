"""The identity graph: every current record linked to the identities it carries, as SQL over the lake.

An edge joins a record (its `b2b_person` / `b2b_account` node) to one identity node (namespace, value) and
remembers why it exists (`rule`), its strength (0 own id, 1 cross-system reference, 2 shared attribute) and
where it came from (batch, row). Records that share an identity node end up in one profile.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from accord.identity.config import DEFAULT_BLOCKED_PATTERNS, IdentityConfig
from accord.identity.nodes import CRM_ACCOUNT, RECORD_NAMESPACE
from accord.lake.sql import literal
from accord.lake.store import current_sql
from accord.model.blanks import stripped_sql, unhidden_sql
from accord.model.domains import domain_sql
from accord.model.entities import ACCOUNT, PERSON, Entity
from accord.model.source_key import instance_sql

EDGE_COLUMNS = "record_key, namespace, value, strength, batch_id, source_row, rule"
PERSON_NODE, ACCOUNT_NODE = (literal(RECORD_NAMESPACE[kind]) for kind in ("person", "account"))
OWN_CRM_ID = literal("own Salesforce id")
"""The rule of a Salesforce record's link to its own id: the link that tells which org an id is of."""


@cache
def free_mail_domains() -> frozenset[str]:
    text = resources.files("accord.identity").joinpath("free_mail_domains.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


LINKING = {
    "person": ("email", "source_type", "is_converted", "source_id", "source_instance_id", "crm_contact_id",
               "crm_lead_id", "converted_contact_key", "merged_into_key", "user_id", "anonymous_id", "phone"),
    "account": ("source_type", "source_id", "crm_account_id", "domain", "website"),
}
"""The columns each kind's links are made of (besides the record's key and lineage)."""
_LINK_RECORDS = "_link_records"


def edges_sql(kind: str, config: IdentityConfig, scope: str | None = None, records: str | None = None) -> str:
    """Edges of current records of `kind`: all, those whose source_key is in table `scope`, or those whose linking
    columns the table `records` holds."""
    edges = _person_edges if kind == "person" else _account_edges
    return edges(config, records or f"({_linking_records(kind, scope)})")


def link_steps(kind: str, config: IdentityConfig) -> list[tuple[str, str]]:
    """A whole graph's build steps: the current records' linking columns, then their edges (`_sub`). The records
    are a step of their own so that Spark ranks their versions once, not once per kind of link (on medium's
    people its links took 17–26 s that way)."""
    return [(_LINK_RECORDS, _linking_records(kind)), ("_sub", edges_sql(kind, config, records=_LINK_RECORDS))]


def _linking_records(kind: str, scope: str | None = None) -> str:
    """The key, lineage and linking columns of current records (or those whose source_key is in table `scope`)."""
    columns = ", ".join(("source_key", "batch_id", "source_row", *LINKING[kind]))
    return f"SELECT {columns} FROM {_records(PERSON if kind == 'person' else ACCOUNT, scope)}"


def _person_edges(config: IdentityConfig, records: str) -> str:
    lineage = "batch_id, source_row"
    parts = [
        f"SELECT source_key, {PERSON_NODE}, source_key, 0, {lineage}, 'record' FROM r",
        f"SELECT source_key, 'email', lower({unhidden_sql(stripped_sql('email'))}), 2, {lineage}, "
        "'e-mail on the record' FROM r WHERE email IS NOT NULL",
        f"SELECT source_key, 'crm_id', source_id, 0, {lineage}, {OWN_CRM_ID} FROM r "
        "WHERE source_type = 'Salesforce' AND NOT coalesce(is_converted, FALSE)",
        # A merged-away lead is no longer a Marketo lead of its own: only the lead it joined holds an id there.
        f"SELECT source_key, 'marketo_lead_id', source_instance_id || ':' || source_id, 0, {lineage}, 'own Marketo id' "
        "FROM r WHERE source_type = 'Marketo' AND merged_into_key IS NULL",
        f"SELECT source_key, 'crm_id', coalesce(crm_contact_id, crm_lead_id), 1, {lineage}, 'Salesforce id carried by the record' "
        "FROM r WHERE source_type <> 'Salesforce' AND coalesce(crm_contact_id, crm_lead_id) IS NOT NULL",
        f"SELECT source_key, {PERSON_NODE}, converted_contact_key, 1, {lineage}, 'lead converted to this contact' "
        "FROM r WHERE converted_contact_key IS NOT NULL",
        f"SELECT source_key, {PERSON_NODE}, merged_into_key, 1, {lineage}, 'merged into this record by its source' "
        "FROM r WHERE merged_into_key IS NOT NULL",
        f"SELECT source_key, 'user_id', user_id, 0, {lineage}, 'collector userId' FROM r WHERE user_id IS NOT NULL",
        f"SELECT source_key, 'anonymous_id', anonymous_id, 1, {lineage}, 'collector anonymousId' "
        "FROM r WHERE anonymous_id IS NOT NULL",
    ]
    if config.link_by_phone:
        parts.append(
            f"SELECT source_key, 'phone', '+' || regexp_replace(phone, '[^0-9]', '', 'g'), 2, {lineage}, 'phone on the record' "
            "FROM r WHERE length(regexp_replace(phone, '[^0-9]', '', 'g')) >= 8"
        )
    return _assemble(records, parts, config, "person")


def _account_edges(config: IdentityConfig, records: str) -> str:
    """Own CRM ids, CRM ids carried by other systems, web domains."""
    lineage = "batch_id, source_row"
    domain = domain_sql("coalesce(domain, website)")
    free = ", ".join(literal(d) for d in sorted(free_mail_domains()))
    parts = [
        f"SELECT source_key, {ACCOUNT_NODE}, source_key, 0, {lineage}, 'record' FROM r",
        f"SELECT source_key, {literal(CRM_ACCOUNT)}, source_id, 0, {lineage}, {OWN_CRM_ID} FROM r "
        "WHERE source_type = 'Salesforce'",
        f"SELECT source_key, {literal(CRM_ACCOUNT)}, crm_account_id, 1, {lineage}, 'Salesforce id carried by the record' "
        "FROM r WHERE source_type <> 'Salesforce' AND crm_account_id IS NOT NULL",
        f"SELECT source_key, 'domain', d, 2, {lineage}, 'web domain' FROM (SELECT *, {domain} AS d FROM r) "
        f"WHERE d IS NOT NULL AND d NOT IN ({free})",
    ]
    return _assemble(records, parts, config, "account")


def _records(entity: Entity, scope: str | None) -> str:
    """Current records, or those whose source_key is in table `scope` (filtered before the versions are ranked)."""
    return f"({current_sql(entity, f'SELECT source_key FROM {scope}')})" if scope else f"{entity.name}_current"


def _assemble(records: str, parts: list[str], config: IdentityConfig, kind: str) -> str:
    """Union the parts, then drop placeholders and what `accord identity split` unlinked."""
    blocked = ", ".join(literal(v) for v in config.blocked())
    patterns = " OR ".join(f"regexp_matches(value, {literal(p)})" for p in DEFAULT_BLOCKED_PATTERNS)
    union = "\nUNION ALL ".join(parts)
    node = literal(RECORD_NAMESPACE[kind])
    unlinks = f"SELECT namespace, value FROM identity_unlinks WHERE kind = {literal(kind)}"
    return f"""
WITH r AS (SELECT * FROM {records}),
raw ({EDGE_COLUMNS}) AS ({union}),
usable AS (
    SELECT raw.* FROM raw ANTI JOIN ({unlinks} AND namespace <> {node}) AS un USING (namespace, value)
    WHERE value IS NOT NULL AND lower(value) NOT IN ({blocked})
      AND NOT (namespace = 'email' AND ({patterns} OR NOT contains(value, '@')))
),
alone AS (SELECT value AS record_key FROM ({unlinks} AND namespace = {node})),
shared AS (SELECT namespace, value, TRUE AS is_shared FROM usable GROUP BY namespace, value HAVING count(DISTINCT record_key) > 1)
SELECT u.* FROM usable AS u LEFT JOIN shared AS s USING (namespace, value)
WHERE NOT (u.record_key IN (SELECT record_key FROM alone) AND coalesce(s.is_shared, FALSE)
           AND NOT (u.namespace = {node} AND u.value = u.record_key))
  AND NOT (u.namespace = {node} AND u.value <> u.record_key AND u.value IN (SELECT record_key FROM alone))
"""


def limit_groups_sql(by_org: bool) -> str:
    """Each identity of the graph (`_nodes`, the links `_sub`) with what it counts against in `namespace_limits`
    (`grp`): a Marketo id against its instance's limit; a Salesforce id, `by_org`, against its org's (the org
    whose record it is, or '' for an id only other systems carry), so one person in two orgs is one profile."""
    case = "WHEN n.namespace = 'marketo_lead_id' THEN n.namespace || ':' || split_part(n.value, ':', 1)"
    if not by_org:
        return f"SELECT n.node, n.namespace, CASE {case} ELSE n.namespace END AS grp FROM _nodes n"
    crm = ", ".join(literal(ns) for ns in ("crm_id", CRM_ACCOUNT))
    return f"""SELECT n.node, n.namespace, CASE {case}
            WHEN n.namespace IN ({crm}) THEN n.namespace || ':' || coalesce(o.org, '') ELSE n.namespace END AS grp
        FROM _nodes n LEFT JOIN (SELECT namespace, value, min({instance_sql('record_key')}) AS org FROM _sub
                                 WHERE rule = {OWN_CRM_ID} GROUP BY namespace, value) o USING (namespace, value)"""
