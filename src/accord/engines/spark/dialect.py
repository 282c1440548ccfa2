"""DuckDB SQL as Spark SQL: sqlglot transpiles it, after the functions Spark says differently (or lacks) are
rewritten to what Spark means by the same thing; what Spark cannot say is an error, never a silent change."""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.time import format_time

SNAKE_KEYS = "accord_snake_keys"
"""`accord_snake_keys(text)`: a JSON object's keys in snake case; other text as it was (see `ingest/compile.py`)."""
ADD_KEYS = "accord_add_keys"
"""`accord_add_keys(text, key, value, ...)`: the object with these keys set to the values that are not null."""

_IS_OBJECT = "schema_of_variant(try_parse_json(X)) LIKE 'OBJECT%'"
_MAP = "from_json(X, 'map<string,variant>')"
TEMPLATES = {
    "JSON_VALID": "(try_parse_json(X) IS NOT NULL)",
    # Spark names a JSON value's type with its schema: OBJECT<...>, ARRAY<...>, STRING, BIGINT, ...
    "JSON_TYPE": "upper(split_part(schema_of_variant(try_parse_json(X)), '<', 1))",
    SNAKE_KEYS: f"(CASE WHEN {_IS_OBJECT} THEN to_json(transform_keys({_MAP}, "
                "(k, v) -> trim(BOTH '_' FROM regexp_replace(lower(k), '[^a-z0-9]+', '_')))) ELSE X END)",
    ADD_KEYS: f"(CASE WHEN X IS NULL OR {_IS_OBJECT} THEN to_json(map_concat(map_filter("
              "from_json(coalesce(X, '{}'), 'map<string,variant>'), (k, v) -> NOT array_contains(map_keys(NEW), k)), "
              "NEW)) ELSE X END)",
    # Nulls stay as keys (DuckDB's to_json keeps them): a quarantined row's raw form names every column.
    "TO_JSON": "to_json(X, map('ignoreNullFields', 'false'))",
}
_NEW_KEYS = "from_json(to_json(PAIRS), 'map<string,variant>')"  # to_json leaves out the null values


def to_spark(sql: str) -> str:
    """DuckDB SQL as Spark SQL."""
    tree = sqlglot.parse_one(sql, read="duckdb").transform(_spark_form)
    return tree.sql("spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


def _spark_form(node: exp.Expression) -> exp.Expression:
    """`node` as Spark means it. A replaced node's subtree is not visited again, so its arguments are first put in
    Spark's form here."""
    rewrite = _REWRITES.get(_name(node))
    if rewrite is None:
        return node
    args = [a.transform(_spark_form) for a in _arguments(node)]
    return rewrite(args)


def _name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        return "cast_json"
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Cast) and node.this.to.is_type(exp.DataType.Type.JSON):
        return "json_array"
    return type(node).__name__


def _arguments(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    if _name(node) == "json_array":
        return [node.this.this]
    return [v for k in node.arg_types if isinstance(v := node.args.get(k), exp.Expression)]


def _template(text: str, **values: exp.Expression) -> exp.Expression:
    tree = sqlglot.parse_one(text, read="spark")
    return tree.transform(lambda n: values[n.name].copy() if isinstance(n, exp.Column) and n.name in values else n)


def _strptime(args: list[exp.Expression]) -> exp.Expression:
    """DuckDB's strptime format (C's) as Java's; null when the text does not match, as `try_strptime` is."""
    text, fmt = args
    java = format_time(_unpadded(fmt.name), Spark.INVERSE_TIME_MAPPING, Spark.INVERSE_TIME_TRIE)
    return exp.Anonymous(this="try_to_timestamp", expressions=[text, exp.Literal.string(java)])


def _unpadded(fmt: str) -> str:
    """DuckDB reads `%m` `%d` `%H` `%I` with one digit or two (`3/5/2025`); Java's `MM` wants two, its `M` either.
    So each becomes `%-m` ... (Java's `M`) where a separator stands on both sides: between two numbers without
    one (`%Y%m%d`), the widths are what tells them apart."""
    tokens = re.findall(r"%-?[A-Za-z]|.", fmt, flags=re.DOTALL)
    directive = [t.startswith("%") and len(t) > 1 for t in tokens]
    for i, token in enumerate(tokens):
        beside = (i > 0 and directive[i - 1]) or (i + 1 < len(tokens) and directive[i + 1])
        if token in ("%m", "%d", "%H", "%I") and not beside:
            tokens[i] = "%-" + token[1]
    return "".join(tokens)


def _add_keys(args: list[exp.Expression]) -> exp.Expression:
    text, *pairs = args
    named = exp.Anonymous(this="named_struct", expressions=pairs)
    return _template(TEMPLATES[ADD_KEYS], X=text, NEW=_template(_NEW_KEYS, PAIRS=named))


_REWRITES: dict[str, Callable[[list[exp.Expression]], exp.Expression]] = {
    "json_valid": lambda a: _template(TEMPLATES["JSON_VALID"], X=a[0]),
    "strlen": lambda a: exp.Anonymous(this="octet_length", expressions=a),  # bytes, as DuckDB's strlen counts
    "JSONType": lambda a: _template(TEMPLATES["JSON_TYPE"], X=a[0]),
    "RegexpFullMatch": lambda a: exp.RegexpLike(this=a[0], expression=exp.Literal.string(f"^(?:{a[1].name})$")),
    "try_strptime": _strptime,
    # DuckDB's timezone(zone, wall-clock time) is the instant that time is in the zone.
    "timezone": lambda a: exp.Anonymous(this="to_utc_timestamp", expressions=[a[1], a[0]]),
    "to_json": lambda a: _template(TEMPLATES["TO_JSON"], X=a[0]),
    "cast_json": lambda a: a[0],  # JSON is text on Spark
    "json_array": lambda a: _template("from_json(X, 'array<string>')", X=a[0]),
    SNAKE_KEYS: lambda a: _template(TEMPLATES[SNAKE_KEYS], X=a[0]),
    ADD_KEYS: _add_keys,
}
