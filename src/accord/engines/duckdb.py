"""The embedded engine: compiled audiences run in the lake's own DuckDB connection."""

from __future__ import annotations

import pyarrow as pa

from accord.audiences.compile import CompiledAudiences
from accord.lake.sql import ident
from accord.lake.store import Lake


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def members(self, compiled: CompiledAudiences) -> pa.Table:
        """Evaluate every audience (the aud_* tables exist); returns (audience, profile_id) rows."""
        con = self.lake.con
        for table, query in compiled.feature_tables():
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {query.sql(self.dialect)}")
        con.execute("CREATE OR REPLACE TEMP TABLE aud_members (audience VARCHAR, profile_id VARCHAR)")
        for level in compiled.levels:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {level.table} AS {level.query.sql(self.dialect)}")
            for name, column in level.columns.items():
                con.execute(f"INSERT INTO aud_members SELECT ?, profile_id FROM {level.table} WHERE {ident(column)}", [name])
        return con.sql("SELECT * FROM aud_members").to_arrow_table()
