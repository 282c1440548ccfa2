"""What an incoming JSON value must be before Accord keeps it: valid Unicode text and bounded nesting.

A value that breaks either would be accepted by Python but refused later by the lake (lone surrogates cannot be
encoded as UTF-8) or crash a recursive reader, so it is refused or quarantined where it enters, with the field named.
"""

from __future__ import annotations

from typing import Any

import orjson

from accord.readable import short_path

MAX_DEPTH = 64
"""Levels of objects and lists a value may nest (the message or record itself is level 1)."""


def json_problem(value: Any, where: str = "", max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` cannot be kept (too deep, or text that is no valid Unicode), naming the field; None if it can."""
    if isinstance(value, (dict, list)) and _too_deep(value, 1, max_depth):
        return _deep_path(value, where, max_depth)
    try:
        orjson.dumps(value)  # checks every text in C; fails for lone surrogates (and for ints beyond 64 bits)
    except orjson.JSONEncodeError:
        return _bad_text(value, where)
    return None


def _too_deep(value: dict[str, Any] | list[Any], depth: int, max_depth: int) -> bool:
    # The collector's hot path (a plain loop, no paths built); recursion stops at max_depth.
    if depth > max_depth:
        return True
    for child in value.values() if type(value) is dict else value:
        kind = type(child)
        if (kind is dict or kind is list) and _too_deep(child, depth + 1, max_depth):
            return True
    return False


def _deep_path(value: Any, where: str, max_depth: int) -> str:
    stack: list[tuple[Any, int, str]] = [(value, 1, where)]
    while stack:
        item, depth, path = stack.pop()
        if depth > max_depth:
            return escaped(f"{short_path(path) or 'the value'} nests deeper than {max_depth} levels")
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, _join(path, str(key)) if isinstance(item, dict) else f"{path}[{key}]"))
    return escaped(f"{where or 'the value'} nests deeper than {max_depth} levels")


def text_problem(text: str) -> bool:
    """True when the text holds a lone surrogate (e.g. from a `\\ud800` JSON escape): it has no UTF-8 form."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def escaped(text: str) -> str:
    """Text made storable, lone surrogates as `\\udXXX` escapes: how a refused value is kept in quarantine."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _bad_text(value: Any, where: str) -> str | None:
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if text_problem(item):
                return f"{path or 'the value'} holds text that is not valid Unicode (a lone surrogate escape)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and text_problem(key):
                    return f"a field name in {path or 'the value'} is not valid Unicode (a lone surrogate escape)"
                stack.append((child, _join(path, str(key))))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
