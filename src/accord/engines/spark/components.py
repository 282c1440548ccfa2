"""Connected components on Spark's DataFrame API by local contraction, without GraphFrames.

Each round, every partition finds the components of the edges it holds (scipy, in the Python worker) and maps
each of its nodes to its local component's lowest node. Those pairs are then gathered by node: a node seen in
several partitions links their local roots, and those links are the next round's edges, far fewer than the
round's own. Once the links left fit one task, one task contracts them all and its roots are final. Every move
goes to a lower node of the same component, so following a node's moves ends at its component's lowest node.
The first round runs on the edges' own splits (no shuffle); later ones gather each link at its lower end, so a
star contracts in one round.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

MAX_ROUNDS = 64
ONE_TASK_LINKS = 2_000_000
"""Links that one task contracts at once, ending the rounds (a long chain split over many tasks would otherwise
shrink by a fraction per round)."""


def component_moves(edges: Any) -> Any:
    """(node, lower): every node of an edge that is not its component's lowest node comes at least once, moved to
    a lower node of its component. `edges` has columns src and dst (longs, undirected)."""
    from functools import reduce

    from pyspark.sql import functions as F

    links = edges.select(F.col("src").alias("a"), F.col("dst").alias("b"))
    remaining = links.count()
    moves: list[Any] = []
    while remaining > ONE_TASK_LINKS:
        if len(moves) == MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        # One hash shuffle gathers each node's local roots; checkpointed, so what follows reads one computation
        # of it, whatever order the edges came in.
        gathered = (links.mapInArrow(_local_roots, "node long, root long").repartition("node")
                    .mapInArrow(_lowest_roots, "a long, b long, link boolean").localCheckpoint())
        # A link may come twice (from two nodes' partitions): contracting it twice does no harm.
        links = gathered.where("link").select("a", "b").repartition("b").localCheckpoint()
        moves.append(gathered.where(~F.col("link")).select(F.col("a").alias("node"), F.col("b").alias("lower")))
        remaining = links.count()
    last = links.coalesce(1).mapInArrow(_local_roots, "node long, root long")
    moves.append(last.where(F.col("node") != F.col("root")).select("node", F.col("root").alias("lower")))
    return reduce(lambda kept, more: kept.unionByName(more), moves)


def _local_roots(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Within one partition: every node of its edges, with the lowest node of its local component."""
    from accord.identity.dense import dense_ranks
    from accord.identity.stitch import components

    a, b = _columns(batches, "a", "b")
    if not len(a):
        return
    nodes, inverse = dense_ranks(np.concatenate([a, b]))
    labels = components(len(nodes), inverse[: len(a)], inverse[len(a):])
    # `nodes` is sorted, so a component's first position holds its lowest node.
    first = np.full(int(labels.max()) + 1, len(nodes))
    np.minimum.at(first, labels, np.arange(len(nodes)))
    yield pa.RecordBatch.from_arrays([pa.array(nodes), pa.array(nodes[first[labels]])], names=["node", "root"])


def _lowest_roots(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Within a partition holding all of its nodes' local roots: the links between a node's local roots (each to
    the lowest of them, link true), and each node's move to that lowest root (link false)."""
    from accord.identity.dense import dense_ranks

    node, root = _columns(batches, "node", "root")
    if not len(node):
        return
    nodes, inverse = dense_ranks(node)
    lowest = np.full(len(nodes), np.iinfo(np.int64).max)
    np.minimum.at(lowest, inverse, root)
    beside = lowest[inverse]
    linked, moved = root != beside, nodes != lowest
    yield pa.RecordBatch.from_arrays(
        [pa.array(np.concatenate([root[linked], nodes[moved]])),
         pa.array(np.concatenate([beside[linked], lowest[moved]])),
         pa.array(np.arange(linked.sum() + moved.sum()) < linked.sum())],
        names=["a", "b", "link"])


def _columns(batches: Iterator[pa.RecordBatch], *names: str) -> list[np.ndarray]:
    """A partition's columns as whole arrays (empty when it holds no rows)."""
    held = list(batches)
    return [np.concatenate([batch.column(name).to_numpy() for batch in held]) if held else np.empty(0, np.int64)
            for name in names]
