"""Dense numbering of integer ids: np.unique's distinct values and inverse, by one sort."""

from __future__ import annotations

import numpy as np


def dense_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and each value's position among them. numpy's own unique (hash-based since
    2.3) took 12-15 s here for 20M ids (14M distinct), one sort 0.8 s."""
    order = np.argsort(values)
    ordered = values[order]
    starts = np.empty(len(ordered), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(starts) - 1
    return ordered[starts], ranks
