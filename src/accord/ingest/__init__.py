"""Ingest: map raw rows to canonical records, validate them, load good ones and quarantine bad ones."""

from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import Mapping, MappingError, load_mapping, parse_mapping

__all__ = ["IngestResult", "Mapping", "MappingError", "ingest_chunks", "load_mapping", "parse_mapping"]
