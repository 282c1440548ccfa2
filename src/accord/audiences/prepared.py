"""Keep the aud_* tables current: built whole the first time (or after a schema change), then only for the
profiles whose inputs changed; and remember those profiles (`aud_pending`) until an evaluation re-decides them.

`aud_state` says what the tables reflect: the schema's custom fields, the last batch and the last profile build.
`aud_links` and `aud_records` are the copies of `person_account` and of each person record's profile they were
built from, so a changed link or a record that moved is found by difference. `aud_unmatched_keys` holds the person
keys of events no record has, so the record that comes with one of them is the only reason to read old events.
The people's feature tables an evaluation keeps between runs are marked whole, and for which definitions, in
`aud_features_state`.
"""

from __future__ import annotations

import hashlib

from accord.audiences.ast import Audience
from accord.audiences.compile import object_table
from accord.audiences.tables import (
    PERSON_EVENTS,
    ROW_ORDER,
    VIEWS,
    account_scoped_sql,
    keyed_person_events_sql,
    new_person_events_sql,
    person_scoped_sql,
    person_tables,
    table_sql,
    unmatched_keys_sql,
)
from accord.audiences.text import print_audience
from accord.audiences.touched import (
    batch_accounts_sql,
    batch_people_sql,
    linked_people_sql,
)
from accord.identity.nodes import records_sql
from accord.lake.batches import settled_batch
from accord.lake.store import Lake
from accord.profiles.build import profiles_built
from accord.profiles.changes import (
    NEWEST_SQL,
    changed_since_sql,
    forget_read,
    rebuilt_whole_since,
)

CHANGED_PEOPLE = "_aud_changed_people"  # everyone whose rows may differ: re-decided by the next evaluation
CHANGED_ACCOUNTS = "_aud_changed_accounts"
DIRECT_ACCOUNTS = "_aud_direct_accounts"  # the accounts whose own records, deals or objects changed
REKEYED_PEOPLE = "_aud_rekeyed_people"  # whose records changed (came, left, moved)
RELINKED_PEOPLE = "_aud_relinked_people"  # whose account links changed (the rekeyed included)
OPPORTUNITY_PEOPLE = "_aud_opportunity_people"  # whose opportunities may differ
CAMPAIGN_PEOPLE = "_aud_campaign_people"
LIST_PEOPLE = "_aud_list_people"
UNMATCHED_KEYS = "aud_unmatched_keys"  # the person keys of events that no record has
SCHEMA_PRINT = ("coalesce((SELECT string_agg(entity || '.' || name || ':' || type, ',' ORDER BY entity, name) "
                "FROM custom_fields), '')")


class NoProfilesYet(ValueError):
    """Audiences are evaluated over profiles, and no identity run has built them in this sandbox yet."""


def prepare_tables(lake: Lake) -> None:
    """(Re)build every aud_* table from the current profiles; the next evaluation re-decides everyone."""
    _require_profiles(lake)
    batch = settled_batch(lake)
    with lake.transaction():
        for name, sql in table_sql(lake.schema).items():
            order = f" ORDER BY {ROW_ORDER[name]}" if name in ROW_ORDER else ""
            kind = "VIEW" if name in VIEWS else "TABLE"
            lake.execute(f"CREATE OR REPLACE {kind} {name} AS SELECT * FROM ({sql}){order}")
        lake.execute("CREATE OR REPLACE TABLE aud_links AS SELECT * FROM person_account")
        lake.execute(f"CREATE OR REPLACE TABLE aud_records AS {records_sql('person')}")
        lake.execute(f"CREATE OR REPLACE TABLE {UNMATCHED_KEYS} AS {unmatched_keys_sql()}")
        lake.execute(f"CREATE OR REPLACE TABLE aud_state AS SELECT {SCHEMA_PRINT} AS schema_print, "
                     f"{batch} AS batch_id, {NEWEST_SQL} AS profile_seq")
        lake.execute("CREATE OR REPLACE TABLE aud_pending (kind VARCHAR, profile_id VARCHAR)")
        lake.execute("INSERT INTO aud_pending VALUES ('person', NULL), ('account', NULL)")
        forget_read(lake)


def refresh_tables(lake: Lake) -> None:
    """Bring the aud_* tables up to date, whole or only for the profiles that changed since they were built."""
    state = _state(lake)
    current = _current(lake)
    if state == current:
        return
    if state is None or state[0] != current[0] or rebuilt_whole_since(lake, state[2]):
        prepare_tables(lake)
        return
    _require_profiles(lake)
    with lake.transaction():
        _find_changed(lake, batch_after=state[1], profile_seq_after=state[2])
        _maintain(lake, batch_after=state[1])
        lake.execute(f"INSERT INTO aud_pending SELECT 'person', person_id FROM {CHANGED_PEOPLE} "
                     f"UNION ALL SELECT 'account', account_id FROM {CHANGED_ACCOUNTS}")
        lake.execute(f"UPDATE aud_state SET batch_id = {current[1]}, profile_seq = {current[2]}")
        forget_read(lake)


def everyone_pending(lake: Lake) -> bool:
    """Must the next evaluation decide everyone (the tables were rebuilt whole since the last one)?"""
    return bool(lake.scalar("SELECT count(*) FROM aud_pending WHERE profile_id IS NULL"))


def clear_pending(lake: Lake) -> None:
    """An evaluation of every audience re-decided what was pending."""
    lake.execute("DELETE FROM aud_pending")


def features_key(lake: Lake, audiences: list[Audience]) -> str:
    """What the kept people's feature tables were compiled from: the schema and every definition, in order."""
    text = "\n".join([str(lake.scalar(f"SELECT {SCHEMA_PRINT}")), *(print_audience(a) for a in audiences)])
    return hashlib.sha256(text.encode()).hexdigest()


def kept_features(lake: Lake, key: str) -> bool:
    """Are the people's feature tables in the lake whole, and compiled from `key`?"""
    return bool(lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'aud_features_state'")
                and lake.scalar("SELECT count(*) FROM aud_features_state WHERE key = ?", [key]))


def forget_features(lake: Lake) -> None:
    """The kept feature tables are about to change: not whole until `remember_features` (a crash in between
    makes the next run compute everyone's)."""
    lake.execute("CREATE OR REPLACE TABLE aud_features_state (key VARCHAR)")


def remember_features(lake: Lake, key: str) -> None:
    lake.execute("INSERT INTO aud_features_state VALUES (?)", [key])


def _require_profiles(lake: Lake) -> None:
    if not profiles_built(lake):
        raise NoProfilesYet("no profiles yet in this sandbox: load data and run `accord identity run` "
                            "(or `accord run`) before evaluating audiences")


def _state(lake: Lake) -> tuple[str, int, int] | None:
    """What the tables reflect, or None when they must be built whole (never built, or by an Accord that kept no
    copy of the people's records, or no keys of events without a record, and no record's key beside its events)."""
    if lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                   f"AND table_name IN ('aud_state', 'aud_records', '{UNMATCHED_KEYS}')") < 3:
        return None
    row = lake.execute("SELECT schema_print, batch_id, profile_seq FROM aud_state").fetchone()
    return (str(row[0]), int(row[1]), int(row[2])) if row else None


def _current(lake: Lake) -> tuple[str, int, int]:
    batch = settled_batch(lake)
    row = lake.execute(f"SELECT {SCHEMA_PRINT}, {NEWEST_SQL}").fetchone()
    assert row is not None
    return str(row[0]), batch, int(row[1])


def _find_changed(lake: Lake, batch_after: int, profile_seq_after: int) -> None:
    """The people and accounts whose aud_* rows may differ from what they would be if built now, and among the
    people those whose records or links changed (their event rows are rebuilt; the others' only gain new events)."""
    schema = lake.schema
    in_batches = f"batch_id > {int(batch_after)}"
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {DIRECT_ACCOUNTS} AS
        {batch_accounts_sql(schema, in_batches)}
        UNION {changed_since_sql('account', profile_seq_after)}""")
    direct = f"SELECT account_id FROM {DIRECT_ACCOUNTS}"
    _find_rekeyed(lake, changed_since_sql("person", profile_seq_after))
    # A changed account's people, by their links as the tables have them. A link that changed otherwise (relinking
    # everyone after an account changed, a new setting) is found by comparing the links with the tables' copy (a
    # row's hash within its person: a collision would need two links of one person to share 64 bits).
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {RELINKED_PEOPLE} AS
        SELECT person_id FROM (SELECT person_id, hash(p) AS h FROM person_account p) a
        FULL JOIN (SELECT person_id, hash(l) AS h FROM aud_links l) b USING (person_id, h)
        WHERE a.h IS NULL OR b.h IS NULL
        UNION SELECT person_id FROM {REKEYED_PEOPLE}""")
    rekeyed, relinked = f"SELECT person_id FROM {REKEYED_PEOPLE}", f"SELECT person_id FROM {RELINKED_PEOPLE}"
    of_accounts = linked_people_sql(direct, "aud_links")
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {CHANGED_PEOPLE} AS
        {batch_people_sql(schema, in_batches)}
        UNION {changed_since_sql('person', profile_seq_after)}
        UNION {relinked}
        UNION {of_accounts}""")
    for table, sources, extra in (
            (OPPORTUNITY_PEOPLE, ("opportunity_person",), f"UNION {relinked} UNION {of_accounts}"),
            (CAMPAIGN_PEOPLE, ("campaign_member",), ""),
            (LIST_PEOPLE, ("marketing_list_member",), "")):
        lake.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {batch_people_sql(schema, in_batches, sources)} "
                     f"UNION {rekeyed} {extra}")
    people = f"SELECT person_id FROM {CHANGED_PEOPLE}"
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {CHANGED_ACCOUNTS} AS
        {direct}
        UNION SELECT account_id FROM person_account WHERE person_id IN ({people})
        UNION SELECT account_id FROM aud_links WHERE person_id IN ({people})""")


def _find_rekeyed(lake: Lake, changed_profiles: str) -> None:
    """The people whose records are not those the tables were built from (`aud_records`): a record that came,
    left or moved to another profile changes both profiles' rows. Only the records of profiles a build changed
    are compared."""
    now, was = f"({records_sql('person')})", "aud_records"
    keys = (f"SELECT source_key FROM {now} WHERE profile_id IN ({changed_profiles}) "
            f"UNION SELECT source_key FROM {was} WHERE profile_id IN ({changed_profiles})")
    lake.execute(f"CREATE OR REPLACE TEMP TABLE _aud_compared AS {keys}")
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {REKEYED_PEOPLE} AS
        WITH a AS (SELECT source_key, profile_id FROM {now} WHERE source_key IN (SELECT source_key FROM _aud_compared)),
             b AS (SELECT source_key, profile_id FROM {was} WHERE source_key IN (SELECT source_key FROM _aud_compared))
        SELECT DISTINCT profile_id AS person_id FROM ((FROM a EXCEPT FROM b) UNION ALL (FROM b EXCEPT FROM a))
        WHERE profile_id IS NOT NULL""")


def _maintain(lake: Lake, batch_after: int) -> None:
    """Replace the changed people's and accounts' rows of every aud_* table kept as a table; events never change,
    so their rows move with their records (`_rekey_events`) and gain the new events'."""
    schema = lake.schema
    scope = {name: CHANGED_PEOPLE for name in person_tables(schema)} | {
        "aud_person_opps": OPPORTUNITY_PEOPLE, "aud_campaigns": CAMPAIGN_PEOPLE, "aud_lists": LIST_PEOPLE}
    scoped = {people: person_scoped_sql(schema, people) for people in set(scope.values())}
    for name in person_tables(schema):
        if name != PERSON_EVENTS:
            _replace_rows(lake, name, "person_id", scope[name], scoped[scope[name]][name])
    _rekey_events(lake, batch_after)
    # The new events joined with the records once: those with a record gain rows, the others' keys wait.
    lake.execute("CREATE OR REPLACE TEMP TABLE _aud_new_events AS "
                 f"{new_person_events_sql(f'batch_id > {int(batch_after)}')}")
    lake.execute(f"INSERT INTO {PERSON_EVENTS} FROM _aud_new_events WHERE person_id IS NOT NULL")
    lake.execute(f"INSERT INTO {UNMATCHED_KEYS} SELECT DISTINCT person_key FROM _aud_new_events "
                 f"WHERE person_id IS NULL AND person_key IS NOT NULL EXCEPT FROM {UNMATCHED_KEYS}")
    _replace_rows(lake, "aud_links", "person_id", CHANGED_PEOPLE,
                  f"SELECT * FROM person_account WHERE person_id IN (SELECT person_id FROM {CHANGED_PEOPLE})")
    lake.execute(f"DELETE FROM aud_records WHERE profile_id IN (SELECT person_id FROM {REKEYED_PEOPLE})")
    lake.execute(f"INSERT INTO aud_records {records_sql('person', f'SELECT person_id FROM {REKEYED_PEOPLE}')}")
    # An account's own tables change with the account; those of its people's custom objects with its people.
    of_people = {object_table("account", o.name) for o in schema.objects_of("person")}
    for accounts in (DIRECT_ACCOUNTS, CHANGED_ACCOUNTS):
        for name, sql in account_scoped_sql(schema, accounts).items():
            if (name in of_people) == (accounts == CHANGED_ACCOUNTS):
                _replace_rows(lake, name, "account_id", accounts, sql)


def _rekey_events(lake: Lake, batch_after: int) -> None:
    """The event rows of the people whose records changed, as of the batches the tables reflect: each row follows
    its record to the profile holding it now (a record gone leaves its key unmatched), and a record that came
    with an unmatched key brings that key's events, read from `event` by key."""
    if not lake.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {REKEYED_PEOPLE} LIMIT 1)"):
        return
    rekeyed = f"SELECT person_id FROM {REKEYED_PEOPLE}"
    lake.execute(f"CREATE OR REPLACE TEMP TABLE _aud_rekeyed_records AS {records_sql('person', rekeyed)}")
    lake.execute(f"CREATE OR REPLACE TEMP TABLE _aud_rekeyed_events AS "
                 f"FROM {PERSON_EVENTS} WHERE person_id IN ({rekeyed})")
    lake.execute(f"DELETE FROM {PERSON_EVENTS} WHERE person_id IN ({rekeyed})")
    lake.execute(f"""INSERT INTO {PERSON_EVENTS} BY NAME
        SELECT r.profile_id AS person_id, e.* EXCLUDE (person_id)
        FROM _aud_rekeyed_events e JOIN _aud_rekeyed_records r ON r.source_key = e.person_key""")
    # A moved record is held by a rekeyed profile now, so a key none of theirs holds has no record at all.
    lake.execute(f"INSERT INTO {UNMATCHED_KEYS} SELECT DISTINCT person_key FROM _aud_rekeyed_events "
                 "WHERE person_key NOT IN (SELECT source_key FROM _aud_rekeyed_records)")
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE _aud_matched_records AS
        SELECT * FROM _aud_rekeyed_records WHERE source_key IN (SELECT person_key FROM {UNMATCHED_KEYS})""")
    if lake.scalar("SELECT count(*) FROM _aud_matched_records"):
        lake.execute(f"INSERT INTO {PERSON_EVENTS} "
                     f"{keyed_person_events_sql('_aud_matched_records', f'batch_id <= {int(batch_after)}')}")
        lake.execute(f"DELETE FROM {UNMATCHED_KEYS} WHERE person_key IN (SELECT source_key FROM _aud_matched_records)")


def _replace_rows(lake: Lake, table: str, key: str, scope: str, sql: str) -> None:
    """Replace the rows of `table` whose `key` is in table `scope` (same column) by `sql`'s; nothing to do (and no
    scan of a large table) when `scope` is empty."""
    if not lake.scalar(f"SELECT count(*) FROM (SELECT 1 FROM {scope} LIMIT 1)"):
        return
    lake.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {scope})")
    lake.execute(f"INSERT INTO {table} {sql}")
