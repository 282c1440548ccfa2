"""The lake: one DuckDB database file per sandbox, migrated on open, with current-view semantics."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from accord.lake.config import said_bytes
from accord.lake.sql import ident, literal
from accord.model.entities import ENTITIES, Entity
from accord.model.schema import CustomField, CustomObject, Schema

Result = duckdb.DuckDBPyConnection
"""What `Lake.execute` returns: read it (fetchall, fetchone, fetchmany, description, arrow), never run SQL on it."""

MIGRATION_FILE = re.compile(r"^v(\d{4})_(\w+)\.sql$")


def _migrations() -> list[tuple[int, str, str]]:
    """Every shipped migration as (version, name, sql), in order."""
    found = []
    for item in resources.files("accord.lake.migrations").iterdir():
        match = MIGRATION_FILE.match(item.name)
        if match:
            found.append((int(match.group(1)), match.group(2), item.read_text()))
    return sorted(found)


LATEST_VERSION = max(version for version, _, _ in _migrations())


def latest_view_sql(entity: Entity, keys: str | None = None) -> str:
    """The latest version of every key, deleted or not: newest source time, then later batch, then later row.

    `keys`, a query of source keys, limits it to those (filtered before the window, which matters on large tables).
    """
    rows = ident(entity.name) + (f" WHERE source_key IN ({keys})" if keys else "")
    if entity.immutable:
        return f"SELECT * FROM {rows}"
    return (
        f"SELECT * EXCLUDE (_version) FROM (SELECT *, row_number() OVER ("
        f"PARTITION BY source_key ORDER BY source_updated_at DESC NULLS LAST, batch_id DESC, source_row DESC"
        f") AS _version FROM {rows}) WHERE _version = 1"
    )


def current_sql(entity: Entity, keys: str | None = None) -> str:
    """What the `<entity>_current` view shows: the latest version of each key unless deleted (of `keys` only)."""
    return f"SELECT * FROM ({latest_view_sql(entity, keys)}) WHERE NOT coalesce(is_deleted, FALSE)"


def current_where(entity: str, column: str, keys: str) -> str:
    """Current records of `entity` whose `column` is among `keys`, windowing only the keys that ever had such a
    value (a filter on the view itself would number every version of the table first)."""
    if ENTITIES[entity].immutable:  # one version per key: nothing to rank
        return f"(SELECT * FROM {ident(entity)} WHERE {column} IN ({keys}) AND NOT coalesce(is_deleted, FALSE))"
    versions = f"SELECT source_key FROM {entity} WHERE {column} IN ({keys})"
    return f"(SELECT * FROM ({current_sql(ENTITIES[entity], versions)}) WHERE {column} IN ({keys}))"


class StoreOutdated(ValueError):
    """The store was written by an older Accord: `accord migrate` brings it up to date."""


class StoreBusy(ValueError):
    """Another process holds the store's file (DuckDB lets one process open it) past the time a command waits."""


LOCK_WAIT_SECONDS = 20.0
"""How long opening a store waits for another process to let go of it: a scheduled run that is about to end."""


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the store's file, waiting up to LOCK_WAIT_SECONDS while another process holds it."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as err:
            if "Could not set lock" not in str(err):
                raise
            if time.monotonic() >= deadline:
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(err))
                who = f" (PID {holder.group(2)}, {Path(holder.group(1)).name})" if holder else ""
                raise StoreBusy(
                    f"{path} is in use by another process{who}, still after {LOCK_WAIT_SECONDS:.0f} s: wait for it "
                    "to finish, or run `accord serve`, through which every command reaches the store") from None
            time.sleep(0.2)


class Lake:
    """An open sandbox store. Use as a context manager, or call `close()`.

    A new store is created at the current version. An existing one is migrated only when asked (`migrate=True`:
    `accord migrate`, `init`, `serve`, `demo`); opened otherwise, an older store is refused with what to run.
    """

    engine = "duckdb"
    """The engine that holds this store's tables (see `accord.engines`)."""

    def __init__(self, path: Path, read_only: bool = False, sandbox: str | None = None, migrate: bool = False,
                 settings: Mapping[str, str | int] | None = None) -> None:
        self.path = path
        self.sandbox = sandbox
        """The sandbox this store belongs to, when opened through a workspace."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = connect(path, read_only)
        # DuckDB settings (the workspace's `store:` limits) hold from the first statement, migrations included.
        try:
            for name, value in {**(settings or {}), "TimeZone": "UTC"}.items():
                self._con.execute(f"SET {name} = {literal(value)}")
        except BaseException:
            self._con.close()
            raise
        self.schema = Schema()
        """The entities as this store holds them: Accord's model and the custom fields and objects declared here."""
        if not read_only and self._is_new():
            with self.transaction():  # a process killed while creating the store leaves it new, not half-made
                self._migrate(each_in_transaction=False)
                self.schema = self._stored_schema()
                self._create_views()
        elif not read_only and migrate:
            self._migrate()
            self.schema = self._stored_schema()
            self._create_views()
        else:
            self._check_current()
            self.schema = self._stored_schema()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    def cursor(self) -> Lake:
        """Another handle on this open store, for one thread (a DuckDB cursor): nothing reopened or checked, which
        is what lets a read answer in a few milliseconds. Close it when done; the store stays open."""
        other = Lake.__new__(Lake)
        other.path, other.sandbox, other.schema = self.path, self.sandbox, self.schema
        other._con = self._con.cursor()
        other._con.execute("SET TimeZone = 'UTC'")
        return other

    @property
    def derived_folder(self) -> Path:
        """Where copies of this store's tables made for other engines live (Parquet for Spark): rebuilt from the
        store whenever needed, so erasing a person removes the folder whole."""
        return self.path.parent / "derived"

    def memory_limit(self) -> int:
        """The bytes the store's work may hold in memory (DuckDB's `memory_limit`: `store.memory_limit` or 80 %)."""
        return said_bytes(self.scalar("SELECT current_setting('memory_limit')"))

    def wal_bytes(self) -> int:
        """The size of the store's write-ahead log (what the next checkpoint moves into the file)."""
        try:
            return Path(f"{self.path}.wal").stat().st_size
        except OSError:
            return 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        self._con.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        if not self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = '_migrations'"):
            return 0
        row = self._con.execute("SELECT max(version) FROM _migrations").fetchone()
        return int(row[0] or 0) if row else 0

    def _is_new(self) -> bool:
        return not self.scalar("SELECT count(*) FROM information_schema.tables")

    def _check_current(self) -> None:
        have, want = self.schema_version, LATEST_VERSION
        if have < want:
            self.close()
            raise StoreOutdated(f"the store {self.path} is at version {have}, this Accord needs {want}: run "
                                "`accord migrate` (it keeps every record)")
        if have > want:
            self.close()
            raise StoreOutdated(f"the store {self.path} is at version {have}, newer than this Accord ({want}): "
                                "upgrade Accord")

    def _migrate(self, each_in_transaction: bool = True) -> None:
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER, name VARCHAR, applied_at TIMESTAMPTZ)"
        )
        current = self.schema_version
        for version, name, sql in _migrations():
            if version <= current:
                continue
            with self.transaction() if each_in_transaction else nullcontext():
                self._apply(version, name, sql)

    def _apply(self, version: int, name: str, sql: str) -> None:
        self._con.execute(sql)
        self._con.execute("INSERT INTO _migrations VALUES (?, ?, ?)", [version, name, now()])

    def _stored_schema(self) -> Schema:
        exists = self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'custom_objects'")
        if not exists:
            return Schema()
        objects = self.query("SELECT name, related_to, relation_column, coalesce(label, '') AS label, "
                             "coalesce(description, '') AS description FROM custom_objects ORDER BY declared_at, name")
        fields = self.query("SELECT entity, name, type, coalesce(label, '') AS label, "
                            "coalesce(description, '') AS description FROM custom_fields ORDER BY declared_at, name")
        return Schema(tuple(CustomField.model_validate(r) for r in fields),
                      tuple(CustomObject.model_validate(r) for r in objects))

    def refresh_schema(self) -> None:
        """Read the declarations again (after a change), and give new custom objects their views."""
        self.schema = self._stored_schema()
        self._create_views()

    def entity(self, name: str) -> Entity:
        """The entity `name` as this store holds it, custom fields included."""
        return self.schema.entity(name)

    def _create_views(self) -> None:
        """(Re)create the views only when their definitions changed: every open would otherwise pay for them."""
        statements = []
        for entity in self.schema.entities.values():
            latest = latest_view_sql(entity)
            statements.append(f"CREATE OR REPLACE VIEW {ident(entity.name + '_latest')} AS {latest}")
            statements.append(f"CREATE OR REPLACE VIEW {ident(entity.name + '_current')} AS {current_sql(entity)}")
        signature = hashlib.sha256("\n".join(statements).encode()).hexdigest()
        self._con.execute("CREATE TABLE IF NOT EXISTS _views (signature VARCHAR)")
        if self.scalar("SELECT max(signature) FROM _views") == signature:
            return
        for statement in statements:
            self._con.execute(statement)
        self._con.execute("DELETE FROM _views")
        self._con.execute("INSERT INTO _views VALUES (?)", [signature])

    def execute(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Result:
        """Run one statement; read its result with fetchall, fetchone, fetchmany, description or arrow."""
        return self._con.execute(sql, params if params is not None else [])

    def arrow(self, sql: str) -> pa.Table:
        """A query's whole result as an Arrow table."""
        return self._con.sql(sql).to_arrow_table()

    def executemany(self, sql: str, rows: list[Any]) -> None:
        self._con.executemany(sql, rows)

    def register(self, name: str, table: Any) -> None:
        """Make an Arrow table (or DataFrame) readable by SQL as `name` on this handle, until `unregister`."""
        self._con.register(name, table)

    def unregister(self, name: str) -> None:
        self._con.unregister(name)

    def drop_temporary(self, names: Iterable[str] | None = None) -> None:
        """Drop this handle's temporary tables (`names`, or all): a stage's working tables, so what they hold is
        free for the next. Cleanup that never raises, so it cannot hide the failure it may follow."""
        with suppress(duckdb.Error):
            if names is None:
                names = [r[0] for r in self._con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE temporary AND database_name = 'temp'").fetchall()]
            for name in names:
                self._con.execute(f"DROP TABLE IF EXISTS temp.{ident(name)}")

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run a query and return rows as dicts."""
        cur = self._con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        rows = self._con.execute(sql, params or []).fetchall()  # all: a half-read result blocks register()
        return rows[0][0] if rows else None

    def current(self, entity: str) -> list[dict[str, Any]]:
        """Every current (latest, not deleted) record of an entity."""
        return self.query(f"SELECT * FROM {ident(entity + '_current')} ORDER BY source_key")

    def batches(self, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM batches ORDER BY batch_id DESC LIMIT ? OFFSET ?", [limit, offset])

    def quarantine(
        self, batch_id: int | None = None, reason: str | None = None, row: int | None = None, limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Quarantined rows, newest batch first, filtered by batch, reason code or row."""
        where, params = [], []
        for column, value in (("batch_id", batch_id), ("reason_code", reason), ("source_row", row)):
            if value is not None:
                where.append(f"q.{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self.query(
            f"SELECT q.*, b.source_name FROM quarantine q LEFT JOIN batches b USING (batch_id) {clause} "
            f"ORDER BY q.batch_id DESC, q.source_row LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )

    def quarantine_summary(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT entity, reason_code, count(*) AS rows FROM quarantine GROUP BY ALL ORDER BY entity, reason_code"
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Per entity: current records, stored versions."""
        out = {}
        for name in self.schema.entities:
            out[name] = {
                "current": int(self.scalar(f"SELECT count(*) FROM {ident(name + '_current')}")),
                "versions": int(self.scalar(f"SELECT count(*) FROM {ident(name)}")),
            }
        return out


def now() -> datetime:
    return datetime.now(timezone.utc)
