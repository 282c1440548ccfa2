"""The store's tables as Spark reads them, the Spark lake: Parquet under a root a cluster reaches (see
`storage.py`), kept in step with the store, each commit all or nothing.

Per table, `<root>/<table>/` holds `segment=<n>/` folders and `_manifests/<version>.json`, naming the live
segments, what each holds and the table's columns. A sync writes what the last manifest lacks as one new segment,
then commits by creating the next manifest: a new file appears whole on every file system, so a sync killed
half-way leaves only a segment no manifest names, which the next sync removes. The segments a commit leaves
behind stay until the next sync, for the readers that began before it.

- Record tables are kept by batch: a segment holds some whole batches (events split further by day,
  `event_day=<yyyy-mm-dd>/`), and only new batches are written. Past `MAX_SEGMENTS` the table is written again
  as one (a collector under `serve` commits a batch every few seconds; Spark reads few large files best). A
  batch is known by its rows and when it began, so a changed batch (an erasure) or a store put back from
  elsewhere (same batch ids, other rows) is written again.
- The store's logs (`accord.lake.logs`: the memberships' history, the merge log, delivery receipts, ...) are kept
  the same way by run, each run's rows known by a fingerprint: a sync writes what a run added, and a run's rows
  an erasure changed, not the whole history again.
- The other tables (identities, profiles, memberships, ...) are kept whole, known by a fingerprint of their rows:
  written again only when they changed.

A new column writes the whole table again.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from typing import Any

from accord.engines.spark.config import SparkConfig
from accord.engines.spark.storage import Storage, join, storage_for
from accord.lake.logs import LOGS
from accord.lake.sql import ident, literal
from accord.lake.store import Lake
from accord.scratch import new_scratch

MANIFESTS = "_manifests"
"""Spark skips files and folders whose names start with `_`."""
MAX_SEGMENTS = 32
"""Segments a table may hold before it is written again as one."""
BY_DAY = {"event": "timestamp"}
"""Tables split by day within a segment, and the instant that says which."""
DAY = "event_day"
SEGMENT = re.compile(r"^segment=(\d+)$")
VERSION = re.compile(r"^\d{8}\.json$")
WHOLE = "*"
"""What a table kept whole holds in place of batches."""
DEFINITION = "accord.definition"
"""The property of a view in the catalog holding a fingerprint of its definition."""


@dataclass(frozen=True)
class Synced:
    """What one sync of a table did, and what it left committed."""

    table: str
    version: int
    """The manifest now in force (0: nothing committed yet)."""
    segments: tuple[str, ...]
    """Where the committed segments are."""
    columns: tuple[str, ...]
    written: int
    """Batches or parts written (for a table kept whole: 1 if it was written again)."""
    removed: int
    """Segments removed: a killed sync's, or those the manifest before the last one named (a changed batch's, those
    written again as one)."""
    batches: int
    types: tuple[str, ...]
    """The columns' DuckDB types, in the same order."""


def lake_root(store: Lake, settings: SparkConfig) -> str:
    """Where `store`'s tables live for Spark: its sandbox's folder under `spark.lake`, or beside the store."""
    if settings.lake:
        return join(settings.lake, store.sandbox or "default")
    return str(store.derived_folder / "spark-lake")


def catalog_database(store: Lake, settings: SparkConfig) -> str:
    """The database of Spark's catalog holding `store`'s tables as views: one per sandbox."""
    return f"{settings.database}_{store.sandbox or 'default'}"


def open_spark_lake(store: Lake, settings: SparkConfig, spark: Any) -> SparkLake:
    """`store`'s Spark lake as `settings` place it, its views in the sandbox's database of the catalog."""
    root = lake_root(store, settings)
    return SparkLake(store, root, storage_for(root, spark), catalog_database(store, settings))


class SparkLake:
    """The tables of `store` under `root`, on `storage`; registered as views in the catalog's `database`."""

    def __init__(self, store: Lake, root: str, storage: Storage, database: str = "accord_default") -> None:
        self.store = store
        self.root = root
        self.storage = storage
        self.database = database

    def folder(self, table: str) -> str:
        return join(self.root, table)

    def holds(self, table: str) -> bool:
        """Is `table` one of the store's own tables (not a view, and no temporary table of a job hides it)?"""
        return bool(self.store.scalar("SELECT bool_and(NOT temporary) FROM duckdb_tables() WHERE table_name = ?",
                                      [table]))

    def _want(self, table: str) -> dict[str, str]:
        """What the table holds: each batch with its rows and when it began, each part (run) with a fingerprint of
        its rows, or the whole table's fingerprint."""
        if table in self.store.schema.entities:
            return {str(b): f"{n}@{at}" for b, n, at in self.store.execute(
                f"SELECT t.batch_id, count(*), any_value(b.started_at) FROM {ident(table)} t "
                "LEFT JOIN batches b USING (batch_id) GROUP BY t.batch_id").fetchall()}
        row = "_accord_row"  # the row as one value: an alias no column is likely to be named
        if table in LOGS:
            return {str(part): f"{n}:{hashed}" for part, n, hashed in self.store.execute(
                f"SELECT {row}.{ident(LOGS[table])}, count(*), sum(hash({row})) FROM {ident(table)} AS {row} "
                "GROUP BY 1").fetchall()}
        n, hashed = self.store.execute(f"SELECT count(*), sum(hash({row})) FROM {ident(table)} AS {row}").fetchone()
        return {WHOLE: f"{n}:{hashed}"}

    def columns(self, table: str) -> list[list[str]]:
        """The store's columns of `table`: [name, DuckDB type] each, in order."""
        return [[name, kind] for name, kind in self.store.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
            "AND table_catalog = current_database() ORDER BY ordinal_position", [table]).fetchall()]

    def sync(self, table: str) -> Synced:
        """Bring `table` in line with the store: write what it lacks, commit, remove what no manifest names."""
        folder = self.folder(table)
        columns = self.columns(table)
        want = self._want(table)
        manifests = self._manifests(folder)
        version, held = self._latest(folder, manifests)
        present = self.storage.children(folder)
        usable = held.get("segments", {}) if held.get("columns") == columns else {}
        segments: dict[str, dict[str, str]] = {
            name: batches for name, batches in usable.items()
            if name in present and all(want.get(b) == key for b, key in batches.items())}
        covered = {b for batches in segments.values() for b in batches}
        missing = [b for b in want if b not in covered]
        if missing and len(segments) + 1 > MAX_SEGMENTS:
            segments, missing = {}, list(want)
        if missing:
            name = self._write(table, folder, missing, [*present, *held.get("segments", {})])
            segments[name] = {b: want[b] for b in missing}
        manifest = {"columns": columns, "segments": segments}
        if manifest != held:
            # Past every name: a manifest a killed sync left half-written is unreadable, yet its name is taken.
            version = 1 + max((int(n.removesuffix(".json")) for n in manifests), default=0)
            if not self.storage.create(join(folder, MANIFESTS, f"{version:08d}.json"), json.dumps(manifest).encode()):
                raise RuntimeError(f"the Spark lake's table {table!r} was committed by another writer meanwhile; "
                                   "run the job again")
        # The segments the manifest before this one named stay until the next sync: a reader, or a view in the
        # catalog, that began before this sync still finds its files.
        previous = held.get("segments", {}) if manifest != held else {}
        gone = [n for n in present if SEGMENT.match(n) and n not in segments and n not in previous]
        for name in gone:
            self.storage.remove(join(folder, name))
        for name in manifests:
            if name != f"{version:08d}.json":
                self.storage.remove(join(folder, MANIFESTS, name))
        return Synced(table, version, tuple(join(folder, n) for n in sorted(segments)),
                      tuple(name for name, _ in columns), len(missing), len(gone), len(want),
                      tuple(kind for _, kind in columns))

    def committed(self, table: str) -> tuple[int, dict[str, Any]]:
        """The manifest in force (its version and content): the highest version that reads whole."""
        folder = self.folder(table)
        return self._latest(folder, self._manifests(folder))

    def erase(self) -> int:
        """Remove every table (the next sync writes them again from the store); returns how many there were."""
        tables = self.storage.children(self.root)
        self.storage.remove(self.root)
        return len(tables)

    def _manifests(self, folder: str) -> list[str]:
        return [n for n in self.storage.children(join(folder, MANIFESTS)) if VERSION.match(n)]

    def _latest(self, folder: str, manifests: list[str]) -> tuple[int, dict[str, Any]]:
        for name in sorted(manifests, reverse=True):
            try:
                return int(name.removesuffix(".json")), json.loads(self.storage.read(join(folder, MANIFESTS, name))
                                                                   or b"")
            except ValueError:
                continue
        return 0, {}

    def _write(self, table: str, folder: str, batches: list[str], taken: list[str]) -> str:
        """A new segment holding `batches` (or parts, or the whole table), written aside on this machine, then put
        in place; returns its name, numbered past every name `taken` (a name is never used twice for different
        rows)."""
        number = 1 + max((int(m.group(1)) for m in map(SEGMENT.match, taken) if m), default=0)
        name = f"segment={number}"
        rows = f"SELECT * FROM {ident(table)}"
        if batches != [WHOLE]:
            rows += f" WHERE {ident(LOGS.get(table, 'batch_id'))} IN ({', '.join(str(int(b)) for b in batches)})"
        aside = new_scratch("segment")
        segment = aside / "segment"
        try:
            if table in BY_DAY:
                day = f"CAST({ident(BY_DAY[table])} AS DATE)"  # in the store's time zone, UTC
                self.store.execute(f"COPY (SELECT *, {day} AS {DAY} FROM ({rows})) TO {literal(str(segment))} "
                                   f"(FORMAT parquet, PARTITION_BY ({DAY}))")
            else:
                segment.mkdir()
                self.store.execute(f"COPY ({rows}) TO {literal(str(segment / 'part-0.parquet'))} (FORMAT parquet)")
            self.storage.upload(segment, join(folder, name))
        finally:
            shutil.rmtree(aside, ignore_errors=True)
        return name


def read_synced(spark: Any, synced: Synced) -> Any:
    """The committed rows of a synced table as a Spark DataFrame with the store's columns."""
    # No partition inference: a custom field may be named like a folder's key.
    return (spark.read.option("recursiveFileLookup", "true").parquet(*synced.segments)
            .select(*[f"`{c}`" for c in synced.columns]))


def register(spark: Any, database: str, synced: Synced) -> bool:
    """`<database>.<table>` in Spark's catalog: a view over exactly the committed segments (events with their
    `event_day`, for queries that prune by day). Returns whether it was made (see `define_view`)."""
    if not synced.segments:
        return False
    columns = ", ".join(f"`{c}`" for c in synced.columns) + (f", `{DAY}`" if synced.table in BY_DAY else "")
    union = " UNION ALL ".join(f"SELECT {columns} FROM parquet.`{segment}`" for segment in synced.segments)
    return define_view(spark, database, synced.table, union)


def define_view(spark: Any, database: str, name: str, sql: str, rests_on: str = "") -> bool:
    """`<database>.<name>` as the view `sql` (Spark SQL), unless the catalog already holds it with this very
    definition and `rests_on` (what else it depends on); returns whether it was made. Making a view costs Spark
    an analysis of everything under it, and a catalog with a metastore keeps them between jobs."""
    key = hashlib.sha256(f"{sql}\n{rests_on}".encode()).hexdigest()[:32]
    if spark.catalog.tableExists(f"{database}.{name}"):
        held = spark.sql(f"SHOW TBLPROPERTIES `{database}`.`{name}` ('{DEFINITION}')").collect()
        if held and held[0]["value"] == key:
            return False
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    spark.sql(f"CREATE OR REPLACE VIEW `{database}`.`{name}` TBLPROPERTIES ('{DEFINITION}' = '{key}') AS {sql}")
    return True
