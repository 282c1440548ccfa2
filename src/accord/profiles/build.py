"""Unified profiles: one row per person and per account, each attribute chosen from its records by the merge policy.

`person_profile` / `account_profile` hold the values; `profile_lineage` says, for every attribute of every
profile, which record gave it (source key, batch, source time).
"""

from __future__ import annotations

from accord.identity.config import IdentityConfig
from accord.lake.sql import ident, literal
from accord.lake.store import Lake
from accord.model.entities import ACCOUNT, PERSON, Entity

RECORD_NODE = {"person": "b2b_person", "account": "b2b_account"}
NOT_ATTRIBUTES = {"source_id", "source_instance_id", "source_type", "source_key", "batch_id", "source_row",
                  "ingested_at", "record_hash", "source_updated_at", "is_deleted"}


def attributes(entity: Entity) -> list[str]:
    return [c.name for c in entity.all_columns if c.name not in NOT_ATTRIBUTES]


def build_profiles(lake: Lake, config: IdentityConfig) -> dict[str, int]:
    """Rebuild the profile tables from the current records and the latest identity run."""
    lake.con.execute("BEGIN")
    try:
        lineage = [_build(lake, kind, entity, config) for kind, entity in (("person", PERSON), ("account", ACCOUNT))]
        lake.con.execute("CREATE OR REPLACE TABLE profile_lineage AS " + " UNION ALL ".join(lineage))
        lake.con.execute("COMMIT")
    except BaseException:
        lake.con.execute("ROLLBACK")
        raise
    return {
        "people": int(lake.scalar("SELECT count(*) FROM person_profile")),
        "accounts": int(lake.scalar("SELECT count(*) FROM account_profile")),
    }


def _rank_sql(config: IdentityConfig) -> str:
    """Lower rank wins: by source precedence (if that policy is on), then newest source time, later batch."""
    if config.merge_policy == "timestamp":
        return "0"
    cases = " ".join(
        f"WHEN source_type || '/' || source_instance_id = {literal(s)} OR source_type = {literal(s)} THEN {i}"
        for i, s in enumerate(config.source_precedence)
    )
    return f"CASE {cases} ELSE {len(config.source_precedence)} END"


def _pick(kind: str, attribute: str, default: str) -> str:
    """A person with any contact record is a contact, whichever record is newest; elsewhere the policy decides."""
    if kind == "person" and attribute == "person_type":
        contact = "person_type = 'contact'"
        return default.replace("_order)", f"CASE WHEN {contact} THEN 0 ELSE 1 END * 1000000 + _order)")
    return default


def _build(lake: Lake, kind: str, entity: Entity, config: IdentityConfig) -> str:
    con = lake.con
    id_col = f"{kind}_id"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ranked_{kind} AS
        SELECT n.profile_id AS {id_col}, r.*,
               struct_pack(source_key := r.source_key, batch_id := r.batch_id, source_updated_at := r.source_updated_at) AS _from,
               row_number() OVER (PARTITION BY n.profile_id ORDER BY {_rank_sql(config)},
                                  r.source_updated_at DESC NULLS LAST, r.batch_id DESC, r.source_row DESC) AS _order
        FROM {entity.name}_current r
        JOIN identity_nodes n ON n.kind = {literal(kind)} AND n.namespace = {literal(RECORD_NODE[kind])} AND n.value = r.source_key"""
    )
    picks = ", ".join(
        f"{_pick(kind, a, 'arg_min(' + ident(a) + ', _order)')} FILTER (WHERE {ident(a)} IS NOT NULL) AS {ident(a)}, "
        f"{_pick(kind, a, 'arg_min(_from, _order)')} FILTER (WHERE {ident(a)} IS NOT NULL) AS {ident('_from_' + a)}"
        for a in attributes(entity)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _picked_{kind} AS
        SELECT {id_col}, count(*) AS records, max(source_updated_at) AS last_updated_at, {picks}
        FROM _ranked_{kind} GROUP BY {id_col}"""
    )
    values = ", ".join(ident(a) for a in attributes(entity))
    con.execute(
        f"CREATE OR REPLACE TABLE {kind}_profile AS SELECT {id_col}, records, last_updated_at, {values} FROM _picked_{kind}"
    )
    unpivots = " UNION ALL ".join(
        f"SELECT {literal(kind)} AS kind, {id_col} AS profile_id, {literal(a)} AS attribute, "
        f"{ident('_from_' + a)}.source_key AS source_key, {ident('_from_' + a)}.batch_id AS batch_id, "
        f"{ident('_from_' + a)}.source_updated_at AS source_updated_at FROM _picked_{kind} WHERE {ident(a)} IS NOT NULL"
        for a in attributes(entity)
    )
    return f"SELECT * FROM ({unpivots})"
