"""Connected components on Spark's DataFrame API by local contraction, without GraphFrames.

Each round, every partition finds the components of the edges it holds (scipy, in the Python worker) and maps
each of its nodes to its local component's lowest node. A node seen in several partitions links their local roots:
those links are the next round's edges, far fewer than the round's own. Rounds stop when a round leaves no
links; a node's root is then found by following its moves from the first round forward. The first round runs on the
edges' own splits (no shuffle); later ones gather each link at its lower end, so a star contracts in one round,
and once the links left fit one task, one task takes them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

MAX_ROUNDS = 64
ONE_TASK_LINKS = 2_000_000
"""Links left after a round that one task contracts at once, ending the rounds (a long chain split over many
tasks would otherwise shrink by a fraction per round)."""


def component_roots(edges: Any) -> Any:
    """(node, root) for every node of an edge that is not its component's lowest node (its root); a node may come
    more than once, always with the same root. `edges` has columns src and dst (longs, undirected)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    links = edges.select(F.col("src").alias("a"), F.col("dst").alias("b"))
    moves: list[Any] = []
    for _ in range(MAX_ROUNDS):
        local = links.mapInArrow(_local_roots, "node long, root long")
        # One shuffle: beside each of a node's local roots, the lowest of them. Checkpointed: what follows reads
        # one computation of it, whatever order the edges came in.
        seen = local.select("node", "root", F.min("root").over(Window.partitionBy("node")).alias("m")).localCheckpoint()
        links = (seen.where(F.col("root") != F.col("m")).select(F.col("root").alias("a"), F.col("m").alias("b"))
                 .distinct().repartition("b").localCheckpoint())
        moves.append(seen.where(F.col("node") != F.col("m")).select("node", "m").dropDuplicates(["node"]))
        remaining = links.count()
        if not remaining:
            return _followed(moves).select("node", F.col("m").alias("root"))
        if remaining <= ONE_TASK_LINKS:
            links = links.coalesce(1)
    raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")


def _followed(moves: list[Any]) -> Any:
    """Each node's last move: its move in the first round it moved, followed through every later round's. A node
    that kept its place in one round can move in a later one, so each round's result keeps the later ones' too
    (a node moved in both comes twice, to the same root)."""
    from pyspark.sql import functions as F

    roots = moves[-1]
    for moved in reversed(moves[:-1]):
        later = roots.select(F.col("node").alias("m"), F.col("m").alias("later"))
        roots = (moved.join(later, "m", "left").select("node", F.coalesce("later", "m").alias("m"))
                 .unionByName(roots))
    return roots


def _local_roots(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Within one partition: every node of its edges, with the lowest node of its local component."""
    from accord.identity.stitch import components

    held = list(batches)
    if not held:
        return
    a, b = (np.concatenate([batch.column(name).to_numpy() for batch in held]) for name in ("a", "b"))
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    labels = components(len(nodes), inverse[: len(a)], inverse[len(a):])
    # `nodes` is sorted, so a component's first position holds its lowest node.
    first = np.full(int(labels.max()) + 1, len(nodes))
    np.minimum.at(first, labels, np.arange(len(nodes)))
    yield pa.RecordBatch.from_arrays([pa.array(nodes), pa.array(nodes[first[labels]])], names=["node", "root"])
