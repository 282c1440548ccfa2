"""An independent reference evaluator for audiences: plain Python over the lake's rows, written for clarity.

It reads profiles, links and current records itself (not the aud_* tables the compiler uses) and applies the
documented meaning of every construct, so agreement with the compiled SQL means something.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

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
    Window,
)
from accord.audiences.compile import order_by_reference
from accord.lake.store import Lake


class World:
    """Every row an audience can look at, grouped by person and by account."""

    def __init__(self, lake: Lake) -> None:
        q = lake.query
        self.list_fields = {f.name for f in lake.schema.custom if f.type == "string_list"}
        self.people = {r["person_id"]: r for r in q("SELECT * FROM person_profile")}
        self.accounts = {r["account_id"]: r for r in q("SELECT * FROM account_profile")}
        nodes = q("SELECT kind, namespace, value, profile_id FROM identity_nodes WHERE namespace IN ('b2b_person', 'b2b_account')")
        person_of = {n["value"]: n["profile_id"] for n in nodes if n["namespace"] == "b2b_person"}
        account_of = {n["value"]: n["profile_id"] for n in nodes if n["namespace"] == "b2b_account"}
        links = q("SELECT DISTINCT person_id, account_id, method, is_primary, score FROM person_account")
        self.accounts_of = defaultdict(set)
        self.people_of = defaultdict(set)
        best: dict[str, tuple] = {}
        for link in links:
            self.accounts_of[link["person_id"]].add(link["account_id"])
            self.people_of[link["account_id"]].add(link["person_id"])
            rank = (link["method"] != "stated", {True: 0, False: 1, None: 2}[link["is_primary"]], -link["score"], link["account_id"])
            if link["person_id"] not in best or rank < best[link["person_id"]]:
                best[link["person_id"]] = rank
        self.primary_account = {p: rank[3] for p, rank in best.items()}
        opportunities = {o["source_key"]: o for o in q("SELECT * FROM opportunity_current")}
        self.account_opps = defaultdict(dict)
        for key, o in opportunities.items():
            if o["account_key"] in account_of:
                self.account_opps[account_of[o["account_key"]]][key] = o
        self.person_opps: dict[str, dict[str, dict]] = defaultdict(dict)
        for role in q("SELECT * FROM opportunity_person_current"):
            person = person_of.get(role["person_key"])
            opp = opportunities.get(role["opportunity_key"])
            if person and opp:
                self._add_opp(person, opp, role["role"], role["is_primary"])
        for person, accounts in self.accounts_of.items():
            for account in accounts:
                for opp in self.account_opps[account].values():
                    self._add_opp(person, opp, None, False)
        self.events = defaultdict(list)
        for e in q("SELECT person_key, event_type, url, timestamp, properties FROM event_current"):
            if e["person_key"] in person_of:
                e["properties"] = json.loads(e["properties"]) if e["properties"] else {}
                self.events[person_of[e["person_key"]]].append(e)
        self.campaigns = defaultdict(set)
        for m in q("SELECT m.person_key, c.name, m.status FROM campaign_member_current m JOIN campaign_current c ON c.source_key = m.campaign_key"):
            if m["person_key"] in person_of:
                self.campaigns[person_of[m["person_key"]]].add((m["name"], m["status"]))
        self.objects: dict[tuple[str, str], dict[str, list[dict]]] = {}
        for obj in lake.schema.objects:
            by_person: dict[str, list[dict]] = defaultdict(list)
            by_account: dict[str, list[dict]] = defaultdict(list)
            for row in q(f'SELECT * FROM "{obj.name}_current"'):
                if obj.related_to == "account" and row["account_key"] in account_of:
                    by_account[account_of[row["account_key"]]].append(row)
                elif obj.related_to == "person" and row["person_key"] in person_of:
                    by_person[person_of[row["person_key"]]].append(row)
            if obj.related_to == "account":
                for person, accounts in self.accounts_of.items():
                    by_person[person] = [r for a in accounts for r in by_account[a]]
            else:
                for account, people in self.people_of.items():
                    by_account[account] = [r for p in people for r in by_person[p]]
            self.objects[("person", obj.name)], self.objects[("account", obj.name)] = by_person, by_account
        self.lists = defaultdict(set)
        for m in q("SELECT m.person_key, l.name FROM marketing_list_member_current m JOIN marketing_list_current l ON l.source_key = m.marketing_list_key"):
            if m["person_key"] in person_of:
                self.lists[person_of[m["person_key"]]].add(m["name"])

    def _add_opp(self, person: str, opp: dict, role: str | None, primary: bool | None) -> None:
        have = self.person_opps[person].get(opp["source_key"])
        if have is None:
            have = dict(opp, role=None, roles=set(), is_primary=False)
            self.person_opps[person][opp["source_key"]] = have
        if role is not None:
            have["roles"].add(role)
        if role is not None and (have["role"] is None or role > have["role"]):
            have["role"] = role
        have["is_primary"] = bool(have["is_primary"] or primary)


def evaluate_reference(lake: Lake, audiences: list[Audience], as_of: datetime) -> dict[str, set[str]]:
    world = World(lake)
    members: dict[str, set[str]] = {}
    for audience in order_by_reference(audiences):
        ev = Evaluator(world, as_of, members)
        rows = world.people if audience.of == "person" else world.accounts
        members[audience.name] = {pid for pid in rows if ev.holds(audience.where, audience.of, pid, None)}
    return members


class Evaluator:
    def __init__(self, world: World, as_of: datetime, members: dict[str, set[str]]) -> None:
        self.w, self.as_of, self.members = world, as_of, members

    def holds(self, cond: Condition, entity: str, key: str, row: dict | None) -> bool:
        """Does `cond` hold for the profile `key` (or, for an opportunity or event, the row itself)?"""
        if isinstance(cond, And):
            return all(self.holds(c, entity, key, row) for c in cond.items)
        if isinstance(cond, Or):
            return any(self.holds(c, entity, key, row) for c in cond.items)
        if isinstance(cond, Not):
            return not self.holds(cond.item, entity, key, row)
        if isinstance(cond, (Compare, InValues, IsNull)) and cond.field == "role" and entity == "opportunity":
            return self.any_element(cond, row["roles"])  # type: ignore[index]
        if isinstance(cond, (Compare, InValues, IsNull, Between)) and entity == "event" \
                and cond.field.startswith("properties."):
            return self.test(cond, self.property(cond, row["properties"]))  # type: ignore[index]
        if isinstance(cond, (Compare, InValues, IsNull)) and cond.field.split(".")[-1] in self.w.list_fields:
            return self.any_element(cond, set(self.field(cond.field, entity, key, row) or []))
        if isinstance(cond, (Compare, InValues, IsNull, Between)):
            return self.test(cond, self.field(cond.field, entity, key, row))
        if isinstance(cond, Quantified):
            rows = self.related(cond.relation, entity, key, cond.window)
            if cond.quantifier == "all":
                return all(self.matches(cond.where, cond.relation, r) for r in rows)
            hits = any(self.matches(cond.where, cond.relation, r) for r in rows)
            return hits if cond.quantifier == "any" else not hits
        if isinstance(cond, Aggregate):
            rows = [r for r in self.related(cond.relation, entity, key, cond.window) if self.matches(cond.where, cond.relation, r)]
            if cond.function == "count":
                value = len(rows)
            else:
                value = sum(r[cond.field] for r in rows if r[cond.field] is not None)
            return compare_numbers(cond.op, value, cond.value)
        if isinstance(cond, Occurrence):
            times = [e["timestamp"] for e in self.related("event", entity, key, None) if self.matches(cond.where, "event", e)]
            if not times:
                return False
            moment = max(times) if cond.which == "last" else min(times)
            boundary = self.as_of - timedelta(days=cond.days)
            return moment < boundary if cond.op == "before" else moment > boundary
        if isinstance(cond, InCampaign):
            return any(name == cond.campaign and (cond.status is None or status == cond.status)
                       for name, status in self.w.campaigns[key])
        if isinstance(cond, InList):
            return cond.name in self.w.lists[key]
        if isinstance(cond, InAudience):
            return key in self.members[cond.name]
        raise TypeError(cond)

    @staticmethod
    def property(cond: Compare | InValues | IsNull | Between, properties: dict) -> Any:
        """An event property as the kind of value it is compared with: a JSON scalar read as text, a number
        (from a number or a numeric text) or true/false; anything else is missing."""
        value: Any = properties
        for quoted, plain in re.findall(r'"([^"]*)"|([^."]+)', cond.field[len("properties."):]):
            value = value.get(quoted or plain) if isinstance(value, dict) else None
        if value is None or isinstance(cond, IsNull):
            return value
        sample = cond.value if isinstance(cond, Compare) else cond.values[0] if isinstance(cond, InValues) else cond.low
        if isinstance(cond, Compare) and cond.op in ("contains", "starts with", "ends with"):
            sample = ""
        text = json.dumps(value) if not isinstance(value, str) else value
        if isinstance(sample, bool):
            return {"true": True, "false": False}.get(text)
        if isinstance(sample, (int, float)):
            try:
                return float(text) if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text) else None
            except ValueError:
                return None
        return text

    def any_element(self, cond: Compare | InValues | IsNull, elements: set[str]) -> bool:
        """Several roles on one deal, or a list field: a test holds if one element passes; `!=` / `not in` if
        none is the value."""
        if isinstance(cond, IsNull):
            return (not elements) != cond.negated
        if isinstance(cond, InValues):
            return any(r in cond.values for r in elements) != cond.negated
        if cond.op == "!=":
            return cond.value not in elements
        return any(self.test(cond, r) for r in elements)

    def matches(self, where: Condition | None, relation: str, row: dict) -> bool:
        if where is None:
            return True
        if relation == "person":
            return self.holds(where, "person", row["person_id"], None)
        return self.holds(where, relation, "", row)

    def field(self, name: str, entity: str, key: str, row: dict | None) -> Any:
        if row is not None:
            return row.get(name)
        if entity == "person":
            if name.startswith("account."):
                account = self.w.primary_account.get(key)
                if account is None:
                    return None
                return account if name == "account.account_id" else self.w.accounts[account][name[len("account."):]]
            return key if name == "person_id" else self.w.people[key][name]
        return key if name == "account_id" else self.w.accounts[key][name]

    def related(self, relation: str, entity: str, key: str, window: Window | None) -> list[dict]:
        if (entity, relation) in self.w.objects:
            return list(self.w.objects[(entity, relation)].get(key, []))
        if relation == "opportunity":
            return list((self.w.person_opps if entity == "person" else self.w.account_opps)[key].values())
        if relation == "person":
            return [dict(self.w.people[p], person_id=p) for p in self.w.people_of[key]]
        if entity == "person":
            events = self.w.events[key]
        else:
            events = [e for p in self.w.people_of[key] for e in self.w.events[p]]
        return [e for e in events if self.in_window(e["timestamp"], window)]

    def in_window(self, moment: datetime, window: Window | None) -> bool:
        if moment > self.as_of:
            return False
        if window is None:
            return True
        if window.last_days is not None:
            return moment >= self.as_of - timedelta(days=window.last_days)
        start = datetime.combine(window.start, time(), timezone.utc)
        end = datetime.combine(window.end, time(), timezone.utc) + timedelta(days=1)
        return start <= moment < end

    def test(self, cond: Condition, value: Any) -> bool:
        if isinstance(cond, IsNull):
            return (value is None) != cond.negated
        if value is None:
            return cond.negated if isinstance(cond, InValues) else False
        if isinstance(cond, InValues):
            return (any(same(value, v) for v in cond.values)) != cond.negated
        if isinstance(cond, Between):
            return comparable(cond.low, value) <= value <= comparable(cond.high, value)
        if cond.op == "contains":
            return str(cond.value) in value
        if cond.op == "starts with":
            return value.startswith(str(cond.value))
        if cond.op == "ends with":
            return value.endswith(str(cond.value))
        return compare_numbers(cond.op, value, comparable(cond.value, value))


def comparable(literal: Any, value: Any) -> Any:
    """A date literal against a timestamp field means midnight UTC of that day."""
    if isinstance(value, datetime) and isinstance(literal, date) and not isinstance(literal, datetime):
        return datetime.combine(literal, time(), timezone.utc)
    return literal


def same(value: Any, literal: Any) -> bool:
    return value == comparable(literal, value)


def compare_numbers(op: str, left: Any, right: Any) -> bool:
    return {
        "=": left == right, "!=": left != right, "<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right,
    }[op]
