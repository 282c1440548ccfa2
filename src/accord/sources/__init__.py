"""Sources: read a system's records in its own shape and hand them to ingest with a mapping.

API sources register here: `type` in accord.yaml → the module whose `open_source(config, workspace_root, schema)` connects.
"""

API_SOURCES: dict[str, str] = {
    "marketo": "accord.sources.marketo",
    "salesforce": "accord.sources.salesforce",
}
