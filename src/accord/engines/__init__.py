"""Engines run compiled SQL: DuckDB embedded by default, Spark for data that outgrows one machine."""
