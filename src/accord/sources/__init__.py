"""Sources: read a system's records in its own shape and hand them to ingest with a mapping."""
