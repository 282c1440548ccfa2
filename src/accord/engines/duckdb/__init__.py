"""The embedded engine: SQL in the lake's own DuckDB connection, graphs with scipy. The default."""

from accord.engines.adapter import Capabilities, EngineKind

ENGINE = EngineKind(
    name="duckdb",
    title="DuckDB, embedded in the process (the default)",
    package="accord.engines.duckdb",
    capabilities=Capabilities(decides_some=True, keeps_features=True, in_lake=True, distributed=False),
)
