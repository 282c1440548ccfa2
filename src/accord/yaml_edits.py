"""accord.yaml changed as little as a change needs: the comments, the order and the settings a person left out
stay, where writing the whole configuration again lost the comments and spelled out every default."""

from __future__ import annotations

import io
import re
from typing import Any

import yaml as yaml11
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

INDENTED_LIST = re.compile(r"^( *)[^ \n#-][^\n]*:[ \t]*(#[^\n]*)?\n\1 +- ", re.MULTILINE)
"""A key whose list items stand further in than the key itself (PyYAML writes them level with it)."""
KEPT_IN_ITEMS = ("type", "name")
"""What an added list item always states, default or not: its kind and how it is found again."""


def rewritten(text: str, before: dict[str, Any], after: dict[str, Any], concise: dict[str, Any]) -> str | None:
    """`text` (which reads as `before`) changed to read as `after`; `concise` is `after` without its defaults, what
    a setting that is not written yet is written as. None when the text cannot be edited in place."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.representer.add_representer(type(None), _null)  # as written: `null`, not an empty value
    if INDENTED_LIST.search(text):  # items indented under their key, as people often write them
        yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        document = yaml.load(text)
    except YAMLError:
        return None
    if not isinstance(document, dict):
        return None
    _merge(document, before, after, concise)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _merge(node: dict[str, Any], before: dict[str, Any], after: dict[str, Any], concise: dict[str, Any]) -> None:
    for key in [k for k in node if k not in after]:
        del node[key]
    for key, value in after.items():
        old = before.get(key)
        if old == value:
            continue
        held = node.get(key)
        if isinstance(held, dict) and isinstance(old, dict) and isinstance(value, dict):
            _merge(held, old, value, concise.get(key) or {})
        elif _named(held) and _named(old) and _named(value):
            _merge_named(held, old, value, concise.get(key) or [])
        else:
            node[key] = _as_written(concise.get(key, value))


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def _merge_named(items: list[Any], before: list[dict[str, Any]], after: list[dict[str, Any]],
                 concise: list[dict[str, Any]]) -> None:
    """A list of named settings (destinations, sources): each matched by name, changed in place; the new ones
    added at the end, the gone ones removed."""
    wanted = {item["name"]: item for item in after}
    for index in reversed(range(len(items))):
        if items[index].get("name") not in wanted:
            del items[index]
    held = {item["name"]: item for item in items}
    old = {item["name"]: item for item in before}
    short = {item.get("name"): item for item in concise}
    for name, value in wanted.items():
        if name in held and name in old:
            _merge(held[name], old[name], value, short.get(name) or {})
        elif name not in held:
            items.append(_as_written({**{k: value[k] for k in KEPT_IN_ITEMS if k in value},
                                      **(short.get(name) or value)}))


def _as_written(value: Any) -> Any:
    """`value` with the texts YAML 1.1 reads as something else (`on`, `no`, `1e3`), which the editor's YAML 1.2
    writes bare, in quotes: accord.yaml is read as YAML 1.1."""
    if isinstance(value, dict):
        return {k: _as_written(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    if isinstance(value, str) and not _reads_back(value):
        return DoubleQuotedScalarString(value)
    return value


def _reads_back(text: str) -> bool:
    try:
        return bool(text) and yaml11.safe_load(f"x: {text}") == {"x": text}
    except yaml11.YAMLError:
        return False
