"""Mapping files as a careless user edits them: any value in any place of a shipped mapping is either a mapping or
refused with a MappingError naming the field, never another error (which would reach the user as a traceback)."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.ingest.mapping import MappingError, parse_mapping
from accord.readable import yaml_data

from .test_export_input import values

SHIPPED = yaml_data(resources.files("accord.connectors.salesforce").joinpath("mappings/account.yaml").read_text(),
                    "account.yaml")


def places(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document: its keys' and items' paths."""
    inside = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    return [path, *(p for key, value in inside for p in places(value, (*path, key)))]


def edited(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    held = doc
    for key in path[:-1]:
        held = held[key]
    held[path[-1]] = value
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(places(SHIPPED)), values), min_size=1, max_size=3))
def test_any_value_anywhere_in_a_mapping_is_a_mapping_or_a_mapping_error(edits: list[tuple[Any, Any]]) -> None:
    doc = SHIPPED
    for path, value in edits:
        try:
            doc = edited(doc, path, value)
        except (KeyError, IndexError, TypeError):  # an earlier edit took that place away
            continue
    try:
        parse_mapping(doc)
    except MappingError:
        pass


@pytest.mark.parametrize(("transforms", "said"), [
    (5, "transforms is a list of transforms, e.g. [trim, lower], not 5"),
    ([{7: "x"}], "a transform is a name or {name: argument}, got {7: 'x'}"),
    ("lowr", "unknown transform 'lowr' (did you mean 'lower'?)"),
])
def test_a_transform_written_wrong_is_named(transforms: Any, said: str) -> None:
    doc = edited(SHIPPED, ("fields", "name"), {"from": "Name", "transforms": transforms})
    with pytest.raises(MappingError, match="fields.name") as refused:
        parse_mapping(doc)
    assert said in str(refused.value)
    assert parse_mapping(edited(SHIPPED, ("fields", "name"), {"from": "Name", "transforms": "trim"})) \
        .fields["name"].transforms[0].name == "trim", "one transform without its list is read as one"
