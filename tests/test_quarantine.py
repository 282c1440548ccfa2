"""Every quarantine reason, on every engine: the bad record is kept with its reason and raw form, the rest of the batch
loads."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ingest, mapping, write_csv


def person_mapping():
    return mapping(
        "person",
        {
            "source_id": "Id",
            "email": {"from": "Email", "transforms": ["trim", "lower"]},
            "lead_score": "Score",
            "converted_date": "Converted",
            "created_at": "Created",
            "is_converted": "IsConverted",
        },
    )


HEADER = ["Id", "Email", "Score", "Converted", "Created", "IsConverted"]
GOOD = ["1", "a@acme.com", "10", "2024-01-02", "2024-01-02T10:00:00Z", "false"]


def reasons_of(lake) -> dict[int, tuple[str, str]]:
    return {r["source_row"]: (r["reason_code"], r["reason"]) for r in lake.quarantine(limit=1000)}


def test_each_reason_is_recorded_and_good_rows_load(lake, tmp_path, engine) -> None:
    rows = [
        GOOD,
        ["", "b@acme.com", "1", "", "", ""],  # 2: no id
        ["3", "not-an-email", "1", "", "", ""],  # 3
        ["4", "c@acme.com", "ten", "", "", ""],  # 4
        ["5", "d@acme.com", "1", "2024-02-30", "", ""],  # 5
        ["6", "e@acme.com", "1", "", "yesterday", ""],  # 6
        ["7", "f@acme.com", "1", "", "", "maybe"],  # 7
        ["8", "g@acme.com", "2", "2024-03-01", "", "true"],
    ]
    result = ingest(lake, write_csv(tmp_path / "p.csv", HEADER, rows), person_mapping(), engine)
    assert (result.rows_read, result.loaded, result.quarantined) == (8, 2, 6)
    got = reasons_of(lake)
    assert got[2] == ("missing_required", "missing_required: source_id is empty")
    assert got[3] == ("bad_email", "bad_email: email 'not-an-email' is not an e-mail address")
    assert got[4] == ("wrong_type", "wrong_type: lead_score 'ten' is not a number")
    assert got[5] == ("unparsable_date", "unparsable_date: converted_date '2024-02-30' is not a date")
    assert got[6] == ("unparsable_date", "unparsable_date: created_at 'yesterday' is not a timestamp")
    assert got[7] == ("wrong_type", "wrong_type: is_converted 'maybe' is not true or false")
    assert sorted(r["source_id"] for r in lake.current("person")) == ["1", "8"]
    raw = json.loads(lake.quarantine(row=4)[0]["raw_record"])
    assert raw == dict(zip(HEADER, rows[3]))
    assert result.reasons == {"missing_required": 1, "bad_email": 1, "wrong_type": 2, "unparsable_date": 2}


def test_all_problems_of_a_row_are_listed(lake, tmp_path, engine) -> None:
    rows = [["1", "nope", "x", "2024-99-01", "", ""]]
    ingest(lake, write_csv(tmp_path / "p.csv", HEADER, rows), person_mapping(), engine)
    reason = lake.quarantine()[0]["reason"]
    assert "bad_email" in reason and "wrong_type" in reason and "unparsable_date" in reason


def test_integer_and_json_types(lake, tmp_path, engine) -> None:
    path = write_csv(tmp_path / "a.csv", ["Id", "Emp"], [["1", "12"], ["2", "12.0"], ["3", "12.5"], ["4", "lots"],
                                                         ["5", "1e30"], ["6", "-9223372036854775809"], ["7", "1e18"]])
    ingest(lake, path, mapping("account", {"source_id": "Id", "employees": "Emp"}), engine)
    assert {r["source_id"]: r["employees"] for r in lake.current("account")} == {"1": 12, "2": 12, "7": 10**18}
    assert {r["source_row"] for r in lake.quarantine()} == {3, 4, 5, 6}, "a whole number too large for 64 bits"
    events = write_csv(
        tmp_path / "e.csv", ["Id", "T", "P"], [["1", "2024-01-01T00:00:00Z", '{"a": 1}'], ["2", "2024-01-01T00:00:00Z", "{oops"]]
    )
    ingest(lake, events, mapping("event", {"source_id": "Id", "timestamp": "T", "event_type": {"constant": "x.y"}, "properties": "P"}), engine)
    assert lake.quarantine(reason="wrong_type", limit=10)[0]["reason"] == "wrong_type: properties '{oops' is not JSON"


def test_numbers_that_are_not_finite_are_quarantined_not_loaded(lake, tmp_path, engine) -> None:
    texts = ["NaN", "nan", "Infinity", "-inf", "1e309", "1.5e6", "-0"]
    path = write_csv(tmp_path / "a.csv", ["Id", "Revenue"], [[str(i), t] for i, t in enumerate(texts, start=1)])
    ingest(lake, path, mapping("account", {"source_id": "Id", "annual_revenue": "Revenue"}), engine)
    assert {r["source_id"]: r["annual_revenue"] for r in lake.current("account")} == {"6": 1.5e6, "7": 0.0}
    reasons = {r["source_row"]: r["reason"] for r in lake.quarantine(limit=10)}
    assert set(reasons) == {1, 2, 3, 4, 5}, "a number no field means, nor JSON nor XDM can hold"
    assert reasons[3] == "wrong_type: annual_revenue 'Infinity' is not a number"


def test_malformed_csv_lines_keep_their_row_numbers(lake, tmp_path, engine) -> None:
    path = tmp_path / "p.csv"
    path.write_text("Id,Email\n1,a@x.io\n2\n3,c@x.io\n4,d@x.io,extra\n5,e@x.io\n")
    result = ingest(lake, path, mapping("person", {"source_id": "Id", "email": "Email"}), engine)
    assert (result.loaded, result.quarantined) == (3, 2)
    bad = {r["source_row"]: r for r in lake.quarantine()}
    assert set(bad) == {2, 4}
    assert bad[2]["raw_record"] == "2" and bad[4]["raw_record"] == "4,d@x.io,extra"
    assert bad[4]["reason"] == "malformed_row: expected 2 fields, found 3"
    rows = {r["source_id"]: r["source_row"] for r in lake.current("person")}
    assert rows == {"1": 1, "3": 3, "5": 5}


def test_malformed_jsonl_lines(lake, tmp_path, engine) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "1", "traits": {"email": "a@x.io"}}\n{"id": 2,\n[1, 2]\n{"id": "4"}\n')
    result = ingest(lake, path, mapping("person", {"source_id": "id", "email": "traits.email"}), engine)
    assert (result.loaded, result.quarantined) == (2, 2)
    assert {r["source_row"] for r in lake.quarantine()} == {2, 3}
    assert {r["source_id"]: r["email"] for r in lake.current("person")} == {"1": "a@x.io", "4": None}


def test_parquet_with_native_types(lake, tmp_path, engine) -> None:
    table = pa.table({"Id": [1, 2], "Score": [1.5, None], "Seen": pa.array([1_700_000_000_000, 0], pa.timestamp("ms", "UTC"))})
    pq.write_table(table, tmp_path / "p.parquet")
    ingest(lake, tmp_path / "p.parquet", mapping("person", {"source_id": "Id", "lead_score": "Score", "created_at": "Seen"}), engine)
    rows = lake.current("person")
    assert [r["lead_score"] for r in rows] == [1.5, None]
    assert rows[0]["created_at"].year == 2023


def test_a_failing_batch_leaves_nothing_behind(lake, tmp_path, monkeypatch, engine) -> None:
    from accord.ingest import loader

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader, "_commit_stage", explode)
    path = write_csv(tmp_path / "p.csv", ["Id"], [["1"]])
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(lake, path, mapping("person", {"source_id": "Id"}), engine)
    assert lake.scalar("SELECT count(*) FROM person") == 0
    assert lake.scalar("SELECT count(*) FROM batches") == 0
    monkeypatch.undo()
    assert ingest(lake, path, mapping("person", {"source_id": "Id"}), engine).loaded == 1


def test_jsonl_integers_past_64_bits_load_exactly(lake, tmp_path, engine) -> None:
    """Ids exported as JSON numbers: two past 64 bits that differ in their last digit stay two records."""
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 12345678901234567890123, "score": 5}\n{"id": 12345678901234567890124, "score": 6}\n')
    ingest(lake, path, mapping("person", {"source_id": "id", "lead_score": "score"}), engine)
    assert {r["source_id"]: r["lead_score"] for r in lake.current("person")} == {
        "12345678901234567890123": 5, "12345678901234567890124": 6}


def test_a_file_wider_than_a_sheet_is_refused_and_a_line_that_wide_quarantined(lake, tmp_path) -> None:
    """A 2 MB CSV of 100,000 columns kept ingest busy for minutes (a duplicate check counted each name anew)."""
    from accord.sources.files import MAX_COLUMNS, FileFormatError, FileReader

    names = ["Id", "Email", *(f"c{i}" for i in range(MAX_COLUMNS - 1))]
    wide = write_csv(tmp_path / "wide.csv", names, [["1", "a@x.io", *["v"] * (MAX_COLUMNS - 1)]])
    with pytest.raises(FileFormatError) as refused:
        FileReader(wide).csv_header()
    assert str(refused.value) == (f"{wide}: the header names 16,385 columns, more than Accord reads (16,384, as many "
                                  "as an Excel sheet holds)")
    lines = tmp_path / "p.jsonl"
    lines.write_text(json.dumps({"id": "1", **{f"c{i}": 1 for i in range(MAX_COLUMNS)}}) + '\n{"id": "2"}\n')
    result = ingest(lake, lines, mapping("person", {"source_id": "id"}))
    assert (result.loaded, result.quarantined) == (1, 1)
    assert lake.quarantine()[0]["reason"] == ("malformed_row: the line holds 16,385 fields, more than Accord reads "
                                              "(16,384)")


def test_a_quote_left_open_quarantines_the_lines_it_took_in_instead_of_losing_them(lake, tmp_path, engine) -> None:
    path = tmp_path / "p.csv"
    lines = ["Id,Email,Title"] + [f"{i},p{i}@x.io,Director" for i in range(1, 51)]
    lines[4] = '4,p4@x.io,"Head of ""Growth'  # a hand-edited export: the quote never closes
    path.write_text("\n".join(lines) + "\n")
    result = ingest(lake, path, mapping("person", {"source_id": "Id", "email": "Email", "job_title": "Title"}), engine)
    assert (result.rows_read, result.loaded, result.quarantined) == (4, 3, 1)
    (bad,) = lake.quarantine()
    assert bad["source_row"] == 4 and bad["reason_code"] == "runaway_quote"
    assert bad["reason"].startswith("runaway_quote: the quoted value opened on line 5 is never closed: it runs to the "
                                    "end of the file, taking in lines 6 to 51")
    assert "50,p50@x.io,Director" in bad["raw_record"], "the records it took in are kept"


def test_a_quote_closed_too_late_quarantines_the_records_between(lake, tmp_path, engine) -> None:
    path = tmp_path / "p.csv"
    path.write_text('Id,Email,Title\n1,a@x.io,"CEO\n2,b@x.io,CTO\n3,c@x.io,"VP"\n4,d@x.io,"Head\nof Sales"\n5,e@x.io,VP\n')
    result = ingest(lake, path, mapping("person", {"source_id": "Id", "email": "Email", "job_title": "Title"}), engine)
    assert (result.loaded, result.quarantined) == (2, 1)
    (bad,) = lake.quarantine()
    assert bad["source_row"] == 1
    assert "is not closed where a value ends (line 4:" in bad["reason"] and "taking in lines 3 to 4" in bad["reason"]
    titles = {r["source_id"]: r["job_title"] for r in lake.current("person")}
    assert titles == {"4": "Head\nof Sales", "5": "VP"}, "a value that spans lines as CSV allows still loads"


def test_a_quote_left_open_after_a_line_arrow_cannot_read_is_found_too(lake, tmp_path, engine) -> None:
    path = tmp_path / "p.csv"  # line 3: too few fields and a byte that is not UTF-8, which Arrow cannot hand over
    path.write_bytes(b'Id,Email,Title\n1,a@x.io,CEO\n2\xff\n3,c@x.io,"VP\n4,d@x.io,CTO\n')
    result = ingest(lake, path, mapping("person", {"source_id": "Id", "email": "Email", "job_title": "Title"}), engine)
    assert (result.loaded, result.quarantined) == (1, 2)
    reasons = {r["source_row"]: r["reason_code"] for r in lake.quarantine()}
    assert reasons == {2: "malformed_row", 3: "runaway_quote"}


def test_exports_joined_into_one_file_quarantine_the_repeated_header_and_load_the_rest(lake, tmp_path, engine) -> None:
    path = tmp_path / "all.csv"  # `cat jan.csv feb.csv`: the second file's header (and byte-order mark) inside
    path.write_bytes(b"\xef\xbb\xbfId,Name\n1,Acme\n2,Beacon\n\xef\xbb\xbfId,Name\n3,Cobalt\nId,Name\n4,Delta\n")
    result = ingest(lake, path, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert (result.loaded, result.quarantined) == (4, 2)
    assert {r["source_row"]: r["reason_code"] for r in lake.quarantine()} == {3: "repeated_header", 5: "repeated_header"}
    assert sorted(r["name"] for r in lake.current("account")) == ["Acme", "Beacon", "Cobalt", "Delta"]


def test_a_csv_whose_lines_end_in_cr_alone_loads(lake, tmp_path, engine) -> None:
    path = tmp_path / "mac.csv"  # Excel for Mac's "CSV (Macintosh)": lines end in CR; here with semicolons too
    path.write_bytes(b'Id;Name\r1;"Acme\rEurope"\r2;Beacon\r')
    result = ingest(lake, path, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert (result.loaded, result.quarantined) == (2, 0)
    kept = "Acme\nEurope" if engine == "spark" else "Acme\rEurope"  # Spark's reader writes a line break as LF
    assert sorted(r["name"] for r in lake.current("account")) == [kept, "Beacon"]


def test_blank_header_cells_a_spreadsheet_saves_are_named_by_their_place(lake, tmp_path, engine) -> None:
    path = tmp_path / "sheet.csv"  # Excel saves the empty cells past the last named column (and a joined copy)
    path.write_text("Id,Name,,\n1,Acme,,\n2,Beacon,,note\nId,Name,,\n3,Cobalt,,\n")
    result = ingest(lake, path, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert (result.loaded, result.quarantined) == (3, 1)
    assert result.unmapped_columns == ["column_3", "column_4"]
    assert [r["reason_code"] for r in lake.quarantine()] == ["repeated_header"]


def test_a_json_array_of_objects_loads_element_by_element(lake, tmp_path, engine) -> None:
    path = tmp_path / "accounts.json"  # as an API or a tool exports records: pretty-printed, a byte-order mark
    path.write_text("\ufeff[\n  {\"Id\": \"1\", \"Name\": \"Acme\", \"Address\": {\"City\": \"Lyon\"}},\n  42,\n"
                    "  {\"Id\": \"3\", \"Name\": \"Beacon\"}\n]\n", encoding="utf-8")
    result = ingest(lake, path, mapping("account", {"source_id": "Id", "name": "Name", "city": "Address.City"}), engine)
    assert (result.loaded, result.quarantined) == (2, 1)
    assert [(r["source_row"], r["reason"]) for r in lake.quarantine()] == [(2, "malformed_row: an element must be a "
                                                                               "JSON object")]
    assert sorted((r["source_id"], r["city"]) for r in lake.current("account")) == [("1", "Lyon"), ("3", None)]


def test_a_json_array_broken_midway_keeps_the_rest_in_quarantine(lake, tmp_path, engine) -> None:
    path = tmp_path / "accounts.json"
    path.write_text('[{"Id": "1", "Name": "Acme"}, {"Id": "2", "Name": "Beacon"} {"Id": "3", "Name": "Cobalt"}]')
    result = ingest(lake, path, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert (result.loaded, result.quarantined) == (2, 1)
    (bad,) = lake.quarantine()
    assert bad["source_row"] == 3 and "a ',' or ']' was expected" in bad["reason"]
    assert '"Cobalt"' in bad["raw_record"]
    cut = tmp_path / "cut.json"
    cut.write_text('[{"Id": "4", "Name": "Delta"},\n')
    result = ingest(lake, cut, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert (result.loaded, result.quarantined) == (1, 1)
    assert any("ends before the array's closing ']'" in r["reason"] for r in lake.quarantine(limit=5))


def test_a_json_file_of_json_lines_loads_and_one_object_over_lines_is_refused(lake, tmp_path, engine) -> None:
    from accord.sources.files import FileFormatError, FileReader

    lines = tmp_path / "export.json"  # as BigQuery and many tools name JSON lines
    lines.write_text('{"Id": "1", "Name": "Acme"}\n{"Id": "2", "Name": "Beacon"}\n')
    assert ingest(lake, lines, mapping("account", {"source_id": "Id", "name": "Name"}), engine).loaded == 2
    wrapped = tmp_path / "response.json"
    wrapped.write_text('{\n  "records": [{"Id": "1"}]\n}\n')
    with pytest.raises(FileFormatError, match="one JSON object over several lines"):
        FileReader(wrapped)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dictionaries(st.text(min_size=1, max_size=5), st.one_of(
    st.text(max_size=12), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())), max_size=12),
    st.integers(min_value=1, max_value=9), st.sampled_from([None, 1]))
def test_a_json_array_reads_the_same_whatever_the_reads_cut(records, read_chars, indent) -> None:
    import json
    import tempfile
    from pathlib import Path
    from unittest import mock

    from accord.sources import json_array

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.json"
        path.write_text(json.dumps(records, indent=indent))
        with mock.patch.object(json_array, "READ_CHARS", read_chars):
            got = list(json_array.elements(path))
    assert got == list(enumerate(records, start=1))


def test_a_tab_separated_download_loads(lake, tmp_path, engine) -> None:
    path = tmp_path / "Accounts - Sheet1.tsv"  # as Google Sheets names its "Tab-separated values" download
    path.write_text("Id\tName\n1\tAcme, Inc.\n2\tBeacon\n")
    result = ingest(lake, path, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert result.loaded == 2
    assert sorted(r["name"] for r in lake.current("account")) == ["Acme, Inc.", "Beacon"]


@pytest.mark.parametrize("compress", ["gz", "bz2", "xz"])
def test_a_compressed_export_loads_as_the_file_it_holds(lake, tmp_path, engine, compress) -> None:
    import bz2
    import gzip
    import lzma

    opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compress]
    text = b'Id,Name\n1,Acme\n2,"Beacon\nLabs"\n3,"Cobalt\n4,Delta\n'  # a quote left open, found there too
    with opener(tmp_path / f"accounts.csv.{compress}", "wb") as f:
        f.write(text)
    result = ingest(lake, tmp_path / f"accounts.csv.{compress}", mapping("account", {"source_id": "Id", "name": "Name"}),
                    engine)
    assert (result.loaded, result.quarantined) == (2, 1)
    assert lake.quarantine()[0]["reason_code"] == "runaway_quote"
    (tmp_path / "accounts.csv").write_bytes(text)
    again = ingest(lake, tmp_path / "accounts.csv", mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert again.already_ingested_as == result.batch_id, "the same records, compressed or not"


def test_a_broken_compressed_file_is_refused_naming_it(tmp_path, monkeypatch) -> None:
    import gzip
    import shutil

    from accord.sources import compressed
    from accord.sources.files import FileFormatError, FileReader

    whole = gzip.compress(b"Id,Name\n" + b"1,Acme\n" * 10_000)
    (tmp_path / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "not.csv.gz").write_bytes(b"Id,Name\n1,Acme\n")
    with pytest.raises(FileFormatError, match=r"cut\.csv\.gz: not a readable \.gz file \(cut short\)"):
        FileReader(tmp_path / "cut.csv.gz")
    with pytest.raises(FileFormatError, match=r"not\.csv\.gz: not a readable \.gz file"):
        FileReader(tmp_path / "not.csv.gz")
    (tmp_path / "bomb.csv.gz").write_bytes(whole)  # as if the disk had no more room than it has free now
    monkeypatch.setattr(compressed, "SPARE", shutil.disk_usage(tmp_path).free)
    with pytest.raises(FileFormatError, match=r"bomb\.csv\.gz: decompressed, it would fill the disk of"):
        FileReader(tmp_path / "bomb.csv.gz")


def test_excels_separator_line_names_the_delimiter_and_is_no_record(lake, tmp_path, engine) -> None:
    path = tmp_path / "accounts.csv"  # `sep=;` above the header, as tools write a CSV for Excel to open
    path.write_text('sep=;\nId;Name;Revenue\n1;Acme;1,5\n2;"Beacon\n3;Cobalt;2\n4;Delta;0,5\n')
    result = ingest(lake, path, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert (result.loaded, result.quarantined) == (1, 1)
    (bad,) = lake.quarantine()
    assert bad["source_row"] == 2 and "opened on line 4" in bad["reason"] and "lines 5 to 6" in bad["reason"]


def test_a_zip_of_one_export_loads_and_one_of_several_is_refused_naming_them(lake, tmp_path, engine) -> None:
    import zipfile

    from accord.sources.files import FileFormatError, FileReader

    with zipfile.ZipFile(tmp_path / "hubspot-export.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/accounts.csv", "Id,Name\n1,Acme\n2,Beacon\n")
        archive.writestr("__MACOSX/export/._accounts.csv", "resource fork")
    result = ingest(lake, tmp_path / "hubspot-export.zip", mapping("account", {"source_id": "Id", "name": "Name"}),
                    engine)
    assert result.loaded == 2
    with zipfile.ZipFile(tmp_path / "weekly.zip", "w") as archive:
        archive.writestr("Account.csv", "Id\n1\n")
        archive.writestr("Contact.csv", "Id\n1\n")
    with pytest.raises(FileFormatError, match=r"weekly\.zip: a zip holding 2 files \(Account\.csv, Contact\.csv\)"):
        FileReader(tmp_path / "weekly.zip")


def test_ids_and_references_lose_the_blanks_pasted_around_them(lake, tmp_path, engine) -> None:
    accounts = write_csv(tmp_path / "a.csv", ["Id", "Name"], [["001A", "Acme"]])
    ingest(lake, accounts, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    again = write_csv(tmp_path / "b.csv", ["Id", "Name"], [["001A ", "Acme Corp"], ["\u00a0\u200b001B\t", "Beacon"],
                                                           ["  ", "Nobody"]])
    result = ingest(lake, again, mapping("account", {"source_id": "Id", "name": "Name"}), engine)
    assert (result.loaded, result.quarantined) == (2, 1)
    assert {r["source_id"]: r["name"] for r in lake.current("account")} == {"001A": "Acme Corp", "001B": "Beacon"}
    assert lake.quarantine()[0]["reason_code"] == "missing_required"
    people = write_csv(tmp_path / "p.csv", ["Id", "AccountId"], [["P1", " 001A "]])
    ingest(lake, people, mapping("person", {"source_id": "Id", "account_key": {"from": "AccountId",
                                                                               "transforms": ["source_key"]}}), engine)
    acme = next(r["source_key"] for r in lake.current("account") if r["source_id"] == "001A")
    assert [r["account_key"] for r in lake.current("person")] == [acme]


def test_a_record_from_an_api_that_is_not_unicode_text_is_quarantined_alone(lake) -> None:
    """JSON's `\\udXXX` escapes carry half a character (a lone surrogate) into a record an API source builds (Marketo's
    lead changes, the collector's own): that record is quarantined with why, and the rest of its batch loads."""
    from accord.ingest.records import ingest_records

    rows = [{"source_id": "1", "email": "a@acme.com"}, {"source_id": "2", "first_name": "Eve\udfff"},
            {"source_id": "3", "email": "c@acme.com"}]
    result = ingest_records(lake, "person", rows, source_type="Marketo", source_instance_id="123-ABC-456",
                            source_name="marketo:test", fingerprint="surrogate")
    assert (result.loaded, result.quarantined) == (2, 1)
    [(row, reason, kept)] = lake.execute("SELECT source_row, reason, raw_record FROM quarantine").fetchall()
    assert row == 2 and "field 'first_name' holds \\udfff" in reason and json.loads(kept)["source_id"] == "2"
