"""The lake: migrations, latest-version and soft-delete semantics, idempotent re-ingest, sandboxes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.lake import store
from accord.lake.sql import DUCKDB_TYPES
from accord.lake.store import Lake, StoreBusy, _migrations
from accord.model.entities import ENTITIES
from accord.workspace import Workspace, WorkspaceError
from tests.conftest import ingest, mapping, write_csv

HEADER = ["Id", "Name", "Updated", "Deleted"]


def account_mapping():
    return mapping(
        "account",
        {"source_id": "Id", "name": "Name", "source_updated_at": "Updated", "is_deleted": "Deleted"},
    )


def load(lake: Lake, tmp_path: Path, name: str, rows: list[list[str]]):
    return ingest(lake, write_csv(tmp_path / name, HEADER, rows), account_mapping())


def names(lake: Lake) -> dict[str, str]:
    return {r["source_id"]: r["name"] for r in lake.current("account")}


def test_migrations_run_once_and_match_the_model(tmp_path) -> None:
    path = tmp_path / "l.duckdb"
    with Lake(path) as lake:
        assert lake.schema_version == len(_migrations()) == 22
    with Lake(path) as lake:
        assert lake.scalar("SELECT count(*) FROM _migrations") == 22
        for entity in ENTITIES.values():
            got = lake.query(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [entity.name],
            )
            want = sorted((c.name, DUCKDB_TYPES[c.type]) for c in entity.all_columns)
            assert sorted((r["column_name"], r["data_type"].replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")) for r in got) == want


def test_newest_source_time_wins_whatever_the_batch_order(lake, tmp_path) -> None:
    load(lake, tmp_path, "a.csv", [["1", "New", "2024-03-01T00:00:00Z", "false"]])
    load(lake, tmp_path, "b.csv", [["1", "Old", "2024-01-01T00:00:00Z", "false"]])
    assert names(lake) == {"1": "New"}
    assert lake.scalar("SELECT count(*) FROM account") == 2


def test_ties_go_to_the_later_batch_then_the_later_row(lake, tmp_path) -> None:
    t = "2024-01-01T00:00:00Z"
    load(lake, tmp_path, "a.csv", [["1", "First", t, "false"]])
    load(lake, tmp_path, "b.csv", [["1", "Second", t, "false"], ["2", "x", t, "false"], ["2", "y", t, "false"]])
    assert names(lake) == {"1": "Second", "2": "y"}


def test_soft_delete_hides_but_keeps_history(lake, tmp_path) -> None:
    load(lake, tmp_path, "a.csv", [["1", "Acme", "2024-01-01T00:00:00Z", "false"], ["2", "Beta", "2024-01-01T00:00:00Z", "false"]])
    load(lake, tmp_path, "b.csv", [["1", "Acme", "2024-02-01T00:00:00Z", "true"]])
    assert names(lake) == {"2": "Beta"}
    history = lake.query("SELECT name, is_deleted FROM account WHERE source_id = '1' ORDER BY batch_id")
    assert history == [{"name": "Acme", "is_deleted": False}, {"name": "Acme", "is_deleted": True}]
    load(lake, tmp_path, "c.csv", [["1", "Acme Again", "2024-03-01T00:00:00Z", "false"]])
    assert names(lake) == {"1": "Acme Again", "2": "Beta"}


def test_the_same_file_twice_changes_nothing(lake, tmp_path) -> None:
    rows = [["1", "Acme", "2024-01-01T00:00:00Z", "false"], ["2", "", "bad date", "false"]]
    first = load(lake, tmp_path, "a.csv", rows)
    again = load(lake, tmp_path, "a.csv", rows)
    assert (first.loaded, first.quarantined) == (1, 1)
    assert again.already_ingested_as == first.batch_id and again.loaded == 0
    assert lake.scalar("SELECT count(*) FROM account") == 1
    assert lake.scalar("SELECT count(*) FROM quarantine") == 1
    assert lake.scalar("SELECT count(*) FROM batches") == 1


def test_a_changed_export_adds_only_what_changed(lake, tmp_path) -> None:
    t = "2024-01-01T00:00:00Z"
    load(lake, tmp_path, "a.csv", [["1", "Acme", t, "false"], ["2", "Beta", t, "false"]])
    second = load(lake, tmp_path, "b.csv", [["1", "Acme", t, "false"], ["2", "Beta Inc", "2024-02-01T00:00:00Z", "false"]])
    assert (second.loaded, second.unchanged) == (1, 1)
    third = load(lake, tmp_path, "c.csv", [["2", "Beta", "2024-03-01T00:00:00Z", "false"]])
    assert third.loaded == 1, "a return to an earlier value is a new version"
    assert names(lake) == {"1": "Acme", "2": "Beta"}


def test_events_are_immutable_and_never_duplicated(lake, tmp_path) -> None:
    m = mapping("event", {"source_id": "Id", "timestamp": "T", "event_type": "Type"})
    header = ["Id", "T", "Type"]
    ingest(lake, write_csv(tmp_path / "a.csv", header, [["1", "2024-01-01T00:00:00Z", "web.pageview"]] * 2), m)
    result = ingest(
        lake,
        write_csv(tmp_path / "b.csv", header, [["1", "2024-01-01T00:00:00Z", "web.pageview"], ["2", "2024-01-02T00:00:00Z", "email.open"]]),
        m,
    )
    assert (result.loaded, result.unchanged) == (1, 1)
    assert lake.scalar("SELECT count(*) FROM event_current") == 2


versions = st.lists(
    st.tuples(
        st.integers(0, 2),  # batch
        st.sampled_from(["a", "b"]),  # key
        st.one_of(st.none(), st.integers(1, 3)),  # source time
        st.sampled_from(["x", "y", "z"]),  # value
        st.booleans(),  # deleted
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(versions)
def test_current_view_matches_a_reference(tmp_path_factory, rows) -> None:
    """Current = per key the version with the newest source time, then later batch, then later row; minus deletes.

    A file identical to one loaded before is recognised and not loaded again."""
    folder = tmp_path_factory.mktemp("prop")
    with Lake(folder / "l.duckdb") as lake:
        files: list[list[list[str]]] = []
        for batch in range(3):
            batch_rows = [r for r in rows if r[0] == batch]
            if not batch_rows:
                continue
            csv_rows = [[k, v, f"2024-01-0{t}T00:00:00Z" if t else "", "true" if d else "false"] for _, k, t, v, d in batch_rows]
            result = load(lake, folder, f"b{batch}.csv", csv_rows)
            if csv_rows in files:
                assert result.already_ingested_as is not None
                rows = [r for r in rows if r[0] != batch]
            files.append(csv_rows)
        expected = {}
        for key in ("a", "b"):
            mine = [(i, r) for i, r in enumerate(rows) if r[1] == key]
            if not mine:
                continue
            ordered = sorted(mine, key=lambda ir: (ir[1][2] is not None, ir[1][2] or 0, ir[1][0], ir[0]))
            _, (_, _, _, value, deleted) = ordered[-1]
            if not deleted:
                expected[key] = value
        assert names(lake) == expected


def test_sandboxes_are_isolated(tmp_path, monkeypatch) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.add_sandbox("dev")
    with ws.lake("dev") as dev:
        load(dev, tmp_path, "a.csv", [["1", "Acme", "2024-01-01T00:00:00Z", "false"]])
    with ws.lake() as prod:
        assert prod.scalar("SELECT count(*) FROM account") == 0
    monkeypatch.setenv("ACCORD_SANDBOX", "dev")
    with Workspace.load(tmp_path / "ws").lake() as dev:
        assert dev.scalar("SELECT count(*) FROM account") == 1
    assert ws.lake_path("dev") != ws.lake_path("prod")
    with pytest.raises(WorkspaceError, match="unknown sandbox 'qa'"):
        ws.lake_path("qa")
    with pytest.raises(WorkspaceError, match="exists already"):
        ws.add_sandbox("dev")
    with pytest.raises(ValueError, match="lower-case"):
        ws.add_sandbox("Bad Name")


def test_a_destination_saved_by_a_running_server_keeps_what_changed_in_accord_yaml_since(tmp_path) -> None:
    """`serve` wrote its own copy of accord.yaml back: pausing a destination in the web UI dropped the sandbox a
    relayed `accord sandboxes create qa` had added meanwhile."""
    from accord.services.destinations import save_destination, set_paused

    serving = Workspace.init(tmp_path / "ws")
    Workspace.load(serving.root).add_sandbox("qa")
    with serving.lake() as lake:
        save_destination(serving, lake, {"type": "file", "name": "files", "url": str(tmp_path / "out"),
                                         "audiences": ["a"]}, None, "key:1")
        set_paused(serving, lake, "files", True, "key:1")
        with pytest.raises(WorkspaceError, match="no destination named 'gone'"):
            set_paused(serving, lake, "gone", True, "key:1")
    on_file = Workspace.load(serving.root).config
    assert on_file.sandboxes == ["prod", "qa"]
    assert [(d.name, d.paused) for d in on_file.destinations] == [("files", True)]
    assert serving.config.sandboxes == ["prod"] and serving.config.destinations[0].paused, \
        "the server's copy takes its own change only: the rest of the file applies when it is next loaded"


def test_a_running_process_takes_up_the_live_settings_of_accord_yaml_and_names_the_rest(tmp_path) -> None:
    serving = Workspace.init(tmp_path / "ws")
    Workspace.load(serving.root).add_sandbox("qa")  # a relayed `accord sandboxes create qa`
    config = yaml.safe_load((serving.root / "accord.yaml").read_text())
    config["identity"]["link_by_phone"] = True
    (serving.root / "accord.yaml").write_text(yaml.safe_dump(config))
    assert serving.reread(("sandboxes",), "prod") == (["sandboxes"], ["identity"])
    assert serving.config.sandboxes == ["prod", "qa"] and not serving.config.identity.link_by_phone
    (serving.root / "accord.yaml").write_text(yaml.safe_dump({**config, "sandboxes": ["qa"], "default_sandbox": "qa"}))
    with pytest.raises(WorkspaceError, match="no longer lists sandbox 'prod', which is served"):
        serving.reread(("sandboxes",), "prod")
    assert serving.config.sandboxes == ["prod", "qa"]


HAND_WRITTEN = """# Acme's Accord: owned by marketing ops
name: acme
sandboxes: [prod]      # prod only for now
destinations:
  - type: file      # the analysts' drop
    name: drop
    url: out
    audiences: ["A"]
identity:
  link_by_phone: false  # office lines
"""


def test_a_change_from_accord_keeps_the_comments_and_brevity_of_a_hand_written_accord_yaml(tmp_path) -> None:
    """A sandbox made or a destination paused wrote the whole configuration again: every comment gone, every
    default spelled out."""
    from accord.services.destinations import save_destination, set_paused

    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "accord.yaml").write_text(HAND_WRITTEN)
    ws = Workspace.load(tmp_path / "ws")
    ws.add_sandbox("qa")
    with ws.lake() as lake:
        set_paused(ws, lake, "drop", True, "key:1")
        save_destination(ws, lake, {"type": "file", "name": "on", "url": "elsewhere", "audiences": ["A"]}, None,
                         "key:1")
    text = (tmp_path / "ws" / "accord.yaml").read_text()
    for comment in ("# Acme's Accord: owned by marketing ops", "# the analysts' drop", "# office lines"):
        assert comment in text
    assert "max_identities" not in text and "retention_days" not in text, "defaults stay unwritten"
    again = Workspace.load(tmp_path / "ws").config
    assert again == ws.config and again.sandboxes == ["prod", "qa"]
    assert [(d.name, d.paused) for d in again.destinations] == [("drop", True), ("on", False)]
    written = Workspace.init(tmp_path / "made")  # as Accord writes it: lists level with their key, nulls spelled
    before = (written.root / "accord.yaml").read_text().splitlines()
    written.add_sandbox("dev")
    after = (written.root / "accord.yaml").read_text().splitlines()
    assert [line for line in after if line not in before] == ["- dev"] and len(after) == len(before) + 1


def test_workspace_settings_are_validated(tmp_path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    config = yaml.safe_load((tmp_path / "ws" / "accord.yaml").read_text())

    def written(**changes: object) -> None:
        (tmp_path / "ws" / "accord.yaml").write_text(yaml.safe_dump({**config, **changes}))

    written(audiences={"schedule": "every hour"})
    with pytest.raises(WorkspaceError, match="not a cron expression"):
        Workspace.load(tmp_path / "ws")
    written(audiences={"schedule": "0 6 30 2 *"})  # valid syntax, but February has no 30th: serve's worker failed
    with pytest.raises(WorkspaceError, match="names no date any year has"):
        Workspace.load(tmp_path / "ws")
    written(destinations=[{"type": "file", "name": "f", "path": "out", "audiences": ["a"], "schedule": "0 0 31 4 *"}])
    with pytest.raises(WorkspaceError, match="names no date any year has"):
        Workspace.load(tmp_path / "ws")
    written(audiences={"schedule": "0 * * * *", "retention_days": 7})
    loaded = Workspace.load(tmp_path / "ws")
    assert loaded.config.audiences.retention_days == 7
    from datetime import datetime, timezone

    assert loaded.config.audiences.next_run(datetime(2026, 1, 1, 10, 30, tzinfo=timezone.utc)).hour == 11
    written(identity={"max_identitys": 3})
    with pytest.raises(WorkspaceError, match="max_identitys"):
        Workspace.load(tmp_path / "ws")
    assert ws.config.identity.max_identities == 50


def test_an_older_store_is_refused_until_accord_migrate_brings_it_up_to_date(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from accord.cli import app
    from accord.lake import store
    from accord.workspace import Workspace

    shipped = _migrations()
    version = shipped[-1][0]
    with monkeypatch.context() as older:  # the store an Accord without the latest migration made
        older.setattr(store, "_migrations", lambda: shipped[:-1])
        ws = Workspace.init(tmp_path / "ws")
        ws.lake().close()
    with pytest.raises(store.StoreOutdated,
                       match=f"at version {version - 1}, this Accord needs {version}: run `accord migrate`"):
        ws.lake()
    refused = CliRunner().invoke(app, ["status", "-w", str(ws.root)])
    assert refused.exit_code == 1 and "accord migrate" in refused.output and "Traceback" not in refused.output
    migrated = CliRunner().invoke(app, ["migrate", "-w", str(ws.root)])
    assert migrated.exit_code == 0 and f"prod: version {version}" in migrated.output
    with ws.lake() as lake:
        assert lake.schema_version == version and lake.scalar("SELECT count(*) FROM person_current") == 0


def test_a_store_killed_while_being_created_is_created_again_whole(tmp_path) -> None:
    """kill -9 between two migrations of a new store: the next open finds a new store, not a half-made one."""
    killer = (
        "import os, signal, sys; from accord.lake import store\n"
        "apply = store.Lake._apply\n"
        "def dying(self, version, name, sql):\n"
        "    apply(self, version, name, sql)\n"
        "    if version == 8: os.kill(os.getpid(), signal.SIGKILL)\n"
        "store.Lake._apply = dying\n"
        "store.Lake(store.Path(sys.argv[1]))\n"
    )
    path = tmp_path / "accord.duckdb"
    assert subprocess.run([sys.executable, "-c", killer, str(path)]).returncode == -signal.SIGKILL
    with Lake(path) as lake:
        assert lake.schema_version == max(version for version, _, _ in _migrations())
        assert lake.scalar("SELECT count(*) FROM person_current") == 0


def test_only_the_lake_holds_the_connection() -> None:
    """Every other layer goes through `Lake` (execute, transaction, register): the store can change under them."""
    import ast

    package = Path(__file__).parent.parent / "src" / "accord"
    reaching, connecting = [], []
    for path in package.rglob("*.py"):
        if path.parent.name == "lake":
            continue
        tree = ast.parse(path.read_text())
        where = path.relative_to(package)
        reaching += [f"{where}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                     and n.attr in ("con", "_con")]
        connecting += [f"{where}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                       and n.attr == "connect" and isinstance(n.value, ast.Name) and n.value.id == "duckdb"]
    assert not reaching, f"a store's connection used outside lake/: {reaching}"
    assert [c.split(":")[0] for c in connecting] == ["ingest/preview.py"], "only a file preview's scratch database"


def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the store's file for `seconds`, as a scheduled `accord run` does."""
    code = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(float(sys.argv[2]))")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout and holder.stdout.readline() == "held\n"
    return holder


def test_a_store_another_process_holds_is_waited_for_then_refused_clearly(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "accord.duckdb"
    Lake(path).close()
    holder = hold(path, 1.0)
    with Lake(path) as lake:  # opened once the other process ends, instead of failing at once
        assert lake.scalar("SELECT count(*) FROM person") == 0
    assert holder.wait() == 0
    monkeypatch.setattr(store, "LOCK_WAIT_SECONDS", 0.3)
    holder = hold(path, 60.0)
    try:
        with pytest.raises(StoreBusy, match=rf"in use by another process \(PID {holder.pid}, python"):
            Lake(path)
    finally:
        holder.kill()
        holder.wait()
