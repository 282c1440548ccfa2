"""Files read and mapped on Spark: the input is split over the executors, mapped by the mapping's Spark SQL, and
the mapped rows written as Parquet for the lake to commit as one batch. Rows keep their numbers in the file, and
rows that cannot be split into fields, or hold bytes that are not UTF-8, come back whole with their reason."""

from __future__ import annotations

import csv
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from accord.engines.spark.mapping import mapping_sql
from accord.ingest.mapping import Mapping
from accord.sources.base import ROW_COLUMN, MalformedRow
from accord.sources.files import (
    BOM,
    FileReader,
    jsonl_record,
    shown,
    undecodable,
)
from accord.sources.joined import REPEATED_HEADER, written_forms
from accord.sources.transcode import UTF8

CORRUPT = "_corrupt_record"
LATIN_1 = "ISO-8859-1"


@dataclass
class MappedFile:
    """A file mapped on Spark: the mapped rows as Parquet, and what the lake reports and quarantines besides."""

    folder: Path
    columns: list[str]
    """The input's columns, named as the mapping reads them."""
    read: set[str]
    """The columns the mapping (with the input's custom fields) reads."""
    rows: int
    malformed: list[MalformedRow] = field(default_factory=list)


@dataclass
class RawFrame:
    """A file's rows as text columns plus their numbers, and the rows that could not be read."""

    frame: Any
    malformed: list[MalformedRow]
    strict: bool
    """Does every row hold the file's full column set (CSV, Parquet), or only its own (JSONL)?"""


def map_file(spark: Any, reader: FileReader, mapping: Mapping, instance: str, folder: Path) -> MappedFile:
    """Read `reader`'s file on Spark, map it with `mapping`, write the mapped rows (as `ChunkCompiler` makes them)
    to `folder` as Parquet. A CSV file in another encoding, or with a separator line, is read from its UTF-8
    copy of its records beside `folder`, and a compressed file from its plain copy there (the executors reach the
    staging folder, not the driver's temporary one)."""
    if reader.encoding not in UTF8 or reader.path != reader.named or reader.separator_line:
        reader = FileReader(reader.utf8_copy(folder.parent / f"utf8-{reader.path.name}"),
                            lines_before=reader.lines_before_records)
    raw = READERS[reader.format](spark, reader)
    columns = [c for c in raw.frame.columns if c != ROW_COLUMN]
    used = mapping.with_custom(columns)
    renames = used.renames(columns)
    named = [renames.get(c, c) for c in columns]
    raw.frame.toDF(*named, ROW_COLUMN).createOrReplaceTempView("chunk")
    spark.sql(mapping_sql(used, named, instance, raw.strict)).write.mode("overwrite").parquet(str(folder))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))
    return MappedFile(folder, named, set(used.source_columns), rows, raw.malformed)


def _csv(spark: Any, reader: FileReader) -> RawFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    header = reader.csv_header()
    # Columns by position: the header's names may hold dots or spaces, which Spark's reader would misread.
    schema = StructType([StructField(f"_c{i}", StringType()) for i in range(len(header))]
                        + [StructField(CORRUPT, StringType())])
    # multiLine: a quoted value may hold line breaks (exports' descriptions do); each file is then one split.
    # Read as Latin-1, one character per byte, so that a row's bytes that are not UTF-8 are kept, not replaced.
    frame = (spark.read.schema(schema)
             .options(header=True, multiLine=True, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT,
                      escape='"', encoding=LATIN_1, sep=reader.delimiter)
             .csv(str(reader.path)))
    # One task reads the file; once numbered, its rows are spread over the executors to be mapped.
    frame = _numbered(frame)
    if reader.footer:  # a report's footer ends the file: its records are the last ones Spark numbered
        frame = frame.where(F.col(ROW_COLUMN) <= frame.count() - reader.footer.records)
    frame = frame.repartition(int(spark.conf.get("spark.sql.shuffle.partitions"))).persist()
    raw = [F.encode(F.coalesce(F.col(f"_c{i}"), F.lit("")), LATIN_1) for i in range(len(header))]
    undecodable = F.array_compact(F.array(*[F.when(~F.is_valid_utf8(b), F.lit(n)) for b, n in zip(raw, header)]))
    frame = frame.withColumn("_undecodable", undecodable)
    good = F.col(CORRUPT).isNull() & (F.size("_undecodable") == 0)
    runaways = _runaways(frame, reader, len(header))
    if runaways:
        good &= ~F.col(ROW_COLUMN).isin(list(runaways))
    # A header cell as Spark reads it in this file's values: its UTF-8 bytes as Latin-1.
    forms = [[text.encode().decode(LATIN_1) for text in texts] for texts in written_forms(header)]
    again = reduce(operator.and_, [F.coalesce(F.col(f"_c{i}"), F.lit("")).isin(*texts)
                                   for i, texts in enumerate(forms)])
    frame = frame.withColumn("_header_again", F.coalesce(again, F.lit(False)))
    good &= ~F.col("_header_again")
    bad = frame.where(~good).select(CORRUPT, "_undecodable", "_header_again", ROW_COLUMN,
                                    *[f"_c{i}" for i in range(len(header))])
    malformed = [_bad_csv_row(r, header, reader.delimiter, runaways) for r in bad.collect()]
    # A CSV field is text, empty or not (Spark reads an empty one as null; the lake's reader as "").
    texts = [F.decode(b, "UTF-8").alias(n) for b, n in zip(raw, header)]
    return RawFrame(frame.where(good).select(*texts, ROW_COLUMN), malformed, strict=True)


def _runaways(frame: Any, reader: FileReader, columns: int) -> dict[int, str]:
    """The rows whose quoted value ran on over the lines after it (`accord.sources.quotes`), by number: the file
    is read strictly on the driver only when some value holds a line break."""
    from pyspark.sql import functions as F

    broken = reduce(operator.or_, [F.col(f"_c{i}").rlike("[\r\n]") for i in range(columns)]
                    + [F.col(CORRUPT).rlike("[\r\n][^\r\n]")])  # a line break inside, not only the one ending it
    candidates = {r[ROW_COLUMN] for r in frame.where(broken).select(ROW_COLUMN).collect()}
    return {n: why for n, why in reader.runaways.items() if n in candidates} if candidates else {}


def _bad_csv_row(row: Any, header: list[str], delimiter: str, runaways: dict[int, str]) -> MalformedRow:
    """A row Spark could not split into the header's fields, whose quote ran away, or holding bytes that are not
    UTF-8, as the lake's reader quarantines it: its bytes shown escaped."""
    number = row[ROW_COLUMN]
    if row["_header_again"]:
        return MalformedRow(number, shown([(row[f"_c{i}"] or "").encode(LATIN_1) for i in range(len(header))]),
                            REPEATED_HEADER)
    if number in runaways:
        values = ([row[CORRUPT].rstrip("\r\n")] if row[CORRUPT] is not None
                  else [row[f"_c{i}"] or "" for i in range(len(header))])
        return MalformedRow(number, shown([v.encode(LATIN_1) for v in values]), runaways[number])
    if row[CORRUPT] is not None:
        data = row[CORRUPT].rstrip("\r\n").encode(LATIN_1)
        fields = next(csv.reader([data.decode("utf-8", "surrogateescape")], delimiter=delimiter), [])
        return MalformedRow(number, shown([data]), f"malformed_row: expected {len(header)} fields, found {len(fields)}")
    values = [(row[f"_c{i}"] or "").encode(LATIN_1) for i in range(len(header))]
    return MalformedRow(number, shown(values), undecodable(list(row["_undecodable"])))


def _parquet(spark: Any, reader: FileReader) -> RawFrame:
    reader.parquet_file()
    frame = spark.read.parquet(str(reader.path))
    return RawFrame(_numbered(frame), [], strict=True)


def _jsonl(spark: Any, reader: FileReader) -> RawFrame:
    """Each line parsed by the rule the lake's own reader uses; its keys (dotted for nested objects) become
    columns, as many as the file's records name."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import MapType, StringType, StructField, StructType

    parsed_type = StructType([StructField("record", MapType(StringType(), StringType())),
                              StructField("error", StringType())])

    @F.udf(returnType=parsed_type, useArrow=False)
    def parse(line: bytes) -> tuple[dict[str, str | None] | None, str | None]:
        try:
            return jsonl_record(line), None
        except ValueError as err:
            return None, str(err)

    # Spark's text reader keeps a line's bytes as they are: cast to binary, they reach the parser unchanged.
    lines = _numbered(spark.read.text(str(reader.path))).withColumn("value", F.col("value").cast("binary"))
    first = F.col(ROW_COLUMN) == 1
    lines = lines.withColumn("value", F.when(first & F.startswith("value", F.lit(BOM)), F.substring("value", 4, 1 << 30))
                             .otherwise(F.col("value")))
    lines = lines.where(F.length(F.trim(F.col("value"))) > 0)
    frame = lines.select(ROW_COLUMN, "value", parse("value").alias("parsed")).persist()
    bad = frame.where(F.col("parsed.error").isNotNull()).select(ROW_COLUMN, "value", "parsed.error").collect()
    malformed = [MalformedRow(r[ROW_COLUMN], shown([bytes(r["value"])]), f"malformed_row: {r['error']}") for r in bad]
    good = frame.where(F.col("parsed.error").isNull())
    first_seen = (good.select(F.explode(F.map_keys("parsed.record")).alias("key"), ROW_COLUMN)
                  .groupBy("key").agg(F.min(ROW_COLUMN).alias("at")).orderBy("at", "key").collect())
    keys = reader.one_name_each([r["key"] for r in first_seen])
    return RawFrame(good.select(*[F.col("parsed.record").getItem(k) for k in keys], ROW_COLUMN).toDF(*keys, ROW_COLUMN),
                    malformed, strict=False)


def _numbered(frame: Any) -> Any:
    """`frame`, as read, with each row's 1-based number in the file (`ROW_COLUMN`), counted across the file's
    splits in the order of their bytes, without moving rows."""
    from pyspark.sql import functions as F

    # Kept: the count below and everything after it read the file once between them.
    tagged = (frame.withColumn("_block", F.col("_metadata.file_block_start"))
              .withColumn("_id", F.monotonically_increasing_id())).persist()
    blocks = tagged.groupBy("_block").agg(F.count(F.lit(1)).alias("rows"), F.min("_id").alias("first")).collect()
    # A split's rows have consecutive ids (a task reads its splits one after the other): a row's number is its id
    # shifted so that its split starts after the rows of the splits before it in the file.
    shifts, before = [], 0
    for block in sorted(blocks, key=lambda b: b["_block"]):
        shifts += [F.lit(block["_block"]), F.lit(before - block["first"] + 1)]
        before += block["rows"]
    number = F.col("_id") + F.create_map(*shifts)[F.col("_block")] if shifts else F.lit(None)
    return tagged.withColumn(ROW_COLUMN, number.cast("long")).drop("_block", "_id")


READERS: dict[str, Callable[[Any, FileReader], RawFrame]] = {"csv": _csv, "parquet": _parquet, "jsonl": _jsonl}
