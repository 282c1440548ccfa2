"""What an incoming JSON value must be before Accord keeps it: valid Unicode text and bounded nesting.

A value that breaks either would be accepted by Python but refused later by the lake (lone surrogates cannot be
encoded as UTF-8) or crash a recursive reader, so it is refused or quarantined where it enters, with the field named.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_DEPTH = 64
"""Levels of objects and lists a value may nest (the message or record itself is level 1)."""


def json_problem(value: Any, where: str = "", max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` cannot be kept (too deep, or text that is no valid Unicode), naming the field; None if it can."""
    stack: list[tuple[Any, int, str]] = [(value, 1, where)]
    while stack:
        item, depth, path = stack.pop()
        if depth > max_depth:
            return escaped(f"{path or 'the value'} nests deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1, _join(path, str(key))))
        else:
            for i, child in enumerate(item) if isinstance(item, list) else ():
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1, f"{path}[{i}]"))
    try:
        orjson.dumps(value)  # checks every text in C; fails for lone surrogates (and for ints beyond 64 bits)
    except orjson.JSONEncodeError:
        return _bad_text(value, where)
    return None


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
