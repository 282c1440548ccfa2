"""Failures of the store's own files (a full disk, a file past its size limit) and of its memory, said in one line a
user can act on, and the one failure after which DuckDB refuses every further statement until the store is opened
again."""

from __future__ import annotations

import re

import duckdb

CLOSED = "database has been invalidated"
"""What DuckDB says of every statement after a fatal error (a checkpoint that could not write the file)."""
UNWRITTEN = re.compile(r'Could not write file "(?P<path>[^"]+)": (?P<reason>[^"\n]+)')
SHORT_OF_MEMORY = re.compile(r"\((?P<used>[\d.]+ \w+/[\d.]+ \w+) used\)")
"""How much of its limit DuckDB had taken when it could not allocate more."""


def _chain(err: BaseException) -> list[BaseException]:
    """`err` and what it was raised from or while handling: a cleanup's error hides the one that caused it."""
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def closed_by_fatal_error(err: BaseException) -> bool:
    """Whether DuckDB closed the store after `err` (any later statement fails until it is opened again)."""
    return any(isinstance(e, duckdb.FatalException) or CLOSED in str(e) for e in _chain(err))


def disk_failure(err: BaseException) -> str | None:
    """`could not write <file>: <why> (<what to do>)` for a store file that could not be written (a full disk, a
    file past its size limit), or None when `err` is not that."""
    for raised in _chain(err):
        found = UNWRITTEN.search(str(raised))
        if found:
            reason = found["reason"].rstrip(". ")
            remedy = "free space on that disk" if "space" in reason or "quota" in reason else "let it be written"
            return f"could not write {found['path']}: {reason} ({remedy})"
    return None


def memory_failure(err: BaseException) -> str | None:
    """`the store ran out of memory (<used of limit>): <the settings to change>` when DuckDB could not allocate
    within its memory limit (a step whose working state DuckDB cannot spill to disk), or None."""
    for raised in _chain(err):
        if isinstance(raised, duckdb.OutOfMemoryException):
            found = SHORT_OF_MEMORY.search(str(raised))
            used = f" ({found['used']} used)" if found else ""
            return (f"the store ran out of memory{used}: raise `store.memory_limit` in accord.yaml, or lower "
                    "`store.threads` (each thread holds its own share)")
    return None


def store_failure(err: BaseException) -> str | None:
    """The one line a user can act on for a store that could not write or ran out of memory, or None."""
    return disk_failure(err) or memory_failure(err)
