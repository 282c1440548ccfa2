"""Connected components on Spark's DataFrame API by alternating large-star and small-star rounds (Kiveris et al.,
"Connected Components in MapReduce and Beyond", 2014), without GraphFrames.

Edges are kept oriented (a > b). Each round's two operations replace edges by edges inside the same component, so
components never change; they stop when the graph is a forest of stars, each node pointing at its component's
lowest node. Identity graphs are many small components, so a few rounds suffice.
"""

from __future__ import annotations

from typing import Any

MAX_ROUNDS = 64


def star_roots(edges: Any) -> Any:
    """(node, root) for every node with an edge, root being the lowest node of its component. `edges` has
    columns src and dst (longs, undirected)."""
    from pyspark.sql import functions as F

    # Not deduplicated here: the first large-star's own dedupe does it, one shuffle fewer.
    oriented = (edges.select(F.greatest("src", "dst").alias("a"), F.least("src", "dst").alias("b"))
                .where(F.col("a") != F.col("b")))
    for _ in range(MAX_ROUNDS):
        oriented = _small_star(_large_star(oriented)).localCheckpoint()
        if _is_star_forest(oriented):
            return oriented.select(F.col("a").alias("node"), F.col("b").alias("root"))
    raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")


def _large_star(oriented: Any) -> Any:
    """Each node's larger neighbours are attached to the lowest node of its neighbourhood (itself included)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    both = oriented.select(F.col("a").alias("u"), F.col("b").alias("v")).unionAll(
        oriented.select(F.col("b").alias("u"), F.col("a").alias("v")))
    lowest = F.least(F.col("u"), F.min("v").over(Window.partitionBy("u")))  # one shuffle, not an aggregate and a join
    return (both.select("u", "v", lowest.alias("m")).where(F.col("v") > F.col("u"))
            .select(F.col("v").alias("a"), F.col("m").alias("b")).distinct())


def _small_star(oriented: Any) -> Any:
    """Each node and its smaller neighbours are attached to the lowest of those neighbours."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    edges = oriented.select("a", "b", F.min("b").over(Window.partitionBy("a")).alias("m"))
    moved = edges.where(F.col("b") != F.col("m")).select(F.col("b").alias("a"), F.col("m").alias("b"))
    return moved.unionAll(edges.select("a", F.col("m").alias("b"))).distinct()


def _is_star_forest(oriented: Any) -> bool:
    """Every node has at most one (lower) neighbour, and no node with one is another's neighbour."""
    from pyspark.sql import functions as F

    children = oriented.groupBy("a").agg(F.count("*").alias("parents"))
    parents = oriented.select(F.col("b").alias("a")).distinct().withColumn("is_parent", F.lit(True))
    broken = children.join(parents, "a", "left").where((F.col("parents") > 1) | F.col("is_parent").isNotNull())
    return broken.limit(1).count() == 0
