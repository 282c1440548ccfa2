"""The identity stage's work: stitch people and accounts, then link people to accounts."""

from __future__ import annotations

from dataclasses import dataclass, field

from accord.engines.adapter import Engine
from accord.engines.registry import lake_engine
from accord.identity.accounts import link_people_to_accounts
from accord.identity.config import IdentityConfig
from accord.identity.nodes import join_records
from accord.identity.resolve import ResolveReport, resolve
from accord.lake.store import Lake


@dataclass
class IdentityReport:
    people: ResolveReport
    accounts: ResolveReport
    account_links: dict[str, int]
    profiles: dict[str, int] = field(default_factory=dict)
    engine: str = ""
    """The engine that built the whole graphs and found the components."""


def stitch(lake: Lake, config: IdentityConfig, full: bool = False, engine: Engine | None = None) -> IdentityReport:
    """Restitch what new batches touched (everything with `full`) and relink the people concerned to accounts;
    the profiles are the next stage's (`profiles/build.py`). `engine` builds whole graphs, finds components and
    relinks everyone."""
    engine = engine or lake_engine(lake)
    covered = lake.scalar("SELECT max(last_batch_id) FROM identity_runs WHERE kind = 'person'")
    people = resolve(lake, "person", config, engine, full)
    accounts = resolve(lake, "account", config, engine, full)
    links = link_people_to_accounts(lake, config, _people_to_relink(lake, people, accounts, covered), engine)
    return IdentityReport(people, accounts, links, engine=engine.name)


def _people_to_relink(lake: Lake, people: ResolveReport, accounts: ResolveReport, covered: int | None) -> list[str] | None:
    """The people whose account links may have changed, or None for everyone.

    A changed account can change anyone's inferred link; otherwise only touched people and the people any version
    of a changed account-person relation names (changed: in a batch after `covered`, the last one the previous run
    saw; any version: a relation moved to someone else leaves its former person) need new links.
    """
    if covered is None or people.touched is None or accounts.touched is None or accounts.touched:
        return None
    related = [r[0] for r in lake.execute(
        f"SELECT DISTINCT n.profile_id FROM account_person r {join_records('person', 'r.person_key')} "
        "WHERE r.source_key IN (SELECT source_key FROM account_person WHERE batch_id > ?)", [covered]).fetchall()]
    return sorted({*people.touched, *related})
