"""Look a person or an account up by any identity (`email:jane@acme.com`, `crm_id:003…`, `domain:acme.com`, …)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.audiences.events_of import people_events_sql
from accord.audiences.memberships import audiences_of, memberships_of
from accord.governance.consent import statements
from accord.identity.nodes import (
    RECORD_NAMESPACE,
    identities_of,
    profile_of,
    records_sql,
)
from accord.identity.resolve import ID_PREFIX
from accord.lake.sql import ident
from accord.lake.store import Lake, current_where
from accord.model.blanks import address, stripped
from accord.model.namespaces import NAMESPACES
from accord.profiles.build import attributes

ACCOUNT_NAMESPACES = {"b2b_account", "b2b_account_crm", "domain"}


class ProfileNotFound(LookupError):
    """No profile holds that identity."""

    @classmethod
    def of(cls, kind: str, namespace: str, value: str) -> ProfileNotFound:
        return cls(f"no {kind} profile holds {namespace}:{echoed(value)}")


ECHOED = 80
"""How much of what someone looked up an error repeats: a pasted page must not come back as the error."""


def echoed(text: str) -> str:
    """`text`, or its beginning and how long it was when it is longer than an error should repeat."""
    return text if len(text) <= ECHOED else f"{text[:ECHOED]}… ({len(text):,} characters)"


@dataclass(frozen=True)
class AttributeValue:
    """One unified attribute and the record that gave it."""

    name: str
    value: Any
    source_key: str | None
    batch_id: int | None
    source_updated_at: datetime | None


class _HasAttributes:
    attributes: list[AttributeValue]

    def attribute(self, name: str) -> Any:
        """The unified value of one attribute, or None."""
        return next((a.value for a in self.attributes if a.name == name), None)


@dataclass
class PersonProfile(_HasAttributes):
    person_id: str
    attributes: list[AttributeValue]
    identities: list[tuple[str, str]]
    accounts: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    audiences: list[dict[str, Any]] = field(default_factory=list)
    consent: list[dict[str, Any]] = field(default_factory=list)
    """Per purpose and channel: granted, refused or undeliverable, with the record, time and reason."""


@dataclass
class AccountProfile(_HasAttributes):
    account_id: str
    attributes: list[AttributeValue]
    identities: list[tuple[str, str]]
    people: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    engagement: list[dict[str, Any]] = field(default_factory=list)
    weekly: list[dict[str, Any]] = field(default_factory=list)
    audiences: list[dict[str, Any]] = field(default_factory=list)


RECORDS = "SELECT unnest($records::VARCHAR[])"
"""The source keys a profile read names once, in parameter `records`, rather than finding them in every query."""

KIND_OF_PREFIX = {prefix: kind for kind, prefix in ID_PREFIX.items()}
PROFILE_ID = re.compile(f"[{''.join(KIND_OF_PREFIX)}][0-9]{{8,}}")
"""A profile's own id (`P00000042`, `A00000007`), which listings print: looked up as it is."""


def parse_identity(ref: str) -> tuple[str, str]:
    """`namespace:value` → (namespace, normalised value); the value may itself hold colons. A bare profile id or
    e-mail address is read as `person_id:`/`account_id:` or `email:`, as people type them."""
    namespace, sep, value = ref.partition(":")
    if not sep and PROFILE_ID.fullmatch(ref.strip()):
        namespace, value = f"{KIND_OF_PREFIX[ref.strip()[0]]}_id", ref.strip()
    elif not sep and "@" in ref:
        namespace, value = "email", ref
    elif not sep or not value:
        raise ValueError(f"look a profile up as namespace:value, e.g. email:jane@acme.com, or by its id "
                         f"(P00000042) (got {echoed(ref)!r})")
    known = set(NAMESPACES) | ACCOUNT_NAMESPACES | {"person_id", "account_id"}
    if namespace not in known:
        raise ValueError(f"unknown namespace {echoed(namespace)!r}; known: {', '.join(sorted(known))}")
    if namespace == "email":
        value = address(value).lower()
    elif namespace == "domain":
        value = stripped(value).lower()
    return namespace, value


def find_profile_id(lake: Lake, kind: str, ref: str) -> str:
    namespace, value = parse_identity(ref)
    found = profile_of(lake, kind, namespace, value)
    if found is None:
        raise ProfileNotFound.of(kind, namespace, value)
    return found


def people_with_email(lake: Lake, email: str) -> list[str]:
    """Every person whose profile's e-mail is this one: records kept apart by a guardrail (two CRM contacts with one
    address) share an e-mail, though its identity node belongs to one of them."""
    rows = lake.execute("SELECT person_id FROM person_profile WHERE lower(email) = ? ORDER BY 1",
                        [address(email).lower()]).fetchall()
    return [str(r[0]) for r in rows]


def check_wanted(known: list[str], wanted: list[str]) -> None:
    """Refuse attributes a person does not have, naming those they do."""
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown attribute(s) {', '.join(unknown)}; a person has: {', '.join(known)}")


def person_summary(lake: Lake, ref: str, wanted: list[str]) -> dict[str, Any]:
    """A person's id, the attributes asked for and the audiences they are in now: what a page asks while it renders
    (three point queries, where `get_person` gathers the whole profile)."""
    check_wanted(attributes(lake.entity("person")), wanted)
    person_id = find_profile_id(lake, "person", ref)
    values: tuple[Any, ...] = ()
    if wanted:
        row = lake.execute(f"SELECT {', '.join(ident(n) for n in wanted)} FROM person_profile WHERE person_id = ?",
                           [person_id]).fetchone()
        values = row or (None,) * len(wanted)
    return {"person_id": person_id, "attributes": dict(zip(wanted, values)), "audiences": audiences_of(lake, person_id)}


def get_person(lake: Lake, ref: str, events: int = 20) -> PersonProfile:
    person_id = find_profile_id(lake, "person", ref)
    identities = identities_of(lake, "person", person_id)
    # The person's records, read once with the identities: each read below names them, and finding them again in
    # identity_nodes cost 0.04 s a time on `large`.
    keys = [(value, person_id) for namespace, value in identities if namespace == RECORD_NAMESPACE["person"]]
    params = {"id": person_id, "records": [key for key, _ in keys]}
    profile = PersonProfile(person_id, _attributes(lake, "person", person_id), identities)
    profile.consent = statements(profile.attributes)
    profile.accounts = _q(
        lake,
        """SELECT pa.account_id, ap.name, ap.domain, pa.method, pa.detail, pa.score, pa.role, pa.is_primary
        FROM person_account pa LEFT JOIN account_profile ap USING (account_id) WHERE pa.person_id = $id
        ORDER BY pa.method = 'stated' DESC, pa.is_primary DESC, pa.account_id""",
        params,
    )
    # Each read is limited to this person's records before the current-version window (current_where), so the
    # window never runs over the whole table. Finding those records still scans the table's key column: on `large`
    # 0.06 s for the deals (and 0.28 s for the events, which are read by person where the audiences' copy can).
    accounts = f"SELECT source_key FROM ({records_sql('account', 'SELECT account_id FROM person_account WHERE person_id = $id')})"
    roles = current_where("opportunity_person", "person_key", RECORDS)
    deals = (f"SELECT * FROM {current_where('opportunity', 'account_key', accounts)} UNION BY NAME "
             f"SELECT * FROM {current_where('opportunity', 'source_key', f'SELECT opportunity_key FROM {roles}')}")
    profile.opportunities = _q(
        lake,
        f"""WITH roles AS (SELECT opportunity_key, role, is_primary FROM {roles})
        SELECT o.source_key, o.name, o.stage, o.amount, o.close_date, o.is_closed, o.is_won,
               coalesce(r.role, 'account opportunity') AS role, coalesce(r.is_primary, FALSE) AS is_primary
        FROM ({deals}) o LEFT JOIN roles r ON r.opportunity_key = o.source_key
        ORDER BY o.close_date DESC NULLS LAST""",
        params,
    )
    members = current_where("campaign_member", "person_key", RECORDS)
    profile.campaigns = _q(
        lake,
        f"""SELECT c.name AS campaign, m.status, m.has_responded, m.membership_date, m.source_type
        FROM {members} m LEFT JOIN {current_where('campaign', 'source_key', f'SELECT campaign_key FROM {members}')} c
        ON c.source_key = m.campaign_key ORDER BY m.membership_date DESC NULLS LAST""",
        params,
    )
    listed = current_where("marketing_list_member", "person_key", RECORDS)
    profile.lists = _q(
        lake,
        f"""SELECT l.name AS list, m.added_at FROM {listed} m
        LEFT JOIN {current_where('marketing_list', 'source_key', f'SELECT marketing_list_key FROM {listed}')} l
        ON l.source_key = m.marketing_list_key ORDER BY l.name""",
        params,
    )
    profile.events = _q(
        lake,
        f"""SELECT timestamp, event_type, url, source_key FROM {_events(lake, '$id', params, keys)}
        ORDER BY timestamp DESC, source_key LIMIT {int(events)}""",
        params,
    )
    profile.audiences = memberships_of(lake, person_id)
    return profile


def get_account(lake: Lake, ref: str) -> AccountProfile:
    account_id = find_profile_id(lake, "account", ref)
    params = {"id": account_id}
    profile = AccountProfile(account_id, _attributes(lake, "account", account_id), identities_of(lake, "account", account_id))
    profile.people = _q(
        lake,
        """SELECT pa.person_id, pp.email, pp.first_name, pp.last_name, pp.job_title, pa.role, pa.method, pa.score
        FROM person_account pa LEFT JOIN person_profile pp USING (person_id) WHERE pa.account_id = $id
        ORDER BY pa.method = 'stated' DESC, pp.last_name, pa.person_id""",
        params,
    )
    records = f"SELECT source_key FROM ({records_sql('account', '$id')})"
    profile.opportunities = _q(
        lake,
        f"""SELECT source_key, name, stage, amount, close_date, is_closed, is_won
        FROM {current_where('opportunity', 'account_key', records)} ORDER BY close_date DESC NULLS LAST""",
        params,
    )
    people = "SELECT person_id FROM person_account WHERE account_id = $id"
    keys = lake.execute(records_sql("person", people), params).fetchall()
    params = {**params, "records": [key for key, _ in keys]}
    profile.engagement, profile.weekly = _engagement(lake, _events(lake, people, params, keys), params)
    profile.audiences = memberships_of(lake, account_id)
    return profile


def _events(lake: Lake, people: str, params: dict[str, Any], keys: list[tuple[str, str]]) -> str:
    """The events of the people `people` selects, whose records are `keys` (source key, profile id; `$records`
    in `params`), as a table to read from."""
    kept = people_events_sql(lake, people, _named(people, params), set(keys))
    return f"({kept})" if kept else current_where("event", "person_key", RECORDS)


def _engagement(lake: Lake, events: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `events` of an account's people: by type (in the 30 days before the store's latest event, all time, from
    how many records) and per week over the 26 weeks before it, the weeks starting on Monday (UTC). Counted in
    the store: an account of some hundred people has thousands of events, which took longer to bring here."""
    latest = "$latest::TIMESTAMPTZ"
    rows = _q(lake, f"""
        SELECT grouping(event_type) = 0 AS by_type, event_type, week, count(*) AS n,
               count(*) FILTER (WHERE recent) AS recent, count(DISTINCT person_key) AS records
        FROM (SELECT event_type, person_key, timestamp > {latest} - INTERVAL 30 DAY AS recent,
                     CASE WHEN timestamp > {latest} - INTERVAL 26 WEEK THEN date_trunc('week', timestamp) END AS week
              FROM {events})
        GROUP BY GROUPING SETS ((event_type), (week))""",
              {**params, "latest": lake.scalar("SELECT max(timestamp) FROM event")})
    engagement = sorted(({"event_type": r["event_type"], "last_30_days": r["recent"], "all_time": r["n"],
                          "records": r["records"]} for r in rows if r["by_type"]),
                        key=lambda r: (-r["all_time"], r["event_type"]))
    weekly = sorted(({"week": r["week"].date().isoformat(), "events": r["n"]}
                     for r in rows if not r["by_type"] and r["week"] is not None), key=lambda r: r["week"])
    return engagement, weekly


def _attributes(lake: Lake, kind: str, profile_id: str) -> list[AttributeValue]:
    entity = lake.entity(kind)
    row = lake.query(f"SELECT * FROM {kind}_profile WHERE {kind}_id = ?", [profile_id])
    if not row:
        raise ProfileNotFound(f"{kind} {profile_id} has no profile yet: run `accord identity run`")
    lineage = {
        r["attribute"]: r
        for r in lake.query("SELECT * FROM profile_lineage WHERE kind = ? AND profile_id = ?", [kind, profile_id])
    }
    out = []
    for name in attributes(entity):
        value = row[0].get(name)  # a field declared since the last identity run has no column yet
        if value is None:
            continue
        src = lineage.get(name, {})
        out.append(AttributeValue(name, value, src.get("source_key"), src.get("batch_id"), src.get("source_updated_at")))
    return out




def _q(lake: Lake, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = lake.execute(sql, _named(sql, params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _named(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters `sql` names (`$name`): DuckDB refuses any other."""
    return {name: value for name, value in params.items() if re.search(rf"\${name}\b", sql)}
