"""The docs say what the code does: docs/model.md the XDM path of every canonical column, docs/activation.md what
each destination sends and how it fails; keep them true."""

from __future__ import annotations

from pathlib import Path

from accord.model.entities import ENTITIES
from accord.model.xdm import XDM_CLASSES, field_paths

DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"


def test_model_doc_lists_every_column_with_its_xdm_path() -> None:
    text = DOC.read_text()
    for name, entity in ENTITIES.items():
        assert f"## {name}\n" in text
        paths = field_paths(name) if name in XDM_CLASSES else {}
        for col in entity.all_columns:
            if col.name in paths:
                assert f"| `{col.name}` | {col.type.value} |" in text and f"`{paths[col.name]}` |" in text, (name, col.name)


def test_activation_doc_has_a_section_per_destination_saying_what_it_sends_and_how_it_fails() -> None:
    from accord.connectors.registry import with_destinations

    text = (Path(__file__).parent.parent / "docs" / "activation.md").read_text()
    sections = {part.split("\n", 1)[0]: part for part in text.split("\n## ")[1:]}
    for connector in with_destinations():
        heading = [h for h in sections if h.startswith(connector.title.split()[0])]
        assert heading, f"docs/activation.md has no section for {connector.type}"
        body = sections[heading[0]]
        missing = [part for part in ("**Sent.**", "**Hashing.**", "**Limits.**", "**Failures.**") if part not in body]
        assert not missing, f"{heading[0]}: says nothing under {missing}"
