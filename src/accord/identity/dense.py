"""Dense numbering of integer ids: np.unique's distinct values and inverse, without its hashing."""

from __future__ import annotations

import numpy as np

DENSE = 4
"""Values spanning at most this many times their count are ranked by a table of which are present (10M node ids
over 14M: 0.29 s, one sort 0.47-0.79 s); sparser ones by one sort."""


def dense_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and each value's position among them. numpy's own unique (hash-based since
    2.3) took 12-15 s here for 20M ids (14M distinct), one sort 0.8 s."""
    if len(values) and np.issubdtype(values.dtype, np.integer):
        low, span = int(values.min()), int(values.max()) - int(values.min()) + 1
        if span <= DENSE * len(values):
            present = np.zeros(span, dtype=bool)
            present[values - low] = True
            counted = np.cumsum(present, dtype=np.int32 if span < 2**31 else np.int64)  # half the memory
            return np.flatnonzero(present) + low, (counted[values - low] - 1).astype(np.int64)
    order = np.argsort(values)
    ordered = values[order]
    starts = np.empty(len(ordered), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(starts) - 1
    return ordered[starts], ranks
