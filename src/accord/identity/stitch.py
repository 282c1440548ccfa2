"""Stitching: connected components of the identity graph, with guardrails against over-merging.

Components come from scipy in one vectorised pass. Only components that break a rule (too many values of a
namespace limited per profile, too many identities) are rebuilt edge by edge, strongest and oldest edge first,
refusing each edge that would break a rule; in real data those are a tiny fraction of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


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
    labels: np.ndarray  # per node: its profile's label, 0..n_profiles-1
    n_profiles: int
    rejections: list[Rejection] = field(default_factory=list)
    conflicted_edges: int = 0


def stitch(graph: Graph, group_names: list[str] | None = None) -> StitchResult:
    labels = components(graph.n_nodes, graph.src, graph.dst)
    bad = _violating(labels, graph)
    if not bad.any():
        return StitchResult(*_dense(labels))
    in_bad = bad[labels[graph.src]]
    edges = np.flatnonzero(in_bad)
    edges = edges[np.argsort(graph.edge_rank[edges], kind="stable")]
    roots, rejections = _rebuild(graph, edges, group_names or [])
    bad_nodes = np.flatnonzero(bad[labels])
    final = labels.astype(np.int64).copy()
    final[bad_nodes] = labels.max() + 1 + roots[bad_nodes]
    dense, count = _dense(final)
    return StitchResult(dense, count, rejections, len(edges))


def components(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    matrix = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(matrix, directed=False)
    return labels


def _violating(labels: np.ndarray, graph: Graph) -> np.ndarray:
    """Per component label: does it hold too many identities, or too many values of a limited namespace?"""
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    bad = np.bincount(labels, minlength=n_labels) > graph.max_identities
    limited = np.flatnonzero(graph.limit_group >= 0)
    if len(limited):
        n_groups = len(graph.group_limits)
        key = labels[limited].astype(np.int64) * n_groups + graph.limit_group[limited]
        counts = np.bincount(key, minlength=n_labels * n_groups).reshape(n_labels, n_groups)
        bad |= (counts > graph.group_limits[None, :]).any(axis=1)
    return bad


def _rebuild(graph: Graph, edges: np.ndarray, group_names: list[str]) -> tuple[np.ndarray, list[Rejection]]:
    """Union-find over the edges of rule-breaking components, refusing edges that would break a rule."""
    parent = np.arange(graph.n_nodes)
    size = np.ones(graph.n_nodes, dtype=np.int64)
    held: dict[int, dict[int, int]] = {}
    for node in np.flatnonzero(graph.limit_group >= 0):
        held[int(node)] = {int(graph.limit_group[node]): 1}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    rejections = []
    for e in edges.tolist():
        a, b = find(int(graph.src[e])), find(int(graph.dst[e]))
        if a == b:
            continue
        rule = None
        if size[a] + size[b] > graph.max_identities:
            rule = f"max_identities: a profile holds at most {graph.max_identities} identities"
        else:
            ha, hb = held.get(a, {}), held.get(b, {})
            for group in ha.keys() & hb.keys():
                if ha[group] + hb[group] > graph.group_limits[group]:
                    name = group_names[group] if group < len(group_names) else str(group)
                    rule = f"namespace_limit: a profile holds at most {graph.group_limits[group]} {name}"
                    break
        if rule:
            rejections.append(Rejection(e, rule))
            continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        merged = held.pop(b, {})
        if merged:
            mine = held.setdefault(a, {})
            for group, n in merged.items():
                mine[group] = mine.get(group, 0) + n
    return _roots(parent), rejections


def _roots(parent: np.ndarray) -> np.ndarray:
    """Every node's root, by pointer jumping (vectorised)."""
    roots = parent.copy()
    while True:
        nxt = roots[roots]
        if np.array_equal(nxt, roots):
            return roots
        roots = nxt


def _dense(labels: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64), len(uniq)
