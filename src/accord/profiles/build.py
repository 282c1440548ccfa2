"""Unified profiles: one row per person and per account, each attribute chosen from its records by the merge policy.

`person_profile` / `account_profile` hold the values; `profile_lineage` says, for every attribute of every
profile, which record gave it (source key, batch, source time).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from accord.engines.adapter import Engine
from accord.engines.registry import lake_engine
from accord.governance.consent import TERMS
from accord.identity.config import IdentityConfig
from accord.identity.nodes import join_records, profile_count, records_sql
from accord.lake.sql import ident, literal
from accord.lake.store import Lake, current_sql
from accord.model.entities import Entity
from accord.profiles.changes import begin_build, record

ORDER_SPAN = 1_000_000_000
"""Above any profile's record count: `_order` stays recoverable from an order key as its remainder."""
NEWEST_SECONDS = 7_258_118_400
"""2200-01-01 in Unix seconds: later than any accepted instant, so `NEWEST_SECONDS - epoch` orders newest first."""
STICKY_FLAGS = {**{t.column: t.column for t in TERMS if t.flag}, "do_not_call_reason": "do_not_call"}
"""Person attributes a true flag of any record gives (attribute → the flag that ranks its records)."""
NEWEST_STATEMENT = {**{t.column: t.column for t in TERMS if not t.flag}, "consent_reason": "marketing_consent"}
"""Person attributes the newest record gives, a refusal first on a tie (attribute → the statement that ranks)."""
PICK_BYTES = 64
"""Memory DuckDB holds per profile and attribute while it picks the values (two aggregate states, which it does not
spill to disk), rounded up: on `large` (36 attributes) 1GB was too little for a million people in one part, 2GB
enough, so 27 to 55 bytes."""
NOT_ATTRIBUTES = {"source_id", "source_instance_id", "source_type", "source_key", "batch_id", "source_row",
                  "ingested_at", "record_hash", "source_updated_at", "is_deleted", "merged_into_key"}


def profiles_built(lake: Lake) -> bool:
    """Has a profile build run in this store (its tables exist only from the first identity run on)?"""
    built = {r[0] for r in lake.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return {"person_profile", "account_profile", "person_account"} <= built


def attributes(entity: Entity) -> list[str]:
    return [c.name for c in entity.all_columns if c.name not in NOT_ATTRIBUTES]


def build_profiles(
    lake: Lake, config: IdentityConfig, touched: dict[str, list[str] | None] | None = None, engine: Engine | None = None
) -> dict[str, int]:
    """Rebuild the profile tables from the current records and the latest identity run.

    `touched` names, per kind, the profile ids whose records or identities changed (None: rebuild that kind). A
    whole rebuild runs on `engine` (default: the lake's); the touched profiles are rebuilt in the lake, as the
    identity stage restitches what changed.
    """
    engine = engine or lake_engine(lake)
    touched = touched or {}
    with lake.transaction():
        seq = begin_build(lake)
        for kind in ("person", "account"):
            rebuilt = _build(lake, kind, lake.entity(kind), config, touched.get(kind), engine)
            record(lake, seq, kind, rebuilt)
    return {
        "people": int(lake.scalar("SELECT count(*) FROM person_profile")),
        "accounts": int(lake.scalar("SELECT count(*) FROM account_profile")),
    }


def _rank_sql(config: IdentityConfig) -> str:
    """Lower rank wins: by source precedence (if that policy is on), then newest source time, later batch."""
    if config.merge_policy == "timestamp":
        return "0"
    cases = " ".join(  # in any case: `salesforce` in accord.yaml ranked nothing when records said `Salesforce`
        f"WHEN lower(source_type || '/' || source_instance_id) = {literal(s.lower())} "
        f"OR lower(source_type) = {literal(s.lower())} THEN {i}"
        for i, s in enumerate(config.source_precedence)
    )
    return f"CASE {cases} ELSE {len(config.source_precedence)} END"


def _order_key(kind: str, attribute: str) -> str:
    """Which record gives an attribute: the lowest key. A person with any contact record is a contact, whichever
    record is newest. Consent is merged consent-first: an opt-out flag (e-mail, phone, an invalid address) from any
    record holds, and a y/n consent is the newest statement whatever its source, a refusal winning a tie. Elsewhere
    the merge policy's order decides."""
    if kind != "person":
        return "_order"
    if attribute == "person_type":
        return f"CASE WHEN person_type = 'contact' THEN 0 ELSE 1 END * {ORDER_SPAN} + _order"
    flag = STICKY_FLAGS.get(attribute)
    if flag:
        return f"CASE WHEN {flag} THEN 0 ELSE 1 END * {ORDER_SPAN} + _order"
    statement = NEWEST_STATEMENT.get(attribute)
    if statement:
        # Whole seconds, floored, and a 38-digit decimal: DuckDB and Spark compute them alike.
        age = f"({NEWEST_SECONDS} - floor(coalesce(epoch(source_updated_at), -2208988800))::BIGINT)::DECIMAL(38, 0)"
        return f"({age} * 2 + CASE WHEN lower({statement}) = 'n' THEN 0 ELSE 1 END) * {ORDER_SPAN} + _order"
    return "_order"


def _build(lake: Lake, kind: str, entity: Entity, config: IdentityConfig,
           touched: list[str] | None, engine: Engine) -> list[str] | None:
    """Recompute the profiles of `kind` (only the `touched` ids when given and the tables are current) on
    `engine`; returns the ids rebuilt, or None when every profile of `kind` was."""
    id_col = f"{kind}_id"
    values = ", ".join(ident(a) for a in attributes(entity))
    incremental = touched is not None and _tables_current(lake, kind, entity)
    if incremental and not touched:
        return []
    scope, records = "", f"{entity.name}_current"
    if incremental:
        lake.execute(f"CREATE OR REPLACE TEMP TABLE _touched_{kind} AS SELECT unnest(?::VARCHAR[]) AS profile_id", [touched])
        scope = f"WHERE n.profile_id IN (SELECT profile_id FROM _touched_{kind})"
        keys = f"SELECT source_key FROM ({records_sql(kind, f'SELECT profile_id FROM _touched_{kind}')})"
        records = f"({current_sql(entity, keys)})"
    ranked = f"""SELECT n.profile_id AS {id_col}, r.*,
               row_number() OVER (PARTITION BY n.profile_id ORDER BY {_rank_sql(config)},
                                  r.source_updated_at DESC NULLS LAST, r.batch_id DESC, r.source_row DESC) AS _order
        FROM {records} r {join_records(kind, 'r.source_key')}
        {scope}"""
    # Per attribute its value and the _order of the record that gave it (lineage looks that record up).
    picks = ", ".join(
        f"arg_min({ident(a)}, {_order_key(kind, a)}) FILTER (WHERE {ident(a)} IS NOT NULL) AS {ident(a)}, "
        f"(min({_order_key(kind, a)}) FILTER (WHERE {ident(a)} IS NOT NULL) % {ORDER_SPAN})::BIGINT "
        f"AS {ident('_from_' + a)}"
        for a in attributes(entity)
    )

    def picked(where: str = "") -> str:
        return f"""SELECT {id_col}, count(*) AS records, max(source_updated_at) AS last_updated_at, {picks}
            FROM _ranked_{kind} {where} GROUP BY {id_col}"""

    given_by = ", ".join(f"{ident('_from_' + a)} AS {ident(a)}" for a in attributes(entity))
    given = f"""
        SELECT {literal(kind)} AS kind, u.{id_col} AS profile_id, u.attribute, r.source_key, r.batch_id,
               r.source_updated_at
        FROM (SELECT {id_col}, {given_by} FROM _picked_{kind})
             UNPIVOT (_order FOR attribute IN ({values})) AS u
        JOIN _ranked_{kind} r ON r.{id_col} = u.{id_col} AND r._order = u._order"""
    builder = engine if not incremental else lake_engine(lake)
    picking = _picking(lake, builder, kind, picked, touched if incremental else None, len(attributes(entity)))
    builder.build([(f"_ranked_{kind}", ranked), *picking, (f"_given_{kind}", given)],
                  keep=(f"_picked_{kind}", f"_given_{kind}"))
    profile_rows = f"SELECT {id_col}, records, last_updated_at, {values} FROM _picked_{kind}"
    lineage_rows = f"SELECT * FROM _given_{kind}"
    if incremental:
        lake.execute(f"DELETE FROM {kind}_profile WHERE {id_col} IN (SELECT profile_id FROM _touched_{kind})")
        lake.execute(f"INSERT INTO {kind}_profile {profile_rows}")
        lake.execute(f"DELETE FROM profile_lineage WHERE kind = {literal(kind)} AND profile_id IN (SELECT profile_id FROM _touched_{kind})")
        lake.execute(f"INSERT INTO profile_lineage {lineage_rows}")
        return touched
    lake.execute(f"CREATE OR REPLACE TABLE {kind}_profile AS {profile_rows}")
    exists = lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'profile_lineage'")
    if exists:
        lake.execute(f"DELETE FROM profile_lineage WHERE kind = {literal(kind)}")
        lake.execute(f"INSERT INTO profile_lineage {lineage_rows}")
    else:
        lake.execute(f"CREATE TABLE profile_lineage AS {lineage_rows}")
    return None


def _picking(lake: Lake, builder: Engine, kind: str, picked: Callable[[str], str], touched: list[str] | None,
             n_attributes: int) -> list[tuple[str, str]]:
    """The steps picking each profile's values into `_picked_<kind>`: in parts of profiles when, in the store, the
    picking would take more than half the store's memory (a store held to 1GB with a million people)."""
    parts = 1
    if builder.capabilities.in_lake:  # elsewhere (Spark) the aggregate spills
        profiles = len(touched) if touched is not None else profile_count(lake, kind)
        parts = max(1, math.ceil(profiles * n_attributes * PICK_BYTES / (lake.memory_limit() / 2)))
    if parts == 1:
        return [(f"_picked_{kind}", picked(""))]
    steps = [(f"_picked_{kind}_{k}", picked(f"WHERE hash({kind}_id) % {parts} = {k}")) for k in range(parts)]
    return [*steps, (f"_picked_{kind}", " UNION ALL ".join(f"SELECT * FROM {name}" for name, _ in steps))]


def _tables_current(lake: Lake, kind: str, entity: Entity) -> bool:
    """Do the profile tables exist with today's columns (else they are rebuilt whole)?"""
    have = [r[0] for r in lake.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [f"{kind}_profile"]
    ).fetchall()]
    lineage = lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'profile_lineage'")
    return bool(lineage) and have == [f"{kind}_id", "records", "last_updated_at", *attributes(entity)]
