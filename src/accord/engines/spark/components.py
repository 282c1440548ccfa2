"""Connected components on Spark's DataFrame API by local contraction, without GraphFrames.

Each round, every partition finds the components of the edges it holds (scipy, in the Python worker) and maps
each of its nodes to its local component's lowest node. Those pairs are then gathered by node: a node seen in
several partitions links their local roots, and those links are the next round's edges, far fewer than the
round's own. Once the links left fit one task, one task contracts them all and its roots are final. Every move
goes to a lower node of the same component, so following a node's moves ends at its component's lowest node.
The first round runs on the edges' own splits (no shuffle); later ones gather each link at its lower end, so a
star contracts in one round.

Pairs of nodes travel packed: a row holds up to `BLOCK` pairs as two binary columns, with the partition they go
to. Spark's cost is per row far more than per byte: with a row per pair, the 10M-link bench's first round took
10.6 s of its 17 s. Nodes below 2**31 take 4 bytes each, not 8: Spark compresses, shuffles and checkpoints half
as much.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

MAX_ROUNDS = 64
ONE_TASK_LINKS = 4_000_000
"""Links that one task contracts at once, ending the rounds (a long chain split over many tasks would otherwise
shrink by a fraction per round). A round costs Spark two shuffles and two checkpoints: on the 10M-link bench
the second round (2.2M links) took 1.5-2 s, one task contracting them about 0.3 s."""
BLOCK = 1_000_000
"""Pairs in one packed row: 8 or 16 MB."""
PACKED = "part int, link boolean, pairs int, x binary, y binary"
"""A block of pairs (x[i], y[i]), the partition it goes to next, and whether its pairs are links or moves."""
NARROW, WIDE = np.dtype("<i4"), np.dtype("<i8")


def packed_pairs(x: np.ndarray, y: np.ndarray, part: np.ndarray | int = 0, link: bool = True) -> pa.Table:
    """The pairs (x[i], y[i]) packed in rows of `PACKED`, grouped by `part` (the partition each pair goes to)."""
    return pa.Table.from_batches(list(_packed(x, y, part, link)), schema=_PACKED_SCHEMA)


def unpacked_pairs(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The pairs packed in `table`'s rows, as two arrays."""
    return _columns(table.to_batches())


def component_moves(links: Any, pairs: int | None = None) -> Any:
    """Rows of `PACKED` whose pairs are moves (node, lower): every node of a link that is not its component's
    lowest node comes at least once, moved to a lower node of its component. `links` are rows of `PACKED` too,
    their pairs the graph's edges (undirected), `pairs` of them when the caller knows (else they are counted)."""
    from functools import reduce

    from pyspark.sql import functions as F

    parts = int(links.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    remaining = _pairs(links) if pairs is None else pairs
    moves: list[Any] = []
    while remaining > ONE_TASK_LINKS:
        if len(moves) == MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        # Checkpointed, so what follows reads one computation of the gathering, whatever order the edges came in.
        gathered = (links.mapInArrow(partial(_local_roots, parts), PACKED).repartitionById(parts, "part")
                    .mapInArrow(partial(_lowest_roots, parts), PACKED).localCheckpoint())
        # A link may come twice (from two nodes' partitions): contracting it twice does no harm.
        links = gathered.where("link").repartitionById(parts, "part").localCheckpoint()
        moves.append(gathered.where(~F.col("link")))
        remaining = _pairs(links)
    moves.append(links.coalesce(1).mapInArrow(_last_roots, PACKED))
    return reduce(lambda kept, more: kept.unionByName(more), moves)


def _pairs(frame: Any) -> int:
    from pyspark.sql import functions as F

    return int(frame.select(F.sum("pairs")).first()[0] or 0)


def _local_roots(parts: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Within one partition: every node of its links, with the lowest node of its local component, sent to the
    node's partition."""
    nodes, roots = _roots(*_columns(batches))
    yield from _packed(nodes, roots, nodes % parts, link=False)


def _last_roots(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Within the one partition holding every link left: each node's move to its component's lowest node."""
    nodes, roots = _roots(*_columns(batches))
    moved = nodes != roots
    yield from _packed(nodes[moved], roots[moved], 0, link=False)


def _roots(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every node of the edges (a, b), and the lowest node of its component."""
    from accord.identity.dense import dense_ranks
    from accord.identity.stitch import components

    if not len(a):
        return a, b
    nodes, inverse = dense_ranks(np.concatenate([a, b]))
    labels = components(len(nodes), inverse[: len(a)], inverse[len(a):])
    # `nodes` is sorted, so a component's first position holds its lowest node.
    first = np.full(int(labels.max()) + 1, len(nodes))
    np.minimum.at(first, labels, np.arange(len(nodes)))
    return nodes, nodes[first[labels]]


def _lowest_roots(parts: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Within a partition holding all of its nodes' local roots: the links between a node's local roots (each to
    the lowest of them, sent to that lowest's partition), and each node's move to that lowest root."""
    from accord.identity.dense import dense_ranks

    node, root = _columns(batches)
    if not len(node):
        return
    nodes, inverse = dense_ranks(node)
    lowest = np.full(len(nodes), np.iinfo(np.int64).max)
    np.minimum.at(lowest, inverse, root)
    beside = lowest[inverse]
    linked, moved = root != beside, nodes != lowest
    yield from _packed(root[linked], beside[linked], beside[linked] % parts, link=True)
    yield from _packed(nodes[moved], lowest[moved], 0, link=False)


_PACKED_SCHEMA = pa.schema([("part", pa.int32()), ("link", pa.bool_()), ("pairs", pa.int32()), ("x", pa.binary()),
                            ("y", pa.binary())])


def _packed(x: np.ndarray, y: np.ndarray, part: np.ndarray | int, link: bool) -> Iterator[pa.RecordBatch]:
    """One row per `BLOCK` pairs of one partition (a batch each, far below Arrow's 2 GB a binary column holds)."""
    if isinstance(part, int):
        groups = [(part, x, y)]
    else:
        # A radix sort: partition numbers fit in 16 bits.
        order = np.argsort(part.astype(np.min_scalar_type(int(part.max(initial=0)))), kind="stable")
        ordered = part[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(order) else np.empty(0, int)
        bounds = [*starts[1:], len(order)]
        groups = [(int(ordered[s]), x[order[s:e]], y[order[s:e]]) for s, e in zip(starts, bounds)]
    for p, xs, ys in groups:
        for start in range(0, len(xs), BLOCK):
            block = xs[start:start + BLOCK], ys[start:start + BLOCK]
            narrow = all(not len(v) or (v.min() >= 0 and v.max() <= np.iinfo(NARROW).max) for v in block)
            bx, by = (v.astype(NARROW if narrow else WIDE) for v in block)
            yield pa.RecordBatch.from_arrays(
                [pa.array([p], pa.int32()), pa.array([link]), pa.array([len(bx)], pa.int32()), _binary(bx),
                 _binary(by)], schema=_PACKED_SCHEMA)


def _binary(values: np.ndarray) -> pa.Array:
    """One binary value holding `values`' bytes, without copying them."""
    offsets = pa.py_buffer(np.array([0, values.nbytes], np.int32))
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(np.ascontiguousarray(values))])


def _columns(batches: Iterator[pa.RecordBatch] | list[pa.RecordBatch]) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of every row of `batches`, as two whole arrays (empty when there are none)."""
    x: list[np.ndarray] = [np.empty(0, np.int64)]
    y: list[np.ndarray] = [np.empty(0, np.int64)]
    for batch in batches:
        for pairs, bx, by in zip(batch.column("pairs").to_pylist(), batch.column("x"), batch.column("y")):
            if pairs:
                xs, ys = bx.as_buffer(), by.as_buffer()
                node = WIDE if xs.size == pairs * WIDE.itemsize else NARROW
                x.append(np.frombuffer(xs, node))
                y.append(np.frombuffer(ys, node))
    return np.concatenate(x).astype(np.int64, copy=False), np.concatenate(y).astype(np.int64, copy=False)
