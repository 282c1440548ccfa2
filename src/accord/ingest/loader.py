"""Load raw chunks into the lake as one batch: good rows as new versions, bad rows into quarantine, atomically."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from accord.ingest.compile import ChunkCompiler
from accord.ingest.limits import escaped
from accord.ingest.mapping import Mapping
from accord.lake.batches import opened_batch
from accord.lake.sql import ident, literal
from accord.lake.store import Lake, latest_view_sql, now
from accord.model.source_key import checked_instance
from accord.sources.base import MalformedRow, RawChunk


@dataclass
class IngestResult:
    entity: str
    source_name: str
    batch_id: int | None = None
    rows_read: int = 0
    loaded: int = 0
    unchanged: int = 0
    quarantined: int = 0
    already_ingested_as: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    absent_columns: list[str] = field(default_factory=list)
    """Columns the mapping reads that the input lacks (their fields stay empty)."""
    unmapped_columns: list[str] = field(default_factory=list)
    """Columns of the input the mapping does not read."""


def ingest_chunks(
    lake: Lake,
    mapping: Mapping,
    chunks: Iterable[RawChunk],
    *,
    source_name: str,
    fingerprint: str,
    source_instance_id: str | None = None,
    strict_columns: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest one input as one batch. The same input (same fingerprint) ingested again changes nothing."""

    def fill(batch: Batch) -> bool:
        compilers: dict[tuple[str, ...], tuple[dict[str, str], str]] = {}
        seen: dict[str, None] = {}
        read = set(batch.mapping.source_columns)
        created = False
        for chunk in chunks:
            columns = chunk.columns
            if tuple(columns) not in compilers:
                used = batch.mapping.with_custom(columns)
                renames = used.renames(columns)
                named = [renames.get(c, c) for c in columns]
                compilers[tuple(columns)] = renames, stage_select(used, named, batch.instance, strict_columns)
                seen.update(dict.fromkeys(named))
                read.update(used.source_columns)
            renames, sql = compilers[tuple(columns)]
            table = chunk.table.rename_columns([renames.get(c, c) for c in chunk.table.column_names])
            lake.register("chunk", table)
            if created:
                lake.execute(f"INSERT INTO {batch.stage} BY NAME {sql}")
            else:
                lake.execute(f"CREATE TEMP TABLE {batch.stage} AS {sql}")
                created = True
            lake.unregister("chunk")
            batch.quarantine(chunk.malformed)
            batch.result.rows_read += chunk.table.num_rows + len(chunk.malformed)
            if on_chunk:
                on_chunk(chunk.table.num_rows + len(chunk.malformed))
        batch.columns_seen(seen, read)
        return created

    return ingest_batch(lake, mapping, fill, source_name=source_name, fingerprint=fingerprint,
                        source_instance_id=source_instance_id)


@dataclass
class Batch:
    """A batch being filled: its staging table, the mapping as it applies here, and the result so far."""

    lake: Lake
    mapping: Mapping
    batch_id: int
    instance: str
    started_at: object
    result: IngestResult

    @property
    def stage(self) -> str:
        return ident(f"_stage_{self.batch_id}")

    def quarantine(self, malformed: Iterable[MalformedRow]) -> None:
        """Rows the reader could not split into fields, kept whole with their reasons."""
        for bad in malformed:
            code = bad.reason.split(":", 1)[0]
            self.lake.execute(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
                [self.batch_id, self.mapping.target.name, bad.row, code, escaped(bad.reason), escaped(bad.text),
                 self.started_at],
            )
            self.result.reasons[code] = self.result.reasons.get(code, 0) + 1
            self.result.quarantined += 1

    def columns_seen(self, seen: Iterable[str], read: set[str]) -> None:
        """Report the columns the mapping reads that the input lacks, and the input's columns it does not read."""
        seen = list(seen)
        self.result.absent_columns = self.mapping.absent(seen)
        self.result.unmapped_columns = [c for c in seen if c not in read
                                        and not any(r.startswith(c + ".") for r in read)]


def ingest_batch(lake: Lake, mapping: Mapping, fill: Callable[[Batch], bool], *, source_name: str, fingerprint: str,
                 source_instance_id: str | None = None, read: Callable[[Batch], None] | None = None) -> IngestResult:
    """One input as one batch, atomically: `fill` stages its rows (in `Batch.stage`, as `stage_select` makes them;
    False when there are none), then good rows are committed as versions and bad ones quarantined. `read`, if
    given, runs before, outside the store's transaction: a long job elsewhere does not hold the store meanwhile."""
    started = time.perf_counter()
    mapping = mapping.on(lake.schema)
    entity = mapping.target
    instance = checked_instance(source_instance_id or mapping.source_instance_id)
    result = IngestResult(entity.name, source_name)
    full_fingerprint = f"{fingerprint}:{entity.name}:{instance}:{mapping.model_dump_json()}"
    previous = lake.scalar(
        "SELECT batch_id FROM batches WHERE fingerprint = ? AND status = 'committed'", [full_fingerprint]
    )
    if previous is not None:
        result.already_ingested_as = int(previous)
        return result

    with opened_batch(lake) as batch_id:
        batch = Batch(lake, mapping, batch_id, instance, now(), result)
        result.batch_id = batch_id
        if read is not None:
            read(batch)
        try:
            with lake.transaction():
                if fill(batch):
                    _commit_stage(lake, mapping, batch.stage, batch_id, instance, batch.started_at, result)
                lake.execute(
                    "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, 'committed', ?, ?, ?, ?, ?, ?)",
                    [batch_id, entity.name, mapping.source_type, instance, source_name, full_fingerprint,
                     result.rows_read, result.loaded, result.unchanged, result.quarantined, batch.started_at, now()],
                )
        finally:
            lake.execute(f"DROP TABLE IF EXISTS {batch.stage}")
    result.seconds = time.perf_counter() - started
    return result


def stage_select(mapping: Mapping, columns: list[str], instance: str, strict: bool) -> str:
    """The compiled mapping over `chunk` plus the source key and the record hash of every row."""
    return keyed_select(mapping, instance, f"({ChunkCompiler(mapping, columns, instance, strict).select_sql()})")


def keyed_select(mapping: Mapping, instance: str, mapped: str) -> str:
    """Rows a mapping made (`mapped`, a relation), with their source key and record hash."""
    entity = mapping.target
    suffix = literal(f"@{instance}.{mapping.source_type}")
    hashed = ", ".join(ident(c.name) for c in entity.mappable_columns)
    # DuckDB's hash() is several times cheaper than md5 over JSON; if an engine upgrade changes it, an
    # unchanged record sent again is stored once more as an identical version, which no view can tell apart.
    return f"SELECT *, source_id || {suffix} AS source_key, hash({hashed})::VARCHAR AS record_hash FROM {mapped}"


def _commit_stage(
    lake: Lake, mapping: Mapping, stage: str, batch_id: int, instance: str, at: object, result: IngestResult
) -> None:
    entity = mapping.target
    for code, n in lake.execute(
        f"SELECT split_part(_reason, ':', 1), count(*) FROM {stage} WHERE _reason IS NOT NULL GROUP BY 1"
    ).fetchall():
        result.reasons[code] = result.reasons.get(code, 0) + n
        result.quarantined += n
    lake.execute(
        f"INSERT INTO quarantine SELECT ?, ?, source_row, split_part(_reason, ':', 1), _reason, _raw, ? "
        f"FROM {stage} WHERE _reason IS NOT NULL",
        [batch_id, entity.name, at],
    )
    target = [c.name for c in entity.all_columns]
    values = {
        "source_instance_id": literal(instance),
        "source_type": literal(mapping.source_type),
        "batch_id": str(batch_id),
        "ingested_at": "?::TIMESTAMPTZ",
        "is_deleted": "coalesce(s.is_deleted, FALSE)",
    }
    select = ", ".join(values.get(c, f"s.{ident(c)}") for c in target)
    if entity.immutable:
        dedup, seen = "PARTITION BY source_key", f"SELECT source_key FROM {ident(entity.name)}"
        match = "e.source_key = s.source_key"
    else:
        dedup = "PARTITION BY source_key, record_hash"
        latest = latest_view_sql(entity, keys=f"SELECT source_key FROM {stage}")
        seen = f"SELECT source_key, record_hash FROM ({latest})"
        match = "e.source_key = s.source_key AND e.record_hash = s.record_hash"
    good = int(lake.execute(f"SELECT count(*) FROM {stage} WHERE _reason IS NULL").fetchone()[0])
    # A key's only version in this batch is skipped when it equals the key's latest version; a key with several
    # versions in the batch keeps them all, so the batch's last word wins as it would have in the source.
    inserted = lake.execute(
        f"INSERT INTO {ident(entity.name)} ({', '.join(ident(c) for c in target)}) "
        f"SELECT {select} FROM (SELECT *, count(*) OVER (PARTITION BY source_key) AS _versions FROM ("
        f"SELECT * FROM {stage} WHERE _reason IS NULL "
        f"QUALIFY row_number() OVER ({dedup} ORDER BY source_row DESC) = 1)) AS s "
        f"WHERE NOT (s._versions = 1 AND EXISTS (SELECT 1 FROM ({seen}) AS e WHERE {match}))",
        [at],
    ).fetchone()
    result.loaded = int(inserted[0]) if inserted else 0
    result.unchanged = good - result.loaded
