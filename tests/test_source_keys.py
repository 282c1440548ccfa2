"""B2B source keys: a key made from an instance and a type Accord accepts splits back into the same parts, whatever
the id holds; an instance or type that would not is refused where records come in."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.ingest.mapping import MappingError, parse_mapping
from accord.lake.store import Lake
from accord.model.source_key import (
    checked_instance,
    checked_type,
    make_source_key,
    parse_source_key,
)
from accord.sources.files import FileJob, load_file
from accord.sources.mappings import resolve_mapping

printable = st.characters(blacklist_categories=("Cc", "Cs"))


@given(source_id=st.text(printable, min_size=1), instance=st.text(printable, min_size=1, max_size=60),
       source_type=st.text(printable, min_size=1, max_size=20))
def test_an_accepted_instance_and_type_split_back_whatever_the_id(source_id: str, instance: str,
                                                                  source_type: str) -> None:
    try:
        checked_instance(instance), checked_type(source_type)
    except ValueError:
        return
    parsed = parse_source_key(make_source_key(source_id, instance, source_type))
    assert (parsed.source_id, parsed.source_instance_id, parsed.source_type) == (source_id, instance, source_type)


@pytest.mark.parametrize(("instance", "why"), [
    ("org@eu", "may not hold @"), ("tab\there", "may not hold @ or control characters"), ("x" * 201, "longer than 200"),
])
def test_a_file_loaded_under_an_instance_no_key_can_hold_is_refused(tmp_path: Path, instance: str, why: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("Id,Email,FirstName,LastName\n003X,ann@acme.example,Ann,Lee\n")
    with Lake(tmp_path / "lake.duckdb") as lake:
        with pytest.raises(ValueError, match=why):
            load_file(lake, FileJob(path, resolve_mapping("salesforce/contact"), instance))
        assert lake.scalar("SELECT count(*) FROM person") == 0


def test_a_mapping_naming_a_type_or_instance_no_key_can_hold_is_refused() -> None:
    fields = {"source_id": {"from": "Id"}}
    with pytest.raises(MappingError, match="source_type: source type 'Sales.force' may not"):
        parse_mapping({"entity": "person", "source_type": "Sales.force", "fields": fields})
    with pytest.raises(MappingError, match="source_instance_id: source instance id 'a@b' may not hold @"):
        parse_mapping({"entity": "person", "source_instance_id": "a@b", "fields": fields})
