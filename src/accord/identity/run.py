"""The whole identity stage in one call: stitch people and accounts, link people to accounts, rebuild profiles."""

from __future__ import annotations

from dataclasses import dataclass

from accord.identity.accounts import link_people_to_accounts
from accord.identity.config import IdentityConfig
from accord.identity.resolve import ResolveReport, resolve
from accord.lake.store import Lake
from accord.profiles.build import build_profiles


@dataclass
class IdentityReport:
    people: ResolveReport
    accounts: ResolveReport
    account_links: dict[str, int]
    profiles: dict[str, int]


def run_identity(lake: Lake, config: IdentityConfig, full: bool = False) -> IdentityReport:
    people = resolve(lake, "person", config, full)
    accounts = resolve(lake, "account", config, full)
    links = link_people_to_accounts(lake, config)
    profiles = build_profiles(lake, config, {"person": people.touched, "account": accounts.touched})
    return IdentityReport(people, accounts, links, profiles)
