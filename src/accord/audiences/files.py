"""Audiences as files in the workspace (`audiences/*.aud`, text form), one audience a file."""

from __future__ import annotations

from pathlib import Path

from accord.audiences.ast import Audience
from accord.audiences.text import AudienceSyntaxError, parse_audience, print_audience


class AudienceFileError(ValueError):
    """An audience file that does not parse, or two files defining one name."""


def load_audiences(folder: Path) -> list[Audience]:
    found: dict[str, Path] = {}
    out = []
    for path in sorted(folder.glob("*.aud")):
        try:
            audience = parse_audience(path.read_text())
        except AudienceSyntaxError as err:
            raise AudienceFileError(f"{path}: {err}") from None
        if audience.name in found:
            raise AudienceFileError(f"{path} and {found[audience.name]} both define audience {audience.name!r}")
        found[audience.name] = path
        out.append(audience)
    return out


def file_name(name: str) -> str:
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in name).strip("-")
    return f"{'-'.join(part for part in slug.split('-') if part) or 'audience'}.aud"


def save_audience(folder: Path, audience: Audience) -> Path:
    """Write the audience to its own file; refused when another file already defines that name."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(audience.name)
    for other in folder.glob("*.aud"):
        try:
            clash = other != path and parse_audience(other.read_text()).name == audience.name
        except AudienceSyntaxError:
            continue
        if clash:
            raise AudienceFileError(f"{other} already defines audience {audience.name!r}; edit that file instead")
    path.write_text(print_audience(audience))
    return path
