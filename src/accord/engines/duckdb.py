"""The embedded engine: compiled audiences run in the lake's own DuckDB connection."""

from __future__ import annotations

import pyarrow as pa

from accord.audiences.compile import CompiledAudiences
from accord.lake.sql import ident, literal
from accord.lake.store import Lake


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"
    decides_some = True
    """Can evaluate only some profiles (`CompiledAudiences.within`), reading the others' recorded membership."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def members(self, compiled: CompiledAudiences) -> pa.Table:
        """Evaluate every audience (the aud_* tables exist); returns (audience, profile_id) rows."""
        con = self.lake.con
        for table, query in compiled.feature_tables():
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {query.sql(self.dialect)}")
        con.execute("CREATE OR REPLACE TEMP TABLE aud_members (audience VARCHAR, profile_id VARCHAR, kept BOOLEAN)")
        if compiled.within and compiled.referenced:
            # `in audience` must see every member; those not being decided keep their recorded membership.
            deciding = " UNION ALL ".join(f"SELECT profile_id FROM {t}" for t in compiled.within.values())
            con.execute(
                "INSERT INTO aud_members SELECT audience, profile_id, TRUE FROM audience_membership "
                "WHERE status IN ('realized', 'existing') AND audience IN (SELECT unnest(?::VARCHAR[])) "
                f"AND profile_id NOT IN ({deciding})", [sorted(compiled.referenced)])
        for level in compiled.levels:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {level.table} AS {level.query.sql(self.dialect)}")
            names = ", ".join(f"({literal(col)}, {literal(name)})" for name, col in level.columns.items())
            columns = ", ".join(ident(col) for col in level.columns.values())
            # One pass turns the wide result (a column per audience) into (audience, profile) rows.
            con.execute(
                f"INSERT INTO aud_members SELECT n.audience, u.profile_id, FALSE "
                f"FROM (UNPIVOT {level.table} ON {columns} INTO NAME col VALUE hit) AS u "
                f"JOIN (VALUES {names}) AS n(col, audience) USING (col) WHERE u.hit"
            )
        return con.sql("SELECT audience, profile_id FROM aud_members WHERE NOT kept").to_arrow_table()
