"""docs/model.md states the XDM path of every canonical column; keep it true."""

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
