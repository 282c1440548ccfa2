"""Stitching: connected components of the identity graph, with guardrails against over-merging.

Components come from the engine in one pass (scipy's vectorised one embedded, rounds of local contraction on
Spark). Only components that break a rule (too many values of a namespace limited per profile, too many
identities) are rebuilt edge by edge, strongest and oldest edge first, refusing each edge that would break a rule;
in real data those are a tiny fraction of the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from accord.identity.dense import dense_ranks


@dataclass
class Graph:
    """Nodes 0..n-1 and undirected edges; `edge_rank` orders edges, lowest (strongest, oldest) first."""

    n_nodes: int
    src: np.ndarray
    dst: np.ndarray
    edge_rank: np.ndarray
    limit_group: np.ndarray  # per node: index of its limited namespace group, or -1
    group_limits: np.ndarray  # per group: most distinct values one profile may hold
    max_identities: int


@dataclass
class Rejection:
    edge: int
    rule: str


@dataclass
class StitchResult:
    labels: np.ndarray  # per node: its profile's label; equal labels, one profile (labels need not be dense)
    n_profiles: int
    rejected_edges: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    rejected_rules: list[str] = field(default_factory=list)  # one per rejected edge
    conflicted_edges: int = 0

    @property
    def rejections(self) -> list[Rejection]:
        return [Rejection(int(e), r) for e, r in zip(self.rejected_edges, self.rejected_rules)]


Components = Callable[[int, np.ndarray, np.ndarray], np.ndarray]
"""(n_nodes, src, dst) → per node a dense component label, numbered in the order of each component's lowest node."""


def stitch(graph: Graph, group_names: list[str] | None = None, find: Components | None = None) -> StitchResult:
    """Profiles of the graph: its components (by `find`, an engine's; scipy's by default), with the components
    that break a rule rebuilt edge by edge."""
    labels = (find or components)(graph.n_nodes, graph.src, graph.dst)
    n_components = int(labels.max()) + 1 if len(labels) else 0
    bad = _violating(labels, graph)
    if not bad.any():
        return StitchResult(labels, n_components)
    edges = np.flatnonzero(bad[labels[graph.src]])
    edges = edges[np.argsort(graph.edge_rank[edges], kind="stable")]
    local, roots, rejected, rules = _rebuild(graph, edges, group_names or [])
    # Rebuilt profiles take fresh labels after the components' own; the rule-breaking components' labels go unused.
    labels[local] = n_components + roots
    # A rebuilt profile's root is the one node that is its own root.
    count = n_components - int(bad.sum()) + int(np.count_nonzero(roots == np.arange(len(roots))))
    return StitchResult(labels, count, rejected, rules, len(edges))


def components(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """scipy's components, whose labels follow each component's lowest node."""
    matrix = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(matrix, directed=False)
    return labels


def _violating(labels: np.ndarray, graph: Graph) -> np.ndarray:
    """Per component label: does it hold too many identities, or too many values of a limited namespace?"""
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    bad = np.bincount(labels, minlength=n_labels) > graph.max_identities
    for group, limit in enumerate(graph.group_limits.tolist()):
        held = np.bincount(labels[graph.limit_group == group], minlength=n_labels)
        bad |= held > limit
    return bad


def _rebuild(
    graph: Graph, edges: np.ndarray, group_names: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Union-find over the edges of rule-breaking components, in rank order, refusing edges that break a rule.

    Returns the nodes it saw, each one's root among them (an index into those nodes), and the refused edges.

    Vectorised in rounds: an edge whose rank is the lowest pending at both of its roots is decided now, and
    those edges never share a root, so deciding them together gives exactly the one-edge-at-a-time result.
    """
    local, inverse = dense_ranks(np.concatenate([graph.src[edges], graph.dst[edges]]))
    a, b = inverse[: len(edges)], inverse[len(edges) :]
    n = len(local)
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    n_groups = len(graph.group_limits)
    counts = np.zeros((n, max(n_groups, 1)), dtype=np.int64)
    groups = graph.limit_group[local]
    has_group = groups >= 0
    counts[np.flatnonzero(has_group), groups[has_group]] = 1
    limits = graph.group_limits if n_groups else np.array([np.iinfo(np.int64).max])
    rank = np.arange(len(edges))  # `edges` arrive sorted by rank
    pending = np.arange(len(edges))
    rejected: list[np.ndarray] = []
    reasons: list[np.ndarray] = []  # -1: too many identities; g >= 0: group g over its limit
    best = np.empty(n, dtype=np.int64)
    while len(pending):
        parent = pointer_roots(parent)
        ra, rb = parent[a[pending]], parent[b[pending]]
        open_ = ra != rb
        pending, ra, rb = pending[open_], ra[open_], rb[open_]
        if not len(pending):
            break
        best.fill(np.iinfo(np.int64).max)
        np.minimum.at(best, ra, rank[pending])
        np.minimum.at(best, rb, rank[pending])
        mutual = (best[ra] == rank[pending]) & (best[rb] == rank[pending])
        ma, mb, me = ra[mutual], rb[mutual], pending[mutual]
        too_big = size[ma] + size[mb] > graph.max_identities
        over = (counts[ma] + counts[mb]) > limits[None, :]
        refuse = too_big | over.any(axis=1)
        rejected.append(edges[me[refuse]])
        reasons.append(np.where(too_big[refuse], -1, np.argmax(over[refuse], axis=1)))
        keep, gone = ma[~refuse], mb[~refuse]
        parent[gone] = keep
        size[keep] += size[gone]
        counts[keep] += counts[gone]
        pending = pending[~mutual]
    codes = np.concatenate(reasons) if reasons else np.empty(0, dtype=np.int64)
    texts = {-1: f"max_identities: a profile holds at most {graph.max_identities} identities"}
    for g, limit in enumerate(graph.group_limits.tolist()):
        name = group_names[g] if g < len(group_names) else str(g)
        texts[g] = f"namespace_limit: a profile holds at most {limit} {name}"
    edges_out = np.concatenate(rejected) if rejected else np.empty(0, dtype=np.int64)
    return local, pointer_roots(parent), edges_out, [texts[int(c)] for c in codes]


def pointer_roots(parent: np.ndarray) -> np.ndarray:
    """Every node's root in a forest of parent pointers, by pointer jumping (vectorised)."""
    roots = parent.copy()
    while True:
        nxt = roots[roots]
        if np.array_equal(nxt, roots):
            return roots
        roots = nxt
