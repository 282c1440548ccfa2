"""The audience text form: parse text to the AST (errors name line, column and what was expected) and print it back."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from accord.audiences.ast import (
    MAX_DAYS,
    Aggregate,
    And,
    Audience,
    Between,
    Compare,
    Condition,
    InAudience,
    InCampaign,
    InList,
    InValues,
    IsNull,
    Not,
    Occurrence,
    Or,
    Quantified,
    Scalar,
    Window,
    name_problem,
)
from accord.audiences.fields import PROPERTIES, Scope, property_field
from accord.model.entities import ColumnType
from accord.model.schema import STANDARD, Schema
from accord.model.times import EARLIEST, LATEST, RANGE_TEXT

TOKEN = re.compile(
    r"""(?P<ws>\s+|\#[^\n]*)
      |(?P<string>"(?:[^"\\]|\\.)*")
      |(?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      |(?P<op><=|>=|!=|=|<|>)
      |(?P<punct>[()\[\],.])
      |(?P<word>[A-Za-z_][A-Za-z0-9_]*)""",
    re.VERBOSE,
)
NOT_A_NUMBER = re.compile(r"-?\d[\w.+-]*")
"""What a number is mistaken for: `1e6`, `10k`, `1.5.2` (the tokenizer stops at it)."""
RELATIONS = ("opportunity", "event", "person")


class AudienceSyntaxError(ValueError):
    """Text that is not an audience: says where and what was expected."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line, self.column = line, column


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    column: int


def tokenize(text: str) -> list[Token]:
    tokens, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match:
            column = pos - line_start + 1
            if number := NOT_A_NUMBER.match(text, pos):
                raise AudienceSyntaxError(f"{number.group()!r} is not a number Accord reads: write it in digits, with "
                                          "at most one decimal point (10000000, 2.5)", line, column)
            raise AudienceSyntaxError(f"unexpected character {text[pos]!r}", line, column)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), line, pos - line_start + 1))
        for i, ch in enumerate(match.group()):
            if ch == "\n":
                line, line_start = line + 1, pos + i + 1
        pos = match.end()
    tokens.append(Token("end", "", line, pos - line_start + 1))
    return tokens


EXPECTED_VALUE = {
    ColumnType.STRING: (str,),
    ColumnType.NUMBER: (int, float),
    ColumnType.INTEGER: (int, float),
    ColumnType.BOOLEAN: (bool,),
    ColumnType.DATE: (date,),
    ColumnType.TIMESTAMP: (date,),
    ColumnType.JSON: (str,),
    ColumnType.STRING_LIST: (str,),
}
TYPE_WORDS = {
    ColumnType.STRING: "a text",
    ColumnType.NUMBER: "a number",
    ColumnType.INTEGER: "a number",
    ColumnType.BOOLEAN: "true or false",
    ColumnType.DATE: 'a date("YYYY-MM-DD")',
    ColumnType.TIMESTAMP: 'a date("YYYY-MM-DD")',
    ColumnType.JSON: "a text",
    ColumnType.STRING_LIST: "a text",
}


MAX_NESTING = 64
"""How deep conditions may nest (parentheses, `not`, quantifiers): far past what a person writes, and within what
parsing, compiling and generating SQL recurse through (a text nesting hundreds deep stopped them with a
RecursionError, and under serve, every cycle)."""


class Parser:
    def __init__(self, text: str, scope: Scope | None = None, schema: Schema = STANDARD) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.scopes: list[Scope] = [scope] if scope else []
        self.schema = scope.schema if scope else schema
        self.relations = RELATIONS + tuple(o.name for o in self.schema.objects)

    @property
    def scope(self) -> Scope | None:
        return self.scopes[-1] if self.scopes else None

    def enter(self, relation: str, tok: Token) -> None:
        if self.scope is not None:
            try:
                self.scopes.append(self.scope.relation(relation))
            except KeyError as err:
                raise AudienceSyntaxError(str(err.args[0]), tok.line, tok.column) from None

    def leave(self) -> None:
        if len(self.scopes) > 1:
            self.scopes.pop()

    def typed_field(self, tok: Token, name: str) -> ColumnType | None:
        if self.scope is None:
            return None
        try:
            return self.scope.field_type(name)
        except KeyError as err:
            raise AudienceSyntaxError(str(err.args[0]), tok.line, tok.column) from None

    def check_value(self, tok: Token, field: str, kind: ColumnType | None, value: Scalar) -> None:
        if kind is ColumnType.JSON:
            if isinstance(value, date):
                raise AudienceSyntaxError(f"{field} takes text, a number or true/false, not a date", tok.line,
                                          tok.column)
            return
        if kind is None:
            return
        ok = isinstance(value, EXPECTED_VALUE[kind]) and not (isinstance(value, bool) and kind is not ColumnType.BOOLEAN)
        if not ok:
            raise AudienceSyntaxError(f"{field} takes {TYPE_WORDS[kind]}, not {_value(value)}", tok.line, tok.column)

    # -- token helpers ---------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def at(self, *words: str) -> bool:
        return self.tok.text in words and self.tok.kind in ("word", "op", "punct")

    def take(self, *words: str) -> Token:
        if not self.at(*words):
            self.fail(" or ".join(repr(w) for w in words))
        tok = self.tok
        self.i += 1
        return tok

    def fail(self, expected: str) -> None:
        found = "the end of the text" if self.tok.kind == "end" else repr(self.tok.text)
        raise AudienceSyntaxError(f"expected {expected}, found {found}", self.tok.line, self.tok.column)

    def string(self) -> str:
        if self.tok.kind != "string":
            self.fail("a quoted text")
        raw = self.tok.text[1:-1]
        escapes = re.finditer(r"\\(.)", raw, re.DOTALL)
        if stray := next((m for m in escapes if m.group(1) not in '"\\'), None):  # `"C:\path"` read as `C:path`
            raise AudienceSyntaxError(f"`{stray.group()}` is no escape: in a quoted text a backslash escapes only "
                                      '" and \\ (write \\\\ for a backslash)', self.tok.line,
                                      self.tok.column + 1 + stray.start())
        self.i += 1
        return re.sub(r"\\(.)", r"\1", raw)

    def number(self) -> int | float:
        if self.tok.kind != "number":
            self.fail("a number")
        text = self.tok.text
        if math.isinf(float(text)):  # no field holds it: DuckDB would refuse the audience when evaluating
            raise AudienceSyntaxError(f"{text[:12]}… is too large a number ({len(text)} characters)", self.tok.line,
                                      self.tok.column)
        self.i += 1
        return float(text) if "." in text else int(text)

    def days(self) -> int:
        """A whole number of days a window may span (up to MAX_DAYS)."""
        tok = self.tok
        days = self.number()
        if not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
            raise AudienceSyntaxError(f"a window is 0 to {MAX_DAYS:,} whole days, not {tok.text}", tok.line, tok.column)
        return days

    # -- grammar -------------------------------------------------------------------------------------
    def audience(self) -> Audience:
        self.take("audience")
        at = self.tok
        name = self.string()
        if problem := name_problem(name):
            raise AudienceSyntaxError(problem, at.line, at.column)
        self.take("of")
        of = self.take("person", "account").text
        self.scopes = [Scope(of, of, self.schema)]
        about = {}
        for word in ("description", "owner"):
            if self.at(word):
                self.i += 1
                about[word] = self.string()
        self.take("where")
        where = self.condition()
        if self.tok.kind != "end":
            self.fail("'and', 'or' or the end of the audience")
        return Audience(name=name, of=of, where=where, **about)

    def condition(self) -> Condition:
        with self.nested():
            items = [self.conjunction()]
            while self.at("or"):
                self.i += 1
                items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(items=tuple(items))

    @contextmanager
    def nested(self) -> Iterator[None]:
        """One level deeper for what is parsed in the block; refused past MAX_NESTING."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise AudienceSyntaxError(f"conditions nest more than {MAX_NESTING} deep", self.tok.line, self.tok.column)
        yield
        self.depth -= 1

    def conjunction(self) -> Condition:
        items = [self.unary()]
        while self.at("and"):
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(items=tuple(items))

    def unary(self) -> Condition:
        if self.at("not") and not (self.peek().text == "in" and self.peek(2).text == "audience"):
            self.i += 1
            with self.nested():
                return Not(item=self.unary())
        if self.at("not") and self.peek().text == "in":
            self.i += 2
            self.take("audience")
            return Not(item=InAudience(name=self.string()))
        return self.primary()

    def primary(self) -> Condition:
        if self.at("("):
            self.i += 1
            inner = self.condition()
            self.take(")")
            return inner
        if self.at("any", "all", "no") and self.peek().text in self.relations and self.peek(2).text == "(":
            return self.quantified()
        if self.at("count", "sum") and self.peek().text == "(":
            return self.aggregate()
        if self.at("first", "last") and self.peek().text == "event":
            return self.occurrence()
        if self.at("in") and self.peek().text in ("campaign", "list", "audience"):
            return self.membership()
        return self.comparison()

    def body(self) -> tuple[Condition | None, Window | None]:
        """What is inside the parentheses of a quantifier or an aggregate: [condition] [window]."""
        where = None
        if not self.at(")") and not self.at_window():
            where = self.condition()
        window = self.window() if self.at_window() else None
        return where, window

    def at_window(self) -> bool:
        return (self.at("in") and self.peek().text == "last") or (self.at("between") and self.peek().text == "date")

    def window(self) -> Window:
        if self.at("in"):
            self.take("in")
            self.take("last")
            days = self.days()
            self.take("days", "day")
            return Window(last_days=days)
        self.take("between")
        start = self.date_literal()
        self.take("and")
        return Window(start=start, end=self.date_literal())

    def quantified(self) -> Quantified:
        quantifier = self.take("any", "all", "no").text
        rel_tok = self.tok
        relation = self.take(*self.relations).text
        self.take("(")
        self.enter(relation, rel_tok)
        where, window = self.body()
        self.leave()
        self.take(")")
        if window is None and self.at_window():
            window = self.window()
        return Quantified(quantifier=quantifier, relation=relation, where=where, window=window)

    def aggregate(self) -> Aggregate:
        function = self.take("count", "sum").text
        self.take("(")
        rel_tok = self.tok
        relation = self.take(*self.relations).text
        self.enter(relation, rel_tok)
        field = None
        if function == "sum":
            self.take(".")
            field_tok = self.tok
            field = self.identifier()
            kind = self.typed_field(field_tok, field)
            if kind is not None and kind not in (ColumnType.NUMBER, ColumnType.INTEGER):
                raise AudienceSyntaxError(f"sum needs a number field; {field} is not one", field_tok.line, field_tok.column)
        where, window = None, None
        if self.at("where"):
            self.i += 1
            if self.at(")"):
                self.fail("a condition after 'where'")
            where, window = self.body()
        elif self.at_window():
            window = self.window()
        self.leave()
        self.take(")")
        op = self.take("=", "!=", "<", "<=", ">", ">=").text
        return Aggregate(function=function, relation=relation, field=field, where=where, window=window, op=op,
                         value=self.number())

    def occurrence(self) -> Occurrence:
        which = self.take("first", "last").text
        rel_tok = self.tok
        self.take("event")
        self.take("(")
        self.enter("event", rel_tok)
        where = None if self.at(")") else self.condition()
        self.leave()
        self.take(")")
        op = self.take("before", "after").text
        days = self.days()
        self.take("days", "day")
        self.take("ago")
        return Occurrence(which=which, where=where, op=op, days=days)

    def membership(self) -> Condition:
        self.take("in")
        what = self.take("campaign", "list", "audience").text
        name = self.string()
        if what == "campaign":
            status = None
            if self.at("with"):
                self.i += 1
                self.take("status")
                status = self.string()
            return InCampaign(campaign=name, status=status)
        return InList(name=name) if what == "list" else InAudience(name=name)

    def identifier(self) -> str:
        if self.tok.kind != "word":
            self.fail("a field name")
        name = self.tok.text
        self.i += 1
        keys: list[str] = []
        while self.at(".") and (self.peek().kind == "word" or (name == PROPERTIES and self.peek().kind == "string")):
            self.i += 1
            if name == PROPERTIES:
                tok = self.tok
                keys.append(self.string() if tok.kind == "string" else self.word())
                if '"' in keys[-1] or not keys[-1]:
                    raise AudienceSyntaxError("a property name is not empty and holds no double quote", tok.line,
                                              tok.column)
                continue
            name += "." + self.tok.text
            self.i += 1
        return property_field(keys) if keys else name

    def word(self) -> str:
        text = self.tok.text
        self.i += 1
        return text

    def comparison(self) -> Condition:
        if self.tok.kind != "word":
            self.fail("a condition (a field, any/all/no, count, sum, first/last event, in campaign/list/audience)")
        field_tok = self.tok
        field = self.identifier()
        kind = self.typed_field(field_tok, field)
        if self.at("is"):
            self.i += 1
            negated = self.at("not")
            if negated:
                self.i += 1
            self.take("null")
            return IsNull(field=field, negated=negated)
        if self.at("not") and self.peek().text == "in":
            self.i += 2
            values = self.values()
            for v in values:
                self.check_value(field_tok, field, kind, v)
            return InValues(field=field, values=values, negated=True)
        if self.at("in"):
            self.i += 1
            values = self.values()
            for v in values:
                self.check_value(field_tok, field, kind, v)
            return InValues(field=field, values=values)
        if kind is ColumnType.STRING_LIST and (self.at("between") or self.tok.text in ("<", "<=", ">", ">=")):
            raise AudienceSyntaxError(f"{field} is a list: test it with =, !=, in, not in, contains or is null",
                                      field_tok.line, field_tok.column)
        if self.at("between"):
            self.i += 1
            low = self.value()
            self.take("and")
            high = self.value()
            self.check_value(field_tok, field, kind, low)
            self.check_value(field_tok, field, kind, high)
            return Between(field=field, low=low, high=high)
        if self.at("contains", "starts", "ends"):
            op = "contains" if self.at("contains") else self.tok.text + " with"
            self.i += 1
            if op != "contains":
                self.take("with")
            if kind is not None and kind not in (ColumnType.STRING, ColumnType.JSON, ColumnType.STRING_LIST):
                raise AudienceSyntaxError(f"{op} works on text; {field} is not text", field_tok.line, field_tok.column)
            return Compare(field=field, op=op, value=self.string())
        if self.tok.kind == "op":
            op = self.tok.text
            self.i += 1
            value = self.value()
            self.check_value(field_tok, field, kind, value)
            return Compare(field=field, op=op, value=value)
        self.fail("an operator (=, !=, <, <=, >, >=, in, not in, contains, starts with, ends with, is null, between)")
        raise AssertionError

    def values(self) -> tuple[Scalar, ...]:
        self.take("[")
        out = [self.value()]
        while self.at(","):
            self.i += 1
            out.append(self.value())
        self.take("]")
        return tuple(out)

    def value(self) -> Scalar:
        if self.tok.kind == "string":
            return self.string()
        if self.tok.kind == "number":
            return self.number()
        if self.at("true", "false"):
            return self.take("true", "false").text == "true"
        if self.at("date"):
            return self.date_literal()
        self.fail('a value (a "text", a number, true, false or date("YYYY-MM-DD"))')
        raise AssertionError

    def date_literal(self) -> date:
        tok = self.take("date")
        self.take("(")
        text = self.string()
        self.take(")")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise AudienceSyntaxError(f"{text!r} is not a date (want YYYY-MM-DD)", tok.line, tok.column) from None
        if not EARLIEST.date() <= day < LATEST.date():
            raise AudienceSyntaxError(f"{text!r} is not {RANGE_TEXT}", tok.line, tok.column)
        return day


def parse_audience(text: str, schema: Schema = STANDARD) -> Audience:
    """An audience from its text, its fields checked against `schema` (custom fields included)."""
    # Editors on Windows may start a UTF-8 file with a byte-order mark: it is not part of the audience.
    return Parser(text.removeprefix("\ufeff"), schema=schema).audience()


def parse_condition(text: str, scope: Scope | None = None) -> Condition:
    parser = Parser(text, scope)
    cond = parser.condition()
    if parser.tok.kind != "end":
        parser.fail("'and', 'or' or the end of the condition")
    return cond


# -- printing ------------------------------------------------------------------------------------------
def print_audience(audience: Audience) -> str:
    about = "".join(f"{word} {_quote(text)}\n" for word, text in (("description", audience.description),
                                                                  ("owner", audience.owner)) if text)
    return f"audience {_quote(audience.name)} of {audience.of}\n{about}where {print_condition(audience.where)}\n"


def print_condition(cond: Condition) -> str:
    if isinstance(cond, (And, Or)):
        word = " and " if isinstance(cond, And) else " or "
        return word.join(_operand(item, cond) for item in cond.items)
    if isinstance(cond, Not):
        if isinstance(cond.item, InAudience):
            return f"not in audience {_quote(cond.item.name)}"
        inner = print_condition(cond.item)
        return f"not ({inner})" if isinstance(cond.item, (And, Or, Not)) else f"not {inner}"
    if isinstance(cond, Compare):
        return f"{cond.field} {cond.op} {_value(cond.value)}"
    if isinstance(cond, InValues):
        values = ", ".join(_value(v) for v in cond.values)
        return f"{cond.field} {'not in' if cond.negated else 'in'} [{values}]"
    if isinstance(cond, IsNull):
        return f"{cond.field} is {'not ' if cond.negated else ''}null"
    if isinstance(cond, Between):
        return f"{cond.field} between {_value(cond.low)} and {_value(cond.high)}"
    if isinstance(cond, Quantified):
        return f"{cond.quantifier} {cond.relation} ({_body(cond.where, cond.window)})"
    if isinstance(cond, Aggregate):
        target = f"{cond.relation}.{cond.field}" if cond.function == "sum" else cond.relation
        body = _body(cond.where, cond.window)
        inner = f"{target} where {body}" if cond.where is not None else f"{target} {body}".rstrip()
        return f"{cond.function}({inner}) {cond.op} {_value(cond.value)}"
    if isinstance(cond, Occurrence):
        where = print_condition(cond.where) if cond.where is not None else ""
        return f"{cond.which} event ({where}) {cond.op} {cond.days} days ago"
    if isinstance(cond, InCampaign):
        status = f" with status {_quote(cond.status)}" if cond.status is not None else ""
        return f"in campaign {_quote(cond.campaign)}{status}"
    if isinstance(cond, InList):
        return f"in list {_quote(cond.name)}"
    if isinstance(cond, InAudience):
        return f"in audience {_quote(cond.name)}"
    raise TypeError(f"not a condition: {cond!r}")


def _operand(item: Condition, parent: And | Or) -> str:
    text = print_condition(item)
    nested = isinstance(item, (And, Or)) and (isinstance(item, Or) or isinstance(parent, And))
    return f"({text})" if nested else text


def _body(where: Condition | None, window: Window | None) -> str:
    parts = [print_condition(where)] if where is not None else []
    if window is not None:
        parts.append(_window(window))
    return " ".join(parts)


def _window(window: Window) -> str:
    if window.last_days is not None:
        return f"in last {window.last_days} days"
    return f"between {_value(window.start)} and {_value(window.end)}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: Scalar | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return f'date("{value.isoformat()}")'
    if isinstance(value, (int, float)):
        return repr(value)
    return _quote(str(value))
