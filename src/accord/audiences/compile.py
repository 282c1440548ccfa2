"""Compile audiences to SQL with sqlglot expressions, for DuckDB and Spark SQL alike.

All audiences of a workspace compile together and share work. Every condition on a related table (events,
opportunities, lists, campaigns, and an account's people) becomes one column of a feature table, and each
feature table is computed in one grouped pass over its source, for all audiences at once. Each audience is then
a predicate over its profile table and those features; all predicates of one kind of profile are evaluated in one
wide SELECT (one per level of `in audience` references). A condition that meets a missing value is false, and
`not` turns false into true, as in plain logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property

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
    walk,
)
from accord.audiences.fields import Scope, property_kind, property_path
from accord.audiences.memberships import ACTIVE_ROWS
from accord.audiences.rows import NUMBER_TEXT as PROPERTY_NUMBER
from accord.lake.sql import literal
from accord.model.entities import ColumnType
from accord.model.schema import STANDARD, Schema

ID = {"person": "person_id", "account": "account_id"}
BASE = {"person": "aud_people", "account": "aud_accounts"}
# Feature sources per profile kind: source code → (table, alias of its rows).
SOURCES = {
    "person": {"ev": ("aud_person_events", "e"), "op": ("aud_person_opps", "o"), "li": ("aud_lists", "m"),
               "ca": ("aud_campaigns", "m")},
    "account": {"ev": ("aud_account_events", "e"), "op": ("aud_account_opps", "o"), "pe": ("aud_person_account", "l")},
}


OBJECT_ROW = "x"
"""The row alias of a custom object's records in its feature table."""


def object_source(name: str) -> str:
    """The feature source code of a custom object: `Subscription__c` → `x_subscription__c`."""
    return "x_" + name.lower()


def object_table(level: str, name: str) -> str:
    """The aud_* table of a custom object's records per person or per account."""
    return f"aud_{level}_{object_source(name)}"


class CompileError(ValueError):
    """An audience that parses but cannot be evaluated (a window on opportunities, a wrong audience reference...)."""


def column_name(field_name: str) -> str:
    """`account.industry` is column `acc_industry` of aud_people."""
    return field_name.replace("account.", "acc_", 1) if field_name.startswith("account.") else field_name


def feature_table(level: str, source: str) -> str:
    return f"aud_{level}_{source}_features"


MEMBERS = "aud_members"
"""The members decided so far in an evaluation (audience, profile_id), which `in audience` reads."""


@dataclass
class Feature:
    name: str
    level: str  # person or account: whose rows it aggregates
    source: str  # ev, op, li, ca, pe
    expression: exp.Expression


@dataclass
class ResultLevel:
    """One wide SELECT: a profile id and a column per audience of this level, TRUE for its members, else NULL."""

    of: str
    table: str
    query: exp.Select
    columns: dict[str, str]  # audience name → column
    depth: int = 0
    """How many levels of `in audience` come before it: its features may read their members."""


@dataclass
class CompiledAudiences:
    features: list[Feature] = field(default_factory=list)
    levels: list[ResultLevel] = field(default_factory=list)
    # Per audience, in the order compiled (those referenced first): its kind and condition.
    predicates: dict[str, tuple[str, exp.Expression]] = field(default_factory=dict)
    # Event features that all require one event type are computed over that type's events alone (`ev0`, `ev1`, …):
    # grouping fewer rows with fewer aggregates is what makes one pass beat one query per audience.
    event_types: dict[str, str] = field(default_factory=dict)  # source code → event type
    objects: tuple[str, ...] = ()  # the custom objects of the schema compiled for
    # An incremental evaluation decides only some profiles: level → a table of their ids (column profile_id).
    within: dict[str, str] = field(default_factory=dict)
    # People's feature tables kept in the lake between runs (DuckDB), so a run that decides some people updates
    # only their rows and an account's conditions on its people read everyone's; `all_features` recomputes all.
    keep_features: bool = False
    all_features: bool = False
    referenced: set[str] = field(default_factory=set)  # audiences that others test with `in audience`
    # Features of an account's people that test `in audience` read the members of the levels before theirs, so
    # they have tables of their own (`pe1`, `pe2`, …), built once those levels are decided: source code → depth.
    after: dict[str, int] = field(default_factory=dict)

    @cached_property
    def queries(self) -> dict[str, exp.Select]:
        """One stand-alone query per audience, for reading (`accord audiences explain --sql`): built when asked
        for, since an evaluation never runs them (on 50 audiences they took a third of the compile)."""
        return {name: _without_unread_features(self.profile_ids(of).where(predicate))
                for name, (of, predicate) in self.predicates.items()}

    def profile_ids(self, of: str) -> exp.Select:
        """SELECT each profile's id (as `profile_id`) from its row joined to its feature tables."""
        key = exp.column(ID[of], table=of[0], quoted=True)
        return self.profile_rows(of, of[0]).select(exp.alias_(key, "profile_id"), append=False)

    def profile_rows(self, of: str, alias: str) -> exp.Select:
        """FROM the profile table of `of` under `alias`, left-joined to each of its feature tables."""
        select = exp.select("*").from_(exp.to_table(BASE[of]).as_(alias))
        for source in self.feature_sources(of):
            feats = f"{alias}_{source}"
            select = select.join(
                exp.to_table(feature_table(of, source)).as_(feats),
                on=exp.EQ(this=exp.column(ID[of], table=feats, quoted=True),
                          expression=exp.column(ID[of], table=alias, quoted=True)),
                join_type="left",
            )
        return select

    def source_tables(self, level: str) -> dict[str, tuple[str, str]]:
        """Source code → (table, row alias) for `level`: Accord's relations and the custom objects."""
        return SOURCES[level] | {object_source(o): (object_table(level, o), OBJECT_ROW) for o in self.objects}

    def sources(self, level: str) -> list[tuple[str, str, str]]:
        """(source code, table, row alias) of every feature table of `level`, in build order."""
        out = []
        for source, (table, alias) in self.source_tables(level).items():
            if source == "ev":
                out.extend((code, table, alias) for code in sorted(self.event_types, key=lambda c: int(c[2:])))
            out.append((source, table, alias))
            if source == "pe":
                out.extend((code, table, alias) for code in sorted(self.after, key=self.after.__getitem__))
        return [s for s in out if any(f.level == level and f.source == s[0] for f in self.features)]

    def feature_tables(self, depth: int | None = None) -> list[tuple[str, exp.Select]]:
        """(table, query) for every feature table, in the order they must be built; with `depth`, only those
        to build before the result levels of that depth (and after the levels before it)."""
        out = []
        for level in ("person", "account"):
            for source, table, alias in self.sources(level):
                if depth is not None and self.after.get(source, 0) != depth:
                    continue
                feats = [f for f in self.features if f.level == level and f.source == source]
                key = exp.column(ID[level], table=alias, quoted=True)
                expressions = {f.name: f.expression for f in feats}
                of_type = None
                if source in self.event_types:
                    of_type = exp.EQ(this=exp.column("event_type", table=alias, quoted=True),
                                     expression=exp.Literal.string(self.event_types[source]))
                    expressions = {name: _without_test(e, of_type) for name, e in expressions.items()}
                select = exp.select(key, *(exp.alias_(e, name, quoted=True) for name, e in expressions.items()))
                select = select.from_(exp.to_table(table).as_(alias))
                if of_type is not None:
                    select = select.where(of_type)
                counted = _rows_counted(list(expressions.values()))
                if counted is not None:
                    select = select.where(counted)
                if source == "pe" or source in self.after:
                    select = _join_people(select, alias, "p", self)
                if level in self.within and not (level == "person" and self.all_features):
                    select = select.where(_key_in(key, self.within[level]))
                out.append((feature_table(level, source), _without_unread_features(select.group_by(key))))
        return out

    def kept_tables(self) -> set[str]:
        """The feature tables an engine keeps between runs (`keep_features`): the people's."""
        return {feature_table("person", s) for s in self.feature_sources("person")} if self.keep_features else set()

    def feature_sources(self, level: str) -> list[str]:
        return [s[0] for s in self.sources(level)]

    def undecided_members_sql(self) -> str | None:
        """The recorded members of referenced audiences among the profiles this evaluation does not decide
        (`in audience` must see every member), or None when it decides everyone or nothing is referenced."""
        if not (self.within and self.referenced):
            return None
        deciding = " UNION ALL ".join(f"SELECT profile_id FROM {table}" for table in self.within.values())
        names = ", ".join(literal(name) for name in sorted(self.referenced))
        return f"{ACTIVE_ROWS} AND audience IN ({names}) AND profile_id NOT IN ({deciding})"

    def tables_read(self) -> set[str]:
        """The tables the feature and result queries read (so a scoped evaluation builds only those)."""
        queries = [q for _, q in self.feature_tables()] + [level.query for level in self.levels]
        return {t.name for q in queries for t in q.find_all(exp.Table)}


def _key_in(key: exp.Expression, table: str) -> exp.Expression:
    """`key IN (SELECT profile_id FROM table)`."""
    return exp.In(this=key, query=exp.Subquery(this=exp.select("profile_id").from_(table)))


def _without_test(feature: exp.Expression, test: exp.Expression) -> exp.Expression:
    """`feature` with `test` left out of its FILTER: the feature table's WHERE holds it for every row, and
    testing it again per feature cost a third of the scan of a busy event type."""
    if not isinstance(feature, exp.Filter):
        return feature
    feature, dropped = feature.copy(), test.sql()
    where = feature.expression
    kept = [c for c in _conjuncts(where.this) if c.sql() != dropped]
    where.set("this", exp.and_(*kept) if kept else exp.true())
    return feature


def _rows_counted(features: list[exp.Expression]) -> exp.Expression | None:
    """The rows some feature aggregates (its FILTERs or'ed), or None when one reads every row. A profile none of
    whose rows counts then has no feature row, which its left join reads as a zero count or a missing value, as
    before; grouping fewer rows saved 0.17 s of 1.0 on the 50-audience bench."""
    tests: dict[str, exp.Expression] = {}
    for feature in features:
        if not isinstance(feature, exp.Filter) or feature.expression.this == exp.true():
            return None
        tests.setdefault(feature.expression.this.sql(), feature.expression.this)
    return exp.or_(*(t.copy() for t in tests.values())) if tests else None


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    """The parts of a conjunction, through parentheses: `(a AND b) AND c` → a, b, c."""
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    return [condition]


def _without_unread_features(select: exp.Select) -> exp.Select:
    """`select` without its left joins to feature tables that nothing reads: a feature table holds one row per
    profile, so leaving one out changes no row, and a level must not join one built only after it is decided."""
    def read(join: exp.Join) -> bool:
        alias = join.alias_or_name
        return any(c.table == alias and c.find_ancestor(exp.Join) is not join for c in select.find_all(exp.Column))

    joins = select.args.get("joins") or []
    select.set("joins", [j for j in joins if j.side != "LEFT" or not j.this.name.endswith("_features") or read(j)])
    return select


def _join_people(select: exp.Select, link: str, alias: str, compiled: CompiledAudiences) -> exp.Select:
    """An account's people: its links joined to the people's feature tables, and to the people themselves when
    their own columns are read (every link names a person of `aud_people`, so leaving them out drops no link:
    on `large` it saved 0.15 s of the 50 audiences' 3.5)."""
    person = exp.column("person_id", table=link, quoted=True)
    if any(c.table == alias for c in select.find_all(exp.Column)):
        select = select.join(exp.to_table(BASE["person"]).as_(alias), on=exp.EQ(
            this=exp.column("person_id", table=alias, quoted=True), expression=person))
    for source in compiled.feature_sources("person"):
        feats = f"{alias}_{source}"
        select = select.join(
            exp.to_table(feature_table("person", source)).as_(feats),
            on=exp.EQ(this=exp.column("person_id", table=feats, quoted=True), expression=person.copy()),
            join_type="left",
        )
    return select


class Compiler:
    """Compiles audiences evaluated at `as_of` (UTC): `in last 30 days` ends there."""

    def __init__(self, as_of: datetime, schema: Schema = STANDARD, within: dict[str, str] | None = None,
                 keep_features: bool = False, all_features: bool = False) -> None:
        self.as_of = as_of.astimezone(timezone.utc)
        self.schema = schema
        self.within = within or {}
        self.out = CompiledAudiences(objects=tuple(o.name for o in schema.objects), within=dict(self.within),
                                     keep_features=keep_features, all_features=all_features)
        self._keys: dict[tuple[str, str, str], str] = {}
        self._audiences: dict[str, Audience] = {}
        self._feature_source: dict[str, str] = {}
        self._depth = 0  # of the audience being compiled

    def fresh(self, keep_features: bool | None = None) -> Compiler:
        """A compiler for the same moment, schema and profiles that has compiled nothing yet. Without kept
        features, a run that decides some people computes everyone's (an account's conditions read them)."""
        keep = self.out.keep_features if keep_features is None else keep_features
        return Compiler(self.as_of, self.schema, self.within, keep, self.out.all_features or not keep)

    def compile_all(self, audiences: list[Audience]) -> CompiledAudiences:
        self._audiences = {a.name: a for a in audiences}
        ordered = order_by_reference(audiences)
        depth: dict[str, int] = {}
        for audience in ordered:
            refs = [n.name for n in walk(audience.where) if isinstance(n, InAudience)]
            self.out.referenced.update(refs)
            depth[audience.name] = self._depth = 1 + max((depth[r] for r in refs), default=-1)
            scope = Scope(audience.of, audience.of, self.schema)
            self.out.predicates[audience.name] = audience.of, self.condition(audience.where, scope, audience.of[0])
        for level in sorted(set(depth.values())):
            for of in ("person", "account"):
                names = [a.name for a in ordered if depth[a.name] == level and a.of == of]
                if not names:
                    continue
                columns = {name: f"r{i}" for i, name in enumerate(names)}
                select = self.out.profile_ids(of)
                if of in self.within:
                    select = select.where(_key_in(exp.column(ID[of], table=of[0], quoted=True), self.within[of]))
                # TRUE for a member, else NULL: UNPIVOT leaves NULLs out, so only members come out of the wide
                # result (0.12 s of 1.0 on `large` against TRUE or FALSE for everyone).
                tests = (exp.Case(ifs=[exp.If(this=self.out.predicates[name][1], true=exp.true())]) for name in columns)
                select = select.select(*(exp.alias_(test, col) for test, col in zip(tests, columns.values())))
                self.out.levels.append(ResultLevel(of, f"aud_result_{of}_{level}", _without_unread_features(select),
                                                   columns, level))
        return self.out

    # -- conditions --------------------------------------------------------------------------------------
    def condition(self, cond: Condition, scope: Scope, alias: str) -> exp.Expression:
        """A predicate over the row `alias` of `scope` (NULL counts as false; `not` makes it two-valued)."""
        if isinstance(cond, And):
            return exp.and_(*(self.condition(c, scope, alias) for c in cond.items))
        if isinstance(cond, Or):
            return exp.or_(*(self.condition(c, scope, alias) for c in cond.items))
        if isinstance(cond, Not):
            return _not(self.condition(cond.item, scope, alias))
        if isinstance(cond, (Compare, InValues, IsNull)) and cond.field == "role" and scope.entity == "opportunity":
            return self._any_element(cond, exp.column("roles", table=alias, quoted=True))
        if isinstance(cond, (Compare, InValues, IsNull)) and scope.field_type(cond.field) is ColumnType.STRING_LIST:
            return self._any_element(cond, exp.column(column_name(cond.field), table=alias, quoted=True))
        if isinstance(cond, (Compare, InValues, IsNull, Between)) and scope.entity == "event" \
                and property_path(cond.field):
            return self._property_test(cond, alias)
        if isinstance(cond, Compare):
            return self._compare(cond, scope, alias)
        if isinstance(cond, InValues):
            col = self.field_column(cond.field, scope, alias)
            inside = exp.In(this=col, expressions=[self._literal(v, scope.field_type(cond.field)) for v in cond.values])
            return _not(inside) if cond.negated else inside
        if isinstance(cond, IsNull):
            test = exp.Is(this=self.field_column(cond.field, scope, alias), expression=exp.Null())
            return exp.not_(test) if cond.negated else test
        if isinstance(cond, Between):
            kind = scope.field_type(cond.field)
            return exp.Between(this=self.field_column(cond.field, scope, alias), low=self._literal(cond.low, kind),
                               high=self._literal(cond.high, kind))
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
        return self._compare_to(cond, self.field_column(cond.field, scope, alias), scope.field_type(cond.field))

    def _compare_to(self, cond: Compare, col: exp.Expression, kind: ColumnType) -> exp.Expression:
        if cond.op == "contains":
            return exp.GT(this=exp.func("instr", col, exp.Literal.string(str(cond.value))), expression=exp.Literal.number(0))
        if cond.op == "starts with":
            text = str(cond.value)
            return exp.EQ(this=exp.Substring(this=col, start=exp.Literal.number(1), length=exp.Literal.number(len(text))),
                          expression=exp.Literal.string(text))
        if cond.op == "ends with":
            text = str(cond.value)
            return exp.EQ(this=exp.Right(this=col, expression=exp.Literal.number(len(text))), expression=exp.Literal.string(text))
        return _comparison(cond.op, col, self._literal(cond.value, kind))

    def _any_element(self, cond: Compare | InValues | IsNull, elements: exp.Expression) -> exp.Expression:
        """A test of a list (a person's roles on a deal, a list-typed custom field) holds when any element passes
        it; `!=` and `not in` hold when none is the value(s), `is null` when there is no element."""
        if isinstance(cond, IsNull):
            some = exp.GT(this=exp.ArraySize(this=exp.Coalesce(this=elements, expressions=[exp.Array()])),
                          expression=exp.Literal.number(0))
            return some if cond.negated else exp.not_(some)
        if isinstance(cond, InValues):
            negated = cond.negated
            values = [self._literal(v, ColumnType.STRING) for v in cond.values]
            test: exp.Expression = exp.In(this=exp.column("_element"), expressions=values)
        else:
            negated = cond.op == "!="
            test = self._compare_to(cond.model_copy(update={"op": "="}) if negated else cond,
                                    exp.column("_element"), ColumnType.STRING)
        one = exp.to_identifier("_element")
        filtered = exp.ArrayFilter(this=elements, expression=exp.Lambda(this=test, expressions=[one]))
        some = exp.GT(this=exp.ArraySize(this=filtered), expression=exp.Literal.number(0))
        return _not(some) if negated else some

    def _property_test(self, cond: Compare | InValues | IsNull | Between, alias: str) -> exp.Expression:
        """A test of an event property: the JSON value read as the kind of value it is compared with (text, a
        number or true/false); a property that is missing, or not of that kind, is a missing value."""
        kind = property_kind(cond)
        col = self.property_value(cond.field, alias, kind)
        if isinstance(cond, IsNull):
            test = exp.Is(this=col, expression=exp.Null())
            return exp.not_(test) if cond.negated else test
        if isinstance(cond, InValues):
            inside = exp.In(this=col, expressions=[self._literal(v, kind) for v in cond.values])
            return _not(inside) if cond.negated else inside
        if isinstance(cond, Between):
            return exp.Between(this=col, low=self._literal(cond.low, kind), high=self._literal(cond.high, kind))
        return self._compare_to(cond, col, kind)

    def property_value(self, field: str, alias: str, kind: ColumnType = ColumnType.STRING) -> exp.Expression:
        """An event property's value as text, a number (DOUBLE) or a boolean."""
        keys = [exp.JSONPathKey(this=k) for k in property_path(field) or []]
        path = exp.JSONPath(expressions=[exp.JSONPathRoot(), *keys])
        text = exp.JSONExtractScalar(this=exp.column("properties", table=alias, quoted=True), expression=path)
        if kind is ColumnType.NUMBER:  # a guarded CAST: Spark's ANSI mode fails a CAST of text that is no number
            number = exp.RegexpLike(this=text, expression=exp.Literal.string(NUMBER_TEXT))
            return exp.Case(ifs=[exp.If(this=number, true=exp.cast(text.copy(), "DOUBLE"))])
        if kind is ColumnType.BOOLEAN:
            return exp.Case(ifs=[exp.If(this=exp.EQ(this=text, expression=exp.Literal.string(word)), true=value)
                                 for word, value in (("true", exp.true()), ("false", exp.false()))])
        return text

    def _quantified(self, cond: Quantified, scope: Scope, alias: str) -> exp.Expression:
        where = self._inner(cond.relation, scope, cond.where)
        if cond.quantifier == "all":
            where = _not(where)
        feature = self._count(scope.entity, cond.relation, where, cond.window, alias)
        test = exp.GT if cond.quantifier == "any" else exp.EQ
        return test(this=feature, expression=exp.Literal.number(0))

    def aggregate(self, cond: Aggregate, scope: Scope, alias: str) -> exp.Expression:
        where = self._inner(cond.relation, scope, cond.where)
        number = exp.Literal.number(cond.value)
        if cond.function == "count":
            return _comparison(cond.op, self._count(scope.entity, cond.relation, where, cond.window, alias), number)
        self._no_window(cond.window, cond.relation)
        source = self._source(cond.relation)
        row = self.out.source_tables(scope.entity)[source][1] if source != "pe" else "p"
        measure = exp.Filter(this=exp.Sum(this=exp.column(column_name(cond.field or ""), table=row, quoted=True)),
                             expression=exp.Where(this=where))
        return _comparison(cond.op, self._feature(self._register(scope.entity, source, measure), alias), number)

    def occurrence(self, cond: Occurrence, scope: Scope, alias: str) -> exp.Expression:
        scope.relation("event")
        hit = exp.and_(self._inner("event", scope, cond.where), self._until_now())
        at = exp.column("timestamp", table="e", quoted=True)
        moment = exp.Filter(this=exp.Max(this=at) if cond.which == "last" else exp.Min(this=at), expression=exp.Where(this=hit))
        source = self._event_source(self._inner("event", scope, cond.where))
        feature = self._feature(self._register(scope.entity, source, moment), alias, zero=False)
        boundary = self._timestamp(self.as_of - timedelta(days=cond.days))
        return exp.LT(this=feature, expression=boundary) if cond.op == "before" else exp.GT(this=feature, expression=boundary)

    def _membership(self, cond: InCampaign | InList, scope: Scope, alias: str) -> exp.Expression:
        if scope.entity != "person":
            what = "campaign" if isinstance(cond, InCampaign) else "list"
            raise CompileError(f"in {what} applies to people; for an account write: any person (in {what} ...)")
        if isinstance(cond, InCampaign):
            test = exp.EQ(this=exp.column("campaign", table="m", quoted=True), expression=exp.Literal.string(cond.campaign))
            if cond.status is not None:
                test = exp.and_(test, exp.EQ(this=exp.column("status", table="m", quoted=True), expression=exp.Literal.string(cond.status)))
            source = "ca"
        else:
            test = exp.EQ(this=exp.column("list", table="m", quoted=True), expression=exp.Literal.string(cond.name))
            source = "li"
        counted = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=test))
        return exp.GT(this=self._feature(self._register("person", source, counted), alias), expression=exp.Literal.number(0))

    def _in_audience(self, cond: InAudience, scope: Scope, alias: str) -> exp.Expression:
        target = self._audiences.get(cond.name)
        if target is None:
            raise CompileError(f"no audience named {cond.name!r}")
        if target.of != scope.entity:
            raise CompileError(f"audience {cond.name!r} is of {target.of}, not of {scope.entity}")
        members = exp.select("profile_id").from_(MEMBERS).where(
            exp.EQ(this=exp.column("audience"), expression=exp.Literal.string(cond.name))
        )
        return exp.In(this=exp.column(ID[scope.entity], table=alias, quoted=True), query=exp.Subquery(this=members))

    # -- features ----------------------------------------------------------------------------------------
    @staticmethod
    def _source(relation: str) -> str:
        return {"event": "ev", "opportunity": "op", "person": "pe"}.get(relation) or object_source(relation)

    def _inner(self, relation: str, scope: Scope, where: Condition | None) -> exp.Expression:
        """The condition on one row of `relation`, as seen from a profile of `scope`."""
        inner = scope.relation(relation)
        row = {"event": "e", "opportunity": "o", "person": "p"}.get(relation, OBJECT_ROW)
        return self.condition(where, inner, row) if where is not None else exp.true()

    def _count(self, level: str, relation: str, where: exp.Expression, window: Window | None, alias: str) -> exp.Expression:
        source = self._source(relation)
        if relation == "event":
            source = self._event_source(where)
            where = exp.and_(where, self._window(window))
        else:
            self._no_window(window, relation)
        counted = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=where))
        return self._feature(self._register(level, source, counted), alias)

    def _event_source(self, where: exp.Expression) -> str:
        """`evN` when the condition requires one event type (a top-level `event_type = "…"`), else `ev`."""
        conjuncts = list(where.flatten()) if isinstance(where, exp.And) else [where]
        for part in conjuncts:
            part = part.unnest()
            if (isinstance(part, exp.EQ) and isinstance(part.this, exp.Column) and part.this.name == "event_type"
                    and isinstance(part.expression, exp.Literal) and part.expression.is_string):
                wanted = part.expression.this
                for code, event_type in self.out.event_types.items():
                    if event_type == wanted:
                        return code
                code = f"ev{len(self.out.event_types)}"
                self.out.event_types[code] = wanted
                return code
        return "ev"

    def _register(self, level: str, source: str, expression: exp.Expression) -> str:
        if any(t.name == MEMBERS for t in expression.find_all(exp.Table)):
            source = f"{source}{self._depth}"
            self.out.after[source] = self._depth
        key = (level, source, expression.sql("duckdb"))
        if key not in self._keys:
            name = f"f{len(self._keys)}"
            self._keys[key] = name
            self._feature_source[name] = source
            self.out.features.append(Feature(name, level, source, expression))
        return self._keys[key]

    def _feature(self, name: str, alias: str, zero: bool = True) -> exp.Expression:
        col = exp.column(name, table=f"{alias}_{self._feature_source[name]}", quoted=True)
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
        if scope.field_type(name) is ColumnType.JSON:
            return self.property_value(name, alias)
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
        text = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
        return exp.cast(exp.Literal.string(text), "TIMESTAMPTZ")


NUMBER_TEXT = f"^{PROPERTY_NUMBER}$"


def _comparison(op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
    kinds = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
    return kinds[op](this=left, expression=right)


def _not(test: exp.Expression) -> exp.Expression:
    """NOT that treats an unknown (NULL) as false first, so `not` of a false comparison is true."""
    return exp.not_(exp.Coalesce(this=test, expressions=[exp.false()]))


def order_by_reference(audiences: list[Audience]) -> list[Audience]:
    """Audiences with those they reference first; a cycle is an error that names it."""
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
