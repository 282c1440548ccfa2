"""Components on Spark by local contraction: however the edges are split over tasks, and however many rounds
that takes, every node gets its component's lowest node."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_engines import GRAPHS, lowest_node_labels

pytestmark = pytest.mark.spark
pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17", allow_module_level=True)


def roots_on_spark(edges: list[tuple[int, int]], splits: int, one_task_links: int | None = None) -> dict[int, int]:
    """Each node that is not its component's lowest and its root (found by following its moves), the edges spread
    at random over `splits` tasks and contracted in rounds until `one_task_links` are left (by default, as many as
    the code says)."""
    import accord.engines.spark.components as module
    from accord.engines.spark.session import spark_session

    src, dst = np.array(edges, dtype=np.int64).reshape(-1, 2).T
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "BLOCK", 3)  # rows of a few edges each, spread over the tasks
        frame = spark_session().createDataFrame(module.packed_pairs(src, dst)).repartition(splits)
        if one_task_links is not None:
            patch.setattr(module, "ONE_TASK_LINKS", one_task_links)
        moves = module.component_moves(frame).toArrow()
    lower: dict[int, int] = {}
    for node, down in zip(*(values.tolist() for values in module.unpacked_pairs(moves))):
        assert down < node, f"node {node} moved up to {down}"
        lower[node] = down
    found = {}
    for node in lower:
        root = node
        while root in lower:
            root = lower[root]
        found[node] = root
    return found


def expected_roots(n: int, edges: list[tuple[int, int]]) -> dict[int, int]:
    labels = lowest_node_labels(n, edges)
    lowest = {label: node for node, label in reversed(list(enumerate(labels)))}
    return {x: lowest[labels[x]] for edge in edges for x in edge if x != lowest[labels[x]]}


@pytest.mark.parametrize("shape", [s for s in GRAPHS if GRAPHS[s][1]])
@pytest.mark.parametrize("splits", [1, 5])
@pytest.mark.parametrize("rounds", [True, False], ids=["rounds", "one task"])
def test_every_node_gets_its_components_lowest_node(shape: str, splits: int, rounds: bool) -> None:
    n, edges = GRAPHS[shape]
    # In rounds until a quarter of the links are left, as a large graph's are; or by one task, as a small one's.
    assert roots_on_spark(edges, splits, len(edges) // 4 if rounds else None) == expected_roots(n, edges)


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=80), st.integers(1, 9),
       st.integers(0, 80))
def test_any_graph_split_any_way_finds_the_same_roots(edges: list[tuple[int, int]], splits: int, one_task: int) -> None:
    assert roots_on_spark(edges, splits, one_task) == expected_roots(41, edges)


def test_a_path_split_over_many_tasks_needs_and_takes_several_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    import accord.engines.spark.components as module

    path = np.random.default_rng(5).permutation(200)
    edges = [(int(a), int(b)) for a, b in zip(path[:-1], path[1:])]
    monkeypatch.setattr(module, "ONE_TASK_LINKS", 0)  # every round spread over tasks, as a large graph's are
    monkeypatch.setattr(module, "MAX_ROUNDS", 1)
    with pytest.raises(RuntimeError, match="did not converge in 1 rounds"):
        roots_on_spark(edges, 16)
    monkeypatch.setattr(module, "MAX_ROUNDS", 64)
    assert roots_on_spark(edges, 16) == {node: 0 for node in range(1, 200)}


@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**31 - 1)), max_size=30), st.integers(1, 7))
def test_pairs_packed_narrow_or_wide_come_back_as_they_were(pairs: list[tuple[int, int]], block: int) -> None:
    import accord.engines.spark.components as module

    x, y = (np.array(column, dtype=np.int64) for column in zip(*pairs)) if pairs else (np.empty(0, np.int64),) * 2
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "BLOCK", block)
        table = module.packed_pairs(x, y)
    assert table.num_rows == -(-len(pairs) // block)
    back = module.unpacked_pairs(table)
    assert np.array_equal(back[0], x) and np.array_equal(back[1], y)
