"""Sources: read a system's records in its own shape and hand them to ingest with a mapping (files, the
collector, and the shared parts of API sources; each API source is a connector, see `accord.connectors`)."""
