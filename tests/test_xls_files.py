"""Files saved as `.xls`: Excel 97-2003 workbooks, the HTML tables web applications (Salesforce's report export
among them) save under that name, and text saved so. Each loads as its `.xlsx` or CSV twin would."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import xlwt

from accord.sources.files import FileFormatError, FileReader
from accord.sources.html_tables import WIDEST_SPAN, html_rows
from accord.sources.mappings import resolve_mapping
from accord.sources.workbooks import workbook_rows
from tests.conftest import ingest
from tests.test_workbooks import HEADER, sheets_chosen_by_name, trade_show_loaded

DAY_1 = [
    HEADER,
    [1, "José", "Müller", "jose@acme.com", "Société Générale", 85, False, datetime(2026, 11, 20, 10, 0),
     "asked for a demo"],
    [],
    [2, "Anna", "Smith", "anna@acme.com", "Acme", 12.5, True, datetime(2026, 11, 20, 11, 30), None],
    [3, "Bob", "Lee", "bob@acme.com", "Acme", 40, False, datetime(2026, 11, 20, 12, 0), "call", "later"],
]
WHEN = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM")


def excel_97(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A workbook as Excel 97-2003 saves it, dates typed as dates."""
    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value, WHEN) if isinstance(value, datetime) else sheet.write(r, c, value)
    book.save(str(path))
    return path


def trade_show(path: Path) -> Path:
    return excel_97(path, {"Day 1": DAY_1, "Day 2": [HEADER[:5], [4, "Chen", "Wei", "chen@acme.com", "Acme"]]})


def test_an_excel_97_2003_workbook_loads_as_its_xlsx_twin(lake, tmp_path: Path, engine: str) -> None:
    trade_show_loaded(lake, ingest(lake, trade_show(tmp_path / "leads.xls"), resolve_mapping("marketo/lead"), engine))


def test_an_xls_sheet_is_read_by_its_name_and_a_missing_one_is_named_with_those_it_has(tmp_path: Path) -> None:
    sheets_chosen_by_name(trade_show(tmp_path / "leads.xls"), tmp_path)


def test_cells_read_as_excel_97_2003_shows_them(tmp_path: Path) -> None:
    """Whole numbers without `.0`, a time of day alone, an error's text; a cell far past the table (a sheet is
    256 columns wide) does not widen every row."""
    path = tmp_path / "cells.xls"
    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    for c, name in enumerate(["Id", "Wake", "Ratio", "Code"]):
        sheet.write(0, c, name)
    sheet.write(1, 0, 1500000.0)
    sheet.write(1, 1, 0.3125, xlwt.easyxf(num_format_str="HH:MM"))
    sheet.write(1, 2, 0.1 + 0.2)
    sheet.write(1, 3, "00123")
    sheet.write(2, 0, 7)
    sheet.write(60_000, 255, "far")
    book.save(str(path))
    assert list(workbook_rows(path, "xls")) == [["Id", "Wake", "Ratio", "Code"], ["1500000", "07:30:00", "0.30000000000000004",
                                                                        "00123"], ["7"], [None] * 255 + ["far"]]


REPORT = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252"></head><body>
<table><tr><td colspan="7"><b>Leads by source</b></td></tr><tr><td colspan="7">Filtered By: Lead Status equals Open
</td></tr></table>
<table border="1">
<tr><th>Lead ID</th><th>First Name</th><th>Last Name</th><th>Email</th><th>Company / Account</th><th>Lead Status</th>
<th>Create Date</th></tr>
<tr><td>00Q5e00000AbCdE</td><td>J\xfcrgen</td><td>Roe</td><td> Joe@Beta.io </td><td>Beta &amp; Sons</td><td>Open</td>
<td>2026-10-01T09:00:00Z</td></tr>
<tr><td>00Q5e00000AbCdF</td><td>&nbsp;</td><td>Poe</td><td>ann@gamma.io</td><td>Gamma<br>Holdings</td><td>Open</td>
<td>2026-10-02T09:00:00Z</td></tr>
</table>
<table><tr><td>Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.</td></tr>
<tr><td>Confidential Information - Do Not Distribute</td></tr></table>
</body></html>"""


def test_a_salesforce_report_saved_as_xls_html_loads_by_its_labels(lake, tmp_path: Path, engine: str) -> None:
    """Its title table passed over, its text in the encoding its <meta> names, entities and spaces as a browser
    shows them, its footer not read as records."""
    path = tmp_path / "report1642777476321.xls"
    path.write_bytes(REPORT.encode("cp1252"))
    result = ingest(lake, path, resolve_mapping("salesforce/lead"), engine)
    assert (result.loaded, result.quarantined, result.unmapped_columns) == (2, 0, [])
    got = lake.query("SELECT email, first_name, company_name FROM person_current ORDER BY email")
    assert [(r["email"], r["first_name"], r["company_name"]) for r in got] == [
        ("ann@gamma.io", None, "Gamma\nHoldings"), ("joe@beta.io", "Jürgen", "Beta & Sons")]


def test_text_saved_as_xls_loads_as_the_text_it_is(lake, tmp_path: Path, engine: str) -> None:
    path = tmp_path / "export.xls"
    path.write_text("Id\tEmail Address\n1\ta@x.com\n2\tb@x.com\n")
    assert FileReader(path).format == "csv"
    assert ingest(lake, path, resolve_mapping("marketo/lead"), engine).loaded == 2


@pytest.mark.parametrize(("content", "options", "said"), [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, {}, "not a readable Excel 97-2003 workbook"),
    (b"<table><tr><td>Id</td></tr></table>", {"sheet": "Day 1"}, "an HTML table saved as .xls, which has no sheets"),
    ("<table><tr><td>Id</td><td>Name</td></tr><tr><td>1</td><td>M\xfcller</td></tr></table>".encode("cp1252"), {},
     "an HTML table whose text is not utf-8: load it with --encoding"),
    (b"<html><body><form>Your session has expired. Log in</form></body></html>", {}, "holds no table"),
    (b'<meta charset="klingon"><table><tr><td>Id</td></tr></table>', {}, "names 'klingon', which is no encoding"),
])
def test_an_xls_file_that_cannot_be_read_is_refused_in_one_line(tmp_path: Path, content: bytes,
                                                                options: dict[str, str], said: str) -> None:
    path = tmp_path / "broken.xls"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=said) as refused:
        list(FileReader(path, **options).chunks())
    assert "\n" not in str(refused.value)


def test_an_html_table_declared_iso_8859_1_reads_as_browsers_read_it(tmp_path: Path) -> None:
    """Exports name ISO-8859-1 and write Windows-1252's curly quotes and dashes, as browsers expect."""
    path = tmp_path / "quotes.xls"
    path.write_bytes('<meta charset="ISO-8859-1"><table><tr><td>Id</td><td>Note</td></tr>'
                     '<tr><td>1</td><td>“Müller” – CFO</td></tr></table>'.encode("cp1252"))
    assert list(workbook_rows(path, "html")) == [["Id", "Note"], ["1", "“Müller” – CFO"]]


def test_an_html_table_in_another_encoding_loads_with_it_named(tmp_path: Path) -> None:
    path = tmp_path / "names.xls"
    path.write_bytes("<table><tr><td>Id</td><td>Name</td></tr><tr><td>1</td><td>M\xfcller</td></tr></table>"
                     .encode("cp1252"))
    [chunk] = FileReader(path, encoding="cp1252").chunks()
    assert chunk.table.column("Name").to_pylist() == ["Müller"]


def test_a_hostile_colspan_does_not_make_a_row_millions_of_cells_wide(tmp_path: Path) -> None:
    path = tmp_path / "wide.xls"
    path.write_text('<table><tr><td>Id</td><td>Email</td></tr><tr><td colspan="99999999">x</td></tr></table>')
    assert [len(row) for row in html_rows(path)] == [2, WIDEST_SPAN]
    assert list(workbook_rows(path, "html")) == [["Id", "Email"], ["x"]]


def test_the_xls_footer_reader_keeps_rows_that_only_look_like_a_footer() -> None:
    from accord.sources.footers import without_report_footer

    copyright_ = ["Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.", None]
    rows = [["Id", "Note"], ["1", "a"], copyright_, ["2", "b"]]
    assert list(without_report_footer(iter(rows))) == rows
    assert list(without_report_footer(iter(rows[:3] + [["Generated By: Jane"]]))) == rows[:2]


def test_a_table_inside_a_cell_is_that_cells_text_and_ends_no_row(tmp_path: Path) -> None:
    """Pages saved as `.xls` nest tables for layout: the rows around one stay whole, as a browser shows them."""
    path = tmp_path / "nested.xls"
    path.write_text("<table><tr><th>Id</th><th>Address</th><th>Owner</th></tr>"
                    "<tr><td>1</td><td>Acme<table><tr><td>12</td><td>Main St</td></tr><tr><td>Austin</td></tr>"
                    "</table>TX</td><td>Jane</td></tr>"
                    "<tr><td>2</td><td><table><tr><td>Beta<br>GmbH</td></tr></table></td><td>Joe</td></tr></table>")
    assert list(html_rows(path)) == [["Id", "Address", "Owner"], ["1", "Acme\n12 Main St\nAustin\nTX", "Jane"],
                                      ["2", "Beta\nGmbH", "Joe"]]
