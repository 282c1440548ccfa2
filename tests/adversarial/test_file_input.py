"""Files as careless exports and attackers make them, read on every engine: every good row loads, every bad one is
quarantined with its reason and raw form, and a file that cannot be read at all is one clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.ingest.mapping import MappingError
from accord.lake.store import Lake
from accord.sources.files import FileFormatError, sniff_delimiter
from tests.conftest import ingest, mapping

PEOPLE = mapping("person", {"source_id": {"from": "Id"}, "email": {"from": "Email", "optional": True},
                            "source_updated_at": {"from": "LastModifiedDate", "optional": True}})


def csv_bytes(rows: int, bad_at: int | None = None) -> bytes:
    lines = [b"Id,Email,LastModifiedDate"]
    for i in range(1, rows + 1):
        email = b"p\xff\xfe@x.io" if i == bad_at else f"p{i}@x.io".encode()
        lines.append(f"{i},".encode() + email + b",2026-01-01T00:00:00Z")
    return b"\n".join(lines) + b"\n"


def test_one_invalid_utf8_byte_quarantines_its_row_only(lake, tmp_path: Path, engine) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(1762, bad_at=1501))
    result = ingest(lake, path, PEOPLE, engine)
    assert (result.loaded, result.quarantined) == (1761, 1)
    row = lake.query("SELECT source_row, reason_code AS code, reason, raw_record AS raw FROM quarantine")[0]
    assert row["source_row"] == 1501 and row["code"] == "invalid_utf8" and "Email" in row["reason"]
    assert "\\xff\\xfe" in row["raw"], "the raw bytes are kept, escaped"
    assert lake.scalar("SELECT count(*) FROM person WHERE source_row = 1502") == 1, "row numbers stay true"


@pytest.mark.parametrize("block_bytes", [32 << 20, 4096])
def test_a_row_both_malformed_and_not_utf8_is_quarantined_and_the_rest_load(lake, tmp_path: Path, monkeypatch,
                                                                             block_bytes: int) -> None:
    """Arrow cannot pass such a row to its invalid-row handler; the rows after it, and before it, all still count."""
    monkeypatch.setattr("accord.sources.files.CSV_BLOCK_BYTES", block_bytes)
    lines = csv_bytes(600).splitlines()
    lines.insert(401, b"x" * 5000 + b"\x80,too,many,fields")
    lines.insert(200, b"short")
    path = tmp_path / "people.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = ingest(lake, path, PEOPLE)
    assert (result.rows_read, result.loaded, result.quarantined) == (602, 600, 2)
    rows = lake.query("SELECT source_row, reason_code AS code, raw_record AS raw FROM quarantine ORDER BY 1")
    assert [(r["source_row"], r["code"]) for r in rows] == [(200, "malformed_row"), (402, "malformed_row")]
    assert "\\x80" in rows[1]["raw"]
    numbers = [r["source_row"] for r in lake.query("SELECT source_row FROM person ORDER BY 1")]
    assert numbers == sorted(set(range(1, 603)) - {200, 402}), "each record counted once, numbered as it stands"


def test_arrow_complaining_about_such_a_row_reaches_no_one(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(b"Id,Email\n1,a@x.io\n\x80,too,many\n")
    script = f"from accord.sources.files import FileReader; list(FileReader(__import__('pathlib').Path({str(path)!r})).chunks())"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stderr == ""


@pytest.mark.parametrize(("header", "says"), [
    (b"Id,Soci\xe9t\xe9", r'not UTF-8 \(column "Soci\\xe9t\\xe9"\)'),
    (b'Id,"E\x00mail"', r'column name "E\\0mail" holds a NUL'),
])
def test_a_header_that_cannot_name_columns_is_refused_naming_the_column(lake, tmp_path: Path, header: bytes,
                                                                        says: str, engine) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(header + b"\n1,ACME\n")
    with pytest.raises(FileFormatError, match=says):
        ingest(lake, path, PEOPLE, engine)


def test_a_jsonl_field_name_holding_nul_quarantines_its_line(lake, tmp_path: Path, engine) -> None:
    jsonl = tmp_path / "people.jsonl"
    jsonl.write_text('{"Id": "1"}\n{"Id": "2", "x": {"0\\u0000": 1}}\n{"Id": "3"}\n')
    result = ingest(lake, jsonl, PEOPLE, engine)
    assert (result.loaded, result.quarantined) == (2, 1)
    assert 'the field name "x.0\\0" holds a NUL character' in lake.scalar("SELECT reason FROM quarantine")


def test_invalid_utf8_in_jsonl_quarantines_its_line(lake, tmp_path: Path, engine) -> None:
    path = tmp_path / "people.jsonl"
    path.write_bytes(b'{"Id": "1", "Email": "a@x.io"}\n{"Id": "2", "Email": "b\xff@x.io"}\n{"Id": "3"}\n')
    result = ingest(lake, path, PEOPLE, engine)
    assert (result.loaded, result.quarantined) == (2, 1)
    reason, raw = lake.execute("SELECT reason, raw_record FROM quarantine").fetchone()
    assert "invalid UTF-8" in reason and "b\\xff@x.io" in raw, "the line's bytes are kept, escaped"


def test_a_name_the_header_gives_twice_is_told_apart_by_its_place(lake, tmp_path: Path, engine) -> None:
    """A report shows two fields under one label (two "Created Date" columns): a mapping reading that name cannot
    be guessed for, and is refused naming both; one that reads neither, or names one by its place, loads."""
    path = tmp_path / "people.csv"
    path.write_text("Id,Email,Title,Email,Title\n1,a@x.io,CEO,b@x.io,Boss\nId,Email,Title,Email,Title\n")
    with pytest.raises(MappingError, match=r"field 'email' reads column 'Email', which the input has 2 times: "
                                           r"'Email \(column 2\)', 'Email \(column 4\)'; map the one meant"):
        ingest(lake, path, PEOPLE, engine)
    assert lake.scalar("SELECT count(*) FROM batches") == 0, "nothing loaded"
    ids = mapping("person", {"source_id": {"from": "Id"}})
    result = ingest(lake, path, ids, engine)
    assert (result.loaded, result.reasons) == (1, {"repeated_header": 1}), "the header, joined again, is known"
    assert result.unmapped_columns == ["Email (column 2)", "Title (column 3)", "Email (column 4)", "Title (column 5)"]
    second = mapping("person", {"source_id": {"from": "Id"}, "email": {"from": "Email (column 4)"}})
    assert ingest(lake, path, second, engine).loaded == 1
    assert lake.scalar("SELECT email FROM person_current") == "b@x.io"



def test_a_column_written_two_ways_is_refused_naming_both(lake, tmp_path: Path, engine) -> None:
    """`EMAIL` and `E-mail` both read as the mapping's `Email`, and `Email` and `EMAIL` are one name to SQL: which
    one is meant is a guess, so the file is refused naming both; naming one by its place loads it."""
    path = tmp_path / "people.csv"
    path.write_text("Id,EMAIL,E-mail\n1,a@x.io,b@x.io\n")
    with pytest.raises(MappingError, match=r"the mapping reads column 'Email', which the input has as 'EMAIL' and "
                                           r"'E-mail'; map the one meant"):
        ingest(lake, path, PEOPLE, engine)
    path.write_text("Id,EMAIL,Email\n1,a@x.io,b@x.io\n")
    with pytest.raises(MappingError, match=r"field 'email' reads column 'Email', which the input has 2 times: "
                                           r"'EMAIL \(column 2\)', 'Email \(column 3\)'; map the one meant"):
        ingest(lake, path, PEOPLE, engine)
    assert lake.scalar("SELECT count(*) FROM batches") == 0, "nothing loaded"
    chosen = mapping("person", {"source_id": {"from": "Id"}, "email": {"from": "Email (column 3)"}})
    assert ingest(lake, path, chosen, engine).loaded == 1
    assert lake.scalar("SELECT email FROM person_current") == "b@x.io"



@pytest.mark.parametrize("name", ["people.jsonl", "people.json", "people.parquet"])
def test_keys_that_differ_only_in_case_are_refused_in_one_line(lake, tmp_path: Path, engine, name: str) -> None:
    """SQL reads `Email` and `EMAIL` as one name: a file naming both cannot say which is meant (nor be bound)."""
    path = tmp_path / name
    records = [{"Id": "1", "Email": "a@x.io"}, {"Id": "2", "EMAIL": "b@x.io"}]
    if name.endswith(".parquet"):
        pq.write_table(pa.table({"Id": ["1"], "Email": ["a@x.io"], "EMAIL": ["b@x.io"]}), path)
    else:
        lines = [json.dumps(r) for r in records]
        path.write_text("\n".join(lines) if name.endswith(".jsonl") else f"[{', '.join(lines)}]")
    with pytest.raises(FileFormatError, match=r"the column names 'Email' and 'EMAIL' differ only in case, which SQL "
                                              r"reads as one name; rename one"):
        ingest(lake, path, PEOPLE, engine)
    assert lake.scalar("SELECT count(*) FROM batches") == 0, "nothing loaded"

@pytest.mark.parametrize(("name", "sep"), [("people.csv", ";"), ("people.txt", "\t"), ("people.csv", "|")])
def test_a_file_separated_as_a_spreadsheet_saved_it_loads(lake, tmp_path: Path, engine, name: str, sep: str) -> None:
    """Where the comma is the decimal mark, spreadsheets save CSV with `;`; their text export uses tabs."""
    path = tmp_path / name
    rows = [["Id", "Email", "LastModifiedDate"], ['"1,5"', '"ann@x.io"', "2026-01-01T00:00:00Z"],
            ["2", "bo@x.io"], ["3", "cy@x.io", ""]]
    path.write_bytes("\ufeff".encode() + "".join(sep.join(r) + "\n" for r in rows).encode())
    result = ingest(lake, path, PEOPLE, engine)
    assert (result.rows_read, result.loaded, result.quarantined) == (3, 2, 1)
    assert lake.query("SELECT source_id, email FROM person ORDER BY 1") == [
        {"source_id": "1,5", "email": "ann@x.io"}, {"source_id": "3", "email": "cy@x.io"}]
    (bad,) = lake.quarantine()
    assert bad["source_row"] == 2 and bad["reason"] == "malformed_row: expected 3 fields, found 2"


@pytest.mark.parametrize(("start", "delimiter"), [
    ("Id,Email\n1,a@x.io\n", ","),
    ("Id;Email;Revenue (EUR, annual)\n1;a@x.io;1,5\n2;b@x.io;2,5\n", ";"),  # commas in a semicolon file
    ("Id,a;b;c,Email\n1,x,y@z.io\n", ","),  # a column named with semicolons in a comma file
    ('"Id";"Note"\n"1";"a, b, c, d"\n', ";"),
    ("Id\tEmail\n1\ta@x.io\n", "\t"),
    ("Id|Email\n", "|"),
    ("Id\n1\n", ","),  # one column: any delimiter reads it
])
def test_the_delimiter_is_the_one_the_first_rows_agree_on(start: str, delimiter: str) -> None:
    assert sniff_delimiter(start) == delimiter


def test_a_utf16_file_is_refused_saying_how_to_save_it(lake, tmp_path: Path, engine) -> None:
    path = tmp_path / "people.txt"
    path.write_bytes("Id\tEmail\n1\ta@x.io\n".encode("utf-16"))
    with pytest.raises(FileFormatError, match="is UTF-16 text .*save it as UTF-8"):
        ingest(lake, path, PEOPLE, engine)


def test_a_jsonl_file_with_a_bom_loads_its_first_record(lake, tmp_path: Path, engine) -> None:
    path = tmp_path / "people.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"Id": "1", "Email": "a@x.io"}\n{"Id": "2"}\n')
    result = ingest(lake, path, PEOPLE, engine)
    assert (result.loaded, result.quarantined) == (2, 0)


def test_a_jsonl_line_nested_too_deeply_is_quarantined(lake, tmp_path: Path, engine) -> None:
    path = tmp_path / "people.jsonl"
    deep = '{"Id": "2", "x": ' + '{"a": ' * 990 + "1" + "}" * 990 + "}"
    surrogate = '{"Id": "3", "Email": "\\ud800@x.io"}'
    path.write_text("\n".join(['{"Id": "1"}', deep, surrogate, '{"Id": "4"}']) + "\n")
    result = ingest(lake, path, PEOPLE, engine)
    assert (result.loaded, result.quarantined) == (2, 2)
    reasons = [r["reason"] for r in lake.query("SELECT reason FROM quarantine ORDER BY source_row")]
    assert "nests" in reasons[0] and "Unicode" in reasons[1]


@pytest.mark.parametrize("stamp", ["99999-01-01", "9999-12-31T23:59:59-14:00", "1850-06-01T00:00:00Z"])
def test_instants_outside_the_accepted_years_are_quarantined(lake, tmp_path: Path, stamp: str, engine) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text(json.dumps({"Id": "1", "LastModifiedDate": stamp}) + "\n" + json.dumps({"Id": "2"}) + "\n")
    result = ingest(lake, path, PEOPLE, engine)
    assert (result.loaded, result.quarantined) == (1, 1), lake.query("SELECT reason FROM quarantine")
    assert lake.scalar("SELECT reason_code FROM quarantine") in ("out_of_range", "unparsable_date")


VALUES_FOR_FILES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                                lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner,
                                                                                            max_size=2), max_leaves=8)
CELLS = st.one_of(
    st.text(max_size=12), st.sampled_from(["", "\x00", "a\x00b", "\ufeff", "é", "2026-02-30", "99999-01-01",
                                           "x" * 200_000, '"', 'a,"b', "\r", "line\nbreak"]),
    st.binary(max_size=6).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(st.sampled_from(["Id", "Email", "LastModifiedDate", "Other", "émoji 🎉"]), min_size=1, max_size=4),
       rows=st.lists(st.lists(CELLS, min_size=0, max_size=5), max_size=6), bom=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16"]))
def test_fuzzed_csv_files_load_quarantine_or_refuse(tmp_path_factory, header, rows, bom, encoding) -> None:
    """Every data record is loaded or quarantined (counted once), or the whole file is refused with a clear error."""
    folder = tmp_path_factory.mktemp("csv")
    text = "\n".join(",".join(_quoted(c) for c in row) for row in [header, *rows]) + "\n"
    path = folder / "people.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding, "replace"))
    with Lake(folder / "lake.duckdb") as lake:
        try:
            result = ingest(lake, path, PEOPLE)
        except (FileFormatError, MappingError) as err:
            assert str(err) and "\n" not in str(err), "one clear line"
            return
        assert result.rows_read == result.loaded + result.unchanged + result.quarantined
        assert lake.scalar("SELECT count(*) FROM quarantine") == result.quarantined


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.one_of(st.dictionaries(st.sampled_from(["Id", "Email", "x"]), VALUES_FOR_FILES, max_size=3)
                                .map(json.dumps), st.text(max_size=20), st.just('{"Id": "\\ud800"}')), max_size=6),
       bom=st.booleans())
def test_fuzzed_jsonl_files_load_or_quarantine(tmp_path_factory, lines, bom) -> None:
    folder = tmp_path_factory.mktemp("jsonl")
    path = folder / "people.jsonl"
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    records = sum(1 for line in data.split(b"\n") if line.strip())
    with Lake(folder / "lake.duckdb") as lake:
        result = ingest(lake, path, PEOPLE)
        assert result.rows_read == result.loaded + result.unchanged + result.quarantined
        assert result.rows_read == records


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


def test_parquet_files_with_a_duplicated_column_or_no_parquet_at_all_are_refused(lake, tmp_path: Path,
                                                                                 engine) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    twice = tmp_path / "twice.parquet"
    pq.write_table(pa.table([pa.array(["1"]), pa.array(["a@x.io"]), pa.array(["b@x.io"])],
                            names=["Id", "Email", "Email"]), twice)
    with pytest.raises(FileFormatError, match="'Email' more than once"):
        ingest(lake, twice, PEOPLE, engine)
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(FileFormatError, match="not a readable Parquet file"):
        ingest(lake, fake, PEOPLE, engine)
    odd = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"Id": ["1", "2", "3"], "Email": ["a@x.io", "b\x00@x.io", "é" * 100_000],
                             "nested": [{"a": 1}, None, {"a": 2}]}), odd)
    result = ingest(lake, odd, PEOPLE, engine)
    assert result.rows_read == result.loaded + result.quarantined == 3
