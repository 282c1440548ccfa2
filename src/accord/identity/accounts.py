"""Person → account links: the ones sources state, then, for people with none, inferred ones with method and score.

Inference never overrides a stated link: by e-mail domain (never a free-mail domain) when exactly one account
has it, then by normalised company name, exactly and then fuzzily (rapidfuzz) above a threshold.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pyarrow as pa
from rapidfuzz import fuzz, process

from accord.engines.adapter import Engine
from accord.engines.registry import lake_engine
from accord.identity.config import IdentityConfig
from accord.identity.graph import free_mail_domains
from accord.identity.nodes import CRM_ACCOUNT, join_records, records_sql
from accord.lake.sql import literal
from accord.lake.store import Lake, current_sql, current_where
from accord.model.entities import PERSON

LEGAL_SUFFIXES = {
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company", "gmbh", "ag", "sa",
    "plc", "bv", "nv", "oy", "ab", "as", "srl", "spa", "pty", "kk", "sarl", "lp", "llp",
}
PUNCTUATION = re.compile(r"[^\w\s]")


def normalize_company(name: str | None) -> str:
    """Lower-case, punctuation folded, legal suffixes dropped: 'ACME, Inc.' → 'acme'."""
    if not name:
        return ""
    words = PUNCTUATION.sub(" ", name.lower()).split()
    while words and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def link_people_to_accounts(lake: Lake, config: IdentityConfig, people: list[str] | None = None,
                            engine: Engine | None = None) -> dict[str, int]:
    """Rebuild `person_account`: stated links first, inferred ones for the people left without.

    `people` (person profile ids) limits the rebuild to them, in the lake; None rebuilds every person's links,
    the stated and domain ones on `engine` (default: the lake's), the company names' on this machine.
    """
    incremental = people is not None and bool(
        lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'person_account'"))
    if incremental and people:
        lake.execute("CREATE OR REPLACE TEMP TABLE _relink AS SELECT unnest(?::VARCHAR[]) AS person_id", [people])
    if incremental and not people:
        return _counts(lake)
    keys = (f"SELECT source_key FROM ({records_sql('person', 'SELECT person_id FROM _relink')})"
            if incremental else None)
    # The people's current records are a step of their own: read four times below, Spark would otherwise rank
    # their versions four times.
    person_records = "_people_records"
    records = (f"SELECT source_key, account_key, crm_account_id, converted_account_key, email, company_name "
               f"FROM ({current_sql(PERSON, keys)})")
    relations = current_where("account_person", "person_key", keys) if keys else "account_person_current"
    relinked = "SELECT person_id FROM _relink" if incremental else None
    stated = f"""
        WITH person_of AS (SELECT source_key AS record_key, profile_id AS person_id
                           FROM ({records_sql('person', relinked)})),
             account_of AS (SELECT source_key AS record_key, profile_id AS account_id FROM ({records_sql('account')})),
             crm_account AS (SELECT value AS crm_id, profile_id AS account_id FROM identity_nodes
                             WHERE kind = 'account' AND namespace = {literal(CRM_ACCOUNT)}),
             links AS (
                SELECT p.source_key AS record_key, a.account_id, 'stated' AS method, 'account on the record' AS detail,
                       NULL::VARCHAR AS role, TRUE AS is_primary
                FROM {person_records} p JOIN account_of a ON a.record_key = p.account_key
                UNION ALL
                SELECT p.source_key, c.account_id, 'stated', 'Salesforce account id on the record', NULL, TRUE
                FROM {person_records} p JOIN crm_account c ON c.crm_id = p.crm_account_id
                UNION ALL
                SELECT p.source_key, a.account_id, 'stated', 'lead converted to a contact of the account', NULL, TRUE
                FROM {person_records} p JOIN account_of a ON a.record_key = p.converted_account_key
                UNION ALL
                SELECT r.person_key, a.account_id, 'stated', 'account-person relation', r.role, coalesce(r.is_primary, FALSE)
                FROM {relations} r JOIN account_of a ON a.record_key = r.account_key
             )
        SELECT po.person_id, l.account_id, 'stated' AS method, string_agg(DISTINCT l.detail, '; ' ORDER BY l.detail) AS detail, 1.0 AS score, max(l.role) AS role,
               bool_or(l.is_primary) AS is_primary, min(l.record_key) AS evidence
        FROM links l JOIN person_of po USING (record_key)
        GROUP BY po.person_id, l.account_id"""
    free = ", ".join(literal(d) for d in sorted(free_mail_domains()))
    unlinked = f"""
        SELECT n.profile_id AS person_id, p.source_key, lower(split_part(p.email, '@', 2)) AS email_domain, p.company_name
        FROM {person_records} p {join_records('person', 'p.source_key')}
        WHERE n.profile_id NOT IN (SELECT person_id FROM _stated)"""
    by_domain = f"""
        WITH domains AS (SELECT value AS domain, any_value(profile_id) AS account_id, count(DISTINCT profile_id) AS n
                         FROM identity_nodes WHERE kind = 'account' AND namespace = 'domain' GROUP BY value)
        SELECT u.person_id, d.account_id, 'email_domain' AS method, u.email_domain AS detail, 1.0 AS score,
               u.source_key AS evidence
        FROM _unlinked u JOIN domains d ON d.domain = u.email_domain
        WHERE d.n = 1 AND u.email_domain NOT IN ({free})"""
    steps = [("_stated", stated), ("_unlinked", unlinked), ("_by_domain", by_domain)]
    runs_on = engine if engine is not None and not incremental else lake_engine(lake)
    runs_on.build([(person_records, records), *steps], [name for name, _ in steps])
    if incremental:
        lake.execute("DELETE FROM person_account_stated WHERE person_id IN (SELECT person_id FROM _relink)")
        lake.execute("INSERT INTO person_account_stated SELECT * FROM _stated")
    else:
        lake.execute("CREATE OR REPLACE TABLE person_account_stated AS SELECT * FROM _stated")
    by_name = _match_company_names(lake, config)
    lake.register("_by_name_arrow", by_name)
    links = """
        SELECT person_id, account_id, method, detail, score, role, is_primary, evidence FROM _stated
        UNION ALL
        SELECT person_id, account_id, method, detail, score, NULL, TRUE, evidence FROM (
            SELECT *, row_number() OVER (PARTITION BY person_id
                                         ORDER BY rank, score DESC, account_id, evidence) AS pick FROM (
                SELECT *, 1 AS rank FROM _by_domain
                UNION ALL SELECT person_id, account_id, method, detail, score, evidence, 2 AS rank FROM _by_name_arrow))
        WHERE pick = 1"""
    if incremental:
        lake.execute("DELETE FROM person_account WHERE person_id IN (SELECT person_id FROM _relink)")
        lake.execute("INSERT INTO person_account " + links)
    else:
        lake.execute("CREATE OR REPLACE TABLE person_account AS " + links)
    lake.unregister("_by_name_arrow")
    return _counts(lake)


def _counts(lake: Lake) -> dict[str, int]:
    rows = lake.query("SELECT method, count(*) AS n FROM person_account GROUP BY 1")
    return {r["method"]: int(r["n"]) for r in rows}


def _match_company_names(lake: Lake, config: IdentityConfig) -> pa.Table:
    """Company typed on a lead → account name: exact after normalising, else the best fuzzy match in its block."""
    wanted = lake.query(
        "SELECT person_id, min(source_key) AS evidence, company_name FROM _unlinked "
        "WHERE company_name IS NOT NULL AND person_id NOT IN (SELECT person_id FROM _by_domain) GROUP BY ALL"
    )
    accounts = lake.query(
        f"""SELECT n.profile_id AS account_id, a.name FROM account_current a {join_records('account', 'a.source_key')}
        WHERE a.name IS NOT NULL"""
    ) if wanted else []
    exact: dict[str, set[str]] = defaultdict(set)
    blocks: dict[str, dict[str, str]] = defaultdict(dict)
    for row in accounts:
        norm = normalize_company(row["name"])
        if norm:
            exact[norm].add(row["account_id"])
            for token in set(norm.split()):
                blocks[token][norm] = row["account_id"]
    out: dict[str, list] = {"person_id": [], "account_id": [], "method": [], "detail": [], "score": [], "evidence": []}
    cache: dict[str, tuple[str, str, str, float] | None] = {}
    for row in wanted:
        norm = normalize_company(row["company_name"])
        if norm not in cache:
            cache[norm] = _best_account(norm, exact, blocks, config.fuzzy_company_threshold)
        found = cache[norm]
        if found:
            account_id, method, detail, score = found
            for key, value in (("person_id", row["person_id"]), ("account_id", account_id), ("method", method),
                               ("detail", detail), ("score", score), ("evidence", row["evidence"])):
                out[key].append(value)
    return pa.table(
        {
            "person_id": pa.array(out["person_id"], pa.string()),
            "account_id": pa.array(out["account_id"], pa.string()),
            "method": pa.array(out["method"], pa.string()),
            "detail": pa.array(out["detail"], pa.string()),
            "score": pa.array(out["score"], pa.float64()),
            "evidence": pa.array(out["evidence"], pa.string()),
        }
    )


def _best_account(
    norm: str, exact: dict[str, set[str]], blocks: dict[str, dict[str, str]], threshold: float
) -> tuple[str, str, str, float] | None:
    if not norm:
        return None
    if norm in exact:
        ids = exact[norm]
        return (next(iter(ids)), "company_name", norm, 1.0) if len(ids) == 1 else None
    # Candidates share at least one word with the typed name, so a slip in one word still finds its account.
    candidates = {name: acc for token in set(norm.split()) for name, acc in blocks.get(token, {}).items()}
    best = process.extract(norm, list(candidates), scorer=fuzz.token_sort_ratio, limit=2, score_cutoff=threshold)
    if not best or (len(best) == 2 and best[1][1] == best[0][1]):
        return None
    name, score, _ = best[0]
    return candidates[name], "company_fuzzy", f"{norm} ~ {name}", round(score / 100, 4)
