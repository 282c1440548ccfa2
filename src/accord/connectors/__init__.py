"""Connectors: one folder per system Accord reads from or sends to, each with the same files (`config.py`,
`client.py`, `source.py` and/or `destination.py`, `server.py` for its local test server, `mappings/`), listed by
`registry.py`."""
