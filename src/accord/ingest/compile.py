"""Compile a mapping into one SQL SELECT that maps a chunk of raw rows and says why a row is bad."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from accord.ingest.mapping import FieldSpec, Mapping, Transform
from accord.lake.sql import DUCKDB_TYPES, ident, literal
from accord.model.blanks import stripped_sql, unhidden_sql
from accord.model.domains import domain_sql
from accord.model.entities import Column, ColumnType
from accord.model.times import EARLIEST, LATEST, RANGE_TEXT
from accord.sources.base import ROW_COLUMN

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

PARSE_FAILURE = {
    ColumnType.DATE: ("unparsable_date", "is not a date"),
    ColumnType.TIMESTAMP: ("unparsable_date", "is not a timestamp"),
    ColumnType.NUMBER: ("wrong_type", "is not a number"),
    ColumnType.INTEGER: ("wrong_type", "is not a whole number"),
    ColumnType.BOOLEAN: ("wrong_type", "is not true or false"),
    ColumnType.JSON: ("wrong_type", "is not JSON"),
}

DEFAULT_PARSE = {
    ColumnType.DATE: "to_date",
    ColumnType.TIMESTAMP: "to_timestamp",
    ColumnType.NUMBER: "to_number",
    ColumnType.INTEGER: "to_integer",
    ColumnType.BOOLEAN: "to_boolean",
}


def _string_list(text: str) -> str:
    """A list of texts from a JSON array, else from Salesforce's multi-select form `a;b;c` (blanks dropped)."""
    split = f"list_filter(list_transform(string_split({text}, ';'), lambda x: trim(x)), lambda x: x <> '')"
    array = f"list_transform(({text})::JSON::VARCHAR[], lambda x: x::VARCHAR)"
    return (f"(CASE WHEN {text} IS NULL THEN NULL WHEN left(ltrim({text}), 1) = '[' AND json_valid({text}) "
            f"AND json_type({text}) = 'ARRAY' THEN {array} ELSE {split} END)")


KNOWN_KEYS = (
    "Webpage URL", "Referrer URL", "Query Parameters", "Client IP Address", "User Agent", "Form Fields", "Form Name",
    "Link", "Link ID", "Mailing ID", "Campaign Run ID", "Step ID", "Choice Number", "Device", "Is Mobile Device",
    "Platform", "Source Type", "Source", "List Name", "List ID", "Created Date", "New Value", "Old Value", "Reason",
    "Change Value", "New Status", "Old Status", "Success", "Program", "Lead ID",
)
UNSNAKED_KEY = r'"[^"]*[^a-z0-9_"][^"]*"\s*:'
"""A key (a string followed by a colon) not in snake case: what the generic renaming is still needed for."""


def snake(name: str) -> str:
    """`Webpage URL` → `webpage_url`: lower case, every run of other characters one `_`, none at the ends."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _snake_keys(text: str) -> str:
    """A JSON object's keys in snake case (`Webpage URL` → `webpage_url`), values untouched; other text as it was."""
    snake = "trim(regexp_replace(lower(k), '[^a-z0-9]+', '_', 'g'), '_')"
    value = f"json_extract({text}, '$.' || to_json(k)::VARCHAR)::VARCHAR"
    pairs = f"list_transform(json_keys({text}), lambda k: to_json({snake})::VARCHAR || ':' || {value})"
    return (f"(CASE WHEN json_valid({text}) AND json_type({text}) = 'OBJECT' "
            f"THEN '{{' || array_to_string({pairs}, ',') || '}}' ELSE {text} END)")


ID_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
NUMBER_MARKS = {"1,234.56": (",", "."), "1.234,56": (".", ","), "1 234,56": (" \u00a0\u202f", ","),
                "1'234.56": ("'\u2019", ".")}
"""Per number format: the characters grouping digits, and the decimal mark."""
CURRENCY = r"^(?:[A-Z]{3}|[$€£¥₹])\s*|\s*(?:[A-Z]{3}|[$€£¥₹])$"
"""A currency code or symbol before or after a number, as a report writes an amount (USD 1,500.00, 1.500,00 €)."""
ISO_OFFSET = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)\s*$"
"""An ISO 8601 time that names its offset (`Z`, `+02:00`): read as it says, whatever the mapping's time zone."""


def _salesforce_id(text: str) -> str:
    """A 15-character Salesforce id (as reports export it) as its 18-character form (as the API gives it): each
    five characters add one, naming which of them are capitals. Other text as it was."""
    added = []
    for start in (1, 6, 11):
        bits = " + ".join(f"(CASE WHEN substr({text}, {start + i}, 1) BETWEEN 'A' AND 'Z' THEN {1 << i} ELSE 0 END)"
                          for i in range(5))
        added.append(f"substr('{ID_CHECKSUM}', {bits} + 1, 1)")
    # The length first: an API's 18-character id (most of them) then skips the pattern, which costs as much again.
    return (f"(CASE WHEN length({text}) = 15 AND regexp_full_match({text}, '[0-9A-Za-z]{{15}}') "
            f"THEN {text} || {' || '.join(added)} ELSE {text} END)")


@dataclass(frozen=True)
class CompiledField:
    column: Column
    text: str  # the value as text after string transforms: the basis for "was something there?"
    value: str  # the typed value
    parsed: str | None = None  # for instants: the typed value before the accepted-range check


class ChunkCompiler:
    """Turns a mapping into SQL over a relation named `chunk` holding raw rows and their row numbers."""

    def __init__(self, mapping: Mapping, columns: list[str], source_instance_id: str, strict: bool = True) -> None:
        if strict:
            mapping.check_columns(columns)
        self.absent = sorted(mapping.absent(columns))
        self.mapping = mapping
        self.columns = columns + self.absent
        self.instance = source_instance_id
        self.entity = mapping.target
        self._hoisted: list[tuple[str, str]] = []

    def select_sql(self) -> str:
        self._hoisted = []
        fields = {name: self._compile(self.entity.column(name), spec) for name, spec in self.mapping.fields.items()}
        outputs = []
        for col in self.entity.mappable_columns:
            f = fields.get(col.name)
            outputs.append(f"{f.value if f else 'NULL'}::{DUCKDB_TYPES[col.type]} AS {ident(col.name)}")
        reasons = [r for f in fields.values() for r in self._reasons(f)]
        reason = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')" if reasons else "NULL::VARCHAR"
        raw = ", ".join(f"{ident(c)} := chunk.{ident(c)}" for c in self.columns)
        relation = "chunk"
        if self.absent:
            nulls = ", ".join(f"NULL::VARCHAR AS {ident(c)}" for c in self.absent)
            relation = f"(SELECT *, {nulls} FROM chunk) AS chunk"
        for name, expression in self._hoisted:
            relation = f"(SELECT *, {expression} AS {ident(name)} FROM {relation}) AS chunk"
        return (
            f"SELECT * EXCLUDE (_raw_struct), CASE WHEN _reason IS NOT NULL THEN to_json(_raw_struct)::VARCHAR END "
            f"AS _raw FROM (SELECT {', '.join(outputs)}, {ident(ROW_COLUMN)} AS source_row, {reason} AS _reason, "
            f"struct_pack({raw}) AS _raw_struct FROM {relation})"
        )

    def _compile(self, column: Column, spec: FieldSpec) -> CompiledField:
        text = self._source_text(spec)
        if column.name == "source_id" or column.name in self.entity.references:
            # A record's id, or the key of one it refers to, has no blank at its ends in any system: a space or a
            # no-break space pasted in made another record of it, and a reference to nothing.
            text = self._trimmed(text)
        parse: Transform | None = None
        for t in spec.transforms:
            if t.name in DEFAULT_PARSE.values():
                parse = t
            else:
                text = self._string_transform(text, t)
        if spec.default is not None:
            text = f"coalesce({text}, {literal(str(spec.default).lower() if isinstance(spec.default, bool) else str(spec.default))})"
        if column.is_email:  # whatever the mapping says, an address has no blank at its ends, nor a hidden character
            if not any(t.name == "trim" for t in spec.transforms):
                text = self._trimmed(text)
            text = unhidden_sql(self._hoist(text))
        formats: list[str] = []
        if parse is None and column.type in DEFAULT_PARSE:
            parse, formats = Transform(name=DEFAULT_PARSE[column.type]), self.mapping.date_formats
        if column.type is ColumnType.JSON:
            value = f"CASE WHEN json_valid({text}) THEN ({text})::JSON END"
        elif column.type is ColumnType.STRING_LIST:
            value = _string_list(text)
        else:
            value = self._parse(text, parse, formats) if parse else text
        if column.type in (ColumnType.DATE, ColumnType.TIMESTAMP):
            low, high = (literal(moment.isoformat()) + "::TIMESTAMPTZ" for moment in (EARLIEST, LATEST))
            bounded = f"(CASE WHEN {value} >= {low} AND {value} < {high} THEN {value} END)"
            return CompiledField(column, text, bounded, value)
        return CompiledField(column, text, value)

    def _trimmed(self, text: str) -> str:
        """`text` without blanks at its ends (`model/blanks.py`), empty as NULL."""
        return f"NULLIF({stripped_sql(self._hoist(text))}, '')"

    def _hoist(self, expression: str) -> str:
        """`expression` computed once per row, in a layer below the select: a transform that names its input
        several times would otherwise repeat the whole chain before it at each mention."""
        if expression.startswith('chunk."_h'):
            return expression
        name = f"_h{len(self._hoisted)}"
        self._hoisted.append((name, expression))
        return f"chunk.{ident(name)}"

    def _raw_text(self, col: str) -> str:
        if col in self.columns:
            ref = f"chunk.{ident(col)}"
        else:
            head, *rest = col.split(".")
            ref = f"chunk.{ident(head)}"
            for part in rest:
                ref = f"struct_extract({ref}, {literal(part)})"
        nulls = ", ".join(literal(v) for v in self.mapping.null_values if v != "")
        text = f"NULLIF(CAST({ref} AS VARCHAR), '')"
        return f"CASE WHEN {text} IN ({nulls}) THEN NULL ELSE {text} END" if nulls else text

    def _source_text(self, spec: FieldSpec) -> str:
        if spec.from_ is not None:
            return self._raw_text(spec.from_)
        if spec.concat is not None:
            parts = ", ".join(self._raw_text(c) for c in spec.concat)
            return f"NULLIF(concat_ws({literal(spec.sep)}, {parts}), '')"
        if spec.coalesce is not None:
            return f"coalesce({', '.join(self._raw_text(c) for c in spec.coalesce)})"
        constant = spec.constant
        return literal(str(constant).lower() if isinstance(constant, bool) else str(constant))

    def _string_transform(self, text: str, t: Transform) -> str:
        if t.name == "trim":
            return self._trimmed(text)
        if t.name == "lower":
            return f"lower({text})"
        if t.name == "upper":
            return f"upper({text})"
        if t.name == "email_domain":
            return f"NULLIF(lower(trim(split_part({text}, '@', 2))), '')"
        if t.name == "url_domain":
            return domain_sql(text)
        if t.name == "prefix":
            return f"({literal(t.arg)} || {text})"
        if t.name == "json_get":
            path = literal('$."' + t.arg.replace('"', '\\"') + '"')
            return f"(CASE WHEN json_valid({text}) THEN json_extract_string({text}, {path}) END)"
        if t.name == "snake_keys":
            return self._snake_keys(self._hoist(text))
        if t.name == "add_keys":
            pairs = ", ".join(f"{literal(str(k))}, {self._raw_text(c)}" for k, c in t.arg.items())
            return self._add_keys(self._hoist(text), pairs)
        if t.name == "salesforce_id":
            return _salesforce_id(self._hoist(text))
        if t.name == "source_key":
            source_type = t.arg or self.mapping.source_type
            return f"({text} || {literal('@' + self.instance + '.' + source_type)})"
        table = {str(k): v for k, v in t.arg.items() if k != "_default"}
        cases = " ".join(f"WHEN {text} = {literal(k)} THEN {literal(None if v is None else str(v))}" for k, v in table.items())
        default = literal(str(t.arg["_default"])) if "_default" in t.arg else text
        return f"(CASE WHEN {text} IS NULL THEN NULL {cases} ELSE {default} END)"

    def _snake_keys(self, text: str) -> str:
        """A JSON object's keys in snake case, other text as it was."""
        renamed = text
        for key in KNOWN_KEYS:  # Marketo's usual attribute names, renamed as text: far cheaper than parsing
            renamed = f"replace({renamed}, {literal(json.dumps(key) + ':')}, {literal(json.dumps(snake(key)) + ':')})"
        renamed = self._hoist(renamed)
        return self._hoist(f"(CASE WHEN regexp_matches({renamed}, {literal(UNSNAKED_KEY)}) THEN {_snake_keys(text)} "
                           f"ELSE {renamed} END)")

    def _add_keys(self, text: str, pairs: str) -> str:
        """The object (or a new one) with the `pairs` (key, value, ...) whose value is not null set; other text as
        it was."""
        # json_merge_patch drops a key whose value is null: a column the input lacks adds nothing.
        return self._hoist(
            f"(CASE WHEN {text} IS NULL OR (json_valid({text}) AND json_type({text}) = 'OBJECT') THEN "
            f"json_merge_patch(coalesce({text}, '{{}}'), json_object({pairs}))::VARCHAR ELSE {text} END)")

    def _parse(self, text: str, t: Transform, formats: list[str] | None = None) -> str:
        """The typed value of `text`; a date or timestamp without a format of its own is ISO 8601, else the first
        of `formats` it matches."""
        fmt = literal(t.arg) if t.arg else None
        if t.name == "to_date":
            if fmt:
                return f"CAST(try_strptime({text}, {fmt}) AS DATE)"
            iso = f"coalesce(TRY_CAST({text} AS DATE), CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS DATE))"
            tried = [f"CAST(try_strptime({text}, {literal(f)}) AS DATE)" for f in formats or []]
            return f"coalesce({iso}, {', '.join(tried)})" if tried else iso
        if t.name == "to_timestamp":
            if fmt:
                return self._moment(f"try_strptime({text}, {fmt})", str(t.arg))
            tried = [self._moment(f"try_strptime({text}, {literal(f)})", f) for f in formats or []]
            return f"coalesce({self._iso_moment(text)}, {', '.join(tried)})" if tried else self._iso_moment(text)
        if t.name == "to_number":
            # 'NaN', 'Infinity' and '-inf' cast to numbers no field means (and no JSON or XDM can hold): x - x is 0
            # for every finite number only, on DuckDB and Spark alike.
            number = self._hoist(f"TRY_CAST({self._number_text(text)} AS DOUBLE)")
            return f"(CASE WHEN {number} - {number} = 0 THEN {number} END)"
        if t.name == "to_integer":
            # DuckDB rounds '12.5' to 13 when casting text to an integer: accept only whole numbers. (round, not
            # floor: Spark's floor is a BIGINT, which overflows on 1e30 instead of leaving the row to quarantine.)
            number = self._number_text(text)
            as_double = f"TRY_CAST({number} AS DOUBLE)"
            return (
                f"(CASE WHEN regexp_full_match({number}, '[+-]?[0-9]+') THEN TRY_CAST({number} AS BIGINT) "
                f"WHEN {as_double} = round({as_double}) THEN TRY_CAST({as_double} AS BIGINT) END)"
            )
        words_true = ", ".join(literal(w) for w in TRUE_WORDS)
        words_false = ", ".join(literal(w) for w in FALSE_WORDS)
        norm = f"lower(trim({text}))"
        return f"(CASE WHEN {norm} IN ({words_true}) THEN TRUE WHEN {norm} IN ({words_false}) THEN FALSE END)"

    def _number_text(self, text: str) -> str:
        """`text` as a plain number's text: written in the mapping's number format, its digits ungrouped, its
        decimal mark a point and a currency code or symbol around it left out."""
        if self.mapping.number_format == "1234.56":
            return f"trim({text})"
        grouping, decimal = NUMBER_MARKS[self.mapping.number_format]
        s = self._hoist(f"trim({text})")
        # The sign first, so that a currency after it is found too: -$1,234.00, and an accountant's ($1,234.00).
        sign = f"(CASE WHEN {s} LIKE '(%)' OR {s} LIKE '-%' THEN '-' ELSE '' END)"
        unsigned = (f"(CASE WHEN {s} LIKE '(%)' THEN substr({s}, 2, length({s}) - 2) "
                    f"WHEN {s} LIKE '-%' THEN substr({s}, 2) ELSE {s} END)")
        plain = f"({sign} || regexp_replace(trim({unsigned}), {literal(CURRENCY)}, '', 'g'))"
        for mark in grouping:
            plain = f"replace({plain}, {literal(mark)}, '')"
        return f"replace({plain}, {literal(decimal)}, '.')" if decimal != "." else plain

    def _moment(self, parsed: str, fmt: str) -> str:
        """A time `fmt` parsed as an instant: one naming no offset (%z) is in the mapping's time zone."""
        zone = self.mapping.time_zone
        if zone and not re.search(r"%-?[zZ]", fmt):
            return f"timezone({literal(zone)}, CAST({parsed} AS TIMESTAMP))"
        return f"CAST({parsed} AS TIMESTAMPTZ)"

    def _iso_moment(self, text: str) -> str:
        """An ISO 8601 time as an instant: one without an offset is in the mapping's time zone."""
        zone = self.mapping.time_zone
        if not zone:
            return f"TRY_CAST({text} AS TIMESTAMPTZ)"
        return (f"(CASE WHEN regexp_matches({text}, {literal(ISO_OFFSET)}) THEN TRY_CAST({text} AS TIMESTAMPTZ) "
                f"ELSE timezone({literal(zone)}, TRY_CAST({text} AS TIMESTAMP)) END)")

    @staticmethod
    def _reasons(f: CompiledField) -> list[str]:
        name = f.column.name
        shown = f"'''' || left({f.text}, 80) || ''''"
        out = []
        if f.column.required:
            out.append(f"CASE WHEN {f.text} IS NULL THEN {literal(f'missing_required: {name} is empty')} END")
        if f.column.type in PARSE_FAILURE:
            code, says = PARSE_FAILURE[f.column.type]
            out.append(
                f"CASE WHEN {f.text} IS NOT NULL AND {f.parsed or f.value} IS NULL "
                f"THEN {literal(f'{code}: {name} ')} || {shown} || {literal(' ' + says)} END"
            )
        if f.parsed is not None:
            out.append(
                f"CASE WHEN {f.parsed} IS NOT NULL AND {f.value} IS NULL "
                f"THEN {literal(f'out_of_range: {name} ')} || {shown} || {literal(' is not ' + RANGE_TEXT)} END"
            )
        if f.column.is_email:
            out.append(
                f"CASE WHEN {f.value} IS NOT NULL AND NOT regexp_full_match({f.value}, {literal(EMAIL_PATTERN)}) "
                f"THEN {literal(f'bad_email: {name} ')} || {shown} || ' is not an e-mail address' END"
            )
        return out
