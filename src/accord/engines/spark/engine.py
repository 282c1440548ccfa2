"""The Spark engine: named SELECTs over the lake's tables, compiled audiences and identity components, on a Spark
session (local mode by default); what crosses between the lake and Spark goes as Parquet through a staging folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cached_property, reduce
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from accord.audiences.compile import MEMBERS, CompiledAudiences
from accord.engines.spark import ENGINE
from accord.engines.spark.catalog import publish
from accord.engines.spark.components import (
    component_moves,
    packed_pairs,
    unpacked_pairs,
)
from accord.engines.spark.config import SparkConfig
from accord.engines.spark.dialect import to_spark
from accord.engines.spark.files import MappedFile, map_file
from accord.engines.spark.lake import SparkLake, open_spark_lake
from accord.engines.spark.session import configured_session
from accord.engines.spark.tables import (
    bring_back,
    load_audience_tables,
    send_rows,
    send_tables,
)
from accord.identity.stitch import pointer_roots
from accord.ingest.loader import Batch, IngestResult, ingest_batch, keyed_select
from accord.lake.sql import DUCKDB_TYPES, ident, literal
from accord.lake.store import Lake
from accord.sources.files import WORKBOOK_FORMATS, FileJob, FileReader, load_file


def open_engine(lake: Lake, settings: SparkConfig | None = None) -> SparkEngine:
    settings = settings or SparkConfig()
    return SparkEngine(lake, configured_session(settings), settings)


class SparkEngine:
    name = ENGINE.name
    dialect = "spark"
    capabilities = ENGINE.capabilities

    def __init__(self, lake: Lake, spark: Any, settings: SparkConfig | None = None) -> None:
        self.lake = lake
        self.spark = spark
        self.settings = settings or SparkConfig()
        self.workdir = Path(self.settings.workdir) if self.settings.workdir else None

    @cached_property
    def spark_lake(self) -> SparkLake:
        """The store's tables as Spark reads them."""
        return open_spark_lake(self.lake, self.settings, self.spark)

    @contextmanager
    def _staging(self) -> Iterator[Path]:
        """A folder for what crosses between the lake and Spark; afterwards it is removed and what was cached is
        let go (each job sends its tables afresh, and a long-lived session would otherwise keep every run's)."""
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="accord-spark-", dir=self.workdir))
        try:
            yield folder
        finally:
            self.spark.catalog.clearCache()
            for table in self.spark.catalog.listTables():
                if table.isTemporary:
                    self.spark.catalog.dropTempView(table.name)
            shutil.rmtree(folder, ignore_errors=True)

    def members(self, compiled: CompiledAudiences) -> pa.Table:
        """Build the aud_* tables on Spark from the lake's base tables, evaluate there (only the profiles
        `compiled.within` names, when it names some), read the members back."""
        with self._staging() as folder:
            return self._members(compiled, folder)

    def explain(self, compiled: CompiledAudiences, query: exp.Select) -> tuple[pa.Table, tuple[Any, ...] | None]:
        """The members, and `query`'s first row over the tables and features they were decided from."""
        with self._staging() as folder:
            members = self._members(compiled, folder)
            rows = self.spark.sql(query.sql(self.dialect)).limit(1).collect()
            return members, tuple(map(_in_utc, rows[0])) if rows else None

    def _members(self, compiled: CompiledAudiences, folder: Path) -> pa.Table:
        """Everyone's membership decided in staged tables under `folder` (see `members`)."""
        load_audience_tables(self.spark_lake, self.spark, folder)
        for table in compiled.within.values():
            send_rows(self.lake, self.spark, folder, table, f"SELECT profile_id FROM {table}")
        for table, query in compiled.feature_tables(depth=0):
            self.spark.sql(query.sql(self.dialect)).cache().createOrReplaceTempView(table)
        nobody = "SELECT CAST(NULL AS STRING) AS audience, CAST(NULL AS STRING) AS profile_id LIMIT 0"
        undecided = compiled.undecided_members_sql()
        recorded = (send_rows(self.lake, self.spark, folder, "_undecided_members", undecided) if undecided
                    else self.spark.sql(nobody))
        results, built = [self.spark.sql(nobody)], 0
        for level in compiled.levels:
            # `in audience` at this level reads the members of the levels before it, and those not decided.
            reduce(lambda a, b: a.unionByName(b), [recorded, *results]).cache().createOrReplaceTempView(MEMBERS)
            if level.depth > built:
                for table, query in compiled.feature_tables(depth=level.depth):
                    self.spark.sql(query.sql(self.dialect)).cache().createOrReplaceTempView(table)
                built = level.depth
            self.spark.sql(level.query.sql(self.dialect)).cache().createOrReplaceTempView(level.table)
            results += [self.spark.sql(f"SELECT {_spark_string(name)} AS audience, profile_id "
                                       f"FROM {level.table} WHERE `{column}`") for name, column in level.columns.items()]
        return self._read_back(reduce(lambda a, b: a.unionByName(b), results), folder / "members")

    def build(self, steps: Sequence[tuple[str, str]], keep: Sequence[str]) -> None:
        """Each step a cached view on Spark, over the lake tables the steps read; the kept ones come back."""
        with self._staging() as folder:
            send_tables(self.spark_lake, self.spark, folder, [sql for _, sql in steps], {name for name, _ in steps})
            for name, sql in steps:
                self.spark.sql(to_spark(sql)).cache().createOrReplaceTempView(name)
            for name in keep:
                bring_back(self.lake, self.spark.table(name), folder, name)

    def load_file(self, job: FileJob, on_rows: Callable[[int], None] | None = None) -> IngestResult:
        """The file read and mapped on Spark, then its mapped rows (Parquet) committed by the lake as one batch. An
        Excel workbook (at most 1,048,576 rows a sheet, which Spark has no reader for) is read here, as the
        lake's engine reads it, as is a JSON array, which Spark would read whole as one value."""
        file = FileReader(job.path, job.encoding, job.sheet)
        if file.format in (*WORKBOOK_FORMATS, "json"):
            return load_file(self.lake, job, on_rows, file)  # opened once: a compressed one decompressed once
        mapped: list[MappedFile] = []

        def read(batch: Batch) -> None:
            mapped.append(map_file(self.spark, file, batch.mapping, batch.instance, folder / "mapped"))
            if on_rows:
                on_rows(mapped[0].rows + len(mapped[0].malformed))

        def fill(batch: Batch) -> bool:
            [done] = mapped
            batch.quarantine(done.malformed)
            batch.result.rows_read += done.rows + len(done.malformed)
            batch.columns_seen(done.columns, done.read)
            if not done.rows:
                return False
            typed = ", ".join(f"CAST({ident(c.name)} AS {DUCKDB_TYPES[c.type]}) AS {ident(c.name)}"
                              for c in batch.mapping.target.mappable_columns)
            files = literal(str(done.folder / "*.parquet"))
            rows = f"(SELECT {typed}, source_row, _reason, _raw FROM read_parquet({files}))"
            self.lake.execute(f"CREATE TEMP TABLE {batch.stage} AS {keyed_select(batch.mapping, batch.instance, rows)}")
            return True

        with self._staging() as folder:
            result = ingest_batch(self.lake, job.mapping, fill, source_name=job.source_name,
                                  fingerprint=file.fingerprint(), source_instance_id=job.source_instance_id,
                                  read=read)
        result.footer_lines = file.footer_lines
        return result

    def components(self, n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Rounds of local contraction on Spark, their moves followed here; nodes without an edge are components
        of their own."""
        with self._staging() as folder:
            # Spark splits the file by its row groups (a packed row each) over the cores: the first round contracts
            # each split in place.
            pq.write_table(packed_pairs(src, dst), folder / "edges.parquet", row_group_size=1, compression="none")
            edges = self.spark.read.parquet(str(folder / "edges.parquet"))
            node, lower = unpacked_pairs(self._read_back(component_moves(edges, len(src)), folder / "moves"))
        parent = np.arange(n_nodes, dtype=np.int64)
        parent[node] = lower
        roots = pointer_roots(parent)
        # Each component's root is its lowest node, so counting roots up to it numbers components by lowest node.
        return (np.cumsum(roots == np.arange(n_nodes)) - 1)[roots]

    def publish(self, tables: Sequence[str]) -> tuple[int, int]:
        """The record tables and `tables` synced into the Spark lake and shown in the catalog, with the lake's
        views over them (`<database>_<sandbox>.person_current`, `.aud_people`, ...)."""
        done = publish(self.spark_lake, self.spark, tables)
        return len(done.tables), done.written

    def erase_copies(self) -> int:
        """Remove the Spark lake's copy of the store and its views in the catalog (the next job writes them again);
        returns the tables removed."""
        self.spark.sql(f"DROP DATABASE IF EXISTS `{self.spark_lake.database}` CASCADE")
        return self.spark_lake.erase()

    @staticmethod
    def _read_back(frame: Any, path: Path) -> pa.Table:
        """A Spark result, written as Parquet at `path`, read as an Arrow table."""
        frame.write.mode("overwrite").parquet(str(path), compression="none")
        return pq.read_table(path)


def _spark_string(text: str) -> str:
    return exp.Literal.string(text).sql("spark")


def _in_utc(value: Any) -> Any:
    """A value as the lake gives it: PySpark hands an instant over as this machine's local time, without a zone."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(timezone.utc)
    return value
