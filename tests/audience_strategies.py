"""Hypothesis strategies for random audiences over the fields and values of the generated world."""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from accord.audiences.ast import (
    Aggregate,
    And,
    Audience,
    Between,
    Compare,
    InCampaign,
    InList,
    InValues,
    IsNull,
    Not,
    Occurrence,
    Or,
    Quantified,
    Window,
)
from accord.generate import pools

EVENT_TYPES = ["web.pageview", "email.click", "email.open", "webinar.attend", "lead.score_change", "ad.click"]
TEXTS = {
    "industry": list(pools.INDUSTRIES[:4]),
    "account.industry": list(pools.INDUSTRIES[:4]),
    "country": list(pools.COUNTRIES[:4]),
    "account.country": list(pools.COUNTRIES[:4]),
    "seniority": ["Executive", "Director", "Manager", "Individual Contributor"],
    "person_type": ["lead", "contact"],
    "stage": [s[0] for s in pools.OPPORTUNITY_STAGES],
    "role": list(pools.CONTACT_ROLES[:3]),
    "event_type": EVENT_TYPES,
    "url": ["https://www.accord-example.com/pricing", "https://www.accord-example.com/"],
    "account_type": ["Customer", "Prospect"],
    "Persona__c": list(pools.PERSONAS[:3]),
    "ABM_Tier__c": list(pools.ABM_TIERS[:2]),
    "account.ABM_Tier__c": list(pools.ABM_TIERS[:2]),
}
LISTS = {"Products__c": list(pools.PRODUCTS[:3]), "account.Products__c": list(pools.PRODUCTS[:3])}
"""Custom fields of the generated org that hold lists (a multi-select picklist): tested by any element."""
NUMBERS = {
    "lead_score": [20, 60, 100],
    "account.annual_revenue": [1_000_000, 10_000_000],
    "account.employees": [50, 500],
    "annual_revenue": [1_000_000, 10_000_000],
    "employees": [50, 500],
    "amount": [10_000, 50_000, 100_000],
    "probability": [20, 80],
}
BOOLS = {"is_closed", "is_won", "email_opt_out", "is_primary"}
FIELDS = {
    "person": ["seniority", "person_type", "country", "lead_score", "account.industry",
               "account.annual_revenue", "account.employees", "account.country", "email_opt_out", "job_title", "email",
               "Persona__c", "account.ABM_Tier__c", "account.Products__c"],
    "account": ["industry", "country", "annual_revenue", "employees", "account_type", "ABM_Tier__c", "Products__c"],
    "opportunity": ["stage", "amount", "is_closed", "is_won", "probability", "role", "close_date"],
    "event": ["event_type", "url", "timestamp", "properties.new_status", "properties.program",
              "properties.change_value", "properties.webpage_url", "properties.asset", "properties.missing.key"],
}
PROPERTIES = {
    "properties.new_status": ["Attended", "Registered"],
    "properties.program": ["Webinar Program 01", "Webinar Program 02"],
    "properties.webpage_url": ["https://www.accord-example.com/pricing", "/pricing", "https://www"],
    "properties.asset": ["Webinar Program 01", "https://www.accord-example.com/pricing"],
    "properties.missing.key": ["x"],
}
"""Event properties as the Marketo activity mapping keeps them; `change_value` is a signed number as text."""


def leaf(entity: str, of: str):
    fields = [f for f in FIELDS[entity] if not (entity == "opportunity" and of == "account" and f == "role")]

    def for_field(name: str):
        if name == "properties.change_value":
            return st.one_of(
                st.builds(Compare, field=st.just(name), op=st.sampled_from(["=", "!=", "<", ">="]),
                          value=st.sampled_from([5, -3, 0, 12.5])),
                st.builds(Between, field=st.just(name), low=st.sampled_from([-5, 0]), high=st.sampled_from([3, 14])),
                st.builds(Compare, field=st.just(name), op=st.just("="), value=st.sampled_from(["+5", "-3", "5"])),
                st.builds(IsNull, field=st.just(name), negated=st.booleans()),
            )
        if name in PROPERTIES:
            return text_tests(name, PROPERTIES[name], ["=", "!=", "contains", "starts with"], PROPERTIES[name])
        if name in LISTS:
            return text_tests(name, LISTS[name], ["=", "!=", "contains", "ends with"], [*LISTS[name], "Clo"])
        if name in TEXTS:
            options = TEXTS[name]
            return st.one_of(
                st.builds(Compare, field=st.just(name), op=st.sampled_from(["=", "!="]), value=st.sampled_from(options)),
                st.builds(InValues, field=st.just(name), values=st.lists(st.sampled_from(options), min_size=1, max_size=3).map(tuple),
                          negated=st.booleans()),
                st.builds(Compare, field=st.just(name), op=st.sampled_from(["contains", "starts with", "ends with"]),
                          value=st.sampled_from([o[:4] for o in options] + [o[-4:] for o in options])),
                st.builds(IsNull, field=st.just(name), negated=st.booleans()),
            )
        if name in NUMBERS:
            values = NUMBERS[name]
            return st.one_of(
                st.builds(Compare, field=st.just(name), op=st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), value=st.sampled_from(values)),
                st.builds(Between, field=st.just(name), low=st.sampled_from(values), high=st.sampled_from(values)),
                st.builds(IsNull, field=st.just(name), negated=st.booleans()),
            )
        if name in BOOLS:
            return st.builds(Compare, field=st.just(name), op=st.sampled_from(["=", "!="]), value=st.booleans())
        if name in ("close_date",):
            return st.builds(Compare, field=st.just(name), op=st.sampled_from(["<", ">="]), value=st.sampled_from([date(2026, 6, 1), date(2027, 1, 1)]))
        if name == "timestamp":
            return st.builds(Compare, field=st.just(name), op=st.sampled_from(["<", ">="]), value=st.sampled_from([date(2026, 10, 1), date(2026, 11, 20)]))
        return st.builds(IsNull, field=st.just(name), negated=st.booleans())

    return st.sampled_from(fields).flatmap(for_field)


def text_tests(name: str, options: list[str], ops: list[str], compared: list[str]):
    """Compare (with `ops`, against `compared`), in / not in (of `options`) and is [not] null tests of a field."""
    return st.one_of(
        st.builds(Compare, field=st.just(name), op=st.sampled_from(ops), value=st.sampled_from(compared)),
        st.builds(InValues, field=st.just(name), values=st.lists(st.sampled_from(options), min_size=1,
                                                                  max_size=2).map(tuple), negated=st.booleans()),
        st.builds(IsNull, field=st.just(name), negated=st.booleans()),
    )


def windows():
    return st.one_of(
        st.none(),
        st.builds(Window, last_days=st.sampled_from([7, 30, 60])),
        st.builds(Window, start=st.just(date(2026, 10, 1)), end=st.just(date(2026, 10, 31))),
    )


def condition(entity: str, depth: int = 2, of: str = "person"):
    base = leaf(entity, of)
    relations = {"person": ["opportunity", "event"], "account": ["opportunity", "event", "person"]}.get(entity, [])
    options = [base]
    if entity == "person":
        options.append(st.builds(InList, name=st.sampled_from(list(pools.LIST_NAMES[:3]))))
        options.append(st.builds(InCampaign, campaign=st.just("Webinar Program 01"),
                                 status=st.one_of(st.none(), st.sampled_from(["04 Attended", "01 Sent"]))))
    if depth > 0:
        for rel in relations:
            inner = condition(rel, depth - 1, of)
            window = windows() if rel == "event" else st.none()
            options.append(st.builds(Quantified, quantifier=st.sampled_from(["any", "all", "no"]), relation=st.just(rel),
                                     where=st.one_of(st.none(), inner), window=window))
            options.append(st.builds(Aggregate, function=st.just("count"), relation=st.just(rel), where=st.one_of(st.none(), inner),
                                     window=window, op=st.sampled_from([">=", "=", "<"]), value=st.sampled_from([0, 1, 3])))
            if rel == "opportunity":
                options.append(st.builds(Aggregate, function=st.just("sum"), relation=st.just(rel), field=st.just("amount"),
                                         where=st.one_of(st.none(), inner), op=st.sampled_from([">", "<="]), value=st.sampled_from([0, 100000])))
        if "event" in relations:
            options.append(st.builds(Occurrence, which=st.sampled_from(["first", "last"]), where=st.one_of(st.none(), condition("event", 0, of)),
                                     op=st.sampled_from(["before", "after"]), days=st.sampled_from([10, 45])))
        sub = condition(entity, depth - 1, of)
        options.append(st.builds(And, items=st.lists(sub, min_size=2, max_size=3).map(tuple)))
        options.append(st.builds(Or, items=st.lists(sub, min_size=2, max_size=3).map(tuple)))
        options.append(st.builds(Not, item=sub))
    return st.one_of(*options)


ABOUT = st.one_of(st.just(""), st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=24))
"""A description or an owner: none, or any one-line text (quotes and backslashes included)."""


def audiences():
    return st.sampled_from(["person", "account"]).flatmap(
        lambda of: st.builds(Audience, name=st.just("random"), of=st.just(of), where=condition(of, 2, of),
                             description=ABOUT, owner=ABOUT)
    )
