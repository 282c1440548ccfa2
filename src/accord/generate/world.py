"""Draw a consistent B2B world (true companies, people, deals, engagement) as numpy arrays, vectorised."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from accord.generate import pools

DAY = 86_400


@dataclass(frozen=True)
class Scale:
    accounts: int
    people: int
    opportunities: int
    opportunity_roles: int
    events: int
    campaigns: int = 40
    programs: int = 30


SCALES: dict[str, Scale] = {
    "tiny": Scale(40, 400, 120, 600, 6_000, campaigns=8, programs=6),
    "small": Scale(300, 3_000, 900, 4_500, 60_000, campaigns=12, programs=10),
    "medium": Scale(10_000, 100_000, 30_000, 150_000, 2_000_000),
    "large": Scale(100_000, 1_000_000, 300_000, 1_500_000, 20_000_000),
}


@dataclass
class Accounts:
    name: np.ndarray  # display name, with a legal suffix
    domain: np.ndarray
    industry: np.ndarray
    employees: np.ndarray
    revenue: np.ndarray
    country: np.ndarray
    city: np.ndarray
    created: np.ndarray  # epoch seconds
    parent: np.ndarray  # index of a parent account or -1


@dataclass
class People:
    account: np.ndarray  # index into accounts, -1 for none
    first: np.ndarray
    last: np.ndarray
    email: np.ndarray
    title: np.ndarray
    seniority: np.ndarray
    phone: np.ndarray
    country: np.ndarray
    created: np.ndarray
    opted_out: np.ndarray
    do_not_call: np.ndarray
    email_invalid: np.ndarray  # Marketo saw the address bounce
    in_crm: np.ndarray  # 0 none, 1 contact, 2 lead
    converted_lead: np.ndarray  # contact that also has a converted lead record
    in_marketo: np.ndarray
    marketo_duplicate: np.ndarray  # has a second Marketo lead record
    lead_score: np.ndarray


@dataclass
class Opportunities:
    account: np.ndarray
    stage: np.ndarray  # index into pools.OPPORTUNITY_STAGES
    amount: np.ndarray
    close: np.ndarray  # epoch seconds
    created: np.ndarray
    campaign: np.ndarray  # index into campaigns or -1


@dataclass
class Events:
    person: np.ndarray  # index into people (always a Marketo person)
    kind: np.ndarray  # index into EVENT_KINDS
    at: np.ndarray  # epoch seconds, ascending
    path: np.ndarray  # index into pools.WEB_PATHS
    program: np.ndarray  # index into programs
    score_delta: np.ndarray


# (accord event type, Marketo activity type id, Marketo activity name, share of events)
EVENT_KINDS = (
    ("web.pageview", 1, "Visit Webpage", 0.35),
    ("web.formfill", 2, "Fill Out Form", 0.03),
    ("email.sent", 6, "Send Email", 0.15),
    ("email.delivered", 7, "Email Delivered", 0.14),
    ("email.open", 10, "Open Email", 0.11),
    ("email.click", 11, "Click Email", 0.05),
    ("lead.score_change", 22, "Change Score", 0.08),
    ("list.add", 24, "Add to List", 0.02),
    ("program.status_change", 104, "Change Status in Progression", 0.03),
    ("webinar.attend", 100002, "Attended Webinar", 0.01),
    ("ad.click", 100001, "Clicked Ad", 0.03),
)


@dataclass
class World:
    scale: Scale
    seed: int
    as_of: datetime
    accounts: Accounts
    people: People
    opportunities: Opportunities
    roles: tuple[np.ndarray, np.ndarray, np.ndarray]  # opportunity, person, role index
    events: Events


def build_world(scale: Scale, seed: int, as_of: datetime | None = None) -> World:
    """The same seed and as-of date give the same world."""
    as_of = (as_of or datetime.now(timezone.utc)).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(seed)
    end = int(as_of.timestamp())
    accounts = _accounts(rng, scale, end)
    people = _people(rng, scale, accounts, end)
    opportunities = _opportunities(rng, scale, people, end)
    roles = _roles(rng, scale, people, opportunities)
    events = _events(rng, scale, people, end)
    return World(scale, seed, as_of, accounts, people, opportunities, roles, events)


def _pick(rng: np.random.Generator, pool: tuple[str, ...] | list[str], n: int, p: tuple[float, ...] | None = None):
    arr = np.array(pool, dtype=object)
    weights = None if p is None else np.array(p) / np.sum(p)
    return arr[rng.choice(len(arr), size=n, p=weights)]


def _accounts(rng: np.random.Generator, scale: Scale, end: int) -> Accounts:
    n = scale.accounts
    heads, tails, thirds = (np.array(x, dtype=object) for x in (pools.COMPANY_HEADS, pools.COMPANY_TAILS, ("",) + tuple(pools.COMPANY_THIRDS)))
    combos = len(heads) * len(tails) * len(thirds)
    if n > combos:
        raise ValueError(f"at most {combos} accounts can get unique names")
    pick = rng.choice(combos, size=n, replace=False)
    h, rest = np.divmod(pick, len(tails) * len(thirds))
    t, th = np.divmod(rest, len(thirds))
    third = thirds[th]
    base = heads[h] + " " + tails[t] + np.where(third == "", "", " " + third)
    legal = _pick(rng, pools.LEGAL_SUFFIXES, n)
    name = np.where(legal == "", base, base + " " + legal)
    slug = np.array([b.lower().replace(" ", "") for b in base], dtype=object)
    domain = slug + "." + _pick(rng, pools.TLDS, n)
    employees = np.maximum(1, rng.lognormal(5.0, 1.6, n)).astype(np.int64)
    revenue = np.round(employees * rng.lognormal(12.0, 0.5, n), -3)
    country_idx = rng.choice(len(pools.COUNTRIES), size=n, p=np.array(pools.COUNTRY_WEIGHTS) / sum(pools.COUNTRY_WEIGHTS))
    parent = np.where(rng.random(n) < 0.05, rng.integers(0, n, n), -1)
    parent[parent == np.arange(n)] = -1
    return Accounts(
        name=name,
        domain=domain,
        industry=_pick(rng, pools.INDUSTRIES, n, pools.INDUSTRY_WEIGHTS),
        employees=employees,
        revenue=revenue,
        country=np.array(pools.COUNTRIES, dtype=object)[country_idx],
        city=np.array(pools.CITIES, dtype=object)[country_idx],
        created=end - rng.integers(200 * DAY, 2000 * DAY, n),
        parent=parent,
    )


def _people(rng: np.random.Generator, scale: Scale, accounts: Accounts, end: int) -> People:
    n = scale.people
    has_account = rng.random(n) < 0.9
    weights = rng.lognormal(0, 1.0, scale.accounts)
    account = np.where(has_account, rng.choice(scale.accounts, size=n, p=weights / weights.sum()), -1)
    first = _pick(rng, pools.FIRST_NAMES, n)
    last = _pick(rng, pools.LAST_NAMES, n)
    free = _pick(rng, pools.FREE_MAIL_DOMAINS, n)
    # Some people at companies still sign up with a personal address: only their typed company tells the employer.
    personal = (account >= 0) & (rng.random(n) < 0.08)
    domain = np.where((account >= 0) & ~personal, accounts.domain[np.maximum(account, 0)], free)
    local = np.char.lower((first + "." + last).astype(str)).astype(object)
    email = _unique_emails(local, domain)
    level = rng.choice(len(pools.SENIORITY_TITLES), size=n, p=pools.SENIORITY_WEIGHTS)
    titles = np.empty(n, dtype=object)
    for i, (_, options) in enumerate(pools.SENIORITY_TITLES):
        mask = level == i
        titles[mask] = _pick(rng, options, int(mask.sum()))
    seniority = np.array([s for s, _ in pools.SENIORITY_TITLES], dtype=object)[level]
    u = rng.random(n)
    in_crm = np.where(has_account, np.where(u < 0.65, 1, np.where(u < 0.8, 2, 0)), np.where(u < 0.4, 2, 0))
    in_marketo = (rng.random(n) < 0.8) | (in_crm == 0)
    phone = np.array([f"+1 555 {x:07d}" for x in rng.integers(0, 10_000_000, n)], dtype=object)
    country = np.where(account >= 0, accounts.country[np.maximum(account, 0)], _pick(rng, pools.COUNTRIES, n))
    return People(
        account=account,
        first=first,
        last=last,
        email=email,
        title=titles,
        seniority=seniority,
        phone=phone,
        country=country,
        created=end - rng.integers(10 * DAY, 900 * DAY, n),
        opted_out=rng.random(n) < 0.04,
        do_not_call=np.arange(n) % 53 == 7,  # drawn from no generator: every other draw stays as it was
        email_invalid=np.arange(n) % 71 == 3,
        in_crm=in_crm,
        converted_lead=(in_crm == 1) & (rng.random(n) < 0.1),
        in_marketo=in_marketo,
        marketo_duplicate=in_marketo & (rng.random(n) < 0.02),
        lead_score=rng.integers(0, 120, n),
    )


def _unique_emails(local: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """first.last@domain, with a number added where two people would share an address."""
    email = local + "@" + domain
    _, inverse, counts = np.unique(email.astype(str), return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    occurrence = np.empty(len(email), dtype=np.int64)
    occurrence[order] = np.arange(len(email)) - np.repeat(starts, counts)
    suffix = np.where(occurrence > 0, occurrence.astype(str).astype(object), "")
    return local + suffix + "@" + domain


def _opportunities(rng: np.random.Generator, scale: Scale, people: People, end: int) -> Opportunities:
    """Deals go mostly to accounts with contacts in the CRM, more to those with more contacts."""
    n = scale.opportunities
    contacts = np.bincount(people.account[people.in_crm == 1], minlength=scale.accounts).astype(float)
    weights = contacts + 0.05
    stage = rng.choice(len(pools.OPPORTUNITY_STAGES), size=n, p=pools.STAGE_WEIGHTS)
    closed = np.array([s[2] for s in pools.OPPORTUNITY_STAGES])[stage]
    close = np.where(closed, end - rng.integers(0, 365 * DAY, n), end + rng.integers(DAY, 180 * DAY, n))
    return Opportunities(
        account=rng.choice(scale.accounts, size=n, p=weights / weights.sum()),
        stage=stage,
        amount=np.round(rng.lognormal(10.8, 1.1, n), -2),
        close=close,
        created=close - rng.integers(30 * DAY, 240 * DAY, n),
        campaign=np.where(rng.random(n) < 0.3, rng.integers(0, scale.campaigns, n), -1),
    )


def _roles(rng: np.random.Generator, scale: Scale, people: People, opps: Opportunities):
    """Contact roles on opportunities: contacts of the opportunity's own account, no pair twice."""
    contacts = np.flatnonzero(people.in_crm == 1)
    by_account = contacts[np.argsort(people.account[contacts], kind="stable")]
    acc_of = people.account[by_account]
    starts = np.searchsorted(acc_of, np.arange(scale.accounts))
    counts = np.searchsorted(acc_of, np.arange(scale.accounts), side="right") - starts
    draws = int(scale.opportunity_roles * 2.5)
    opp = rng.integers(0, scale.opportunities, draws)
    acc = opps.account[opp]
    ok = counts[acc] > 0
    opp, acc = opp[ok], acc[ok]
    person = by_account[starts[acc] + (rng.random(len(acc)) * counts[acc]).astype(np.int64)]
    _, first = np.unique(opp.astype(np.int64) * (people.account.size + 1) + person, return_index=True)
    keep = np.sort(first)[: scale.opportunity_roles]
    opp, person = opp[keep], person[keep]
    order = np.argsort(opp, kind="stable")
    return opp[order], person[order], rng.integers(0, len(pools.CONTACT_ROLES), len(opp))


def _events(rng: np.random.Generator, scale: Scale, people: People, end: int) -> Events:
    n = scale.events
    marketo = np.flatnonzero(people.in_marketo)
    activity = rng.lognormal(0, 1.2, len(marketo))
    person = marketo[rng.choice(len(marketo), size=n, p=activity / activity.sum())]
    shares = np.array([k[3] for k in EVENT_KINDS])
    at = np.sort(rng.integers(end - 90 * DAY, end, n))
    return Events(
        person=person,
        kind=rng.choice(len(EVENT_KINDS), size=n, p=shares / shares.sum()).astype(np.int8),
        at=at,
        path=rng.choice(len(pools.WEB_PATHS), size=n, p=np.array(pools.WEB_PATH_WEIGHTS) / sum(pools.WEB_PATH_WEIGHTS)).astype(np.int8),
        program=rng.integers(0, scale.programs, n).astype(np.int16),
        score_delta=rng.integers(-5, 15, n).astype(np.int16),
    )


def iso(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds as ISO-8601 UTC text (Salesforce's and Marketo's wire format)."""
    return np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").astype(object) + "Z"


def iso_date(seconds: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(seconds.astype("datetime64[s]"), unit="D").astype(object)
