"""Stitching benchmark: 10M identity links through Accord's stitch() and through bare scipy connected_components.

    python bench/identity.py [--links 10000000] [--seed 1] [--spark local[2]]

The graph is shaped like Accord's: every record links to its own id (one per profile allowed), most to an
e-mail shared with the same person's other records, some to a CRM id they carry; 2% of people have a
duplicate record of the same system, which breaks the one-id-per-profile rule and takes the guarded path.
Prints both times and their ratio (goal: at most 1.5x). With `--spark MASTER`, also stitch() with the components
found on Spark (rounds of local contraction), its ratio to the scipy path (goal: within 10x) and whether both found the
same profiles: the first run, then the best of three more.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from accord.identity.stitch import Graph, stitch


def build(links: int, seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    people = int(links / 3.72)
    # Each person has a CRM record, a Marketo record or both; 2% have a second Marketo record (a duplicate).
    in_crm = rng.random(people) < 0.7
    in_marketo = ~in_crm | (rng.random(people) < 0.8)
    duplicate = in_marketo & (rng.random(people) < 0.02)
    system = np.concatenate([np.zeros(in_crm.sum(), int), np.ones(in_marketo.sum(), int), np.ones(duplicate.sum(), int)])
    person_of = np.concatenate([np.flatnonzero(in_crm), np.flatnonzero(in_marketo), np.flatnonzero(duplicate)])
    n_records = len(person_of)
    # Nodes: records, Marketo ids, e-mails, CRM ids (a CRM record's own id is the one Marketo records carry).
    record = np.arange(n_records)
    crm = 2 * n_records + people + person_of
    own = np.where(system == 0, crm, n_records + record)
    email = 2 * n_records + person_of
    carries = (system == 1) & in_crm[person_of]
    src = np.concatenate([record, record, record[carries]])
    dst = np.concatenate([own, email, crm[carries]])
    strength = np.concatenate([np.zeros(n_records), np.full(n_records, 2), np.ones(carries.sum())])
    n_nodes = 2 * n_records + 2 * people
    group = np.full(n_nodes, -1)
    group[own] = system
    return Graph(n_nodes, src, dst, np.argsort(np.argsort(strength, kind="stable")), group, np.array([1, 1]), 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spark", metavar="MASTER", help="also time the components on Spark, e.g. local[2]")
    parser.add_argument("--driver-memory", default="8g", help="the Spark driver's heap (local mode runs in it)")
    args = parser.parse_args()
    graph = build(args.links, args.seed)
    print(f"graph: {graph.n_nodes:,} nodes, {len(graph.src):,} links")

    bare, accord = float("inf"), float("inf")
    for _ in range(3):  # best of three: this machine's timings wander
        started = time.perf_counter()
        matrix = coo_matrix((np.ones(len(graph.src), dtype=np.int8), (graph.src, graph.dst)), shape=(graph.n_nodes,) * 2)
        bare_count, _ = connected_components(matrix.tocsr(), directed=False)
        bare = min(bare, time.perf_counter() - started)
        started = time.perf_counter()
        result = stitch(graph, ["crm_id", "marketo_lead_id"])
        accord = min(accord, time.perf_counter() - started)

    print(f"bare scipy connected_components: {bare:6.2f} s  ({bare_count:,} components)")
    print(f"accord stitch with guardrails:   {accord:6.2f} s  ({result.n_profiles:,} profiles, "
          f"{len(result.rejected_edges):,} links refused, {result.conflicted_edges:,} links on the guarded path)")
    print(f"ratio: {accord / bare:.2f}x")
    if args.spark:
        on_spark(graph, result.labels, accord, args.spark, args.driver_memory)


def on_spark(graph: Graph, labels: np.ndarray, accord: float, master: str, memory: str) -> None:
    from accord.engines.spark.engine import SparkEngine
    from accord.engines.spark.session import spark_session

    started = time.perf_counter()
    engine = SparkEngine(None, spark_session(master, {"spark.driver.memory": memory}))  # type: ignore[arg-type]  # components need no lake
    print(f"spark session ({master}, driver heap {memory}): {time.perf_counter() - started:6.2f} s")
    spent: list[float] = []
    for run in range(4):  # the first pays for the JVM's and the Python workers' warming up
        started = time.perf_counter()
        result = stitch(graph, ["crm_id", "marketo_lead_id"], engine.components)
        spent.append(time.perf_counter() - started)
        print(f"accord stitch, components on spark, run {run + 1}: {spent[-1]:6.2f} s  ({result.n_profiles:,} "
              f"profiles; same labels as scipy: {bool(np.array_equal(result.labels, labels))})")
    warm = min(spent[1:])
    print(f"ratio spark/scipy path: first run {spent[0] / accord:.1f}x, warm (best of the next three, as scipy's "
          f"best of three) {warm / accord:.1f}x")


if __name__ == "__main__":
    main()
