"""Whom a change concerns: the people and accounts whose audience inputs new batches or passing time touched.

Streaming decisions and incremental batch runs both re-decide exactly these profiles (plus those an identity or
profile run changed). Missing one would leave a stale membership; naming one too many only costs a little work.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from accord.audiences.ast import Aggregate, Audience, Occurrence, Quantified, walk
from accord.identity.nodes import join_records
from accord.lake.sql import ident, literal
from accord.model.schema import Schema

# Relations that name a person or an account, by the column that names it, and the record each also points to
# (whose change concerns everyone related to it: a renamed campaign concerns all its members).
PERSON_RELATIONS = {"event": None, "account_person": None, "opportunity_person": ("opportunity", "opportunity_key"),
                    "campaign_member": ("campaign", "campaign_key"),
                    "marketing_list_member": ("marketing_list", "marketing_list_key")}


def _keys(schema: Schema, entity: str, column: str, in_batches: str) -> str:
    """Values of `column` in every version of the records of `entity` that changed in the batches: a record
    moved from one person to another concerns both."""
    table = ident(entity)
    if schema.entity(entity).immutable:
        return f"SELECT {column} FROM {table} WHERE {in_batches}"
    return f"SELECT {column} FROM {table} WHERE source_key IN (SELECT source_key FROM {table} WHERE {in_batches})"


def batch_people_sql(schema: Schema, in_batches: str, sources: tuple[str, ...] | None = None) -> str:
    """Person profile ids (column person_id) whose own records, events or relations changed in the batches
    `in_batches` selects (a condition on batch_id); with `sources` (entity names), only through those. The people
    of changed accounts are `linked_people_sql`'s."""
    keys = [sql for source, sql in _person_keys(schema, in_batches) if sources is None or source in sources]
    union = " UNION ".join(keys)
    return f"SELECT DISTINCT n.profile_id AS person_id FROM ({union}) k(key) {join_records('person', 'k.key')}"


def _person_keys(schema: Schema, in_batches: str) -> list[tuple[str, str]]:
    """(source entity, query of the person keys its records changed in the batches name), for the person records,
    each relation (and the record it points to) and each custom object of people."""
    keys = [("person", _keys(schema, "person", "source_key", in_batches))]
    for relation, pointed in PERSON_RELATIONS.items():
        keys.append((relation, _keys(schema, relation, "person_key", in_batches)))
        if pointed is not None:
            target, column = pointed
            keys.append((relation, f"SELECT person_key FROM {relation} WHERE {column} IN "
                                   f"(SELECT source_key FROM {ident(target)} WHERE {in_batches})"))
    keys.extend((o.name, _keys(schema, o.name, "person_key", in_batches)) for o in schema.objects_of("person"))
    return keys


def batch_accounts_sql(schema: Schema, in_batches: str) -> str:
    """Account profile ids (column account_id) whose own records, deals or objects changed in the batches."""
    keys = [_keys(schema, "account", "source_key", in_batches), _keys(schema, "opportunity", "account_key", in_batches),
            _keys(schema, "account_person", "account_key", in_batches)]
    keys.extend(_keys(schema, o.name, "account_key", in_batches) for o in schema.objects_of("account"))
    union = " UNION ".join(keys)
    return f"SELECT DISTINCT n.profile_id AS account_id FROM ({union}) k(key) {join_records('account', 'k.key')}"


def linked_people_sql(accounts: str, links: str = "person_account") -> str:
    """The people `links` (a table of person_id, account_id) ties to the accounts the query `accounts` selects."""
    return f"SELECT DISTINCT person_id FROM {links} WHERE account_id IN ({accounts})"


def time_boundaries(audiences: list[Audience]) -> set[timedelta]:
    """Every duration after which an event leaves or enters a window: its window lengths, `N days ago`, and now."""
    out = {timedelta(0)}
    for audience in audiences:
        for node in walk(audience.where):
            window = getattr(node, "window", None) if isinstance(node, (Quantified, Aggregate)) else None
            if window is not None and window.last_days is not None:
                out.add(timedelta(days=window.last_days))
            if isinstance(node, Occurrence):
                out.add(timedelta(days=node.days))
    return out


def swept_people_sql(boundaries: set[timedelta], since: datetime, as_of: datetime,
                     person_events: str | None = None) -> str:
    """People with an event that crossed one of the time `boundaries` between `since` and `as_of`: read from the
    lake's events, or from `person_events` (person_id, timestamp) when that table is current."""
    # An event crossed boundary d if it lies between since - d and as_of - d (both ends kept: one person too many
    # is harmless, one too few is not).
    ranges = " OR ".join(
        f'(e."timestamp" >= {_ts(since - d)} AND e."timestamp" <= {_ts(as_of - d)})' for d in sorted(boundaries)
    ) or "FALSE"
    if person_events is not None:
        return f"SELECT DISTINCT person_id FROM {person_events} e WHERE {ranges}"
    return f"""
        SELECT DISTINCT n.profile_id AS person_id FROM event_current e
        {join_records('person', 'e.person_key')}
        WHERE {ranges}"""


def _ts(moment: datetime) -> str:
    return f"CAST({literal(moment.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f+00:00'))} AS TIMESTAMPTZ)"
