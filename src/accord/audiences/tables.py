"""The tables compiled audiences read (`aud_*`), built from the profiles in the lake before each evaluation.

A person's `account.*` fields are those of its primary account (a stated link first, then the primary flag, then
the best score); its opportunities are those it has a role on and those of every account it is linked to.
"""

from __future__ import annotations

from accord.audiences.compile import column_name, object_table
from accord.audiences.fields import opportunity_fields
from accord.identity.nodes import records_sql
from accord.lake.sql import ident
from accord.lake.store import current_where
from accord.model.schema import Schema
from accord.profiles.build import attributes

PERSON_EVENTS = "aud_person_events"
PERSON_TABLES = ("aud_person_account", "aud_people", "aud_person_opps", PERSON_EVENTS, "aud_campaigns", "aud_lists")
ACCOUNT_TABLES = ("aud_accounts", "aud_account_opps")
ROW_ORDER = {PERSON_EVENTS: "event_type, person_id"}
"""The order a whole build writes a table's rows in. Features are read per event type, and DuckDB skips the row
groups whose min/max cannot hold the type asked for: on `large` the five event features of bench/audiences.py
take 0.62 s instead of 1.93 s. Each type's rows by person too: an incremental run's reads of its decided people's
rows took 3-7 times longer without (0.79 against 0.25 s for the features over all types, the rekeyed people's
DELETE 0.52 against < 0.07 s), though the build takes 41-46 s instead of 18 s. Rows a change adds come last.
Each row keeps its record's key (`person_key`): a record that moves to another profile takes its events along,
without a scan of every event for its key."""
ACCOUNT_EVENTS = "aud_account_events"
"""Each person event under each of the person's accounts: a view over the people's events and links, so it is
current whenever they are. Kept as a table it took 10.6 s to build on `large` (18.9M rows) and was rebuilt with
every relinked person, for the few audiences that count an account's events."""
VIEWS = (ACCOUNT_EVENTS,)
"""The aud_* tables that are views in the lake: never built nor kept, read as they are."""


def person_tables(schema: Schema) -> tuple[str, ...]:
    """The aud_* tables keyed by person_id (built after the people's links and before the account tables)."""
    return (*PERSON_TABLES, *(object_table("person", o.name) for o in schema.objects))


def account_tables(schema: Schema) -> tuple[str, ...]:
    """The aud_* tables keyed by account_id and kept per account (all but `ACCOUNT_EVENTS`)."""
    return (*ACCOUNT_TABLES, *(object_table("account", o.name) for o in schema.objects))


def person_scoped_sql(schema: Schema, persons: str) -> dict[str, str]:
    """The person-keyed aud_* tables for only the people listed in table `persons` (column person_id)."""
    scoped = table_sql(schema, persons=persons)
    return {name: scoped[name] for name in person_tables(schema)}


def account_scoped_sql(schema: Schema, accounts: str) -> dict[str, str]:
    """The account-keyed aud_* tables for only the accounts listed in table `accounts` (column account_id)."""
    scoped = table_sql(schema, accounts=accounts)
    return {name: scoped[name] for name in account_tables(schema)}


def new_person_events_sql(in_batches: str) -> str:
    """The `PERSON_EVENTS` rows of the events in the batches `in_batches` selects (a condition on batch_id), with
    person_id NULL for those whose key no record has: events never change, so the tables only gain these."""
    return _person_events(_events(in_batches), records_sql("person"), join="LEFT JOIN")


def keyed_person_events_sql(records: str, in_batches: str) -> str:
    """The `PERSON_EVENTS` rows of the records in table `records` (source_key, profile_id), of the events in the
    batches `in_batches` selects: read by their keys, not by a join over every event."""
    keyed = f"(SELECT * FROM {_events(in_batches)} WHERE person_key IN (SELECT source_key FROM {records}))"
    return _person_events(keyed, f"SELECT * FROM {records}")


def unmatched_keys_sql() -> str:
    """The distinct person keys of events that no person record has (yet): their events are in no aud_* table until
    a record with that key comes."""
    return (f"SELECT DISTINCT person_key FROM {_events('TRUE')} WHERE person_key IS NOT NULL "
            f"AND person_key NOT IN (SELECT source_key FROM ({records_sql('person')}))")


def _events(in_batches: str) -> str:
    return f"(SELECT * FROM {ident('event')} WHERE {in_batches} AND NOT coalesce(is_deleted, FALSE))"


def _person_events(events: str, records: str, join: str = "JOIN") -> str:
    return f"""
        SELECT pr.profile_id AS person_id, e.source_key AS event_id, e.event_type, e.url, e."timestamp", e.properties,
               e.person_key
        FROM {events} e {join} ({records}) pr ON pr.source_key = e.person_key"""


def table_sql(schema: Schema, persons: str | None = None, accounts: str | None = None) -> dict[str, str]:
    """Name → SELECT for every aud_* table, over the lake's profile and current-record tables (DuckDB), whose
    entities are `schema`'s.

    With `persons` (a table with column person_id) the person-keyed tables hold only those people, and with
    `accounts` (column account_id) the account-keyed ones only those accounts: the filter sits at each source, since
    the engine cannot push it through the windows and groupings above.
    """
    account_attributes = attributes(schema.entity("account"))
    person_cols = ", ".join(f"p.{ident(a)}" for a in attributes(schema.entity("person")))
    account_cols = ", ".join(f"a.{ident(a)} AS {ident(column_name('account.' + a))}" for a in account_attributes)
    opp_cols = ", ".join(f"o.{ident(c)}" for c in opportunity_fields(schema))
    only = f" WHERE person_id IN (SELECT person_id FROM {persons})" if persons else ""
    person_records = records_sql("person", f"SELECT person_id FROM {persons}" if persons else None)
    account_records = records_sql("account")
    own_records = records_sql("account", f"SELECT account_id FROM {accounts}" if accounts else None)
    of_accounts = f" WHERE account_id IN (SELECT account_id FROM {accounts})" if accounts else ""
    person_account = f"(SELECT * FROM person_account{only})" if persons else "person_account"
    person_profile = f"(SELECT * FROM person_profile{only})" if persons else "person_profile"
    person_keys = f"SELECT source_key FROM ({person_records})"
    account_keys = (f"SELECT ar.source_key FROM ({account_records}) ar JOIN {person_account} pa "
                    "ON pa.account_id = ar.profile_id")

    def current(entity: str, column: str, keys: str) -> str:
        return f"{entity}_current" if persons is None else current_where(entity, column, keys)

    account_opps = ("opportunity_current" if accounts is None else
                    current_where("opportunity", "account_key", f"SELECT source_key FROM ({own_records})"))

    objects = {}
    for obj in schema.objects:
        fields = ", ".join(f"o.{ident(f.name)}" for f in schema.custom_of(obj.name)) or "NULL AS _none"
        records = ident(obj.name + "_current")
        if obj.related_to == "account":
            by_account = f"SELECT ar.profile_id AS account_id, {fields} FROM {records} o " \
                         f"JOIN ({own_records}) ar ON ar.source_key = o.account_key"
            objects[object_table("account", obj.name)] = by_account
            objects[object_table("person", obj.name)] = (
                f"SELECT pa.person_id, {fields} FROM (SELECT DISTINCT person_id, account_id FROM {person_account}) pa "
                f"JOIN ({account_records}) ar ON ar.profile_id = pa.account_id "
                f"JOIN {records} o ON o.account_key = ar.source_key")
        else:
            objects[object_table("person", obj.name)] = (
                f"SELECT pr.profile_id AS person_id, {fields} FROM {records} o "
                f"JOIN ({person_records}) pr ON pr.source_key = o.person_key")
            objects[object_table("account", obj.name)] = (
                f"SELECT pa.account_id, {fields} FROM {records} o "
                f"JOIN ({records_sql('person')}) pr ON pr.source_key = o.person_key "
                f"JOIN (SELECT DISTINCT person_id, account_id FROM person_account{of_accounts}) pa "
                "ON pa.person_id = pr.profile_id")

    return objects | {
        # Only people with a profile: an account's conditions on its people count its links, not `aud_people`.
        "aud_person_account": f"SELECT DISTINCT person_id, account_id FROM {person_account} "
                              f"WHERE person_id IN (SELECT person_id FROM {person_profile})",
        "aud_people": f"""
            WITH primary_account AS (
                SELECT person_id, account_id FROM (
                    SELECT *, row_number() OVER (PARTITION BY person_id ORDER BY method = 'stated' DESC,
                           is_primary DESC NULLS LAST, score DESC, account_id) AS pick FROM {person_account})
                WHERE pick = 1)
            SELECT p.person_id, {person_cols}, pa.account_id AS acc_account_id, {account_cols}
            FROM {person_profile} p
            LEFT JOIN primary_account pa USING (person_id)
            LEFT JOIN account_profile a ON a.account_id = pa.account_id""",
        "aud_accounts": f"SELECT account_id, {', '.join(ident(a) for a in account_attributes)} "
                        f"FROM account_profile{of_accounts}",
        # Most of a person's deals come through an account alone, with no role: those rows skip the grouping.
        "aud_person_opps": f"""
            WITH pr AS ({person_records}), ar AS ({account_records}),
            roles AS (
                SELECT pr.profile_id AS person_id, op.opportunity_key, op.role, op.is_primary
                FROM {current("opportunity_person", "person_key", person_keys)} op JOIN pr ON pr.source_key = op.person_key),
            with_role AS (
                SELECT person_id, opportunity_key, max(role) AS role,
                       coalesce(list(DISTINCT role ORDER BY role) FILTER (WHERE role IS NOT NULL), []) AS roles,
                       bool_or(coalesce(is_primary, FALSE)) AS is_primary
                FROM roles GROUP BY person_id, opportunity_key),
            via_account AS (
                SELECT pa.person_id, o.*
                FROM (SELECT DISTINCT person_id, account_id FROM {person_account}) pa JOIN ar ON ar.profile_id = pa.account_id
                JOIN {current("opportunity", "account_key", account_keys)} o ON o.account_key = ar.source_key)
            SELECT l.person_id, {opp_cols}, l.role, l.roles, l.is_primary
            FROM with_role l JOIN {current("opportunity", "source_key", "SELECT opportunity_key FROM with_role")} o
            ON o.source_key = l.opportunity_key
            UNION ALL
            SELECT o.person_id, {opp_cols}, CAST(NULL AS VARCHAR), CAST([] AS VARCHAR[]), FALSE
            FROM via_account o LEFT JOIN with_role r ON r.person_id = o.person_id AND r.opportunity_key = o.source_key
            WHERE r.person_id IS NULL""",
        "aud_account_opps": f"""
            SELECT ar.profile_id AS account_id, {opp_cols}
            FROM {account_opps} o JOIN ({own_records}) ar ON ar.source_key = o.account_key""",
        PERSON_EVENTS: _person_events(current("event", "person_key", person_keys), person_records),
        ACCOUNT_EVENTS: f"""
            SELECT pa.account_id, e.event_id, e.event_type, e.url, e."timestamp", e.properties, e.person_id
            FROM {PERSON_EVENTS} e JOIN aud_person_account pa USING (person_id)""",
        "aud_campaigns": f"""
            SELECT DISTINCT pr.profile_id AS person_id, c.name AS campaign, m.status
            FROM {current("campaign_member", "person_key", person_keys)} m JOIN ({person_records}) pr ON pr.source_key = m.person_key
            JOIN campaign_current c ON c.source_key = m.campaign_key""",
        "aud_lists": f"""
            SELECT DISTINCT pr.profile_id AS person_id, l.name AS list
            FROM {current("marketing_list_member", "person_key", person_keys)} m JOIN ({person_records}) pr ON pr.source_key = m.person_key
            JOIN marketing_list_current l ON l.source_key = m.marketing_list_key""",
    }
