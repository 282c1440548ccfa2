"""Audiences as files in the workspace (`audiences/*.aud`, text form), one audience a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from accord.audiences.ast import Audience
from accord.audiences.compile import CompileError, Compiler
from accord.audiences.evaluate import needed
from accord.audiences.text import AudienceSyntaxError, parse_audience, print_audience
from accord.model.names import page_name_problem, slug
from accord.model.schema import STANDARD, Schema
from accord.replaced import replace_text

PAGES = ("new", "fields", "overlap")
"""Addresses of pages beside the audiences' own (`/audiences/new`, `/api/v1/audiences/fields`): no audience is
saved under one, since its page could not be found."""


class AudienceFileError(ValueError):
    """An audience file that does not parse, or two files defining one name."""


class AudienceNameTaken(AudienceFileError):
    """Another audience's file already has the file name this audience's name maps to."""


@dataclass
class Usable:
    """The audiences that can be evaluated, and why each other file or audience is left out."""

    audiences: list[Audience]
    problems: dict[str, str] = field(default_factory=dict)


def load_audiences(folder: Path, schema: Schema = STANDARD) -> list[Audience]:
    """Every audience file of the folder, read for `schema`; AudienceFileError on the first that does not parse or
    repeats a name."""
    audiences, problems = _parse_files(folder, schema)
    if problems:
        raise AudienceFileError(next(iter(problems.values())))
    return audiences


def parsed(folder: Path, schema: Schema = STANDARD) -> list[Audience]:
    """Every audience whose file parses (a file that does not is `accord audiences validate`'s business)."""
    return _parse_files(folder, schema)[0]


def load_usable(folder: Path, as_of: datetime, schema: Schema = STANDARD) -> Usable:
    """Every audience that parses and compiles with all it references; the others (a bad file, a cycle, a missing
    reference) are left out with their reason, so one broken file never stops the rest from being evaluated."""
    audiences, problems = _parse_files(folder, schema)
    try:
        Compiler(as_of, schema).compile_all(audiences)
        return Usable(audiences, problems)
    except CompileError:
        pass  # found out below, audience by audience
    usable = []
    for audience in audiences:
        try:
            Compiler(as_of, schema).compile_all(needed(audiences, audience.name))
        except CompileError as err:
            problems[audience.name] = str(err)
            continue
        usable.append(audience)
    return Usable(usable, problems)


def _parse_files(folder: Path, schema: Schema) -> tuple[list[Audience], dict[str, str]]:
    """The audiences the folder's files define, and why each file that defines none is left out."""
    found: dict[str, tuple[Path, Audience]] = {}
    problems: dict[str, str] = {}
    for path in sorted(folder.glob("*.aud")):
        try:
            audience = _parse(path.read_text(), schema)
        except UnicodeDecodeError as err:
            problems[path.name] = f"{path}: not UTF-8 text ({err.reason} at byte {err.start})"
            continue
        except (AudienceSyntaxError, OSError) as err:
            problems[path.name] = f"{path}: {err}"
            continue
        if audience.name in found:
            problems[path.name] = f"{path} and {found[audience.name][0]} both define audience {audience.name!r}"
            continue
        found[audience.name] = (path, audience)
    return [audience for _, audience in found.values()], problems


_parsed: dict[tuple[str, int], tuple[Schema, Audience]] = {}
PARSED_KEPT = 4096
"""Audience texts whose parse is kept: a streaming delivery checks the policies over every file at each run."""


def _parse(text: str, schema: Schema) -> Audience:
    """`parse_audience`, once per text and schema (the schema is the workspace's, kept while its config is)."""
    hit = _parsed.get((text, id(schema)))
    if hit is not None and hit[0] is schema:
        return hit[1]
    audience = parse_audience(text, schema)
    if len(_parsed) >= PARSED_KEPT:
        _parsed.clear()
    _parsed[(text, id(schema))] = (schema, audience)
    return audience


def unreadable(folder: Path, schema: Schema = STANDARD) -> dict[str, str]:
    """Why each of the folder's files that defines no audience is left out (it does not parse, is not text, or
    names an audience another file defines), by file name."""
    return _parse_files(folder, schema)[1]


def kinds_of(folder: Path, schema: Schema = STANDARD) -> dict[str, str]:
    """Whether each audience is of people or of accounts, as the folder's files say (an audience no file defines
    readably is left out: `load_usable` reports it)."""
    return {a.name: a.of for a in _parse_files(folder, schema)[0]}


def file_name(name: str) -> str:
    return f"{slug(name)}.aud"


def file_of(folder: Path, name: str, schema: Schema = STANDARD) -> Path | None:
    """The file that defines audience `name` (its usual file name first), if any."""
    usual = folder / file_name(name)
    for path in [usual, *sorted(p for p in folder.glob("*.aud") if p != usual)]:
        try:
            if path.exists() and parse_audience(path.read_text(), schema).name == name:
                return path
        except AudienceSyntaxError:
            continue
    return None


def save_audience(folder: Path, audience: Audience, schema: Schema = STANDARD) -> Path:
    """Write the audience to its own file; refused when its name cannot be a file or URL name, or when another
    file already defines that name or has that file name."""
    if problem := page_name_problem(audience.name, "audience", PAGES):
        raise AudienceFileError(problem)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(audience.name)
    for other in folder.glob("*.aud"):
        try:
            name = parse_audience(other.read_text(), schema).name
        except AudienceSyntaxError:
            continue
        if other == path and name != audience.name:
            raise AudienceNameTaken(f"{path.name} holds audience {name!r}, and {audience.name!r} would replace it "
                                    "(their names differ only in case or punctuation); choose another name")
        if other != path and name == audience.name:
            raise AudienceNameTaken(f"{other} already defines audience {audience.name!r}; edit that file instead")
    replace_text(path, print_audience(audience))
    return path
