"""The audience text form: examples print back unchanged, any AST survives print → parse, errors point at the spot."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings

from accord.audiences.text import AudienceSyntaxError, parse_audience, print_audience
from accord.demo import DEMO_CUSTOM_FIELDS
from accord.model.schema import Schema
from accord.services.audience_edits import from_form, to_form
from tests.audience_strategies import audiences

EXAMPLES = sorted(p for p in resources.files("accord.audiences").joinpath("examples").iterdir() if p.name.endswith(".aud"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_print_back_unchanged(path) -> None:
    text = path.read_text()
    assert print_audience(parse_audience(text)) == text


def test_examples_cover_every_construct() -> None:
    text = "\n".join(p.read_text() for p in EXAMPLES)
    for construct in ("any opportunity", "all opportunity", "no opportunity", "count(event", "count(person", "sum(opportunity.",
                      "no event", "any event", "last event", "first event", "in campaign", "in list", "not in audience",
                      " in [", "not in [", "contains", "starts with", "ends with", "is null", "is not null", "between",
                      "!=", "<=", ">=", " or ", "of account"):
        assert construct in text, construct


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audiences())
def test_any_ast_survives_print_and_parse(audience) -> None:
    text = print_audience(audience)
    again = parse_audience(text, Schema(DEMO_CUSTOM_FIELDS))  # the strategies draw the generated org's custom fields
    assert again == audience
    assert print_audience(again) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audiences())
def test_the_builders_form_of_any_ast_comes_back_as_the_same_ast(audience) -> None:
    """What the builder receives as JSON and sends back unchanged is the same audience: dates stay dates."""
    sent = json.loads(json.dumps(to_form(audience)))
    assert type(audience).model_validate(from_form(sent)) == audience


def test_json_form_round_trips() -> None:
    audience = parse_audience(EXAMPLES[0].read_text())
    assert type(audience).model_validate_json(audience.model_dump_json()) == audience


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ('audience "x" of person\nwhere industy = "a"', (2, 7), "did you mean 'account.industry'"),
        ('audience "x" of person where any opportunity (amout > 5)', (1, 47), "did you mean 'amount'"),
        ('audience "x" of person where lead_score > "high"', (1, 30), "lead_score takes a number"),
        ('audience "x" of person where count(person) > 1', (1, 36), "cannot reach 'person'"),
        ('audience "x" of persn where a = 1', (1, 17), "expected 'person' or 'account'"),
        ('audience "x" of person where email = ', (1, 38), "expected a value"),
        ('audience "x" of person where email = "a" email', (1, 42), "expected 'and', 'or' or the end"),
        ('audience "x" of person where job_title contains 5', (1, 49), "expected a quoted text"),
        ('audience "x" of person where lead_score contains "x"', (1, 30), "contains works on text"),
        ('audience "x" of person where any event (timestamp > date("2024-13-01"))', (1, 53), "not a date"),
        ('audience "x" of person where count(event where) >= 1', (1, 47), "a condition after 'where'"),
        ('audience "x" of person where email ~ "a"', (1, 36), "unexpected character"),
        ('audience "x" of person where lead_score > 1' + "0" * 400, (1, 43), "too large a number"),
        ('audience "x" of person where lead_score > 1e6', (1, 43), "'1e6' is not a number Accord reads: write it in"),
        ('audience "x" of person where any opportunity (amount > 10k)', (1, 56), "'10k' is not a number Accord"),
        ('audience "" of person where email = "a"', (1, 10), "an audience needs a name"),
        ('audience "  " of person where email = "a"', (1, 10), "an audience needs a name"),
        ('audience " Quiet" of person where email = "a"', (1, 10), "'Quiet' begins or ends with a blank"),
        ('audience "Quiet\u202eteiuq" of person where email = "a"', (1, 10), "a control character or a direction"),
        ('audience "ab\x1b[2Jc" of person where email = "a"', (1, 10), "'ab\\x1b[2Jc' holds a control character"),
        ('audience "\u200bQuiet" of person where email = "a"', (1, 10), "'Quiet' begins or ends with a blank"),
        ('audience "Qu\u00adiet" of person where email = "a"', (1, 10), "another character that shows as nothing"),
        # A backslash escapes only `"` and itself: `\p` read as `p` matched another text than the one written.
        ('audience "x" of person where any event (url contains "\\\\docs\\pricing")', (1, 61),
         "`\\p` is no escape"),
    ],
)
def test_errors_name_line_column_and_what_was_expected(text, where, says) -> None:
    with pytest.raises(AudienceSyntaxError) as err:
        parse_audience(text)
    assert (err.value.line, err.value.column) == where, str(err.value)
    assert says in str(err.value)


def test_a_file_an_editor_saved_with_a_byte_order_mark_loads(tmp_path) -> None:
    from datetime import datetime, timezone

    from accord.audiences.files import load_usable

    text = EXAMPLES[0].read_text()
    (tmp_path / "notepad.aud").write_text(text, encoding="utf-8-sig")
    usable = load_usable(tmp_path, datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert usable.problems == {} and usable.audiences == [parse_audience(text)]


def test_the_json_form_refuses_the_names_the_text_form_refuses(tmp_path) -> None:
    from accord.audiences.ast import Audience
    from accord.services.audiences import parse
    from accord.workspace import Workspace

    where = {"kind": "compare", "field": "email", "op": "=", "value": "a"}
    ws = Workspace.init(tmp_path / "ws")
    assert parse(ws, ast={"name": "Q" * 5000, "of": "person", "where": where}).name == "Q" * 5000
    for name in ("", "Quiet\u202e", "Quiet "):
        Audience.model_validate({"name": name, "of": "person", "where": where})  # Accord's own names may hold them
        with pytest.raises(AudienceSyntaxError):
            parse(ws, ast={"name": name, "of": "person", "where": where})
