"""Connectors are one folder each with the same files, listed by the registry (built-in or through an entry point),
and everything that lists them (settings, `accord sync`, shipped mappings, the docs) is built from it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from accord.cli import app
from accord.connectors.registry import connectors
from accord.sources.mappings import builtin_mappings

FILES = {"__init__.py", "config.py", "client.py", "source.py", "destination.py", "server.py", "data.py", "mappings",
         "export.py"}
DOCS = Path(__file__).parent.parent / "docs" / "connectors.md"


def test_every_connector_is_one_folder_with_the_same_file_names() -> None:
    for connector in connectors().values():
        folder = Path(sys.modules[connector.package].__file__).parent
        present = {p.name for p in folder.iterdir() if p.name != "__pycache__"}
        assert present <= FILES, f"{connector.type}: unexpected {present - FILES}"
        assert ("source.py" in present) == (connector.source is not None), connector.type
        assert ("destination.py" in present) == (connector.destination is not None), connector.type


def test_what_lists_connectors_is_built_from_the_registry() -> None:
    readers = sorted(c.type for c in connectors().values() if c.source)
    listed = CliRunner().invoke(app, ["sync", "--help"], env={"COLUMNS": "200"}).output
    assert all(f" {t} " in listed for t in readers)
    senders = CliRunner().invoke(app, ["destinations", "types"], env={"COLUMNS": "200"}).output
    assert [line.split()[1] for line in senders.splitlines() if line.startswith("│ ")] == [
        c.type for c in connectors().values() if c.destination]
    assert {m.split("/")[0] for m in builtin_mappings()} <= set(connectors())
    documented = [line.split("|")[1:5] for line in DOCS.read_text().splitlines() if line.startswith("| `")
                  and line.count("|") == 5]
    assert [(t.strip(" `"), title.strip(), s.strip(), d.strip()) for t, title, s, d in documented] == [
        (c.type, c.title, "yes" if c.source else "no", "yes" if c.destination else "no")
        for c in connectors().values()]


def test_a_package_adds_a_connector_through_an_entry_point(tmp_path: Path) -> None:
    """An installed distribution (its dist-info on the path) declares `accord.connectors`; its destination's
    settings are then accepted in accord.yaml and it opens through the registry like a built-in one."""
    package = tmp_path / "acme_accord"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        from accord.connectors.registry import Connector
        from acme_accord.config import AcmeDestinationConfig

        CONNECTOR = Connector("acme", "Acme Ads", __name__, destination=AcmeDestinationConfig)
    '''))
    (package / "config.py").write_text(textwrap.dedent('''
        from typing import Literal
        from accord.activation.destination import DestinationBase

        class AcmeDestinationConfig(DestinationBase):
            type: Literal["acme"] = "acme"
            account: str
    '''))
    (package / "destination.py").write_text(textwrap.dedent('''
        def open_destination(config, root, workspace_name, sandbox):
            return ("acme", config.account, workspace_name, sandbox)
    '''))
    info = tmp_path / "acme_accord-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-accord\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[accord.connectors]\nacme = acme_accord:CONNECTOR\n")
    script = textwrap.dedent('''
        from pathlib import Path
        import yaml
        from accord.activation.run import open_destination
        from accord.workspace import Workspace

        ws = Workspace.init(Path("ws"))
        config = yaml.safe_load((ws.root / "accord.yaml").read_text())
        config["destinations"] = [{"type": "acme", "name": "ads", "audiences": ["A"], "account": "42"}]
        (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
        ws = Workspace.load(ws.root)
        print(open_destination(ws, ws.config.destinations[0], "prod"))
    ''')
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("('acme', '42', ")

    (info / "entry_points.txt").write_text("[accord.connectors]\nacme = acme_accord:CONNECTOR\nagain = "
                                           "accord.connectors.file:CONNECTOR\n")
    clash = subprocess.run([sys.executable, "-c", "from accord.connectors.registry import connectors; connectors()"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert clash.returncode != 0 and "two connectors register the type 'file'" in clash.stderr
