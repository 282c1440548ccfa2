"""What a user wrote wrong (YAML, settings), said in one line they can act on, never echoing what they gave: a
setting's value may be a secret."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError


class UnreadableYaml(ValueError):
    """YAML that does not parse, or holds a value YAML itself cannot build (a 13th month)."""


def yaml_data(text: str, where: str) -> Any:
    """The data `text` holds; `where` names it in the error (a file's path)."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UnreadableYaml(f"{where} is not valid YAML{at}: {err.problem or err.context}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        # PyYAML builds dates and timestamps as it reads: `2024-13-01` fails there with a plain ValueError.
        raise UnreadableYaml(f"{where} holds a value YAML cannot read: {err}") from None


def problems(err: ValidationError, skip: int = 0) -> str:
    """Each error as `where: what`, joined by `; `; `skip` leading parts of each location are left out (those
    naming a wrapper the user never wrote)."""
    said = []
    for error in err.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"][skip:])
        what = error["msg"].removeprefix("Value error, ")
        said.append(f"{where}: {what}" if where else what)
    return "; ".join(dict.fromkeys(said))
