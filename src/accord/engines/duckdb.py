"""The embedded engine: compiled audiences run in the lake's own DuckDB connection."""

from __future__ import annotations

import pyarrow as pa

from accord.audiences.compile import CompiledAudiences
from accord.lake.store import Lake


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def members(self, compiled: CompiledAudiences) -> pa.Table:
        """Evaluate every audience (the aud_* tables exist); returns (audience, profile_id) rows."""
        con = self.lake.con
        for level in ("person", "account"):
            query = compiled.feature_query(level)
            table = f"aud_{level}_features"
            if query is None:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {level}_id FROM aud_{level}_events LIMIT 0")
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {query.sql(self.dialect)}")
        con.execute("CREATE OR REPLACE TEMP TABLE aud_members (audience VARCHAR, profile_id VARCHAR)")
        for name, query in compiled.queries.items():
            con.execute(f"INSERT INTO aud_members SELECT ?, profile_id FROM ({query.sql(self.dialect)})", [name])
        return con.sql("SELECT * FROM aud_members").to_arrow_table()
