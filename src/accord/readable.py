"""What a user wrote wrong (YAML, settings), said in one line they can act on, never echoing what they gave: a
setting's value may be a secret."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError


class UnreadableYaml(ValueError):
    """YAML that does not parse, or holds a value YAML itself cannot build (a 13th month)."""


class _Loader(yaml.SafeLoader):
    """Safe loading that refuses a key given twice in one mapping: YAML forbids it, and PyYAML would keep the last
    silently (a second `destinations:` pasted at the end of accord.yaml would drop the first without a word)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden key by key
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in seen:
                said = f"{key!r} is given twice in one mapping (first at line {seen[key]})"
                raise yaml.constructor.ConstructorError(None, None, said, key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        except TypeError:  # a key that cannot be a key: construct_mapping says so
            break
    return loader.construct_mapping(node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def yaml_data(text: str, where: str) -> Any:
    """The data `text` holds; `where` names it in the error (a file's path)."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: it builds no Python objects
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
        where = short_path(".".join(str(part) for part in error["loc"][skip:]))
        what = error["msg"].removeprefix("Value error, ")
        said.append(f"{where}: {what}" if where else what)
    return "; ".join(dict.fromkeys(said))


def short_path(path: str) -> str:
    """A dotted path to a value, its middle left out past 8 parts: a value nested hundreds deep would otherwise be
    named by a path as long."""
    parts = path.split(".")
    return path if len(parts) <= 8 else ".".join([*parts[:4], f"…({len(parts) - 6} more)…", *parts[-2:]])
