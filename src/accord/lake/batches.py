"""Batch ids: given when a batch opens, and the newest id up to which every batch has committed or never will.

Batches commit in any order: a Salesforce sync or a large file opens batch 100, the collector's batches 101-110
commit while it reads, and 100 commits last. A stage that remembered "everything up to 110 seen" would never
see 100. Stages remember `settled_batch` instead. One process holds a store, so the open ids are all known here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accord.lake.store import Lake

_open: dict[Path, set[int]] = {}
_guard = threading.Lock()


@contextmanager
def opened_batch(lake: Lake) -> Iterator[int]:
    """A new batch id, held open until the block ends (its batch committed, or given up)."""
    store = lake.path.resolve()
    with _guard:
        batch_id = int(lake.scalar("SELECT nextval('batch_seq')"))
        _open.setdefault(store, set()).add(batch_id)
    try:
        yield batch_id
    finally:
        with _guard:
            _open[store].discard(batch_id)


def settled_batch(lake: Lake) -> int:
    """The newest batch id such that no batch up to it is still open: all a stage may count as seen.

    Read it before the stage's transaction begins: a batch that commits after a snapshot is taken is not in it."""
    store = lake.path.resolve()
    with _guard:
        newest = int(lake.scalar("SELECT coalesce(max(batch_id), 0) FROM batches"))
        held = _open.get(store)
        return min(newest, min(held) - 1) if held else newest
