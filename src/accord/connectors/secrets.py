"""Secrets by reference (`env:NAME` or `file:PATH[#key]`), resolved only when a connection is made."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from accord.readable import UnreadableYaml, yaml_data


class SecretError(ValueError):
    """A secret reference that is malformed or names nothing."""


def check_reference(ref: str) -> str:
    """Validate the form of a reference without reading it (configuration time)."""
    if not ref.startswith(("env:", "file:")) or len(ref) < 5:
        raise SecretError("a secret must be a reference, `env:VARIABLE` or `file:path[#key]`, never the value itself")
    return ref


SecretRef = Annotated[str, AfterValidator(check_reference)]
"""A configuration field holding a secret's reference, checked when the configuration loads."""


def resolve_secret(ref: str, base: Path) -> str:
    """The secret's value; relative files are read from `base` (the workspace)."""
    check_reference(ref)
    kind, _, rest = ref.partition(":")
    if kind == "env":
        value = os.environ.get(rest)
        if not value:
            raise SecretError(f"environment variable {rest} is not set")
        return value
    path_text, _, key = rest.partition("#")
    path = Path(path_text) if Path(path_text).is_absolute() else base / path_text
    try:
        text = path.read_text()
    except OSError as err:
        raise SecretError(f"secrets file {path}: {err.strerror}") from None
    if not key:
        return text.strip()
    try:
        values = yaml_data(text, f"secrets file {path}") or {}
    except UnreadableYaml as err:
        raise SecretError(str(err)) from None
    if not isinstance(values, dict) or key not in values:
        raise SecretError(f"secrets file {path} has no key {key!r}")
    return str(values[key])
