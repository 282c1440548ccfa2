"""Excel workbooks as people keep lists in them (a trade show's leads, a sales team's contacts): typed cells read as
Excel shows them, blank rows skipped, a row spilling past the header quarantined, the sheet chosen by name."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from accord.cli import app
from accord.engines.registry import open_engine
from accord.ingest.loader import IngestResult
from accord.lake.store import Lake
from accord.sources.files import (
    FileFormatError,
    FileJob,
    FileReader,
    jobs_from_manifest,
    load_file,
)
from accord.sources.mappings import resolve_mapping
from accord.sources.spreadsheets import cell_text, sheet_rows

HEADER = ["Id", "First Name", "Last Name", "Email Address", "Company Name", "Lead Score", "Unsubscribed", "Updated At",
          "Booth Notes"]


def trade_show(path: Path) -> Path:
    """A workbook as a marketer fills it: numbers, booleans and dates typed as cells, a blank row, a note typed
    past the last column, trailing cells formatted but empty, and the leads of a second day on a second sheet."""
    book = Workbook()
    first = book.active
    first.title = "Day 1"
    first.append(HEADER)
    first.append([1, "José", "Müller", "jose@acme.com", "Société Générale", 85, False, datetime(2026, 11, 20, 10, 0),
                  "asked for a demo"])
    first.append([])
    first.append([2, "Anna", "Smith", "anna@acme.com", "Acme", 12.5, True, datetime(2026, 11, 20, 11, 30), None])
    first.append([3, "Bob", "Lee", "bob@acme.com", "Acme", 40, False, datetime(2026, 11, 20, 12, 0), "call", "later"])
    first.cell(row=9, column=3).number_format = "0.00"  # formatted, holding nothing
    second = book.create_sheet("Day 2")
    second.append(HEADER[:5])
    second.append([4, "Chen", "Wei", "chen@acme.com", "Acme"])
    book.save(path)
    return path


def test_a_workbooks_first_sheet_loads_with_its_cells_as_excel_shows_them(lake, tmp_path: Path, engine: str) -> None:
    job = FileJob(trade_show(tmp_path / "leads.xlsx"), resolve_mapping("marketo/lead"))
    trade_show_loaded(lake, load_file(lake, job) if engine == "duckdb" else open_engine(engine, lake).load_file(job))


def trade_show_loaded(lake: Lake, result: IngestResult) -> None:
    """The trade show's first sheet loaded as its cells show it: two leads, the row spilling past the header kept
    whole in quarantine."""
    assert (result.loaded, result.quarantined) == (2, 1)
    assert result.unmapped_columns == ["Booth Notes"]
    got = lake.query("SELECT source_id, first_name, company_name, lead_score, email_opt_out, source_updated_at "
                     "FROM person_current ORDER BY source_id")
    assert [(r["source_id"], r["first_name"], r["company_name"], r["lead_score"], r["email_opt_out"]) for r in got] == [
        ("1", "José", "Société Générale", 85, False), ("2", "Anna", "Acme", 12.5, True)]
    assert got[0]["source_updated_at"].isoformat() == "2026-11-20T10:00:00+00:00"
    [bad] = lake.query("SELECT source_row, reason, raw_record FROM quarantine")
    assert bad["source_row"] == 3 and bad["reason"] == "malformed_row: expected 9 fields, found 10"
    assert "bob@acme.com" in bad["raw_record"] and "later" in bad["raw_record"], "the row is kept whole"


def test_a_sheet_is_read_by_its_name_from_the_command_line(tmp_path: Path) -> None:
    sheets_chosen_by_name(trade_show(tmp_path / "leads.xlsx"), tmp_path)


def sheets_chosen_by_name(path: Path, tmp_path: Path) -> None:
    """`--sheet Day 2` loads the trade show's second day; `--sheet Day 3` is refused naming the sheets there are."""
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    loaded = runner.invoke(app, ["ingest", "files", str(path), "--mapping", "marketo/lead", "--sheet", "Day 2",
                                 "-w", str(tmp_path / "ws")])
    assert loaded.exit_code == 0, loaded.output
    missing = runner.invoke(app, ["ingest", "files", str(path), "--mapping", "marketo/lead", "--sheet", "Day 3",
                                  "-w", str(tmp_path / "ws")])
    assert missing.exit_code == 1 and "has no sheet 'Day 3'; its sheets: 'Day 1', 'Day 2'" in missing.output
    assert "Traceback" not in missing.output


def test_the_same_workbook_read_from_another_sheet_is_another_input(lake, tmp_path: Path) -> None:
    path = trade_show(tmp_path / "leads.xlsx")
    assert FileReader(path).fingerprint() != FileReader(path, sheet="Day 2").fingerprint()
    first = load_file(lake, FileJob(path, resolve_mapping("marketo/lead")))
    second = load_file(lake, FileJob(path, resolve_mapping("marketo/lead"), sheet="Day 2"))
    assert (first.loaded, second.loaded, second.already_ingested_as) == (2, 1, None)


@pytest.mark.parametrize(("name", "content", "sheet", "said"), [
    ("renamed.xlsx", b"Id,Email\n1,a@x.com\n", None, "not a readable Excel workbook"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", None, "not a readable Excel 97-2003 workbook"),
    ("list.csv", b"Id,Email\n1,a@x.com\n", "Day 1", "--sheet is for .xlsx and .xls files"),
])
def test_what_is_no_workbook_is_refused_by_name(tmp_path: Path, name: str, content: bytes, sheet: str | None,
                                                said: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=said):
        list(FileReader(path, sheet=sheet).chunks())


def test_an_empty_sheet_is_refused_and_a_name_given_twice_is_told_apart_by_its_place(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.create_sheet("Twice")
    sheet.append(["Id", "Email", "Email"])
    sheet.append(["1", "a@x.io", "b@x.io"])
    book.save(tmp_path / "odd.xlsx")
    with pytest.raises(FileFormatError, match="the sheet is empty"):
        list(FileReader(tmp_path / "odd.xlsx").chunks())
    [chunk] = FileReader(tmp_path / "odd.xlsx", sheet="Twice").chunks()
    assert chunk.columns == ["Id", "Email (column 2)", "Email (column 3)"]


@pytest.mark.parametrize(("value", "text"), [
    (None, None), ("", None), (85, "85"), (1500000.0, "1500000"), (12.5, "12.5"), (0.1 + 0.2, "0.30000000000000004"),
    (1e20, "1e+20"), (True, "true"), (datetime(2026, 11, 20, 10, 0), "2026-11-20T10:00:00"), ("00123", "00123"),
])
def test_a_cells_value_reads_as_excel_shows_it(value: object, text: str | None) -> None:
    assert cell_text(value) == text


def test_a_workbook_whose_xml_expands_entities_is_refused_not_expanded(tmp_path: Path) -> None:
    """A billion laughs in a sheet's XML: refused in one line, not expanded to gigabytes."""
    good = trade_show(tmp_path / "good.xlsx")
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
              + ']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
              '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>')
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "bomb.xlsx", "w") as out:
        for item in src.infolist():
            out.writestr(item, laughs if item.filename == "xl/worksheets/sheet1.xml" else src.read(item.filename))
    with pytest.raises(FileFormatError, match="not a readable Excel workbook") as refused:
        list(FileReader(tmp_path / "bomb.xlsx").chunks())
    assert "\n" not in str(refused.value)


def test_mappings_check_reads_a_workbook_and_guesses_the_mapping_its_columns_are_for(tmp_path: Path) -> None:
    """A lead list's columns fit the lead mapping, though they are a third of what it reads: a mapping reading five
    columns, two of them in the file, fits less."""
    shown = CliRunner().invoke(app, ["mappings", "check", str(trade_show(tmp_path / "leads.xlsx"))],
                               env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "best fit: marketo/lead" in shown.output and "it reads 89% of the file's" in shown.output
    assert '"first_name": "José"' in shown.output and '"lead_score": 85.0' in shown.output


def test_a_manifest_names_each_workbooks_sheet_as_text(tmp_path: Path) -> None:
    trade_show(tmp_path / "leads.xlsx")
    (tmp_path / "manifest.yaml").write_text("files:\n  - {path: leads.xlsx, mapping: marketo/lead, sheet: Day 2}\n")
    [job] = jobs_from_manifest(tmp_path)
    assert job.sheet == "Day 2"
    (tmp_path / "manifest.yaml").write_text("files:\n  - {path: leads.xlsx, mapping: marketo/lead, sheet: 2024}\n")
    with pytest.raises(FileFormatError, match="`sheet` of leads.xlsx is a sheet's name, in quotes if a number"):
        jobs_from_manifest(tmp_path)


def test_a_cell_far_past_the_table_does_not_make_every_row_that_wide(tmp_path: Path) -> None:
    """One value at row 200,000, column XFD: read as openpyxl pads rows, every row would be 16,384 cells wide (minutes
    for a 5 KB file). The header is looked for in the first 1,024 columns, the rows read 64 past it."""
    book = Workbook()
    book.active.append(["Id", "Email Address"])
    book.active.append([1, "a@x.com"])
    book.active.cell(row=200_000, column=16_384, value="far away")
    book.active.cell(row=7, column=2 + 64, value="just past")
    book.save(tmp_path / "sparse.xlsx")
    assert list(sheet_rows(tmp_path / "sparse.xlsx")) == [["Id", "Email Address"], ["1", "a@x.com"],
                                                          [None] * 65 + ["just past"]]



MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def shared_strings(rows: list[list[str]], extra: int = 0) -> bytes:
    """The shared strings of `rows` as Excel writes them (each text once, in order of first use), and `extra` more."""
    texts = list(dict.fromkeys(v for row in rows for v in row)) + ["lol"] * extra
    return (f'<sst xmlns="{MAIN}" count="{len(texts)}" uniqueCount="{len(texts)}">'.encode()
            + b"".join(f"<si><t>{t}</t></si>".encode() for t in texts) + b"</sst>")


def excel_style(path: Path, rows: list[list[str]], strings: bytes | None = None) -> Path:
    """A workbook as Excel writes one (openpyxl writes text inline): each text cell an index into shared strings."""
    index = {t: i for i, t in enumerate(dict.fromkeys(v for row in rows for v in row))}
    cells = "".join(f'<row r="{r}">' + "".join(f'<c r="{chr(65 + c)}{r}" t="s"><v>{index[v]}</v></c>'
                                                for c, v in enumerate(row)) + "</row>"
                    for r, row in enumerate(rows, 1))
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
        '<sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}"><sheetData>{cells}</sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, text in parts.items():
            out.writestr(name, text)
        out.writestr("xl/sharedStrings.xml", strings if strings is not None else shared_strings(rows))
    return path


LEADS = [["Email Address", "First Name"], ["ann@acme.com", "Ann"], ["bo@acme.com", "Bo"]]


def test_a_workbook_written_by_excel_reads_its_text_from_the_shared_strings(tmp_path: Path) -> None:
    assert list(sheet_rows(excel_style(tmp_path / "leads.xlsx", LEADS))) == LEADS


def test_a_workbook_whose_parts_expand_past_what_is_read_is_refused_before_expanding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip bomb: shared strings that deflate a thousandfold. The bound is lowered so the test writes megabytes,
    not the gigabyte it is."""
    from accord.sources import spreadsheets

    monkeypatch.setitem(spreadsheets.PART_BYTES, "strings", 1 << 20)
    strings = shared_strings(LEADS, extra=100_000)
    bomb = excel_style(tmp_path / "bomb.xlsx", LEADS, strings)
    assert bomb.stat().st_size < 50_000 and len(strings) > 1 << 20
    with pytest.raises(FileFormatError) as refused:
        list(FileReader(bomb).chunks())
    assert str(refused.value) == (f"{bomb}: its part xl/sharedStrings.xml expands to {len(strings):,} bytes, more than "
                                  "Accord reads of a workbook's part (1,048,576); save the sheet as CSV UTF-8")


def test_a_part_that_says_it_is_smaller_than_it_expands_is_read_no_further_than_it_says(tmp_path: Path) -> None:
    """A bomb that lies about its size in both of the zip's headers: the reader stops where it says the part ends,
    and the cut part does not read as XML."""
    strings = shared_strings(LEADS, extra=100_000)
    bomb = excel_style(tmp_path / "lying.xlsx", LEADS, strings)
    data = bytearray(bomb.read_bytes())
    true_size, said = len(strings).to_bytes(4, "little"), (1_000).to_bytes(4, "little")
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # the part's local header, then its central directory entry
        start = data.rfind(header, 0, data.rfind(b"xl/sharedStrings.xml"))
        field = start + (22 if header == b"PK\x03\x04" else 24)
        assert data[field:field + 4] == true_size
        data[field:field + 4] = said
    bomb.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="not a readable Excel workbook"):
        list(FileReader(bomb).chunks())


def test_a_title_above_the_table_is_not_taken_for_its_header(tmp_path: Path) -> None:
    """As people and report exports lay a sheet out: a title, a line saying who exported it, a blank row, then the
    table, starting in column B; the title rows are passed over, the header is the table's first row."""
    book = Workbook()
    sheet = book.active
    sheet.append(["Trade show leads, Day 1"])
    sheet.append(["Exported by Jane on 2026-11-20"])
    sheet.append([])
    sheet.append([None, "Email Address", "First Name"])
    sheet.append([None, "ann@acme.com", "Ann"])
    sheet.append([None, "bo@acme.com"])
    book.save(tmp_path / "titled.xlsx")
    assert list(sheet_rows(tmp_path / "titled.xlsx")) == [[None, "Email Address", "First Name"],
                                                          [None, "ann@acme.com", "Ann"], [None, "bo@acme.com"]]


@pytest.mark.parametrize("rows", [
    [["Email Address"], ["ann@acme.com"], ["bo@acme.com"]],  # one column: its header holds one value
    [["Email Address", "First Name"], ["ann@acme.com", "Ann"]],
    [["Leads"]],  # nothing under it
])
def test_a_header_that_holds_one_value_is_a_header_when_the_rows_under_it_do_too(tmp_path: Path,
                                                                               rows: list[list[str]]) -> None:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(tmp_path / "plain.xlsx")
    assert list(sheet_rows(tmp_path / "plain.xlsx")) == rows
