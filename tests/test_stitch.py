"""Stitching on hand-made graphs: chains, stars, per-namespace limits, the identity cap."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.identity.dense import dense_ranks
from accord.identity.stitch import Graph, components, stitch


def graph(n: int, edges: list[tuple[int, int]], limited: dict[int, int] | None = None, limits=(1,), cap: int = 50) -> Graph:
    group = np.full(n, -1)
    for node, g in (limited or {}).items():
        group[node] = g
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    return Graph(n, src, dst, np.arange(len(edges)), group, np.array(limits), cap)


def same(labels, *nodes) -> bool:
    return len({labels[n] for n in nodes}) == 1


def test_chain_becomes_one_profile() -> None:
    result = stitch(graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)]))
    assert result.n_profiles == 1 and not result.rejections


def test_star_and_loners() -> None:
    result = stitch(graph(7, [(0, 1), (0, 2), (0, 3), (5, 6)]))
    assert result.n_profiles == 3
    assert same(result.labels, 0, 1, 2, 3) and same(result.labels, 5, 6) and not same(result.labels, 4, 0)


def test_namespace_limit_refuses_the_later_link() -> None:
    # Records 0 and 2 each own a CRM id (1 and 3); a shared e-mail (4) would put both ids in one profile.
    edges = [(0, 1), (2, 3), (0, 4), (2, 4)]
    result = stitch(graph(5, edges, limited={1: 0, 3: 0}))
    assert not same(result.labels, 0, 2)
    assert same(result.labels, 0, 1, 4) and same(result.labels, 2, 3)
    assert [r.edge for r in result.rejections] == [3]
    assert "namespace_limit" in result.rejections[0].rule


def test_limit_of_two_allows_two() -> None:
    edges = [(0, 1), (2, 3), (4, 5), (0, 6), (2, 6), (4, 6)]
    result = stitch(graph(7, edges, limited={1: 0, 3: 0, 5: 0}, limits=(2,)))
    assert same(result.labels, 0, 2, 6) and not same(result.labels, 0, 4)


def test_identity_cap() -> None:
    edges = [(0, i) for i in range(1, 10)]
    result = stitch(graph(10, edges, cap=4))
    sizes = np.bincount(result.labels)
    assert sizes.max() == 4 and len(result.rejections) == 6
    assert all("max_identities" in r.rule for r in result.rejections)


def test_unaffected_components_are_left_alone() -> None:
    # A conflict in one component does not touch another.
    edges = [(0, 1), (2, 3), (0, 4), (2, 4), (5, 6), (6, 7)]
    result = stitch(graph(8, edges, limited={1: 0, 3: 0}))
    assert same(result.labels, 5, 6, 7)
    assert result.conflicted_edges == 4


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))))
def test_without_rules_it_is_plain_connected_components(case) -> None:
    n, edges = case
    g = graph(n, edges)
    result = stitch(g)
    plain = components(n, g.src, g.dst)
    # Same partition, whatever the label numbers.
    pairs = {(a, b) for a in range(n) for b in range(n)}
    assert {p for p in pairs if result.labels[p[0]] == result.labels[p[1]]} == {p for p in pairs if plain[p[0]] == plain[p[1]]}


@settings(max_examples=60, deadline=None)
@given(st.integers(4, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=50),
    st.sets(st.integers(0, n - 1), max_size=8),
    st.integers(2, 8),
)))
def test_rules_always_hold(case) -> None:
    n, edges, limited, cap = case
    g = graph(n, edges, limited={i: 0 for i in limited}, cap=cap)
    result = stitch(g)
    sizes = np.bincount(result.labels)
    assert sizes.max() <= cap
    for label in set(result.labels.tolist()):
        assert sum(1 for i in limited if result.labels[i] == label) <= 1


@given(st.lists(st.integers(-(2**62), 2**62), max_size=60) | st.lists(st.integers(-3, 5), max_size=60))
def test_dense_ranks_are_numpys_unique(values) -> None:
    array = np.array(values, dtype=np.int64)
    distinct, ranks = dense_ranks(array)
    expected, inverse = np.unique(array, return_inverse=True)
    assert np.array_equal(distinct, expected) and np.array_equal(ranks, inverse)
