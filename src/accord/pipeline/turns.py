"""Stages that write the same tables of a store take turns, whichever entry point runs them.

`accord serve`'s worker runs its cycle while commands relayed to it (`accord run`, `accord identity run`,
`accord audiences run`) run beside it in the same process. DuckDB lets two transactions insert the same rows: two
identity runs over one new batch would each give its records a profile. The second waits for the first instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from accord.lake.store import Lake

_locks: dict[tuple[Path, str], threading.Lock] = {}
_guard = threading.Lock()


@contextmanager
def writing(lake: Lake, tables: Iterable[str]) -> Iterator[None]:
    """Hold every table of `tables` in this store until the block ends (taken in name order, so never crosswise)."""
    store = lake.path.resolve()
    with _guard:
        locks = [_locks.setdefault((store, table), threading.Lock()) for table in sorted(set(tables))]
    with ExitStack() as held:
        for lock in locks:
            held.enter_context(lock)
        yield
