"""Custom fields and objects in a store: declared ones become columns and tables; a change of type converts every
value or nothing."""

from __future__ import annotations

from collections.abc import Sequence

from accord.lake.sql import DUCKDB_TYPES, ident, literal
from accord.lake.store import Lake, now
from accord.model.entities import ColumnType
from accord.model.schema import CustomField, CustomObject

SHOWN = 5
PROFILE_TABLES = {"person": "person_profile", "account": "account_profile"}


class CustomFieldTypeChanged(ValueError):
    """A declared custom field has another type in the store than in the declaration."""


def declare(lake: Lake, fields: Sequence[CustomField], objects: Sequence[CustomObject] = ()) -> list[CustomField]:
    """Add the tables of newly declared objects and the columns of newly declared fields, keep labels current;
    returns the fields added.

    A field declared with another type than the store holds is refused (nothing changes): `convert` does that.
    So is an object declared as related otherwise than the store has it.
    """
    held = {o.name: o for o in lake.schema.objects}
    for o in objects:
        before = held.get(o.name)
        if before is not None and (before.related_to, before.relation_column) != (o.related_to, o.relation_column):
            raise CustomFieldTypeChanged(
                f"custom object {o.name} relates to {before.related_to} by {before.relation_column} in the store but "
                f"is declared to relate to {o.related_to} by {o.relation_column}; declare it as it was, or under a "
                "new name")
    new_objects = [o for o in objects if o.name not in held]
    taken = {r[0].lower() for r in lake.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for o in new_objects:
        # The store's own tables and views share its one namespace (DuckDB's names ignore case).
        for name in (o.name, f"{o.name}_latest", f"{o.name}_current"):
            if name.lower() in taken:
                raise ValueError(f"custom object {o.name}: the store has a table or view named {name} already; "
                                 "name the object otherwise")
    stored = {(f.entity, f.name): f for f in lake.schema.custom}
    for f in fields:
        before = stored.get((f.entity, f.name))
        if before is not None and before.type != f.type:
            problem = _unconvertible(lake, f.entity, f.name, f.type)
            raise CustomFieldTypeChanged(
                f"custom field {f.qualified} is {before.type} in the store but declared {f.type}; "
                f"run `accord schema convert {f.qualified} {f.type}` to convert it{problem}")
    added = [f for f in fields if (f.entity, f.name) not in stored]
    relabelled = [f for f in fields if (f.entity, f.name) in stored and stored[(f.entity, f.name)] != f]
    if not added and not relabelled and not new_objects:
        return []
    with lake.transaction():
        for o in new_objects:
            columns = ", ".join(f"{ident(c.name)} {DUCKDB_TYPES[c.type]}" for c in o.entity().all_columns)
            lake.execute(f"CREATE TABLE {ident(o.name)} ({columns})")
            lake.execute("INSERT INTO custom_objects VALUES (?, ?, ?, ?, ?, ?)",
                         [o.name, o.related_to, o.relation_column, o.label, o.description, now()])
        for f in added:
            lake.execute(f"ALTER TABLE {ident(f.entity)} ADD COLUMN {ident(f.name)} {DUCKDB_TYPES[f.column.type]}")
            lake.execute("INSERT INTO custom_fields VALUES (?, ?, ?, ?, ?, ?)",
                         [f.entity, f.name, f.type, f.label, f.description, now()])
        for f in relabelled:
            lake.execute("UPDATE custom_fields SET label = ?, description = ? WHERE entity = ? AND name = ?",
                         [f.label, f.description, f.entity, f.name])
    lake.refresh_schema()
    return added


def convert(lake: Lake, entity: str, name: str, to_type: str) -> int:
    """Change a custom field's type, converting every stored value; refused, naming the records, if any would not
    convert. Returns how many values were converted."""
    field = next((f for f in lake.schema.custom if f.entity == entity and f.name == name), None)
    if field is None:
        known = ", ".join(f.qualified for f in lake.schema.custom) or "none"
        raise LookupError(f"{entity}.{name} is not a custom field of this store (custom fields: {known})")
    target = CustomField(entity=entity, name=name, type=to_type, label=field.label, description=field.description)
    problem = _unconvertible(lake, entity, name, to_type)
    if problem:
        raise CustomFieldTypeChanged(f"{entity}.{name} cannot become {to_type}{problem}")
    column = ident(name)
    duck_type = DUCKDB_TYPES[target.column.type]
    with lake.transaction():
        tables = [entity] + ([PROFILE_TABLES[entity]] if _has_column(lake, PROFILE_TABLES.get(entity), name) else [])
        for table in tables:
            lake.execute(f"ALTER TABLE {ident(table)} ALTER COLUMN {column} SET DATA TYPE {duck_type} "
                         f"USING {_converted(column, field.type, to_type)}")
        lake.execute("UPDATE custom_fields SET type = ? WHERE entity = ? AND name = ?", [to_type, entity, name])
    lake.refresh_schema()
    return int(lake.scalar(f"SELECT count({column}) FROM {ident(entity)}"))


def _converted(column: str, from_type: str, to_type: str) -> str:
    """A stored value as `to_type`, NULL where it does not convert."""
    if to_type == ColumnType.STRING_LIST.value:
        if from_type == ColumnType.STRING_LIST.value:
            return column
        return f"list_filter(list_transform(string_split({column}::VARCHAR, ';'), lambda x: trim(x)), lambda x: x <> '')"
    if from_type == ColumnType.STRING_LIST.value:
        return f"array_to_string({column}, ';')" if to_type == "string" else "NULL"
    return f"TRY_CAST({column} AS {DUCKDB_TYPES[ColumnType(to_type)]})"


def _unconvertible(lake: Lake, entity: str, name: str, to_type: str) -> str:
    """'' when every stored value converts, else how many do not and which records hold the first ones."""
    stored = next(f.type for f in lake.schema.custom if f.entity == entity and f.name == name)
    column = ident(name)
    bad = f"FROM {ident(entity)} WHERE {column} IS NOT NULL AND ({_converted(column, stored, to_type)}) IS NULL"
    count = int(lake.scalar(f"SELECT count(*) {bad}"))
    if not count:
        return ""
    rows = lake.query(f"SELECT source_key, {column}::VARCHAR AS value {bad} ORDER BY source_key LIMIT {SHOWN}")
    shown = ", ".join(f"{r['source_key']} ({literal(r['value'])})" for r in rows)
    return f"; {count} stored value(s) would not convert, e.g. {shown}"


def _has_column(lake: Lake, table: str | None, column: str) -> bool:
    return table is not None and bool(lake.scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?", [table, column]))
