"""Audiences of a workspace: list with sizes, validate, save, size and sample now, overlap, why, run, members as
CSV, delete (editing one in the builder: `services/audience_edits.py`)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from accord.activation.run import reading
from accord.audiences.ast import Audience, InAudience, walk
from accord.audiences.compile import Compiler
from accord.audiences.evaluate import EvaluationReport, needed, preview
from accord.audiences.fields import Scope
from accord.audiences.files import (
    AudienceFileError,
    Usable,
    file_name,
    file_of,
    load_usable,
    parsed,
    save_audience,
    unreadable,
)
from accord.audiences.memberships import active_members
from accord.audiences.method import evaluation_method
from accord.audiences.text import parse_audience, print_audience
from accord.audiences.why import explain_membership
from accord.cells import as_cell
from accord.engines.registry import workspace_engine
from accord.governance import audit
from accord.lake.store import Lake
from accord.pipeline import evaluate_audiences
from accord.profiles.lookup import find_profile_id
from accord.readable import problems
from accord.workspace import Workspace


class UnknownAudienceName(LookupError):
    """No audience file defines that name."""


class AudienceInUse(ValueError):
    """A destination sends the audience, or another audience names it: it cannot be deleted."""


@dataclass
class AudienceSummary:
    name: str
    of: str
    method: str
    method_reason: str
    text: str
    size: int | None
    evaluated_at: datetime | None
    description: str = ""
    owner: str = ""


def workspace_audiences(ws: Workspace, sandbox: str | None = None) -> list[Audience]:
    """The audiences a sandbox's files define (the default sandbox unless named): each file that parses, so one
    broken file hides only itself (`usable_audiences` says why; `accord audiences validate` stops at it)."""
    return parsed(ws.audiences_dir(sandbox), ws.schema)


def usable_audiences(ws: Workspace, sandbox: str | None = None, as_of: datetime | None = None) -> Usable:
    """The sandbox's audiences that parse and compile, and why each other file or audience is left out: what a
    run evaluates, so one broken file never stops the others."""
    return load_usable(ws.audiences_dir(sandbox), as_of or datetime.now(timezone.utc), ws.schema)


def find(audiences: list[Audience], name: str, left_out: dict[str, str] | None = None) -> Audience:
    for audience in audiences:
        if audience.name == name:
            return audience
    known = ", ".join(a.name for a in audiences) or "none"
    unread = f"; left out: {'; '.join(left_out.values())}" if left_out else ""
    raise UnknownAudienceName(f"no audience named {name!r} (audiences: {known}){unread}")


def named(ws: Workspace, sandbox: str | None, name: str) -> tuple[list[Audience], Audience]:
    """The sandbox's audiences and the one called `name`. When no file defines it, the error also says why each
    file that defines none is left out: the one meant may not parse."""
    audiences = workspace_audiences(ws, sandbox)
    if not any(a.name == name for a in audiences):
        find(audiences, name, unreadable(ws.audiences_dir(sandbox), ws.schema))  # raises, naming them
    return audiences, find(audiences, name)


def list_audiences(ws: Workspace, lake: Lake, only: str | None = None) -> list[AudienceSummary]:
    """Every audience file that parses (or the one named `only`) with its evaluation method and its size at the
    last run."""
    audiences = named(ws, lake.sandbox, only)[0] if only else workspace_audiences(ws, lake.sandbox)
    by_name = {a.name: a for a in audiences}
    runs = {r["name"]: r for r in lake.query("SELECT name, size, last_evaluated_at FROM audiences")}
    out = []
    for audience in [by_name[only]] if only else audiences:
        method, reason = evaluation_method(audience, by_name)
        run = runs.get(audience.name) or {}
        out.append(AudienceSummary(audience.name, audience.of, method, reason, print_audience(audience),
                                   run.get("size"), run.get("last_evaluated_at"), audience.description,
                                   audience.owner))
    return out


def parse(ws: Workspace, text: str | None = None, ast: dict[str, Any] | None = None) -> Audience:
    """An audience from its text form or its JSON AST (both validated the same way, custom fields included)."""
    if ast is not None:
        try:
            built = Audience.model_validate(ast)
        except ValidationError as err:
            raise ValueError(f"the audience's JSON AST is not one Accord reads: {problems(err)}") from None
        return parse_audience(print_audience(built), ws.schema)
    return parse_audience(text or "", ws.schema)


def saved_text(ws: Workspace, name: str, sandbox: str | None = None) -> str | None:
    """The audience's definition as its file holds it now, if it has one (what an audit entry keeps as before)."""
    path = ws.audiences_dir(sandbox) / file_name(name)
    return path.read_text() if path.exists() else None


def save(ws: Workspace, audience: Audience, sandbox: str | None = None) -> str:
    """Write the audience to its file in the sandbox's folder (creating or replacing it); returns the file name.
    Refused when, saved, the sandbox's audiences would not compile together (a cycle, a missing reference), when
    a destination listing it does not take its kind, or when a destination would break a policy by sending it
    (PolicyViolation, with the path that causes it)."""
    from accord.governance.enforce import saving_violations
    from accord.governance.policies import PolicyViolation

    folder, moment = ws.audiences_dir(sandbox), datetime.now(timezone.utc)
    others = [a for a in load_usable(folder, moment, ws.schema).audiences if a.name != audience.name]
    Compiler(moment, ws.schema).compile_all([*others, audience])
    for destination in reading(ws, ws.sandbox(sandbox)):
        destination.refuse_kinds({audience.name: audience.of})
    violations = saving_violations(ws, audience, sandbox)
    if violations:
        raise PolicyViolation(violations)
    existed = (folder / file_name(audience.name)).exists()
    path = save_audience(folder, audience, ws.schema)
    return f"{path.name} ({'updated' if existed else 'created'})"


def members_now(ws: Workspace, lake: Lake, name: str, as_of: datetime | None = None) -> list[str]:
    audiences = named(ws, lake.sandbox, name)[0]
    return sorted(preview(lake, audiences, name, as_of))


def sample(ws: Workspace, lake: Lake, name: str, limit: int = 10, as_of: datetime | None = None,
           members: list[str] | None = None) -> list[dict[str, Any]]:
    """Some members now (of `members` when the caller has them already), with a label (e-mail or account name)
    and a detail (job title or industry)."""
    of = named(ws, lake.sandbox, name)[1].of
    members = (members if members is not None else members_now(ws, lake, name, as_of))[:limit]
    if of == "person":
        sql = ("SELECT person_id AS id, email AS label, job_title AS detail FROM person_profile "
               "WHERE person_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1")
    else:
        sql = ("SELECT account_id AS id, name AS label, industry AS detail FROM account_profile "
               "WHERE account_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1")
    return lake.query(sql, [members])


def overlap(lake: Lake, first: str, second: str) -> dict[str, int]:
    """Active members in one, the other and both, at the last evaluation; a name no evaluation knows (a typo) is
    an error, not an empty audience."""
    known = sorted(r[0] for r in lake.execute("SELECT name FROM audiences").fetchall())
    for name in (first, second):
        if name not in known:
            raise UnknownAudienceName(f"no audience named {name!r} has been evaluated (audiences: "
                                      f"{', '.join(known) or 'none'})")
    a, b = active_members(lake, first), active_members(lake, second)
    return {"first": len(a), "second": len(b), "both": len(a & b), "only_first": len(a - b), "only_second": len(b - a)}


def why(ws: Workspace, lake: Lake, name: str, identity: str, as_of: datetime | None = None,
        engine: str | None = None) -> dict[str, Any]:
    """Each condition for one profile, whether it holds and the value that decided it (on `engine`, default the
    store's own)."""
    return why_and_members(ws, lake, name, identity, as_of, engine)[0]


def why_and_members(ws: Workspace, lake: Lake, name: str, identity: str, as_of: datetime | None = None,
                    engine: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """`why`, and the audience's members now, which the same evaluation decides (a page showing both pays once)."""
    audiences, audience = named(ws, lake.sandbox, name)
    of = audience.of
    profile_id = find_profile_id(lake, of, identity)
    found = explain_membership(lake, audiences, name, profile_id, as_of,
                               workspace_engine(ws, lake, engine) if engine else None)
    return ({"profile_id": profile_id, "member": found.member,
             "conditions": [{"depth": ln.depth, "condition": ln.condition, "holds": ln.holds, "value": ln.value}
                            for ln in found.lines]}, found.members)


def run(ws: Workspace, lake: Lake, names: list[str] | None = None, as_of: datetime | None = None,
        full: bool = False, engine: str | None = None) -> EvaluationReport:
    """Evaluate now and record memberships: all audiences, or the named ones with what they reference (only the
    profiles whose inputs changed unless `full`), on `engine` (default: the workspace's). Of all, those that
    cannot be read or compiled are left out and named in the report's `failed`, as those that fail to evaluate."""
    usable = usable_audiences(ws, lake.sandbox, as_of)
    audiences, left_out = usable.audiences, usable.problems
    if names:
        for name in names:
            if name in left_out:
                raise AudienceFileError(left_out[name])
            find(audiences, name, {k: v for k, v in left_out.items() if k.endswith(".aud")})
        chosen = {a.name: a for name in names for a in needed(audiences, name)}
        audiences, left_out = list(chosen.values()), {}
    report = evaluate_audiences(ws, lake, audiences, as_of, full=full, engine=engine)
    report.failed = left_out | report.failed
    return report


class RunGoesBack(ValueError):
    """A recorded run asked for as of a moment before the last recorded run."""


def refuse_going_back(lake: Lake, as_of: datetime | None, rewind: bool = False) -> None:
    """A run recorded as of a moment before the last one would have members exit (and later enter again), and
    destinations would be sent those changes: refused (unless `rewind`), pointing to the commands that record
    nothing. So is one as of a moment to come: every run after it, `accord serve`'s included, would go back."""
    if as_of is not None and as_of > datetime.now(timezone.utc) + timedelta(minutes=5):
        raise RunGoesBack(
            f"{as_of.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC is still to come: every run recorded after it "
            "would go back in time, and members exit and enter again. To see audiences then, `accord audiences "
            "size|sample|why ... --as-of` record nothing")
    last = lake.scalar("SELECT max(as_of) FROM audience_runs") if as_of is not None and not rewind else None
    if last is not None and as_of is not None and as_of < last:
        raise RunGoesBack(
            f"audiences were last recorded as of {last:%Y-%m-%d %H:%M} UTC: a run recorded as of "
            f"{as_of.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC would have members exit, then enter again, and "
            "destinations would be sent both. To see audiences then, `accord audiences size|sample|why ... --as-of` "
            "record nothing; to record it anyway, add --rewind")


def fields(ws: Workspace, of: str) -> dict[str, dict[str, str]]:
    """What a builder may offer: per scope reachable from an audience of `of`, field name → type (custom fields
    included)."""
    if of not in ("person", "account"):
        raise ValueError(f"audiences are of person or account, not {of!r}")
    top = Scope(of, of, ws.schema)
    return {s: {n: t.value for n, t in Scope(s, of, ws.schema).fields().items()} for s in (of, *top.relations())}


def evaluation_times(ws: Workspace, lake: Lake) -> dict[str, Any]:
    """When audiences were last evaluated and how (`decided`: full, or how many profiles an incremental run
    decided), and when `accord serve` evaluates them next (its schedule, or hourly)."""
    row = lake.execute("SELECT started_at, mode, people, accounts FROM audience_runs "
                       "ORDER BY run_id DESC LIMIT 1").fetchone()
    last, mode, people, accounts = row or (None, None, None, None)
    decided = (f"incremental: {people:,} people and {accounts:,} accounts decided" if mode == "incremental"
               else "full" if last else None)
    return {"last": last, "decided": decided,
            "next": ws.config.audiences.next_run(datetime.now(timezone.utc), serving=True)}


MEMBER_COLUMNS = {
    "person": ("SELECT p.person_id, p.email, p.first_name, p.last_name, p.job_title, "
               "coalesce(a.name, p.company_name) AS company FROM person_profile p "
               "LEFT JOIN person_account pa ON pa.person_id = p.person_id AND pa.is_primary "
               "LEFT JOIN account_profile a ON a.account_id = pa.account_id "
               "WHERE p.person_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY p.person_id"),
    "account": ("SELECT account_id, name, domain, industry, employees, annual_revenue FROM account_profile "
                "WHERE account_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY account_id"),
}


def members_csv(ws: Workspace, lake: Lake, name: str) -> str:
    """The audience's members now as CSV, one row each with who they are (people: e-mail, name, title, company;
    accounts: name, domain, industry, size); a text that a spreadsheet would run as a formula is escaped."""
    of = named(ws, lake.sandbox, name)[1].of
    result = lake.execute(MEMBER_COLUMNS[of], [members_now(ws, lake, name)])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([d[0] for d in result.description])
    writer.writerows([as_cell(v) if isinstance(v, str) else v for v in row] for row in result.fetchall())
    return out.getvalue()


def delete(ws: Workspace, lake: Lake, name: str, actor: str) -> None:
    """Remove the audience's file; refused while a destination sends it or another audience names it (with
    which). Its recorded memberships stay, as history."""
    audiences = named(ws, lake.sandbox, name)[0]
    senders = [d.name for d in reading(ws, ws.sandbox(lake.sandbox)) if name in d.audiences]
    naming = [a.name for a in audiences if a.name != name
              and any(isinstance(n, InAudience) and n.name == name for n in walk(a.where))]
    if senders or naming:
        users = [f"destination{'s' * (len(senders) > 1)} {', '.join(senders)}" if senders else "",
                 f"audience{'s' * (len(naming) > 1)} {', '.join(naming)}" if naming else ""]
        raise AudienceInUse(f"audience {name!r} is used by {' and '.join(u for u in users if u)}: take it out "
                            "there first")
    path = file_of(ws.audiences_dir(lake.sandbox), name, ws.schema)
    if path is None:
        raise UnknownAudienceName(f"no file defines audience {name!r}")
    before = path.read_text()
    path.unlink()
    audit.record(lake, actor, "audience deleted", name, before, None)
