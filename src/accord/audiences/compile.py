"""Compile audiences to SQL with sqlglot expressions, for DuckDB and Spark SQL alike.

All audiences of a workspace compile together: every event condition becomes one column of a feature table
computed in one pass over the events (per person, and per account), and each audience is then a predicate over
those features and the profile tables the evaluator prepares (`aud_*`, see `audiences/tables.py`).
Every predicate is two-valued (a missing value makes a comparison false), so `not` means what it says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlglot import exp

from accord.audiences.ast import (
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
)
from accord.audiences.fields import Scope
from accord.model.entities import ColumnType

ID = {"person": "person_id", "account": "account_id"}
BASE = {"person": "aud_people", "account": "aud_accounts"}
OPPORTUNITIES = {"person": "aud_person_opps", "account": "aud_account_opps"}
EVENTS = {"person": "aud_person_events", "account": "aud_account_events"}
FEATURES = {"person": "aud_person_features", "account": "aud_account_features"}


class CompileError(ValueError):
    """An audience that parses but cannot be evaluated (a window on opportunities, a wrong audience reference...)."""


def column_name(field_name: str) -> str:
    """`account.industry` is column `acc_industry` of aud_people."""
    return field_name.replace("account.", "acc_", 1) if field_name.startswith("account.") else field_name


@dataclass
class Feature:
    name: str
    level: str  # person or account: whose events it aggregates
    expression: exp.Expression


@dataclass
class CompiledAudiences:
    """Feature queries plus one query per audience, in an order where references come first."""

    features: dict[str, list[Feature]] = field(default_factory=lambda: {"person": [], "account": []})
    queries: dict[str, exp.Select] = field(default_factory=dict)

    def feature_query(self, level: str) -> exp.Select | None:
        feats = self.features[level]
        if not feats:
            return None
        select = exp.select(exp.column(ID[level], table="e", quoted=True))
        for f in feats:
            select = select.select(exp.alias_(f.expression, f.name, quoted=True))
        return select.from_(exp.to_table(EVENTS[level]).as_("e")).group_by(exp.column(ID[level], table="e", quoted=True))


class Compiler:
    """Compiles audiences evaluated at `as_of` (UTC): `in last 30 days` ends there."""

    def __init__(self, as_of: datetime) -> None:
        self.as_of = as_of.astimezone(timezone.utc)
        self.out = CompiledAudiences()
        self._keys: dict[tuple[str, str], str] = {}
        self._aliases = 0
        self._audiences: dict[str, Audience] = {}

    def compile_all(self, audiences: list[Audience]) -> CompiledAudiences:
        self._audiences = {a.name: a for a in audiences}
        for audience in order_by_reference(audiences):
            self.out.queries[audience.name] = self.audience_query(audience)
        return self.out

    def audience_query(self, audience: Audience) -> exp.Select:
        scope = Scope(audience.of, audience.of)
        alias = self._alias(audience.of[0])
        predicate = self.condition(audience.where, scope, alias)
        source = self.with_features(audience.of, alias)
        return exp.select(exp.alias_(exp.column(ID[audience.of], table=alias, quoted=True), "profile_id")).from_(
            source[0]
        ).join(source[1], on=source[2], join_type="left").where(predicate)

    # -- conditions --------------------------------------------------------------------------------------
    def condition(self, cond: Condition, scope: Scope, alias: str) -> exp.Expression:
        if isinstance(cond, And):
            return exp.and_(*(self.condition(c, scope, alias) for c in cond.items))
        if isinstance(cond, Or):
            return exp.or_(*(self.condition(c, scope, alias) for c in cond.items))
        if isinstance(cond, Not):
            return exp.not_(exp.paren(self.condition(cond.item, scope, alias)))
        if isinstance(cond, Compare):
            return _false_if_null(self._compare(cond, scope, alias))
        if isinstance(cond, InValues):
            col = self.field_column(cond.field, scope, alias)
            values = [self._literal(v, scope.field_type(cond.field)) for v in cond.values]
            inside = _false_if_null(exp.In(this=col, expressions=values))
            return exp.not_(inside) if cond.negated else inside
        if isinstance(cond, IsNull):
            test = exp.Is(this=self.field_column(cond.field, scope, alias), expression=exp.Null())
            return exp.not_(test) if cond.negated else test
        if isinstance(cond, Between):
            kind = scope.field_type(cond.field)
            return _false_if_null(
                exp.Between(
                    this=self.field_column(cond.field, scope, alias),
                    low=self._literal(cond.low, kind),
                    high=self._literal(cond.high, kind),
                )
            )
        if isinstance(cond, Quantified):
            return self._quantified(cond, scope, alias)
        if isinstance(cond, Aggregate):
            return self.aggregate(cond, scope, alias)
        if isinstance(cond, Occurrence):
            return self.occurrence(cond, scope, alias)
        if isinstance(cond, (InCampaign, InList)):
            return self._membership(cond, scope, alias)
        if isinstance(cond, InAudience):
            return self._in_audience(cond, scope, alias)
        raise CompileError(f"cannot compile {cond!r}")

    def _compare(self, cond: Compare, scope: Scope, alias: str) -> exp.Expression:
        col = self.field_column(cond.field, scope, alias)
        if cond.op == "contains":
            return exp.GT(this=exp.func("instr", col, exp.Literal.string(str(cond.value))), expression=exp.Literal.number(0))
        if cond.op == "starts with":
            text = str(cond.value)
            return exp.EQ(
                this=exp.Substring(this=col, start=exp.Literal.number(1), length=exp.Literal.number(len(text))),
                expression=exp.Literal.string(text),
            )
        if cond.op == "ends with":
            text = str(cond.value)
            return exp.EQ(this=exp.Right(this=col, expression=exp.Literal.number(len(text))), expression=exp.Literal.string(text))
        value = self._literal(cond.value, scope.field_type(cond.field))
        return _comparison(cond.op, col, value)

    def _quantified(self, cond: Quantified, scope: Scope, alias: str) -> exp.Expression:
        inner = scope.relation(cond.relation)
        if cond.relation == "event":
            if cond.quantifier == "all":
                counted = self._event_count(scope.entity, exp.not_(exp.paren(self._event_predicate(cond.where))), cond.window)
                return exp.EQ(this=self._feature(counted, alias), expression=exp.Literal.number(0))
            feature = self._feature(self._event_count(scope.entity, self._event_predicate(cond.where), cond.window), alias)
            if cond.quantifier == "any":
                return exp.GT(this=feature, expression=exp.Literal.number(0))
            return exp.EQ(this=feature, expression=exp.Literal.number(0))
        self._no_window(cond.window, cond.relation)
        sub_alias = self._alias(cond.relation[0])
        where = self.condition(cond.where, inner, sub_alias) if cond.where is not None else exp.true()
        if cond.quantifier == "all":
            where = exp.not_(exp.paren(where))
        exists = exp.Exists(this=self._related(cond.relation, scope, alias, sub_alias).where(where, append=True))
        return exists if cond.quantifier == "any" else exp.not_(exists)

    def aggregate(self, cond: Aggregate, scope: Scope, alias: str) -> exp.Expression:
        inner = scope.relation(cond.relation)
        number = exp.Literal.number(cond.value)
        if cond.relation == "event":
            feature = self._feature(self._event_count(scope.entity, self._event_predicate(cond.where), cond.window), alias)
            return _comparison(cond.op, feature, number)
        self._no_window(cond.window, cond.relation)
        sub_alias = self._alias(cond.relation[0])
        if cond.function == "count":
            measure: exp.Expression = exp.Count(this=exp.Star())
        else:
            measure = exp.Coalesce(
                this=exp.Sum(this=exp.column(column_name(cond.field or ""), table=sub_alias, quoted=True)),
                expressions=[exp.Literal.number(0)],
            )
        sub = self._related(cond.relation, scope, alias, sub_alias, measure)
        if cond.where is not None:
            sub = sub.where(self.condition(cond.where, inner, sub_alias), append=True)
        return _comparison(cond.op, exp.Subquery(this=sub), number)

    def occurrence(self, cond: Occurrence, scope: Scope, alias: str) -> exp.Expression:
        scope.relation("event")
        at = exp.column("timestamp", table="e", quoted=True)
        hit = exp.and_(self._event_predicate(cond.where), self._until_now())
        picked = exp.Case(ifs=[exp.If(this=hit, true=at)])
        aggregate = exp.Max(this=picked) if cond.which == "last" else exp.Min(this=picked)
        feature = self._feature(self._register(scope.entity, aggregate), alias, zero=False)
        boundary = self._timestamp(self.as_of - timedelta(days=cond.days))
        test = exp.LT(this=feature, expression=boundary) if cond.op == "before" else exp.GT(this=feature, expression=boundary)
        return _false_if_null(test)

    def _membership(self, cond: InCampaign | InList, scope: Scope, alias: str) -> exp.Expression:
        if scope.entity != "person":
            what = "campaign" if isinstance(cond, InCampaign) else "list"
            raise CompileError(f"in {what} applies to people; for an account write: any person (in {what} ...)")
        sub = self._alias("m")
        if isinstance(cond, InCampaign):
            test = exp.EQ(this=exp.column("campaign", table=sub, quoted=True), expression=exp.Literal.string(cond.campaign))
            if cond.status is not None:
                test = exp.and_(test, exp.EQ(this=exp.column("status", table=sub, quoted=True), expression=exp.Literal.string(cond.status)))
            table = "aud_campaigns"
        else:
            test = exp.EQ(this=exp.column("list", table=sub, quoted=True), expression=exp.Literal.string(cond.name))
            table = "aud_lists"
        link = exp.EQ(this=exp.column("person_id", table=sub, quoted=True), expression=exp.column("person_id", table=alias, quoted=True))
        return exp.Exists(this=exp.select("1").from_(exp.to_table(table).as_(sub)).where(exp.and_(link, test)))

    def _in_audience(self, cond: InAudience, scope: Scope, alias: str) -> exp.Expression:
        target = self._audiences.get(cond.name)
        if target is None:
            raise CompileError(f"no audience named {cond.name!r}")
        if target.of != scope.entity:
            raise CompileError(f"audience {cond.name!r} is of {target.of}, not of {scope.entity}")
        members = exp.select("profile_id").from_("aud_members").where(
            exp.EQ(this=exp.column("audience"), expression=exp.Literal.string(cond.name))
        )
        return exp.In(this=exp.column(ID[scope.entity], table=alias, quoted=True), query=exp.Subquery(this=members))

    # -- relations and features --------------------------------------------------------------------------
    def _related(
        self, relation: str, scope: Scope, alias: str, sub_alias: str, measure: exp.Expression | None = None
    ) -> exp.Select:
        """SELECT over the rows of `relation` that belong to the row `alias` of `scope`."""
        select = exp.select(measure or exp.Literal.number(1))
        owner = exp.column(ID[scope.entity], table=alias, quoted=True)
        if relation == "opportunity":
            return select.from_(exp.to_table(OPPORTUNITIES[scope.entity]).as_(sub_alias)).where(
                exp.EQ(this=exp.column(ID[scope.entity], table=sub_alias, quoted=True), expression=owner)
            )
        link = self._alias("l")
        people, pf_join, pf_on = self.with_features("person", sub_alias)
        return (
            select.from_(exp.to_table("aud_person_account").as_(link))
            .join(people, on=exp.EQ(this=exp.column("person_id", table=sub_alias, quoted=True),
                                    expression=exp.column("person_id", table=link, quoted=True)))
            .join(pf_join, on=pf_on, join_type="left")
            .where(exp.EQ(this=exp.column("account_id", table=link, quoted=True), expression=owner))
        )

    def with_features(self, level: str, alias: str) -> tuple[exp.Expression, exp.Expression, exp.Expression]:
        """The profile table of `level` under `alias`, and how to left-join its feature row (alias `alias_f`)."""
        feats = f"{alias}_f"
        on = exp.EQ(this=exp.column(ID[level], table=feats, quoted=True), expression=exp.column(ID[level], table=alias, quoted=True))
        return exp.to_table(BASE[level]).as_(alias), exp.to_table(FEATURES[level]).as_(feats), on

    def _event_predicate(self, where: Condition | None) -> exp.Expression:
        inner = Scope("event", "person")
        return self.condition(where, inner, "e") if where is not None else exp.true()

    def _event_count(self, level: str, predicate: exp.Expression, window: Window | None) -> str:
        hit = exp.and_(predicate, self._window(window))
        counted = exp.Sum(this=exp.Case(ifs=[exp.If(this=hit, true=exp.Literal.number(1))], default=exp.Literal.number(0)))
        return self._register(level, counted)

    def _register(self, level: str, expression: exp.Expression) -> str:
        key = (level, expression.sql("duckdb"))
        if key not in self._keys:
            name = f"f{len(self._keys)}"
            self._keys[key] = name
            self.out.features[level].append(Feature(name, level, expression))
        return self._keys[key]

    def _feature(self, name: str, alias: str, zero: bool = True) -> exp.Expression:
        col = exp.column(name, table=f"{alias}_f", quoted=True)
        return exp.Coalesce(this=col, expressions=[exp.Literal.number(0)]) if zero else col

    def _window(self, window: Window | None) -> exp.Expression:
        at = exp.column("timestamp", table="e", quoted=True)
        if window is None:
            return self._until_now()
        if window.last_days is not None:
            start = self._timestamp(self.as_of - timedelta(days=window.last_days))
            return exp.and_(exp.GTE(this=at, expression=start), self._until_now())
        start = datetime.combine(window.start, time(), timezone.utc)
        end = datetime.combine(window.end, time(), timezone.utc) + timedelta(days=1)
        return exp.and_(exp.GTE(this=at, expression=self._timestamp(start)), exp.LT(this=at, expression=self._timestamp(end)),
                        self._until_now())

    def _until_now(self) -> exp.Expression:
        return exp.LTE(this=exp.column("timestamp", table="e", quoted=True), expression=self._timestamp(self.as_of))

    @staticmethod
    def _no_window(window: Window | None, relation: str) -> None:
        if window is not None:
            raise CompileError(f"a time window applies to events, not to {relation}")

    # -- values ------------------------------------------------------------------------------------------
    def field_column(self, name: str, scope: Scope, alias: str) -> exp.Expression:
        scope.field_type(name)
        return exp.column(column_name(name), table=alias, quoted=True)

    def _literal(self, value: Scalar, kind: ColumnType) -> exp.Expression:
        if isinstance(value, bool):
            return exp.true() if value else exp.false()
        if isinstance(value, (int, float)):
            return exp.Literal.number(value)
        if isinstance(value, date):
            if kind is ColumnType.TIMESTAMP:
                return self._timestamp(datetime.combine(value, time(), timezone.utc))
            return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
        return exp.Literal.string(value)

    @staticmethod
    def _timestamp(moment: datetime) -> exp.Expression:
        text = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00:00")
        return exp.cast(exp.Literal.string(text), "TIMESTAMPTZ")

    def _alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"


def _comparison(op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
    kinds = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
    return kinds[op](this=left, expression=right)


def _false_if_null(test: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=test, expressions=[exp.false()])


def order_by_reference(audiences: list[Audience]) -> list[Audience]:
    """Audiences with those they reference first; a cycle is an error that names it."""
    from accord.audiences.ast import walk

    by_name = {a.name: a for a in audiences}
    done: dict[str, Audience] = {}
    visiting: list[str] = []

    def visit(a: Audience) -> None:
        if a.name in done:
            return
        if a.name in visiting:
            cycle = " → ".join([*visiting[visiting.index(a.name):], a.name])
            raise CompileError(f"audiences reference each other in a cycle: {cycle}")
        visiting.append(a.name)
        for node in walk(a.where):
            if isinstance(node, InAudience):
                if node.name not in by_name:
                    raise CompileError(f"audience {a.name!r} references {node.name!r}, which does not exist")
                visit(by_name[node.name])
        visiting.pop()
        done[a.name] = a

    for a in audiences:
        visit(a)
    return list(done.values())
