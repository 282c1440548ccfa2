"""Find people by name, e-mail fragment or company, and accounts by name or domain with firmographic and pipeline
filters: what a marketer types, not an identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accord.identity.nodes import join_records
from accord.lake.store import Lake
from accord.profiles.build import profiles_built


def _like(text: str) -> str:
    """`text` as an ILIKE pattern matching it anywhere, its own % and _ taken literally."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_people(lake: Lake, q: str, limit: int = 50) -> list[dict[str, Any]]:
    """People whose name, e-mail or company (as typed, or their linked account's name) contains `q`, the closest
    first (an exact e-mail, then a name starting with it)."""
    if not q.strip() or not profiles_built(lake):
        return []
    params = {"like": _like(q), "start": _like(q)[1:], "q": q.strip()}
    # The first hits in order, each person once (with their first account by name): a person with two primary
    # accounts is two hits, so more are read until `limit` people are found. Deduplicating every hit first
    # (DISTINCT ON) took 1.1-2.4 s for a one-letter search on `large` (a million hits), the first hits alone 0.3 s.
    wanted = limit
    while True:
        hits = lake.query(_PEOPLE_HITS, {**params, "limit": wanted})
        people: dict[str, dict[str, Any]] = {}
        for hit in hits:
            people.setdefault(hit["person_id"], hit)
        if len(people) >= limit or len(hits) < wanted:
            return list(people.values())[:limit]
        wanted *= 2


_PEOPLE_HITS = """
    SELECT p.person_id, p.email, p.first_name, p.last_name, p.job_title, coalesce(a.name, p.company_name) AS company
    FROM person_profile p
    LEFT JOIN person_account pa ON pa.person_id = p.person_id AND pa.is_primary
    LEFT JOIN account_profile a ON a.account_id = pa.account_id
    WHERE p.email ILIKE $like ESCAPE '\\' OR concat_ws(' ', p.first_name, p.last_name) ILIKE $like ESCAPE '\\'
       OR p.company_name ILIKE $like ESCAPE '\\' OR a.name ILIKE $like ESCAPE '\\'
    ORDER BY lower(p.email) = lower($q) DESC, concat_ws(' ', p.first_name, p.last_name) ILIKE $start ESCAPE '\\' DESC,
             p.last_name, p.first_name, p.person_id, company
    LIMIT $limit"""


@dataclass(frozen=True)
class AccountFilter:
    """What the accounts list narrows by; None leaves a filter off."""

    q: str = ""
    """A fragment of the name or domain."""
    industry: str | None = None
    min_employees: int | None = None
    max_employees: int | None = None
    min_open_pipeline: float | None = None
    """Sum of the amounts of the account's open opportunities, at least this."""


def search_accounts(lake: Lake, chosen: AccountFilter, limit: int = 100) -> list[dict[str, Any]]:
    """Accounts matching the filter with their people and open pipeline, the largest pipeline first (none before
    the first identity run)."""
    if not profiles_built(lake):
        return []
    where, params = ["TRUE"], {"limit": limit}
    if chosen.q.strip():
        where.append("(a.name ILIKE $like ESCAPE '\\' OR a.domain ILIKE $like ESCAPE '\\')")
        params["like"] = _like(chosen.q)
    if chosen.industry:
        where.append("a.industry = $industry")
        params["industry"] = chosen.industry
    if chosen.min_employees is not None:
        where.append("a.employees >= $min_employees")
        params["min_employees"] = chosen.min_employees
    if chosen.max_employees is not None:
        where.append("a.employees <= $max_employees")
        params["max_employees"] = chosen.max_employees
    pipeline = "coalesce(o.open_pipeline, 0)"
    if chosen.min_open_pipeline is not None:
        where.append(f"{pipeline} >= $min_pipeline")
        params["min_pipeline"] = chosen.min_open_pipeline
    return lake.query(
        f"""WITH open_deals AS (
            SELECT n.profile_id AS account_id, sum(o.amount) AS open_pipeline, count(*) AS open_opportunities
            FROM opportunity_current o {join_records('account', 'o.account_key')}
            WHERE NOT coalesce(o.is_closed, FALSE) GROUP BY 1),
        people AS (SELECT account_id, count(DISTINCT person_id) AS people FROM person_account GROUP BY 1)
        SELECT a.account_id, a.name, a.domain, a.industry, a.employees, a.annual_revenue,
               coalesce(pe.people, 0) AS people, {pipeline} AS open_pipeline,
               coalesce(o.open_opportunities, 0) AS open_opportunities
        FROM account_profile a LEFT JOIN open_deals o USING (account_id) LEFT JOIN people pe USING (account_id)
        WHERE {' AND '.join(where)}
        ORDER BY open_pipeline DESC, a.name, a.account_id LIMIT $limit""",
        params,
    )


def industries(lake: Lake) -> list[str]:
    """The industries accounts have, for a filter's choices."""
    if not profiles_built(lake):
        return []
    return [r[0] for r in lake.execute(
        "SELECT DISTINCT industry FROM account_profile WHERE industry IS NOT NULL ORDER BY 1").fetchall()]
