"""Engines run the batch path's heavy work: DuckDB embedded by default, Spark for data that outgrows one machine.

Each engine is a folder here (or a package's `accord.engines` entry point) whose `__init__.py` names an
`EngineKind` (`ENGINE`) and whose `engine.py` opens it (`open_engine(lake, settings)`); stages ask its
`Capabilities`, never which engine it is.
"""
