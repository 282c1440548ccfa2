"""The audience AST: pydantic models, the one source of truth that the text form, the JSON form and the UI share."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from accord.model import names

Scalar = Union[bool, int, float, str, date]
CompareOp = Literal["=", "!=", "<", "<=", ">", ">=", "contains", "starts with", "ends with"]
NumberOp = Literal["=", "!=", "<", "<=", ">", ">="]
Relation = str
"""opportunity, event, person, or a custom object of the workspace (`Subscription__c`)."""
MAX_DAYS = 36_500
"""The longest window (a hundred years): longer ones reach before any data and overflow date arithmetic."""


def name_problem(name: str) -> str | None:
    """What makes `name` no name for an audience (None: nothing). The parser asks, so the text form and the JSON
    form (printed, then parsed) are refused alike; names Accord makes for itself (a streaming plan's facts) hold a
    separator of their own."""
    return names.name_problem(name, "audience", "an")


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Compare(Node):
    """`field op value`, e.g. `account.industry = "Software"`, `url contains "/pricing"`."""

    kind: Literal["compare"] = "compare"
    field: str
    op: CompareOp
    value: Scalar


class InValues(Node):
    """`field in ["a", "b"]` / `field not in [...]`."""

    kind: Literal["in_values"] = "in_values"
    field: str
    values: tuple[Scalar, ...]
    negated: bool = False


class IsNull(Node):
    kind: Literal["is_null"] = "is_null"
    field: str
    negated: bool = False


class Between(Node):
    kind: Literal["between"] = "between"
    field: str
    low: Scalar
    high: Scalar


class Window(Node):
    """`in last N days`, or `between date(...) and date(...)` (the end day included)."""

    last_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    start: date | None = None
    end: date | None = None


class Quantified(Node):
    """`any / all / no RELATION (condition [window])`."""

    kind: Literal["quantified"] = "quantified"
    quantifier: Literal["any", "all", "no"]
    relation: Relation
    where: Condition | None = None
    window: Window | None = None


class Aggregate(Node):
    """`count(RELATION [where condition] [window]) op n`, `sum(RELATION.field [where ...]) op x`."""

    kind: Literal["aggregate"] = "aggregate"
    function: Literal["count", "sum"]
    relation: Relation
    field: str | None = None
    where: Condition | None = None
    window: Window | None = None
    op: NumberOp
    value: float | int


class Occurrence(Node):
    """`first / last event (condition) before / after N days ago`."""

    kind: Literal["occurrence"] = "occurrence"
    which: Literal["first", "last"]
    where: Condition | None = None
    op: Literal["before", "after"]
    days: int = Field(ge=0, le=MAX_DAYS)


class InCampaign(Node):
    kind: Literal["in_campaign"] = "in_campaign"
    campaign: str
    status: str | None = None


class InList(Node):
    kind: Literal["in_list"] = "in_list"
    name: str


class InAudience(Node):
    kind: Literal["in_audience"] = "in_audience"
    name: str


class And(Node):
    kind: Literal["and"] = "and"
    items: tuple[Condition, ...]


class Or(Node):
    kind: Literal["or"] = "or"
    items: tuple[Condition, ...]


class Not(Node):
    kind: Literal["not"] = "not"
    item: Condition


Condition = Annotated[
    Union[Compare, InValues, IsNull, Between, Quantified, Aggregate, Occurrence, InCampaign, InList, InAudience, And, Or, Not],
    Field(discriminator="kind"),
]


class Audience(Node):
    """A named audience of people or of accounts."""

    name: str
    of: Literal["person", "account"]
    where: Condition
    description: str = ""
    """What the audience is for, in words (changes no member)."""
    owner: str = ""
    """Who answers for it (an e-mail or a team)."""


for _model in (Quantified, Aggregate, Occurrence, And, Or, Not, Audience):
    _model.model_rebuild()


def walk(node: object):
    """Every node below (and including) `node`, depth first."""
    yield node
    if isinstance(node, (And, Or)):
        for item in node.items:
            yield from walk(item)
    elif isinstance(node, Not):
        yield from walk(node.item)
    elif isinstance(node, (Quantified, Aggregate, Occurrence)) and node.where is not None:
        yield from walk(node.where)
    elif isinstance(node, Audience):
        yield from walk(node.where)
