"""Each table has one owning package: no other module names it in SQL (the pipeline's stage declarations aside),
so a table can change behind its owner's functions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "accord"
OWNERS = {
    "identity": ("identity_nodes", "identity_merges", "identity_runs", "identity_rejections", "identity_unlinks"),
    "profiles": ("profile_changes", "change_readers"),
    "audiences": ("audience_membership", "audience_membership_history"),
    "activation": ("delivery_runs", "delivery_receipts", "delivery_dead_letters", "delivery_in_flight",
                   "destination_members", "destination_reach"),
    "pipeline": ("stage_runs",),
    "governance": ("audit_log",),
    "alerts": ("alert_history",),
}
DECLARATIONS = {"pipeline/stages.py", "pipeline/runtime.py"}  # each stage names the tables it reads and writes


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_only_the_owner_names_its_tables(owner: str) -> None:
    named = re.compile(r"\b(" + "|".join(OWNERS[owner]) + r")\b")
    strays = []
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if where.split("/")[0] in (owner, "lake") or where in DECLARATIONS:
            continue
        strays += [f"{where}:{n}: {m.group(0)}" for n, line in enumerate(path.read_text().splitlines(), 1)
                   if (m := named.search(line)) and not line.lstrip().startswith("#")]
    assert not strays, f"tables of {owner}/ named elsewhere: {strays}"


def test_the_audit_log_is_only_added_to() -> None:
    changes = re.compile(r"\b(UPDATE|DELETE FROM|TRUNCATE|DROP TABLE)\s+audit_log\b", re.IGNORECASE)
    found = [f"{p.relative_to(PACKAGE)}:{n}" for p in PACKAGE.rglob("*") if p.suffix in (".py", ".sql")
             for n, line in enumerate(p.read_text().splitlines(), 1) if changes.search(line)]
    assert not found, f"the audit log is changed, not only added to: {found}"
