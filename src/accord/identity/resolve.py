"""One identity run: build the graph, stitch what changed, keep profile ids stable, log merges and refusals."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from accord.engines.adapter import Engine
from accord.engines.registry import lake_engine
from accord.identity.config import IdentityConfig
from accord.identity.graph import edges_sql, limit_groups_sql, link_steps
from accord.identity.nodes import RECORD_NAMESPACE, profile_count, salesforce_orgs
from accord.identity.stitch import Graph, stitch
from accord.lake.batches import settled_batch
from accord.lake.sql import literal
from accord.lake.store import Lake, now

ID_PREFIX = {"person": "P", "account": "A"}


@dataclass
class ResolveReport:
    kind: str
    mode: str  # full, incremental or unchanged
    records: int = 0
    identities: int = 0
    links: int = 0
    profiles: int = 0
    merges: int = 0
    rejections: int = 0
    conflicted_links: int = 0
    seconds: float = 0.0
    touched: list[str] | None = None  # profile ids this run changed or removed; None after a full run


def resolve(lake: Lake, kind: str, config: IdentityConfig, engine: Engine, full: bool = False) -> ResolveReport:
    """Stitch `kind` (person or account) records into profiles; only profiles touched by new batches unless `full`.
    A whole run builds the graph and finds its components on `engine`; a run over what changed builds its small
    graph in the lake."""
    try:
        return _resolve(lake, kind, config, engine, full)
    finally:
        # Left in the connection, the people's graph of `large` (4.3M identities) held 1.9 GiB through the accounts'
        # run and the relinking.
        lake.drop_temporary(WORKING)


def _resolve(lake: Lake, kind: str, config: IdentityConfig, engine: Engine, full: bool) -> ResolveReport:
    started = time.perf_counter()
    run_id = int(lake.scalar("SELECT nextval('identity_run_seq')"))
    last = lake.scalar("SELECT max(last_batch_id) FROM identity_runs WHERE kind = ?", [kind])
    settled = settled_batch(lake)
    mode = "full" if full or last is None else "incremental"
    orgs = salesforce_orgs(lake, kind)
    by_org = len(orgs) > 1
    if mode == "incremental" and by_org != (sum(first <= int(last) for first in orgs.values()) > 1):
        mode = "full"  # the CRM id limits now count per org, or no longer do: every profile is judged again
    node_ns = RECORD_NAMESPACE[kind]
    with lake.transaction():
        if mode == "incremental":
            changed = _scope_changed(lake, kind, int(last), config)
            if changed == 0:
                report = ResolveReport(kind, "unchanged", profiles=profile_count(lake, kind), touched=[])
                report.seconds = time.perf_counter() - started
                return report
            lake_engine(lake).build([("_sub", edges_sql(kind, config, "_scope")), *_numbering_steps(node_ns)],
                                    keep=GRAPH)
        else:
            lake.execute("CREATE OR REPLACE TEMP TABLE _affected AS SELECT DISTINCT profile_id FROM identity_nodes WHERE kind = ?", [kind])
            engine.build(link_steps(kind, config), keep=GRAPH[:1])
            # The links come back to the lake whole, so the lake numbers them: Spark's numbering runs in one task.
            lake_engine(lake).build(_numbering_steps(node_ns), keep=GRAPH[1:])
        report = _stitch_scope(lake, kind, config, run_id, node_ns, engine, by_org)
        report.mode = mode
        _persist(lake, kind, run_id, report)
        if mode == "incremental":
            # Also every profile that held a restitched node: a record whose refused link now fits can leave a
            # profile that was not among the affected ones, and that profile may be left empty.
            report.touched = [r[0] for r in lake.execute(
                "SELECT profile_id FROM _ids UNION SELECT profile_id FROM _affected "
                "UNION SELECT prev_id FROM _prev WHERE prev_id IS NOT NULL").fetchall()]
        # The splits this run read are taken; one recorded while it ran is left for the next.
        lake.execute("UPDATE identity_unlinks SET taken_by_run = ? WHERE kind = ? AND taken_by_run IS NULL",
                     [run_id, kind])
        lake.execute(
            "INSERT INTO identity_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, kind, mode, settled, report.records, report.identities, report.links, report.profiles,
             report.merges, report.rejections, time.perf_counter() - started, now()],
        )
    report.seconds = time.perf_counter() - started
    return report


def _scope_changed(lake: Lake, kind: str, last_batch: int, config: IdentityConfig) -> int:
    """Records to restitch: those of new batches, and every record of a profile they touch or a split names.

    Only those records' links are built, so a run after a small batch costs little however large the graph.
    """
    k, node = literal(kind), literal(RECORD_NAMESPACE[kind])
    lake.execute(
        f"CREATE OR REPLACE TEMP TABLE _changed AS SELECT DISTINCT source_key FROM {kind} WHERE batch_id > ?",
        [last_batch],
    )
    splits = f"SELECT profile_id FROM identity_unlinks WHERE kind = {k} AND taken_by_run IS NULL"
    count = int(lake.scalar("SELECT count(*) FROM _changed")) + int(lake.scalar(f"SELECT count(*) FROM ({splits})"))
    if count == 0:
        return 0
    lake.execute(f"CREATE OR REPLACE TEMP TABLE _changed_edges AS {edges_sql(kind, config, '_changed')}")
    lake.execute(
        f"""CREATE OR REPLACE TEMP TABLE _affected AS
        SELECT DISTINCT n.profile_id FROM identity_nodes n
        JOIN (SELECT namespace, value FROM _changed_edges UNION SELECT {node}, source_key FROM _changed) t USING (namespace, value)
        WHERE n.kind = {k}
        UNION {splits}"""
    )
    # The affected profiles' records, and records whose links to them a guardrail refused (they may fit now).
    lake.execute(
        f"""CREATE OR REPLACE TEMP TABLE _scope AS
        SELECT source_key FROM _changed
        UNION SELECT value FROM identity_nodes
        WHERE kind = {k} AND namespace = {node} AND profile_id IN (SELECT profile_id FROM _affected)
        UNION SELECT r.record_key FROM identity_rejections r JOIN identity_nodes n USING (namespace, value)
        WHERE r.kind = {k} AND n.kind = {k} AND n.profile_id IN (SELECT profile_id FROM _affected)"""
    )
    return count


GRAPH = ("_sub", "_nodes", "_arcs")
WORKING = (*GRAPH, "_labels", "_prev", "_claims", "_survivors", "_ids", "_affected", "_changed", "_changed_edges",
           "_scope")
"""Every table a run works in: none outlives it."""


def _numbering_steps(node_ns: str) -> list[tuple[str, str]]:
    """The run's identities numbered (`_nodes`) and its links (`_sub`) between numbers, ranked strongest and oldest
    first (`_arcs`).

    A number is a row's place in a table written sorted: DuckDB sorts out of memory, while a `row_number()` ordered
    over the whole graph does not spill (on `large` it stopped a store held to 512MiB). The links are joined to
    their numbers before they are sorted, each step a statement of its own, for the same reason."""
    return [
        ("_sorted_nodes", f"""SELECT namespace, value
            FROM (SELECT DISTINCT namespace, value FROM _sub UNION SELECT {literal(node_ns)}, record_key FROM _sub)
            ORDER BY namespace, value"""),
        ("_nodes", "SELECT namespace, value, (row_number() OVER () - 1)::BIGINT AS node FROM _sorted_nodes"),
        ("_numbered_links", f"""SELECT a.node AS src, b.node AS dst, e.record_key, e.namespace, e.value, e.rule,
               e.strength, e.batch_id, e.source_row
            FROM _sub e
            JOIN _nodes a ON a.namespace = {literal(node_ns)} AND a.value = e.record_key
            JOIN _nodes b ON b.namespace = e.namespace AND b.value = e.value
            WHERE a.node <> b.node"""),
        ("_sorted_arcs", """SELECT src, dst, record_key, namespace, value, rule FROM _numbered_links
            ORDER BY strength, batch_id, source_row, record_key, namespace, value"""),
        ("_arcs", "SELECT src, dst, (row_number() OVER () - 1)::BIGINT AS edge, record_key, namespace, value, rule "
                  "FROM _sorted_arcs"),
    ]


def _stitch_scope(lake: Lake, kind: str, config: IdentityConfig, run_id: int, node_ns: str,
                  engine: Engine, by_org: bool) -> ResolveReport:
    limits = dict(config.namespace_limits)
    limited = [ns for ns in limits if ns != node_ns]
    grouped = limit_groups_sql(by_org)
    groups = [
        row[0]
        for row in lake.execute(
            f"SELECT DISTINCT grp FROM ({grouped}) WHERE namespace IN ({', '.join(map(literal, limited)) or 'NULL'}) ORDER BY 1"
        ).fetchall()
    ]
    group_index = {g: i for i, g in enumerate(groups)}
    nodes = lake.execute(f"SELECT node, grp FROM ({grouped}) ORDER BY node").fetchnumpy()
    arcs = lake.execute("SELECT src, dst, edge FROM _arcs ORDER BY edge").fetchnumpy()
    n_nodes = len(nodes["node"])
    limit_group = np.full(n_nodes, -1, dtype=np.int64)
    for g, i in group_index.items():
        limit_group[nodes["grp"] == g] = i
    graph = Graph(
        n_nodes=n_nodes,
        src=arcs["src"].astype(np.int64),
        dst=arcs["dst"].astype(np.int64),
        edge_rank=arcs["edge"].astype(np.int64),
        limit_group=limit_group,
        group_limits=np.array([limits[g.split(":")[0]] for g in groups], dtype=np.int64),
        max_identities=config.max_identities,
    )
    result = stitch(graph, groups, engine.components)
    lake.register("_labels_arrow", pa.table({"node": np.arange(n_nodes, dtype=np.int64), "label": result.labels}))
    lake.execute("CREATE OR REPLACE TEMP TABLE _labels AS SELECT * FROM _labels_arrow")
    lake.unregister("_labels_arrow")
    lake.register("_rej_arrow", pa.table({"edge": result.rejected_edges.astype(np.int64), "rule": pa.array(result.rejected_rules, pa.string())}))
    lake.execute(
        "INSERT INTO identity_rejections SELECT ?, ?, a.record_key, a.namespace, a.value, r.rule "
        "FROM _rej_arrow r JOIN _arcs a USING (edge)",
        [run_id, kind],
    )
    lake.unregister("_rej_arrow")
    return ResolveReport(
        kind,
        "",
        records=int(lake.scalar("SELECT count(DISTINCT record_key) FROM _sub")),
        identities=n_nodes,
        links=len(graph.src),
        rejections=len(result.rejected_edges),
        conflicted_links=result.conflicted_edges,
    )


def _persist(lake: Lake, kind: str, run_id: int, report: ResolveReport) -> None:
    """Give each new component an id: the previous id holding most of it survives; others are logged as merged."""
    k = literal(kind)
    lake.execute(
        f"""CREATE OR REPLACE TEMP TABLE _prev AS
        SELECT l.node, l.label, n.namespace, n.value, p.profile_id AS prev_id
        FROM _labels l JOIN _nodes n USING (node)
        LEFT JOIN (SELECT * FROM identity_nodes WHERE kind = {k}) p USING (namespace, value)"""
    )
    # Each previous id stays with the component holding most of its identities (ties: the lower label) ...
    lake.execute(
        """CREATE OR REPLACE TEMP TABLE _claims AS
        SELECT prev_id, label, n FROM (
            SELECT prev_id, label, count(*) AS n,
                   row_number() OVER (PARTITION BY prev_id ORDER BY count(*) DESC, label) AS pick
            FROM _prev WHERE prev_id IS NOT NULL GROUP BY prev_id, label)
        WHERE pick = 1"""
    )
    # ... and each component keeps the claiming id with most identities (ties: the oldest, i.e. lowest number:
    # shorter first, since ids past 99,999,999 have more digits).
    lake.execute(
        """CREATE OR REPLACE TEMP TABLE _survivors AS
        SELECT label, prev_id AS profile_id FROM (
            SELECT *, row_number() OVER (PARTITION BY label ORDER BY n DESC, length(prev_id), prev_id) AS pick
            FROM _claims)
        WHERE pick = 1"""
    )
    lake.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ids AS
        SELECT label, profile_id FROM _survivors
        UNION ALL
        SELECT label, {_new_id(kind)}
        FROM (SELECT DISTINCT label FROM _labels WHERE label NOT IN (SELECT label FROM _survivors) ORDER BY label)"""
    )
    lake.execute(
        f"""INSERT INTO identity_merges
        SELECT {run_id}, {k}, ?, s.profile_id, c.prev_id, (
            SELECT min(a.rule || ': ' || a.record_key || ' – ' || a.namespace || ':' || a.value)
            FROM _arcs a JOIN _prev pr ON pr.node = a.src JOIN _prev pn ON pn.node = a.dst
            WHERE pr.label = c.label AND (pr.prev_id IS DISTINCT FROM pn.prev_id)
              AND (pr.prev_id = c.prev_id OR pn.prev_id = c.prev_id))
        FROM _claims c JOIN _survivors s USING (label) WHERE c.prev_id <> s.profile_id""",
        [now()],
    )
    report.merges = int(lake.scalar("SELECT count(*) FROM identity_merges WHERE run_id = ?", [run_id]))
    lake.execute(f"DELETE FROM identity_nodes WHERE kind = {k} AND profile_id IN (SELECT profile_id FROM _affected)")
    lake.execute(
        f"DELETE FROM identity_nodes USING _nodes WHERE identity_nodes.kind = {k} "
        "AND identity_nodes.namespace = _nodes.namespace AND identity_nodes.value = _nodes.value"
    )
    lake.execute(
        f"INSERT INTO identity_nodes SELECT {k}, p.namespace, p.value, i.profile_id FROM _prev p JOIN _ids i USING (label)"
    )
    report.profiles = profile_count(lake, kind)


def _new_id(kind: str) -> str:
    # At least eight digits, never fewer: lpad would cut the 100,000,000th id to an id already given.
    return f"{literal(ID_PREFIX[kind])} || printf('%08d', nextval('{kind}_id_seq'))"


def reserve_ids(lake: Lake, kind: str, count: int) -> list[str]:
    """`count` new profile ids, for profiles opened before an identity run (see `seed`)."""
    return [r[0] for r in lake.execute(f"SELECT {_new_id(kind)} FROM range(?)", [count]).fetchall()]


def seed(lake: Lake, kind: str, nodes: list[tuple[str, str, str]]) -> None:
    """Nodes (namespace, value, profile id) of profiles opened ahead of the identity run, with reserved ids: the
    run keeps a previous id, so their records get the id already announced. Nodes the lake knows are left."""
    if not nodes:
        return
    lake.execute(
        """INSERT INTO identity_nodes SELECT DISTINCT ON (namespace, value) ?, namespace, value, profile_id
        FROM (SELECT unnest(?::VARCHAR[]) AS namespace, unnest(?::VARCHAR[]) AS value, unnest(?::VARCHAR[]) AS profile_id) s
        WHERE NOT EXISTS (SELECT 1 FROM identity_nodes n WHERE n.kind = ? AND n.namespace = s.namespace AND n.value = s.value)""",
        [kind, [n[0] for n in nodes], [n[1] for n in nodes], [n[2] for n in nodes], kind],
    )
