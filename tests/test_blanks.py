"""The one rule for blanks and hidden characters, said twice (Python for lookups, SQL for loading and stitching):
both say the same of any text."""

from __future__ import annotations

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from accord.lake.sql import literal
from accord.model.blanks import (
    EDGE_BLANKS,
    HIDDEN,
    address,
    stripped,
    stripped_sql,
    unhidden_sql,
)

TEXT = st.text(alphabet=st.sampled_from([*EDGE_BLANKS, "a", "@", ".", "ü", "é", "-", "\u3042", "x"]), max_size=12)


@given(st.lists(TEXT, min_size=1, max_size=20))
def test_sql_and_python_strip_and_unhide_alike(texts: list[str]) -> None:
    con = duckdb.connect()
    values = ", ".join(f"({literal(t)})" for t in texts)
    rows = con.execute(f"SELECT {stripped_sql('t')}, {unhidden_sql(stripped_sql('t'))} FROM (VALUES {values}) v(t)"
                       ).fetchall()
    assert rows == [(stripped(t), address(t)) for t in texts]


def test_an_address_keeps_what_is_seen_and_loses_what_is_not() -> None:
    assert address("\u200b ja\u00adne.doe@ac\u200bme\u2060.com\ufeff\t") == "jane.doe@acme.com"
    assert address("jürgen@müller.de") == "jürgen@müller.de"
    assert address("jo e@acme.com") == "jo e@acme.com"  # a space inside is seen: the address stays bad
    assert not set(address(HIDDEN.join("abc"))) & set(HIDDEN)
