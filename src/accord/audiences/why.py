"""Why is (or isn't) a profile in an audience: every condition with its truth and the value that decided it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlglot import exp

from accord.audiences.ast import (
    Aggregate,
    And,
    Audience,
    Between,
    Compare,
    Condition,
    InValues,
    IsNull,
    Not,
    Occurrence,
    Or,
    Quantified,
)
from accord.audiences.compile import ID, Compiler
from accord.audiences.evaluate import needed
from accord.audiences.fields import Scope
from accord.audiences.prepared import refresh_tables
from accord.audiences.text import print_condition
from accord.engines.adapter import Engine
from accord.engines.registry import lake_engine
from accord.lake.store import Lake, now


@dataclass
class WhyLine:
    depth: int
    condition: str
    holds: bool
    value: Any = None


@dataclass
class Explanation:
    """Whether one profile is a member, each condition's verdict for it, and the audience's members now (the
    evaluation that explains one profile decides them all)."""

    member: bool
    lines: list[WhyLine]
    members: list[str]


def explain_membership(
    lake: Lake, audiences: list[Audience], name: str, profile_id: str, as_of: datetime | None = None,
    engine: Engine | None = None,
) -> Explanation:
    """Explain on `engine` (default: the lake's own, which answers at once)."""
    chosen = needed(audiences, name)
    audience = next(a for a in chosen if a.name == name)
    refresh_tables(lake)
    compiler = Compiler((as_of or now()).astimezone(timezone.utc), lake.schema)
    compiled = compiler.compile_all(chosen)
    scope = Scope(audience.of, audience.of, lake.schema)
    alias = audience.of[0]
    nodes: list[tuple[int, Condition]] = []
    _flatten(audience.where, 0, nodes)
    columns = []
    for i, (_, node) in enumerate(nodes):
        columns.append(exp.alias_(compiler.condition(node, scope, alias), f"c{i}"))
        value = _value(compiler, node, scope, alias)
        columns.append(exp.alias_(value if value is not None else exp.null(), f"v{i}"))
    # The feature tables are built after every condition and value is compiled: a value can add a feature (the
    # count behind `all opportunity (...)`) that the audience's own conditions did not need.
    query = (
        compiled.profile_rows(audience.of, alias)
        .select(*columns, append=False)
        .where(exp.EQ(this=exp.column(ID[audience.of], table=alias, quoted=True), expression=exp.Literal.string(profile_id)))
    )
    decided, row = (engine or lake_engine(lake)).explain(compiled, query)
    if row is None:
        raise LookupError(f"{profile_id} is not a {audience.of} profile")
    lines = [WhyLine(depth, print_condition(node), bool(row[2 * i]), row[2 * i + 1]) for i, (depth, node) in enumerate(nodes)]
    members = sorted(p for a, p in zip(decided.column("audience").to_pylist(), decided.column("profile_id").to_pylist())
                     if a == name)
    return Explanation(bool(row[0]), lines, members)


def _flatten(node: Condition, depth: int, out: list[tuple[int, Condition]]) -> None:
    out.append((depth, node))
    if isinstance(node, (And, Or)):
        for item in node.items:
            _flatten(item, depth + 1, out)
    elif isinstance(node, Not):
        _flatten(node.item, depth + 1, out)


def _value(compiler: Compiler, node: Condition, scope: Scope, alias: str) -> exp.Expression | None:
    """The value a condition looked at: a field, a count, a sum, a time."""
    if isinstance(node, (Compare, InValues, Between, IsNull)):
        return compiler.field_column(node.field, scope, alias)
    if isinstance(node, Aggregate):
        return _measure(compiler, node, scope, alias)
    if isinstance(node, Quantified):
        counted = Aggregate(function="count", relation=node.relation, where=node.where, window=node.window, op=">", value=0)
        return _measure(compiler, counted, scope, alias)
    if isinstance(node, Occurrence):
        test = compiler.occurrence(node, scope, alias)
        return test.find(exp.Column) if test is not None else None
    return None


def _measure(compiler: Compiler, node: Aggregate, scope: Scope, alias: str) -> exp.Expression:
    comparison = compiler.aggregate(node, scope, alias)
    return comparison.this
