"""Keep the aud_* tables current: built whole the first time (or after a schema change), then only for the
profiles whose inputs changed; and remember those profiles (`aud_pending`) until an evaluation re-decides them.

`aud_state` says what the tables reflect: the schema's custom fields, the last batch and the last profile build.
`aud_links` is the copy of `person_account` they were built from, so a changed link is found by difference.
The people's feature tables an evaluation keeps between runs are marked whole, and for which definitions, in
`aud_features_state`.
"""

from __future__ import annotations

import hashlib

from accord.audiences.ast import Audience
from accord.audiences.compile import object_table
from accord.audiences.tables import (
    ACCOUNT_EVENTS,
    account_scoped_sql,
    person_scoped_sql,
    table_sql,
)
from accord.audiences.text import print_audience
from accord.audiences.touched import (
    batch_accounts_sql,
    batch_people_sql,
    linked_people_sql,
)
from accord.lake.store import Lake
from accord.profiles.changes import (
    NEWEST_SQL,
    changed_since_sql,
    forget_read,
    rebuilt_whole_since,
)

CHANGED_PEOPLE = "_aud_changed_people"
CHANGED_ACCOUNTS = "_aud_changed_accounts"
DIRECT_ACCOUNTS = "_aud_direct_accounts"  # the accounts whose own records, deals or objects changed
SCHEMA_PRINT = ("coalesce((SELECT string_agg(entity || '.' || name || ':' || type, ',' ORDER BY entity, name) "
                "FROM custom_fields), '')")
POSITION = ("(SELECT coalesce(max(batch_id), 0) FROM batches) AS batch_id, "
            f"{NEWEST_SQL} AS profile_seq")


class NoProfilesYet(ValueError):
    """Audiences are evaluated over profiles, and no identity run has built them in this sandbox yet."""


def prepare_tables(lake: Lake) -> None:
    """(Re)build every aud_* table from the current profiles; the next evaluation re-decides everyone."""
    _require_profiles(lake)
    with lake.transaction():
        for name, sql in table_sql(lake.schema).items():
            lake.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
        lake.execute("CREATE OR REPLACE TABLE aud_links AS SELECT * FROM person_account")
        lake.execute(f"CREATE OR REPLACE TABLE aud_state AS SELECT {SCHEMA_PRINT} AS schema_print, {POSITION}")
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
        _maintain(lake)
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
    built = {r[0] for r in lake.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not {"person_profile", "account_profile", "person_account"} <= built:
        raise NoProfilesYet("no profiles yet in this sandbox: load data and run `accord identity run` "
                            "(or `accord run`) before evaluating audiences")


def _state(lake: Lake) -> tuple[str, int, int] | None:
    if not lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'aud_state'"):
        return None
    row = lake.execute("SELECT schema_print, batch_id, profile_seq FROM aud_state").fetchone()
    return (str(row[0]), int(row[1]), int(row[2])) if row else None


def _current(lake: Lake) -> tuple[str, int, int]:
    row = lake.execute(f"SELECT {SCHEMA_PRINT}, {POSITION}").fetchone()
    assert row is not None
    return str(row[0]), int(row[1]), int(row[2])


def _find_changed(lake: Lake, batch_after: int, profile_seq_after: int) -> None:
    """The people and accounts whose aud_* rows may differ from what they would be if built now."""
    schema = lake.schema
    in_batches = f"batch_id > {int(batch_after)}"
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {DIRECT_ACCOUNTS} AS
        {batch_accounts_sql(schema, in_batches)}
        UNION {changed_since_sql('account', profile_seq_after)}""")
    direct = f"SELECT account_id FROM {DIRECT_ACCOUNTS}"
    # A changed account's people, by their links as the tables have them. A link that changed otherwise (relinking
    # everyone after an account changed, a new setting) is found by comparing the links with the tables' copy.
    moved = """SELECT person_id FROM (
                   SELECT * FROM (SELECT * FROM person_account EXCEPT SELECT * FROM aud_links)
                   UNION ALL SELECT * FROM (SELECT * FROM aud_links EXCEPT SELECT * FROM person_account))"""
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {CHANGED_PEOPLE} AS
        {batch_people_sql(schema, in_batches)}
        UNION {changed_since_sql('person', profile_seq_after)}
        UNION {moved}
        UNION {linked_people_sql(direct, 'aud_links')}""")
    people = f"SELECT person_id FROM {CHANGED_PEOPLE}"
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE {CHANGED_ACCOUNTS} AS
        {direct}
        UNION SELECT account_id FROM person_account WHERE person_id IN ({people})
        UNION SELECT account_id FROM aud_links WHERE person_id IN ({people})""")


def _maintain(lake: Lake) -> None:
    """Replace the changed people's and accounts' rows of every aud_* table (people first: account events read
    the people's tables)."""
    schema = lake.schema
    by_person = person_scoped_sql(schema, CHANGED_PEOPLE)
    by_person[ACCOUNT_EVENTS] = table_sql(schema, persons=CHANGED_PEOPLE)[ACCOUNT_EVENTS]
    for name, sql in by_person.items():
        lake.execute(f"DELETE FROM {name} WHERE person_id IN (SELECT person_id FROM {CHANGED_PEOPLE})")
        lake.execute(f"INSERT INTO {name} {sql}")
    lake.execute(f"DELETE FROM aud_links WHERE person_id IN (SELECT person_id FROM {CHANGED_PEOPLE})")
    lake.execute(f"INSERT INTO aud_links SELECT * FROM person_account "
                 f"WHERE person_id IN (SELECT person_id FROM {CHANGED_PEOPLE})")
    # An account's own tables change with the account; those of its people's custom objects with its people.
    of_people = {object_table("account", o.name) for o in schema.objects_of("person")}
    for scope in (DIRECT_ACCOUNTS, CHANGED_ACCOUNTS):
        for name, sql in account_scoped_sql(schema, scope).items():
            if (name in of_people) == (scope == CHANGED_ACCOUNTS):
                lake.execute(f"DELETE FROM {name} WHERE account_id IN (SELECT account_id FROM {scope})")
                lake.execute(f"INSERT INTO {name} {sql}")
