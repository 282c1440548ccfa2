"""People as a page asks for them while it renders: the profile an identity belongs to, its attributes and its
current audiences, copied from the lake into a SQLite file that `serve`'s runtime keeps current, so a read is a
few index lookups and never touches the lake. The copy also holds the API keys' hashes, for the profile edge
(`api/edge.py`), a process that cannot open the lake."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from accord.api.keys import KeyHolder
from accord.audiences.memberships import ACTIVE_ROWS, last_recording, recorded_upto
from accord.audiences.memberships import changed_since_sql as membership_changes_sql
from accord.identity.nodes import identities_sql
from accord.lake.store import Lake
from accord.lake.turns import writing
from accord.profiles.build import attributes, profiles_built
from accord.profiles.changes import (
    changed_since_sql,
    newest,
    read_up_to,
    rebuilt_whole_since,
)
from accord.profiles.lookup import ProfileNotFound, check_wanted, parse_identity

READER = "served_profiles"
"""This copy's name among the readers of `profile_changes` (a change is kept until every reader has it)."""
CHUNK = 50_000
LOG_BYTES = 64 * 2**20
"""The most the copy's write-ahead log keeps of its size between syncs."""

_TABLES = """
CREATE TABLE IF NOT EXISTS identity (namespace TEXT NOT NULL, value TEXT NOT NULL, person_id TEXT NOT NULL,
                                     PRIMARY KEY (namespace, value)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identity_person ON identity (person_id);
CREATE TABLE IF NOT EXISTS person (person_id TEXT PRIMARY KEY, attributes TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS membership (person_id TEXT NOT NULL, audience TEXT NOT NULL,
                                       PRIMARY KEY (person_id, audience)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS position (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_key (key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, roles TEXT NOT NULL)
    WITHOUT ROWID;
"""


_SUMMARY = """
WITH found AS ({found})
SELECT found.person_id, person.attributes,
       (SELECT json_group_array(audience) FROM (SELECT audience FROM membership m WHERE m.person_id = found.person_id
                                                ORDER BY audience))
FROM found LEFT JOIN person ON person.person_id = found.person_id
"""
SUMMARY_BY_IDENTITY = _SUMMARY.format(found="SELECT person_id FROM identity WHERE namespace = ? AND value = ?")
SUMMARY_BY_PERSON_ID = _SUMMARY.format(found="SELECT person_id FROM identity WHERE person_id = ? LIMIT 1")


@dataclass(frozen=True)
class _Held:
    version: int
    attributes: list[str] | None
    keys: dict[str, KeyHolder]


@dataclass(frozen=True)
class SyncReport:
    """What one sync copied: everyone (`full`), the changed people (`incremental`) or nothing (`idle`)."""

    mode: str
    people: int
    seconds: float


TURN = "served copy of people"
"""What a sync holds while it copies, and a privacy erasure while it erases: a sync between the two places an
erasure clears (this copy, then the lake) would copy the person back."""


class ServedProfiles:
    """The copy at `path`: `sync` (one writer thread) brings it up to the lake, `summary` reads it from any
    thread, each with its own read-only connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._readers = threading.local()
        self._exists = False  # once the file exists it stays: a full copy replaces rows in one transaction

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @property
    def ready(self) -> bool:
        """Whether a first copy is complete (until then, reads go to the lake)."""
        return self._held().attributes is not None

    def summary(self, ref: str, wanted: list[str]) -> dict[str, Any] | None:
        """The person's id, the attributes asked for and the audiences they are in, as of the last sync; None
        before the first copy is complete."""
        known = self._held().attributes
        if known is None:
            return None
        check_wanted(known, wanted)
        namespace, value = parse_identity(ref)
        if namespace == "person_id":
            found = self._reader().execute(SUMMARY_BY_PERSON_ID, [value]).fetchone()
        else:
            found = self._reader().execute(SUMMARY_BY_IDENTITY, [namespace, value]).fetchone()
        if found is None:
            raise ProfileNotFound.of("person", namespace, value)
        person_id, attributes, audiences = found
        held = orjson.loads(attributes) if attributes else {}
        return {"person_id": person_id, "attributes": {name: held.get(name) for name in wanted},
                "audiences": orjson.loads(audiences)}

    def keep_keys(self, keys: Mapping[str, KeyHolder]) -> None:
        """Replace the API keys held with `keys` (hash → holder), at once for every reader."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as con, con:  # not the writer's: a sync may be open
            con.executescript(_TABLES)
            con.execute("DELETE FROM api_key")
            con.executemany("INSERT INTO api_key VALUES (?, ?, ?)",
                            [(h, k.key_id, orjson.dumps(k.roles).decode()) for h, k in keys.items()])

    def keys(self) -> dict[str, KeyHolder]:
        """The API keys held: hash → holder (none before `keep_keys`)."""
        return self._held().keys

    def sync(self, lake: Lake) -> SyncReport:
        """Copy what changed in the lake since the last sync: the people a profile build changed and those whose
        memberships changed; everyone on the first sync, after a whole rebuild, or when the lake or its person
        fields are not the ones copied."""
        with writing(lake, [TURN]):
            return self._sync(lake)

    def _sync(self, lake: Lake) -> SyncReport:
        started = time.perf_counter()
        con = self._write()
        held = self._positions(con)
        columns = orjson.dumps(["person_id", *attributes(lake.entity("person"))]).decode()
        origin = str(lake.scalar("SELECT min(applied_at) FROM _migrations"))
        changes = newest(lake)
        runs = last_recording(lake)
        recorded = recorded_upto(lake, runs)
        full = ((held.get("origin"), held.get("columns")) != (origin, columns)  # another lake, other fields
                or rebuilt_whole_since(lake, int(held["changes"]), "person")
                or recorded_upto(lake, int(held["memberships"])) != int(held.get("recorded", -1)))  # a late run
        if full and not profiles_built(lake):  # a new store: nothing to copy before the first identity run
            return SyncReport("idle", 0, time.perf_counter() - started)
        if full:
            read_up_to(lake, READER, changes)
            people = None
        else:
            if (changes, runs) == (int(held["changes"]), int(held["memberships"])):
                return SyncReport("idle", 0, time.perf_counter() - started)
            people = sorted({r[0] for r in lake.execute(
                f"{changed_since_sql('person', int(held['changes']))} "
                f"UNION {membership_changes_sql(int(held['memberships']))}").fetchall()})
        with con:  # one transaction: readers see the old copy or the new one
            copied = self._copy(con, lake, orjson.loads(columns), people)
            con.executemany("INSERT OR REPLACE INTO position VALUES (?, ?)", [
                ("origin", origin), ("columns", columns), ("changes", str(changes)), ("memberships", str(runs)),
                ("recorded", str(recorded))])
        read_up_to(lake, READER, changes)
        if full:  # the copy's every page went through the log once: give the disk back (1.1 GB on `large`)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return SyncReport("full" if full else "incremental", copied, time.perf_counter() - started)

    def _copy(self, con: sqlite3.Connection, lake: Lake, columns: list[str], people: list[str] | None) -> int:
        """Replace the rows of `people` (everyone when None) with the lake's."""
        if people is None:
            for table in ("identity", "person", "membership"):
                con.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            scope, params = "", []
        else:
            con.execute("CREATE TEMP TABLE IF NOT EXISTS changed (person_id TEXT PRIMARY KEY) WITHOUT ROWID")
            con.execute("DELETE FROM changed")
            con.executemany("INSERT INTO changed VALUES (?)", [(p,) for p in people])
            for table in ("identity", "person", "membership"):
                con.execute(f"DELETE FROM {table} WHERE person_id IN (SELECT person_id FROM changed)")  # noqa: S608
            scope, params = "AND {column} IN (SELECT unnest(?::VARCHAR[]))", [people]
        names = ", ".join(f'"{c}"' for c in columns)
        copied = 0
        for rows in _chunks(lake, f"SELECT {names} FROM person_profile WHERE TRUE "
                                  f"{scope.format(column='person_id')} ORDER BY person_id", params):
            con.executemany("INSERT INTO person VALUES (?, ?)",  # an attribute left out is read as null
                            [(r[0], orjson.dumps({c: v for c, v in zip(columns[1:], r[1:]) if v is not None},
                                                 default=_plain).decode()) for r in rows])
            copied += len(rows)
        for rows in _chunks(lake, f"{identities_sql('person')} {scope.format(column='profile_id')} "
                                  "ORDER BY namespace, value", params):
            con.executemany("INSERT OR REPLACE INTO identity VALUES (?, ?, ?)", rows)
        for rows in _chunks(lake, f"SELECT DISTINCT profile_id, audience FROM ({ACTIVE_ROWS} "
                                  f"{scope.format(column='profile_id')}) ORDER BY 1, 2", params):
            con.executemany("INSERT OR REPLACE INTO membership VALUES (?, ?)", rows)
        return copied

    def _write(self) -> sqlite3.Connection:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = sqlite3.connect(self.path, check_same_thread=False)
            self._writer.execute("PRAGMA journal_mode = WAL")
            self._writer.execute("PRAGMA synchronous = NORMAL")  # a copy: a crash costs at most a re-sync
            # Once checkpointed, the log shrinks back to this; SQLite would otherwise keep its largest size.
            self._writer.execute(f"PRAGMA journal_size_limit = {LOG_BYTES}")
            self._writer.executescript(_TABLES)
        return self._writer

    def _held(self) -> _Held:
        """The copy's attributes and keys, read again by this thread only once another connection changed the file
        (SQLite's `data_version`): a read then costs one lookup, not three."""
        if not self._exists:
            self._exists = self.path.exists()
            if not self._exists:
                return _Held(-1, None, {})
        con = self._reader()
        version = con.execute("PRAGMA data_version").fetchone()[0]
        held: _Held | None = getattr(self._readers, "held", None)
        if held is None or held.version != version:
            try:
                row = con.execute("SELECT value FROM position WHERE name = 'columns'").fetchone()
                keys = con.execute("SELECT key_hash, key_id, roles FROM api_key").fetchall()
            except sqlite3.OperationalError:  # a copy made before keys were kept in it: `keep_keys` adds the table
                return _Held(-1, None, {})
            held = _Held(version, _attribute_names(row[0]) if row else None,
                         {h: KeyHolder(key_id, tuple(orjson.loads(roles))) for h, key_id, roles in keys})
            self._readers.held = held
        return held

    def _reader(self) -> sqlite3.Connection:
        con = getattr(self._readers, "connection", None)
        if con is None:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._readers.connection = con
        return con

    @staticmethod
    def _positions(con: sqlite3.Connection) -> dict[str, str]:
        try:
            return dict(con.execute("SELECT name, value FROM position").fetchall())
        except sqlite3.OperationalError:  # not created yet
            return {}


@cache
def forget(path: Path, person_id: str) -> int:
    """Take one person out of the copy at `path` (a privacy delete); rows removed (0 when there is no copy)."""
    if not path.exists():
        return 0
    with closing(sqlite3.connect(path, timeout=30)) as con, con:
        return sum(con.execute(f"DELETE FROM {table} WHERE person_id = ?", [person_id]).rowcount  # noqa: S608
                   for table in ("identity", "person", "membership"))


def _attribute_names(columns: str) -> list[str]:
    return list(orjson.loads(columns)[1:])


def _chunks(lake: Lake, sql: str, params: list[Any]) -> Any:
    cursor = lake.execute(sql, params)
    while rows := cursor.fetchmany(CHUNK):
        yield rows


def _plain(value: Any) -> Any:
    """What orjson leaves to us, as the REST API's own encoder writes it."""
    if isinstance(value, Decimal):
        return float(value)
    return str(value)
