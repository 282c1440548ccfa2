"""Runs that write the same things of a store (its tables, a destination) take turns, whichever entry point runs them.

`accord serve`'s worker runs its cycle, and its destination workers their deliveries, while commands relayed to it,
REST calls and the web UI run beside them in the same process. DuckDB lets two transactions insert the same rows:
two identity runs over one new batch would each give its records a profile, and two deliveries to one destination
would each send its changes. The second waits for the first instead.

Whoever holds several kinds takes them in one order: tables, then destinations, then the served copy of people
(the runner's activation stage holds its tables, then a delivery its destination; an erasure all three). A sync
of an API source holds `source <name>` alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from accord.lake.store import Lake

_locks: dict[tuple[Path, str], threading.RLock] = {}
_guard = threading.Lock()


@contextmanager
def writing(lake: Lake, names: Iterable[str], waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold every one of `names` (tables, or `destination <name>`) in this store until the block ends (taken in
    name order, so never crosswise; a thread holding a name may take it again, as an erasure delivers to a
    destination it holds). `waiting` is told each name another run holds, before this one waits for it."""
    store = lake.path.resolve()
    with _guard:
        locks = [(name, _locks.setdefault((store, name), threading.RLock())) for name in sorted(set(names))]
    with ExitStack() as held:
        for name, lock in locks:
            if not lock.acquire(blocking=False):
                if waiting is not None:
                    waiting(name)
                lock.acquire()
            held.callback(lock.release)
        yield


@contextmanager
def writing_every_table(lake: Lake) -> Iterator[None]:
    """Hold every table of this store (a privacy erasure deletes from any of them)."""
    tables = [str(r[0]) for r in lake.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema = 'main'"
    ).fetchall()]
    with writing(lake, tables):
        yield
